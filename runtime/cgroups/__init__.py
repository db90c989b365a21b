"""Cgroup management for pyrunc (cgroupfs driver: v1, v2 and hybrid hosts; the
systemd driver for pure v2 hosts is in systemd.py).

Typical use::

    from runtime import cgroups
    mgr = cgroups.manager(cid, spec["linux"].get("cgroupsPath"), resources)
    mgr.create(); mgr.apply(pid); mgr.set(resources)
    state["cgroup"] = mgr.to_state()
    ...
    mgr = cgroups.from_state(state["cgroup"]); mgr.destroy()

Importing this package is cheap: only ``posix``/``errno``/``time`` are needed
here; the version specific managers and the resource mapping are imported
when first used.
"""

import errno
import posix
import time

from runtime import ospath
from runtime.cgroupdirs import DEFAULT_PARENT, parents_after_leaves
from runtime.errors import RuntimeFailure

__all__ = [
    "CgroupError",
    "Layout",
    "Manager",
    "detect",
    "host_mode",
    "manager",
    "from_state",
    "resolve_path",
]

STATE_VERSION = 1

# v1 subsystems we know how to join; named hierarchies ("name=systemd") are
# joined as well.
V1_SUBSYSTEMS = frozenset({
    "cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
    "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc",
})


def _test_step(name):
    from runtime.state import test_step

    test_step(name)


class CgroupError(RuntimeFailure):
    """A cgroup operation failed; ``str()`` is one line naming the field/path.  A
    RuntimeFailure: one the command does not turn into its own words reaches the user
    as that line (pause's freeze, resume's thaw)."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


# --------------------------------------------------------------------------
# Host layout detection.
# --------------------------------------------------------------------------


class _Record:
    """Tiny immutable record (typing.NamedTuple costs milliseconds to import)."""

    __slots__ = ()

    def __init__(self, *args):
        for k, v in zip(self.__slots__, args, strict=True):
            object.__setattr__(self, k, v)

    def __setattr__(self, k, v):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other):
        return type(other) is type(self) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __hash__(self):
        return hash(tuple(getattr(self, k) for k in self.__slots__))

    def __repr__(self):
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Mount(_Record):
    """A cgroup mount: ``mountpoint``, ``root`` (the cgroup path of the
    mount's root) and ``subsystems`` (v1 controllers and ``name=...``;
    empty for cgroup2)."""

    __slots__ = ("mountpoint", "root", "subsystems")


class Layout(_Record):
    """How cgroups are mounted: ``mode`` ("v2", "v1" or "hybrid"), ``v1``
    (subsystem -> Mount), ``unified`` (Mount or None) and ``own`` (subsystem
    -> the calling process's cgroup path; ``""`` is cgroup2)."""

    __slots__ = ("mode", "v1", "unified", "own")


def _unescape(s):
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text):
    """Return ``(v1 subsystem -> Mount, unified Mount or None)``."""
    v1 = {}
    unified = None
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        rfields = right.split()
        if len(rfields) < 3 or rfields[0] not in ("cgroup", "cgroup2"):
            continue
        lfields = left.split()
        root, mountpoint = _unescape(lfields[3]), _unescape(lfields[4])
        if rfields[0] == "cgroup2":
            m = Mount(mountpoint, root, ())
            # Prefer the canonical location, then a mount of the whole tree.
            if unified is None or (mountpoint == "/sys/fs/cgroup" and unified.mountpoint != mountpoint) \
                    or (unified.root != "/" and root == "/"):
                unified = m
            continue
        subs = tuple(o for o in rfields[2].split(",") if o in V1_SUBSYSTEMS or o.startswith("name="))
        if not subs:
            continue
        m = Mount(mountpoint, root, subs)
        for s in subs:
            old = v1.get(s)
            if old is None or (old.root != "/" and root == "/"):
                v1[s] = m
    return v1, unified


def parse_proc_cgroup(text):
    """``/proc/<pid>/cgroup`` -> ``{subsystem: path}``; ``""`` is cgroup2."""
    own = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        if ctrls == "":
            own[""] = path
        else:
            for c in ctrls.split(","):
                own[c] = path
    return own


_layout = None
_mountinfo = None  # the text detect() parsed


def _read(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def mountinfo_read():
    """/proc/self/mountinfo as detect() read it (None before): create's container side,
    in a copy of this mount namespace, mounts the cgroup hierarchies without reading it again."""
    return _mountinfo


def detect(refresh=False):
    """Detect (once per process) how cgroups are mounted on this host."""
    global _layout, _mountinfo
    if _layout is None or refresh:
        try:
            _mountinfo = _read("/proc/self/mountinfo")
            v1, unified = parse_mountinfo(_mountinfo)
            own = parse_proc_cgroup(_read("/proc/self/cgroup"))
        except OSError as e:
            raise CgroupError(f"cannot inspect cgroup mounts: {e.strerror}") from None
        if v1 and unified:
            mode = "hybrid"
        elif v1:
            mode = "v1"
        elif unified:
            mode = "v2"
        else:
            raise CgroupError("no cgroup file system is mounted on this host")
        _layout = Layout(mode, v1, unified, own)
    return _layout


def host_mode():
    """``"v2"``, ``"v1"`` or ``"hybrid"``."""
    return detect().mode


# --------------------------------------------------------------------------
# Path rules.
# --------------------------------------------------------------------------


MAX_DEPTH = 32  # components of a cgroupsPath: each is a mkdir in every hierarchy
MAX_NAME = 255  # bytes of one component (NAME_MAX)


def _clean_parts(path, what):
    """Split into components, resolving ``.``/``..``; refuse escapes and paths
    too deep to be worth their mkdirs."""
    if any(ord(c) < 32 for c in path):
        raise CgroupError(f"{what}: contains control characters")
    parts = []
    for c in path.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if not parts:
                raise CgroupError(f"{what}: '..' escapes the cgroup hierarchy")
            parts.pop()
        else:
            if len(c.encode(errors="surrogateescape")) > MAX_NAME:
                raise CgroupError(f"{what}: a component is longer than the limit of {MAX_NAME} bytes")
            parts.append(c)
            if len(parts) > MAX_DEPTH:
                raise CgroupError(f"{what}: deeper than the limit of {MAX_DEPTH} levels")
    return parts


def cgroup_relpath(cgroups_path, container_id, own="/"):
    """The cgroup path (within a hierarchy, starting with ``/``).

    ``None``/``""`` -> ``/pyrunc/<id>``; absolute paths are taken as is;
    relative paths are relative to ``own`` (the caller's cgroup).
    """
    if not cgroups_path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise CgroupError(f"container id {container_id!r}: not usable as a cgroup name")
        return f"/{DEFAULT_PARENT}/{container_id}"
    parts = _clean_parts(cgroups_path, "linux.cgroupsPath")
    if not parts:
        raise CgroupError("linux.cgroupsPath: refusing to use the root cgroup")
    if cgroups_path.startswith("/"):
        return "/" + "/".join(parts)
    base = [p for p in own.split("/") if p]
    return "/" + "/".join(base + parts)


def _fs_dir(mount, cg, absolute):
    """Map a cgroup path onto the file system below ``mount``.

    Absolute cgroupsPath values are joined to the mount point (runc's rule);
    for relative ones the caller's own path is made relative to the mount's
    root first.
    """
    if not absolute and mount.root != "/":
        r = mount.root.rstrip("/")
        if cg == r or cg.startswith(r + "/"):
            cg = cg[len(r):] or "/"
    return mount.mountpoint.rstrip("/") + cg


def resolve_path(cgroups_path, container_id, layout=None):
    """``{subsystem: directory}``; key ``""`` is the unified (cgroup2) dir."""
    layout = layout or detect()
    absolute = not cgroups_path or cgroups_path.startswith("/")
    paths = {}
    if layout.mode in ("v1", "hybrid"):
        for sub, mount in layout.v1.items():
            cg = cgroup_relpath(cgroups_path, container_id, layout.own.get(sub, "/"))
            paths[sub] = _fs_dir(mount, cg, absolute)
    if layout.unified is not None:
        cg = cgroup_relpath(cgroups_path, container_id, layout.own.get("", "/"))
        paths[""] = _fs_dir(layout.unified, cg, absolute)
    return paths


# --------------------------------------------------------------------------
# Low level file helpers.
# --------------------------------------------------------------------------


def write_file(path, value):
    fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC | posix.O_NOFOLLOW)
    try:
        posix.write(fd, value.encode())
    finally:
        posix.close(fd)


def read_file(path):
    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC | posix.O_NOFOLLOW)
    try:
        chunks = []
        while True:
            b = posix.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
    finally:
        posix.close(fd)
    return b"".join(chunks).decode(errors="replace")


def read_int(path, default=0):
    """Integer file; ``max`` and unreadable files give ``default``."""
    try:
        s = read_file(path).strip()
    except OSError:
        return default
    if s == "max" or not s:
        return default
    try:
        return int(s)
    except ValueError:
        return default


def read_kv(path):
    """``key value`` per line files (memory.stat, cpu.stat, ...)."""
    out = {}
    try:
        text = read_file(path)
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def _previous(path):
    """A control file's value, to restore it with one write (None if it cannot be)."""
    try:
        s = read_file(path).strip()
    except OSError:
        return None
    return s if s and "\n" not in s else None


def _first_words(path):
    """The first word of each line of a control file (none if unreadable)."""
    try:
        return [ln.split()[0] for ln in read_file(path).splitlines() if ln.strip()]
    except OSError:
        return []


def _procs(directory):
    try:
        text = read_file(ospath.join(directory, "cgroup.procs"))
    except FileNotFoundError:
        return []
    return [int(x) for x in text.split()]


# --------------------------------------------------------------------------
# Manager base.
# --------------------------------------------------------------------------


class Manager:
    """Common part of the v1/hybrid and v2 managers.

    ``paths`` maps subsystems (``""`` = cgroup2) to absolute directories.
    ``created`` lists, parents first, every directory ``create()`` made, so
    ``destroy()`` never removes anything it did not create.
    """

    mode = "?"

    def __init__(self, container_id, cgroups_path, paths, *,
                 rootless=False, created=None, skipped=None,
                 mountpoints=None, resources=None):
        self.id = container_id
        self.cgroups_path = cgroups_path or ""
        self.paths = dict(paths)
        self.rootless = rootless
        self.created = list(created or [])
        self.skipped = list(skipped or [])  # rootless: subsystems we could not use
        self.mountpoints = dict(mountpoints or {})  # subsystem -> mount point (stop point for mkdir)
        self.resources = resources
        # journal(path, ours=True) is called before each mkdir (and with ours=False when
        # someone else made the directory first): a cleanup journal that outlives a kill;
        # the systemd driver journals its scope unit's name with kind="systemd-unit".
        self.journal = None
        self.dir_fds = {}  # open_dirs(): subsystem -> fd of its directory

    # -- helpers -----------------------------------------------------------

    def _dirs(self):
        """Unique directories, in a stable order."""
        seen = {}
        for sub, d in self.paths.items():
            if sub not in self.skipped:
                seen.setdefault(d, None)
        return list(seen)

    def path(self, subsystem):
        """Directory for a subsystem (``""`` = unified), or ``None``."""
        if subsystem in self.skipped:
            return None
        return self.paths.get(subsystem)

    def exists(self):
        return any(ospath.isdir(d) for d in self._dirs())

    def _below(self, sub, leaf):
        """(the mount point of `sub`'s hierarchy, leaf relative to it)."""
        top = self.mountpoints.get(sub) or ospath.dirname(leaf)
        base = top.rstrip("/") + "/"
        rel = leaf[len(base):] if leaf.startswith(base) and "/." not in leaf and "//" not in leaf \
            else ospath.relpath(leaf, top)
        if rel == "." or rel.startswith(".."):
            raise CgroupError(f"cgroup path {leaf}: not below its mount point {top}")
        return top, rel

    def _missing(self, sub, leaf):
        """The directories from `leaf` up that are not there yet, parents first."""
        top, rel = self._below(sub, leaf)
        dirs, cur = [], top
        for comp in rel.split("/"):
            cur = ospath.join(cur, comp)
            dirs.append(cur)
        missing = []
        for d in reversed(dirs):
            if ospath.isdir(d):
                break
            missing.append(d)
        return missing[::-1]

    def _mkdirs(self, sub, leaf, missing=None):
        """Make leaf and its missing parents.  `missing`: those create() found missing
        and journaled already; made in turn unless one's parent vanished meanwhile,
        when the whole path is walked again (journaling what it makes)."""
        journal = self.journal
        if missing is not None:
            try:
                for cur in missing:
                    self._mkdir(sub, cur, journal)
                return
            except FileNotFoundError:
                pass
        top, rel = self._below(sub, leaf)
        for attempt in range(5):
            cur = top
            try:
                for comp in rel.split("/"):
                    cur = ospath.join(cur, comp)
                    if journal is not None:
                        if ospath.isdir(cur):
                            continue
                        journal(cur)
                    self._mkdir(sub, cur, journal)
                return
            except FileNotFoundError:
                # A parent vanished under us (another container's destroy
                # emptied the shared /pyrunc parent): walk again.
                if attempt == 4:
                    raise

    def _mkdir(self, sub, cur, journal):
        """mkdir one journaled directory; one that someone else made first is marked
        not ours in the journal."""
        try:
            posix.mkdir(cur, 0o755)
        except FileExistsError:
            if journal is not None:
                journal(cur, False)
            return
        if cur not in self.created:
            self.created.append(cur)
        if journal is not None:
            _test_step("create-cgroup-mkdir")
        self._on_created(sub, cur)

    def _on_created(self, sub, directory):
        """Hook for per-directory initialisation (cpuset, subtree_control)."""

    def create(self):
        """Create the cgroup directory in every hierarchy (idempotent).  With a journal,
        every directory missing is journaled first, in one write."""
        todo = {}
        for sub, d in self.paths.items():
            if sub not in self.skipped and d not in todo.values():
                todo[sub] = d
        missing = None
        if self.journal is not None:
            missing = {sub: self._missing(sub, d) for sub, d in todo.items()}
            every = [m for ms in missing.values() for m in ms]
            if every:
                self.journal(every)
        for sub, d in todo.items():
            try:
                self._mkdirs(sub, d, None if missing is None else missing[sub])
            except OSError as e:
                if self.rootless and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    self.skipped += [s for s, p in self.paths.items() if p == d]
                    continue
                raise CgroupError(f"creating cgroup {d}: {e.strerror}") from None
        self._after_create()

    def _after_create(self):
        pass

    def open_dirs(self):
        """Open every cgroup directory once, right after create(): apply() and the
        fork into the cgroup2 directory then go through these fds, so a directory
        removed in between gives one clear error instead of a half-joined process."""
        for sub, d in self.paths.items():
            if sub in self.skipped or sub in self.dir_fds:
                continue
            same = [s for s, fd in self.dir_fds.items() if self.paths[s] == d]
            if same:
                self.dir_fds[sub] = self.dir_fds[same[0]]
                continue
            try:
                self.dir_fds[sub] = posix.open(d, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
            except OSError as e:
                self.close_dirs()
                raise CgroupError(f"opening cgroup {d}: {e.strerror}") from None

    def close_dirs(self):
        for fd in set(self.dir_fds.values()):
            posix.close(fd)
        self.dir_fds = {}

    def join_self(self, *, skip_unified=False):
        """The calling process (a container's child: create's or exec's) joins its
        cgroups, then the directory fds are closed; a failure is a RuntimeFailure."""
        from runtime.errors import RuntimeFailure

        try:
            self.apply(0, skip_unified=skip_unified)
        except CgroupError as e:
            raise RuntimeFailure(str(e)) from None
        self.close_dirs()

    def apply(self, pid, *, skip_unified=False):
        """Move ``pid`` into the cgroup in every hierarchy.

        ``pid`` 0 moves the calling (single-threaded) process itself: in v1
        hierarchies through ``tasks``, which spares the kernel's threadgroup
        lock and its synchronize_rcu (~10 ms for each create otherwise).
        ``skip_unified``: the process already is in the cgroup2 directory
        (it was forked there with CLONE_INTO_CGROUP).
        """
        if not isinstance(pid, int) or isinstance(pid, bool) or pid < 0:
            raise CgroupError(f"cgroup.procs: invalid pid {pid!r}")
        self._before_apply()
        for sub, d in list(self.paths.items()):
            if sub in self.skipped or (skip_unified and sub == ""):
                continue
            name = "tasks" if pid == 0 and sub != "" else "cgroup.procs"
            procs = ospath.join(d, name)
            dfd = self.dir_fds.get(sub)
            try:
                if dfd is None:
                    write_file(procs, str(pid))
                else:
                    fd = posix.open(name, posix.O_WRONLY | posix.O_CLOEXEC | posix.O_NOFOLLOW, dir_fd=dfd)
                    try:
                        posix.write(fd, str(pid).encode())
                    finally:
                        posix.close(fd)
            except OSError as e:
                if self.rootless and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT):
                    self.skipped += [s for s, p in self.paths.items() if p == d]
                    continue
                if e.errno == errno.ESRCH:
                    raise CgroupError(f"{procs}: process {pid} does not exist") from None
                if e.errno == errno.ENOENT:
                    raise CgroupError(f"cgroup {d} does not exist (removed before the process could join it)") from None
                raise CgroupError(f"adding pid {pid} to {procs}: {e.strerror}") from None

    def _before_apply(self):
        pass

    def _walk_procs(self, top):
        pids = []
        for dirpath in ospath.walk_dirs(top):
            pids += _procs(dirpath)
        return pids

    def pids(self):
        """Every pid in the container's cgroup, including sub-cgroups."""
        d = self._pids_dir()
        if d is None or not ospath.isdir(d):
            return []
        return sorted(set(self._walk_procs(d)))

    def _pids_dir(self):
        raise NotImplementedError

    def kill_all(self):
        """SIGKILL every process of the container's cgroup tree at once, in the kernel
        (cgroup v2's ``cgroup.kill``); False when this hierarchy has no such file and
        the caller must signal the processes one by one."""
        return False

    rmdir_timeout = 2.0  # seconds destroy() keeps retrying busy cgroups

    def destroy(self):
        """Remove every cgroup directory we created (deepest first).

        Kills nothing.  Sub-cgroups that appeared below our leaves (nested
        cgroups made by the container) are removed too.  Busy leaves are
        retried briefly; parents that still hold other cgroups are left.
        """
        failures = []
        deadline = time.monotonic() + self.rmdir_timeout
        leaves = set(self._dirs())
        for leaf in leaves:
            if leaf in self.created and ospath.isdir(leaf):
                # Sub-cgroups created inside the container, deepest first.
                for dirpath in ospath.walk_dirs(leaf, topdown=False):
                    if dirpath != leaf:
                        err = self._rmdir(dirpath, deadline)
                        if err:
                            failures.append(err)
        for d in sorted((d for d in self.created if d in leaves), key=lambda p: p.count("/"), reverse=True):
            err = self._rmdir(d, deadline)
            if err:
                failures.append(err)
        for d in parents_after_leaves(leaves, self.created, self.cgroups_path):
            self._rmdir(d, None)
        self.created = [d for d in self.created if ospath.isdir(d)]
        if failures:
            raise CgroupError(failures[0] + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))

    @staticmethod
    def _rmdir(d, deadline):
        """rmdir; busy dirs are retried until ``deadline`` (``None``: a
        shared parent, left alone silently when still in use)."""
        delay = 0.005
        while True:
            try:
                posix.rmdir(d)
                return None
            except FileNotFoundError:
                return None
            except OSError as e:
                busy = e.errno in (errno.EBUSY, errno.ENOTEMPTY, errno.EAGAIN)
                if busy and deadline is not None and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
                    continue
                if busy and deadline is None:
                    return None
                return f"removing cgroup {d}: {e.strerror}"

    # -- resources ---------------------------------------------------------

    def _execute(self, plan, dir_for):
        """Run a resources plan; ``dir_for(write)`` returns the directory."""
        deferred = []
        for w in plan:
            d = dir_for(w)
            if d is None:
                continue
            err = self._do_write(w, d)
            if err is not None:
                if w.retry and err.errno == errno.EINVAL:
                    deferred.append((w, d))
                else:
                    self._raise_write(w, d, err)
        for w, d in deferred:
            err = self._do_write(w, d)
            if err is not None:
                self._raise_write(w, d, err)

    def _do_write(self, w, d):
        for file, value in w.choices:
            p = ospath.join(d, file)
            old = _previous(p) if self._rollback is not None else None
            try:
                write_file(p, value)
            except FileNotFoundError:
                if not ospath.isdir(d):
                    raise CgroupError(f"linux.resources.{w.field}: cgroup {d} does not exist") from None
                continue
            except OSError as e:
                e.filename = p
                e.cg_value = value
                return e
            if old is not None:
                self._rollback.append((p, old))
            if w.readback:
                got = read_file(p).strip()
                if got != value:
                    raise CgroupError(f"linux.resources.{w.field}: the kernel set {file} to {got} instead of {value}")
            return None
        if w.optional:
            return None
        names = " or ".join(f for f, _ in w.choices)
        raise CgroupError(f"linux.resources.{w.field}: not supported on this host ({names} not found in {d})")

    def _raise_write(self, w, d, err):
        if err.errno == errno.EBUSY and w.field == "memory.limit":
            usage = read_int(ospath.join(d, "memory.usage_in_bytes"))
            raise CgroupError(f"linux.resources.memory.limit: cannot lower the limit to {err.cg_value} bytes: "
                              f"the container uses {usage} bytes that the kernel could not reclaim") from None
        if err.errno == errno.ENODEV and w.controller == "rdma":
            # rdma.max takes limits of existing devices only; it lists them all
            have = _first_words(ospath.join(d, "rdma.max"))
            raise CgroupError(f"linux.resources.{w.field}: no RDMA device {w.field.split('.', 1)[1]!r} on this host "
                              f"(rdma.max lists {', '.join(have) or 'none'})") from None
        if err.errno == errno.EINVAL and w.field == "unified.misc.max" and self.mountpoints.get(""):
            # misc.max takes resources the host has a capacity of (misc.capacity, root cgroup)
            have = _first_words(ospath.join(self.mountpoints[""], "misc.capacity"))
            raise CgroupError(f"linux.resources.unified.misc.max: the kernel refused {err.cg_value!r}: this host's "
                              f"misc.capacity lists {', '.join(have) or 'no resources'}") from None
        raise CgroupError(
            f"linux.resources.{w.field}: writing {getattr(err, 'cg_value', '?')!r} to "
            f"{err.filename or d}: {err.strerror}"
        ) from None

    def set(self, resources):
        raise NotImplementedError

    _rollback = None  # during update(): (file, previous value) of each write made so far

    def update(self, resources):
        """Apply a partial ``linux.resources`` change to the live cgroups
        (``pyrunc update``; ``resources.update_subset`` output: what is absent
        stays as it is).  Host-specific checks run first; if a write still
        fails, every file already written is restored, newest first, so no
        half-applied change is left behind."""
        resources = self._prepare_update(resources)
        self._rollback = []
        try:
            self.set(resources)
        except (CgroupError, OSError) as e:
            if isinstance(e, OSError):  # a control file that vanished or broke mid-way
                e = CgroupError(f"linux.resources: {e.filename or ' '.join(self._dirs())}: {e.strerror}")
            failed = self._restore_before_files()
            for path, old in reversed(self._rollback):
                try:
                    write_file(path, old)
                except OSError as err:
                    failed.append(f"{path}: {err.strerror}")
            if failed:
                raise CgroupError(f"{e} (restoring the previous value failed: {'; '.join(failed)})") from None
            raise e from None
        finally:
            self._rollback = None

    def _prepare_update(self, resources):
        """Checks and completions that need the live values (v1/v2 specific)."""
        return resources

    def _restore_before_files(self):
        """A failed update: undo what is not a file write (the systemd driver's unit
        properties) before the files are restored; the failures, as messages."""
        return []

    # -- state -------------------------------------------------------------

    def to_state(self):
        return {
            "version": STATE_VERSION,
            "driver": "cgroupfs",
            "mode": self.mode,
            "id": self.id,
            "cgroups_path": self.cgroups_path,
            "paths": dict(self.paths),
            "mountpoints": dict(self.mountpoints),
            "created": list(self.created),
            "skipped": list(self.skipped),
            "rootless": self.rootless,
        }

    def __repr__(self):
        return f"<{type(self).__name__} {self.id} {self.paths}>"


def _check_systemd():
    if not ospath.isdir("/run/systemd/system"):  # sd_booted(3)
        raise CgroupError("--systemd-cgroup: systemd is not running as init (PID 1) on this host; "
                          "use the cgroupfs driver (omit --systemd-cgroup)")


def manager(container_id, cgroups_path=None, resources=None, *,
            systemd=False, rootless=False, annotations=None):
    """Build a manager for a container (nothing is created yet).

    ``systemd``: the systemd driver (runtime/cgroups/systemd.py, a transient
    scope; ``annotations`` may carry ``org.systemd.property.*``)."""
    if systemd:
        _check_systemd()
        if resources is not None:
            from . import resources as _res
            _res.validate(resources)
        _preload("resources", "v2", "systemd")
        from . import systemd as _sd
        return _sd.manager(container_id, cgroups_path, resources, detect(), rootless=rootless,
                           annotations=annotations)
    layout = detect()
    paths = resolve_path(cgroups_path, container_id, layout)
    mountpoints = {s: m.mountpoint for s, m in layout.v1.items()} if layout.mode != "v2" else {}
    if layout.unified is not None:
        mountpoints[""] = layout.unified.mountpoint
    kw = dict(rootless=rootless, mountpoints=mountpoints, resources=resources)
    if resources is not None:
        from . import resources as _res
        _res.validate(resources)
    if layout.mode == "v2":
        _preload("resources", "v2")
        from .v2 import V2Manager
        return V2Manager(container_id, cgroups_path, paths, **kw)
    _preload("v1")
    from .v1 import V1Manager
    return V1Manager(container_id, cgroups_path, paths, hybrid=layout.mode == "hybrid", **kw)


def _preload(*names):
    """Load the driver modules a manager needs through runtime.preload (see
    runtime/__init__.py): which ones depends on the host, so the commands' PRELOAD
    lists in runtime/cli.py stop at this package and leave them to here."""
    from runtime import preload

    preload(tuple(f"runtime.cgroups.{n}" for n in names))


def from_state(d):
    """Rebuild a manager from :meth:`Manager.to_state` output."""
    if not isinstance(d, dict) or not isinstance(d.get("paths"), dict):
        raise CgroupError("cgroup state: malformed (no paths)")
    if d.get("version", STATE_VERSION) > STATE_VERSION:
        raise CgroupError(f"cgroup state: unsupported version {d.get('version')}")
    kw = dict(
        rootless=bool(d.get("rootless")), created=d.get("created") or [], skipped=d.get("skipped") or [],
        mountpoints=d.get("mountpoints") or {},
    )
    mode = d.get("mode")
    if d.get("driver") == "systemd":
        _preload("resources", "v2", "systemd")
        from .systemd import from_state as _sd_from_state
        return _sd_from_state(d, **kw)
    if mode == "v2":
        _preload("resources", "v2")
        from .v2 import V2Manager
        return V2Manager(d.get("id", ""), d.get("cgroups_path"), d["paths"], **kw)
    if mode in ("v1", "hybrid"):
        _preload("v1")
        from .v1 import V1Manager
        return V1Manager(d.get("id", ""), d.get("cgroups_path"), d["paths"], hybrid=mode == "hybrid", **kw)
    raise CgroupError(f"cgroup state: unknown mode {mode!r}")
