"""Real containers with cgroup limits under both drivers on a pure cgroup v2 host with
systemd as PID 1 (the CI guest: scripts/vm/), observed in the cgroup files and in
`systemctl show`; plus a Podman smoke test with cgroup_manager = "systemd".

On other hosts (this project's development machine is hybrid without systemd) these
tests skip, saying why; there, --systemd-cgroup must stay a one-line error."""

from __future__ import annotations

import os
import shutil
import sys
import subprocess

import pytest

from conformance import bundle as cb
from runtime import cgroups
from util import assert_error, wait_for

SYSTEMD = os.path.isdir("/run/systemd/system")
V2 = cgroups.detect().mode == "v2"
needs_v2_systemd = pytest.mark.skipif(
    not (SYSTEMD and V2),
    reason="needs systemd as PID 1 and a pure cgroup v2 host (run them in the guest: scripts/vm/test.sh)")
MNT = "/sys/fs/cgroup"
DRIVERS = ["cgroupfs", "systemd"]


def _sd_args(driver):
    return ["--systemd-cgroup"] if driver == "systemd" else []


@pytest.fixture
def sdrt(rt):
    """The runtime under test with --systemd-cgroup, sharing rt's state root."""
    r = cb.Runtime(rt.argv, rt.root, workdir=rt.workdir, global_args=["--systemd-cgroup"])
    yield r
    r.cleanup()


def _rt_for(driver, rt, sdrt):
    return sdrt if driver == "systemd" else rt


def _show(unit, *props) -> dict:
    out = subprocess.run(["systemctl", "show", "-p", ",".join(props), unit], capture_output=True, text=True,
                         timeout=60).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _cgroup_of(pid) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return next(ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::"))


def _read(path) -> str:
    with open(path) as f:
        return f.read().strip()


def _limited(make_bundle, cgroups_path=None, **res):
    b = make_bundle(["sleep", "1000"], write=False)
    linux = b.config["linux"]
    resources = linux.setdefault("resources", {})
    resources.update({"memory": {"limit": 64 << 20}, "pids": {"limit": 32},
                      "cpu": {"quota": 50000, "period": 100000}})
    resources.update(res)
    if cgroups_path is None:
        linux.pop("cgroupsPath", None)
    else:
        linux["cgroupsPath"] = cgroups_path
    return b


@needs_v2_systemd
@pytest.mark.parametrize("driver", DRIVERS)
def test_limits_in_cgroup_files_and_cleanup(driver, rt, sdrt, new_cid, make_bundle):
    cid = new_cid()
    r = _rt_for(driver, rt, sdrt)
    path = f"system.slice:pytest:{cid}" if driver == "systemd" else f"/pytest-{cid}/c"
    b = _limited(make_bundle, path)
    b.write()
    res = r.create(cid, b)
    assert res.rc == 0, res
    assert r.start(cid).rc == 0
    pid = r.state(cid)["pid"]
    cg = _cgroup_of(pid)
    want = f"/system.slice/pytest-{cid}.scope" if driver == "systemd" else f"/pytest-{cid}/c"
    assert cg == want
    d = MNT + cg
    assert _read(f"{d}/memory.max") == str(64 << 20)
    assert _read(f"{d}/pids.max") == "32"
    assert _read(f"{d}/cpu.max") == "50000 100000"
    if driver == "systemd":
        unit = f"pytest-{cid}.scope"
        p = _show(unit, "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec", "Delegate", "Slice", "ActiveState")
        assert p == {"MemoryMax": str(64 << 20), "TasksMax": "32", "CPUQuotaPerSecUSec": "500ms",
                     "Delegate": "yes", "Slice": "system.slice", "ActiveState": "active"}, p
    # update: the files, and for the systemd driver the unit's properties too
    u = r.cmd("update", "--memory", str(128 << 20), "--pids-limit", "64", "--cpu-quota", "25000", cid)
    assert u.rc == 0, u
    assert (_read(f"{d}/memory.max"), _read(f"{d}/pids.max"), _read(f"{d}/cpu.max")) == \
        (str(128 << 20), "64", "25000 100000")
    if driver == "systemd":
        p = _show(f"pytest-{cid}.scope", "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec")
        assert p == {"MemoryMax": str(128 << 20), "TasksMax": "64", "CPUQuotaPerSecUSec": "250ms"}, p
    assert r.kill(cid, "KILL").rc == 0
    assert wait_for(lambda: r.state(cid)["status"] == "stopped", timeout=60)
    assert r.delete(cid).rc == 0
    assert not os.path.exists(d)
    if driver == "systemd":
        assert _show(f"pytest-{cid}.scope", "LoadState")["LoadState"] == "not-found"
    else:
        assert not os.path.exists(MNT + f"/pytest-{cid}")


@needs_v2_systemd
def test_systemd_default_path_nested_slice_pause_and_annotations(sdrt, new_cid, make_bundle):
    cid = new_cid()
    b = _limited(make_bundle, None)
    b.config["annotations"] = {"org.systemd.property.TimeoutStopSec": "uint64 7",
                               "org.systemd.property.Description": "'pytest scope'"}
    b.write()
    assert sdrt.create(cid, b).rc == 0
    unit = f"pyrunc-{cid}.scope"
    pid = sdrt.state(cid)["pid"]
    assert _cgroup_of(pid) == f"/system.slice/{unit}"
    p = _show(unit, "TimeoutStopUSec", "Description", "DefaultDependencies")
    assert p == {"TimeoutStopUSec": "7s", "Description": "pytest scope", "DefaultDependencies": "no"}, p
    d = f"{MNT}/system.slice/{unit}"
    assert sdrt.start(cid).rc == 0
    assert sdrt.cmd("pause", cid).rc == 0
    assert sdrt.state(cid)["status"] == "paused"
    assert _read(f"{d}/cgroup.freeze") == "1"
    assert sdrt.cmd("resume", cid).rc == 0
    assert sdrt.state(cid)["status"] == "running"
    assert _read(f"{d}/cgroup.freeze") == "0"
    assert sdrt.delete(cid, force=True).rc == 0
    assert not os.path.exists(d)
    assert _show(unit, "LoadState")["LoadState"] == "not-found"

    # A slice that does not exist yet, nested: systemd makes it, as a-b.slice expands.
    cid2 = new_cid()
    b2 = _limited(make_bundle, f"pytest-nested.slice:pt:{cid2}")
    b2.write()
    assert sdrt.run(cid2, b2, detach=True).rc == 0
    assert _cgroup_of(sdrt.state(cid2)["pid"]) == f"/pytest.slice/pytest-nested.slice/pt-{cid2}.scope"
    assert _show(f"pt-{cid2}.scope", "Slice")["Slice"] == "pytest-nested.slice"
    assert sdrt.delete(cid2, force=True).rc == 0
    assert _show(f"pt-{cid2}.scope", "LoadState")["LoadState"] == "not-found"
    subprocess.run(["systemctl", "stop", "pytest.slice"], timeout=60)


@needs_v2_systemd
def test_systemd_container_exiting_by_itself(sdrt, new_cid, make_bundle):
    cid = new_cid()
    b = make_bundle(["true"])
    r = sdrt.run(cid, b)
    assert r.rc == 0, r
    unit = f"pyrunc-{cid}.scope"
    assert wait_for(lambda: _show(unit, "LoadState")["LoadState"] == "not-found", timeout=60)
    assert sdrt.delete(cid, force=True).rc == 0


@needs_v2_systemd
@pytest.mark.parametrize("path, what", [
    ("not-a-systemd-path", "slice:prefix:name"),
    ("system.scope:p:n", "slice"),
    ("a--b.slice:p:n", "slice"),
])
def test_systemd_bad_paths(sdrt, new_cid, make_bundle, path, what):
    cid = new_cid()
    b = make_bundle(["true"], write=False)
    b.config["linux"]["cgroupsPath"] = path
    b.write()
    r = sdrt.run(cid, b)
    assert_error(r, sdrt)
    assert "cgroupsPath" in r.err and what in r.err
    assert sdrt.state_raw(cid).rc != 0


@pytest.mark.skipif(SYSTEMD, reason="this host runs systemd: the driver works here")
def test_systemd_driver_refused_without_systemd(sdrt, new_cid, make_bundle):
    cid = new_cid()
    r = sdrt.run(cid, make_bundle(["true"]))
    assert_error(r, sdrt)
    assert "--systemd-cgroup" in r.err and "systemd is not running" in r.err
    assert sdrt.state_raw(cid).rc != 0


@needs_v2_systemd
@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_podman_with_systemd_cgroup_manager(runtime_argv, tdir, make_bundle, token):
    wrapper = os.path.join(tdir, "pyrunc-wrapper")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec " + " ".join(runtime_argv) + ' "$@"\n')
    os.chmod(wrapper, 0o755)
    b = make_bundle(["true"])
    rootfs = os.path.join(b.path, "rootfs")
    name = f"pytest-{token}"
    base = ["podman", "--cgroup-manager", "systemd", "--runtime", wrapper, "--root", os.path.join(tdir, "storage"),
            "--runroot", os.path.join(tdir, "runroot"), "--storage-driver", "vfs", "--events-backend", "none"]
    try:
        r = subprocess.run(base + ["run", "--rm", "--name", name, "--network", "none", "--memory", "64m",
                                   "--pids-limit", "48", "--rootfs", rootfs, "/bin/sh", "-c",
                                   "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r
        lines = r.stdout.split()
        assert lines[-2:] == [str(64 << 20), "48"], r.stdout
        assert lines[0].startswith("0::"), r.stdout
    finally:
        subprocess.run(base + ["rm", "-f", name], capture_output=True, timeout=120)
    left = subprocess.run(["systemctl", "list-units", "--all", "--no-legend", "libpod-*"], capture_output=True,
                          text=True, timeout=60).stdout
    assert "libpod-" not in left, left  # podman's scope went away with the container


def _units(pattern) -> str:
    """Every unit systemd has loaded that matches (any state: a failed scope too)."""
    return subprocess.run(["systemctl", "list-units", "--all", "--no-legend", "--plain", pattern],
                          capture_output=True, text=True, timeout=60).stdout.strip()


def _assert_no_scope(sdrt, cid):
    unit = f"pyrunc-{cid}.scope"
    assert wait_for(lambda: not _units(unit), timeout=60), _units(unit)
    assert not os.path.exists(f"{MNT}/system.slice/{unit}")
    assert not os.path.exists(os.path.join(sdrt.root, cid))


# kill -9 of create at every step (tests/test_crash.py's steps, runtime/state.py STEPS), then
# delete --force: no scope unit, no cgroup, no state is left.  The systemd driver reaches
# create-cgroup-mkdir once its scope is started (journaled first, by unit name).
from test_crash import CREATE_STEPS, HOOK_STEPS, HOOKS, _kill_at  # noqa: E402


@needs_v2_systemd
@pytest.mark.parametrize("step", CREATE_STEPS)
def test_systemd_kill9_create_at_every_step(sdrt, make_bundle, cid, tdir, step):
    b = make_bundle(["sleep", "1000"], **({"hooks": HOOKS} if step in HOOK_STEPS else {}))
    sdrt.track(cid)
    _kill_at(sdrt, step, tdir, "create", "--bundle", b.path, cid)
    r = sdrt.delete(cid, force=True)
    assert r.rc == 0 and "Traceback" not in r.err, r
    _assert_no_scope(sdrt, cid)


@needs_v2_systemd
def test_systemd_scope_of_unreadable_state_is_stopped(sdrt, make_bundle, cid, tdir):
    """A create killed once the container's init runs in its scope (exec'd: it no longer
    dies with its parent), and a state.json that cannot be read (what delete --force
    copes with: only the journal says what was made): the journaled unit is killed and
    stopped."""
    b = make_bundle(["sleep", "1000"])
    sdrt.track(cid)
    _kill_at(sdrt, "create-init-execd", tdir, "create", "--bundle", b.path, cid)
    unit = f"pyrunc-{cid}.scope"
    assert _show(unit, "ActiveState")["ActiveState"] == "active"
    with open(os.path.join(sdrt.root, cid, "state.json"), "w") as f:
        f.write('{"torn')
    r = sdrt.delete(cid, force=True)
    assert r.rc == 0 and "Traceback" not in r.err, r
    _assert_no_scope(sdrt, cid)


@needs_v2_systemd
def test_systemd_unit_of_another_root_is_left_alone(rt, sdrt, make_bundle, cid, tdir):
    """The same id under another --root names the same unit: that create fails, saying
    so, and stops nothing of the other container's."""
    b = make_bundle(["sleep", "1000"])
    assert sdrt.create(cid, b).rc == 0
    other = cb.Runtime(rt.argv, os.path.join(tdir, "other-root"), workdir=rt.workdir,
                       global_args=["--systemd-cgroup"])
    r = other.create(cid, b)
    assert r.rc != 0 and "Traceback" not in r.err, r
    # (after a warning that the cgroup, the other container's, is not empty)
    assert r.err.strip().splitlines()[-1].endswith(f"unit pyrunc-{cid}.scope already exists"), r.err
    assert not os.path.exists(os.path.join(other.root, cid))
    assert _show(f"pyrunc-{cid}.scope", "ActiveState")["ActiveState"] == "active"
    assert sdrt.state(cid)["status"] == "created"
    assert sdrt.delete(cid, force=True).rc == 0
    _assert_no_scope(sdrt, cid)


@needs_v2_systemd
def test_systemd_failed_update_rolls_back_unit_properties(sdrt, cid, make_bundle, tdir):
    """An update whose last write the kernel refuses (a cpu burst above the quota, after
    memory.max and pids.max): the files and the unit's properties are as before."""
    b = _limited(make_bundle, None)
    b.write()
    assert sdrt.create(cid, b).rc == 0
    unit = f"pyrunc-{cid}.scope"
    d = MNT + _cgroup_of(sdrt.state(cid)["pid"])
    before = _show(unit, "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec")
    assert before == {"MemoryMax": str(64 << 20), "TasksMax": "32", "CPUQuotaPerSecUSec": "500ms"}, before
    res = os.path.join(tdir, "res.json")
    with open(res, "w") as f:
        f.write('{"memory": {"limit": %d}, "pids": {"limit": 64}, "cpu": {"burst": 60000}}' % (128 << 20))
    r = sdrt.cmd("update", "--resources", res, cid)
    assert_error(r, sdrt)
    assert "cpu.burst" in r.err and "restoring" not in r.err, r.err
    assert (_read(f"{d}/memory.max"), _read(f"{d}/pids.max"), _read(f"{d}/cpu.max")) == \
        (str(64 << 20), "32", "50000 100000")
    assert _show(unit, "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec") == before
    # and a good update still goes through, to both
    with open(res, "w") as f:
        f.write('{"memory": {"limit": %d}, "pids": {"limit": 64}}' % (128 << 20))
    assert sdrt.cmd("update", "--resources", res, cid).rc == 0
    assert (_read(f"{d}/memory.max"), _read(f"{d}/pids.max")) == (str(128 << 20), "64")
    assert _show(unit, "MemoryMax", "TasksMax") == {"MemoryMax": str(128 << 20), "TasksMax": "64"}
    assert sdrt.delete(cid, force=True).rc == 0


@needs_v2_systemd
def test_systemd_update_keeps_unified_memory_files(sdrt, cid, make_bundle):
    """systemd rewrites every memory file of a unit it changes a memory property of
    (memory.min/low/high/max/swap.max, memory.oom.group): `unified` values it has a
    property for survive an update of another memory limit."""
    b = _limited(make_bundle, None, unified={"memory.high": str(48 << 20), "memory.min": str(1 << 20),
                                             "memory.oom.group": "1"})
    b.write()
    assert sdrt.create(cid, b).rc == 0
    d = MNT + _cgroup_of(sdrt.state(cid)["pid"])
    want = (str(48 << 20), str(1 << 20), "1")
    assert (_read(f"{d}/memory.high"), _read(f"{d}/memory.min"), _read(f"{d}/memory.oom.group")) == want
    u = sdrt.cmd("update", "--memory", str(128 << 20), cid)
    assert u.rc == 0, u
    assert _read(f"{d}/memory.max") == str(128 << 20)
    assert (_read(f"{d}/memory.high"), _read(f"{d}/memory.min"), _read(f"{d}/memory.oom.group")) == want
    assert sdrt.delete(cid, force=True).rc == 0


# --------------------------------------------------------------------------
# The driver's pure parts (any host).
# --------------------------------------------------------------------------

from hypothesis import given, strategies as st  # noqa: E402

from runtime.cgroups import CgroupError  # noqa: E402
from runtime.cgroups import systemd as sd  # noqa: E402


def test_expand_slice_as_systemd_does():
    assert sd.expand_slice("system.slice") == "/system.slice"
    assert sd.expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert sd.expand_slice("-.slice") == ""
    for bad in ("a--b.slice", "-a.slice", "a-.slice", "a/b.slice", "a.scope", ".slice"):
        with pytest.raises(CgroupError, match="slice"):
            sd.expand_slice(bad)


def test_parse_path_and_defaults():
    assert sd.parse_path(None, "c1") == ("system.slice", "pyrunc-c1.scope")
    assert sd.parse_path(":runc:c1", "x") == ("system.slice", "runc-c1.scope")
    assert sd.parse_path("machine.slice:libpod:abc", "x") == ("machine.slice", "libpod-abc.scope")
    assert sd.parse_path("kubepods-besteffort-pod1.slice:cri-containerd:abc", "x")[1] == "cri-containerd-abc.scope"
    for bad, what in [("a:b", "slice:prefix:name"), ("/abs/path", "slice:prefix:name"), ("system.slice:p:", "empty"),
                      ("system.slice:p:a/b", "unit name"), ("system.slice:p:x.slice", "not supported")]:
        with pytest.raises(CgroupError, match=what) as ei:
            sd.parse_path(bad, "c")
        assert "\n" not in str(ei.value)


@given(st.sets(st.integers(0, 300), min_size=1))
def test_cpu_mask_bits(cpus):
    bits = sd.cpus_to_bits(",".join(map(str, sorted(cpus))))
    assert {i for i in range(len(bits) * 8) if bits[i // 8] >> (i % 8) & 1} == cpus
    assert bits[-1] != 0


def test_resource_properties():
    p = dict(sd.resource_properties({
        "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 1 << 20},
        "cpu": {"quota": 12345, "period": 100000, "shares": 1024, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 32}, "blockIO": {"weight": 500}}))
    assert p["MemoryMax"] == ("t", 64 << 20) and p["MemorySwapMax"] == ("t", 32 << 20)
    assert p["MemoryLow"] == ("t", 1 << 20) and p["TasksMax"] == ("t", 32)
    assert p["CPUQuotaPeriodUSec"] == ("t", 100000)
    assert p["CPUQuotaPerSecUSec"] == ("t", 130000)  # 123450 us/s rounded up to whole percents
    assert p["CPUWeight"] == ("t", 39) and p["AllowedCPUs"] == ("ay", b"\x03")
    assert p["AllowedMemoryNodes"] == ("ay", b"\x01") and p["IOWeight"][0] == "t"
    unlimited = dict(sd.resource_properties({"memory": {"limit": -1}, "pids": {"limit": -1},
                                             "cpu": {"quota": -1, "period": 100000}}))
    assert unlimited["MemoryMax"] == unlimited["TasksMax"] == unlimited["CPUQuotaPerSecUSec"] == ("t", 2**64 - 1)
    assert sd.resource_properties(None) == []


def test_unified_properties():
    """`unified` memory files systemd would reset become its properties; a value that does
    not parse becomes none (the kernel's refusal of the file write names it)."""
    p = dict(sd.resource_properties({"unified": {"memory.high": "1048576", "memory.min": "max",
                                                 "memory.oom.group": "1", "memory.max": "bogus", "pids.max": "x"}}))
    assert p == {"MemoryHigh": ("t", 1048576), "MemoryMin": ("t", 2**64 - 1), "OOMPolicy": ("s", "kill")}, p
    assert dict(sd.resource_properties({"unified": {"memory.oom.group": "0"}})) == {"OOMPolicy": ("s", "continue")}


def test_device_properties():
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
             {"allow": True, "type": "c", "major": 1, "access": "m"}]
    p = dict(sd.device_properties(rules))
    assert p["DevicePolicy"] == ("s", "strict")
    assert p["DeviceAllow"][1][0] == ("/dev/char/1:3", "rw")
    assert p["DeviceAllow"][1][1] == ("char-mem", "m")  # major 1 by its /proc/devices name
    # a deny after the allows cannot be said to systemd: the eBPF filter alone decides
    assert sd.device_properties(rules + [{"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]) == []
    assert sd.device_properties(None) == []


def test_annotation_properties():
    p = dict(sd.annotation_properties({
        "org.systemd.property.TimeoutStopSec": "uint64 7", "org.systemd.property.CollectMode": "'inactive-or-failed'",
        "org.systemd.property.After": "['a.service', 'b.service']", "org.systemd.property.CPUQuotaPeriodUSec": "50000",
        "org.systemd.property.IOAccounting": "true", "other": "ignored"}))
    assert p == {"TimeoutStopUSec": ("t", 7000000), "CollectMode": ("s", "inactive-or-failed"),
                 "After": ("as", ["a.service", "b.service"]), "CPUQuotaPeriodUSec": ("t", 50000),
                 "IOAccounting": ("b", True)}
    for bad in ({"org.systemd.property.": "1"}, {"org.systemd.property.A-B": "1"},
                {"org.systemd.property.X": "not a value"}, {"org.systemd.property.TimeoutSec": "'x'"},
                {"org.systemd.property.X": "['a', b]"}):
        with pytest.raises(CgroupError, match=r"^annotations\.org\.systemd\.property\."):
            sd.annotation_properties(bad)


def test_cgroupfs_path_does_not_load_jeepney():
    code = ("import sys; from runtime import cgroups; cgroups.manager('x', None, None); "
            "from runtime.cgroups import systemd; assert 'jeepney' not in sys.modules, 'jeepney'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stderr
