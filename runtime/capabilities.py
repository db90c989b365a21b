"""Linux capabilities: names, the host's bounding set, and applying process.capabilities."""
import os

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


def to_mask(names, field):
    mask = 0
    for name in names or ():
        n = NUMBERS.get(name)
        if n is None:
            raise RuntimeFailure(f"{field}: unknown capability {name}")
        mask |= 1 << n
    return mask


def masks(caps):
    """process.capabilities -> {set: mask}; unknown names are an error naming the set."""
    caps = caps or {}
    return {s: to_mask(caps.get(s), f"process.capabilities.{s}") for s in SETS}


def apply_bounding(bounding_mask):
    """Drop from the bounding set every capability not in bounding_mask (needs CAP_SETPCAP)."""
    from runtime._native import ffi, lib

    top = last_cap()
    for n in range(top + 1):
        if not bounding_mask & (1 << n) and lib.prctl(lib.PR_CAPBSET_READ, n, 0, 0, 0) == 1:
            if lib.prctl(lib.PR_CAPBSET_DROP, n, 0, 0, 0) != 0:
                raise RuntimeFailure(f"drop capability {NAMES[n] if n < len(NAMES) else n} from the bounding set: errno {ffi.errno}")


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
        raise RuntimeFailure(f"process.capabilities: capset: {os.strerror(ffi.errno)}")
    lib.prctl(lib.PR_CAP_AMBIENT, lib.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    # The kernel raises an ambient capability only if it is also permitted and
    # inheritable; like runc, one that is not is skipped (`pyrunc check` reports it).
    raisable = m["ambient"] & m["permitted"] & m["inheritable"]
    for n in range(last_cap() + 1):
        if raisable & (1 << n):
            if lib.prctl(lib.PR_CAP_AMBIENT, lib.PR_CAP_AMBIENT_RAISE, n, 0, 0) != 0:
                raise RuntimeFailure(f"process.capabilities.ambient: cannot raise {NAMES[n]}: "
                                     f"{os.strerror(ffi.errno)}")
