"""`exec`: run a new process inside an existing container, with runc's flags and semantics.

The process is `--process FILE` (a runtime-spec process object: what conmon and the
containerd shim send) or, on the command line, the container's own config process
(kept in its state at create time) with the flags applied on top: -e adds to the
environment, -u UID[:GID], -g adds gids, -c adds a capability, --cwd, --no-new-privs,
-t.  It enters the container the way create built it, through the same mechanisms:

  this command   checks the container (stopped, missing, paused), opens a pidfd on its
                 init, the init's /proc/PID/ns/* files (every namespace that differs
                 from ours) and makes sure they were the init's; forks `enter` straight
                 into the container's cgroup2 directory (as create does); reads its
                 reports; writes --pid-file; with --detach returns, else waits for the
                 process (signals forwarded, the caller's terminal attached with -t).
  enter          joins the container's cgroups (or the --cgroup sub-cgroups), sets
                 oomScoreAdj, joins the user namespace first, becomes root in it, joins
                 the others (pid, cgroup and time included, mount last), forks `finish`
                 so that it is inside the pid namespace, reports its pid and exits.  It
                 is non-dumpable (CVE-2016-9962) and dies with this command.
  finish         closes every fd of the caller it was not given (--preserve-fds), so no
                 host fd is open while the cwd is resolved (CVE-2024-21626); a pty if
                 terminal; the session keyring; personality; checks that the cwd resolves
                 inside the container; then init.finish_process, shared with create:
                 rlimits, no_new_privs, seccomp, user, umask, caps, cwd, and the exec of
                 the sealed pyrunc-init memfd, which execs the program straight away.

Errors are `exec failed: <one line>` with exit status 255, as runc's.
"""
import gc

gc.disable()  # until the process runs: no cyclic GC passes on the way
import _signal as signal  # noqa: E402  (the C module: `signal` imports enum)
import posix

from runtime import container, log, ospath  # noqa: E402
from runtime.errors import RuntimeFailure  # noqa: E402
from runtime.state import CREATING, PAUSED, STOPPED, Container, Root, proc_start_time, test_step  # noqa: E402

CAP_SETS_ADDED = ("bounding", "effective", "permitted", "ambient")  # runc 1.1.5's -c (never inheritable)


def main(opts):
    try:
        return _exec(opts)
    except RuntimeFailure as e:
        for line in e.lines:
            log.error(f"exec failed: {line}")
        return 255


def _exec(opts):
    from runtime._native import lib

    with Container.load(Root(opts.root), opts.id) as c:
        st = c.status()
        if st == STOPPED:
            raise RuntimeFailure("cannot exec in a stopped container")
        if st == CREATING:
            raise RuntimeFailure(f"container {c.id} is still being created")
        if st == PAUSED and not opts.ignore_paused:
            raise RuntimeFailure("cannot exec in a paused container (use --ignore-paused to override)")
        base = c.data.get("exec") or _base_from_bundle(c)
        proc = process_of(opts, base.get("process") or {})
        _check_terminal(opts, proc)
        for fd in range(3, 3 + (opts.preserve_fds or 0)):
            try:
                posix.fstat(fd)
            except OSError:
                raise RuntimeFailure(f"--preserve-fds: fd {fd} is not open") from None
        mgr = _cgroups(c, opts.cgroup)
        target = Target(c)
        state = container.spec_state(c)
    test_step("exec-checked")
    # The lock is let go here: the process may join a frozen cgroup (--ignore-paused)
    # and wait there for `resume`, which needs the lock.
    try:
        if mgr is not None:
            from runtime import cgroups

            try:
                mgr.open_dirs()
            except cgroups.CgroupError as e:
                raise RuntimeFailure(str(e)) from None
        # The process becomes our child when `enter` exits (subreaper): only we can
        # reap it, so its pid stays ours to kill or wait for.
        lib.prctl(lib.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        pid, master = _spawn(opts, proc, base, target, mgr, state)
        if log.debugging():
            log.debug(f"exec {opts.id}: namespaces joined, cgroups {', '.join(mgr._dirs()) if mgr else '-'}; "
                      f"process pid {pid} runs {(proc.get('args') or ['?'])[0]}")
    finally:
        target.close()
        if mgr is not None:
            mgr.close_dirs()
    try:
        if opts.pid_file:
            container.write_pid_file(opts.pid_file, pid)
        test_step("exec-pid-file")
    except BaseException:
        _kill(pid)
        if master is not None:
            posix.close(master)
        raise
    if opts.detach:
        if master is not None:
            posix.close(master)
        return 0
    gc.enable()  # the process may run for days
    return container.wait_foreground(pid, master)


def _base_from_bundle(c):
    """A container created before its state kept what exec needs: its bundle's config."""
    try:
        config = container.load_config(c.data.get("bundle") or "")
    except RuntimeFailure as e:
        raise RuntimeFailure(f"the container's config is not in its state and {e}") from None
    return container.exec_state(config, False)


# -- the process JSON ----------------------------------------------------------------

def process_of(opts, base):
    """The process to run: --process FILE as is, or the container's with the flags on
    top.  What --process leaves out: capabilities and oomScoreAdj are the container's,
    rlimits the caller's (both as runc 1.1.5).  --process is validated with the config schema (the container's process
    was, at create; the flags are checked one by one); fields create refuses are refused."""
    if opts.process:
        proc = _read_process(opts.process)
        where = f"--process {opts.process}: "
        from runtime.validate import validate_config

        problems = validate_config({"ociVersion": container.OCI_VERSION, "root": {"path": "/"}, "process": proc})
        if problems:
            raise RuntimeFailure(where + problems[0], lines=[where + p for p in problems])
        for key in ("capabilities", "oomScoreAdj"):
            if proc.get(key) is None and base.get(key) is not None:
                proc[key] = base[key]
    else:
        # The container's process passed the schema at create; the flags are checked here.
        if not opts.rest:
            raise RuntimeFailure("process args cannot be empty: give a command (or --process FILE)")
        proc = _with_flags(opts, base)
        where = ""
    from runtime.capabilities import warn_ungrantable

    warn_ungrantable(proc.get("capabilities"), log.warn)
    try:
        container.check_process_support(proc)
    except RuntimeFailure as e:
        raise RuntimeFailure(where + str(e)) from None
    proc["env"] = _merged_env(proc.get("env") or [])
    return proc


def _read_process(path):
    from runtime import jsonio

    try:
        with open(path, "rb") as f:
            raw = f.read(container.MAX_CONFIG_SIZE + 1)
    except OSError as e:
        raise RuntimeFailure(f"--process {path}: {e.strerror}") from None
    if len(raw) > container.MAX_CONFIG_SIZE:
        raise RuntimeFailure(f"--process {path}: larger than the limit of {container.MAX_CONFIG_SIZE >> 20} MiB")
    try:
        proc = jsonio.loads(raw)
    except ValueError as e:
        raise RuntimeFailure(f"--process {path}: {e}") from None
    if not isinstance(proc, dict):
        raise RuntimeFailure(f"--process {path}: must contain a JSON object (a runtime-spec process)")
    return proc


def _with_flags(opts, base):
    """runc's getProcess: the config's process, args from the command line, flags on top."""
    proc = dict(base)
    proc["args"] = list(opts.rest)
    proc["terminal"] = bool(opts.tty)
    if opts.cwd:
        if not opts.cwd.startswith("/"):
            raise RuntimeFailure(f"--cwd {opts.cwd}: must be an absolute path")
        proc["cwd"] = opts.cwd
    if opts.apparmor:
        proc["apparmorProfile"] = opts.apparmor
    if opts.process_label:
        proc["selinuxLabel"] = opts.process_label
    if opts.cap:
        caps = {k: list(v) for k, v in (proc.get("capabilities") or {}).items()}
        for cap in opts.cap:  # one it cannot grant is a warning, as with runc (warn_ungrantable)
            for s in CAP_SETS_ADDED:
                if cap not in caps.setdefault(s, []):
                    caps[s].append(cap)
        proc["capabilities"] = caps
    for kv in opts.env:
        if "=" not in kv or kv.startswith("="):
            raise RuntimeFailure(f"--env {kv}: must have the form KEY=value")
    proc["env"] = list(proc.get("env") or []) + list(opts.env)
    if opts.no_new_privs is not None:
        proc["noNewPrivileges"] = opts.no_new_privs
    user = dict(proc.get("user") or {"uid": 0, "gid": 0})
    if opts.user:
        u, sep, g = opts.user.partition(":")
        if not _id_ok(u) or (sep and not _id_ok(g)):
            raise RuntimeFailure(f"--user {opts.user}: must be UID[:GID], numbers below 2^32-1")
        user["uid"] = int(u)
        if sep:
            user["gid"] = int(g)
    if opts.additional_gids:
        gids = list(user.get("additionalGids") or [])
        for g in opts.additional_gids:
            if not _id_ok(g):
                raise RuntimeFailure(f"--additional-gids {g}: must be a number from 0 to 2^32-2")
            gids.append(int(g))
        user["additionalGids"] = gids
    proc["user"] = user
    return proc


def _id_ok(s):
    return s.isdigit() and s.isascii() and int(s) < 0xFFFFFFFF


def _merged_env(env):
    """Later entries win, in the place of the first (runc sets them one by one)."""
    out, where = [], {}
    for kv in env:
        key = kv.partition("=")[0]
        if key in where:
            out[where[key]] = kv
        else:
            where[key] = len(out)
            out.append(kv)
    return out


def _check_terminal(opts, proc):
    if proc.get("terminal") and opts.detach and not opts.console_socket:
        raise RuntimeFailure("process.terminal is true: --console-socket is required with exec --detach")
    if opts.console_socket and not proc.get("terminal"):
        raise RuntimeFailure("--console-socket given but process.terminal is false")


# -- the container ---------------------------------------------------------------------

def _cgroups(c, subs):
    """The container's cgroup manager, its paths moved to the --cgroup sub-cgroups
    ([CONTROLLER[,CONTROLLER]:]PATH, existing, below the container's)."""
    mgr = container.cgroups_of(c)
    if not subs:
        return mgr
    from runtime import cgroups

    if mgr is None:
        raise RuntimeFailure("--cgroup: the container has no cgroups")
    per = {}
    for spec in subs:
        ctrls, sep, path = spec.partition(":")
        if not sep:
            if len(subs) > 1:
                raise RuntimeFailure(f"--cgroup {spec}: with several --cgroup each must be CONTROLLER:PATH")
            per[""] = spec
            continue
        for ctrl in ctrls.split(","):
            if not ctrl or ctrl not in mgr.paths or ctrl == "":
                raise RuntimeFailure(f"--cgroup {spec}: unknown controller {ctrl!r}")
            per[ctrl] = path
    if set(per) != {""} and mgr.mode == "v2":
        raise RuntimeFailure("--cgroup: on cgroup v2 the sub-cgroup is a PATH without a controller")
    paths = dict(mgr.paths)
    for sub, base in mgr.paths.items():
        rel = per.get(sub, per.get("")) if sub != "" or "" in per else None
        if rel is None:
            continue
        try:
            parts = cgroups._clean_parts(rel, "--cgroup")
        except cgroups.CgroupError as e:
            raise RuntimeFailure(str(e)) from None
        d = ospath.join(base, *parts)
        if not ospath.isdir(d):
            raise RuntimeFailure(f"--cgroup {rel}: the sub-cgroup {d} does not exist")
        paths[sub] = d
    mgr.paths = paths
    return mgr


class Target:
    """The container's init as a set of fds opened on the host: the namespaces that
    differ from ours (JOIN_ORDER) and, without a mount namespace of its own, its root.
    They are the init's: it was alive with the saved start time before and after."""

    def __init__(self, c):
        from runtime import namespaces

        self.ns, self.root_fd = [], None
        pid, start = c.pid, c.data.get("start_time")
        try:
            pidfd = posix.pidfd_open(pid)
        except OSError as e:
            if e.errno not in (38, 1):  # ENOSYS (before 5.3), EPERM (a seccomp policy)
                raise RuntimeFailure("cannot exec in a stopped container") from None
            pidfd = None  # the start time, looked at again after the opens, says it is the same
        try:
            if proc_start_time(pid) != start:
                raise RuntimeFailure("cannot exec in a stopped container")
            for t in namespaces.JOIN_ORDER:
                name = namespaces.TYPES[t][1]
                try:
                    fd = posix.open(f"/proc/{pid}/ns/{name}", posix.O_RDONLY | posix.O_CLOEXEC)
                except FileNotFoundError:
                    continue  # a kernel without this namespace type (or the init is gone: below)
                theirs, ours = posix.fstat(fd), posix.stat(f"/proc/self/ns/{name}")
                if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
                    posix.close(fd)
                else:
                    self.ns.append((t, fd))
            if "mount" not in dict(self.ns):
                self.root_fd = posix.open(f"/proc/{pid}/root", posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
            asked = False
            if pidfd is not None:
                try:
                    signal.pidfd_send_signal(pidfd, 0)
                    asked = True
                except OSError as e:
                    if e.errno not in (38, 1):  # ESRCH: it is gone
                        raise ProcessLookupError from None
            if not asked and proc_start_time(pid) != start:  # no pidfd to ask
                raise ProcessLookupError
        except (ProcessLookupError, FileNotFoundError):
            self.close()
            raise RuntimeFailure("cannot exec in a stopped container") from None
        except BaseException:
            self.close()
            raise
        finally:
            if pidfd is not None:
                posix.close(pidfd)
        self.pid = pid

    def close(self):
        for _, fd in self.ns:
            posix.close(fd)
        self.ns = []
        if self.root_fd is not None:
            posix.close(self.root_fd)
            self.root_fd = None


# -- the parent side -------------------------------------------------------------------

# Joined from outside by the one child of a single fork: what takes `enter` and a second
# fork is a user namespace (joined first, it owns the rest) or a time namespace (it
# applies to the children of whoever joins it, as the pid namespace does).
_TWO_FORKS = frozenset(("user", "time"))


def _spawn(opts, proc, base, target, mgr, state):
    """Fork the process; return (host pid of the process once it runs, pty master or None).

    Usually one child: this command joins the container's pid namespace for its children
    only (setns(CLONE_NEWPID) never moves the caller), so the child starts inside it and
    joins the rest itself (_enter_single).  With a user or time namespace to join, `enter`
    joins them all and forks `finish`."""
    import sys

    from runtime import init, namespaces
    from runtime.sync import Channel

    single = not ({t for t, _ in target.ns} & _TWO_FORKS)
    ns_fds = target.ns
    if single:
        pid_ns = dict(target.ns).get("pid")
        if pid_ns is not None:
            namespaces.setns(pid_ns, "pid")
        ns_fds = [(t, fd) for t, fd in target.ns if t != "pid"]

    linux = {"seccomp": base.get("seccomp")}
    init_fd = container._sealed_init()
    parent, child = Channel.pair()
    job = init.Job(chan=child, proc=proc, linux=linux, ns_fds=ns_fds, root_fd=target.root_fd,
                   init_fd=init_fd, fifo_fd=None, hook_words_start=[], preserve_fds=opts.preserve_fds or 0,
                   cgroups=mgr, container_id=opts.id, no_new_keyring=bool(base.get("no_new_keyring")),
                   personality=base.get("personality"), parent_pid=posix.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    if mgr is not None:
        pid1, job.in_unified = container._fork_into(mgr)
    else:
        pid1, job.in_unified = posix.fork(), False
    if pid1 == 0:
        parent.close()
        init._guard(_enter_single if single else _enter, job)
    test_step("exec-forked")
    child.close()
    posix.close(init_fd)
    pid = master = ready = listener = None
    if single:  # our child is the process itself
        pid, pid1 = pid1, None
        test_step("exec-pid")
    try:
        # `enter` reports the pid and exits, `finish` sends its pty and "ready" and execs:
        # they share the channel, so the order of their messages is not known; EOF comes
        # once both are gone.
        while True:
            kind, msg, fds = parent.recv()
            if kind is None:
                break
            if kind == "pid":
                pid = msg["pid"]
                test_step("exec-pid")
                container._reap(pid1)
                pid1 = None
                if listener is not None:  # the agent is told the pid: it had to come first
                    fds, listener = listener, None
                    _forward_listener(parent, linux, fds, state, pid)
            elif kind == "console" and fds:
                if opts.console_socket:
                    from runtime import console

                    try:
                        console.send_master(opts.console_socket, fds[0])
                    finally:
                        posix.close(fds[0])
                else:
                    master = fds[0]
            elif kind == "seccomp":  # the listener fd of linux.seccomp, for its agent
                if pid is None:  # `finish` may be ahead of `enter`'s pid: hold the fd
                    listener = fds
                else:
                    _forward_listener(parent, linux, fds, state, pid)
            elif kind == "ready":
                ready = msg
            elif kind == "error":
                raise RuntimeFailure(msg["msg"])
            else:
                for fd in fds:
                    posix.close(fd)
                raise RuntimeFailure(f"unexpected message {kind!r} from the process")
        if ready is None or pid is None:
            raise RuntimeFailure("the process exited before it was ready")
        return pid, master
    except BaseException:
        if master is not None:
            posix.close(master)
        for fd in listener or ():
            posix.close(fd)
        _kill(pid)
        raise
    finally:
        parent.close()
        if pid1:
            _kill(pid1)


def _forward_listener(chan, linux, fds, state, pid):
    from runtime import seccomp

    seccomp.forward_listener(chan, linux["seccomp"], fds, state=state, pid=pid)


def _kill(pid):
    """SIGKILL and reap a child of ours (the process is ours once `enter` exited)."""
    if not pid:
        return
    try:
        posix.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    container._reap(pid)


# -- the container side ---------------------------------------------------------------

def _enter(job):
    from runtime import init, namespaces, process
    from runtime._native import lib

    lib.prctl(lib.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if posix.getppid() != job.parent_pid:
        posix._exit(1)  # the parent died before PDEATHSIG was armed: nobody to report to
    lib.prctl(lib.PR_SET_DUMPABLE, 0, 0, 0, 0)
    _preload(job)
    if job.cgroups is not None:
        job.cgroups.join_self(skip_unified=job.in_unified)
    process.set_oom_score_adj("self", job.proc.get("oomScoreAdj"))
    ns = dict(job.ns_fds)
    if "user" in ns:
        namespaces.setns(ns["user"], "user")
        namespaces.become_root("exec")
    namespaces.join(ns)
    for _, fd in job.ns_fds:
        posix.close(fd)
    job.ns_fds = []
    pid = posix.fork()
    if pid == 0:
        init._guard(_finish, job)
    job.chan.send("pid", pid=pid)
    posix._exit(0)


def _enter_single(job):
    """The one child: in the container's pid namespace from the fork, it joins the
    container's cgroups and its other namespaces (mount last), then finishes.  It is
    non-dumpable and dies with this command until it execs."""
    from runtime import namespaces
    from runtime._native import lib

    lib.prctl(lib.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if job.chan.peer_gone():  # nothing is sent to us before our first message
        posix._exit(1)  # the parent died before PDEATHSIG was armed: nobody to report to
    lib.prctl(lib.PR_SET_DUMPABLE, 0, 0, 0, 0)
    _preload(job)
    if job.cgroups is not None:
        job.cgroups.join_self(skip_unified=job.in_unified)
    _set_own_oom_score_adj(job.proc.get("oomScoreAdj"))
    namespaces.join(dict(job.ns_fds))
    for _, fd in job.ns_fds:
        posix.close(fd)
    job.ns_fds = []
    _finish(job)


def _set_own_oom_score_adj(value):
    """oomScoreAdj of this process, named by its pid in the host's /proc (we are in the
    container's pid namespace already, where posix.getpid() is another number)."""
    if value is None:
        return
    from runtime import procfs, process

    proc_fd = procfs.open_root(what="process.oomScoreAdj")
    try:
        host_pid = int(posix.readlink("self", dir_fd=proc_fd))
    finally:
        posix.close(proc_fd)
    process.set_oom_score_adj(host_pid, value)


def _preload(job):
    """Import now what the container side needs (init.finish_process and what it calls):
    past the mount namespace the host's Python files are out of reach.  Less than
    create's init._preload: no mounts, devices or hooks here."""
    if job.linux.get("seccomp"):
        import struct  # noqa: F401  (seccomp.compile_filter's)

        from runtime import seccomp  # noqa: F401
    if job.proc.get("terminal"):
        import termios  # noqa: F401

        from runtime import console, mounts  # noqa: F401  (console.setup_in_container uses mounts)


def _finish(job):
    from runtime import init
    from runtime._native import lib

    lib.prctl(lib.PR_SET_DUMPABLE, 0, 0, 0, 0)
    keep = {job.chan.fileno(), job.init_fd, *range(3, 3 + job.preserve_fds)}
    if job.root_fd is not None:
        keep.add(job.root_fd)
    _close_all_but(keep)
    if job.root_fd is not None:  # the container shares our mount namespace: its init's root
        posix.fchdir(job.root_fd)
        posix.chroot(".")
        posix.close(job.root_fd)
        job.root_fd = None
    posix.chdir("/")
    proc = job.proc
    if proc.get("terminal"):
        from runtime import console

        # create's pty, without its /dev/console bind: an exec never changes the mounts
        master = console.setup_in_container(proc.get("consoleSize"), bind_console=False)
        job.chan.send("console", fds=[master])
        posix.close(master)
    if not job.no_new_keyring:
        init._join_keyring(job.container_id)
    if job.personality:
        init._set_personality(job.personality)
    _check_cwd(proc.get("cwd") or "/")
    init.finish_process(job, proc, job.linux)


def _close_all_but(keep):
    """Close every fd from 3 up except those in keep (the caller's stray fds among them:
    containerd's shim leaks its fds 3 and 4 into the runtime)."""
    from runtime._native import lib

    lo = 3
    for fd in sorted(k for k in keep if k >= 3):
        if fd > lo:
            lib.pyrunc_close_range(lo, fd - 1, 0)
        lo = max(lo, fd + 1)
    lib.pyrunc_close_range(lo, 0xFFFFFFFF, 0)


def _check_cwd(cwd):
    """The cwd must resolve inside the container (CVE-2024-21626: through a leaked host
    fd it would not): getcwd fails for a directory outside our root."""
    try:
        posix.chdir(cwd)
    except OSError as e:
        raise RuntimeFailure(f"process.cwd: chdir to {cwd}: {e.strerror}") from None
    try:
        posix.getcwd()
    except OSError:
        raise RuntimeFailure(f"process.cwd: {cwd} is outside the container") from None
    posix.chdir("/")
