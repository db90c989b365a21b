"""create, run and exec import nothing slow: no socket/struct/resource (runtime._native
replaces them), no json/re/enum/argparse/typing/subprocess, no jsonschema, no hooks."""
import os
import subprocess
import sys

import pytest

from util import state_dir_exists


# What create, run and exec must not import (issue 9: every create is a new process):
# what runtime._native replaces, the slow stdlib modules, jsonschema.
CREATE_PATH_FORBIDDEN = {"socket", "_socket", "struct", "resource",
                         "json", "re", "enum", "argparse", "dataclasses", "typing", "subprocess", "signal",
                         "jsonschema", "runtime.hooks", "__future__"}


@pytest.mark.pyrunc_only
def test_create_run_exec_import_nothing_slow(rt, cid, new_cid, make_bundle, tdir):
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
