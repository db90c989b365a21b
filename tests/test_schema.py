"""Unit tests for the config/state schemas, the compiled fast validator
(spec/compile.py -> runtime/_validator.py), runtime.validate and
runtime.specconf.  No containers are started.

Hypothesis builds configs from the spec's shape; every generated config must
be accepted by both the fast validator and the jsonschema path, and every
mutation that breaks a schema rule must be rejected by both, with the broken
field named.
"""

import copy
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from runtime import specconf, validate  # noqa: E402
from runtime.check import CAPABILITIES, RLIMITS  # noqa: E402

SPEC = os.path.join(REPO, "spec")
BUILT = os.path.join(REPO, "runtime", "_validator.py")

HYPO = settings(
    max_examples=150,
    deadline=None,
    database=None,  # leave no .hypothesis/ behind
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)




@pytest.fixture(scope="module", autouse=True)
def _hypothesis_storage(tmp_path_factory):
    """Keep hypothesis' caches (constants, unicode data) out of the work tree."""
    from hypothesis import configuration
    previous = configuration.storage_directory(intent_to_write=False).home_directory
    configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    configuration.set_hypothesis_home_dir(previous)


# ---------------------------------------------------------------------------
# the fast validator: the built one, or one compiled for this session


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def compiled_parts():
    """{file suffix: source} of the validator module ("") and its parts ("_seccomp", ...)."""
    spec_compile = _load_module(os.path.join(SPEC, "compile.py"), "pyrunc_spec_compile")
    return spec_compile.generate(SPEC)


@pytest.fixture(scope="session")
def compiled_source(compiled_parts):
    """The source of the validator module itself (without its parts)."""
    return compiled_parts[""]


def _write_validator(d, parts):
    """The module and its parts written into directory d; the module's path."""
    for suffix, text in parts.items():
        (d / f"_validator{suffix}.py").write_text(text)
    return d / "_validator.py"


@pytest.fixture(scope="session")
def fast(tmp_path_factory, compiled_parts):
    """A validator module compiled from the current spec/*.json (so the tests
    check the schemas in the tree, even when runtime/_validator.py is stale or
    not built); runtime.validate is pointed at it for the session."""
    path = _write_validator(tmp_path_factory.mktemp("fastvalidator"), compiled_parts)
    mod = _load_module(str(path), "pyrunc_test_validator")
    saved = validate._fast
    validate._fast = mod
    yield mod
    validate._fast = saved


def fast_ok(mod, kind, obj):
    try:
        getattr(mod, "validate_" + kind)(obj)
    except mod.JsonSchemaValueException:
        return False
    return True


# ---------------------------------------------------------------------------
# strategies: configs shaped like the spec

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=8)
# Strings a kernel interface can carry: no NUL, no lone surrogate (validate.input_errors
# refuses those, by field: tests/test_fuzz.py covers them).
chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")
text = st.text(chars, max_size=12)
abs_path = st.lists(names, max_size=4).map(lambda p: "/" + "/".join(p))
dev_path = st.lists(names.filter(lambda n: n not in (".", "..")), min_size=1, max_size=4).map(
    lambda p: "/" + "/".join(p)).filter(lambda p: os.path.normpath(p) != "/")
uint16 = st.integers(0, 2**16 - 1)
uint32 = st.integers(0, 2**32 - 1)
uint64 = st.integers(0, 2**64 - 1)
int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)

semver = st.builds(
    lambda minor, patch, suffix: "1.%d.%d%s" % (minor, patch, suffix),
    st.integers(0, 20), st.integers(0, 20),
    st.sampled_from(["", "-dev", "-rc.1", "-alpha.0.x-y", "+build.7", "-rc1+sha.abc"]),
)
env_entry = st.builds("{}={}".format, st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), text)
cap_names = st.one_of(st.sampled_from(sorted(CAPABILITIES)), st.from_regex(r"CAP_[A-Z_]{1,10}", fullmatch=True))

HOOK_NAMES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
NS_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]
SECCOMP_ACTIONS = ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                   "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"]
SECCOMP_OPS = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
               "SCMP_CMP_MASKED_EQ"]
SECCOMP_ARCHES = ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                  "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_S390X"]
SECCOMP_FLAGS = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                 "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
MOUNT_OPTIONS = ["nosuid", "nodev", "noexec", "ro", "rw", "rbind", "bind", "rprivate", "mode=755", "size=1m"]


def opt_dict(required=None, **optional):
    return st.fixed_dictionaries(required or {}, optional=optional)


# ranges that end below 4294967295, (uid_t)-1 (validate refuses maps that run past it)
id_mapping = st.fixed_dictionaries({"containerID": st.integers(0, 2**31), "hostID": st.integers(0, 2**31),
                                    "size": st.integers(0, 2**31 - 1)})
valid_id = st.integers(0, 2**32 - 2)  # 4294967295 is (uid_t)-1: refused
# mount destinations outside /proc (validate refuses mounts inside it)
mount_dest = abs_path.filter(lambda p: not (p + "/").startswith("/proc/"))


@st.composite
def rlimits(draw):
    chosen = draw(st.lists(st.sampled_from(sorted(RLIMITS)), unique=True, max_size=4))
    return [{"type": t, "soft": draw(uint64), "hard": draw(uint64)} for t in chosen]


process = opt_dict(
    {"cwd": abs_path, "args": st.lists(text, min_size=1, max_size=3)},
    terminal=st.booleans(),
    consoleSize=st.fixed_dictionaries({"height": uint16, "width": uint16}),
    env=st.lists(env_entry, max_size=3),
    user=opt_dict({"uid": valid_id, "gid": valid_id}, umask=st.integers(0, 0o777),
                  additionalGids=st.lists(valid_id, max_size=3)),
    capabilities=opt_dict(**{s: st.lists(cap_names, max_size=4)
                             for s in ("bounding", "effective", "inheritable", "permitted", "ambient")}),
    rlimits=rlimits(),
    noNewPrivileges=st.booleans(),
    apparmorProfile=text,
    selinuxLabel=text,
    oomScoreAdj=st.integers(-1000, 1000),
    scheduler=opt_dict(
        {"policy": st.sampled_from(["SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO",
                                    "SCHED_IDLE", "SCHED_DEADLINE"])},
        nice=st.integers(-20, 19), priority=int32, runtime=uint64, deadline=uint64, period=uint64,
        flags=st.lists(st.sampled_from(["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM",
                                        "SCHED_FLAG_UTIL_CLAMP_MAX"]), max_size=2)),
    ioPriority=st.fixed_dictionaries({"class": st.sampled_from(["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE",
                                                                "IOPRIO_CLASS_IDLE"]),
                                      "priority": st.integers(0, 7)}),
    execCPUAffinity=opt_dict(initial=st.sampled_from(["0", "0-3,7"]), final=st.sampled_from(["1", ""])),
)

plain_mount = opt_dict({"destination": st.one_of(mount_dest, names.filter(lambda n: n != "proc"))},
                       source=text, type=st.sampled_from(["tmpfs", "proc", "bind", "none"]),
                       options=st.lists(st.sampled_from(MOUNT_OPTIONS), max_size=4))
idmapped_mount = st.builds(
    lambda dest, u, g, opt: {"destination": dest, "source": "/src", "type": "bind",
                             "options": ["rbind", opt], "uidMappings": u, "gidMappings": g},
    mount_dest, st.lists(id_mapping, max_size=2), st.lists(id_mapping, max_size=2),
    st.sampled_from(["idmap", "ridmap"]))
mounts = st.lists(st.one_of(plain_mount, idmapped_mount), max_size=4)

hook = opt_dict({"path": abs_path}, args=st.lists(text, max_size=3), env=st.lists(env_entry, max_size=2),
                timeout=st.integers(1, 3600))
hooks = opt_dict(**{h: st.lists(hook, max_size=2) for h in HOOK_NAMES})
annotations = st.dictionaries(st.text(chars, min_size=1, max_size=10), text, max_size=3)


@st.composite
def device(draw):
    dtype = draw(st.sampled_from(["c", "b", "u", "p"]))
    # a device node below / (validate.py refuses "/" itself and ".." components)
    d = {"type": dtype, "path": draw(dev_path)}
    if dtype != "p" or draw(st.booleans()):
        d["major"], d["minor"] = draw(int64), draw(int64)
    d.update(draw(opt_dict(fileMode=uint32, uid=uint32, gid=uint32)))
    return d


device_cgroup = opt_dict({"allow": st.booleans()}, type=st.sampled_from(["a", "c", "b"]),
                         major=int64, minor=int64, access=st.sampled_from(["", "r", "rw", "rwm", "m"]))


@st.composite
def cpu(draw):
    c = draw(opt_dict(shares=uint64, quota=int64, period=uint64, realtimeRuntime=int64,
                      realtimePeriod=uint64, cpus=st.sampled_from(["0", "0-1", "0,2-3"]),
                      mems=st.sampled_from(["0", "0-1"]), idle=st.integers(0, 1)))
    if draw(st.booleans()):
        burst = draw(uint64)
        if c.get("quota", 0) > 0:
            burst = min(burst, c["quota"])
        c["burst"] = burst
    return c


weight_device = st.one_of(
    st.fixed_dictionaries({"major": int64, "minor": int64, "weight": uint16}, optional={"leafWeight": uint16}),
    st.fixed_dictionaries({"major": int64, "minor": int64, "leafWeight": uint16}),
)
throttle = st.lists(st.fixed_dictionaries({"major": int64, "minor": int64, "rate": uint64}), max_size=2)
resources = opt_dict(
    devices=st.lists(device_cgroup, max_size=3),
    memory=opt_dict(limit=int64, reservation=int64, swap=int64, kernel=int64, kernelTCP=int64,
                    swappiness=st.integers(0, 100), disableOOMKiller=st.booleans(),
                    useHierarchy=st.booleans(), checkBeforeUpdate=st.booleans()),
    cpu=cpu(),
    blockIO=opt_dict(weight=uint16, leafWeight=uint16, weightDevice=st.lists(weight_device, max_size=2),
                     throttleReadBpsDevice=throttle, throttleWriteBpsDevice=throttle,
                     throttleReadIOPSDevice=throttle, throttleWriteIOPSDevice=throttle),
    hugepageLimits=st.lists(st.fixed_dictionaries({"pageSize": st.sampled_from(["64KB", "2MB", "1GB"]),
                                                   "limit": uint64}), max_size=2),
    network=opt_dict(classID=uint32, priorities=st.lists(
        st.fixed_dictionaries({"name": names, "priority": uint32}), max_size=2)),
    pids=opt_dict(limit=int64),
    rdma=st.dictionaries(names, st.one_of(
        st.fixed_dictionaries({"hcaHandles": uint32}, optional={"hcaObjects": uint32}),
        st.fixed_dictionaries({"hcaObjects": uint32})), max_size=2),
    unified=st.dictionaries(st.sampled_from(["memory.max", "io.max", "hugetlb.2MB.max", "cgroup.freeze"]),
                            text, max_size=2),
)


@st.composite
def syscall_rule(draw):
    action = draw(st.sampled_from(SECCOMP_ACTIONS))
    rule = {"names": draw(st.lists(names, min_size=1, max_size=3)), "action": action}
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") and draw(st.booleans()):
        rule["errnoRet"] = draw(uint32)
    if draw(st.booleans()):
        rule["args"] = draw(st.lists(opt_dict({"index": st.integers(0, 5), "value": uint64,
                                               "op": st.sampled_from(SECCOMP_OPS)}, valueTwo=uint64),
                                     max_size=2))
    return rule


@st.composite
def seccomp(draw):
    action = draw(st.sampled_from(SECCOMP_ACTIONS))
    s = {"defaultAction": action}
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") and draw(st.booleans()):
        s["defaultErrnoRet"] = draw(uint32)
    s.update(draw(opt_dict(architectures=st.lists(st.sampled_from(SECCOMP_ARCHES), max_size=3),
                           flags=st.lists(st.sampled_from(SECCOMP_FLAGS), max_size=2),
                           syscalls=st.lists(syscall_rule(), max_size=3))))
    if draw(st.booleans()):
        s["listenerPath"] = draw(abs_path)
        if draw(st.booleans()):
            s["listenerMetadata"] = draw(text)
    return s


@st.composite
def memory_policy(draw):
    mode = draw(st.sampled_from(["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                                 "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"]))
    mp = {"mode": mode}
    if mode in ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY"):
        mp["nodes"] = draw(st.sampled_from(["0", "0-3,7", "1"]))
    elif mode == "MPOL_PREFERRED" and draw(st.booleans()):
        mp["nodes"] = "0"
    if draw(st.booleans()):
        mp["flags"] = draw(st.lists(st.sampled_from(["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES",
                                                     "MPOL_F_STATIC_NODES"]), max_size=2))
    return mp


ifname = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)


@st.composite
def linux(draw):
    types = draw(st.lists(st.sampled_from(NS_TYPES), unique=True))
    lx = {}
    if types or draw(st.booleans()):
        namespaces = []
        for t in types:
            ns = {"type": t}
            if draw(st.integers(0, 4)) == 0:
                ns["path"] = "/proc/1/ns/" + t
            namespaces.append(ns)
        lx["namespaces"] = namespaces
    user = next((n for n in lx.get("namespaces", []) if n["type"] == "user"), None)
    if user is not None and ("path" not in user or draw(st.booleans())):
        lx["uidMappings"] = draw(st.lists(id_mapping, min_size=1, max_size=2))
        lx["gidMappings"] = draw(st.lists(id_mapping, min_size=1, max_size=2))
    if "time" in types and draw(st.booleans()):
        lx["timeOffsets"] = draw(st.dictionaries(st.sampled_from(["boottime", "monotonic"]),
                                                 opt_dict(secs=int64, nanosecs=uint32), max_size=2))
    if "network" in types and draw(st.booleans()):
        lx["netDevices"] = draw(st.dictionaries(ifname, opt_dict(name=ifname), max_size=2))
    sysctl = {}
    if "network" in types:
        sysctl.update(draw(st.dictionaries(st.sampled_from(["net.ipv4.ip_forward", "net/core/somaxconn"]),
                                           st.sampled_from(["0", "1", "256"]), max_size=2)))
    if "ipc" in types:
        sysctl.update(draw(st.dictionaries(st.sampled_from(["kernel.shmmax", "fs.mqueue.msg_max"]),
                                           st.sampled_from(["1", "65536"]), max_size=2)))
    if sysctl:
        lx["sysctl"] = sysctl
    lx.update(draw(opt_dict(
        devices=st.lists(device(), max_size=3),
        cgroupsPath=st.one_of(abs_path, names, st.just("system.slice:pyrunc:abc")),
        resources=resources,
        intelRdt=opt_dict(closID=names, l3CacheSchema=st.just("L3:0=7f0;1=1f"), memBwSchema=st.just("MB:0=20"),
                          schemata=st.lists(st.sampled_from(["L3:0=ff", "MB:0=70", "L2:0=f"]), max_size=3),
                          enableMonitoring=st.booleans()),
        seccomp=seccomp(),
        rootfsPropagation=st.sampled_from(["private", "shared", "slave", "unbindable", "rprivate", "rslave"]),
        maskedPaths=st.lists(abs_path, max_size=3),
        readonlyPaths=st.lists(abs_path, max_size=3),
        mountLabel=text,
        personality=opt_dict({"domain": st.sampled_from(["LINUX", "LINUX32"])}, flags=st.lists(text, max_size=1)),
        memoryPolicy=memory_policy(),
    )))
    return lx


@st.composite
def configs(draw):
    cfg = {"ociVersion": draw(semver), "root": draw(opt_dict({"path": text}, readonly=st.booleans()))}
    cfg.update(draw(opt_dict(process=process, mounts=mounts, hooks=hooks, annotations=annotations,
                             linux=linux())))
    has_uts = any(n["type"] == "uts" for n in cfg.get("linux", {}).get("namespaces", []))
    if has_uts:
        cfg.update(draw(opt_dict(hostname=names, domainname=names)))
    return cfg


# ---------------------------------------------------------------------------
# mutations that break exactly one schema rule: (function, expected path)


def _process(c):
    p = c.setdefault("process", {"cwd": "/", "args": ["sh"]})
    return p


def _linux(c):
    return c.setdefault("linux", {})


def _append(lst, item):
    lst.append(item)
    return len(lst) - 1


def m_no_version(c):
    del c["ociVersion"]
    return "ociVersion"


def m_bad_version(c):
    c["ociVersion"] = "v1.0"
    return "ociVersion"


def m_no_root(c):
    del c["root"]
    return "root"


def m_root_path_type(c):
    c["root"]["path"] = 7
    return "root.path"


def m_empty_args(c):
    _process(c)["args"] = []
    return "process.args"


def m_no_args(c):
    _process(c).pop("args")
    return "process.args"


def m_relative_cwd(c):
    _process(c)["cwd"] = "relative/dir"
    return "process.cwd"


def m_no_cwd(c):
    _process(c).pop("cwd")
    return "process.cwd"


def m_mount_no_destination(c):
    i = _append(c.setdefault("mounts", []), {"type": "tmpfs", "source": "tmpfs"})
    return "mounts[%d].destination" % i


def m_mount_uid_without_gid(c):
    i = _append(c.setdefault("mounts", []), {"destination": "/x", "uidMappings": []})
    return "mounts[%d].gidMappings" % i


def m_bad_namespace(c):
    i = _append(_linux(c).setdefault("namespaces", []), {"type": "bogus"})
    return "linux.namespaces[%d].type" % i


def m_relative_namespace_path(c):
    i = _append(_linux(c).setdefault("namespaces", []), {"type": "pid", "path": "proc/1/ns/pid"})
    return "linux.namespaces[%d].path" % i


def m_bad_rlimit_type(c):
    i = _append(_process(c).setdefault("rlimits", []), {"type": "nofile", "soft": 1, "hard": 1})
    return "process.rlimits[%d].type" % i


def m_negative_rlimit(c):
    i = _append(_process(c).setdefault("rlimits", []), {"type": "RLIMIT_ZZZ", "soft": -1, "hard": 1})
    return "process.rlimits[%d].soft" % i


def m_relative_hook(c):
    i = _append(c.setdefault("hooks", {}).setdefault("poststart", []), {"path": "bin/true"})
    return "hooks.poststart[%d].path" % i


def m_zero_hook_timeout(c):
    i = _append(c.setdefault("hooks", {}).setdefault("createRuntime", []), {"path": "/bin/true", "timeout": 0})
    return "hooks.createRuntime[%d].timeout" % i


def m_negative_uid(c):
    _process(c)["user"] = {"uid": -1, "gid": 0}
    return "process.user.uid"


def m_user_without_gid(c):
    _process(c)["user"] = {"uid": 0}
    return "process.user.gid"


def m_swappiness(c):
    res = _linux(c).setdefault("resources", {})
    res.setdefault("memory", {})["swappiness"] = 101
    return "linux.resources.memory.swappiness"


def m_seccomp_action(c):
    _linux(c)["seccomp"] = {"defaultAction": "SCMP_ACT_NOPE"}
    return "linux.seccomp.defaultAction"


def m_seccomp_empty_names(c):
    _linux(c)["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}]}
    return "linux.seccomp.syscalls[0].names"


def m_seccomp_metadata_without_path(c):
    _linux(c)["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}
    return "linux.seccomp.listenerPath"


def m_mapping_without_size(c):
    _linux(c)["uidMappings"] = [{"containerID": 0, "hostID": 1000}]
    return "linux.uidMappings[0].size"


def m_annotation_value(c):
    c["annotations"] = {"org.example.key": 1}
    return 'annotations["org.example.key"]'


def m_device_without_numbers(c):
    i = _append(_linux(c).setdefault("devices", []), {"type": "c", "path": "/dev/x"})
    return "linux.devices[%d]" % i


def m_masked_relative(c):
    i = _append(_linux(c).setdefault("maskedPaths", []), "proc/kcore")
    return "linux.maskedPaths[%d]" % i


def m_ioprio_class(c):
    _process(c)["ioPriority"] = {"class": "IOPRIO_CLASS_NONE", "priority": 0}
    return "process.ioPriority.class"


def m_personality(c):
    _linux(c)["personality"] = {"flags": []}
    return "linux.personality.domain"


def m_console_size(c):
    _process(c)["consoleSize"] = {"height": 25}
    return "process.consoleSize.width"


def m_caps_not_array(c):
    _process(c)["capabilities"] = {"bounding": "CAP_KILL"}
    return "process.capabilities.bounding"


def m_mempolicy_flag(c):
    _linux(c)["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_BOGUS"]}
    return "linux.memoryPolicy.flags[0]"


def m_rdma_empty(c):
    _linux(c).setdefault("resources", {})["rdma"] = {"mlx5_1": {}}
    return "linux.resources.rdma.mlx5_1"


def m_weight_device(c):
    _linux(c).setdefault("resources", {})["blockIO"] = {"weightDevice": [{"major": 8, "minor": 0}]}
    return "linux.resources.blockIO.weightDevice[0]"


def m_propagation(c):
    _linux(c)["rootfsPropagation"] = "recursive"
    return "linux.rootfsPropagation"


def m_terminal_type(c):
    _process(c)["terminal"] = "yes"
    return "process.terminal"


def m_hugepage_size(c):
    _linux(c).setdefault("resources", {})["hugepageLimits"] = [{"pageSize": "2M", "limit": 1}]
    return "linux.resources.hugepageLimits[0].pageSize"


def m_membw(c):
    _linux(c)["intelRdt"] = {"memBwSchema": "L3:0=1"}
    return "linux.intelRdt.memBwSchema"


def m_time_offset(c):
    _linux(c)["timeOffsets"] = {"monotonic": {"secs": "10"}}
    return "linux.timeOffsets.monotonic.secs"


MUTATIONS = [v for k, v in sorted(globals().items()) if k.startswith("m_")]


# ---------------------------------------------------------------------------
# property tests


@HYPO
@given(configs())
def test_generated_configs_valid_for_both_validators(fast, cfg):
    assert fast_ok(fast, "config", cfg)
    assert validate.schema_errors(cfg) == []
    assert validate.validate_config(cfg) == []


@HYPO
@given(configs(), st.sampled_from(MUTATIONS))
def test_mutated_configs_rejected_by_both_naming_the_field(fast, cfg, mutate):
    bad = copy.deepcopy(cfg)
    where = mutate(bad)
    assert not fast_ok(fast, "config", bad), mutate.__name__
    slow = validate.schema_errors(bad)
    assert slow, mutate.__name__
    assert any(line.startswith(where + ": ") for line in slow), (mutate.__name__, slow)
    assert validate.validate_config(bad) == slow


@HYPO
@given(configs())
def test_fast_validator_does_not_change_its_input(fast, cfg):
    before = json.dumps(cfg, sort_keys=True)
    fast.validate_config(cfg)
    validate.validate_config(cfg)
    assert json.dumps(cfg, sort_keys=True) == before


# ---------------------------------------------------------------------------
# the message forms


def base():
    return specconf.default_spec()


def test_default_spec_is_valid(fast):
    for rootless in (False, True):
        cfg = specconf.default_spec(rootless=rootless)
        assert fast_ok(fast, "config", cfg)
        assert validate.schema_errors(cfg) == []
        assert validate.validate_config(cfg) == []


def test_message_non_empty_args(fast):
    cfg = base()
    cfg["process"]["args"] = []
    assert validate.validate_config(cfg) == ["process.args: must be a non-empty array"]


def test_message_required_in_list(fast):
    cfg = base()
    del cfg["mounts"][2]["destination"]
    assert validate.validate_config(cfg) == ["mounts[2].destination: is required"]


def test_message_enum(fast):
    cfg = base()
    cfg["linux"]["namespaces"][0]["type"] = "pidns"
    assert validate.validate_config(cfg) == [
        "linux.namespaces[0].type: must be one of pid, network, mount, ipc, uts, user, cgroup, time"]


def test_message_required_top_level(fast):
    cfg = base()
    del cfg["ociVersion"]
    assert validate.validate_config(cfg) == ["ociVersion: is required"]


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c["process"].__setitem__("terminal", "yes"), "process.terminal: must be a boolean, not a string"),
    (lambda c: c["process"].__setitem__("cwd", "tmp"), "process.cwd: must be an absolute path"),
    (lambda c: c.__setitem__("ociVersion", "1.0"),
     "ociVersion: must be a SemVer 2.0.0 version such as 1.3.0"),
    (lambda c: c["process"]["rlimits"][0].__setitem__("type", "NOFILE"),
     "process.rlimits[0].type: must be an rlimit name of the form RLIMIT_<NAME> (e.g. RLIMIT_NOFILE)"),
    (lambda c: c["process"]["user"].__setitem__("uid", 2**32), "process.user.uid: must be a uint32 (0 to 4294967295)"),
    (lambda c: c["process"].__setitem__("oomScoreAdj", -1001), "process.oomScoreAdj: must be between -1000 and 1000"),
    (lambda c: c.__setitem__("hooks", {"poststop": [{"path": "/x", "timeout": 0}]}),
     "hooks.poststop[0].timeout: must be at least 1"),
    (lambda c: c["linux"].__setitem__("devices", [{"type": "b", "path": "/dev/sda"}]),
     'linux.devices[0]: major and minor are required unless type is "p"'),
    (lambda c: c["linux"]["resources"].__setitem__("rdma", {"mlx4_0": {}}),
     "linux.resources.rdma.mlx4_0: at least one of hcaHandles or hcaObjects must be set"),
    (lambda c: c["linux"].__setitem__("seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}),
     "linux.seccomp.listenerPath: is required when listenerMetadata is set"),
    (lambda c: c["linux"].__setitem__("sysctl", {"net.ipv4.ip_forward": 1}),
     'linux.sysctl["net.ipv4.ip_forward"]: must be a string, not an integer'),
    (lambda c: c["linux"]["resources"]["devices"][0].__setitem__("access", "rwx"),
     "linux.resources.devices[0].access: must be a combination of r, w and m"),
    (lambda c: c["linux"].__setitem__("personality", {"domain": "LINUX64"}),
     "linux.personality.domain: must be one of LINUX, LINUX32"),
    (lambda c: c["linux"].__setitem__("intelRdt", {"memBwSchema": "L3:0=ff"}),
     'linux.intelRdt.memBwSchema: must start with "MB:"'),
])
def test_message_forms(fast, mutate, expected):
    cfg = base()
    mutate(cfg)
    assert validate.validate_config(cfg) == [expected]


def test_not_an_object(fast):
    assert validate.validate_config([]) == ["(root): must be an object, not an array"]
    assert validate.validate_state("x") == ["(root): must be an object, not a string"]


def test_every_error_at_once_sorted_by_path(fast):
    cfg = base()
    del cfg["ociVersion"]
    cfg["process"]["args"] = []
    cfg["process"]["cwd"] = "rel"
    del cfg["mounts"][2]["destination"]
    cfg["mounts"][10:] = [{"destination": 5}]
    cfg["linux"]["namespaces"][1]["type"] = "net"
    errs = validate.validate_config(cfg)
    assert errs == [
        "linux.namespaces[1].type: must be one of pid, network, mount, ipc, uts, user, cgroup, time",
        "mounts[2].destination: is required",
        "mounts[7].destination: must be a string, not an integer",
        "ociVersion: is required",
        "process.args: must be a non-empty array",
        "process.cwd: must be an absolute path",
    ]


def test_indices_sort_numerically(fast):
    cfg = base()
    cfg["mounts"] = [{"destination": 1}] * 12
    errs = validate.validate_config(cfg)
    assert [e.split(":")[0] for e in errs] == ["mounts[%d].destination" % i for i in range(12)]


def test_unknown_properties_are_allowed(fast):
    cfg = base()
    cfg["org.example.extension"] = {"anything": [1, 2]}
    cfg["process"]["futureField"] = True
    cfg["linux"]["futureField"] = "x"
    assert validate.validate_config(cfg) == []


def test_format_path():
    assert validate.format_path([]) == "(root)"
    assert validate.format_path(["mounts", 2, "destination"]) == "mounts[2].destination"
    assert validate.format_path(["annotations", "a.b"]) == 'annotations["a.b"]'
    assert validate.format_path(["x", 'q"1']) == 'x["q\\"1"]'


# ---------------------------------------------------------------------------
# rules beyond the schema


def errors_for(mutate):
    cfg = base()
    mutate(cfg)
    return validate.validate_config(cfg)


def test_duplicate_rlimits(fast):
    def mutate(c):
        c["process"]["rlimits"] += [{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                                    {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}]
    assert errors_for(mutate) == [
        "process.rlimits[2].type: duplicate rlimit type RLIMIT_NOFILE (first at process.rlimits[0])"]


def test_duplicate_namespaces(fast):
    assert errors_for(lambda c: c["linux"]["namespaces"].append({"type": "pid", "path": "/proc/1/ns/pid"})) == [
        "linux.namespaces[6].type: duplicate namespace type pid (first at linux.namespaces[0])"]


def test_mappings_need_user_namespace(fast):
    def mutate(c):
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert errors_for(mutate) == ["linux.uidMappings: requires a user namespace in linux.namespaces",
                                  "linux.gidMappings: requires a user namespace in linux.namespaces"]


def test_new_user_namespace_needs_mappings(fast):
    assert errors_for(lambda c: c["linux"]["namespaces"].append({"type": "user"})) == [
        "linux.uidMappings: is required when a new user namespace is created (linux.namespaces[6])",
        "linux.gidMappings: is required when a new user namespace is created (linux.namespaces[6])"]
    # joining an existing one needs none
    assert errors_for(lambda c: c["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c.__setitem__("ociVersion", "2.0.0"),
     "ociVersion: 2.0.0 is not supported: this runtime implements 1.3.0 and accepts 1.x"),
    (lambda c: c.__setitem__("annotations", {"": "x"}), "annotations: keys must not be empty"),
    (lambda c: c["process"]["env"].append("NOEQUALS"), "process.env[2]: must have the form KEY=value"),
    (lambda c: c["process"].__setitem__("scheduler", {"policy": "SCHED_OTHER", "nice": 20}),
     "process.scheduler.nice: must be between -20 and 19"),
    (lambda c: c["mounts"].append({"destination": "/m", "options": ["idmap"]}),
     "mounts[7].options: idmap/ridmap needs uidMappings and gidMappings on the mount or a user namespace"),
    (lambda c: c["linux"]["namespaces"].pop(3), "hostname: setting it requires a uts namespace in linux.namespaces"),
    (lambda c: c["linux"].__setitem__("timeOffsets", {"monotonic": {"secs": 1}}),
     "linux.timeOffsets: requires a time namespace in linux.namespaces"),
    (lambda c: (c["linux"]["namespaces"].append({"type": "time"}),
                c["linux"].__setitem__("timeOffsets", {"realtime": {"secs": 1}})),
     "linux.timeOffsets.realtime: unknown clock (must be boottime or monotonic)"),
    (lambda c: c["linux"].__setitem__("netDevices", {"eth0": {"name": "this-name-is-too-long"}}),
     "linux.netDevices.eth0.name: 'this-name-is-too-long' is not a valid network interface name"),
    (lambda c: (c["linux"]["namespaces"].pop(1), c["linux"].__setitem__("netDevices", {"eth0": {}})),
     "linux.netDevices: requires a network namespace in linux.namespaces"),
    (lambda c: c["linux"].__setitem__("sysctl", {"kernel.panic": "1"}),
     'linux.sysctl["kernel.panic"]: is not namespaced; setting it would change the host'),
    (lambda c: (c["linux"]["namespaces"].pop(1), c["linux"].__setitem__("sysctl", {"net.core.somaxconn": "1"})),
     'linux.sysctl["net.core.somaxconn"]: requires a network namespace in linux.namespaces'),
    (lambda c: (c["linux"]["namespaces"].pop(2), c["linux"].__setitem__("sysctl", {"kernel.shmmax": "1"})),
     'linux.sysctl["kernel.shmmax"]: requires an ipc namespace in linux.namespaces'),
    (lambda c: c["linux"].__setitem__("seccomp", {"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}),
     "linux.seccomp.defaultErrnoRet: only allowed when defaultAction is SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
    (lambda c: c["linux"].__setitem__("seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_LOG", "errnoRet": 1}]}),
     "linux.seccomp.syscalls[0].errnoRet: only allowed when action is SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
    (lambda c: c["linux"]["resources"].__setitem__("cpu", {"quota": 1000, "burst": 2000}),
     "linux.resources.cpu.burst: must not be larger than quota (1000)"),
    (lambda c: c["linux"].__setitem__("intelRdt", {"schemata": ["L3:0=ff\nMB:0=1"]}),
     "linux.intelRdt.schemata[0]: must not contain newlines"),
    (lambda c: c["linux"].__setitem__("memoryPolicy", {"mode": "MPOL_LOCAL", "nodes": "0"}),
     "linux.memoryPolicy.nodes: must be empty for MPOL_LOCAL"),
    (lambda c: c["linux"].__setitem__("memoryPolicy", {"mode": "MPOL_BIND"}),
     "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node"),
])
def test_semantic_rules(fast, mutate, expected):
    assert errors_for(mutate) == [expected]


def test_semantic_rules_only_after_schema_passes(fast):
    cfg = base()
    cfg["process"]["rlimits"].append(dict(cfg["process"]["rlimits"][0]))
    cfg["process"]["cwd"] = "x"
    assert validate.validate_config(cfg) == ["process.cwd: must be an absolute path"]


# ---------------------------------------------------------------------------
# the state schema

STATE = {"ociVersion": "1.3.0", "id": "c1", "status": "running", "pid": 4422, "bundle": "/containers/c1",
         "annotations": {"k": "v"}}


@st.composite
def states(draw):
    status = draw(st.sampled_from(["creating", "created", "running", "stopped"]))
    doc = {"ociVersion": draw(semver), "id": draw(names), "status": status, "bundle": draw(abs_path)}
    if status in ("created", "running") or draw(st.booleans()):
        doc["pid"] = draw(st.integers(0, 2**22))
    if draw(st.booleans()):
        doc["annotations"] = draw(annotations)
    return doc


@HYPO
@given(states(), st.sampled_from([
    ("id", 5), ("status", "paused"), ("bundle", "relative"), ("pid", -1), ("ociVersion", "1"), ("annotations", []),
]))
def test_generated_states(fast, doc, breakage):
    assert fast_ok(fast, "state", doc)
    assert validate.validate_state(doc) == []
    key, value = breakage
    bad = dict(doc, **{key: value})
    assert not fast_ok(fast, "state", bad)
    assert any(line.startswith(key + ": ") for line in validate.validate_state(bad))


@pytest.mark.parametrize("status", ["creating", "created", "running", "stopped"])
def test_state_valid(fast, status):
    st_ = dict(STATE, status=status)
    assert fast_ok(fast, "state", st_)
    assert validate.validate_state(st_) == []
    if status in ("creating", "stopped"):
        del st_["pid"]
        assert validate.validate_state(st_) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s.pop("id"), ["id: is required"]),
    (lambda s: s.__setitem__("id", ""), ["id: must not be empty"]),
    (lambda s: s.__setitem__("status", "paused"), ["status: must be one of creating, created, running, stopped"]),
    (lambda s: s.__setitem__("bundle", "rel/b"), ["bundle: must be an absolute path"]),
    (lambda s: s.__setitem__("pid", -1), ["pid: must be at least 0"]),
    (lambda s: s.pop("pid"), ["(root): pid is required when status is created or running"]),
    (lambda s: s.pop("ociVersion"), ["ociVersion: is required"]),
    (lambda s: s.__setitem__("annotations", {"k": None}), ["annotations.k: must be a string, not null"]),
])
def test_state_invalid(fast, mutate, expected):
    st_ = copy.deepcopy(STATE)
    mutate(st_)
    assert not fast_ok(fast, "state", st_)
    assert validate.validate_state(st_) == expected


# ---------------------------------------------------------------------------
# the schema files and the generated module


def test_schemas_are_valid_draft4():
    from jsonschema import Draft4Validator
    for name in validate.SCHEMA_FILES:
        with open(os.path.join(SPEC, name)) as f:
            Draft4Validator.check_schema(json.load(f))
    for kind in ("config", "state"):
        Draft4Validator.check_schema(validate.merged_schema(kind, SPEC))


def test_merged_schema_refs_are_internal():
    seen = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    seen.append(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(validate.merged_schema("config", SPEC))
    assert seen and all(r.startswith("#/definitions/") for r in seen)


def test_generated_module_is_standalone(compiled_source):
    assert "fastjsonschema" not in compiled_source.split('"""', 2)[2]
    imports = [line for line in compiled_source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["from runtime.schema_patterns import matcher"]  # not even `re`


def _only_stdlib(names):
    return [n for n in names if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] != "runtime"]


def _run(code):
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _inject(tmp_path, compiled_parts):
    """Code that makes runtime._validator the freshly compiled module (its parts beside it)."""
    path = _write_validator(tmp_path, compiled_parts)
    return (
        "import importlib.util, sys\n"
        "s = importlib.util.spec_from_file_location('runtime._validator', %r)\n"
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)\n"
        "sys.modules['runtime._validator'] = m\n"
        "import runtime; runtime._validator = m\n" % str(path)
    )


def test_generated_module_imports_only_stdlib(tmp_path, compiled_parts):
    """Neither the module nor its parts (all loaded here) import anything."""
    path = _write_validator(tmp_path, compiled_parts)
    out = _run(
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import importlib.util\n"
        "before = set(sys.modules)\n"
        "s = importlib.util.spec_from_file_location('_validator', %r)\n"
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)\n"
        "for p in %r: m._load_part(p[1:])\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n" % (str(path), sorted(k for k in compiled_parts if k)))
    assert _only_stdlib(json.loads(out)) == []


def test_valid_config_does_not_import_jsonschema(tmp_path, compiled_parts):
    out = _run(
        _inject(tmp_path, compiled_parts) +
        "import json\n"
        "import runtime.validate as v, runtime.specconf as s\n"
        "assert 'jsonschema' not in sys.modules\n"
        "assert v.validate_config(s.default_spec()) == []\n"
        "assert v.validate_config(s.default_spec(rootless=True)) == []\n"
        "assert v.validate_state({'ociVersion': '1.3.0', 'id': 'a', 'status': 'created', 'pid': 1,"
        " 'bundle': '/b'}) == []\n"
        "print(json.dumps(['jsonschema' in sys.modules, 'fastjsonschema' in sys.modules]))\n"
        "bad = s.default_spec(); del bad['ociVersion']\n"
        "assert v.validate_config(bad) == ['ociVersion: is required']\n"
        "assert 'jsonschema' in sys.modules\n")
    assert json.loads(out) == [False, False]


def test_importing_validate_is_cheap():
    out = _run("import sys, json\nbefore = set(sys.modules)\nimport runtime.validate\n"
               "print(json.dumps(sorted(set(sys.modules) - before)))\n")
    assert sorted(json.loads(out)) == ["runtime", "runtime.ospath", "runtime.validate"]


def test_validate_works_without_the_compiled_module(monkeypatch):
    monkeypatch.setattr(validate, "_fast", False)
    assert validate.validate_config(base()) == []
    bad = base()
    bad["process"]["args"] = []
    assert validate.validate_config(bad) == ["process.args: must be a non-empty array"]


def test_disagreement_falls_back_to_the_fast_error(monkeypatch):
    class Strict:
        class JsonSchemaValueException(ValueError):
            pass

        @staticmethod
        def validate_config(obj):
            e = Strict.JsonSchemaValueException("data.process.cwd must match pattern ^/")
            e.name, e.message = "data.process.cwd", "data.process.cwd must match pattern ^/"
            raise e
    monkeypatch.setattr(validate, "_fast", Strict)
    assert validate.validate_config(base()) == ["process.cwd: must match pattern ^/"]


def test_compile_script_writes_module(tmp_path, compiled_parts):
    out = tmp_path / "v.py"
    subprocess.run([sys.executable, os.path.join(SPEC, "compile.py"), str(out)], check=True, timeout=300)
    assert sorted(p.name for p in tmp_path.glob("*.py")) == sorted(f"v{k}.py" for k in compiled_parts)
    assert sorted(p.name for p in (tmp_path / "__pycache__").iterdir()) == sorted(
        f"v{k}.{sys.implementation.cache_tag}.pyc" for k in compiled_parts)
    mod = _load_module(str(out), "pyrunc_test_validator2")
    mod.validate_config(base())
    with pytest.raises(ValueError) as info:
        mod.validate_config({"root": {"path": "r"}})
    assert info.value.rule == "required"
    assert info.value.path == ["data"]
    cfg = base()
    cfg["linux"]["personality"] = {"domain": "LINUX", "flags": 1}  # part "rare", from v_rare.py
    with pytest.raises(ValueError) as info:
        mod.validate_config(cfg)
    assert info.value.name == "data.linux.personality.flags" and mod._LOADED == {"rare"}


def test_built_validator_is_current(compiled_parts):
    if not os.path.exists(BUILT):
        pytest.skip("runtime/_validator.py not built (python3 native/build.py)")
    built = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "runtime", "_validator*.py")))
    assert built == sorted(f"_validator{k}.py" for k in compiled_parts), "stale parts: run python3 native/build.py"
    for suffix, text in compiled_parts.items():
        with open(os.path.join(REPO, "runtime", f"_validator{suffix}.py")) as f:
            assert f.read() == text, f"runtime/_validator{suffix}.py is stale: run python3 native/build.py"


def test_usual_configs_load_no_part(fast):
    """runc's default config (and the rootless one) is checked by the module alone; each
    other section loads only the part that checks it, and a part's errors are the
    module's own (its exception class, the value's path)."""
    fast = _load_module(fast.__file__, "pyrunc_test_validator_parts")  # no part loaded yet
    assert fast_ok(fast, "config", specconf.default_spec())
    assert fast_ok(fast, "config", specconf.default_spec(rootless=True))
    assert fast._LOADED == set()
    cfg = base()
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO",
                               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    assert fast_ok(fast, "config", cfg) and fast._LOADED == {"seccomp"}
    cfg["linux"]["seccomp"]["syscalls"][0]["action"] = "SCMP_ACT_NOPE"
    with pytest.raises(fast.JsonSchemaValueException) as info:
        fast.validate_config(cfg)
    assert info.value.name == "data.linux.seccomp.syscalls[0].action" and info.value.rule == "enum"
    assert validate.validate_config(cfg)[0].startswith("linux.seccomp.syscalls[0].action: must be one of")
    cfg = base()
    cfg["linux"]["intelRdt"] = {"closID": 7}
    with pytest.raises(fast.JsonSchemaValueException) as info:
        fast.validate_config(cfg)
    assert info.value.name == "data.linux.intelRdt.closID" and fast._LOADED == {"seccomp", "rare"}
    assert validate.validate_config(cfg) == ["linux.intelRdt.closID: must be a string, not an integer"]
    assert fast_ok(fast, "state", {"ociVersion": "1.3.0", "id": "a", "status": "created", "pid": 1, "bundle": "/b"})
    assert fast._LOADED == {"seccomp", "rare", "state"}


# ---------------------------------------------------------------------------
# the default config generator


def test_default_spec_shape():
    cfg = specconf.default_spec()
    assert cfg["ociVersion"] == "1.3.0"
    assert cfg["process"]["args"] == ["sh"] and cfg["process"]["terminal"] is True
    assert cfg["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert [m["destination"] for m in cfg["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    assert [n["type"] for n in cfg["linux"]["namespaces"]] == ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"] and "/proc/sys" in cfg["linux"]["readonlyPaths"]
    assert specconf.default_spec() is not specconf.default_spec()
    assert json.loads(specconf.spec_json()) == cfg


def test_rootless_spec_shape():
    cfg = specconf.default_spec(rootless=True)
    types = [n["type"] for n in cfg["linux"]["namespaces"]]
    assert "network" not in types and "user" in types
    assert cfg["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert cfg["linux"]["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in cfg["linux"]
    sysfs = cfg["mounts"][5]
    assert sysfs == {"destination": "/sys", "type": "none", "source": "/sys",
                     "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    assert "gid=5" not in cfg["mounts"][2]["options"]


@pytest.mark.parametrize("rootless", [False, True])
def test_default_spec_matches_runc_spec(tmp_path, rootless):
    runc = shutil.which("runc")
    if not runc:
        pytest.skip("runc is not installed")
    args = [runc, "spec"] + (["--rootless"] if rootless else [])
    subprocess.run(args, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    theirs = json.loads((tmp_path / "config.json").read_text())
    ours = specconf.default_spec(rootless=rootless)
    # runc 1.1 adds the cgroup namespace only on cgroup v2 hosts and states its
    # own spec version; pyrunc names the container's host after itself, not runc;
    # everything else must be the same, in the same order
    assert ours["hostname"] == "pyrunc" and theirs["hostname"] == "runc"
    for doc in (theirs, ours):
        doc.pop("ociVersion")
        doc["hostname"] = "-"
        doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n["type"] != "cgroup"]
    assert json.dumps(ours) == json.dumps(theirs)
