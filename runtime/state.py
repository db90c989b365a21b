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

This module is on the path of every command, so it imports only built-in modules
already loaded at interpreter start-up (`posix`, not `os`: see runtime/cli.py); `fcntl`
and `errno` are imported where they are used.
"""
import posix

from runtime import jsonio
from runtime.errors import NotFound, RuntimeFailure

DEFAULT_ROOT = "/run/pyrunc"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")

# Statuses of the runtime-spec, plus runc's "paused".
CREATING, CREATED, RUNNING, PAUSED, STOPPED = "creating", "created", "running", "paused", "stopped"

# -- test-only step hooks (tests/test_crash.py) --------------------------------------
# PYRUNC_TEST_STOP_AT=<step>: the process (runtime or container init stage) reaching
# that step appends "<step> <pid>" to $PYRUNC_TEST_STOP_FILE and stops itself with
# SIGSTOP (SIGCONT resumes it; pid 1 of a pid namespace, which ignores its own SIGSTOP,
# parks for good), so that a test can kill -9 the runtime exactly there, or change
# the world under it and let it go on.  PYRUNC_TEST_STOP_AT=trace only records every
# step reached.  Unset (always, outside tests), a step costs one comparison.
STEPS = (
    # create (and run): parent side, then the container's init stages
    "create-validated", "create-state-dir", "create-state-saved", "create-fifo",
    "create-cgroup-mkdir", "create-cgroups-made", "create-cgroups-set", "create-forked",
    "stage1-start", "stage1-joined", "stage1-forked", "stage2-start", "stage2-rootfs",
    "stage2-hooks-done", "stage2-exec", "create-pid", "create-pid-saved", "create-hooks",
    "create-init-execd", "create-saved",
    # start (and run)
    "start-signalled", "start-running",
    # run in the foreground
    "run-waiting",
    # exec (its process's last step before the exec is stage2-exec, shared with create)
    "exec-checked", "exec-forked", "exec-pid", "exec-pid-file",
    # pause and resume
    "pause-saved", "pause-frozen", "resume-thawed",
    # delete
    "delete-locked", "delete-killed", "delete-cgroups-removed", "delete-state-partial",
    "delete-removed",
)
_STOP_AT = posix.environ.get(b"PYRUNC_TEST_STOP_AT")
_STOP_AT = None if _STOP_AT is None else _STOP_AT.decode(errors="surrogateescape")
_STOP_FD = None
if _STOP_AT is not None and posix.environ.get(b"PYRUNC_TEST_STOP_FILE"):
    import fcntl

    # opened now (the container's stages reach their steps after pivot_root), far from
    # the low fds whose numbers the runtime's children rely on
    _fd = posix.open(posix.environ[b"PYRUNC_TEST_STOP_FILE"],
                     posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o600)
    _STOP_FD = fcntl.fcntl(_fd, fcntl.F_DUPFD_CLOEXEC, 900)
    posix.close(_fd)


def test_step(name):
    if _STOP_AT is not None:
        _test_stop(name)


def _test_stop(name):
    if _STOP_AT not in (name, "trace"):
        return
    if _STOP_FD is not None:
        try:
            posix.write(_STOP_FD, f"{name} {posix.getpid()}\n".encode())
        except OSError:
            pass
    if _STOP_AT == name:
        if posix.getpid() != 1:
            posix.kill(posix.getpid(), 19)  # SIGSTOP (without importing signal); SIGCONT resumes
            return
        while True:  # pid 1 of a pid namespace ignores its own SIGSTOP: park for good
            posix.read(posix.pipe()[0], 1)


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


def _flock(fd, shared=False, wait=True):
    """flock the state directory fd; waiting, a failure (a sandbox without flock) is
    a RuntimeFailure."""
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
    except OSError as e:
        if not wait or isinstance(e, BlockingIOError):
            raise
        raise RuntimeFailure(f"--root: lock a container's state directory: {e.strerror}") from None


def abspath(path):
    """os.path.abspath, without importing runtime/ospath.py when the path already is one
    (the usual --root: absolute, no '.', '..' or repeated or trailing '/')."""
    if path[:1] == "/" and "//" not in path and "/." not in path and path[-1:] != "/":
        return path
    from runtime import ospath

    return ospath.abspath(path)


def exists(path):
    """os.path.exists."""
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


class Root:
    def __init__(self, path):
        self.path = abspath(path or DEFAULT_ROOT)

    def ensure(self):
        from runtime import ospath

        try:
            ospath.makedirs(self.path, 0o700)
        except OSError as e:
            raise RuntimeFailure(f"--root {self.path}: {e.strerror}") from None

    def dir_of(self, cid):
        return f"{self.path}/{check_id(cid)}" if self.path != "/" else f"/{check_id(cid)}"

    def ids(self):
        try:
            names = posix.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if _valid_chars(n) and n not in (".", ".."))


class Container:
    """A locked handle on one container's state directory."""

    def __init__(self, root, cid, fd, data, *, locked=False, creator=False):
        self.root = root
        self.id = cid
        self.dir = root.dir_of(cid)
        self._fd = fd
        self.data = data
        self.locked = locked      # we hold the exclusive lock
        self.creator = creator    # this process is the one creating the container
        self._journal = None

    # -- opening -------------------------------------------------------------
    @classmethod
    def new(cls, root, cid):
        """Create the directory of a new container and lock it; fails if the id exists."""
        root.ensure()
        d = root.dir_of(cid)
        try:
            posix.mkdir(d, DIR_MODE)
        except FileExistsError:
            raise RuntimeFailure(f"container with id {cid} already exists") from None
        except OSError as e:
            raise RuntimeFailure(f"create state directory {d}: {e.strerror}") from None
        fd = posix.open(d, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        try:
            _flock(fd)
        except BaseException:  # (a sandbox without flock) nothing is in it yet
            posix.close(fd)
            try:
                posix.rmdir(d)
            except OSError:
                pass
            raise
        if posix.fstat(fd).st_nlink == 0:  # a `delete --force` raced us between mkdir and flock
            posix.close(fd)
            raise RuntimeFailure(f"container {cid} was deleted while it was being created")
        test_step("create-state-dir")
        return cls(root, cid, fd, {"id": cid}, locked=True, creator=True)

    @classmethod
    def load(cls, root, cid, *, lock=True):
        """Open and lock an existing container; NotFound if it does not exist."""
        d = root.dir_of(cid)
        try:
            fd = posix.open(d, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_NOFOLLOW | posix.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"container {cid} does not exist") from None
        except OSError as e:
            import errno

            if e.errno == errno.ELOOP:  # a symlink: not a directory pyrunc made
                raise NotFound(f"container {cid} does not exist") from None
            raise RuntimeFailure(f"open state of {cid}: {e.strerror}") from None
        st = posix.fstat(fd)
        if not st.st_mode & 0o1000:  # another runtime's: not touched, not locked
            posix.close(fd)
            raise NotFound(f"container {cid} does not exist")
        if lock:
            try:
                _flock(fd)
            except BaseException:
                posix.close(fd)
                raise
            st = posix.fstat(fd)
        # Deleted (while we waited for the lock)?
        if st.st_nlink == 0:
            posix.close(fd)
            raise NotFound(f"container {cid} does not exist")
        try:
            with open(d + "/state.json", "rb") as f:
                data = jsonio.loads(f.read())
        except FileNotFoundError:
            data = {"id": cid, "status": CREATING}
        except (OSError, ValueError) as e:  # noqa: B014
            if not lock:
                posix.close(fd)
                raise RuntimeFailure(f"container {cid}: unreadable state: {e}") from None
            # Torn or foreign state (only a kill -9 at the wrong moment leaves one):
            # what the journal recorded is still removable by delete --force.
            data = {"id": cid, "status": CREATING, "unreadable": str(e)}
        if not isinstance(data, dict):
            data = {"id": cid, "status": CREATING}
        return cls(root, cid, fd, data, locked=lock)

    def close_journal(self):
        if self._journal is not None:
            posix.close(self._journal)
            self._journal = None

    def close(self):
        self.close_journal()
        if self._fd is not None:
            posix.close(self._fd)
            self._fd = None

    # -- the cleanup journal -------------------------------------------------
    # Every host object create makes outside the state dir (today: cgroup
    # directories) is appended to <dir>/journal BEFORE it is made: a create killed
    # between making something and saving state.json leaves nothing delete --force
    # cannot find.  One O_APPEND write per entry, no fsync (state lives on tmpfs).
    JOURNAL = "journal"

    def journal(self, kind, path, ours=True):
        """Journal one path, or a list of paths in one write."""
        if self._journal is None:
            self._journal = posix.open(f"{self.dir}/{self.JOURNAL}",
                                       posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o600)
        lines = [jsonio.dumps([kind, p, ours]) for p in ([path] if isinstance(path, str) else path)]
        posix.write(self._journal, ("\n".join(lines) + "\n").encode())

    def journal_entries(self, kind, kinds=None):
        """Paths journaled as `kind`, in order, without those later marked not ours.
        `kinds`: a set that receives every kind the journal holds."""
        try:
            with open(f"{self.dir}/{self.JOURNAL}", "rb") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        try:  # one parse for the whole journal (the usual case: every line is whole)
            entries = jsonio.loads(b"[" + b",".join(lines) + b"]")
            if len(entries) != len(lines):
                raise ValueError("not one value per line")
        except ValueError:
            entries = []
            for line in lines:
                try:
                    entries.append(jsonio.loads(line))
                except ValueError:
                    pass  # a torn last line
        out = []
        for entry in entries:
            try:
                k, path, ours = entry
            except (ValueError, TypeError):
                continue
            if kinds is not None:
                kinds.add(k if isinstance(k, str) else "?")
            if k != kind or not isinstance(path, str):
                continue
            if ours and path not in out:
                out.append(path)
            elif not ours and path in out:
                out.remove(path)
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- state ---------------------------------------------------------------
    def save(self):
        tmp = self.dir + "/.state.json.tmp"
        try:
            fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o600)
            try:
                # No fsync: the state lives on /run (tmpfs) and must not outlive a reboot;
                # the rename alone makes the update atomic for concurrent readers.
                posix.write(fd, jsonio.dumps(self.data).encode())
            finally:
                posix.close(fd)
            posix.rename(tmp, self.dir + "/state.json")
        except OSError as e:
            raise RuntimeFailure(f"--root: save {self.dir}/state.json: {e.strerror}") from None

    @property
    def fifo(self):
        return self.dir + "/exec.fifo"

    @property
    def pid(self):
        return self.data.get("pid") or 0

    def alive(self):
        pid = self.pid
        return bool(pid) and proc_start_time(pid) == self.data.get("start_time")

    def status(self):
        if self.data.get("status") == CREATING:
            return CREATING if self.creator or self._creator_alive() else STOPPED
        if not self.alive():
            return STOPPED
        if exists(self.fifo):
            return CREATED
        if self.data.get("paused"):
            return PAUSED
        return RUNNING

    def _creator_alive(self):
        """A live `create` holds the directory's lock from mkdir to its last save; a
        creating container whose lock is free lost its creator (kill -9): it is
        stopped for good, and delete removes what the journal recorded."""
        if self.locked:
            return False  # we hold the lock: the creator is gone
        try:
            fd = posix.open(self.dir, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        except OSError:
            return False
        try:
            _flock(fd, shared=True, wait=False)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            posix.close(fd)
        return False

    def spec_state(self, status=None):
        """The runtime-spec state document, with runc's extra fields.  `status`: the
        one the caller has just worked out (saves reading /proc again)."""
        if status is None:
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
        """Remove the state directory (the lock goes with it).  The journal goes
        last: killed half-way, the next delete still knows what was made."""
        self.close_journal()
        names = sorted(posix.listdir(self.dir), key=lambda n: (n == self.JOURNAL, n != "state.json"))
        for name in names:
            try:
                posix.unlink(f"{self.dir}/{name}")
            except FileNotFoundError:
                pass
            if name == "state.json":
                test_step("delete-state-partial")
        try:
            posix.rmdir(self.dir)
        except FileNotFoundError:
            pass
