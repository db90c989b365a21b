"""runtime/paths.py (os.path, os.walk, os.makedirs without importing os) agrees with os,
and create, run and exec import no os, no socket/struct/resource and nothing slow."""

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import paths
from util import state_dir_exists

PARTS = st.sampled_from(["", ".", "..", "a", "b", "dir", "x y", "ü", "...", "a.b"])
PATHS = st.lists(PARTS, max_size=6).map("/".join) | st.lists(PARTS, max_size=6).map(lambda p: "/" + "/".join(p)) | \
    st.lists(PARTS, max_size=4).map(lambda p: "//" + "/".join(p) + "/")


@settings(max_examples=400, deadline=None)
@given(PATHS, PATHS, PATHS)
def test_pure_functions_agree_with_os_path(a, b, c):
    for fn in ("isabs", "split", "basename", "dirname", "normpath", "abspath"):
        assert getattr(paths, fn)(a) == getattr(os.path, fn)(a), (fn, a)
    assert paths.join(a, b, c) == os.path.join(a, b, c)
    assert paths.join(a) == os.path.join(a)
    if a:
        assert paths.relpath(a) == os.path.relpath(a)
        assert paths.relpath(a, b or None) == os.path.relpath(a, b or None)


@pytest.fixture
def tree(tmp_path):
    """Directories, files, and symlinks: relative, absolute, chained, dangling, a loop."""
    t = tmp_path / "t"
    (t / "d" / "e").mkdir(parents=True)
    (t / "d" / "f").write_text("x")
    os.symlink("d", t / "rel")
    os.symlink(str(t / "d" / "e"), t / "abs")
    os.symlink("rel/e", t / "chain")
    os.symlink("nowhere", t / "dangling")
    os.symlink("loop2", t / "loop1")
    os.symlink("loop1", t / "loop2")
    os.symlink("../..", t / "d" / "e" / "up")
    os.symlink("f", t / "d" / "flink")
    return str(t)


NAMES = ["", "d", "d/f", "d/e", "rel", "rel/e", "rel/../d", "abs", "abs/..", "chain", "chain/up",
         "chain/up/t/rel", "dangling", "dangling/x", "loop1", "loop1/x", "d/flink", "d/flink/x", "nope",
         "d/e/up/t/abs/up", "./d/../rel/./e"]


@pytest.mark.parametrize("name", NAMES)
def test_file_system_functions_agree_with_os_path(tree, name, monkeypatch):
    monkeypatch.chdir(tree)
    for p in (f"{tree}/{name}", name or "."):
        for fn in ("exists", "lexists", "isfile", "isdir", "islink", "realpath", "abspath"):
            assert getattr(paths, fn)(p) == getattr(os.path, fn)(p), (fn, p)
        try:
            want = os.path.realpath(p, strict=True)
        except OSError as e:
            with pytest.raises(type(e)):
                paths.realpath(p, strict=True)
        else:
            assert paths.realpath(p, strict=True) == want


@pytest.mark.parametrize("topdown", [True, False])
def test_walk_agrees_with_os_walk(tree, topdown):
    for top in (tree, tree + "/rel", tree + "/nope"):
        assert list(paths.walk(top, topdown=topdown)) == list(os.walk(top, topdown=topdown))
    errors = []
    assert list(paths.walk(tree + "/nope", onerror=errors.append)) == []
    assert len(errors) == 1 and isinstance(errors[0], FileNotFoundError)


def test_makedirs_agrees_with_os_makedirs(tmp_path):
    paths.makedirs(str(tmp_path / "a" / "b" / "c"), 0o700)
    assert os.path.isdir(tmp_path / "a" / "b" / "c")
    assert os.stat(tmp_path / "a" / "b" / "c").st_mode & 0o777 == 0o700
    with pytest.raises(FileExistsError):
        paths.makedirs(str(tmp_path / "a" / "b"))
    paths.makedirs(str(tmp_path / "a" / "b"), exist_ok=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        paths.makedirs(str(tmp_path / "file"), exist_ok=True)  # exists, not a directory
    with pytest.raises(NotADirectoryError):
        paths.makedirs(str(tmp_path / "file" / "sub"), exist_ok=True)
    paths.makedirs(str(tmp_path / "x" / "y") + "/", exist_ok=True)
    assert os.path.isdir(tmp_path / "x" / "y")


# What create, run and exec must not import (issue 9: every create is a new process):
# os (~0.5 ms), what runtime._native replaces, the slow stdlib modules, jsonschema.
CREATE_PATH_FORBIDDEN = {"os", "posixpath", "_collections_abc", "socket", "_socket", "struct", "resource",
                         "json", "re", "enum", "argparse", "dataclasses", "typing", "subprocess", "signal",
                         "jsonschema", "runtime.hooks", "__future__"}


@pytest.mark.pyrunc_only
def test_create_run_exec_import_no_os(rt, cid, new_cid, make_bundle, tdir):
    """create, run and exec of the default config (no hooks, no seccomp) through this
    tree's launcher laid out as setup.py installs it: python -X importtime lists every
    module they import.  (Their output goes to files: a created container keeps its
    stdio open.)"""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bin_dir = os.path.join(tdir, "bin")
    os.makedirs(bin_dir)
    with open(os.path.join(repo, "bin", "pyrunc")) as f:
        src = f.read()
    site = [p for p in sys.path if p.endswith("-packages")]  # cffi's backend
    src = src.replace("\nSITE_DIRS = []", f"\nSITE_DIRS = {[repo] + site!r}", 1)
    src = src.replace('\nBIN_DIR = ""', f"\nBIN_DIR = {bin_dir!r}", 1)
    exe = os.path.join(bin_dir, "pyrunc")
    with open(exe, "w") as f:
        f.write(src)

    def imports(*args):
        err = os.path.join(tdir, "importtime")
        with open(err, "w") as e:
            p = subprocess.run([sys.executable, "-IS", "-X", "importtime", exe, "--root", rt.root, *args],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=e, timeout=60)
        with open(err) as f:
            lines = f.read().splitlines()
        assert p.returncode == 0, lines[-3:]
        return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}

    rt.track(cid)
    seen = {"create": imports("create", "--bundle", make_bundle(["sleep", "1000"]).path, cid)}
    assert rt.start(cid).rc == 0
    seen["exec"] = imports("exec", cid, "true")
    assert rt.delete(cid, force=True).rc == 0
    other = new_cid()
    rt.track(other)
    seen["run"] = imports("run", "--bundle", make_bundle(["true"]).path, other)
    assert not state_dir_exists(rt, other)
    for command, modules in seen.items():
        assert "runtime.cli" in modules and "runtime._native" in modules, (command, modules)
        assert not modules & CREATE_PATH_FORBIDDEN, (command, sorted(modules & CREATE_PATH_FORBIDDEN))
