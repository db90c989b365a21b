"""Linux namespaces: which to create, which to join, and the user namespace's id maps."""
import posix

from runtime.errors import RuntimeFailure

# OCI type -> (clone flag, /proc/<pid>/ns name)
TYPES = {
    "user": (0x10000000, "user"),
    "mount": (0x00020000, "mnt"),
    "pid": (0x20000000, "pid"),
    "network": (0x40000000, "net"),
    "ipc": (0x08000000, "ipc"),
    "uts": (0x04000000, "uts"),
    "cgroup": (0x02000000, "cgroup"),
    "time": (0x00000080, "time"),
}
NS_GET_NSTYPE = 0xB703
# Join order: the user namespace first (it owns the others), mount last so that the
# other paths still resolve on the host.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


class Plan:
    """What to do with namespaces for one container, computed from linux.namespaces."""

    def __init__(self, namespaces):
        self.new = set()          # types to create
        self.join = {}            # type -> path
        seen = set()
        for i, ns in enumerate(namespaces or ()):
            t = ns.get("type")
            if t not in TYPES:
                raise RuntimeFailure(f"linux.namespaces[{i}].type: unknown namespace type {t!r}")
            if t in seen:
                raise RuntimeFailure(f"linux.namespaces[{i}].type: duplicate namespace {t}")
            seen.add(t)
            if ns.get("path"):
                self.join[t] = ns["path"]
            else:
                self.new.add(t)

    def has(self, t):
        return t in self.new or t in self.join

    def unshare_flags(self, exclude=("user",)):
        flags = 0
        for t in self.new:
            if t not in exclude:
                flags |= TYPES[t][0]
        return flags

    def open_paths(self):
        """Open every namespace path now, on the host, checking its type: [(type, fd)]."""
        import fcntl

        fds = []
        try:
            for t in JOIN_ORDER:
                path = self.join.get(t)
                if path is None:
                    continue
                try:
                    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
                except OSError as e:
                    raise RuntimeFailure(f"linux.namespaces: {t} path {path}: {e.strerror}") from None
                fds.append((t, fd))
                try:
                    kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
                except OSError:
                    raise RuntimeFailure(f"linux.namespaces: {t} path {path} is not a namespace") from None
                if kind != TYPES[t][0]:
                    raise RuntimeFailure(f"linux.namespaces: {t} path {path} is a namespace of another type")
        except BaseException:
            for _, fd in fds:
                posix.close(fd)
            raise
        return fds


class NetworkAhead:
    """The container's new network namespace, made ahead by a thread of the C helper
    while create goes on: copy_net_ns is ~0.7 ms, which a clone with CLONE_NEWNET
    would spend on create's way; the child joins this one (setns) instead.  take()
    (or discard()) must follow: the thread writes into this object until it is
    joined."""

    def __init__(self):
        from runtime._native import ffi, lib

        self._job = ffi.new("struct pyrunc_netns *")
        self._running = lib.pyrunc_netns_start(self._job) == 0

    def take(self):
        """The namespace's fd (the caller's to close), or None: none was made (the
        clone makes one, and says why if it cannot)."""
        if not self._running:
            return None
        from runtime._native import lib

        self._running = False
        fd = lib.pyrunc_netns_take(self._job)
        return fd if fd >= 0 else None

    def discard(self):
        fd = self.take()
        if fd is not None:
            posix.close(fd)


def setns(fd, t):
    from runtime._native import ffi, lib

    if lib.setns(fd, TYPES[t][0]) != 0:
        raise RuntimeFailure(f"linux.namespaces: join {t} namespace: {posix.strerror(ffi.errno)}")


def become_root(field):
    """uid/gid 0 in the user namespace just entered (made or joined): what setns into
    the namespaces it owns and the rest of the setup need."""
    try:
        posix.setresgid(0, 0, 0)
        posix.setresuid(0, 0, 0)
    except OSError as e:
        raise RuntimeFailure(f"{field}: become root in the user namespace: {e.strerror}") from None


def join(ns_fds):
    """setns into every namespace of {type: fd} but the user one, in JOIN_ORDER
    (mount last: after it, paths of the host are gone)."""
    for t in JOIN_ORDER:
        if t in ns_fds and t != "user":
            setns(ns_fds[t], t)


def unshare(flags, what="namespaces"):
    from runtime._native import ffi, lib

    if flags and lib.unshare(flags) != 0:
        raise RuntimeFailure(f"linux.namespaces: create {what}: {posix.strerror(ffi.errno)}")


def format_map(mappings):
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def write_id_maps(pid, uid_mappings, gid_mappings):
    """Write /proc/<pid>/{uid_map,gid_map} from the parent (which holds CAP_SETUID/SETGID),
    through a verified procfs fd (runtime/procfs.py)."""
    from runtime import procfs

    for name, maps in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        if not maps:
            continue
        field = "linux.uidMappings" if name == "uid_map" else "linux.gidMappings"
        procfs.write(f"{pid}/{name}", format_map(maps), field)


def write_time_offsets(offsets):
    """linux.timeOffsets -> /proc/self/timens_offsets (after unshare(CLONE_NEWTIME), before fork)."""
    ids = {"monotonic": "monotonic", "boottime": "boottime"}
    lines = []
    for clock, off in (offsets or {}).items():
        if clock not in ids:
            raise RuntimeFailure(f"linux.timeOffsets.{clock}: unknown clock")
        lines.append(f"{ids[clock]} {int(off.get('secs', 0))} {int(off.get('nanosecs', 0))}\n")
    if lines:
        from runtime import procfs

        procfs.write(f"{posix.getpid()}/timens_offsets", "".join(lines), "linux.timeOffsets")
