"""/dev: the spec's default devices and symlinks, and linux.devices."""
import posix
import _stat as stat  # stat's C half: importing stat itself costs ~0.06 ms

from runtime import ospath
from runtime.errors import RuntimeFailure
from runtime.mounts import MS, fd_path, mount, open_in_root

# The runtime-spec's default devices: path, type, major, minor (all 0666, root-owned).
DEFAULT_DEVICES = (
    ("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0),
)
DEFAULT_LINKS = (
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
)
_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def _create(root_fd, path, kind, major, minor, mode, uid, gid, use_bind, field, dir_fd=None, mounts=None):
    """Make one device node; field names it in errors, or, None for a default device,
    the mount in its way (or the rootfs), looked for in `mounts` only when there is an
    error to name.  dir_fd: its directory, opened by the caller."""
    def named(suffix=""):
        return f"{field}{suffix}" if field is not None else _default_device_field(path, mounts)

    parent, _, name = path.strip("/").rpartition("/")
    if dir_fd is not None:
        pfd = dir_fd
    else:
        pfd = open_in_root(root_fd, parent, "dir", field) if parent else posix.dup(root_fd)
    try:
        try:
            st = posix.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            want = _TYPES[kind]
            if stat.S_IFMT(st.st_mode) == want and (kind == "p" or st.st_rdev == posix.makedev(major, minor)):
                return  # already there, e.g. from a bind-mounted /dev
            if stat.S_ISDIR(st.st_mode):
                raise RuntimeFailure(f"{named('.path')}: {path} is a directory in the rootfs"
                                     + (", where the default device goes" if field is None else ""))
            try:
                posix.unlink(name, dir_fd=pfd)
            except OSError as e:
                raise RuntimeFailure(f"{named('.path')}: replace {path}: {e.strerror}") from None
        if use_bind and kind != "p":
            # In a user namespace mknod is refused: bind the host's node instead.
            posix.close(posix.open(name, posix.O_CREAT | posix.O_EXCL | posix.O_WRONLY | posix.O_CLOEXEC, 0o644, dir_fd=pfd))
            what = named()
            fd = open_in_root(root_fd, path, None, what)
            try:
                mount(path, fd_path(fd), None, MS.BIND, what=f"{what}: bind {path}")
            finally:
                posix.close(fd)
            return
        try:
            posix.mknod(name, (mode & 0o7777) | _TYPES[kind], posix.makedev(major, minor), dir_fd=pfd)
        except OSError as e:
            raise RuntimeFailure(f"{named()}: mknod {path}: {e.strerror}") from None
        # mknod honours the umask: set the mode exactly, then the owner.
        posix.chmod(name, mode & 0o7777, dir_fd=pfd)
        posix.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
    finally:
        if pfd is not dir_fd:
            posix.close(pfd)


def _default_device_field(path, mounts):
    """What to name when a default device cannot be made: the last mount at or under
    its path (a mount at /dev/null, or at /dev/null/x, makes it a directory), else the
    rootfs, whose /dev holds it."""
    for i in range(len(mounts or ()) - 1, -1, -1):
        dest = str((mounts[i] or {}).get("destination") or "")
        dest = ospath.normpath(dest if dest.startswith("/") else "/" + dest)
        if dest == path or dest.startswith(path + "/"):
            return f"mounts[{i}] ({dest}).destination"
    return "root.path"


def create_devices(root_fd, devices, default_devices, in_userns, mounts=None):
    """Make the default devices (when /dev is ours to fill) and linux.devices.
    mounts: the config's, to name the one in a default device's way."""
    if default_devices:  # all in /dev, opened once
        dfd = open_in_root(root_fd, "/dev", "dir", _default_device_field("/dev", mounts))
        try:
            for path, kind, major, minor in DEFAULT_DEVICES:
                _create(root_fd, path, kind, major, minor, 0o666, 0, 0, in_userns, None, dir_fd=dfd, mounts=mounts)
            for target, link in DEFAULT_LINKS + ((("/proc/kcore", "/dev/core"),) if ospath.exists("/proc/kcore") else ()):
                try:
                    posix.symlink(target, ospath.basename(link), dir_fd=dfd)
                except FileExistsError:
                    pass
        finally:
            posix.close(dfd)
    for i, d in enumerate(devices or ()):
        field = f"linux.devices[{i}]"
        kind = d.get("type")
        if kind not in _TYPES:
            raise RuntimeFailure(f"{field}.type: must be one of c, b, u, p")
        mode = d.get("fileMode", 0o666 if kind != "p" else 0o644)
        _create(root_fd, d["path"], kind, d.get("major", 0), d.get("minor", 0), mode,
                d.get("uid", 0), d.get("gid", 0), in_userns, field)


def setup_ptmx(root_fd):
    """/dev/ptmx -> pts/ptmx, so the container's devpts instance is used."""
    dfd = open_in_root(root_fd, "/dev", "dir", "/dev")
    try:
        try:
            posix.unlink("ptmx", dir_fd=dfd)
        except FileNotFoundError:
            pass
        posix.symlink("pts/ptmx", "ptmx", dir_fd=dfd)
    finally:
        posix.close(dfd)


# Device cgroup rules every container gets after its own (runc's defaults): mknod of
# anything, the default devices, ptys and tun.
_ALLOWED = (
    ("c", None, None, "m"), ("b", None, None, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"),
    ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, None, "rwm"), ("c", 5, 2, "rwm"),
    ("c", 5, 1, "rwm"), ("c", 10, 200, "rwm"),
)


def cgroup_rules(resources_devices, devices):
    """linux.resources.devices, then allow rules for the defaults and linux.devices."""
    rules = [dict(r) for r in resources_devices or ()]
    if not rules:
        rules = [{"allow": False, "access": "rwm"}]
    for kind, major, minor, access in _ALLOWED:
        r = {"allow": True, "type": kind, "access": access}
        if major is not None:
            r["major"] = major
        if minor is not None:
            r["minor"] = minor
        rules.append(r)
    for d in devices or ():
        if d.get("type") in ("c", "b", "u"):
            rules.append({"allow": True, "type": "c" if d["type"] == "u" else d["type"],
                          "major": d.get("major", 0), "minor": d.get("minor", 0), "access": "rwm"})
    return rules
