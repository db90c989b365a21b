"""Mounts: option parsing, secure destination resolution, the rootfs and pivot_root.

Every destination is resolved inside the rootfs with openat2(RESOLVE_IN_ROOT), so a
symlink in the rootfs can never lead a mount out of it, and the mount is made onto
/proc/self/fd/N of the resolved object, so nothing can swap the path in between.
"""
import posix

from runtime import ospath
from runtime.errors import RuntimeFailure

# name -> (clear?, flag); from mount(8) and the runtime-spec's list of options.
_MS = {
    "RDONLY": 1, "NOSUID": 2, "NODEV": 4, "NOEXEC": 8, "SYNCHRONOUS": 16, "REMOUNT": 32,
    "MANDLOCK": 64, "DIRSYNC": 128, "NOSYMFOLLOW": 256, "NOATIME": 1024, "NODIRATIME": 2048,
    "BIND": 4096, "MOVE": 8192, "REC": 16384, "SILENT": 32768, "UNBINDABLE": 1 << 17,
    "PRIVATE": 1 << 18, "SLAVE": 1 << 19, "SHARED": 1 << 20, "RELATIME": 1 << 21,
    "I_VERSION": 1 << 23, "STRICTATIME": 1 << 24, "LAZYTIME": 1 << 25,
}
MS = type("MS", (), _MS)
FLAGS = {
    "async": (True, MS.SYNCHRONOUS), "atime": (True, MS.NOATIME), "bind": (False, MS.BIND),
    "defaults": (False, 0), "dev": (True, MS.NODEV), "diratime": (True, MS.NODIRATIME),
    "dirsync": (False, MS.DIRSYNC), "exec": (True, MS.NOEXEC), "iversion": (False, MS.I_VERSION),
    "lazytime": (False, MS.LAZYTIME), "loud": (True, MS.SILENT), "mand": (False, MS.MANDLOCK),
    "noatime": (False, MS.NOATIME), "nodev": (False, MS.NODEV), "nodiratime": (False, MS.NODIRATIME),
    "noexec": (False, MS.NOEXEC), "noiversion": (True, MS.I_VERSION), "nolazytime": (True, MS.LAZYTIME),
    "nomand": (True, MS.MANDLOCK), "norelatime": (True, MS.RELATIME), "nostrictatime": (True, MS.STRICTATIME),
    "nosuid": (False, MS.NOSUID), "nosymfollow": (False, MS.NOSYMFOLLOW),
    "rbind": (False, MS.BIND | MS.REC), "relatime": (False, MS.RELATIME), "remount": (False, MS.REMOUNT),
    "ro": (False, MS.RDONLY), "rw": (True, MS.RDONLY), "silent": (False, MS.SILENT),
    "strictatime": (False, MS.STRICTATIME), "suid": (True, MS.NOSUID), "sync": (False, MS.SYNCHRONOUS),
}
PROPAGATION = {
    "private": MS.PRIVATE, "rprivate": MS.PRIVATE | MS.REC, "shared": MS.SHARED,
    "rshared": MS.SHARED | MS.REC, "slave": MS.SLAVE, "rslave": MS.SLAVE | MS.REC,
    "unbindable": MS.UNBINDABLE, "runbindable": MS.UNBINDABLE | MS.REC,
}
# The recursive options (runc's and crun's): name -> (MOUNT_ATTR_* to set, to clear), applied
# with mount_setattr(AT_RECURSIVE) to the mount and every mount under it.  An access-time
# mode is one value of the MOUNT_ATTR__ATIME field, so setting one clears the field first.
_MA_RDONLY, _MA_NOSUID, _MA_NODEV, _MA_NOEXEC = 0x1, 0x2, 0x4, 0x8
_MA_ATIME, _MA_RELATIME, _MA_NOATIME, _MA_STRICTATIME = 0x70, 0x0, 0x10, 0x20
_MA_NODIRATIME, _MA_IDMAP, _MA_NOSYMFOLLOW = 0x80, 0x100000, 0x200000
REC_ATTRS = {
    "rro": (_MA_RDONLY, 0), "rrw": (0, _MA_RDONLY),
    "rnosuid": (_MA_NOSUID, 0), "rsuid": (0, _MA_NOSUID),
    "rnodev": (_MA_NODEV, 0), "rdev": (0, _MA_NODEV),
    "rnoexec": (_MA_NOEXEC, 0), "rexec": (0, _MA_NOEXEC),
    "rnodiratime": (_MA_NODIRATIME, 0), "rdiratime": (0, _MA_NODIRATIME),
    "rnosymfollow": (_MA_NOSYMFOLLOW, 0), "rsymfollow": (0, _MA_NOSYMFOLLOW),
    "rnoatime": (_MA_NOATIME, _MA_ATIME), "rstrictatime": (_MA_STRICTATIME, _MA_ATIME),
    "rrelatime": (_MA_RELATIME, _MA_ATIME),
    # atime / norelatime / nostrictatime as mount(8) means them, for the whole tree
    "ratime": (_MA_RELATIME, _MA_ATIME), "rnostrictatime": (_MA_RELATIME, _MA_ATIME),
    "rnorelatime": (_MA_STRICTATIME, _MA_ATIME),
}
# statvfs f_flag bits -> MS flags that a bind remount must keep (locked in user namespaces).
_ST_KEEP = ((1, MS.RDONLY), (2, MS.NOSUID), (4, MS.NODEV), (8, MS.NOEXEC),
            (1024, MS.NOATIME), (2048, MS.NODIRATIME), (4096, MS.RELATIME))
O_PATH = posix.O_PATH
RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_IN_ROOT = 0x02, 0x04, 0x10


class Options:
    """Parsed mount options: flags to set, propagation flags, and the data string."""

    def __init__(self, options, field="mounts"):
        self.flags = 0
        self.clear = 0
        self.propagation = []
        self.copyup = False
        self.rec_set = self.rec_clr = 0  # MOUNT_ATTR_* for mount_setattr(AT_RECURSIVE)
        self.idmap = None  # "idmap" / "ridmap"
        data = []
        for opt in options or ():
            if opt == "tmpcopyup":  # runc's extension: tmpfs starts with the image's content
                self.copyup = True
            elif opt in FLAGS:
                clear, flag = FLAGS[opt]
                if clear:
                    self.flags &= ~flag
                    self.clear |= flag
                else:
                    self.flags |= flag
                    self.clear &= ~flag
            elif opt in PROPAGATION:
                self.propagation.append(PROPAGATION[opt])
            elif opt in REC_ATTRS:
                aset, aclr = REC_ATTRS[opt]
                self.rec_set = (self.rec_set & ~aclr) | aset
                self.rec_clr = (self.rec_clr & ~aset) | aclr
            elif opt in ("idmap", "ridmap"):
                self.idmap = opt
            else:
                data.append(opt)
        self.data = ",".join(data)

    @property
    def bind(self):
        return bool(self.flags & MS.BIND)


def mount(source, target, fstype, flags, data=None, *, what=None):
    from runtime._native import ffi, lib

    enc = lambda s: s.encode() if isinstance(s, str) else (s if s is not None else ffi.NULL)  # noqa: E731
    if lib.mount(enc(source), enc(target), enc(fstype), flags, enc(data or None)) != 0:
        err = ffi.errno
        raise RuntimeFailure(f"{what or 'mount ' + str(target)}: {posix.strerror(err)}")


def umount(target, flags=0):
    from runtime._native import ffi, lib

    if lib.umount2(target.encode(), flags) != 0:
        raise OSError(ffi.errno, posix.strerror(ffi.errno), target)


def mount_setattr(fd, attr_set, attr_clr, *, recursive=True, userns_fd=None, what):
    """mount_setattr(2) on the mount fd is (an O_PATH fd or an open_tree fd)."""
    from runtime._native import ffi, lib

    flags = lib.AT_EMPTY_PATH | (lib.AT_RECURSIVE if recursive else 0)
    if lib.pyrunc_mount_setattr(fd, b"", flags, attr_set, attr_clr, 0,
                                0 if userns_fd is None else userns_fd) != 0:
        err = ffi.errno
        raise RuntimeFailure(f"{what}: {posix.strerror(err)}")


def locked_flags(path):
    """The flags of the mount at path that a bind remount has to repeat."""
    try:
        f = posix.statvfs(path).f_flag
    except OSError:
        return 0
    keep = 0
    for st, ms in _ST_KEEP:
        if f & st:
            keep |= ms
    return keep


# -- resolution inside the rootfs ---------------------------------------------------

def openat2(dirfd, path, flags, resolve=RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, mode=0):
    from runtime._native import ffi, lib

    fd = lib.pyrunc_openat2(dirfd, path.encode(), flags | posix.O_CLOEXEC, mode, resolve)
    if fd < 0:
        err = ffi.errno
        raise OSError(err, posix.strerror(err), path)
    return fd


def open_in_root(root_fd, path, create=None, what="mount destination", _links=0):
    """Open path (container-absolute) inside the rootfs as an O_PATH fd.

    create: None, "dir" or "file": make missing components (directories, and the
    last one as create says), each resolved again inside the rootfs.  A dangling
    symlink on the way has its target made (as runc and crun), that target resolved
    inside the rootfs like every other path.
    """
    rel = path.strip("/") or "."
    try:
        return openat2(root_fd, rel, O_PATH)
    except FileNotFoundError:
        if not create:
            raise
    parent, _, name = rel.rpartition("/")
    if name in ("", ".", ".."):
        raise RuntimeFailure(f"{what}: {path} cannot be created")
    pfd = open_in_root(root_fd, parent, "dir", what, _links) if parent else posix.dup(root_fd)
    try:
        try:
            if create == "dir":
                posix.mkdir(name, 0o755, dir_fd=pfd)
            else:
                posix.close(posix.open(name, posix.O_CREAT | posix.O_EXCL | posix.O_WRONLY | posix.O_NOFOLLOW
                                 | posix.O_CLOEXEC, 0o644, dir_fd=pfd))
        except FileExistsError:
            link = _readlink_at(pfd, name)
            if link is not None:  # a dangling symlink: make its target instead
                if _links >= 40:
                    raise RuntimeFailure(f"{what}: {path}: too many levels of symbolic links") from None
                base = "/" if link.startswith("/") else _path_in_root(root_fd, pfd, what, path)
                return open_in_root(root_fd, base.rstrip("/") + "/" + link.lstrip("/"), create,
                                    what, _links + 1)
        except NotADirectoryError:
            raise RuntimeFailure(f"{what}: {path}: a parent is not a directory") from None
    finally:
        posix.close(pfd)
    try:
        return openat2(root_fd, rel, O_PATH)
    except FileNotFoundError:
        raise RuntimeFailure(f"{what}: {path} is a dangling symlink") from None


def _readlink_at(dirfd, name):
    try:
        return posix.readlink(name, dir_fd=dirfd)
    except OSError:  # EINVAL: not a symlink (or gone)
        return None


def _path_in_root(root_fd, fd, what, path):
    """Where the directory fd (opened inside the rootfs) is, as a container path."""
    root = posix.readlink(fd_path(root_fd)).rstrip("/")
    here = posix.readlink(fd_path(fd))
    if here == root or here == root + "/":
        return "/"
    if not here.startswith(root + "/"):
        raise RuntimeFailure(f"{what}: {path} resolves outside the rootfs")
    return here[len(root):]


def fd_path(fd):
    return f"/proc/self/fd/{fd}"


# -- the steps of the rootfs --------------------------------------------------------

def prepare_root(rootfs, propagation):
    """Make the mount tree private to this namespace and the rootfs a mount point."""
    flag = PROPAGATION.get(propagation or "", 0)
    # unbindable (and shared) are for the container's / only: applied after pivot_root
    base = flag if flag & (MS.PRIVATE | MS.SLAVE) else MS.SLAVE | MS.REC
    mount(None, "/", None, base, what="linux.rootfsPropagation: make / " + (propagation or "rslave"))
    _make_parent_mount_private(rootfs)
    mount(rootfs, rootfs, None, MS.BIND | MS.REC, what=f"root.path: bind {rootfs}")


def _make_parent_mount_private(rootfs):
    """The mount holding rootfs made a slave (runc makes it private): the bind of the
    rootfs below then propagates nowhere outside, does not fail on an unbindable parent
    (rootfsPropagation: unbindable) and pivot_root's checks pass; unlike private, the
    bind keeps the host as its master, so rootfsPropagation `slave` is a real slave.
    The requested propagation is applied to the container's / after pivot_root
    (set_root_propagation)."""
    from runtime._native import ffi, lib

    path = ospath.realpath(rootfs)
    while True:
        if lib.mount(ffi.NULL, path.encode(), ffi.NULL, MS.SLAVE, ffi.NULL) == 0:
            return
        err = ffi.errno
        if err != 22 or path == "/":  # EINVAL: not a mount point, try its parent
            raise RuntimeFailure(f"root.path: make the mount of {path} a slave: {posix.strerror(err)}")
        path = ospath.dirname(path)


# The only destinations inside /proc a mount may cover: the files lxcfs emulates (runc's
# list).  Anything else there (a bind over /proc/sys/net/ipv4 holding a symlink named
# ip_forward, say) could redirect the runtime's own procfs writes to the host.
PROC_OVERLAYS = frozenset((
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
    "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
))


def normalize(dest):
    """A mount destination as a clean container-absolute path."""
    return ospath.normpath("/" + dest.lstrip("/"))


def proc_destination_problem(dest, fstype, options):
    """Why a mount on dest is refused for its place in /proc (None when it is not).
    Shared by validation (up front) and do_mount; do_mount also checks where the
    destination really resolves to, and that a bind on /proc comes from a procfs."""
    d = normalize(dest)
    if d == "/proc":
        if fstype in ("proc", "bind") or any(o in ("bind", "rbind") for o in options or ()):
            return None
        return f"{dest} cannot be mounted because it is not of type proc"
    if d.startswith("/proc/") and d not in PROC_OVERLAYS:
        return f"{dest} cannot be mounted because it is inside /proc"
    return None


def _fd_on_procfs(fd):
    from runtime import procfs

    return procfs.is_procfs(fd)


def _on_procfs(source, bundle):
    """Is the bind source on a procfs?  None when it cannot be opened (the bind says why)."""
    if not source:
        return None
    path = source if ospath.isabs(source) else ospath.join(bundle, source)
    try:
        fd = posix.open(path, posix.O_PATH | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _fd_on_procfs(fd)
    finally:
        posix.close(fd)


# -- bind sources opened with the runtime's own privileges (open_tree) ----------------

def _bind_source(m, bundle):
    source = m.get("source")
    if source and not ospath.isabs(source):
        source = ospath.join(bundle, source)
    return source


def _is_bind(m, opts):
    return opts.bind or m.get("type") == "bind"


def preopen_binds(config, bundle, all_binds, userns_fd=None, rootfs=None):
    """{index: (tree fd, "dir"/"file")} of mounts[]'s bind sources, each a detached clone
    (open_tree(OPEN_TREE_CLONE)) made now, with the runtime's privileges in the host's
    mount namespace: before the container's user namespace is entered (all_binds: a
    source under a directory the mapped root cannot search still works), and for every
    idmapped mount, which the kernel idmaps only while it is detached.  do_mount attaches
    the clone with move_mount.  The caller closes the fds (they are O_CLOEXEC).

    An idmapped mount without mappings of its own uses the container's: those of the
    joined user namespace userns_fd, or linux.uidMappings/gidMappings (an identical
    user namespace made for it: an idmapping is its maps, not which namespace holds them)."""
    import _stat

    from runtime._native import ffi, lib

    out = {}
    try:
        for i, m in enumerate(config.get("mounts") or ()):
            dest = m.get("destination") or ""
            field = f"mounts[{i}] ({dest if dest.startswith('/') else '/' + dest})"
            opts = Options(m.get("options"), field)
            idmap = opts.idmap or m.get("uidMappings") or m.get("gidMappings")
            if not (_is_bind(m, opts) and (all_binds or idmap)):
                if idmap:
                    raise RuntimeFailure(f"{field}.options: idmapped mounts are supported for bind mounts only")
                continue
            source = _bind_source(m, bundle)
            if not source:
                raise RuntimeFailure(f"{field}.source: a bind mount needs a source")
            if not idmap and rootfs and (ospath.realpath(source) + "/").startswith(rootfs.rstrip("/") + "/"):
                continue  # in the rootfs: bound in stage2, with the mounts made before it under it
            if proc_destination_problem(dest, m.get("type"), m.get("options")):
                continue  # do_mount refuses it with its reason
            flags = lib.OPEN_TREE_CLONE | lib.OPEN_TREE_CLOEXEC | (lib.AT_RECURSIVE if opts.flags & MS.REC else 0)
            fd = lib.pyrunc_open_tree(-100, source.encode(), flags)
            if fd < 0:
                raise RuntimeFailure(f"{field}.source: {source}: {posix.strerror(ffi.errno)}")
            out[i] = (fd, "dir" if _stat.S_ISDIR(posix.fstat(fd).st_mode) else "file")
            if idmap:
                _idmap_tree(fd, m, opts, field, (config.get("linux") or {}), userns_fd)
    except BaseException:
        close_trees(out)
        raise
    return out


def close_trees(trees):
    for fd, _ in (trees or {}).values():
        try:
            posix.close(fd)
        except OSError:
            pass


def _idmap_tree(fd, m, opts, field, linux, userns_fd):
    """MOUNT_ATTR_IDMAP on the detached tree fd with a user namespace made for the
    mount's uidMappings/gidMappings (the owner on disk is the containerID of a mapping,
    seen as its hostID: mount_setattr(2))."""
    uid_maps, gid_maps = m.get("uidMappings"), m.get("gidMappings")
    if not uid_maps and not gid_maps:
        if userns_fd is not None:
            _idmap_setattr(fd, opts, userns_fd, field, m)
            return
        uid_maps, gid_maps = linux.get("uidMappings"), linux.get("gidMappings")
    if not uid_maps or not gid_maps:
        raise RuntimeFailure(f"{field}.options: {opts.idmap or 'idmap'} needs both uidMappings and "
                             "gidMappings (on the mount, or the container's in linux)")
    userns = _mapping_userns(uid_maps, gid_maps, field)
    try:
        _idmap_setattr(fd, opts, userns, field, m)
    finally:
        posix.close(userns)


def _idmap_setattr(fd, opts, userns_fd, field, m):
    what = f"{field}: idmap the mount of {m.get('source')}"
    try:
        mount_setattr(fd, _MA_IDMAP, 0, recursive=opts.idmap == "ridmap", userns_fd=userns_fd, what=what)
    except RuntimeFailure as e:
        if not str(e).endswith(posix.strerror(22)):  # EINVAL: mostly a filesystem this kernel cannot
            raise                                 # idmap (tmpfs before Linux 6.3): say so
        from runtime import procfs

        try:
            magic = procfs.fs_type(fd)
        except OSError:
            magic = None
        kind = {0x01021994: "tmpfs", 0xEF53: "ext4"}.get(magic, f"type {magic:#x}" if magic else "unknown")
        raise RuntimeFailure(f"{e} (its filesystem, {kind}, cannot be idmapped by this kernel, "
                             f"{posix.uname().release})") from None


def _mapping_userns(uid_maps, gid_maps, field):
    """An fd of a new user namespace with these mappings: a child unshares it and waits
    while we write its maps and open its ns file, then exits."""
    from runtime import namespaces, procfs

    r1, w1 = posix.pipe2(posix.O_CLOEXEC)
    r2, w2 = posix.pipe2(posix.O_CLOEXEC)
    pid = posix.fork()
    if pid == 0:
        code = 1
        try:
            posix.close(r1)
            posix.close(w2)
            namespaces.unshare(namespaces.TYPES["user"][0], "user namespace")
            posix.write(w1, b"u")
            posix.read(r2, 1)  # until the parent is done (EOF)
            code = 0
        finally:
            posix._exit(code)
    posix.close(w1)
    posix.close(r2)
    try:
        if posix.read(r1, 1) != b"u":
            raise RuntimeFailure(f"{field}: cannot create a user namespace for the mapping")
        procfs.write(f"{pid}/uid_map", namespaces.format_map(uid_maps), f"{field}.uidMappings")
        procfs.write(f"{pid}/gid_map", namespaces.format_map(gid_maps), f"{field}.gidMappings")
        proc_fd = procfs.open_root(what=field)
        try:
            nsdir = procfs.open_at(proc_fd, f"{pid}/ns", posix.O_PATH | posix.O_DIRECTORY, field)
        finally:
            posix.close(proc_fd)
        try:
            return posix.open("user", posix.O_RDONLY | posix.O_CLOEXEC, dir_fd=nsdir)  # the nsfs file
        finally:
            posix.close(nsdir)
    finally:
        posix.close(w2)
        posix.close(r1)
        posix.waitpid(pid, 0)


def _move_tree(tree, target_fd, what):
    from runtime._native import ffi, lib

    if lib.pyrunc_move_mount(tree, b"", target_fd, b"",
                             lib.MOVE_MOUNT_F_EMPTY_PATH | lib.MOVE_MOUNT_T_EMPTY_PATH) != 0:
        raise RuntimeFailure(f"{what}: {posix.strerror(ffi.errno)}")


def do_mount(root_fd, m, i, bundle, cgroup_ns, tree=None):
    """Mount one entry of config mounts[] under the rootfs."""
    dest = m["destination"]
    if not dest.startswith("/"):
        dest = "/" + dest  # the spec's older relative destinations are relative to /
    idx = f"mounts[{i}]"
    field = f"{idx} ({dest})"  # engines' users know the destination, not the index
    opts = Options(m.get("options"), field)
    fstype = m.get("type") or None
    source = m.get("source")
    if fstype == "bind":
        opts.flags |= MS.BIND
    if normalize(dest) == "/dev":
        # As runc: /dev is made read-only only at the end (remount_dev_readonly), once the
        # mounts under it (/dev/pts, /dev/shm), the devices and /dev/console are made.
        opts.flags &= ~MS.RDONLY
    problem = proc_destination_problem(dest, fstype, m.get("options"))
    if problem:
        raise RuntimeFailure(f"mounts[{i}].destination: {problem}")
    if opts.bind and normalize(dest) == "/proc" and (
            _on_procfs(source, bundle) if tree is None else _fd_on_procfs(tree[0])) is False:
        raise RuntimeFailure(f"mounts[{i}].source: a bind mount on /proc must come from a procfs "
                             f"({source} is not on one)")
    if tree is not None:  # opened by preopen_binds
        kind = tree[1]
        if not ospath.isabs(source):
            source = ospath.join(bundle, source)
    elif opts.bind:
        if not source:
            raise RuntimeFailure(f"{field}.source: a bind mount needs a source")
        if not ospath.isabs(source):
            source = ospath.join(bundle, source)
        try:
            st = posix.stat(source)
        except OSError as e:
            raise RuntimeFailure(f"{field}.source: {source}: {e.strerror}") from None
        import _stat

        kind = "dir" if _stat.S_ISDIR(st.st_mode) else "file"
    elif fstype == "cgroup":
        return mount_cgroup(root_fd, dest, opts, field, cgroup_ns)
    else:
        kind = "dir"
    try:
        fd = open_in_root(root_fd, dest, kind, f"{idx}.destination")
    except OSError as e:
        raise RuntimeFailure(f"{idx}.destination: {dest}: {e.strerror}") from None
    try:
        if normalize(dest) not in PROC_OVERLAYS and normalize(dest) != "/proc" and _fd_on_procfs(fd):
            raise RuntimeFailure(f"mounts[{i}].destination: {dest} resolves into /proc: cannot be "
                                 "mounted because it is inside /proc")
        target = fd_path(fd)
        if opts.bind:
            if tree is not None:
                _move_tree(tree[0], fd, f"{field}: bind {source} on {dest}")
            else:
                mount(source, target, None, MS.BIND | (opts.flags & MS.REC), what=f"{field}: bind {source} on {dest}")
            extra = opts.flags & ~(MS.BIND | MS.REC | MS.REMOUNT)
            if extra:
                # Re-resolve: the bind has put a new mount on top of the fd's dentry.
                posix.close(fd)
                fd = open_in_root(root_fd, dest, None, f"{idx}.destination")
                target = fd_path(fd)
                flags = MS.BIND | MS.REMOUNT | extra | (locked_flags(target) & ~opts.clear)
                mount(None, target, None, flags, what=f"{field}: remount {dest} with {m.get('options')}")
        elif opts.copyup and fstype == "tmpfs":
            _tmpfs_copyup(root_fd, fd, dest, opts, field)
        else:
            mount(source or fstype or "none", target, fstype, opts.flags, opts.data,
                  what=f"{field}: mount {fstype} on {dest}")
        if opts.rec_set or opts.rec_clr:
            posix.close(fd)
            fd = open_in_root(root_fd, dest, None, f"{idx}.destination")  # the new mount
            mount_setattr(fd, opts.rec_set, opts.rec_clr,
                          what=f"{field}: set recursive attributes {m.get('options')} on {dest}")
        if opts.propagation:
            posix.close(fd)
            fd = open_in_root(root_fd, dest, None, f"{idx}.destination")
            for p in opts.propagation:
                mount(None, fd_path(fd), None, p, what=f"{field}: set propagation of {dest}")
    finally:
        posix.close(fd)


def _tmpfs_copyup(root_fd, fd, dest, opts, field):
    """tmpcopyup: a tmpfs on dest that starts with what the image has there.

    The image's directory is opened before the tmpfs hides it; the open fd still reads
    the directory underneath, so the copy needs no temporary mount point, and every step
    is relative to a verified fd with no symlink followed.
    """
    try:
        src = posix.open(".", posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC, dir_fd=fd)  # the resolved dest
    except OSError as e:
        raise RuntimeFailure(f"{field}: tmpcopyup: open {dest}: {e.strerror}") from None
    try:
        data = opts.data
        if not any(o.startswith("mode=") for o in data.split(",")):  # as runc: keep the dir's mode
            data = ",".join(filter(None, [data, "mode=%o" % (posix.fstat(src).st_mode & 0o7777)]))
        mount("tmpfs", fd_path(fd), "tmpfs", opts.flags, data, what=f"{field}: mount tmpfs on {dest}")
        try:
            dst = openat2(root_fd, dest.strip("/") or ".", posix.O_RDONLY | posix.O_DIRECTORY)  # the new tmpfs
        except OSError as e:
            raise RuntimeFailure(f"{field}: tmpcopyup: open the new tmpfs: {e.strerror}") from None
        try:
            if posix.fstat(dst).st_dev == posix.fstat(src).st_dev or posix.listdir(dst):
                # not the empty tmpfs just made: the path was swapped under us
                raise RuntimeFailure(f"{field}: tmpcopyup: {dest} changed while it was mounted")
            _copy_tree(src, dst, dest)
        except OSError as e:
            where = e.filename if isinstance(e.filename, str) else dest
            raise RuntimeFailure(f"{field}: tmpcopyup: copy {where}: {e.strerror}") from None
        finally:
            posix.close(dst)
    finally:
        posix.close(src)


def _copy_tree(src, dst, path):
    """Copy the entries of directory fd src into directory fd dst, keeping type, mode,
    owner and times; symlinks are copied as links, never followed."""
    import _stat as S

    nofollow = posix.O_NOFOLLOW | posix.O_CLOEXEC
    with posix.scandir(src) as it:
        entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
    for name, st in entries:
        where = f"{path.rstrip('/')}/{name}"
        mode = st.st_mode
        try:
            if S.S_ISDIR(mode):
                posix.mkdir(name, 0o700, dir_fd=dst)
                s2 = posix.open(name, posix.O_RDONLY | posix.O_DIRECTORY | nofollow, dir_fd=src)
                try:
                    d2 = posix.open(name, posix.O_RDONLY | posix.O_DIRECTORY | nofollow, dir_fd=dst)
                    try:
                        _copy_tree(s2, d2, where)
                    finally:
                        posix.close(d2)
                finally:
                    posix.close(s2)
            elif S.S_ISREG(mode):
                fin = posix.open(name, posix.O_RDONLY | nofollow, dir_fd=src)
                try:
                    fout = posix.open(name, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | nofollow, 0o600, dir_fd=dst)
                    try:
                        left = st.st_size
                        while left > 0:
                            n = posix.sendfile(fout, fin, None, min(left, 1 << 30))
                            if n == 0:
                                break
                            left -= n
                    finally:
                        posix.close(fout)
                finally:
                    posix.close(fin)
            elif S.S_ISLNK(mode):
                posix.symlink(posix.readlink(name, dir_fd=src), name, dir_fd=dst)
            else:  # devices, fifos, sockets: the node itself
                posix.mknod(name, mode, st.st_rdev, dir_fd=dst)
        except OSError as e:
            e.filename = where
            raise
        try:
            posix.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        except OSError as e:  # an owner the container's user namespace does not map
            if e.errno not in (22, 1):  # EINVAL, EPERM
                e.filename = where
                raise
        if not S.S_ISLNK(mode):
            posix.chmod(name, S.S_IMODE(mode), dir_fd=dst)
        posix.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)


# /proc/self/mountinfo as the runtime read it before the container's mount namespace was
# made as a copy of its own (init sets it: runtime.cgroups.mountinfo_read()); None: read it
HOST_MOUNTINFO = None


def _cgroup_hierarchies():
    """[(mount point, root, fstype, super options)] of the cgroup file systems we can see
    (the cgroup mounts this mount namespace has made since are inside the rootfs)."""
    text = HOST_MOUNTINFO
    if text is None:
        with open("/proc/self/mountinfo") as f:
            text = f.read()
    out = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rf = right.split()
        if rf and rf[0] in ("cgroup", "cgroup2"):
            out.append((fields[4], fields[3], rf[0], rf[2] if len(rf) > 2 else ""))
    return out


def _own_cgroups():
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            own[ctrls] = path
    return own


def mount_cgroup(root_fd, dest, opts, field, cgroup_ns):
    """A `cgroup` mount: the container's own cgroups, v1 hierarchies under a tmpfs or cgroup2."""
    hier = _cgroup_hierarchies()
    ro = opts.flags & MS.RDONLY
    base = opts.flags & ~MS.RDONLY
    unified_only = all(h[2] == "cgroup2" for h in hier) and any(h[0] == "/sys/fs/cgroup" for h in hier)
    fd = open_in_root(root_fd, dest, "dir", f"{field}.destination")
    try:
        if _fd_on_procfs(fd):
            raise RuntimeFailure(f"{field}.destination: {dest} resolves into /proc: cannot be mounted "
                                 "because it is inside /proc")
        if unified_only:
            mount("cgroup2", fd_path(fd), "cgroup2", opts.flags, what=f"{field}: mount cgroup2 on {dest}")
            return
        mount("tmpfs", fd_path(fd), "tmpfs", base, "mode=755", what=f"{field}: mount tmpfs on {dest}")
    finally:
        posix.close(fd)
    own = _own_cgroups()
    # the tmpfs just mounted is ours and empty: its directories are made and reached by
    # name from its root, with no symlink to resolve
    tfd = open_in_root(root_fd, dest, None, f"{field}.destination")
    try:
        for mnt, mroot, fstype, sopts in hier:
            if not mnt.startswith("/sys/fs/cgroup/"):
                continue
            name = mnt[len("/sys/fs/cgroup/"):]
            if "/" in name:
                continue
            try:
                posix.mkdir(name, 0o755, dir_fd=tfd)
            except OSError as e:
                raise RuntimeFailure(f"{field}: make {dest.rstrip('/')}/{name}: {e.strerror}") from None
            if cgroup_ns:
                sfd = posix.open(name, O_PATH | posix.O_NOFOLLOW | posix.O_CLOEXEC, dir_fd=tfd)
                try:
                    mount("cgroup", fd_path(sfd), fstype, base | ro,
                          None if fstype == "cgroup2" else _v1_controllers(sopts),
                          what=f"{field}: mount cgroup {name}")
                finally:
                    posix.close(sfd)
            else:
                key = "" if fstype == "cgroup2" else _v1_key(sopts, own)
                path = own.get(key, "/")
                rel = ospath.relpath(path, mroot) if mroot != "/" else path.lstrip("/")
                _bind_cgroup(ospath.normpath(ospath.join(mnt, rel)), tfd, name, base | ro, f"{field}: bind cgroup {name}")
    finally:
        posix.close(tfd)
    if ro:
        fd = open_in_root(root_fd, dest, None, f"{field}.destination")
        try:
            mount(None, fd_path(fd), None, MS.REMOUNT | base | MS.RDONLY, "mode=755",
                  what=f"{field}: remount {dest} read-only")
        finally:
            posix.close(fd)


def _bind_cgroup(src, dir_fd, name, flags, what):
    """The host's cgroup directory src (and the mounts under it) bound at dir_fd/name
    with the MS_* flags: a detached copy (open_tree) given them before it is attached
    (mount_setattr on its top, move_mount), as a bind and a remount would.  Only set,
    never cleared, like a remount that repeats the flags the source has (a user
    namespace locks them); the access-time mode is left as the source has it unless
    noatime or strictatime is asked for.  A kernel without these calls (before 5.12)
    gets the bind and the remount."""
    from runtime._native import ffi, lib

    attr_set = attr_clr = 0
    for ms, ma in ((MS.RDONLY, _MA_RDONLY), (MS.NOSUID, _MA_NOSUID), (MS.NODEV, _MA_NODEV),
                   (MS.NOEXEC, _MA_NOEXEC), (MS.NODIRATIME, _MA_NODIRATIME)):
        if flags & ms:
            attr_set |= ma
    if flags & (MS.NOATIME | MS.STRICTATIME):
        attr_set |= _MA_NOATIME if flags & MS.NOATIME else _MA_STRICTATIME
        attr_clr = _MA_ATIME
    tree = lib.pyrunc_open_tree(-100, src.encode(), lib.OPEN_TREE_CLONE | lib.OPEN_TREE_CLOEXEC | lib.AT_RECURSIVE)
    if tree < 0:
        if ffi.errno == 38:  # ENOSYS
            return _bind_remount(src, dir_fd, name, flags, what)
        raise RuntimeFailure(f"{what}: {src}: {posix.strerror(ffi.errno)}")
    try:
        if (attr_set or attr_clr) and lib.pyrunc_mount_setattr(tree, b"", lib.AT_EMPTY_PATH, attr_set, attr_clr, 0, 0) != 0:
            if ffi.errno == 38:
                return _bind_remount(src, dir_fd, name, flags, what)
            raise RuntimeFailure(f"{what}: {posix.strerror(ffi.errno)}")
        if lib.pyrunc_move_mount(tree, b"", dir_fd, name.encode(), lib.MOVE_MOUNT_F_EMPTY_PATH) != 0:
            if ffi.errno == 38:
                return _bind_remount(src, dir_fd, name, flags, what)
            raise RuntimeFailure(f"{what}: {posix.strerror(ffi.errno)}")
    finally:
        posix.close(tree)


def _bind_remount(src, dir_fd, name, flags, what):
    """_bind_cgroup with mount(2): the bind, then a remount of the new mount with the
    flags and those the source has (locked in a user namespace)."""
    fd = posix.open(name, O_PATH | posix.O_NOFOLLOW | posix.O_CLOEXEC, dir_fd=dir_fd)
    try:
        mount(src, fd_path(fd), None, MS.BIND | MS.REC, what=what)
    finally:
        posix.close(fd)
    fd = posix.open(name, O_PATH | posix.O_NOFOLLOW | posix.O_CLOEXEC, dir_fd=dir_fd)  # the new mount
    try:
        target = fd_path(fd)
        mount(None, target, None, MS.BIND | MS.REMOUNT | flags | locked_flags(target), what=what)
    finally:
        posix.close(fd)


def _v1_controllers(sopts):
    keep = [o for o in sopts.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent")]
    return ",".join(keep)


def _v1_key(sopts, own):
    names = set(_v1_controllers(sopts).split(","))
    for key in own:
        if key and set(key.split(",")) == names:
            return key
    return next((k for k in own if k and set(k.split(",")) & names), "")


def pivot(rootfs):
    """pivot_root into rootfs and detach the old root (no temporary directory needed)."""
    from runtime._native import ffi, lib

    old = posix.open("/", posix.O_DIRECTORY | posix.O_RDONLY | posix.O_CLOEXEC)
    new = posix.open(rootfs, posix.O_DIRECTORY | posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        posix.fchdir(new)
        if lib.pyrunc_pivot_root(b".", b".") != 0:
            raise RuntimeFailure(f"pivot_root {rootfs}: {posix.strerror(ffi.errno)}")
        posix.fchdir(old)
        mount(None, ".", None, MS.SLAVE | MS.REC, what="make the old root a slave")
        umount(".", 2)  # MNT_DETACH
        posix.chdir("/")
    finally:
        posix.close(old)
        posix.close(new)


def move_root(rootfs):
    """--no-pivot: move the rootfs onto / and chroot into it.

    Without pivot_root the host's mounts stay in the container's mount namespace, under
    the chroot: every one outside the new root is detached first (a mount that holds
    the rootfs cannot be, and is not visible from inside).  A fully visible procfs or
    sysfs left there would let a nested user namespace mount a fresh, unmasked /proc
    (the kernel's mount_too_revealing check); one that cannot be detached (locked in a
    user namespace) is covered with an empty tmpfs, as runc does."""
    _detach_outside(ospath.realpath(rootfs))
    posix.chdir(rootfs)
    mount(rootfs, "/", None, MS.MOVE, what=f"move {rootfs} to /")
    posix.chroot(".")
    posix.chdir("/")


def _unescape(field):
    """A mountinfo path field: space, tab, newline and backslash are octal escapes."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _outside(rootfs, proc_self):
    """[(mount point, fstype)] of the mounts outside rootfs (but those holding it)."""
    keep = rootfs.rstrip("/") + "/"
    found = []
    with open(posix.open("mountinfo", posix.O_RDONLY | posix.O_CLOEXEC, dir_fd=proc_self)) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            point = _unescape(left.split()[4])
            if point == "/" or (point + "/").startswith(keep) or keep.startswith(point + "/"):
                continue  # the new root, what is in it, and the mounts holding it
            found.append((point, right.split()[0] if right else ""))
    return found


def _detach_outside(rootfs):
    # opened first: the detached procfs still answers through it
    proc_self = posix.open("/proc/self", posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        mount(None, "/", None, MS.SLAVE | MS.REC, what="--no-pivot: make the mounts slaves")  # no umount event out
        for point, _ in sorted(_outside(rootfs, proc_self), key=lambda p: -p[0].count("/")):
            try:
                umount(point, 2)  # MNT_DETACH
            except OSError:
                pass  # gone with a parent already, or locked (checked below)
        left = _outside(rootfs, proc_self)
    finally:
        posix.close(proc_self)
    for point, fstype in left:
        if fstype in ("proc", "sysfs"):
            mount("tmpfs", point, "tmpfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, "size=0k",
                  what=f"--no-pivot: cover {point} (it cannot be detached)")


def set_root_propagation(propagation):
    """linux.rootfsPropagation on the container's / (after pivot_root or the move)."""
    flag = PROPAGATION.get(propagation or "")
    if flag:
        mount(None, "/", None, flag, what=f"linux.rootfsPropagation: make / {propagation}")


def remount_dev_readonly(config_mounts):
    """The read-only /dev of mounts[] (its ro held back by do_mount), after everything
    under it is made; called in the container's root."""
    last = None
    for i, m in enumerate(config_mounts or ()):
        if m.get("destination") and normalize(m["destination"]) == "/dev":
            last = (i, m)
    if last is None or not Options(last[1].get("options")).flags & MS.RDONLY:
        return
    i, m = last
    root = posix.open("/", posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)  # the container's root
    try:
        fd = open_in_root(root, "/dev", None, f"mounts[{i}].destination")
    finally:
        posix.close(root)
    try:
        target = fd_path(fd)
        mount(None, target, None, MS.BIND | MS.REMOUNT | MS.RDONLY | locked_flags(target),
              what=f"mounts[{i}] (/dev): remount /dev read-only")
    finally:
        posix.close(fd)


def readonly_root():
    mount(None, "/", None, MS.BIND | MS.REMOUNT | MS.RDONLY | locked_flags("/"),
          what="root.readonly: remount / read-only")


def mask_paths(paths):
    """linux.maskedPaths: /dev/null over files, an empty read-only tmpfs over directories.

    Files are masked with the container's /dev/null only once it is verified to be the
    null device (char 1:3, opened with no symlink followed) and through that fd: a /dev
    from a volume whose `null` is a symlink into /proc would otherwise bind a host value
    over the masked path (CVE-2025-31133).  Anything else fails closed."""
    null = None
    try:
        for i, p in enumerate(paths or ()):
            if ospath.isdir(p) and not ospath.islink(p):
                mount("tmpfs", p, "tmpfs", MS.RDONLY, "size=0k", what=f"linux.maskedPaths[{i}]: mask {p}")
            elif ospath.lexists(p):
                if null is None:
                    null = _verified_dev_null(f"linux.maskedPaths[{i}]")
                mount(fd_path(null), p, None, MS.BIND, what=f"linux.maskedPaths[{i}]: mask {p}")
    finally:
        if null is not None:
            posix.close(null)


def _verified_dev_null(field):
    import _stat as stat

    try:
        fd = openat2(-100, "/dev/null", O_PATH | posix.O_NOFOLLOW,  # AT_FDCWD: the container's /
                     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
    except OSError as e:
        why = "it is a symlink or under one" if e.errno == 40 else e.strerror
        raise RuntimeFailure(f"{field}: cannot mask with the container's /dev/null: {why}") from None
    st = posix.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != posix.makedev(1, 3):
        posix.close(fd)
        raise RuntimeFailure(f"{field}: the container's /dev/null is not the null device (char 1:3): "
                             "refusing to mask with it")
    return fd


def readonly_paths(paths):
    for i, p in enumerate(paths or ()):
        if not ospath.lexists(p):
            continue
        mount(p, p, None, MS.BIND | MS.REC, what=f"linux.readonlyPaths[{i}]: bind {p}")
        mount(None, p, None, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.REC | locked_flags(p),
              what=f"linux.readonlyPaths[{i}]: remount {p} read-only")

