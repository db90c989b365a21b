"""create, run and exec import nothing slow: no socket/struct/resource (runtime._native
replaces them), no json/re/enum/argparse/typing/subprocess, no jsonschema, no hooks; and
every lifecycle command loads its own modules through runtime.preload (runtime/cli.py's
PRELOAD lists), not through the standard import machinery."""
import compileall
import os
import shutil
import subprocess
import sys

import pytest

import runtime
from runtime.cli import PRELOAD
from util import state_dir_exists


# What create, run and exec must not import (issue 9: every create is a new process):
# what runtime._native replaces, the slow stdlib modules, jsonschema.
CREATE_PATH_FORBIDDEN = {"socket", "_socket", "struct", "resource",
                         "json", "re", "enum", "argparse", "dataclasses", "typing", "subprocess", "signal",
                         "jsonschema", "runtime.hooks", "__future__",
                         "os", "_collections_abc"}  # runtime/ospath.py replaces os (0.8 ms)



REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compiled_copy(dest):
    """This tree's runtime/ package (with its in-place build: _native, pyrunc-init,
    _validator) copied to dest/runtime and compiled as pip compiles an install
    (timestamp-checked .pyc files), so the test does not depend on whether the source
    tree has .pyc files (PYTHONDONTWRITEBYTECODE)."""
    pkg = os.path.join(dest, "runtime")
    shutil.copytree(os.path.join(REPO, "runtime"), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    assert compileall.compile_dir(pkg, quiet=1, force=True)
    return pkg


@pytest.fixture
def launcher(tdir):
    """bin/pyrunc laid out as setup.py installs it, over a compiled copy of runtime/."""
    lib = os.path.join(tdir, "lib")
    compiled_copy(lib)
    bin_dir = os.path.join(tdir, "bin")
    os.makedirs(bin_dir)
    with open(os.path.join(REPO, "bin", "pyrunc")) as f:
        src = f.read()
    site = [p for p in sys.path if p.endswith("-packages")]  # cffi's backend
    src = src.replace("\nSITE_DIRS = []", f"\nSITE_DIRS = {[lib] + site!r}", 1)
    src = src.replace('\nBIN_DIR = ""', f"\nBIN_DIR = {bin_dir!r}", 1)
    exe = os.path.join(bin_dir, "pyrunc")
    with open(exe, "w") as f:
        f.write(src)
    return exe


@pytest.fixture
def imports(rt, tdir, launcher):
    """imports(*args): the modules `pyrunc --root <rt's root> *args` imports through the
    standard machinery (python -X importtime lists each; a preloaded module is not
    among them).  Output goes to files: a created container keeps its stdio open."""
    def run(*args):
        err = os.path.join(tdir, "importtime")
        with open(err, "w") as e:
            p = subprocess.run([sys.executable, "-IS", "-X", "importtime", launcher, "--root", rt.root, *args],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=e, timeout=60)
        with open(err) as f:
            lines = f.read().splitlines()
        assert p.returncode == 0, (args, lines[-3:])
        return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    return run


@pytest.mark.pyrunc_only
def test_create_run_exec_import_nothing_slow(rt, cid, new_cid, make_bundle, imports):
    """create, run and exec of the default config (no hooks, no seccomp): nothing of
    CREATE_PATH_FORBIDDEN is imported."""
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
        assert "runtime" in modules, (command, modules)
        modules |= set(runtime.CLI) | set(PRELOAD[command])  # runtime.preload's, not listed there
        assert not modules & CREATE_PATH_FORBIDDEN, (command, sorted(modules & CREATE_PATH_FORBIDDEN))


@pytest.mark.pyrunc_only
def test_lifecycle_commands_preload_all_their_modules(rt, cid, new_cid, make_bundle, imports, tdir):
    """Each lifecycle command an engine calls per container, on a real container: the
    only runtime module the standard machinery imports is the package itself; everything
    else, the C extension runtime._native too, came through runtime.preload, so a
    PRELOAD list that misses a module fails here."""
    rt.track(cid)
    seen = {"create": imports("create", "--bundle", make_bundle(["sleep", "1000"]).path, cid),
            "start": imports("start", cid),
            "state": imports("state", cid),
            "exec": imports("exec", cid, "true"),
            "pause": imports("pause", cid),
            "resume": imports("resume", cid),
            "update": imports("update", "--pids-limit", "100", cid),
            "list": imports("list"),
            "kill": imports("kill", cid, "KILL")}
    rt.wait_status(cid, "stopped")
    seen["delete"] = imports("delete", "--force", cid)
    assert not state_dir_exists(rt, cid)
    other = new_cid()
    rt.track(other)
    seen["run"] = imports("run", "--bundle", make_bundle(["true"]).path, other)
    for command, modules in seen.items():
        left = {m for m in modules if m.startswith("runtime")} - {"runtime"}
        assert not left, (command, sorted(left))


def _in_copy(lib, code):
    """Run `code` in a fresh `python -IS` whose `runtime` is the copy under lib."""
    p = subprocess.run([sys.executable, "-IS", "-c", f"import sys; sys.path.insert(0, {lib!r}); " + code],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_preload_makes_the_modules_import_would(tdir):
    """A preloaded module and package have what the standard machinery gives them
    (checked against a plain import of the same copy), are bound on their parent, and
    are loaded without the machinery (importtime does not list them)."""
    lib = os.path.join(tdir, "lib")
    compiled_copy(lib)
    probe = ("import runtime; {pre}import runtime.cgroups.v1 as m, runtime.cgroups as p; "
             "print(repr([(x.__name__, x.__file__, x.__cached__, x.__package__, x.__spec__.name, "
             "x.__spec__.origin, x.__spec__.cached, x.__spec__.parent, x.__spec__.has_location, "
             "x.__spec__.submodule_search_locations, type(x.__loader__).__name__, x.__loader__.name, "
             "x.__loader__.path, getattr(x, '__path__', None)) for x in (m, p)]), "
             "runtime.cgroups.v1 is m, sys.modules['runtime.cgroups'] is p)")
    plain = _in_copy(lib, probe.format(pre=""))
    pre = _in_copy(lib, probe.format(pre="runtime.preload(('runtime.cgroupdirs', 'runtime.cgroups', "
                                         "'runtime.cgroups.v1')); "))
    assert pre == plain and plain.endswith("True True\n")
    p = subprocess.run([sys.executable, "-IS", "-X", "importtime", "-c",
                        f"import sys; sys.path.insert(0, {lib!r}); import runtime; "
                        "runtime.preload(('runtime.cgroupdirs', 'runtime.cgroups', 'runtime.cgroups.v1')); "
                        "import runtime.cgroups.v1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "runtime.cgroups" not in p.stderr and "runtime.cgroupdirs" not in p.stderr, p.stderr


def test_preload_loads_the_extension_import_would(tdir):
    """runtime._native, preloaded, comes from the file a plain import takes, with the
    same spec and attributes, bound on the package, without the machinery (importtime
    does not list it); under another of the interpreter's extension suffixes too."""
    import importlib.machinery

    lib = os.path.join(tdir, "lib")
    pkg = compiled_copy(lib)
    site = [p for p in sys.path if p.endswith("-packages")]  # cffi's backend
    probe = ("import sys; sys.path += {site!r}; import runtime; {pre}import runtime._native as x; "
             "print(repr((x.__name__, x.__file__, x.__spec__.origin, x.__spec__.has_location, x.__spec__.parent, "
             "type(x.__loader__).__name__, x.__loader__.name, x.__loader__.path, x.__package__)), "
             "x is runtime.__dict__['_native'], hasattr(x.lib, 'pyrunc_exit'))")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES[:2]:  # the in-place build's, setup.py's (abi3)
        for f in os.listdir(pkg):
            if f.startswith("_native."):
                os.rename(os.path.join(pkg, f), os.path.join(pkg, "_native" + suffix))
        plain = _in_copy(lib, probe.format(site=site, pre=""))
        pre = _in_copy(lib, probe.format(site=site, pre="runtime.preload(('runtime._native',)); "))
        assert pre == plain and plain.endswith("True True\n") and suffix in plain, (pre, plain)
        p = subprocess.run([sys.executable, "-IS", "-X", "importtime", "-c",
                            f"import sys; sys.path.insert(0, {lib!r}); sys.path += {site!r}; import runtime; "
                            "runtime.preload(('runtime._native',)); import runtime._native"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "runtime._native" not in p.stderr, p.stderr


def test_preload_leaves_stale_or_foreign_pyc_to_the_machinery(tdir):
    """A source changed since its timestamp .pyc was written, a checked-hash .pyc whose
    source changed, one of another interpreter and a missing one are not loaded by
    preload: the module then comes from its source, as with import.  A checked-hash
    .pyc of an unchanged source (pip under SOURCE_DATE_EPOCH writes them) and an
    unchecked one are loaded, as import loads them; a name outside the package is not
    preloaded, even one whose tail names a file of it."""
    import py_compile

    lib = os.path.join(tdir, "lib")
    pkg = compiled_copy(lib)
    cache = os.path.join(pkg, "__pycache__")
    tag = sys.implementation.cache_tag

    def edit(name):
        path = os.path.join(pkg, name)
        with open(path, "a") as f:
            f.write("\nEDITED = 1\n")
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # a later second than the .pyc's

    def compile_hash(name, mode):
        py_compile.compile(os.path.join(pkg, name), cfile=os.path.join(cache, f"{name[:-3]}.{tag}.pyc"),
                           invalidation_mode=mode, doraise=True)

    edit("errors.py")                                                    # stale timestamp .pyc
    network = os.path.join(cache, f"network.{tag}.pyc")                  # damaged after a good header
    with open(network, "r+b") as f:
        f.truncate(40)
    compile_hash("jsonio.py", py_compile.PycInvalidationMode.CHECKED_HASH)
    edit("jsonio.py")                                                    # stale checked-hash .pyc
    os.unlink(os.path.join(cache, f"log.{tag}.pyc"))                     # missing
    with open(os.path.join(cache, f"state.{tag}.pyc"), "r+b") as f:     # another interpreter's
        f.write(b"\0\0\r\n")
    compile_hash("cgroupdirs.py", py_compile.PycInvalidationMode.CHECKED_HASH)   # current, checked
    compile_hash("schema_patterns.py", py_compile.PycInvalidationMode.UNCHECKED_HASH)  # unchecked
    out = _in_copy(lib, "import runtime; runtime.preload(('runtime.errors', 'runtime.jsonio', 'runtime.log', "
                        "'runtime.state', 'runtime.cgroupdirs', 'runtime.schema_patterns', 'runtime.network', "
                        "'_weakref.cgroupdirs')); "  # not ours, though name[8:] names runtime/cgroupdirs.py
                        "print(sorted(n for n in sys.modules if n.startswith(('runtime.', '_weakref.')))); "
                        "import runtime.errors, runtime.jsonio; print(runtime.errors.EDITED, runtime.jsonio.EDITED)")
    assert out == "['runtime.cgroupdirs', 'runtime.schema_patterns']\n1 1\n", out


def test_preload_of_a_failing_module_raises_and_leaves_no_entry(tdir):
    """A module whose code raises while it runs: preload raises what it raised, as
    import would, and leaves neither a sys.modules entry nor a binding on the package
    (the next import runs it again)."""
    lib = os.path.join(tdir, "lib")
    pkg = compiled_copy(lib)
    with open(os.path.join(pkg, "cgroupdirs.py"), "a") as f:
        f.write("\nraise RuntimeError('cgroupdirs failed on purpose')\n")
    assert compileall.compile_file(os.path.join(pkg, "cgroupdirs.py"), quiet=1, force=True)
    out = _in_copy(lib, "import runtime\ntry:\n    runtime.preload(('runtime.cgroupdirs',))\n"
                        "except RuntimeError as e:\n    print(e)\n"
                        "print('runtime.cgroupdirs' in sys.modules, hasattr(runtime, 'cgroupdirs'))")
    assert out == "cgroupdirs failed on purpose\nFalse False\n", out
