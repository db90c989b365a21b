"""Writes into procfs through verified fds (the CVE-2025-52881 class).

A path under /proc can be redirected: a mount over part of it (or over /proc itself)
or a symlink planted where a sysctl is expected would send a write meant for the
container to a host-wide setting.  Every runtime write into procfs therefore starts
from an fd of /proc that fstatfs says is a procfs (and is the root of one), and opens
its target with openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS
| RESOLVE_BENEATH): no symlink followed, no mount crossed, nothing outside /proc.
Paths are relative to /proc and name a pid explicitly (no `self`: it is a symlink).
"""
import posix

from runtime.errors import RuntimeFailure

PROC_SUPER_MAGIC = 0x9FA0
PROC_ROOT_INO = 1
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH = 0x01, 0x02, 0x04, 0x08
STRICT = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH


def fs_type(fd):
    """The f_type of the file system fd is on (fstatfs)."""
    from runtime._native import ffi, lib

    buf = ffi.new("struct statfs *")
    if lib.fstatfs(fd, buf) != 0:
        err = ffi.errno
        raise OSError(err, posix.strerror(err))
    return buf.f_type


def is_procfs(fd):
    try:
        return fs_type(fd) == PROC_SUPER_MAGIC
    except OSError:
        return False


def open_root(path="/proc", what="/proc"):
    """An O_PATH fd of the procfs mounted at path, verified to be a procfs's root."""
    try:
        fd = posix.open(path, posix.O_PATH | posix.O_DIRECTORY | posix.O_NOFOLLOW | posix.O_CLOEXEC)
    except OSError as e:
        raise RuntimeFailure(f"{what}: open {path}: {e.strerror}") from None
    try:
        if not is_procfs(fd) or posix.fstat(fd).st_ino != PROC_ROOT_INO:
            raise RuntimeFailure(f"{what}: {path} is not the root of a procfs")
    except BaseException:
        posix.close(fd)
        raise
    return fd


def open_at(proc_fd, rel, flags, what):
    """Open rel (relative to /proc) under the verified proc_fd, following nothing."""
    from runtime.mounts import openat2

    try:
        fd = openat2(proc_fd, rel, flags, STRICT)
    except OSError as e:
        if e.errno in (18, 40):  # EXDEV, ELOOP: a mount or a symlink on the way
            raise RuntimeFailure(f"{what}: /proc/{rel} is redirected (a mount or a symlink "
                                 f"on its path): refusing to write through it") from None
        raise RuntimeFailure(f"{what}: /proc/{rel}: {e.strerror}") from None
    if not is_procfs(fd):
        posix.close(fd)
        raise RuntimeFailure(f"{what}: /proc/{rel} is not on procfs")
    return fd


def write(rel, data, what, proc_fd=None):
    """Write data (str or bytes) to /proc/rel in one write(2); errors name `what`."""
    own = proc_fd is None
    if own:
        proc_fd = open_root(what=what)
    try:
        fd = open_at(proc_fd, rel, posix.O_WRONLY, what)
    finally:
        if own:
            posix.close(proc_fd)
    try:
        b = data.encode() if isinstance(data, str) else data
        posix.write(fd, b)
    except OSError as e:
        raise RuntimeFailure(f"{what}: write /proc/{rel}: {e.strerror}") from None
    finally:
        posix.close(fd)
