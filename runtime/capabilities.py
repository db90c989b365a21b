"""Linux capabilities: names, the host's bounding set, and applying process.capabilities."""
import posix

from runtime.errors import RuntimeFailure

NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
NUMBERS = {n: i for i, n in enumerate(NAMES)}
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


def last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def host_bounding():
    """The bounding set of this process, as a bit mask."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def grantable():
    """Bit mask of the capabilities this process can grant: named in NAMES, known to
    the kernel and in its bounding set.  PR_CAPBSET_READ needs no /proc (the container
    side calls this after pivot_root) and fails for a number the kernel does not know."""
    from runtime._native import lib

    return lib.pyrunc_bounding_set() & ((1 << len(NAMES)) - 1)


def ungrantable(caps, ok=None):
    """The names in process.capabilities that cannot be granted (unknown to pyrunc or
    the kernel, or outside the bounding set), each once, in the order of the config."""
    ok = grantable() if ok is None else ok
    bad = []
    for s in SETS:
        for name in (caps or {}).get(s) or ():
            n = NUMBERS.get(name)
            if (n is None or not ok >> n & 1) and name not in bad:
                bad.append(name)
    return bad


def warn_ungrantable(caps, warn):
    """Spec (config.md): a capability that cannot be granted MUST be logged as a
    warning and SHOULD NOT fail the container: say which, once (runc's words)."""
    bad = ungrantable(caps)
    if bad:
        warn(f"process.capabilities: ignoring unknown or unavailable capabilities: {' '.join(bad)}")
    return bad


def masks(caps):
    """process.capabilities -> {set: mask}, without what cannot be granted (see
    warn_ungrantable, which the runtime side calls to report them)."""
    caps = caps or {}
    ok = grantable()
    out = {}
    for s in SETS:
        mask = 0
        for name in caps.get(s) or ():
            n = NUMBERS.get(name)
            if n is not None:
                mask |= 1 << n
        out[s] = mask & ok
    return out


def apply_bounding(bounding_mask):
    """Drop from the bounding set every capability not in bounding_mask (needs CAP_SETPCAP)."""
    from runtime._native import ffi, lib

    failed = ffi.new("int *")
    if lib.pyrunc_bounding_drop(lib.pyrunc_bounding_set() & ~bounding_mask, failed) != 0:
        n = failed[0]
        raise RuntimeFailure(f"drop capability {NAMES[n] if n < len(NAMES) else n} from the bounding set: "
                             f"{posix.strerror(ffi.errno)}")


def apply_sets(m):
    """Set effective, permitted and inheritable, then raise the ambient set."""
    from runtime._native import ffi, lib

    data = ffi.new("uint32_t[6]")
    for word in (0, 1):
        shift = 32 * word
        data[3 * word + 0] = (m["effective"] >> shift) & 0xFFFFFFFF
        data[3 * word + 1] = (m["permitted"] >> shift) & 0xFFFFFFFF
        data[3 * word + 2] = (m["inheritable"] >> shift) & 0xFFFFFFFF
    if lib.pyrunc_capset(data) != 0:
        raise RuntimeFailure(f"process.capabilities: capset: {posix.strerror(ffi.errno)}")
    lib.prctl(lib.PR_CAP_AMBIENT, lib.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    # The kernel raises an ambient capability only if it is also permitted and
    # inheritable; like runc, one that is not is skipped (`pyrunc check` reports it).
    raisable = m["ambient"] & m["permitted"] & m["inheritable"]
    for n in range(raisable.bit_length()):
        if raisable & (1 << n):
            if lib.prctl(lib.PR_CAP_AMBIENT, lib.PR_CAP_AMBIENT_RAISE, n, 0, 0) != 0:
                raise RuntimeFailure(f"process.capabilities.ambient: cannot raise {NAMES[n]}: "
                                     f"{posix.strerror(ffi.errno)}")
