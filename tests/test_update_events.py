"""`update` and `events`: unit tests of the pieces (size and duration syntax, the
update subset, the v1 and v2 file mapping over fake cgroup trees in a temp dir), then
real containers: every update flag and --resources (file, stdin, Docker's zeros)
observed in the cgroup files and, where it means something, from inside the container
(a process above the new memory limit is OOM-killed, fork fails above the new pids
limit), the recorded state, error paths, `events --stats`, streaming events that end
when the container stops, and the OOM event.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import cgroups, validate
from runtime.cgroups import CgroupError
from runtime.cgroups import resources as R
from runtime.commands.events import parse_duration
from runtime.commands.update import ram_in_bytes

from util import assert_error, create_running, host_cgroup_of, shell, wait_file, wait_for

MiB = 1 << 20


# ==========================================================================
# Syntax: sizes (go-units RAMInBytes) and durations (Go's time.ParseDuration)
# ==========================================================================


@pytest.mark.parametrize("text,value", [
    ("1024", 1024), ("1k", 1024), ("1K", 1024), ("1.5m", 1572864), ("100MiB", 100 * MiB), ("100mb", 100 * MiB),
    ("1g", 1 << 30), ("2 g", 2 << 30), ("64kb", 64 << 10), ("7b", 7), ("0", 0), ("1t", 1 << 40),
])
def test_ram_in_bytes(text, value):
    assert ram_in_bytes(text) == value


@pytest.mark.parametrize("text", ["abc", " 100m", "-2", "1.2.3", "", "m", "10x", "1..5m", "١٠"])
def test_ram_in_bytes_refuses(text):
    with pytest.raises(ValueError, match="invalid size"):
        ram_in_bytes(text)


@given(st.integers(0, 1 << 40), st.sampled_from(["", "k", "m", "g", "K", "M", "G"]),
       st.sampled_from(["", "b", "B", "ib", "iB"]))
def test_ram_in_bytes_units(n, unit, suffix):
    mul = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()]
    if n * mul >= 1 << 63:
        return
    if not unit and suffix.startswith("i"):
        suffix = suffix[1:]
    assert ram_in_bytes(f"{n}{unit}{suffix}") == n * mul


@pytest.mark.parametrize("text,secs", [
    ("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5h", 5400.0), ("0", 0.0), ("-1s", -1.0),
    ("250us", 0.00025), ("2\u00b5s", 0.000002), (".5s", 0.5), ("10ns", 1e-8),
])
def test_parse_duration(text, secs):
    assert parse_duration(text) == pytest.approx(secs)


@pytest.mark.parametrize("text,msg", [("5", "missing unit"), ("x", "invalid duration"), ("1x", "unknown unit"),
                                      ("", "invalid duration"), ("1.2.3s", "invalid duration")])
def test_parse_duration_refuses(text, msg):
    with pytest.raises(ValueError, match=msg):
        parse_duration(text)


# ==========================================================================
# What update applies, and the record it leaves
# ==========================================================================

DOCKER = {"memory": {"limit": 100663296, "reservation": 0, "swap": 100663296, "kernel": 0},
          "cpu": {"shares": 0, "quota": 0, "period": 0}, "pids": {"limit": 40}, "blockIO": {"weight": 0}}


def test_update_subset_docker_zeros_mean_unchanged():
    sub, ignored = R.update_subset(DOCKER)
    assert sub == {"memory": {"limit": 100663296, "swap": 100663296}, "pids": {"limit": 40}}
    assert ignored == []


def test_update_subset_ignores_what_runc_ignores():
    res = {"devices": [{"allow": False, "access": "rwm"}], "memory": {"kernel": 5 * MiB, "swappiness": 10},
           "blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]},
           "hugepageLimits": [{"pageSize": "2MB", "limit": 0}], "cpu": {"cpus": "0", "idle": 0}}
    sub, ignored = R.update_subset(res)
    assert sub == {"blockIO": {"weight": 300}, "cpu": {"cpus": "0", "idle": 0}}
    assert set(ignored) == {"devices", "memory.kernel", "memory.swappiness", "blockIO.throttleReadBpsDevice",
                            "hugepageLimits"}


@given(st.dictionaries(st.sampled_from(["limit", "reservation", "swap"]), st.integers(-1, 1 << 40)),
       st.dictionaries(st.sampled_from(["shares", "period"]), st.integers(0, 1 << 20)),
       st.integers(-1, 1000))
def test_merge_update_keeps_old_values_for_unchanged(mem, cpu, pids):
    old = {"memory": {"limit": 7 * MiB, "reservation": 3 * MiB}, "cpu": {"shares": 99, "quota": 5000},
           "pids": {"limit": 17}}
    sub, _ = R.update_subset({"memory": mem, "cpu": cpu, "pids": {"limit": pids}})
    merged = R.merge_update(old, sub)
    for top, fields in (("memory", mem), ("cpu", cpu), ("pids", {"limit": pids})):
        for k, v in fields.items():
            want = v if v else old.get(top, {}).get(k)
            if top == "memory" and k == "swap" and not v and mem.get("limit") == -1:
                want = -1  # runc: memory made unlimited with swap left as it is makes swap unlimited too
            assert merged.get(top, {}).get(k) == want, (top, k)
    assert merged["cpu"]["quota"] == 5000


@pytest.mark.parametrize("res,field", [
    ({"memory": {"limit": "x"}}, "memory.limit"),
    ({"cpu": {"shares": -1}}, "cpu.shares"),
    ({"pids": {"limit": 1.5}}, "pids.limit"),
    ({"blockIO": {"weight": 70000}}, "blockIO.weight"),
    ({"cpu": {"cpus": 3}}, "cpu.cpus"),
    ([], "resources"),
])
def test_schema_errors_name_the_field(res, field):
    problems = validate.resources_errors(res)
    assert problems and problems[0].startswith(field + ":"), problems


@given(st.sampled_from(["memory", "cpu", "pids", "blockIO"]), st.text("abcdefghijklmnopqrstuvwxyz", min_size=3,
                                                                    max_size=10))
def test_unknown_fields_are_named(top, key):
    if key in R.UPDATE_FIELDS[top] or key in R._MEMORY_KEYS | R._CPU_KEYS | R._BLKIO_KEYS:
        return
    with pytest.raises(CgroupError, match=rf"^linux\.resources\.{top}\.{key}: unknown"):
        R.update_subset({top: {key: 1}})


def test_update_checks_name_the_field():
    for res, field in (({"cpu": {"quota": 500}}, "cpu.quota"), ({"cpu": {"period": 10}}, "cpu.period"),
                       ({"cpu": {"period": 2000000}}, "cpu.period"),
                       ({"cpu": {"realtimePeriod": 1000, "realtimeRuntime": 2000}}, "cpu.realtimeRuntime")):
        with pytest.raises(CgroupError, match=rf"^linux\.resources\.{field}: "):
            R.update_checks(res)
    R.update_checks({"cpu": {"quota": -1, "period": 100000}})


# ==========================================================================
# cgroup v2 file mapping over a fake tree (no v2 host here: a temp dir)
# ==========================================================================


@pytest.fixture
def kernfs_writes(monkeypatch):
    """A write to a cgroup file replaces its value: make plain files behave so."""
    def write_file(path, value):
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    monkeypatch.setattr(cgroups, "write_file", write_file)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _rd(path):
    with open(path) as f:
        return f.read().strip()


@pytest.fixture
def fake_v2(tmp_path, kernfs_writes):
    from runtime.cgroups.v2 import V2Manager

    top = str(tmp_path)
    d = os.path.join(top, "parent", "c")
    files = {
        "parent/cpuset.cpus.effective": "0-3\n", "parent/cpuset.mems.effective": "0\n",
        "parent/c/cgroup.controllers": "cpuset cpu io memory pids\n",
        "parent/c/memory.max": "max\n", "parent/c/memory.swap.max": "max\n", "parent/c/memory.low": "0\n",
        "parent/c/cpu.weight": "100\n", "parent/c/cpu.max": "max 100000\n", "parent/c/cpuset.cpus": "\n",
        "parent/c/cpuset.mems": "\n", "parent/c/pids.max": "max\n", "parent/c/io.weight": "default 100\n",
        "parent/c/memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
        "parent/c/memory.current": "4096\n", "parent/c/memory.swap.current": "0\n", "parent/c/pids.current": "3\n",
        "parent/c/cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\n"
                             "throttled_usec 20\n",
        "parent/c/memory.stat": "anon 8192\nfile 4096\n", "parent/c/memory.peak": "16384\n",
        "parent/c/io.stat": "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n",
    }
    for rel, text in files.items():
        _write(os.path.join(top, rel), text)
    return V2Manager("c", None, {"": d}, mountpoints={"": top}), d


def test_v2_update_mapping(fake_v2):
    m, d = fake_v2
    m.update({"memory": {"limit": 64 * MiB, "swap": 96 * MiB, "reservation": 16 * MiB}, "pids": {"limit": 10},
              "cpu": {"shares": 512, "quota": 50000, "cpus": "1-2", "mems": "0"}, "blockIO": {"weight": 500}})
    assert _rd(f"{d}/memory.max") == str(64 * MiB)
    assert _rd(f"{d}/memory.swap.max") == str(32 * MiB)  # v2 swap is swap alone
    assert _rd(f"{d}/memory.low") == str(16 * MiB)
    assert _rd(f"{d}/pids.max") == "10"
    assert _rd(f"{d}/cpu.weight") == str(R.shares_to_weight(512))
    assert _rd(f"{d}/cpu.max") == "50000"  # the kernel keeps the period in force
    assert _rd(f"{d}/cpuset.cpus") == "1-2" and _rd(f"{d}/cpuset.mems") == "0"
    assert _rd(f"{d}/io.weight") == str(R.blkio_weight_to_io_weight(500))
    m.update({"memory": {"limit": -1}, "pids": {"limit": -1}})
    assert _rd(f"{d}/memory.max") == "max" and _rd(f"{d}/memory.swap.max") == "max"
    assert _rd(f"{d}/pids.max") == "max"


def test_v2_update_keeps_the_other_half(fake_v2):
    m, d = fake_v2
    _write(f"{d}/cpu.max", "50000 100000\n")
    m.update({"cpu": {"period": 200000}})  # quota stays
    assert _rd(f"{d}/cpu.max") == "50000 200000"
    _write(f"{d}/cpu.max", "max 100000\n")
    m.update({"cpu": {"period": 300000}})
    assert _rd(f"{d}/cpu.max") == "max 300000"
    # swap alone: the memory+swap total is converted with the limit in force
    with pytest.raises(CgroupError, match=r"^linux\.resources\.memory\.swap: .*unlimited"):
        m.update({"memory": {"swap": 96 * MiB}})
    m.update({"memory": {"swap": -1}})  # unlimited swap needs no memory limit
    assert _rd(f"{d}/memory.swap.max") == "max"
    _write(f"{d}/memory.max", f"{64 * MiB}\n")
    m.update({"memory": {"swap": 80 * MiB}})
    assert _rd(f"{d}/memory.swap.max") == str(16 * MiB)
    assert _rd(f"{d}/memory.max") == str(64 * MiB)


def test_v2_update_refusals_name_the_field(fake_v2):
    m, d = fake_v2
    for res, field in (({"cpu": {"cpus": "0-7"}}, "cpu.cpus"), ({"cpu": {"mems": "1"}}, "cpu.mems"),
                       ({"cpu": {"realtimeRuntime": 1000}}, "cpu.realtimeRuntime"),
                       ({"memory": {"limit": 64 * MiB, "swap": 32 * MiB}}, "memory.swap"),
                       ({"unified": {"hugetlb.2MB.max": "0"}}, "unified.hugetlb.2MB.max")):
        with pytest.raises(CgroupError, match=rf"^linux\.resources\.{field}: "):
            m.update(res)
    assert _rd(f"{d}/memory.max") == "max" and _rd(f"{d}/cpuset.cpus") == ""


def test_v2_failed_update_restores_what_it_wrote(fake_v2):
    m, d = fake_v2
    os.unlink(f"{d}/io.weight")
    os.mkdir(f"{d}/io.weight")  # writing it fails (EISDIR), after memory, cpu and pids
    with pytest.raises(CgroupError, match=r"^linux\.resources\.blockIO\.weight: writing"):
        m.update({"memory": {"limit": 64 * MiB}, "cpu": {"shares": 512}, "pids": {"limit": 10},
                  "blockIO": {"weight": 500}})
    assert _rd(f"{d}/memory.max") == "max"
    assert _rd(f"{d}/cpu.weight") == "100"
    assert _rd(f"{d}/pids.max") == "max"


def test_v2_stats_mapping(fake_v2):
    m, d = fake_v2
    s = m.stats()
    assert s["cpu"]["usage"] == {"total": 1500000, "kernel": 500000, "user": 1000000}
    assert s["cpu"]["throttling"] == {"periods": 4, "throttledPeriods": 1, "throttledTime": 20000}
    assert s["memory"]["usage"]["usage"] == 4096 and s["memory"]["usage"]["max"] == 16384
    assert s["memory"]["usage"]["limit"] == 2**64 - 1  # "max"
    assert s["memory"]["cache"] == 4096 and s["memory"]["raw"] == {"anon": 8192, "file": 4096}
    assert s["pids"] == {"current": 3}
    assert s["blkio"]["ioServiceBytesRecursive"][:2] == [{"major": 8, "op": "Read", "value": 512},
                                                         {"major": 8, "op": "Write", "value": 1024}]
    assert s["cpuset"] == {"cpus": [0, 1, 2, 3], "mems": [0]} or s["cpuset"] == {}
    json.dumps(s)


def test_v2_oom_watch_counts_new_kills(fake_v2):
    m, d = fake_v2
    w = m.oom_watch()
    try:
        assert w.events == 0x002 and w.check() == 0  # POLLPRI: kernfs change notification
        _write(f"{d}/memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n")
        assert w.check() == 2
        assert w.check() == 0 and not w.gone
    finally:
        w.close()
    os.unlink(f"{d}/memory.events")
    assert m.oom_watch() is None


# ==========================================================================
# cgroup v1 (and hybrid) pre-checks over a fake tree
# ==========================================================================


@pytest.fixture
def fake_v1(tmp_path, kernfs_writes):
    from runtime.cgroups.v1 import V1Manager

    paths, mps = {}, {}
    for sub in ("memory", "cpu", "cpuset", "pids"):
        mps[sub] = str(tmp_path / sub)
        paths[sub] = str(tmp_path / sub / "pyrunc" / "c")
    files = {
        "memory/pyrunc/c/memory.limit_in_bytes": "209715200\n",
        "memory/pyrunc/c/memory.memsw.limit_in_bytes": "62914560\n",
        "memory/pyrunc/c/memory.soft_limit_in_bytes": "9223372036854771712\n",
        "cpu/pyrunc/c/cpu.shares": "1024\n", "cpu/pyrunc/c/cpu.cfs_quota_us": "-1\n",
        "cpu/pyrunc/c/cpu.cfs_period_us": "100000\n", "cpu/pyrunc/cpu.rt_runtime_us": "0\n",
        "cpu/pyrunc/c/cpu.rt_runtime_us": "0\n",
        "cpuset/pyrunc/cpuset.cpus": "0-1\n", "cpuset/pyrunc/c/cpuset.cpus": "0-1\n",
        "pids/pyrunc/c/pids.max": "max\n",
    }
    for rel, text in files.items():
        _write(str(tmp_path / rel), text)
    return V1Manager("c", None, paths, mountpoints=mps), paths


def test_v1_memory_against_memsw(fake_v1):
    m, p = fake_v1
    mem = p["memory"]
    with pytest.raises(CgroupError, match=r"^linux\.resources\.memory\.limit: 73400320 is above the memory\+swap"):
        m.update({"memory": {"limit": 70 * MiB}})
    with pytest.raises(CgroupError, match=r"^linux\.resources\.memory\.swap: .* below the memory limit"):
        m.update({"memory": {"limit": 50 * MiB, "swap": 40 * MiB}})
    assert _rd(f"{mem}/memory.limit_in_bytes") == "209715200"
    m.update({"memory": {"limit": 50 * MiB, "swap": 80 * MiB}})
    assert _rd(f"{mem}/memory.limit_in_bytes") == str(50 * MiB)
    assert _rd(f"{mem}/memory.memsw.limit_in_bytes") == str(80 * MiB)
    m.update({"memory": {"limit": -1}})  # unlimited memory: memsw goes with it
    assert _rd(f"{mem}/memory.limit_in_bytes") == "-1" and _rd(f"{mem}/memory.memsw.limit_in_bytes") == "-1"


def test_v1_refusals_and_rollback(fake_v1):
    m, p = fake_v1
    for res, field in (({"cpu": {"shares": 1}}, "cpu.shares"), ({"cpu": {"cpus": "0,5"}}, "cpu.cpus"),
                       ({"cpu": {"realtimeRuntime": 1000}}, "cpu.realtimeRuntime"),
                       ({"blockIO": {"weight": 300}}, "blockIO.weight")):
        with pytest.raises(CgroupError, match=rf"^linux\.resources\.{field}: "):
            m.update(res)
    os.mkdir(os.path.join(p["pids"], "pids.max.d"))
    os.unlink(os.path.join(p["pids"], "pids.max"))
    os.rename(os.path.join(p["pids"], "pids.max.d"), os.path.join(p["pids"], "pids.max"))
    with pytest.raises(CgroupError, match=r"^linux\.resources\.pids\.limit: writing"):
        m.update({"memory": {"limit": 32 * MiB}, "cpu": {"shares": 512, "quota": 50000}, "pids": {"limit": 5}})
    assert _rd(f"{p['memory']}/memory.limit_in_bytes") == "209715200"
    assert _rd(f"{p['cpu']}/cpu.shares") == "1024" and _rd(f"{p['cpu']}/cpu.cfs_quota_us") == "-1"


# ==========================================================================
# Real containers
# ==========================================================================

SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


def _layout():
    return cgroups.detect()


def cgdir(pid, ctrl):
    """The host directory of the container's cgroup for a controller (v2: the one dir)."""
    lay = _layout()
    own = host_cgroup_of(pid)
    if lay.mode == "v2":
        return lay.unified.mountpoint.rstrip("/") + own[""]
    for key, path in own.items():
        if ctrl in key.split(","):
            return lay.v1[ctrl].mountpoint.rstrip("/") + path
    raise AssertionError(f"no {ctrl} cgroup for pid {pid}: {own}")


def v2():
    return _layout().mode == "v2"


def cgread(pid, ctrl, v1file, v2file=None):
    return _rd(os.path.join(cgdir(pid, ctrl), v2file if v2() else v1file))


def _update(rt, cid, *args, **kw):
    return rt.cmd("update", *args, cid, **kw)


def _stats(rt, cid):
    r = rt.cmd("events", "--stats", cid)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert len(lines) == 1, r.out
    ev = json.loads(lines[0])
    assert ev["type"] == "stats" and ev["id"] == cid
    return ev["data"]


@pytest.fixture
def running(rt, cid, make_bundle):
    b = make_bundle(SLEEPER, linux={"resources": {"memory": {"limit": 200 * MiB}, "pids": {"limit": 100}}})
    pid = create_running(rt, cid, b)
    return pid


def test_update_memory_flags(rt, cid, running):
    pid = running
    r = _update(rt, cid, "--memory", "100M")
    assert r.rc == 0, r
    assert cgread(pid, "memory", "memory.limit_in_bytes", "memory.max") == str(100 * MiB)
    r = _update(rt, cid, "--memory-reservation", "10m")
    assert r.rc == 0, r
    assert cgread(pid, "memory", "memory.soft_limit_in_bytes", "memory.low") == str(10 * MiB)
    memsw = os.path.join(cgdir(pid, "memory"), "memory.swap.max" if v2() else "memory.memsw.limit_in_bytes")
    if os.path.exists(memsw):
        r = _update(rt, cid, "--memory", "50M", "--memory-swap", "80M")
        assert r.rc == 0, r
        assert cgread(pid, "memory", "memory.limit_in_bytes", "memory.max") == str(50 * MiB)
        assert _rd(memsw) == str(30 * MiB if v2() else 80 * MiB)
        r = _update(rt, cid, "--memory", "-1")  # unlimited, swap with it
        assert r.rc == 0, r
        assert cgread(pid, "memory", "memory.limit_in_bytes", "memory.max") in ("max", "9223372036854771712")
        assert _rd(memsw) in ("max", "9223372036854771712")
    if not v2():
        r = _update(rt, cid, "--kernel-memory-tcp", "8M")
        assert r.rc == 0, r
        if rt.name == "pyrunc":  # applied where the file exists, as create does (runc 1.1.5 ignores it)
            assert cgread(pid, "memory", "memory.kmem.tcp.limit_in_bytes") == str(8 * MiB)
    r = _update(rt, cid, "--kernel-memory", "8M")  # ignored with a warning, as by runc
    assert r.rc == 0 and "ignored" in r.err, r


def test_update_cpu_flags(rt, cid, running):
    pid = running
    r = _update(rt, cid, "--cpu-share", "512")
    assert r.rc == 0, r
    if v2():
        assert cgread(pid, "cpu", "", "cpu.weight") == str(R.shares_to_weight(512))
    else:
        assert cgread(pid, "cpu", "cpu.shares") == "512"
    r = _update(rt, cid, "--cpu-quota", "50000", "--cpu-period", "200000")
    assert r.rc == 0, r
    if v2():
        assert cgread(pid, "cpu", "", "cpu.max") == "50000 200000"
    else:
        assert cgread(pid, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgread(pid, "cpu", "cpu.cfs_period_us") == "200000"
    r = _update(rt, cid, "--cpu-period", "100000")  # the quota stays
    assert r.rc == 0, r
    if v2():
        assert cgread(pid, "cpu", "", "cpu.max") == "50000 100000"
    else:
        assert cgread(pid, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgread(pid, "cpu", "cpu.cfs_period_us") == "100000"
    r = _update(rt, cid, "--cpu-quota", "-1")
    assert r.rc == 0, r
    assert cgread(pid, "cpu", "cpu.cfs_quota_us", "cpu.max").split()[0] in ("-1", "max")
    cpus = _rd(os.path.join(os.path.dirname(cgdir(pid, "cpuset")),
                            "cpuset.cpus.effective" if v2() else "cpuset.cpus"))
    first = str(R.parse_cpu_list(cpus)[0])
    r = _update(rt, cid, "--cpuset-cpus", first, "--cpuset-mems", "0")
    assert r.rc == 0, r
    assert cgread(pid, "cpuset", "cpuset.cpus", "cpuset.cpus") == first
    assert cgread(pid, "cpuset", "cpuset.mems", "cpuset.mems") == "0"
    with open(f"/proc/{pid}/status") as f:  # the container's process is bound to it
        allowed = [ln.split()[1] for ln in f if ln.startswith("Cpus_allowed_list:")][0]
    assert allowed == first


def test_update_rt_flags(rt, cid, make_bundle, token):
    # A cgroup right below the hierarchy's root, whose realtime budget it can draw on.
    b = make_bundle(SLEEPER, linux={"cgroupsPath": f"/pytest-{token}-rt"})
    pid = create_running(rt, cid, b)
    r = _update(rt, cid, "--cpu-rt-period", "500000", "--cpu-rt-runtime", "1000")
    if v2():
        assert_error(r, rt)
        assert "realtime" in r.err.lower(), r
        return
    assert r.rc == 0, r
    assert cgread(pid, "cpu", "cpu.rt_period_us") == "500000"
    assert cgread(pid, "cpu", "cpu.rt_runtime_us") == "1000"


def test_update_pids_and_blkio(rt, cid, running):
    pid = running
    r = _update(rt, cid, "--pids-limit", "7")
    assert r.rc == 0, r
    assert cgread(pid, "pids", "pids.max", "pids.max") == "7"
    r = _update(rt, cid, "--pids-limit", "-1")
    assert r.rc == 0, r
    assert cgread(pid, "pids", "pids.max", "pids.max") == "max"
    d = cgdir(pid, "io" if v2() else "blkio")
    names = ["io.bfq.weight", "io.weight"] if v2() else ["blkio.weight", "blkio.bfq.weight"]
    have = [n for n in names if os.path.exists(os.path.join(d, n))]
    r = _update(rt, cid, "--blkio-weight", "300")
    if not have:
        assert_error(r, rt)
        return
    assert r.rc == 0, r
    assert _rd(os.path.join(d, have[0])).split()[-1] in ("300", str(R.blkio_weight_to_io_weight(300)))


def test_flags_may_follow_the_id(rt, cid, running):
    r = rt.cmd("update", cid, "--pids-limit", "9", "--memory", "90m")
    assert r.rc == 0, r
    assert cgread(running, "pids", "pids.max", "pids.max") == "9"
    assert cgread(running, "memory", "memory.limit_in_bytes", "memory.max") == str(90 * MiB)


def _go_container(make_bundle, tdir, script, **overrides):
    """A container that waits for /out/go<N> files and runs `script N` for each."""
    out = os.path.join(tdir, "out")
    os.makedirs(out, exist_ok=True)
    loop = ("n=1; while :; do if [ -e /out/go$n ]; then " + script + "; n=$((n+1)); fi; sleep 0.05; done")
    b = make_bundle(shell(loop), write=False, **overrides)
    b.add_mount("/out", source=out, options=["rbind", "rw"])
    b.write()
    return b, out


def _go(out, n):
    open(os.path.join(out, f"go{n}"), "w").close()
    return wait_file(os.path.join(out, f"result{n}"), timeout=20).strip()


def test_memory_limit_enforced_inside(rt, cid, make_bundle, tdir):
    b, out = _go_container(make_bundle, tdir,
                           "dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null; echo $? > /out/result$n")
    pid = create_running(rt, cid, b)
    assert _go(out, 1) == "0"  # no limit: the 48 MiB buffer is fine
    memsw = os.path.exists(os.path.join(cgdir(pid, "memory"),
                                        "memory.swap.max" if v2() else "memory.memsw.limit_in_bytes"))
    r = _update(rt, cid, "--memory", "24M", *(["--memory-swap", "24M"] if memsw else []))
    assert r.rc == 0, r
    assert _go(out, 2) == "137"  # OOM-killed: SIGKILL
    assert _stats(rt, cid)["memory"]["usage"]["limit"] == 24 * MiB
    assert rt.status(cid) == "running"  # only the process over the limit died


def test_pids_limit_enforced_inside(rt, cid, make_bundle, tdir):
    # Once the pids are used up the shell cannot fork its next `sleep` either: it then
    # waits on a fifo (no fork) so that the container stays up for the checks.
    b, out = _go_container(make_bundle, tdir,
                           "(i=0; while [ $i -lt 12 ]; do sleep 300 & i=$((i+1)); done; echo ok) >/out/log$n 2>&1; "
                           "echo $? > /out/result$n; read x < /out/hold")
    os.mkfifo(os.path.join(out, "hold"))
    pid = create_running(rt, cid, b)
    r = _update(rt, cid, "--pids-limit", "6")
    assert r.rc == 0, r
    assert _go(out, 1) != "0"
    with open(os.path.join(out, "log1")) as f:
        log = f.read()
    assert "fork" in log.lower() and "ok" not in log, log
    data = _stats(rt, cid)
    assert data["pids"]["limit"] == 6 and 1 <= data["pids"]["current"] <= 6
    assert len(open(os.path.join(cgdir(pid, "pids"), "cgroup.procs")).read().split()) <= 6


def test_resources_file_stdin_and_docker_zeros(rt, cid, running, tdir):
    pid = running
    f = os.path.join(tdir, "res.json")
    with open(f, "w") as fh:
        json.dump({"memory": {"limit": 120 * MiB}, "cpu": {"shares": 300}, "pids": {"limit": 33}}, fh)
    r = rt.cmd("update", "--resources", f, cid)
    assert r.rc == 0, r
    assert cgread(pid, "memory", "memory.limit_in_bytes", "memory.max") == str(120 * MiB)
    assert cgread(pid, "pids", "pids.max", "pids.max") == "33"
    shares = cgread(pid, "cpu", "cpu.shares", "cpu.weight")
    quota = cgread(pid, "cpu", "cpu.cfs_quota_us", "cpu.max")
    memsw = os.path.join(cgdir(pid, "memory"), "memory.swap.max" if v2() else "memory.memsw.limit_in_bytes")
    docker = json.loads(json.dumps(DOCKER))
    if not os.path.exists(memsw):
        del docker["memory"]["swap"]
    r = rt.cmd("update", "-r", "-", cid, input=json.dumps(docker))
    assert r.rc == 0, r
    assert cgread(pid, "memory", "memory.limit_in_bytes", "memory.max") == "100663296"
    assert cgread(pid, "pids", "pids.max", "pids.max") == "40"
    # zeros: unchanged
    assert cgread(pid, "cpu", "cpu.shares", "cpu.weight") == shares
    assert cgread(pid, "cpu", "cpu.cfs_quota_us", "cpu.max") == quota
    # other flags are ignored with --resources
    r = rt.cmd("update", "-r", "-", "--pids-limit", "5", cid, input='{"pids": {"limit": 41}}')
    assert r.rc == 0, r
    assert cgread(pid, "pids", "pids.max", "pids.max") == "41"
    # what containerd's CRI plugin sends: the whole resources, device rules included
    r = rt.cmd("update", "-r", "-", cid, input=json.dumps(
        {"devices": [{"allow": False, "access": "rwm"}], "memory": {"limit": 90 * MiB}}))
    assert r.rc == 0, r
    assert cgread(pid, "memory", "memory.limit_in_bytes", "memory.max") == str(90 * MiB)


@pytest.mark.pyrunc_only
def test_state_records_the_update(rt, cid, running):
    assert _update(rt, cid, "--memory", "64m", "--cpu-share", "256").rc == 0
    assert rt.cmd("update", "-r", "-", cid, input=json.dumps(DOCKER | {"memory": {"limit": 0}})).rc == 0
    with open(os.path.join(rt.root, cid, "state.json")) as f:
        rec = json.load(f)["resources"]
    assert rec["memory"]["limit"] == 64 * MiB  # a zero did not erase it
    assert rec["cpu"]["shares"] == 256 and rec["pids"]["limit"] == 40
    data = _stats(rt, cid)
    assert data["memory"]["usage"]["limit"] == 64 * MiB and data["pids"]["limit"] == 40


def test_update_created_and_paused(rt, cid, make_bundle):
    b = make_bundle(SLEEPER)
    r = rt.create(cid, b)
    assert r.rc == 0, r
    pid = rt.state(cid)["pid"]
    assert _update(rt, cid, "--pids-limit", "11").rc == 0
    assert cgread(pid, "pids", "pids.max", "pids.max") == "11"
    created = _stats(rt, cid)["pids"]  # events works on a created container too
    assert created["limit"] == 11 and created["current"] >= 1  # runc's waiting init has threads
    assert rt.start(cid).rc == 0
    assert rt.cmd("pause", cid).rc == 0
    assert _update(rt, cid, "--pids-limit", "12").rc == 0
    assert cgread(pid, "pids", "pids.max", "pids.max") == "12"
    assert _stats(rt, cid)["pids"]["limit"] == 12
    assert rt.cmd("resume", cid).rc == 0


@pytest.mark.parametrize("args,needle", [
    (["--memory", "abc"], "memory"),
    (["--memory", "-2"], "memory"),
    (["--cpu-quota", "x"], "cpu-quota"),
    (["--cpu-period", "-5"], "cpu-period"),
    (["--pids-limit", "many"], "pids-limit"),
    (["--l3-cache-schema", "L3:0=f"], "rdt"),
    (["--mem-bw-schema", "MB:0=20"], "rdt"),
])
def test_update_bad_flag_values(rt, cid, running, args, needle):
    before = cgread(running, "memory", "memory.limit_in_bytes", "memory.max")
    r = _update(rt, cid, *args)
    assert_error(r, rt)
    assert needle.lower() in r.err.lower(), r
    assert cgread(running, "memory", "memory.limit_in_bytes", "memory.max") == before


@pytest.mark.pyrunc_only
@pytest.mark.parametrize("payload,field", [
    ('{"memory": {"limit": "x"}}', "memory.limit"),
    ('{"memory": {"limitt": 5}}', "memory.limitt"),
    ('{"cpu": {"shares": 1}}', "cpu.shares"),
    ('{"cpu": {"quota": 500}}', "cpu.quota"),
    ('{"cpu": {"cpus": "0-4095"}}', "cpu.cpus"),
    ('{"pids": {"limit": 1.5}}', "pids.limit"),
    ('{"memory": {"limit": 1024}}', "memory.limit"),  # below what the container uses
    ('{"memory":', "invalid JSON"),
    ('[]', "resources"),
])
def test_update_bad_resources_name_the_field(rt, cid, running, payload, field, tdir):
    log = os.path.join(tdir, "update.log")
    before = cgread(running, "memory", "memory.limit_in_bytes", "memory.max")
    r = rt.cmd("update", "-r", "-", cid, input=payload, global_args=["--log", log, "--log-format", "json"])
    assert_error(r, rt)
    assert field in r.err, r
    with open(log) as f:
        assert json.loads(f.read().splitlines()[-1])["level"] == "error"
    assert cgread(running, "memory", "memory.limit_in_bytes", "memory.max") == before


@pytest.mark.pyrunc_only
def test_failed_update_is_not_half_applied(rt, cid, running):
    pid = running
    mem = cgread(pid, "memory", "memory.limit_in_bytes", "memory.max")
    pids = cgread(pid, "pids", "pids.max", "pids.max")
    # memory and pids are written before blkio, whose weight the kernel refuses
    r = _update(rt, cid, "--memory", "64m", "--pids-limit", "20", "--blkio-weight", "5000")
    assert_error(r, rt)
    assert "blockIO.weight" in r.err, r
    assert cgread(pid, "memory", "memory.limit_in_bytes", "memory.max") == mem
    assert cgread(pid, "pids", "pids.max", "pids.max") == pids


def test_update_missing_and_stopped(rt, cid, new_cid, make_bundle):
    r = _update(rt, new_cid(), "--memory", "10m")
    assert_error(r, rt)
    assert "not exist" in r.err, r
    assert rt.create(cid, make_bundle(["true"])).rc == 0
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    r = _update(rt, cid, "--memory", "10m")
    assert_error(r, rt)
    assert "not running" in r.err, r
    r = rt.cmd("events", "--stats", cid)
    assert_error(r, rt)
    assert "not running" in r.err, r


def test_events_stats_shape(rt, cid, running):
    data = _stats(rt, cid)
    for key in ("cpu", "memory", "pids", "blkio", "hugetlb"):
        assert key in data, data.keys()
    assert set(data["cpu"]) == {"usage", "throttling"}
    assert data["cpu"]["usage"]["total"] > 0 and "kernel" in data["cpu"]["usage"] and "user" in data["cpu"]["usage"]
    if not v2():
        assert len(data["cpu"]["usage"]["percpu"]) == os.cpu_count()
    for k in ("usage", "swap", "kernel", "kernelTCP"):
        assert "limit" in data["memory"][k] and "failcnt" in data["memory"][k]
    assert 0 < data["memory"]["usage"]["usage"] < 200 * MiB
    assert data["memory"]["usage"]["limit"] == 200 * MiB
    assert isinstance(data["memory"]["raw"], dict) and data["memory"]["raw"]
    assert data["pids"] == {"current": 2, "limit": 100} or data["pids"] == {"current": 1, "limit": 100}
    assert isinstance(data["hugetlb"], dict) and isinstance(data["blkio"], dict)


def test_events_stream_ends_when_the_container_stops(rt, cid, running):
    p = rt.popen("events", "--interval", "100ms", cid)
    try:
        def lines():
            return [ln for ln in rt.read_popen(p)[0].splitlines() if ln.strip()]
        assert wait_for(lambda: len(lines()) >= 3, timeout=20), rt.read_popen(p)
        assert p.poll() is None
        assert rt.kill(cid, "KILL").rc == 0
        if rt.name != "pyrunc":
            # runc 1.1.5 on cgroup v1 ends only when the cgroup goes (delete)
            assert rt.delete(cid, force=True).rc == 0
        p.wait(timeout=20)
        assert p.returncode == 0, rt.read_popen(p)
        for ln in lines():
            ev = json.loads(ln)
            assert ev["type"] == "stats" and ev["id"] == cid and "memory" in ev["data"]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _oom_registered(p):
    """events has its OOM notifier open (v1: an eventfd; v2: memory.events)."""
    try:
        links = [os.readlink(f"/proc/{p.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{p.pid}/fd")]
    except OSError:
        return False
    return any("eventfd" in ln or ln.endswith("memory.events") for ln in links)


def test_events_oom(rt, cid, make_bundle, tdir):
    b, out = _go_container(make_bundle, tdir,
                           "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo $? > /out/result$n",
                           linux={"resources": {"memory": {"limit": 24 * MiB}}})
    p = None
    try:
        pid = create_running(rt, cid, b)
        memsw = os.path.join(cgdir(pid, "memory"), "memory.memsw.limit_in_bytes")
        if not v2() and os.path.exists(memsw):
            assert _update(rt, cid, "--memory-swap", "24M").rc == 0
        p = rt.popen("events", "--interval", "30s", cid)
        assert wait_for(lambda: _oom_registered(p), timeout=20)
        assert _go(out, 1) == "137"
        assert wait_for(lambda: '"type":"oom"' in rt.read_popen(p)[0], timeout=20), rt.read_popen(p)
        ev = [json.loads(ln) for ln in rt.read_popen(p)[0].splitlines() if "oom" in ln][0]
        assert ev == {"type": "oom", "id": cid}
        assert rt.kill(cid, "KILL").rc == 0
        if rt.name != "pyrunc":
            assert rt.delete(cid, force=True).rc == 0
        p.wait(timeout=20)
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


def test_events_errors(rt, cid, new_cid, running):
    r = rt.cmd("events", "--interval", "5", cid)
    assert_error(r, rt)
    assert "interval" in r.err, r
    r = rt.cmd("events", "--interval", "0s", cid)
    assert_error(r, rt)
    assert "greater than 0" in r.err, r
    r = rt.cmd("events", "--stats", new_cid())
    assert_error(r, rt)
    assert "not exist" in r.err, r


def test_events_oom_of_the_init_ends_the_stream(rt, cid, make_bundle, tdir):
    """The container's init itself is OOM-killed: the oom line comes, then the end."""
    out = os.path.join(tdir, "out")
    os.makedirs(out)
    b = make_bundle(shell("while [ ! -e /out/go ]; do sleep 0.05; done; "
                          "exec dd if=/dev/zero of=/dev/null bs=64M count=1"), write=False,
                    linux={"resources": {"memory": {"limit": 24 * MiB}}})
    b.add_mount("/out", source=out, options=["rbind", "rw"])
    b.write()
    p = None
    try:
        pid = create_running(rt, cid, b)
        memsw = os.path.join(cgdir(pid, "memory"), "memory.memsw.limit_in_bytes")
        if not v2() and os.path.exists(memsw):
            assert _update(rt, cid, "--memory-swap", "24M").rc == 0
        p = rt.popen("events", "--interval", "30s", cid)
        assert wait_for(lambda: _oom_registered(p), timeout=20)
        open(os.path.join(out, "go"), "w").close()
        if rt.name != "pyrunc":
            assert wait_for(lambda: '"type":"oom"' in rt.read_popen(p)[0], timeout=20)
            assert rt.delete(cid, force=True).rc == 0
        p.wait(timeout=20)
        assert p.returncode == 0
        evs = [json.loads(ln) for ln in rt.read_popen(p)[0].splitlines() if ln.strip()]
        assert {"type": "oom", "id": cid} in evs, evs
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.pyrunc_only
def test_update_unified(rt, cid, running):
    """`unified` keys go to the container's cgroup2 directory (on a hybrid host too,
    for the core cgroup.* files, as at create); runc 1.1.5 refuses them on hybrid."""
    lay = _layout()
    r = rt.cmd("update", "-r", "-", cid, input='{"unified": {"cgroup.max.descendants": "5"}}')
    if lay.unified is None:
        assert_error(r, rt)
        assert "unified.cgroup.max.descendants" in r.err, r
        return
    assert r.rc == 0, r
    d = lay.unified.mountpoint.rstrip("/") + host_cgroup_of(running)[""]
    assert _rd(os.path.join(d, "cgroup.max.descendants")) == "5"
    r = rt.cmd("update", "-r", "-", cid, input='{"unified": {"cgroup.procs": "1"}}')
    assert_error(r, rt)
    assert "unified.cgroup.procs" in r.err, r


def test_v2_broken_control_file_is_one_error(fake_v2):
    m, d = fake_v2
    os.unlink(f"{d}/cgroup.controllers")
    os.mkdir(f"{d}/cgroup.controllers")  # reading it fails with an OSError, not a CgroupError
    with pytest.raises(CgroupError, match=r"^linux\.resources: .*/parent/c: Is a directory"):
        m.update({"pids": {"limit": 10}})
    assert _rd(f"{d}/pids.max") == "max"
