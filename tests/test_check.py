"""Unit tests for runtime.check (``pyrunc check``): tiny bundles in tmp_path,
no containers.  Facts about the host are injected through HostInfo where the
expectation must not depend on the machine; a few tests compare against the
real host's /proc instead."""

import errno
import json
import os
import resource
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from runtime import check, specconf  # noqa: E402
from runtime.check import CAPABILITIES, HostInfo  # noqa: E402

ALL_CAPS = frozenset(CAPABILITIES.values())


def roomy_host(**overrides):
    """A host on which the default spec fits: every capability, high limits,
    every v1 controller and a cgroup2 hierarchy with hugetlb."""
    facts = dict(
        cap_bounding=ALL_CAPS,
        cap_effective=ALL_CAPS - {CAPABILITIES["CAP_SYS_RESOURCE"]},
        cap_last_cap=40,
        hard_limits={n: 1 << 20 for n in check.RLIMITS.values()},
        cgroup_v1={"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                   "net_cls", "net_prio", "rdma"},
        cgroup_v2={"hugetlb"},
        nsfs_dev=os.stat("/proc/self/ns/net").st_dev,
    )
    facts.update(overrides)
    return HostInfo(**facts)


def make_bundle(root, config=None, exe="bin/sh", mode=0o755):
    """bundle/config.json + bundle/rootfs with a fake executable at ``exe``."""
    bundle = root / "bundle"
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    if exe:
        path = rootfs / exe
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(mode)
    write_config(bundle, config if config is not None else specconf.default_spec())
    return bundle


def write_config(bundle, config):
    (bundle / "config.json").write_text(json.dumps(config))


def run(bundle, host=None):
    return check.check_bundle(str(bundle), host or roomy_host())


# ---------------------------------------------------------------------------
# reading the config


def test_good_bundle_has_no_problems(tmp_path):
    assert run(make_bundle(tmp_path)) == []


def test_good_bundle_on_this_host(tmp_path):
    assert check.check_bundle(str(make_bundle(tmp_path))) == []


def test_missing_config(tmp_path):
    problems = run(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("config.json: cannot read %s/config.json: " % tmp_path)


def test_unparsable_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    problems = run(tmp_path)
    assert problems == ["config.json: line 1 column 2: expecting property name enclosed in double quotes"]


def test_config_not_an_object(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    assert run(tmp_path) == ["config.json: must contain a JSON object"]


def test_schema_errors_come_first_then_host_problems(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["cwd"] = "relative"
    cfg["root"]["path"] = "missing-rootfs"
    bundle = make_bundle(tmp_path, cfg)
    assert run(bundle) == [
        "process.cwd: must be an absolute path",
        "root.path: %s/missing-rootfs does not exist" % bundle,
    ]


def test_host_checks_survive_wrong_types(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["capabilities"] = {"bounding": "CAP_KILL"}
    cfg["process"]["rlimits"] = [{"type": 7}]
    cfg["linux"]["namespaces"] = [{"type": "network", "path": 5}]
    cfg["linux"]["resources"] = {"network": []}
    problems = run(make_bundle(tmp_path, cfg))
    assert problems and all(": " in p for p in problems)


@pytest.mark.parametrize("linux", [1.0, 0.5, "linux", ["namespaces"], True])
def test_host_checks_survive_a_linux_that_is_not_an_object(tmp_path, linux):
    """hypothesis found it (tests/test_fuzz.py): `linux` a number made the checks after
    the schema's trip over it instead of leaving it to the schema's error."""
    cfg = specconf.default_spec()
    cfg["linux"] = linux
    problems = run(make_bundle(tmp_path, cfg))
    assert problems and all(": " in p for p in problems), problems
    assert any(p.startswith("linux") for p in problems), problems


# ---------------------------------------------------------------------------
# the root filesystem and the executable


def test_rootfs_not_a_directory(tmp_path):
    bundle = make_bundle(tmp_path)
    (bundle / "rootfs.img").write_text("")
    cfg = specconf.default_spec()
    cfg["root"]["path"] = "rootfs.img"
    write_config(bundle, cfg)
    assert run(bundle) == ["root.path: %s/rootfs.img is not a directory" % bundle]


def test_absolute_rootfs_path(tmp_path):
    bundle = make_bundle(tmp_path)
    cfg = specconf.default_spec()
    cfg["root"]["path"] = str(bundle / "rootfs")
    write_config(bundle, cfg)
    assert run(bundle) == []


def test_executable_not_in_path(tmp_path):
    bundle = make_bundle(tmp_path, exe="opt/tools/sh")
    assert run(bundle) == [
        "process.args[0]: sh was not found in the rootfs "
        "(searched PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)"]


def test_executable_found_through_env_path(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["env"] = ["TERM=xterm", "PATH=/opt/tools"]
    assert run(make_bundle(tmp_path, cfg, exe="opt/tools/sh")) == []


def test_env_path_replaces_the_default(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["env"] = ["PATH=/opt/tools"]
    assert run(make_bundle(tmp_path, cfg, exe="bin/sh")) == [
        "process.args[0]: sh was not found in the rootfs (searched PATH=/opt/tools)"]


def test_default_path_when_env_has_none(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["env"] = ["TERM=xterm"]
    assert run(make_bundle(tmp_path, cfg, exe="usr/bin/sh")) == []


def test_absolute_executable(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["args"] = ["/usr/libexec/app", "--flag"]
    assert run(make_bundle(tmp_path, cfg, exe="usr/libexec/app")) == []
    cfg["process"]["args"] = ["/usr/libexec/other"]
    write_config(tmp_path / "bundle", cfg)
    assert run(tmp_path / "bundle") == ["process.args[0]: /usr/libexec/other does not exist in the rootfs"]


def test_relative_executable_uses_cwd(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["args"] = ["./run.sh"]
    cfg["process"]["cwd"] = "/app"
    assert run(make_bundle(tmp_path, cfg, exe="app/run.sh")) == []


def test_executable_without_exec_bit(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["args"] = ["/bin/sh"]
    assert run(make_bundle(tmp_path, cfg, mode=0o644)) == ["process.args[0]: /bin/sh is not executable"]
    cfg["process"]["args"] = ["sh"]
    write_config(tmp_path / "bundle", cfg)
    assert run(tmp_path / "bundle") == ["process.args[0]: /bin/sh is not executable"]


def test_executable_is_a_directory(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["args"] = ["/bin"]
    assert run(make_bundle(tmp_path, cfg)) == ["process.args[0]: /bin is a directory"]


def test_symlinks_resolve_inside_the_rootfs(tmp_path):
    bundle = make_bundle(tmp_path, exe="bin/busybox")
    rootfs = bundle / "rootfs"
    os.symlink("/bin/busybox", rootfs / "bin" / "sh")  # absolute: means rootfs/bin/busybox
    assert run(bundle) == []
    os.unlink(rootfs / "bin" / "sh")
    os.symlink("busybox", rootfs / "bin" / "sh")
    assert run(bundle) == []


def test_symlinks_never_escape_the_rootfs(tmp_path):
    # the host has /bin/sh; a link pointing out of the rootfs must not find it
    assert os.path.exists("/bin/sh")
    bundle = make_bundle(tmp_path, exe=None)
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir()
    os.symlink("../../../../../../../../bin/sh", rootfs / "bin" / "sh")
    os.symlink("/../../../../bin", rootfs / "usr")
    for args in (["sh"], ["/bin/sh"], ["/usr/sh"]):
        cfg = specconf.default_spec()
        cfg["process"]["args"] = args
        write_config(bundle, cfg)
        problems = run(bundle)
        assert len(problems) == 1 and problems[0].startswith("process.args[0]: "), (args, problems)


def test_resolve_in_root(tmp_path):
    root = tmp_path / "r"
    (root / "a" / "b").mkdir(parents=True)
    os.symlink("/a", root / "abs")
    os.symlink("a/b", root / "rel")
    os.symlink("../../../..", root / "a" / "up")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert check.resolve_in_root(r, "/abs/b") == r + "/a/b"
    assert check.resolve_in_root(r, "rel/../b") == r + "/a/b"
    assert check.resolve_in_root(r, "/../../etc/passwd") == r + "/etc/passwd"
    assert check.resolve_in_root(r, "/a/up/etc") == r + "/etc"
    assert check.resolve_in_root(r, "/missing/../../x") == r + "/x"
    with pytest.raises(OSError) as info:
        check.resolve_in_root(r, "/loop1/x")
    assert info.value.errno == errno.ELOOP


# ---------------------------------------------------------------------------
# capabilities


def test_capability_outside_bounding_set(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["capabilities"]["bounding"].append("CAP_SYS_RESOURCE")
    host = roomy_host(cap_bounding=ALL_CAPS - {CAPABILITIES["CAP_SYS_RESOURCE"]})
    assert run(make_bundle(tmp_path, cfg), host) == [
        "process.capabilities.bounding: CAP_SYS_RESOURCE is not in the host's bounding set"]


def test_unknown_and_unsupported_capabilities(tmp_path):
    cfg = specconf.default_spec()
    caps = cfg["process"]["capabilities"]
    caps["effective"].append("CAP_FLY")
    caps["inheritable"] = ["CAP_CHECKPOINT_RESTORE", "CAP_CHECKPOINT_RESTORE"]
    caps["ambient"].append("cap_kill")
    assert run(make_bundle(tmp_path, cfg), roomy_host(cap_last_cap=39)) == [
        "process.capabilities.effective: CAP_FLY is not a known capability",
        "process.capabilities.inheritable: CAP_CHECKPOINT_RESTORE is not supported by the running kernel "
        "(its last capability is 39)",
        "process.capabilities.ambient: cap_kill is not a known capability",
    ]


def test_capabilities_against_this_host(tmp_path):
    with open("/proc/self/status") as f:
        bnd = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    missing = [name for name, n in sorted(CAPABILITIES.items(), key=lambda kv: kv[1])
               if n <= int(open("/proc/sys/kernel/cap_last_cap").read()) and not bnd >> n & 1]
    if not missing:
        pytest.skip("this host's bounding set has every capability")
    cfg = specconf.default_spec()
    cfg["process"]["capabilities"]["permitted"].append(missing[0])
    assert check.check_bundle(str(make_bundle(tmp_path, cfg))) == [
        "process.capabilities.permitted: %s is not in the host's bounding set" % missing[0]]


def test_host_info_probe_reads_proc():
    host = HostInfo.probe()
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert host.cap_last_cap == int(f.read())
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f)
    bnd = int(status["CapBnd"], 16)
    assert host.cap_bounding == frozenset(i for i in range(64) if bnd >> i & 1)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert host.hard_limits[check.RLIMITS["RLIMIT_NOFILE"]] == (None if hard == resource.RLIM_INFINITY else hard)
    assert host.nsfs_dev == os.stat("/proc/self/ns/mnt").st_dev


# ---------------------------------------------------------------------------
# rlimits


def rlimit_cfg(*limits):
    cfg = specconf.default_spec()
    cfg["process"]["rlimits"] = [{"type": t, "soft": s, "hard": h} for t, s, h in limits]
    return cfg


def test_rlimit_soft_above_hard(tmp_path):
    cfg = rlimit_cfg(("RLIMIT_NOFILE", 2048, 1024))
    assert run(make_bundle(tmp_path, cfg)) == [
        "process.rlimits[0]: soft limit 2048 is above the hard limit 1024"]


def test_rlimit_above_host_hard_limit(tmp_path):
    nofile = check.RLIMITS["RLIMIT_NOFILE"]
    host = roomy_host(hard_limits={nofile: 20000})
    cfg = rlimit_cfg(("RLIMIT_NOFILE", 1024, 20000), ("RLIMIT_CORE", 0, 0), ("RLIMIT_STACK", 1, 20001))
    assert run(make_bundle(tmp_path, cfg), host) == []
    cfg = rlimit_cfg(("RLIMIT_NOFILE", 1024, 20001), ("RLIMIT_CPU", 1, 2**64 - 1))
    write_config(tmp_path / "bundle", cfg)
    host = roomy_host(hard_limits={nofile: 20000, check.RLIMITS["RLIMIT_CPU"]: None})
    assert run(tmp_path / "bundle", host) == [
        "process.rlimits[0].hard: 20001 for RLIMIT_NOFILE is above the host's hard limit 20000 "
        "and CAP_SYS_RESOURCE is not available to raise it"]


def test_rlimit_unlimited_above_finite_host_limit(tmp_path):
    nofile = check.RLIMITS["RLIMIT_NOFILE"]
    cfg = rlimit_cfg(("RLIMIT_NOFILE", 1024, 2**64 - 1))
    assert run(make_bundle(tmp_path, cfg), roomy_host(hard_limits={nofile: 4096})) == [
        "process.rlimits[0].hard: unlimited for RLIMIT_NOFILE is above the host's hard limit 4096 "
        "and CAP_SYS_RESOURCE is not available to raise it"]


def test_rlimit_with_cap_sys_resource_may_raise(tmp_path):
    nofile = check.RLIMITS["RLIMIT_NOFILE"]
    host = roomy_host(cap_effective=ALL_CAPS, hard_limits={nofile: 20000})
    assert run(make_bundle(tmp_path, rlimit_cfg(("RLIMIT_NOFILE", 1, 1 << 30))), host) == []


def test_unknown_rlimit(tmp_path):
    assert run(make_bundle(tmp_path, rlimit_cfg(("RLIMIT_BOGUS", 1, 1)))) == [
        "process.rlimits[0].type: RLIMIT_BOGUS is not a resource limit this kernel knows"]


def test_rlimit_against_this_host(tmp_path):
    host = HostInfo.probe()
    hard = host.hard_limits.get(check.RLIMITS["RLIMIT_NOFILE"])
    if host.has_cap("CAP_SYS_RESOURCE") or hard is None:
        pytest.skip("this host can raise RLIMIT_NOFILE")
    cfg = rlimit_cfg(("RLIMIT_NOFILE", 1024, hard + 1))
    assert check.check_bundle(str(make_bundle(tmp_path, cfg))) == [
        "process.rlimits[0].hard: %d for RLIMIT_NOFILE is above the host's hard limit %d "
        "and CAP_SYS_RESOURCE is not available to raise it" % (hard + 1, hard)]


# ---------------------------------------------------------------------------
# namespaces


def ns_cfg(*entries):
    cfg = specconf.default_spec()
    cfg["linux"]["namespaces"] = [dict(zip(("type", "path"), e)) for e in entries] + [{"type": "uts"}]
    return cfg


def test_namespace_paths_of_the_right_type(tmp_path):
    cfg = ns_cfg(("network", "/proc/self/ns/net"), ("pid", "/proc/self/ns/pid"), ("mount", "/proc/self/ns/mnt"),
                 ("ipc", "/proc/self/ns/ipc"), ("cgroup", "/proc/self/ns/cgroup"))
    if os.path.exists("/proc/self/ns/time"):
        cfg["linux"]["namespaces"].append({"type": "time", "path": "/proc/self/ns/time"})
    assert run(make_bundle(tmp_path, cfg)) == []


def test_namespace_path_missing(tmp_path):
    cfg = ns_cfg(("network", "/var/run/netns/pyrunc-no-such-netns"))
    assert run(make_bundle(tmp_path, cfg)) == [
        "linux.namespaces[0].path: /var/run/netns/pyrunc-no-such-netns does not exist"]


def test_namespace_path_not_a_namespace(tmp_path):
    bundle = make_bundle(tmp_path)
    fake = str(tmp_path / "netns")
    open(fake, "w").close()
    os.mkfifo(str(tmp_path / "fifo"))  # must be reported, not opened (would block)
    write_config(bundle, ns_cfg(("network", fake), ("ipc", str(tmp_path / "fifo"))))
    assert run(bundle) == [
        "linux.namespaces[0].path: %s is not a namespace file" % fake,
        "linux.namespaces[1].path: %s/fifo is not a namespace file" % tmp_path,
    ]


def test_namespace_path_of_another_type(tmp_path):
    cfg = ns_cfg(("pid", "/proc/self/ns/net"), ("user", "/proc/self/ns/uts"))
    assert run(make_bundle(tmp_path, cfg)) == [
        "linux.namespaces[0].path: /proc/self/ns/net is a namespace of type network, not pid",
        "linux.namespaces[1].path: /proc/self/ns/uts is a namespace of type uts, not user",
    ]


def test_namespace_type_of():
    assert check.namespace_type_of("/proc/self/ns/net") == "network"
    assert check.namespace_type_of("/proc/self/ns/mnt") == "mount"
    assert check.namespace_type_of("/proc/self/ns/user") == "user"


# ---------------------------------------------------------------------------
# cgroup controllers

HYBRID = dict(cgroup_v1={"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"},
              cgroup_v2={"hugetlb"})


def res_cfg(resources):
    cfg = specconf.default_spec()
    cfg["linux"]["resources"] = resources
    return cfg


def test_resources_this_hybrid_host_can_provide(tmp_path):
    cfg = res_cfg({"devices": [{"allow": False, "access": "rwm"}], "memory": {"limit": 1 << 30},
                   "cpu": {"shares": 512, "cpus": "0"}, "blockIO": {"weight": 100}, "pids": {"limit": 100},
                   "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
                   "unified": {"hugetlb.2MB.max": "0", "cgroup.freeze": "0"}})
    assert run(make_bundle(tmp_path, cfg), roomy_host(**HYBRID)) == []


def test_resources_the_host_lacks(tmp_path):
    cfg = res_cfg({"network": {"classID": 1, "priorities": [{"name": "eth0", "priority": 1}]},
                   "rdma": {"mlx5_0": {"hcaHandles": 1}},
                   "unified": {"memory.max": "1G", "io.max": "8:0 rbps=1"}})
    assert run(make_bundle(tmp_path, cfg), roomy_host(**HYBRID)) == [
        "linux.resources.network.classID: the net_cls cgroup controller is not available on this host",
        "linux.resources.network.priorities: the net_prio cgroup controller is not available on this host",
        "linux.resources.rdma: the rdma cgroup controller is not available on this host",
        'linux.resources.unified["memory.max"]: the memory controller is not enabled in the cgroup v2 hierarchy',
        'linux.resources.unified["io.max"]: the io controller is not enabled in the cgroup v2 hierarchy',
    ]


def test_unified_without_cgroup2(tmp_path):
    cfg = res_cfg({"unified": {"pids.max": "10"}})
    host = roomy_host(cgroup_v1=HYBRID["cgroup_v1"], cgroup_v2=None)
    assert run(make_bundle(tmp_path, cfg), host) == [
        "linux.resources.unified: no cgroup v2 hierarchy is mounted on this host"]


def test_pure_cgroup2_host(tmp_path):
    cfg = res_cfg({"devices": [{"allow": False, "access": "rwm"}], "blockIO": {"weight": 10},
                   "cpu": {"quota": 1000, "mems": "0"}, "memory": {"limit": 1},
                   "unified": {"memory.high": "1G"}})
    host = roomy_host(cgroup_v1=set(), cgroup_v2={"cpuset", "cpu", "io", "memory", "pids"})
    assert run(make_bundle(tmp_path, cfg), host) == []
    cfg["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "1GB", "limit": 1}]
    write_config(tmp_path / "bundle", cfg)
    assert run(tmp_path / "bundle", host) == [
        "linux.resources.hugepageLimits: the hugetlb cgroup controller is not available on this host"]


def test_probe_cgroups_hybrid_layout(tmp_path):
    (tmp_path / "cgroups").write_text(
        "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
        "cpuset\t3\t1\t1\ncpu\t1\t1\t1\nmemory\t4\t25\t1\nnet_cls\t0\t1\t1\nhugetlb\t0\t1\t1\n"
        "pids\t8\t1\t0\n")
    (tmp_path / "fs" / "unified").mkdir(parents=True)
    (tmp_path / "fs" / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    v1, v2 = check.probe_cgroups(str(tmp_path / "cgroups"), str(tmp_path / "fs"))
    assert v1 == {"cpuset", "cpu", "memory"} and v2 == {"hugetlb"}


def test_probe_cgroups_unified_layout(tmp_path):
    (tmp_path / "cgroups").write_text("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\n")
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert check.probe_cgroups(str(tmp_path / "cgroups"), str(tmp_path / "fs")) == (
        frozenset(), frozenset({"cpuset", "cpu", "io", "memory", "pids"}))


def test_probe_cgroups_v1_only(tmp_path):
    (tmp_path / "cgroups").write_text("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\n")
    (tmp_path / "fs").mkdir()
    assert check.probe_cgroups(str(tmp_path / "cgroups"), str(tmp_path / "fs")) == (frozenset({"cpu"}), None)


# ---------------------------------------------------------------------------
# everything at once


def test_every_problem_kind_at_once(tmp_path):
    cfg = specconf.default_spec()
    cfg["process"]["args"] = ["missing-tool"]
    cfg["process"]["capabilities"]["bounding"] += ["CAP_SYS_RESOURCE", "CAP_NOPE"]
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 30000, "hard": 30000},
                                 {"type": "RLIMIT_CORE", "soft": 2, "hard": 1}]
    cfg["linux"]["namespaces"][1]["path"] = "/proc/self/ns/ipc"
    cfg["linux"]["resources"]["network"] = {"classID": 7}
    cfg["hostname"] = 5
    host = roomy_host(cap_bounding=ALL_CAPS - {CAPABILITIES["CAP_SYS_RESOURCE"]},
                      hard_limits={check.RLIMITS["RLIMIT_NOFILE"]: 20000}, **HYBRID)
    bundle = make_bundle(tmp_path, cfg)
    assert run(bundle, host) == [
        "hostname: must be a string, not an integer",
        "process.args[0]: missing-tool was not found in the rootfs "
        "(searched PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)",
        "process.capabilities.bounding: CAP_SYS_RESOURCE is not in the host's bounding set",
        "process.capabilities.bounding: CAP_NOPE is not a known capability",
        "process.rlimits[0].hard: 30000 for RLIMIT_NOFILE is above the host's hard limit 20000 "
        "and CAP_SYS_RESOURCE is not available to raise it",
        "process.rlimits[1]: soft limit 2 is above the hard limit 1",
        "linux.namespaces[1].path: /proc/self/ns/ipc is a namespace of type ipc, not network",
        "linux.resources.network.classID: the net_cls cgroup controller is not available on this host",
    ]
