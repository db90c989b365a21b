"""The installed `pyrunc` command works on Debian's own interpreter.

Debian patches `site` (dist-packages; under `-S` a venv's site-packages is never
returned), so a launcher that asks `site` for its import paths crashes there while
working on an upstream build.  These tests install pyrunc as a user would, into a venv
made by /usr/bin/python3, and run a real container with that command; and they lay the
installed script out as a system install (a prefix with Debian's dist-packages) to
check it finds its package there too.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conformance import bundle as cb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEBIAN_PYTHON = "/usr/bin/python3"


def _debian_python():
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        pytest.fail(f"{DEBIAN_PYTHON} is missing: pyrunc's users on Debian run it")
    return DEBIAN_PYTHON


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`python3 -m venv v && v/bin/pip install <repo>`: the README's pip install."""
    py = _debian_python()
    d = tmp_path_factory.mktemp("install")
    venv = d / "v"
    subprocess.run([py, "-m", "venv", str(venv)], check=True, timeout=120)
    src = d / "src"
    # a copy of the sources, so the build leaves nothing in the tree under test
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", "_native*.so", "_native.c",
        "pyrunc-init", "_validator*.py", "schema", ".hypothesis", "demo-bundle"))
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"pip install failed:\n{r.stdout}\n{r.stderr}"
    assert "deprecat" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    return venv


def test_installed_command_runs_on_debian_python(installed):
    exe = installed / "bin" / "pyrunc"
    first = exe.read_bytes().split(b"\n", 1)[0]
    assert first in (b"#!" + os.fsencode(installed / "bin" / n) + b" -ISXutf8" for n in ("python", "python3")), first
    base = subprocess.run([str(installed / "bin" / "python"), "-c",
                           "import os, sys; print(os.path.realpath(sys._base_executable))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert base == os.path.realpath(DEBIAN_PYTHON)
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.match(r"pyrunc version \d+\.\d+\.\d+\n", r.stdout), r.stdout
    assert "python: 3." in r.stdout


def test_installed_command_knows_where_it_was_installed(installed):
    """setup.py writes the bin/ it installs into (BIN_DIR): run from there, the command
    compiles no search, imports no `os` and finds its package where SITE_DIRS say (a
    copy anywhere else searches: test_system_layout_finds_dist_packages)."""
    exe = installed / "bin" / "pyrunc"
    src = exe.read_text()
    assert f"\nBIN_DIR = {str(installed / 'bin')!r}" in src
    r = subprocess.run([str(installed / "bin" / "python"), "-IS", "-X", "importtime", str(exe), "--version"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    # runtime.cli and its imports come through runtime.preload from the installed .pyc
    # files (pip compiled them): the machinery lists the package only
    assert "runtime" in imported and "os" not in imported, sorted(imported)
    # (runtime.usage and runtime._buildinfo are --version's own: imported to print it)
    assert not {m for m in imported if m.startswith("runtime.")} - {"runtime.usage", "runtime._buildinfo"}, \
        sorted(imported)


def test_installed_command_imports_nothing_from_site(installed):
    """-IS: no site module, no .pth file executed, the package from the venv."""
    exe = installed / "bin" / "pyrunc"
    probe = installed / "probe.pth"
    marker = installed / "pth-ran"
    probe.write_text(f"import os; open({str(marker)!r}, 'w').close()\n")
    site_dir = next((installed / "lib").glob("python3*/site-packages"))
    shutil.move(str(probe), site_dir / "zz-probe.pth")
    try:
        r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert not marker.exists(), "a .pth file of site-packages ran on a pyrunc call"
    finally:
        os.unlink(site_dir / "zz-probe.pth")


def test_installed_command_runs_a_container(installed, tdir, token, new_cid, leak_guard):
    exe = str(installed / "bin" / "pyrunc")
    rt = cb.Runtime([exe], os.path.join(tdir, "state"), workdir=os.path.join(tdir, "io"))
    try:
        cfg = cb.default_config(["sh", "-c", "echo hello from $(hostname)"])
        b = cb.Bundle(os.path.join(tdir, "bundle"), cfg, tag=token).write()
        r = rt.run(new_cid(), b.path, timeout=60)
        assert r.rc == 0, r
        assert r.out.strip().endswith("hello from " + cfg["hostname"]), r
    finally:
        rt.cleanup()


def test_system_layout_finds_dist_packages(installed, tmp_path):
    """A prefix install on Debian (/usr/local/bin + lib/pythonX.Y/dist-packages),
    the package found although the build-time directories do not hold it."""
    src = (installed / "bin" / "pyrunc").read_text()
    src = re.sub(r"\nSITE_DIRS = \[.*?\]", "\nSITE_DIRS = ['lib/nowhere']", src, count=1)
    prefix = tmp_path / "usr-local"
    (prefix / "bin").mkdir(parents=True)
    ver = subprocess.run([str(installed / "bin" / "python"), "-c",
                          "import sys; print(f'python{sys.version_info[0]}.{sys.version_info[1]}')"],
                         capture_output=True, text=True, check=True).stdout.strip()
    dist = prefix / "lib" / ver / "dist-packages"
    dist.mkdir(parents=True)
    site_dir = next((installed / "lib").glob("python3*/site-packages"))
    for name in os.listdir(site_dir):
        if name in ("runtime", "cffi") or name.startswith("_cffi_backend"):
            os.symlink(site_dir / name, dist / name)
    exe = prefix / "bin" / "pyrunc"
    exe.write_text(src)
    exe.chmod(0o755)
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("pyrunc version "), r.stdout
    r = subprocess.run([str(exe), "features"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and '"ociVersionMax"' in r.stdout, r


def test_missing_package_fails_with_one_line(tmp_path):
    """The import failing altogether: one line, no traceback."""
    src = open(os.path.join(REPO, "bin", "pyrunc")).read()
    exe = tmp_path / "bin" / "pyrunc"
    exe.parent.mkdir()
    exe.write_text(f"#!{sys.executable} -IS\n" + src.split("\n", 1)[1])
    exe.chmod(0o755)
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("pyrunc: cannot import the pyrunc package"), r.stderr
