"""Container state on disk: one directory per container under --root, locked per operation.

<root>/<id>/state.json   what later commands need (pid, start time, bundle, cgroups, ...)
<root>/<id>/exec.fifo    exists from create until start: the start signal

Every operation on a container holds an exclusive flock on its directory, so two
concurrent calls on one id cannot interleave.  state.json is written atomically
(write to a temporary file, rename).

--root may be shared with another runtime (containerd's shim passes the same root to
whichever binary it runs).  pyrunc's directories carry the sticky bit from the mkdir
that makes them (mode 01700, set atomically, which umask cannot clear); a directory
without it was not written by pyrunc and is never read, listed or deleted: for pyrunc
that container does not exist.  A directory of ours is ours from its first instant, so
even one left empty by a kill -9 is removed by the next `delete --force`.
"""
import errno
import fcntl
import os

from runtime import jsonio
from runtime.errors import NotFound, RuntimeFailure

DEFAULT_ROOT = "/run/pyrunc"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")

# Statuses of the runtime-spec, plus runc's "paused".
CREATING, CREATED, RUNNING, PAUSED, STOPPED = "creating", "created", "running", "paused", "stopped"
DIR_MODE = 0o1700  # S_ISVTX marks pyrunc's state directories


def check_id(cid):
    """Container ids are runc's set ([A-Za-z0-9_+-.]), never '.', '..' or empty."""
    if not cid:
        raise RuntimeFailure("container id cannot be empty")
    if cid in (".", "..") or not _valid_chars(cid) or len(cid) > 1024:
        raise RuntimeFailure(f"invalid container id {cid!r}: only letters, digits and _+-. are allowed")
    return cid


def proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat (clock ticks since boot), or None if the process is gone.

    Zombies count as gone: a container whose init has exited is stopped even before
    its parent reaps it.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def _valid_chars(s):
    return bool(s) and all(ch in _ID_CHARS for ch in s)


class Root:
    def __init__(self, path):
        self.path = os.path.abspath(path or DEFAULT_ROOT)

    def ensure(self):
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
        except OSError as e:
            raise RuntimeFailure(f"--root {self.path}: {e.strerror}") from None

    def dir_of(self, cid):
        return os.path.join(self.path, check_id(cid))

    def ids(self):
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if _valid_chars(n) and n not in (".", ".."))


class Container:
    """A locked handle on one container's state directory."""

    def __init__(self, root, cid, fd, data):
        self.root = root
        self.id = cid
        self.dir = root.dir_of(cid)
        self._fd = fd
        self.data = data

    # -- opening -------------------------------------------------------------
    @classmethod
    def new(cls, root, cid):
        """Create the directory of a new container and lock it; fails if the id exists."""
        root.ensure()
        d = root.dir_of(cid)
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            raise RuntimeFailure(f"container with id {cid} already exists") from None
        except OSError as e:
            raise RuntimeFailure(f"create state directory {d}: {e.strerror}") from None
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return cls(root, cid, fd, {"id": cid})

    @classmethod
    def load(cls, root, cid, *, lock=True):
        """Open and lock an existing container; NotFound if it does not exist."""
        d = root.dir_of(cid)
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"container {cid} does not exist") from None
        except OSError as e:
            if e.errno == errno.ELOOP:  # a symlink: not a directory pyrunc made
                raise NotFound(f"container {cid} does not exist") from None
            raise RuntimeFailure(f"open state of {cid}: {e.strerror}") from None
        if not os.fstat(fd).st_mode & 0o1000:  # another runtime's: not touched, not locked
            os.close(fd)
            raise NotFound(f"container {cid} does not exist")
        if lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
        # Deleted while we waited for the lock?
        if os.fstat(fd).st_nlink == 0:
            os.close(fd)
            raise NotFound(f"container {cid} does not exist")
        try:
            with open(os.path.join(d, "state.json"), "rb") as f:
                data = jsonio.loads(f.read())
        except FileNotFoundError:
            data = {"id": cid, "status": CREATING}
        except (OSError, ValueError) as e:  # noqa: B014
            os.close(fd)
            raise RuntimeFailure(f"container {cid}: unreadable state: {e}") from None
        return cls(root, cid, fd, data)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- state ---------------------------------------------------------------
    def save(self):
        tmp = os.path.join(self.dir, ".state.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            # No fsync: the state lives on /run (tmpfs) and must not outlive a reboot;
            # the rename alone makes the update atomic for concurrent readers.
            os.write(fd, jsonio.dumps(self.data).encode())
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.dir, "state.json"))

    @property
    def fifo(self):
        return os.path.join(self.dir, "exec.fifo")

    @property
    def pid(self):
        return self.data.get("pid") or 0

    def alive(self):
        pid = self.pid
        return bool(pid) and proc_start_time(pid) == self.data.get("start_time")

    def status(self):
        if self.data.get("status") == CREATING:
            return CREATING
        if not self.alive():
            return STOPPED
        if os.path.exists(self.fifo):
            return CREATED
        if self.data.get("paused"):
            return PAUSED
        return RUNNING

    def spec_state(self):
        """The runtime-spec state document, with runc's extra fields."""
        status = self.status()
        d = self.data
        st = {
            "ociVersion": "1.3.0",  # the version of the spec this state complies with
            "id": self.id,
            "pid": self.pid if status not in (STOPPED, CREATING) else 0,
            "status": status,
            "bundle": d.get("bundle", ""),
            "rootfs": d.get("rootfs", ""),
            "created": d.get("created", ""),
            "owner": d.get("owner", ""),
        }
        if d.get("annotations"):
            st["annotations"] = d["annotations"]
        return st

    def remove(self):
        """Remove the state directory (the lock goes with it)."""
        for name in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
