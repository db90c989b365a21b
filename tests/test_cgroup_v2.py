"""cgroup v2 on a pure cgroup v2 host, observed in real containers: every resource the
kernel offers there read back from inside the container through its own /sys/fs/cgroup
(a cgroup namespace: the container's cgroup is the root), limits enforced (pids, devices
via eBPF, memory with memory.oom.group), `cgroup.kill` for `kill --all` and delete, and
memory.events feeding `events` with {"type":"oom"}.

Only meaningful on a pure v2 host (scripts/vm/test.sh runs it in a guest that is one);
elsewhere the module is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conformance import bundle as cb
from runtime.cgroups import resources as R
from tests.util import assert_error, create_running, pid_alive, shell, wait_dead, wait_file, wait_for

MiB = 1 << 20
CG = "/sys/fs/cgroup"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(os.path.join(CG, "cgroup.controllers")),
    reason="needs root on a pure cgroup v2 host (/sys/fs/cgroup is not cgroup2 here); "
           "scripts/vm/test.sh runs these in a guest that is one")


def _root_controllers() -> set:
    with open(os.path.join(CG, "cgroup.controllers")) as f:
        return set(f.read().split())


def _host_cgdir(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return CG + line.rstrip("\n")[3:]
    raise AssertionError(f"no cgroup2 line for {pid}")


def _procs(d: str) -> list[int]:
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _disk() -> tuple[int, int, str]:
    """major, minor and /dev node of a whole disk the machine has (the guest's virtio disk)."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("vd", "sd", "nvme", "xvd", "hd", "mmcblk")):
            continue  # no loop, ram, floppy, cd-rom: a disk that can be read
        with open(f"/sys/block/{name}/dev") as f:
            ma, mi = f.read().strip().split(":")
        if os.path.exists(f"/dev/{name}"):
            return int(ma), int(mi), f"/dev/{name}"
    pytest.skip("no block device in /sys/block to throttle")


def _hugepage_sizes() -> list[tuple[str, int]]:
    """Every huge page size the kernel offers (the hugetlb.<size>.* files), smallest first."""
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return []
    out = []
    for n in names:  # hugepages-2048kB -> 2MB
        kb = int(n[len("hugepages-"):-len("kB")])
        for unit, div in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb % div == 0:
                out.append((f"{kb // div}{unit}", kb * 1024))
                break
    return sorted(out, key=lambda x: x[1])


# The container prints "file=contents" for every cgroup file it has in its own
# /sys/fs/cgroup (read-only, in a cgroup namespace), plus its view of /proc/self/cgroup.
DUMP = ("echo \"self=$(cat /proc/self/cgroup)\"; p=; while read x; do p=\"$p $x\"; done < /sys/fs/cgroup/cgroup.procs; "
        "echo procs=$p; "
        "cd /sys/fs/cgroup && for f in memory.max memory.low memory.high memory.swap.max memory.oom.group "
        "cpu.weight cpu.max cpu.max.burst cpuset.cpus cpuset.mems pids.max io.max io.weight io.bfq.weight "
        "hugetlb.*.max; do [ -e $f ] && echo \"$f=$(cat $f)\"; done; grep ' /sys/fs/cgroup ' /proc/mounts")


def _dump(out: str) -> dict:
    d = {}
    for line in out.splitlines():
        if " /sys/fs/cgroup " in line:
            d["mount"] = line
        elif "=" in line:
            k, _, v = line.partition("=")
            d[k] = v
    return d


def _with_cgroupns(make_bundle, args, resources, out=None):
    b = make_bundle(args, write=False, linux={"resources": resources})
    b.config["linux"]["namespaces"].append({"type": "cgroup"})
    if out is not None:
        b.add_mount("/out", source=out, options=["rbind", "rw"])
    b.write()
    return b


def test_resources_seen_from_inside(rt, cid, make_bundle):
    """memory (limit, reservation, swap), cpu (weight, quota, burst), cpuset, io
    (weight, throttles), hugetlb (+rsvd), pids and `unified`, each as the container
    sees it in its own cgroup namespace, which shows its cgroup as the root."""
    ctl = _root_controllers()
    ma, mi, _ = _disk()
    hps = _hugepage_sizes() if "hugetlb" in ctl else []
    res = {
        "memory": {"limit": 64 * MiB, "reservation": 16 * MiB, "swap": 96 * MiB},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42},
        "blockIO": {"weight": 500,
                    "throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 2 * MiB}],
                    "throttleWriteIOPSDevice": [{"major": ma, "minor": mi, "rate": 120}]},
        "unified": {"memory.oom.group": "1", "memory.high": str(48 * MiB)},
        "devices": [{"allow": False, "access": "rwm"}],
    }
    if hps:  # every size (2MB and 1GB on x86 with pdpe1gb), each a limit of its own
        res["hugepageLimits"] = [{"pageSize": hp, "limit": (3 + i) * hp_bytes} for i, (hp, hp_bytes) in enumerate(hps)]
    b = _with_cgroupns(make_bundle, shell(DUMP + "; grep Cpus_allowed_list /proc/self/status"), res)
    r = rt.run(cid, b, timeout=120)
    assert r.rc == 0, r
    d = _dump(r.out)
    # the cgroup namespace: the container's cgroup is "/" and holds only its own init
    assert d["self"] == "0::/", r.out
    assert d["procs"].split() == ["1"], r.out
    assert d["mount"].split()[2] == "cgroup2" and "ro" in d["mount"].split()[3].split(","), d["mount"]
    assert d["memory.max"] == str(64 * MiB)
    assert d["memory.low"] == str(16 * MiB)
    if "memory.swap.max" in d:  # the kernel accounts swap
        assert d["memory.swap.max"] == str(32 * MiB)  # v2 swap excludes memory
    assert d["memory.high"] == str(48 * MiB)
    assert d["memory.oom.group"] == "1"
    assert d["cpu.weight"] == str(R.shares_to_weight(512))
    assert d["cpu.max"] == "50000 100000"
    if "cpu.max.burst" in d:  # Linux 5.14+
        assert d["cpu.max.burst"] == "10000"
    assert d["cpuset.cpus"] == "0" and d["cpuset.mems"] == "0"
    assert "Cpus_allowed_list:\t0" in r.out
    assert d["pids.max"] == "42"
    assert f"{ma}:{mi} rbps={2 * MiB} wbps=max riops=max wiops=120" in d["io.max"], d["io.max"]
    if "io.bfq.weight" in d:
        assert d["io.bfq.weight"].startswith("default 500"), d["io.bfq.weight"]
    else:
        assert d["io.weight"].startswith(f"default {R.blkio_weight_to_io_weight(500)}"), d.get("io.weight")
    for i, (hp, hp_bytes) in enumerate(hps):
        lim = str((3 + i) * hp_bytes)
        assert d[f"hugetlb.{hp}.max"] == lim, (hp, r.out)
        if f"hugetlb.{hp}.rsvd.max" in d:
            assert d[f"hugetlb.{hp}.rsvd.max"] == lim, (hp, r.out)


def test_cpu_idle_and_pids_enforced(rt, cid, make_bundle):
    """cpu.idle (Linux 5.15+) and pids.max: forks past the limit fail inside (read with
    shell builtins: at the limit, a $(cat) could not fork)."""
    script = ("if [ -e /sys/fs/cgroup/cpu.idle ]; then read v < /sys/fs/cgroup/cpu.idle; echo idle=$v; fi; "
              "(i=0; while [ $i -lt 12 ]; do i=$((i+1)); sleep 30 & done) 2>/dev/null; "
              "read v < /sys/fs/cgroup/pids.current; echo current=$v; "
              "while read k v; do echo events_$k=$v; done < /sys/fs/cgroup/pids.events")
    b = _with_cgroupns(make_bundle, shell(script), {"pids": {"limit": 5}, "cpu": {"idle": 1}})
    r = rt.run(cid, b, timeout=120)
    assert r.rc == 0, r
    d = dict(x.split("=", 1) for x in r.out.split() if "=" in x)
    if tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2]) >= (5, 15):
        assert d.get("idle") == "1", r.out
    # the looping subshell died at its first refused fork (a shell exits when it cannot
    # fork): the shell and the three sleeps started before the limit are left
    assert int(d["events_max"]) > 0, r.out
    assert d["current"] == "4", r.out


def test_devices_ebpf(rt, cid, new_cid, make_bundle):
    """The host's disk bind-mounted in: denied by the default rules it cannot be
    opened inside; with an allow rule for it, it can (read-only as allowed)."""
    ma, mi, dev = _disk()
    script = ("if dd if=/dev/testdisk of=/dev/null bs=512 count=1 2>/dev/null; then echo read=ok; else echo read=denied; fi; "
              "if dd if=/dev/zero of=/dev/testdisk bs=512 count=0 2>/dev/null; then echo write=ok; else echo write=denied; fi; "
              "if dd if=/dev/zero of=/dev/null bs=1 count=1 2>/dev/null; then echo zero=ok; fi")

    def bundle(rules):
        b = make_bundle(shell(script), write=False)
        b.add_mount("/dev/testdisk", source=dev, options=["bind"])
        b.config["linux"]["resources"]["devices"] += rules
        b.write()
        return b
    r = rt.run(cid, bundle([]), timeout=60)
    assert r.rc == 0, r
    assert r.out.split() == ["read=denied", "write=denied", "zero=ok"], r.out
    r = rt.run(new_cid(), bundle([{"allow": True, "type": "b", "major": ma, "minor": mi, "access": "r"}]), timeout=60)
    assert r.rc == 0, r
    assert r.out.split() == ["read=ok", "write=denied", "zero=ok"], r.out


def _forking_container(rt, cid, make_bundle, tdir, name):
    out = os.path.join(tdir, name)
    os.makedirs(out)
    b = make_bundle(shell("sleep 1000 & sleep 1000 & (sleep 1000 & wait) & echo ready > /out/ready; wait"),
                    write=False)
    b.add_mount("/out", source=out, options=["rbind", "rw"])
    b.write()
    pid = create_running(rt, cid, b)
    wait_file(os.path.join(out, "ready"), timeout=60)
    d = _host_cgdir(pid)
    assert wait_for(lambda: len(_procs(d)) >= 5, timeout=30), _procs(d)
    return pid, d, _procs(d)


def test_kill_all_sigkill_uses_cgroup_kill(rt, cid, new_cid, make_bundle, tdir):
    """kill --all KILL ends every process of the cgroup, also in a paused container
    (cgroup.kill reaches frozen tasks); delete --force of a running one likewise."""
    pid, d, procs = _forking_container(rt, cid, make_bundle, tdir, "a")
    assert os.path.exists(os.path.join(d, "cgroup.kill"))
    assert rt.cmd("pause", cid).rc == 0
    assert rt.status(cid) == "paused"
    r = rt.kill(cid, "KILL", all=True)
    assert r.rc == 0, r
    assert wait_for(lambda: not any(pid_alive(p) for p in procs), timeout=30), [p for p in procs if pid_alive(p)]
    assert wait_for(lambda: rt.status(cid) == "stopped", timeout=30), rt.status(cid)
    assert rt.delete(cid).rc == 0
    assert not os.path.exists(d)

    cid2 = new_cid()
    pid, d, procs = _forking_container(rt, cid2, make_bundle, tdir, "b")
    r = rt.delete(cid2, force=True)
    assert r.rc == 0, r
    assert not any(pid_alive(p) for p in procs)
    assert not os.path.exists(d)


def test_oom_group_event(rt, cid, make_bundle, tdir):
    """A child's OOM kill with memory.oom.group=1 kills the whole container (init too);
    memory.events makes `events` report {"type":"oom"}."""
    out = os.path.join(tdir, "out")
    os.makedirs(out)
    b = _with_cgroupns(make_bundle, shell(
        "while [ ! -e /out/go ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=64M count=1; "
        "echo survived > /out/survived; sleep 1000"),
        {"memory": {"limit": 24 * MiB, "swap": 24 * MiB}, "unified": {"memory.oom.group": "1"}}, out=out)
    p = None
    try:
        pid = create_running(rt, cid, b)
        d = _host_cgdir(pid)
        p = rt.popen("events", "--interval", "30s", cid)

        def registered():
            try:
                return any(os.readlink(f"/proc/{p.pid}/fd/{fd}").endswith("memory.events")
                           for fd in os.listdir(f"/proc/{p.pid}/fd"))
            except OSError:
                return False
        assert wait_for(registered, timeout=60)
        open(os.path.join(out, "go"), "w").close()
        assert wait_dead(pid, timeout=60)
        assert not os.path.exists(os.path.join(out, "survived"))
        p.wait(timeout=60)
        evs = [json.loads(ln) for ln in rt.read_popen(p)[0].splitlines() if ln.strip()]
        assert {"type": "oom", "id": cid} in evs, evs
        assert rt.status(cid) == "stopped"
        assert not _procs(d)
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


def _rdma_devices() -> list[str]:
    try:
        return sorted(os.listdir("/sys/class/infiniband"))
    except OSError:
        return []


def _run_quiet(*argv) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="module")
def rdma_device():
    """An RDMA device to limit (rdma.max takes existing devices only): the host's first,
    or in the test guest (PYRUNC_VM=1, set by scripts/vm/run.sh), which has no RDMA
    hardware, a software one: Soft-RoCE (rxe) over a dummy netdev, else soft-iWARP (siw)
    over lo.  It stays until the guest powers off: Debian 12's 6.1 kernel hit a BUG (list
    corruption in rdmacg_unregister_device) removing it while cgroups that had held rdma
    limits were still being freed.  None when there is none and none can be made."""
    have = _rdma_devices()
    if have or os.environ.get("PYRUNC_VM") != "1":
        return have[0] if have else None
    if shutil.which("rdma") and shutil.which("ip"):
        if _run_quiet("modprobe", "rdma_rxe") and _run_quiet("ip", "link", "add", "pyrunc-rdma0", "type", "dummy"):
            _run_quiet("ip", "link", "set", "pyrunc-rdma0", "up")
            _run_quiet("rdma", "link", "add", "pyrunc_rxe0", "type", "rxe", "netdev", "pyrunc-rdma0")
        if not _rdma_devices() and _run_quiet("modprobe", "siw"):
            _run_quiet("rdma", "link", "add", "pyrunc_siw0", "type", "siw", "netdev", "lo")
    have = _rdma_devices()
    return have[0] if have else None


def _misc_capacity() -> dict:
    try:
        with open(os.path.join(CG, "misc.capacity")) as f:
            return dict(ln.split() for ln in f if ln.strip())
    except OSError:
        return {}


DRIVERS = ["cgroupfs", "systemd"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_hugetlb_rdma_misc_seen_from_inside(rt, cid, make_bundle, driver, rdma_device):
    """Every huge page size the kernel offers (2MB and 1GB here), an RDMA device's
    hca_handle/hca_object limits and a misc resource, under both drivers, read back
    from inside the container's own cgroup namespace.  The guest has no misc resource
    with a capacity (misc.capacity is empty without SEV hardware): then only the misc
    controller's files are checked to be in the container's cgroup, and the refusal
    of a misc.max for a missing resource in the misc test below."""
    if driver == "systemd" and not os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is not PID 1 here")
    ctl = _root_controllers()
    missing = {"hugetlb", "rdma", "misc"} - ctl
    assert not missing, f"the guest kernel lacks the {missing} controllers"
    hps = _hugepage_sizes()
    assert hps, "no huge page sizes under /sys/kernel/mm/hugepages"
    if rdma_device is None and os.environ.get("PYRUNC_VM") != "1":
        pytest.skip("no RDMA device on this host (the test guest makes a software one)")
    assert rdma_device, "no RDMA device, and neither rdma_rxe nor siw could make one"
    cap = _misc_capacity()
    res = {"hugepageLimits": [{"pageSize": hp, "limit": (2 + i) * size} for i, (hp, size) in enumerate(hps)],
           "rdma": {rdma_device: {"hcaHandles": 2, "hcaObjects": 100}}}
    if cap:
        misc_res = sorted(cap)[0]
        res["unified"] = {"misc.max": f"{misc_res} 1"}
    script = ("cd /sys/fs/cgroup; for f in hugetlb.*.max rdma.max misc.max misc.current; do "
              "[ -e $f ] && echo \"$f=$(cat $f | tr '\\n' ';')\"; done; true")
    b = _with_cgroupns(make_bundle, shell(script), res)
    r = rt if driver == "cgroupfs" else cb.Runtime(rt.argv, rt.root, workdir=rt.workdir,
                                                    global_args=["--systemd-cgroup"])
    out = r.run(cid, b, timeout=120)
    assert out.rc == 0, out
    d = _dump(out.out)
    for i, (hp, size) in enumerate(hps):
        assert d.get(f"hugetlb.{hp}.max") == f"{(2 + i) * size};", (hp, out.out)
        if f"hugetlb.{hp}.rsvd.max" in d:
            assert d[f"hugetlb.{hp}.rsvd.max"] == f"{(2 + i) * size};", (hp, out.out)
    rdma = [ln.strip() for ln in d.get("rdma.max", "").split(";")]
    assert f"{rdma_device} hca_handle=2 hca_object=100" in rdma, out.out
    assert "misc.max" in d and "misc.current" in d, out.out  # the misc controller is the container's
    if cap:
        assert f"{misc_res} 1" in [ln.strip() for ln in d["misc.max"].split(";")], out.out


def test_rdma_and_misc_refusals_name_the_field(rt, new_cid, make_bundle):
    """Limits the kernel cannot take: an RDMA device that does not exist, a misc
    resource the host has no capacity of (with an empty misc.capacity, as in the guest,
    every one): one line naming the field and what the host has; nothing is left."""
    for res, field, what in (
            ({"rdma": {"no_such_hca": {"hcaHandles": 1}}}, "rdma.no_such_hca", "no RDMA device 'no_such_hca'"),
            ({"unified": {"misc.max": "no_such_res 1"}}, "unified.misc.max", "misc.capacity lists")):
        cid = new_cid()
        b = make_bundle(["true"], linux={"resources": res})
        r = rt.run(cid, b, timeout=60)
        assert_error(r, rt)
        assert f"linux.resources.{field}: " in r.err and what in r.err, r.err
        assert rt.state_raw(cid).rc != 0
