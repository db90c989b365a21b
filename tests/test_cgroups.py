"""Tests for runtime.cgroups: pure mapping unit tests, then real cgroups.

The real tests only create cgroups under their own sub-trees (``/pyrunc/
pytest-<token>`` or ``/pytest-<token>/...``), only move processes they
started, and remove everything in ``finally`` blocks.
"""

from __future__ import annotations

import json
import glob
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import cgroups
from runtime.cgroups import CgroupError
from runtime.cgroups import resources as R

# ==========================================================================
# Pure conversions
# ==========================================================================


def test_shares_to_weight_edges():
    assert R.shares_to_weight(0) == 0
    assert R.shares_to_weight(2) == 1
    assert R.shares_to_weight(262144) == 10000
    assert R.shares_to_weight(1024) == 1 + (1022 * 9999) // 262142 == 39
    # clamped like the kernel clamps cpu.shares
    assert R.shares_to_weight(1) == 1
    assert R.shares_to_weight(10**9) == 10000


@given(st.integers(min_value=1, max_value=2**64 - 1), st.integers(min_value=1, max_value=2**64 - 1))
def test_shares_to_weight_range_monotonic(a, b):
    wa, wb = R.shares_to_weight(a), R.shares_to_weight(b)
    assert 1 <= wa <= 10000 and 1 <= wb <= 10000
    if a <= b:
        assert wa <= wb


@given(st.integers(min_value=2, max_value=262144))
def test_shares_to_weight_formula(s):
    assert R.shares_to_weight(s) == 1 + ((s - 2) * 9999) // 262142


def test_blkio_weight_edges():
    assert R.blkio_weight_to_io_weight(0) == 0
    assert R.blkio_weight_to_io_weight(10) == 1
    assert R.blkio_weight_to_io_weight(1000) == 10000
    assert R.blkio_weight_to_io_weight(500) == 1 + (490 * 9999) // 990
    assert R.blkio_weight_to_io_weight(1) == 1  # below the v1 range: clamped
    assert R.blkio_weight_to_io_weight(65535) == 10000


@given(st.integers(min_value=1, max_value=65535), st.integers(min_value=1, max_value=65535))
def test_blkio_weight_range_monotonic(a, b):
    wa, wb = R.blkio_weight_to_io_weight(a), R.blkio_weight_to_io_weight(b)
    assert 1 <= wa <= 10000
    if a <= b:
        assert wa <= wb


def test_memory_swap_to_v2():
    assert R.memory_swap_to_v2(0, 0) == 0
    assert R.memory_swap_to_v2(0, -1) == -1  # unlimited memory, unset swap
    assert R.memory_swap_to_v2(-1, 100) == -1
    assert R.memory_swap_to_v2(0, 100) == 0
    assert R.memory_swap_to_v2(300, 100) == 200
    assert R.memory_swap_to_v2(100, 100) == 0
    for swap, mem in ((50, 100), (100, 0), (100, -1), (-5, 100)):
        with pytest.raises(ValueError):
            R.memory_swap_to_v2(swap, mem)


@given(st.integers(min_value=1, max_value=2**62), st.integers(min_value=0, max_value=2**62))
def test_memory_swap_to_v2_property(mem, extra):
    assert R.memory_swap_to_v2(mem + extra, mem) == extra


def test_limits_and_cpu_max():
    assert R.v1_limit(-1) == "-1" and R.v1_limit(5) == "5"
    assert R.v2_limit(-1) == "max" and R.v2_limit(5) == "5"
    assert R.cpu_max(50000, 100000) == "50000 100000"
    assert R.cpu_max(-1, 100000) == "max 100000"
    assert R.cpu_max(20000, 0) == "20000"
    assert R.cpu_max(0, 250000) == "max 250000"


def test_page_size():
    assert R.parse_page_size("2MB") == 2 << 20
    assert R.parse_page_size("64KB") == 64 << 10
    assert R.parse_page_size("1GB") == 1 << 30
    for bad in ("2M", "MB", "0MB", "2 MB", "2mb", None, 2):
        with pytest.raises(ValueError):
            R.parse_page_size(bad)


# ==========================================================================
# Validation and plans
# ==========================================================================


def files(plan):
    return [(w.controller, w.choices[0][0], w.choices[0][1]) for w in plan]


@pytest.mark.parametrize("res, field", [
    ({"memory": {"limit": -5}}, "memory.limit"),
    ({"memory": {"limit": "1G"}}, "memory.limit"),
    ({"memory": {"limit": True}}, "memory.limit"),
    ({"memory": {"swappiness": 101}}, "memory.swappiness"),
    ({"memory": {"bogus": 1}}, "memory.bogus"),
    ({"cpu": {"shares": -1}}, "cpu.shares"),
    ({"cpu": {"quota": 1000, "burst": 2000}}, "cpu.burst"),
    ({"cpu": {"cpus": "0-a"}}, "cpu.cpus"),
    ({"cpu": {"idle": 2}}, "cpu.idle"),
    ({"pids": {"limit": "abc"}}, "pids.limit"),
    ({"blockIO": {"weight": 70000}}, "blockIO.weight"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}}, "blockIO.throttleReadBpsDevice[0]"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "hugepageLimits[0].pageSize"),
    ({"network": {"priorities": [{"name": "a b", "priority": 1}]}}, "network.priorities[0].name"),
    ({"devices": [{"allow": True, "type": "x"}]}, "devices[0].type"),
    ({"devices": [{"allow": True, "access": "rwx"}]}, "devices[0].access"),
    ({"devices": [{"type": "c"}]}, "devices[0].allow"),
    ({"unified": {"../memory.max": "1"}}, "unified.../memory.max"),
    ({"unified": {"a/b": "1"}}, "unified.a/b"),
    ({"unified": {"..": "1"}}, "unified..."),
    ({"unified": {"cgroup.procs": "1"}}, "unified.cgroup.procs"),
    ({"unified": {"memory.max": 5}}, "unified.memory.max"),
    ({"frobnicate": {}}, "frobnicate"),
])
def test_validate_errors_name_the_field(res, field):
    with pytest.raises(CgroupError) as ei:
        R.validate(res)
    msg = str(ei.value)
    assert msg.startswith(f"linux.resources.{field}:"), msg
    assert "\n" not in msg


def test_validate_accepts_full_example():
    res = {
        "memory": {"limit": 536870912, "reservation": 536870912, "swap": 536870912, "kernel": -1,
                   "kernelTCP": -1, "swappiness": 0, "disableOOMKiller": False, "useHierarchy": True,
                   "checkBeforeUpdate": True},
        "cpu": {"shares": 1024, "quota": 1000000, "burst": 1000000, "period": 500000,
                "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "2-3", "mems": "0-7", "idle": 0},
        "pids": {"limit": 32771},
        "blockIO": {"weight": 10, "leafWeight": 10,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300},
                                     {"major": 8, "minor": 16, "weight": 500}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}, {"pageSize": "64KB", "limit": 1000000}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
        "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "minor": 229,
                                                        "access": "rw"}],
        "unified": {"io.max": "259:0 rbps=2097152 wiops=120"},
    }
    assert R.validate(res) is res
    R.v1_plan(res)  # must not raise
    with pytest.raises(CgroupError, match="swappiness"):
        R.v2_plan(res)


def test_v1_plan_basic():
    plan = files(R.v1_plan({
        "memory": {"limit": 1000, "reservation": 500, "swappiness": 10, "disableOOMKiller": True, "kernel": 5},
        "cpu": {"shares": 512, "quota": 5000, "period": 10000, "burst": 100, "cpus": "0-1", "mems": "0",
                "realtimeRuntime": -1, "realtimePeriod": 1000000, "idle": 1},
        "pids": {"limit": -1},
        "blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 42}]},
        "network": {"classID": 7, "priorities": [{"name": "eth0", "priority": 3}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
    }))
    assert ("memory", "memory.limit_in_bytes", "1000") in plan
    assert ("memory", "memory.soft_limit_in_bytes", "500") in plan
    assert ("memory", "memory.swappiness", "10") in plan
    assert ("memory", "memory.oom_control", "1") in plan
    assert not any("kmem.limit" in f for _, f, _ in plan)  # memory.kernel ignored
    assert ("cpu", "cpu.shares", "512") in plan
    assert ("cpu", "cpu.cfs_quota_us", "5000") in plan
    assert ("cpu", "cpu.cfs_period_us", "10000") in plan
    assert ("cpu", "cpu.cfs_burst_us", "100") in plan
    assert ("cpu", "cpu.rt_runtime_us", "-1") in plan
    assert ("cpu", "cpu.rt_period_us", "1000000") in plan
    assert plan.index(("cpu", "cpu.rt_period_us", "1000000")) < plan.index(("cpu", "cpu.rt_runtime_us", "-1"))
    assert ("cpu", "cpu.idle", "1") in plan
    assert ("cpuset", "cpuset.cpus", "0-1") in plan and ("cpuset", "cpuset.mems", "0") in plan
    assert ("pids", "pids.max", "max") in plan
    assert ("blkio", "blkio.weight", "300") in plan
    assert ("blkio", "blkio.weight_device", "8:0 100") in plan
    assert ("blkio", "blkio.throttle.write_bps_device", "8:0 42") in plan
    assert ("net_cls", "net_cls.classid", "7") in plan
    assert ("net_prio", "net_prio.ifpriomap", "eth0 3") in plan
    assert ("hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304") in plan
    # bfq fallback for the weight
    w = next(w for w in R.v1_plan({"blockIO": {"weight": 300}}) if w.field == "blockIO.weight")
    assert w.choices == (("blkio.weight", "300"), ("blkio.bfq.weight", "300"))


def test_v1_plan_zero_means_unchanged():
    assert R.v1_plan({"memory": {"limit": 0, "swap": 0}, "cpu": {"shares": 0, "quota": 0}, "pids": {"limit": 0}}) == []
    assert R.v1_plan({}) == [] and R.v1_plan(None) == []


def test_v1_memory_swap_order():
    # growing past the current limit: memsw first
    p = files(R.v1_plan({"memory": {"limit": 200, "swap": 400}}, current_memory_limit=100))
    assert [f for _, f, _ in p] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    # shrinking: memory first
    p = files(R.v1_plan({"memory": {"limit": 100, "swap": 150}}, current_memory_limit=1000))
    assert [f for _, f, _ in p] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    # unlimited swap: memsw first
    p = files(R.v1_plan({"memory": {"limit": 100, "swap": -1}}, current_memory_limit=1000))
    assert p[0] == ("memory", "memory.memsw.limit_in_bytes", "-1")
    # unlimited memory, unset swap: memsw made unlimited too (optional file)
    plan = R.v1_plan({"memory": {"limit": -1}})
    assert files(plan) == [("memory", "memory.memsw.limit_in_bytes", "-1"), ("memory", "memory.limit_in_bytes", "-1")]
    assert plan[0].optional


def test_v1_device_writes():
    got = [(w.choices[0]) for w in R.v1_device_writes([
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": True, "type": "c", "major": 136, "access": "rwm"},
        {"allow": True, "type": "b", "minor": 0},
        {"allow": True, "type": "a", "major": 10, "minor": 200, "access": "r"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "wr"},
    ])]
    assert got == [
        ("devices.deny", "a"),
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rw"),
        ("devices.allow", "c 136:* rwm"),
        ("devices.allow", "b *:0 rwm"),
        ("devices.allow", "c 10:200 r"),
        ("devices.allow", "b 10:200 r"),
        ("devices.deny", "c 1:3 rw"),
    ]
    # an explicit allow-all rule is the kernel's "a"
    assert [w.choices[0] for w in R.v1_device_writes([{"allow": True}])] == [("devices.deny", "a"),
                                                                             ("devices.allow", "a")]


def test_v2_plan():
    plan = files(R.v2_plan({
        "memory": {"limit": 1000, "swap": 3000, "reservation": 10, "useHierarchy": True},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0", "idle": 0},
        "pids": {"limit": 50},
        "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 0}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 9}]},
        "hugepageLimits": [{"pageSize": "1GB", "limit": 0}],
        "unified": {"memory.high": "900", "cgroup.max.depth": "3"},
    }))
    assert ("memory", "memory.swap.max", "2000") in plan
    assert ("memory", "memory.max", "1000") in plan
    assert ("memory", "memory.low", "10") in plan
    assert ("cpu", "cpu.weight", "39") in plan
    assert ("cpu", "cpu.max", "50000 100000") in plan
    assert ("cpu", "cpu.max.burst", "1000") in plan
    assert ("cpu", "cpu.idle", "0") in plan
    assert ("cpuset", "cpuset.cpus", "0") in plan
    assert ("pids", "pids.max", "50") in plan
    assert ("io", "io.max", "8:0 rbps=max") in plan
    assert ("io", "io.max", "8:0 wiops=9") in plan
    assert ("hugetlb", "hugetlb.1GB.max", "0") in plan
    assert plan[-2:] == [("memory", "memory.high", "900"), ("", "cgroup.max.depth", "3")]
    w = next(w for w in R.v2_plan({"blockIO": {"weight": 500}}))
    assert w.choices == (("io.bfq.weight", "500"), ("io.weight", str(R.blkio_weight_to_io_weight(500))))
    # idle=1 suppresses the weight (the kernel refuses both)
    assert not any(f == "cpu.weight" for _, f, _ in files(R.v2_plan({"cpu": {"shares": 100, "idle": 1}})))
    assert files(R.v2_plan({"memory": {"limit": -1}})) == [("memory", "memory.swap.max", "max"),
                                                             ("memory", "memory.max", "max")]


@pytest.mark.parametrize("res, field", [
    ({"memory": {"swap": 100}}, "memory.swap"),
    ({"memory": {"limit": 200, "swap": 100}}, "memory.swap"),
    ({"memory": {"swappiness": 5}}, "memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, "memory.disableOOMKiller"),
    ({"cpu": {"realtimeRuntime": 5}}, "cpu.realtimeRuntime"),
    ({"blockIO": {"leafWeight": 5}}, "blockIO.leafWeight"),
    ({"network": {"classID": 1}}, "network"),
])
def test_v2_plan_errors(res, field):
    with pytest.raises(CgroupError, match=rf"^linux\.resources\.{field}:"):
        R.v2_plan(res)


# ==========================================================================
# Stats parsers
# ==========================================================================


@given(st.lists(st.integers(min_value=0, max_value=4096), max_size=40))
def test_parse_cpu_list_roundtrip(cpus):
    want = sorted(set(cpus))
    # render as ranges
    parts, i = [], 0
    while i < len(want):
        j = i
        while j + 1 < len(want) and want[j + 1] == want[j] + 1:
            j += 1
        parts.append(str(want[i]) if i == j else f"{want[i]}-{want[j]}")
        i = j + 1
    assert R.parse_cpu_list(",".join(parts) + "\n") == want


def test_parse_blkio_and_io_stat():
    assert R.parse_blkio_stat("8:0 Read 10\n8:0 Write 0\nTotal 10\n") == [
        {"major": 8, "op": "Read", "value": 10}, {"major": 8, "op": "Write"}]  # zero values omitted (omitempty)
    sb, sv = R.parse_io_stat("254:0 rbytes=4096 wbytes=0 rios=1 wios=2 dbytes=0 dios=0\n")
    assert sb[0] == {"major": 254, "op": "Read", "value": 4096}  # minor 0 omitted like runc's omitempty
    assert {"major": 254, "op": "Write", "value": 2} in sv


# ==========================================================================
# Layout detection and path rules
# ==========================================================================

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
99 23 0:38 /sub /mnt/with\\040space rw - cgroup2 cgroup2 rw
"""


def test_parse_mountinfo_hybrid():
    v1, uni = cgroups.parse_mountinfo(HYBRID_MOUNTINFO)
    assert v1["cpu"] is v1["cpuacct"]
    assert v1["cpu"].mountpoint == "/sys/fs/cgroup/cpu,cpuacct"
    assert set(v1) == {"cpu", "cpuacct", "memory", "name=systemd"}
    assert uni.mountpoint == "/sys/fs/cgroup/unified" and uni.root == "/"


def test_parse_mountinfo_unescape():
    _, uni = cgroups.parse_mountinfo(
        "99 23 0:38 /sub /mnt/with\\040space rw - cgroup2 cgroup2 rw\n")
    assert uni.mountpoint == "/mnt/with space" and uni.root == "/sub"


def test_parse_proc_cgroup():
    own = cgroups.parse_proc_cgroup("4:memory:/a/b\n2:cpu,cpuacct:/\n1:name=systemd:/s\n0::/u\n")
    assert own == {"memory": "/a/b", "cpu": "/", "cpuacct": "/", "name=systemd": "/s", "": "/u"}


def test_cgroup_relpath_rules():
    assert cgroups.cgroup_relpath(None, "abc") == "/pyrunc/abc"
    assert cgroups.cgroup_relpath("", "abc") == "/pyrunc/abc"
    assert cgroups.cgroup_relpath("/x/y", "abc", "/own") == "/x/y"
    assert cgroups.cgroup_relpath("x/y", "abc", "/own/me") == "/own/me/x/y"
    assert cgroups.cgroup_relpath("/x/./y/../z/", "abc") == "/x/z"
    for bad in ("/../etc", "/a/../../b", "../sibling", "a/../..", "/", ".", "/a\nb"):
        with pytest.raises(CgroupError) as ei:
            cgroups.cgroup_relpath(bad, "abc", "/own")
        assert "cgroupsPath" in str(ei.value)
    for bad_id in ("a/b", "..", ""):
        with pytest.raises(CgroupError):
            cgroups.cgroup_relpath(None, bad_id)


def test_resolve_path_layouts():
    v1, uni = cgroups.parse_mountinfo(HYBRID_MOUNTINFO)
    lay = cgroups.Layout("hybrid", v1, uni, {"memory": "/proc_api/x", "cpu": "/", "cpuacct": "/", "": "/"})
    p = cgroups.resolve_path("rel", "id", lay)
    assert p["memory"] == "/sys/fs/cgroup/memory/proc_api/x/rel"
    assert p["cpu"] == p["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/rel"
    assert p[""] == "/sys/fs/cgroup/unified/rel"
    p = cgroups.resolve_path(None, "id", lay)
    assert p["name=systemd"] == "/sys/fs/cgroup/systemd/pyrunc/id"
    # pure v2 with a mount root that is not "/" (no cgroupns, subtree mounted)
    lay2 = cgroups.Layout("v2", {}, cgroups.Mount("/sys/fs/cgroup", "/docker/c1", ()), {"": "/docker/c1/init"})
    assert cgroups.resolve_path("sub", "id", lay2) == {"": "/sys/fs/cgroup/init/sub"}
    assert cgroups.resolve_path("/abs", "id", lay2) == {"": "/sys/fs/cgroup/abs"}


def test_error_is_one_line():
    assert str(CgroupError("a\nb   c")) == "a b c"


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="systemd runs here: tests/test_systemd_cgroup.py")
def test_systemd_driver_refused():
    with pytest.raises(CgroupError) as ei:
        cgroups.manager("pytest-x", None, None, systemd=True)
    assert "--systemd-cgroup" in str(ei.value) and "\n" not in str(ei.value)


def test_from_state_rejects_garbage():
    for bad in (None, {}, {"paths": {}, "mode": "v9"}, {"paths": {}, "mode": "v1", "version": 99}):
        with pytest.raises(CgroupError):
            cgroups.from_state(bad)


def test_import_is_cheap():
    code = ("import sys; import runtime.cgroups; "
            "bad = [m for m in ('ctypes', 'json', 'jsonschema', 'pyroute2', 'runtime.cgroups.v1', "
            "'runtime.cgroups.v2', 'runtime.cgroups.resources', 're') if m in sys.modules]; "
            "print(','.join(bad))")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=repo, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


# ==========================================================================
# eBPF device program (pure part)
# ==========================================================================


def test_device_filter_program_shape():
    from runtime.cgroups import v2

    prog = v2.device_filter_program([{"allow": False, "access": "rwm"},
                                     {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}])
    assert len(prog) % 8 == 0
    assert prog[-8] == 0x95  # ends with exit
    # an unconditional allow-all rule as the last rule makes everything before it dead code
    prog2 = v2.device_filter_program([{"allow": False, "access": "rwm"}, {"allow": True}])
    assert len(prog2) == 8 * (6 + 2)


# ==========================================================================
# Real cgroups
# ==========================================================================



def _mode():
    try:
        return cgroups.host_mode()
    except CgroupError:
        return None


real = pytest.mark.skipif(os.geteuid() != 0 or _mode() is None, reason="needs root and mounted cgroups")


@pytest.fixture
def tok():
    return uuid.uuid4().hex[:10]


@pytest.fixture
def procs():
    """Start processes; every one is killed and reaped at teardown."""
    started: list[subprocess.Popen] = []

    def start(argv=("sleep", "30"), **kw):
        p = subprocess.Popen(list(argv), **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture
def managers():
    """Managers made by a test; thawed and destroyed at teardown, and every
    directory they created checked to be gone."""
    made: list = []

    def make(cid, path=None, **kw):
        m = cgroups.manager(cid, path, None, **kw)
        made.append(m)
        return m

    yield make
    errors = []
    for m in reversed(made):
        try:
            if m.exists() and m.is_frozen():
                m.thaw()
        except CgroupError:
            pass
        # Kill anything still inside (only processes these tests started can be there).
        for pid in m.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            m.destroy()
        except CgroupError as e:
            errors.append(str(e))
        left = [d for d in m.created if os.path.exists(d) and os.path.basename(d) != "pyrunc"]
        if left:
            errors.append(f"left behind: {left}")
    assert not errors, errors


def _rd(path):
    with open(path) as f:
        return f.read().strip()


def _wait_gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


@real
def test_lifecycle(tok, procs, managers):
    cid = f"pytest-{tok}"
    m = managers(cid)
    assert m.mode == cgroups.host_mode()
    m.create()
    m.create()  # idempotent
    for d in set(m.paths.values()):
        assert os.path.isdir(d) and d.endswith(f"/pyrunc/{cid}")
    p = procs()
    m.apply(p.pid)
    own = _rd(f"/proc/{p.pid}/cgroup")
    assert f"/pyrunc/{cid}" in own
    assert m.pids() == [p.pid]

    res = {
        "memory": {"limit": 64 << 20, "reservation": 32 << 20},
        "pids": {"limit": 42},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"}],
    }
    m.set(res)
    if m.mode == "v2":
        d = m.path("")
        assert _rd(f"{d}/memory.max") == str(64 << 20)
        assert _rd(f"{d}/pids.max") == "42"
        assert _rd(f"{d}/cpu.weight") == str(R.shares_to_weight(512))
        assert _rd(f"{d}/cpu.max") == "50000 100000"
    else:
        assert _rd(f"{m.path('memory')}/memory.limit_in_bytes") == str(64 << 20)
        assert _rd(f"{m.path('memory')}/memory.soft_limit_in_bytes") == str(32 << 20)
        assert _rd(f"{m.path('pids')}/pids.max") == "42"
        assert _rd(f"{m.path('cpu')}/cpu.shares") == "512"
        assert _rd(f"{m.path('cpu')}/cpu.cfs_quota_us") == "50000"
        assert _rd(f"{m.path('devices')}/devices.list").splitlines() == ["c 1:3 rwm", "c 1:5 r"]
        # cpuset was initialised from the parent so that apply() worked
        assert _rd(f"{m.path('cpuset')}/cpuset.cpus") == _rd(os.path.dirname(m.path("cpuset")) + "/cpuset.cpus")

    # freeze / thaw
    assert not m.is_frozen()
    m.freeze()
    assert m.is_frozen()
    if m.path("freezer"):
        assert _rd(f"{m.path('freezer')}/freezer.state") == "FROZEN"
    state = _rd(f"/proc/{p.pid}/status").split("State:")[1].split()[0]
    assert state in ("D", "T", "S")  # frozen tasks sleep uninterruptibly (v1) or in the signal path (v2)
    m.thaw()
    assert not m.is_frozen()

    # state round trip through JSON
    st_ = json.loads(json.dumps(m.to_state()))
    m2 = cgroups.from_state(st_)
    assert type(m2) is type(m) and m2.paths == m.paths and m2.created == m.created
    assert m2.pids() == [p.pid]
    m2.set({"pids": {"limit": 7}})
    assert _rd(os.path.join(m.path("pids") or m.path(""), "pids.max")) == "7"

    # stats in runc's events --stats shape
    s = m.stats()
    json.dumps(s)
    assert set(s) >= {"cpu", "memory", "pids", "blkio", "hugetlb", "cpuset"}
    assert s["pids"]["current"] == 1 and s["pids"]["limit"] == 7
    assert s["memory"]["usage"]["limit"] == 64 << 20
    assert "failcnt" in s["memory"]["usage"]

    # destroying while a process is inside fails and leaves everything
    m2.rmdir_timeout = 0.2
    with pytest.raises(CgroupError, match="removing cgroup .*busy"):
        m2.destroy()
    assert all(os.path.isdir(d) for d in set(m.paths.values()))

    p.kill()
    p.wait()
    m2.destroy()
    m2.destroy()  # idempotent
    for d in set(m.paths.values()):
        assert not os.path.exists(d)
    for d in m.created:
        if os.path.basename(d) != "pyrunc":  # the shared parent may be in use by others
            assert not os.path.exists(d)


@real
def test_absolute_path_parents_removed(tok, procs, managers):
    m = managers(f"pytest-{tok}", f"/pytest-{tok}/a/b")
    m.create()
    tops = {os.path.dirname(d) for d in set(m.paths.values())}
    assert all(os.path.isdir(t) and t.endswith(f"/pytest-{tok}/a") for t in tops)
    assert len(m.created) == 3 * len(set(m.paths.values()))
    p = procs()
    m.apply(p.pid)
    p.kill()
    p.wait()
    m.destroy()
    assert not any(os.path.exists(d) for d in m.created)
    assert m.created == []


@real
def test_existing_parent_not_removed(tok, managers):
    parent = managers(f"pytest-{tok}-parent", f"/pytest-{tok}")
    parent.create()
    child = managers(f"pytest-{tok}-child", f"/pytest-{tok}/child")
    child.create()
    assert all(d.endswith(f"/pytest-{tok}/child") for d in child.created)
    child.destroy()
    assert all(os.path.isdir(d) for d in set(parent.paths.values()))


@real
def test_nested_subcgroups_removed(tok, managers):
    m = managers(f"pytest-{tok}")
    m.create()
    d = m.path("memory") or m.path("")
    os.makedirs(os.path.join(d, "inner", "deeper"))
    m.destroy()
    assert not os.path.exists(d)


@real
def test_memory_update_ordering(tok, procs, managers):
    if cgroups.host_mode() == "v2":
        pytest.skip("memsw ordering is a cgroup v1 matter")
    m = managers(f"pytest-{tok}")
    mem = m.path("memory")
    m.create()
    if not os.path.exists(f"{mem}/memory.memsw.limit_in_bytes"):
        pytest.skip("no swap accounting")
    m.set({"memory": {"limit": 64 << 20, "swap": 128 << 20}})
    m.set({"memory": {"limit": 256 << 20, "swap": 512 << 20}})  # grow: memsw first
    assert _rd(f"{mem}/memory.limit_in_bytes") == str(256 << 20)
    assert _rd(f"{mem}/memory.memsw.limit_in_bytes") == str(512 << 20)
    m.set({"memory": {"limit": 32 << 20, "swap": 32 << 20}})  # shrink: memory first
    assert _rd(f"{mem}/memory.memsw.limit_in_bytes") == str(32 << 20)
    m.set({"memory": {"limit": -1}})  # unlimited both
    assert int(_rd(f"{mem}/memory.memsw.limit_in_bytes")) > 1 << 60
    assert int(_rd(f"{mem}/memory.limit_in_bytes")) > 1 << 60


@real
def test_device_rules_enforced_v1(tok, tmp_path, managers):
    if not cgroups.detect().v1.get("devices"):
        pytest.skip("no v1 devices controller")
    m = managers(f"pytest-{tok}")
    m.create()
    m.set({"devices": [{"allow": False, "access": "rwm"},
                       {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    out = tmp_path / "out"
    script = (f'echo $$ > {m.path("devices")}/cgroup.procs || exit 9; '
              f'(echo x > /dev/null && echo null-ok; head -c1 /dev/zero > /dev/null 2>&1; true; '
              f'head -c1 /dev/zero >{out} 2>/dev/null && echo zero-ok || echo zero-denied)')
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=20)
    assert r.stdout.split() == ["null-ok", "zero-denied"], (r.stdout, r.stderr)


@real
def test_ebpf_device_filter(tok, tmp_path):
    layout = cgroups.detect()
    if layout.unified is None:
        pytest.skip("no cgroup2 hierarchy")
    from runtime.cgroups import v2

    d = os.path.join(layout.unified.mountpoint, f"pytest-{tok}-bpf")
    os.mkdir(d)
    try:
        v2.set_device_filter(d, [{"allow": False, "access": "rwm"},
                                 {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                                 {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"}])
        v2.set_device_filter(d, [{"allow": False, "access": "rwm"},
                                 {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                                 {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
                                 {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}])
        assert len(v2.attached_device_programs(d)) == 1  # replaced, not stacked
        out = tmp_path / "out"
        script = (f'echo $$ > {d}/cgroup.procs || exit 9; '
                  f'cat /dev/null && echo null-read-ok; '
                  f'(echo x > /dev/null) 2>/dev/null && echo null-write-ok || echo null-write-denied; '
                  f'head -c1 /dev/zero > {out} && echo zero-ok; '
                  f'head -c1 /dev/urandom > {out} 2>/dev/null && echo urandom-ok || echo urandom-denied')
        r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=20)
        assert r.stdout.split() == ["null-read-ok", "null-write-denied", "zero-ok", "urandom-denied"], \
            (r.stdout, r.stderr)
    finally:
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
    assert not os.path.exists(d)


@real
def test_missing_controllers_and_bad_values(tok, managers):
    m = managers(f"pytest-{tok}")
    m.create()
    layout = cgroups.detect()
    if layout.mode == "v2":
        # no net_cls/net_prio on cgroup v2 at all, whatever is mounted
        with pytest.raises(CgroupError, match=r"^linux\.resources\.network: .*net_cls.*not available with cgroup v2"):
            m.set({"network": {"classID": 1}})
    elif "net_cls" not in layout.v1:
        with pytest.raises(CgroupError, match=r"^linux\.resources\.network\.classID: .*net_cls.*not mounted"):
            m.set({"network": {"classID": 1}})
    if "rdma" not in layout.v1 and layout.mode != "v2":
        with pytest.raises(CgroupError, match=r"^linux\.resources\.rdma\.mlx5_0: .*rdma"):
            m.set({"rdma": {"mlx5_0": {"hcaHandles": 1}}})
    if "hugetlb" not in layout.v1 and layout.mode == "hybrid":
        with pytest.raises(CgroupError, match=r"^linux\.resources\.hugepageLimits\[0\]: .*hugetlb"):
            m.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]})
    if layout.mode != "v2":
        # the kernel clamps cpu.shares < 2: reported, not silently accepted
        with pytest.raises(CgroupError, match=r"^linux\.resources\.cpu\.shares: the kernel set cpu\.shares to 2"):
            m.set({"cpu": {"shares": 1}})
        # use_hierarchy=0 is refused by modern kernels
        with pytest.raises(CgroupError, match=r"^linux\.resources\.memory\.useHierarchy: writing '0'"):
            m.set({"memory": {"useHierarchy": False}})
        # an impossible cpuset
        with pytest.raises(CgroupError, match=r"^linux\.resources\.cpu\.cpus: writing '4095'"):
            m.set({"cpu": {"cpus": "4095"}})
    if layout.mode == "hybrid":
        with pytest.raises(CgroupError, match=r"^linux\.resources\.unified\.memory\.high: .*memory controller"):
            m.set({"unified": {"memory.high": "1000"}})
        # a core cgroup2 file works through unified on a hybrid host
        m.set({"unified": {"cgroup.max.descendants": "5"}})
        assert _rd(os.path.join(m.path(""), "cgroup.max.descendants")) == "5"
    with pytest.raises(CgroupError, match=r"^linux\.resources\.pids\.limit: expected an integer"):
        m.set({"pids": {"limit": "many"}})
    with pytest.raises(CgroupError, match=r"^linux\.resources\.memory\.limit: invalid value -7"):
        cgroups.manager(f"pytest-{tok}-x", None, {"memory": {"limit": -7}})


@real
def test_bad_paths_and_pids(tok, procs, managers):
    with pytest.raises(CgroupError, match="escapes"):
        cgroups.manager(f"pytest-{tok}", "/a/../../etc", None)
    with pytest.raises(CgroupError, match="escapes"):
        cgroups.manager(f"pytest-{tok}", "../../x", None)
    with pytest.raises(CgroupError, match="root cgroup"):
        cgroups.manager(f"pytest-{tok}", "/", None)
    m = managers(f"pytest-{tok}")
    p = procs()
    with pytest.raises(CgroupError, match="does not exist"):
        m.apply(p.pid)  # apply before create
    m.create()
    dead = subprocess.Popen(["true"])
    dead.wait()
    with pytest.raises(CgroupError, match=f"process {dead.pid}"):
        m.apply(dead.pid)
    with pytest.raises(CgroupError, match="invalid pid"):
        m.apply(-1)
    assert m.pids() == []
    # pid 0: the calling process moves itself (v1 through `tasks`)
    r, w = os.pipe()
    hold_r, hold_w = os.pipe()  # the child stays alive until we close hold_w
    child = os.fork()
    if child == 0:
        os.close(r)
        os.close(hold_w)
        try:
            m.apply(0)
            os.write(w, b"ok")
        except BaseException as e:
            os.write(w, repr(e).encode())
        os.read(hold_r, 1)
        os._exit(0)
    os.close(w)
    os.close(hold_r)
    said = os.read(r, 200)
    os.close(r)
    try:
        assert said == b"ok", said
        assert child in m.pids()
    finally:
        os.close(hold_w)
        os.waitpid(child, 0)
    assert m.pids() == []


@real
def test_destroy_without_create_is_noop(tok):
    m = cgroups.manager(f"pytest-{tok}", None, None)
    m.destroy()
    assert not m.exists()


@real
def test_freeze_empty_and_frozen_pids(tok, procs, managers):
    m = managers(f"pytest-{tok}")
    m.create()
    m.freeze()
    assert m.is_frozen()
    m.thaw()
    assert not m.is_frozen()
    # pids() is recursive over children; the shell forks only once it is inside
    p = procs(["sh", "-c", "read x; sleep 30 & wait"], stdin=subprocess.PIPE)
    m.apply(p.pid)
    p.stdin.write(b"go\n")
    p.stdin.close()
    deadline = time.monotonic() + 5
    while len(m.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = m.pids()
    assert p.pid in pids and len(pids) == 2
    m.freeze()
    assert m.pids() == pids
    m.thaw()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    p.wait()
    for pid in pids:
        _wait_gone(pid)
    deadline = time.monotonic() + 5
    while m.pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert m.pids() == []


@real
def test_v2_manager_on_own_unified_subtree(tok, procs, tmp_path):
    """Drive V2Manager against the cgroup2 hierarchy.  Its "mount point" is a
    cgroup we create ourselves, so enabling controllers can only ever write
    our own cgroup.subtree_control, never the host's."""
    layout = cgroups.detect()
    if layout.unified is None:
        pytest.skip("no cgroup2 hierarchy")
    from runtime.cgroups.v2 import V2Manager

    top = os.path.join(layout.unified.mountpoint, f"pytest-{tok}-v2")
    os.mkdir(top)
    m = None
    try:
        m = V2Manager(f"pytest-{tok}", "/c", {"": f"{top}/pyrunc/c"}, mountpoints={"": top})
        m.create()
        assert m.created == [f"{top}/pyrunc", f"{top}/pyrunc/c"]
        p = procs(["sh", "-c", "read x; sleep 30 & wait"], stdin=subprocess.PIPE)
        m.apply(p.pid)
        p.stdin.write(b"go\n")
        p.stdin.close()
        deadline = time.monotonic() + 5
        while len(m.pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(m.pids()) == 2
        m.freeze()
        assert m.is_frozen() and _rd(f"{m.dir}/cgroup.freeze") == "1"
        m.thaw()
        assert not m.is_frozen()
        m.set({"unified": {"cgroup.max.descendants": "3"},
               "devices": [{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
        assert _rd(f"{m.dir}/cgroup.max.descendants") == "3"
        from runtime.cgroups import v2
        assert len(v2.attached_device_programs(m.dir)) == 1
        avail = _rd(f"{m.dir}/cgroup.controllers").split()
        if "pids" not in avail:
            with pytest.raises(CgroupError, match=r"^linux\.resources\.pids\.limit: the pids controller is not available"):
                m.set({"pids": {"limit": 5}})
        s = m.stats()
        json.dumps(s)
        assert set(s["cpu"]) == {"usage", "throttling"}
        m2 = cgroups.from_state(json.loads(json.dumps(m.to_state())))
        assert isinstance(m2, V2Manager) and m2.pids() == m.pids()
        for pid in m.pids():
            os.kill(pid, signal.SIGKILL)
        p.wait()
        m2.destroy()
        assert not os.path.exists(f"{top}/pyrunc")
        assert os.path.isdir(top)  # not ours to remove through the manager
    finally:
        if m is not None:
            for pid in m.pids():
                os.kill(pid, signal.SIGKILL)
            m.destroy()
        for _ in range(100):
            try:
                os.rmdir(top)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
    assert not os.path.exists(top)


def test_rootless_skips_unwritable_hierarchies(tmp_path, monkeypatch):
    """Plain directories stand in for hierarchies: a rootless manager skips
    the ones it may not create, and refuses resources for them."""
    from runtime.cgroups.v1 import V1Manager

    paths = {s: str(tmp_path / s / "pyrunc" / "x") for s in ("memory", "pids")}
    mps = {s: str(tmp_path / s) for s in paths}
    for d in mps.values():
        os.mkdir(d)
    real_mkdir = os.mkdir

    def mkdir(path, mode=0o777):
        if "/memory/" in str(path):
            raise PermissionError(13, "Permission denied", path)
        return real_mkdir(path, mode)

    monkeypatch.setattr(cgroups.posix, "mkdir", mkdir)  # the module's own
    m = V1Manager("x", None, paths, rootless=True, mountpoints=mps)
    m.create()
    assert m.skipped == ["memory"] and m.path("memory") is None
    assert os.path.isdir(paths["pids"])
    with pytest.raises(CgroupError, match=r"^linux\.resources\.memory\.limit: no permission .*rootless"):
        m.set({"memory": {"limit": 1 << 20}})
    m2 = cgroups.from_state(m.to_state())
    assert m2.skipped == ["memory"]
    m2.destroy()
    assert not os.path.exists(tmp_path / "pids" / "pyrunc")
    # not rootless: the same failure is an error naming the path
    m3 = V1Manager("x", None, paths, mountpoints=mps)
    with pytest.raises(CgroupError, match=r"creating cgroup .*/memory/pyrunc/x: Permission denied"):
        m3.create()
    m3.destroy()



def test_create_journals_every_missing_directory_at_once(tmp_path, monkeypatch):
    """Plain directories stand in for hierarchies: create() journals all the
    directories it is about to make in one call, before the first mkdir (a parent
    that is there is not journaled); a parent that vanishes before its child's mkdir
    makes that hierarchy's path walked again, journaling what it then makes."""
    from runtime.cgroups.v1 import V1Manager

    paths = {s: str(tmp_path / s / "parent" / "leaf") for s in ("pids", "freezer")}
    mps = {s: str(tmp_path / s) for s in paths}
    for d in mps.values():
        os.mkdir(d)
    os.mkdir(tmp_path / "pids" / "parent")  # pids: only the leaf is missing
    calls, made = [], []
    real_mkdir = os.mkdir

    def mkdir(path, mode=0o777):
        made.append(str(path))
        return real_mkdir(path, mode)

    monkeypatch.setattr(cgroups.posix, "mkdir", mkdir)
    m = V1Manager("x", None, paths, mountpoints=mps)
    m.journal = lambda p, ours=True, kind="cgroup": calls.append((p, ours, list(made)))
    m.create()
    fr = str(tmp_path / "freezer" / "parent")
    assert calls == [([paths["pids"], fr, paths["freezer"]], True, [])]  # one call, before any mkdir
    assert sorted(m.created) == sorted([paths["pids"], fr, paths["freezer"]])
    m.destroy()

    # the parent removed (another container's destroy) between create's look and its mkdir
    calls.clear()
    made.clear()
    vanished = []

    def mkdir_racing(path, mode=0o777):
        if str(path) == paths["pids"] and not vanished:
            vanished.append(path)
            os.rmdir(tmp_path / "pids" / "parent")
        return mkdir(path, mode)

    assert os.path.isdir(tmp_path / "pids" / "parent")  # not ours: destroy left it
    monkeypatch.setattr(cgroups.posix, "mkdir", mkdir_racing)
    m = V1Manager("x", None, paths, mountpoints=mps)
    m.journal = lambda p, ours=True, kind="cgroup": calls.append((p, ours))
    m.create()
    pp = str(tmp_path / "pids" / "parent")
    assert calls[0] == ([paths["pids"], fr, paths["freezer"]], True)
    assert (pp, True) in calls[1:]  # walked again: the parent journaled before it is made again
    assert os.path.isdir(paths["pids"]) and pp in m.created
    m.destroy()
    assert not os.path.exists(pp)

@real
def test_empty_premade_cpuset_parent_is_filled(tok):
    """An engine's pre-made, still empty v1 cpuset parent: its cpus/mems are filled from
    its ancestors (as runc does), else no task could join the container's cpuset."""
    base = "/sys/fs/cgroup/cpuset"
    if not os.path.isdir(base):
        pytest.skip("no v1 cpuset hierarchy on this host")
    parent = os.path.join(base, f"pytest-{tok}-engine")
    os.mkdir(parent)  # made by "the engine": empty cpus and mems
    m = cgroups.manager(f"c-{tok}", f"/pytest-{tok}-engine/c", None)
    hold_r, hold_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(hold_w)
        os.read(hold_r, 1)
        os._exit(0)
    os.close(hold_r)
    try:
        with open(os.path.join(parent, "cpuset.cpus")) as f:
            assert f.read().strip() == ""
        m.create()
        m.apply(child)
        assert child in m.pids()
        with open(os.path.join(parent, "cpuset.cpus")) as f:
            assert f.read().strip()
    finally:
        os.close(hold_w)
        os.waitpid(child, 0)
        m.destroy()
        if os.path.isdir(parent):
            os.rmdir(parent)
    for d in glob.glob(f"/sys/fs/cgroup/*/pytest-{tok}-engine"):
        os.rmdir(d)


# -- the removal rule shared by Manager.destroy and delete's fast path ----------

def test_parents_after_leaves_order_and_default_parent():
    from runtime.cgroupdirs import parents_after_leaves

    leaves = ["/sys/fs/cgroup/pids/pyrunc/c1", "/sys/fs/cgroup/memory/a/b/c1"]
    created = leaves + ["/sys/fs/cgroup/memory/a", "/sys/fs/cgroup/memory/a/b"]
    # the parents we made, deepest first; no default parent once a cgroupsPath is given
    assert parents_after_leaves(leaves, created, "/a/b/c1") == [
        "/sys/fs/cgroup/memory/a/b", "/sys/fs/cgroup/memory/a"]
    # without a cgroupsPath, the shared /pyrunc parent last, even if another container made it
    assert parents_after_leaves(leaves, created, "") == [
        "/sys/fs/cgroup/memory/a/b", "/sys/fs/cgroup/memory/a", "/sys/fs/cgroup/pids/pyrunc"]
    # a /pyrunc we made is removed once; a parent merely named like it is not
    assert parents_after_leaves(["/x/pyrunc/c1"], ["/x/pyrunc/c1", "/x/pyrunc"], "") == ["/x/pyrunc"]
    assert parents_after_leaves(["/x/notpyrunc/c1"], ["/x/notpyrunc/c1"], "") == []


@given(st.lists(st.lists(st.sampled_from(["a", "b", "pyrunc"]), min_size=1, max_size=4), min_size=1, max_size=4),
       st.booleans(), st.booleans())
def test_parents_after_leaves_never_names_a_leaf_or_a_child_after_its_parent(paths, named, all_parents):
    from runtime.cgroupdirs import parents_after_leaves

    leaves = sorted({"/cg/" + "/".join(p) + "/leaf" for p in paths})
    created = set(leaves)
    for leaf in leaves:  # the parents between /cg and the leaf made by us (all, or not the closest)
        parts = leaf.split("/")
        created |= {"/".join(parts[:i]) for i in range(3, len(parts) - (0 if all_parents else 1))}
    created = sorted(created)
    out = parents_after_leaves(leaves, created, "/x" if named else "")
    assert not set(out) & set(leaves) and len(out) == len(set(out))
    for i, d in enumerate(out):  # nothing below d comes after it
        assert not any(o.startswith(d + "/") for o in out[i + 1:])


def test_hugetlb_stats_of_both_layouts(tmp_path):
    """events --stats' hugetlb entries, per page size, from the files each version has
    (v1: usage_in_bytes, max_usage_in_bytes, failcnt; cgroup2: current, max, events'
    max); the reservation (.rsvd.) files are not page sizes."""
    from runtime.cgroups import stats

    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir()
    v2.mkdir()
    for name, text in (("hugetlb.2MB.usage_in_bytes", "4194304"), ("hugetlb.2MB.max_usage_in_bytes", "6291456"),
                       ("hugetlb.2MB.failcnt", "2"), ("hugetlb.1GB.usage_in_bytes", "0"),
                       ("hugetlb.1GB.max_usage_in_bytes", "0"), ("hugetlb.1GB.failcnt", "0"),
                       ("hugetlb.2MB.rsvd.usage_in_bytes", "9")):
        (v1 / name).write_text(text + "\n")
    for name, text in (("hugetlb.2MB.current", "2097152"), ("hugetlb.2MB.max", "max"),
                       ("hugetlb.2MB.events", "max 5\n"), ("hugetlb.2MB.rsvd.current", "7")):
        (v2 / name).write_text(text + "\n")

    class Mgr:  # what _v1_hugetlb asks of a V1Manager
        hybrid = False

        def path(self, sub):
            return str(v1) if sub == "hugetlb" else None

    assert stats._v1_hugetlb(Mgr()) == {"2MB": {"usage": 4194304, "max": 6291456, "failcnt": 2},
                                        "1GB": {"failcnt": 0}}
    assert stats.hugetlb_v2(str(v2)) == {"2MB": {"usage": 2097152, "failcnt": 5}}
    assert stats.hugetlb_v2(str(tmp_path / "gone")) == {}
