"""linux.resources.unified on a host whose controllers are cgroup v1 (pure v1 or hybrid).

runc 1.1.5 refuses every unified entry there ("invalid configuration: cannot use unified
on cgroup v1").  pyrunc writes the files of the cgroup2 hierarchy of a hybrid host (core
cgroup.* files, controllers enabled there) and refuses the rest with an "invalid
configuration" error that says unified resources need cgroup v2.
"""

import os

import pytest

from runtime import cgroups
from util import assert_error, shell, state_dir_exists


def _controller_only_in_v1():
    layout = cgroups.detect()
    if layout.mode == "v2":
        return None
    enabled = []
    if layout.unified is not None:
        try:
            with open(os.path.join(layout.unified.mountpoint, "cgroup.controllers")) as f:
                enabled = f.read().split()
        except OSError:
            pass
    for ctrl, key in (("pids", "pids.max"), ("memory", "memory.high"), ("cpu", "cpu.weight")):
        if ctrl in layout.v1 and ctrl not in enabled:
            return key
    return None


KEY = _controller_only_in_v1()


@pytest.mark.skipif(KEY is None, reason="needs a cgroup v1 controller that cgroup v2 does not have")
def test_unified_on_a_v1_controller_is_invalid_configuration(rt, cid, make_bundle):
    b = make_bundle(shell("echo should-not-run"), write=False)
    b.config["linux"]["resources"] = {"unified": {KEY: "10"}}
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert_error(r, rt)
    assert "should-not-run" not in r.out
    if rt.name == "pyrunc":
        assert f"linux.resources.unified.{KEY}" in r.err, r.err
    assert "invalid configuration" in r.err, r.err
    assert "unified" in r.err and ("cgroup v2" in r.err or "cgroup v1" in r.err), r.err
    assert not state_dir_exists(rt, cid)
