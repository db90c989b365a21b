"""Host-fit checks behind ``pyrunc check [--bundle DIR]`` (a command beyond runc).

``check_bundle(bundle_dir)`` reports every problem at once, one line each in
the form ``<field path>: <problem>``:

1. config.json cannot be read or parsed (then nothing else is checked);
2. schema and spec-rule errors from :mod:`runtime.validate`;
3. things that would only fail later, at create/start time, on this host:
   ``root.path`` missing or not a directory; ``process.args[0]`` not found in
   the rootfs; capabilities unknown, unsupported by the kernel or outside the
   host's bounding set; rlimits with soft > hard, or a hard limit above the
   host's when CAP_SYS_RESOURCE is not available; namespace paths that do not
   exist or are not namespaces of the configured type; cgroup controllers the
   resources need but the host lacks.

All functions are pure apart from reading the host; facts about the host come
from a :class:`HostInfo` (``HostInfo.probe()`` by default) so callers and
tests can substitute their own.  Host checks tolerate schema-invalid input:
fields of the wrong type are skipped (the schema errors already name them).
"""

import os
import stat

from .validate import format_path, input_errors

__all__ = [
    "check_bundle",
    "check_config",
    "HostInfo",
    "rootfs_problems",
    "executable_problems",
    "capability_problems",
    "rlimit_problems",
    "namespace_problems",
    "cgroup_problems",
    "resolve_in_root",
    "find_executable",
    "CAPABILITIES",
    "RLIMITS",
]

# linux/capability.h
CAPABILITIES = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

# asm-generic/resource.h
RLIMITS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}
RLIM_INFINITY = 2**64 - 1  # as written in config.json (uint64)

# CLONE_NEW* values returned by ioctl(NS_GET_NSTYPE)
NS_CLONE_FLAGS = {
    "mount": 0x00020000,
    "cgroup": 0x02000000,
    "uts": 0x04000000,
    "ipc": 0x08000000,
    "user": 0x10000000,
    "pid": 0x20000000,
    "network": 0x40000000,
    "time": 0x00000080,
}
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


# ---------------------------------------------------------------------------
# the host


class HostInfo:
    """Facts about this host the checks compare against.

    cap_bounding, cap_effective: sets of capability numbers
    cap_last_cap: highest capability number the kernel knows
    hard_limits: {rlimit number: current hard limit, None meaning unlimited}
    cgroup_v1: controllers bound to a mounted v1 hierarchy
    cgroup_v2: controllers available in the cgroup2 hierarchy, or None when
               no cgroup2 hierarchy is mounted
    nsfs_dev: st_dev of the namespace filesystem (None: unknown)
    """

    def __init__(self, cap_bounding=frozenset(), cap_effective=frozenset(), cap_last_cap=40,
                 hard_limits=None, cgroup_v1=frozenset(), cgroup_v2=None, nsfs_dev=None):
        self.cap_bounding = frozenset(cap_bounding)
        self.cap_effective = frozenset(cap_effective)
        self.cap_last_cap = cap_last_cap
        self.hard_limits = dict(hard_limits or {})
        self.cgroup_v1 = frozenset(cgroup_v1)
        self.cgroup_v2 = None if cgroup_v2 is None else frozenset(cgroup_v2)
        self.nsfs_dev = nsfs_dev

    @classmethod
    def probe(cls, proc="/proc", cgroup_root="/sys/fs/cgroup"):
        """Read the facts from /proc and the cgroup filesystem."""
        bounding, effective = _read_capsets(os.path.join(proc, "self", "status"))
        try:
            with open(os.path.join(proc, "sys", "kernel", "cap_last_cap")) as f:
                last = int(f.read().strip())
        except (OSError, ValueError):
            last = max(CAPABILITIES.values())
        hard = {}
        try:
            import resource
        except ImportError:  # pragma: no cover - Linux always has it
            resource = None
        if resource is not None:
            for num in RLIMITS.values():
                try:
                    h = resource.getrlimit(num)[1]
                except (ValueError, OSError):
                    continue
                hard[num] = None if h == resource.RLIM_INFINITY else h
        v1, v2 = probe_cgroups(os.path.join(proc, "cgroups"), cgroup_root)
        try:
            nsfs = os.stat(os.path.join(proc, "self", "ns", "net")).st_dev
        except OSError:
            nsfs = None
        return cls(bounding, effective, last, hard, v1, v2, nsfs)

    def has_cap(self, name):
        return CAPABILITIES.get(name) in self.cap_effective


def _read_capsets(status_path):
    bounding = effective = frozenset()
    try:
        with open(status_path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("CapBnd", "CapEff"):
                    mask = int(value.strip(), 16)
                    bits = frozenset(i for i in range(64) if mask >> i & 1)
                    if key == "CapBnd":
                        bounding = bits
                    else:
                        effective = bits
    except (OSError, ValueError):
        pass
    return bounding, effective


def probe_cgroups(proc_cgroups="/proc/cgroups", cgroup_root="/sys/fs/cgroup"):
    """Return (v1 controllers, v2 controllers or None).

    A unified host has ``cgroup.controllers`` at the root; a hybrid one has
    the cgroup2 hierarchy at ``<root>/unified`` and the v1 controllers listed
    in /proc/cgroups with a non-zero hierarchy id (zero: not bound to a v1
    hierarchy, e.g. because it lives in cgroup2)."""
    v2 = _read_words(os.path.join(cgroup_root, "cgroup.controllers"))
    if v2 is not None:
        return frozenset(), v2
    v1 = set()
    try:
        with open(proc_cgroups) as f:
            for line in f:
                if line.startswith("#"):
                    continue
                fields = line.split()
                if len(fields) >= 4 and fields[1] != "0" and fields[3] == "1":
                    v1.add(fields[0])
    except OSError:
        pass
    return frozenset(v1), _read_words(os.path.join(cgroup_root, "unified", "cgroup.controllers"))


def _read_words(path):
    try:
        with open(path) as f:
            return frozenset(f.read().split())
    except OSError:
        return None


# ---------------------------------------------------------------------------
# entry points


def check_bundle(bundle_dir, host=None):
    """Every problem with the bundle at ``bundle_dir`` as ``"<path>: <problem>"``
    lines; ``[]`` when it should run on this host.

    The bundle is read, validated and pre-flighted by exactly the functions
    ``create`` uses (:func:`runtime.container.read_config`,
    :func:`runtime.container.config_problems`, :class:`runtime.container.Preflight`),
    so what create would refuse before making anything, check reports; then come
    the host-fit checks only check makes."""
    from .container import ConfigError, config_problems, read_config

    try:
        config = read_config(os.path.abspath(bundle_dir))
    except ConfigError as exc:
        return list(exc.lines)
    problems = config_problems(config)
    if problems and input_errors(config):
        return problems  # strings no later check can handle: these are all there is to say
    return problems + check_config(config, bundle_dir, host, schema_valid=not problems)


def check_config(config, bundle_dir, host=None, schema_valid=True):
    """The pre-flight (create's own) and host-fit problems of an already parsed
    config (no schema checks)."""
    from .container import Preflight

    if host is None:
        host = HostInfo.probe()
    problems = list(Preflight(config, os.path.abspath(bundle_dir), tolerant=not schema_valid).problems)
    problems += executable_problems(config, bundle_dir)
    problems += capability_problems(config, host)
    problems += rlimit_problems(config, host)
    problems += namespace_problems(config, host)
    problems += cgroup_problems(config, host)
    out = []
    for p in problems:
        if p not in out:
            out.append(p)
    return out


def _obj(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def rootfs_path(config, bundle_dir):
    """Host path of the root filesystem, or None when root.path is unusable."""
    path = _obj(config.get("root")).get("path")
    if not isinstance(path, str):
        return None
    return os.path.normpath(os.path.join(os.path.abspath(bundle_dir), path))


def rootfs_problems(config, bundle_dir):
    """root.path as create checks it (:func:`runtime.container.rootfs_of`)."""
    from .container import ConfigError, rootfs_of

    if not isinstance(_obj(config.get("root")).get("path"), str):
        return []
    try:
        rootfs_of(config, os.path.abspath(bundle_dir))
    except ConfigError as exc:
        return list(exc.lines)
    return []


# ---------------------------------------------------------------------------
# the executable


def resolve_in_root(root, path, max_links=255):
    """Resolve ``path`` as the container would see it with ``root`` as "/":
    symlinks are followed by hand, absolute targets restart at ``root`` and
    ``..`` never climbs above it, so the result is always inside ``root``.
    Components that do not exist are joined lexically (``..`` still clamps).  Returns the host path;
    raises OSError(ELOOP) after ``max_links`` symlinks."""
    import errno

    root = os.path.abspath(root)
    done = []
    pending = [p for p in reversed(path.split("/"))]
    links = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except OSError:  # missing (or under a non-directory): lexical from here
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > max_links:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            pending.extend(reversed(target.split("/")))
            continue
        done.append(part)
    return os.path.join(root, *done)


def _env_value(env, key):
    prefix = key + "="
    for kv in _list(env):
        if isinstance(kv, str) and kv.startswith(prefix):
            return kv[len(prefix):]
    return None


def find_executable(rootfs, arg0, env=None, cwd="/"):
    """Look ``arg0`` up inside ``rootfs`` like execvp in the container would:
    a name with a slash is a path (relative to ``cwd``), a bare name is
    searched in the PATH of ``env`` (DEFAULT_PATH when unset).  Returns
    ``(host_path, None)`` or ``(None, reason)``."""
    if "/" in arg0:
        path = arg0 if arg0.startswith("/") else os.path.join(cwd or "/", arg0)
        try:
            host = resolve_in_root(rootfs, path)
            st = os.stat(host)
        except OSError:
            return None, "%s does not exist in the rootfs" % _shown(path)
        if stat.S_ISDIR(st.st_mode):
            return None, "%s is a directory" % _shown(path)
        if not stat.S_ISREG(st.st_mode):
            return None, "%s is not a regular file" % _shown(path)
        if not st.st_mode & 0o111:
            return None, "%s is not executable" % _shown(path)
        return host, None
    search = _env_value(env, "PATH")
    if search is None:
        search = DEFAULT_PATH
    not_exec = None
    for d in search.split(":"):
        d = d or "."
        if not d.startswith("/"):
            d = os.path.join(cwd or "/", d)
        path = os.path.join(d, arg0)
        try:
            host = resolve_in_root(rootfs, path)
            st = os.stat(host)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_mode & 0o111:
            return host, None
        not_exec = not_exec or path
    if not_exec:
        return None, "%s is not executable" % _shown(not_exec)
    return None, "%s was not found in the rootfs (searched PATH=%s)" % (_shown(arg0), _shown(search))


def executable_problems(config, bundle_dir):
    process = _obj(config.get("process"))
    args = process.get("args")
    if not isinstance(args, list) or not args or not isinstance(args[0], str) or not args[0]:
        return []
    rootfs = rootfs_path(config, bundle_dir)
    if rootfs is None or not os.path.isdir(rootfs):
        return []
    cwd = process.get("cwd") if isinstance(process.get("cwd"), str) else "/"
    _, reason = find_executable(rootfs, args[0], process.get("env"), cwd)
    return ["process.args[0]: %s" % reason] if reason else []


# ---------------------------------------------------------------------------
# capabilities and rlimits


def capability_problems(config, host):
    problems = []
    caps = _obj(_obj(config.get("process")).get("capabilities"))
    for set_name in CAP_SETS:
        where = "process.capabilities." + set_name
        seen = set()
        for cap in _list(caps.get(set_name)):
            if not isinstance(cap, str) or cap in seen:
                continue
            seen.add(cap)
            num = CAPABILITIES.get(cap)
            if num is None:
                problems.append("%s: %s is not a known capability" % (where, _shown(cap)))
            elif num > host.cap_last_cap:
                problems.append("%s: %s is not supported by the running kernel (its last capability is %d)"
                                % (where, cap, host.cap_last_cap))
            elif num not in host.cap_bounding:
                problems.append("%s: %s is not in the host's bounding set" % (where, cap))
    return problems


def _shown(name):
    """A name from the config as it can be shown in a one-line message."""
    if name and name.isascii() and name.isprintable() and " " not in name:
        return name
    from _json import encode_basestring_ascii

    return encode_basestring_ascii(name[:64])


def _limit_text(value):
    return "unlimited" if value is None or value >= RLIM_INFINITY else str(value)


def rlimit_problems(config, host):
    problems = []
    can_raise = host.has_cap("CAP_SYS_RESOURCE")
    for i, rl in enumerate(_list(_obj(config.get("process")).get("rlimits"))):
        rl = _obj(rl)
        name, soft, hard = rl.get("type"), rl.get("soft"), rl.get("hard")
        where = "process.rlimits[%d]" % i
        if not isinstance(name, str):
            continue
        num = RLIMITS.get(name)
        if num is None:
            problems.append("%s.type: %s is not a resource limit this kernel knows" % (where, _shown(name)))
            continue
        if not (isinstance(soft, int) and isinstance(hard, int)) or isinstance(soft, bool) or isinstance(hard, bool):
            continue
        if soft > hard:
            problems.append("%s: soft limit %s is above the hard limit %s"
                            % (where, _limit_text(soft), _limit_text(hard)))
        if not can_raise and num in host.hard_limits:
            host_hard = host.hard_limits[num]
            if host_hard is not None and hard > host_hard:
                problems.append("%s.hard: %s for %s is above the host's hard limit %d and "
                                "CAP_SYS_RESOURCE is not available to raise it"
                                % (where, _limit_text(hard), name, host_hard))
    return problems


# ---------------------------------------------------------------------------
# namespaces


def namespace_type_of(path):
    """The namespace type name of the nsfs file at ``path`` (via
    ioctl(NS_GET_NSTYPE)), or None when the kernel cannot say."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        flag = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        return None
    finally:
        os.close(fd)
    for name, value in NS_CLONE_FLAGS.items():
        if value == flag:
            return name
    return None


def namespace_problems(config, host):
    problems = []
    for i, ns in enumerate(_list(_obj(config.get("linux")).get("namespaces"))):
        ns = _obj(ns)
        ns_type, path = ns.get("type"), ns.get("path")
        if not isinstance(path, str) or not path or ns_type not in NS_CLONE_FLAGS:
            continue
        where = "linux.namespaces[%d].path" % i
        try:
            st = os.stat(path)
        except FileNotFoundError:
            problems.append("%s: %s does not exist" % (where, path))
            continue
        except OSError as exc:
            problems.append("%s: cannot access %s: %s" % (where, path, exc.strerror))
            continue
        # only nsfs files are opened: opening an arbitrary file (a FIFO, a
        # device) could block or have side effects
        if host.nsfs_dev is not None and st.st_dev != host.nsfs_dev:
            problems.append("%s: %s is not a namespace file" % (where, path))
            continue
        try:
            actual = namespace_type_of(path)
        except OSError as exc:
            problems.append("%s: cannot open %s: %s" % (where, path, exc.strerror))
            continue
        if actual is None:
            if host.nsfs_dev is None:
                problems.append("%s: %s is not a namespace file" % (where, path))
        elif actual != ns_type:
            problems.append("%s: %s is a namespace of type %s, not %s" % (where, path, actual, ns_type))
    return problems


# ---------------------------------------------------------------------------
# cgroups

_CPU_FIELDS = ("shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "idle")


def _needed_controllers(resources):
    """(field path, v1 controller or None, v2 controller or None) for each
    resource setting; None means that hierarchy cannot provide it, "" that it
    needs no controller there."""
    needs = []
    base = ["linux", "resources"]
    if _list(resources.get("devices")):
        needs.append((base + ["devices"], "devices", ""))  # v2: an eBPF program
    if _obj(resources.get("memory")):
        needs.append((base + ["memory"], "memory", "memory"))
    cpu = _obj(resources.get("cpu"))
    if any(k in cpu for k in _CPU_FIELDS):
        needs.append((base + ["cpu"], "cpu", "cpu"))
    for k in ("cpus", "mems"):
        if cpu.get(k):
            needs.append((base + ["cpu", k], "cpuset", "cpuset"))
    if _obj(resources.get("blockIO")):
        needs.append((base + ["blockIO"], "blkio", "io"))
    if _list(resources.get("hugepageLimits")):
        needs.append((base + ["hugepageLimits"], "hugetlb", "hugetlb"))
    network = _obj(resources.get("network"))
    if "classID" in network:
        needs.append((base + ["network", "classID"], "net_cls", None))
    if _list(network.get("priorities")):
        needs.append((base + ["network", "priorities"], "net_prio", None))
    if _obj(resources.get("pids")):
        needs.append((base + ["pids"], "pids", "pids"))
    if _obj(resources.get("rdma")):
        needs.append((base + ["rdma"], "rdma", "rdma"))
    return needs


def cgroup_problems(config, host):
    resources = _obj(_obj(config.get("linux")).get("resources"))
    if not resources:
        return []
    problems = []
    v1, v2 = host.cgroup_v1, host.cgroup_v2 or frozenset()
    for path, c1, c2 in _needed_controllers(resources):
        if (c1 and c1 in v1) or (c2 is not None and host.cgroup_v2 is not None and (c2 == "" or c2 in v2)):
            continue
        name = c1 if c1 else c2
        problems.append("%s: the %s cgroup controller is not available on this host" % (format_path(path), name))
    unified = _obj(resources.get("unified"))
    if unified:
        if host.cgroup_v2 is None:
            problems.append("linux.resources.unified: no cgroup v2 hierarchy is mounted on this host")
        else:
            for key in unified:
                controller = key.split(".", 1)[0]
                if "." not in key or controller == "cgroup" or controller in v2:
                    continue
                problems.append("%s: the %s controller is not enabled in the cgroup v2 hierarchy"
                                % (format_path(["linux", "resources", "unified", key]), controller))
    return problems
