"""The container lifecycle that several commands share: load and check a bundle, create
a container (cgroups, the init stages, the sealed waiter), start it, wait for it in the
foreground, tear it down.  The commands themselves live in runtime/commands/, one module
each; they raise RuntimeFailure with a one-line message.  A failed create leaves
nothing behind: the init process is killed, the cgroups and the state dir removed.
"""
import errno
import os
import _signal as signal  # the C module: `signal` imports enum

from runtime import jsonio, log
from runtime.errors import ConfigError, RuntimeFailure
from runtime.state import CREATED, CREATING, PAUSED, RUNNING, STOPPED, Container, Root, proc_start_time

OCI_VERSION = "1.3.0"
INIT_BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyrunc-init")


# -- config ------------------------------------------------------------------------

def load_config(bundle):
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    try:
        config = jsonio.loads(raw)
    except ValueError as e:
        raise ConfigError(f"config.json: invalid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ConfigError("config.json: must be a JSON object")
    from runtime.validate import validate_config

    problems = validate_config(config)
    if problems:
        problems = [name_mount(config, p) for p in problems]
        raise ConfigError(problems[0], lines=problems)
    return config


def name_mount(config, problem):
    """'mounts[3].options: ...' -> 'mounts[3] (/data).options: ...': an engine's user
    knows a mount by its destination, never by its index in config.json."""
    if not problem.startswith("mounts["):
        return problem
    idx, sep, rest = problem[len("mounts["):].partition("]")
    mounts = config.get("mounts")
    if not sep or not idx.isdigit() or not isinstance(mounts, list) or int(idx) >= len(mounts):
        return problem
    m = mounts[int(idx)]
    dest = m.get("destination") if isinstance(m, dict) else None
    if not isinstance(dest, str) or not dest:
        return problem
    return f"mounts[{idx}] ({dest}){rest}"


def rootfs_of(config, bundle):
    p = (config.get("root") or {}).get("path")
    if not p:
        raise ConfigError("root.path: is required")
    # As runc: the rootfs must not be a symlink nor go through one (symlinks in the
    # bundle's own path are fine: a relative root.path is taken from its real path).
    try:
        given = os.path.normpath(os.path.join(os.path.realpath(bundle), p))
        rootfs = os.path.realpath(given)
    except OSError as e:
        raise ConfigError(f"root.path: {p}: {e.strerror}") from None
    if rootfs != given and os.path.lexists(given):
        raise ConfigError(f"root.path: {p} is a symlink or goes through one ({given} -> {rootfs}): "
                          "give the real path")
    try:
        st, top = os.stat(rootfs), os.stat("/")
    except OSError:
        st = top = None
    if st is not None and (st.st_dev, st.st_ino) == (top.st_dev, top.st_ino):
        raise ConfigError(f"root.path: {p} is the host's root directory")
    if not os.path.isdir(rootfs):
        raise ConfigError(f"root.path: {rootfs} is not a directory")
    return rootfs


def _check_fit(config, plan):
    """What would fail half-way and validate.py does not already refuse (it checks the
    namespaces that hostname, id mappings and time offsets need): say it before
    anything is made."""
    linux = config.get("linux") or {}
    if (linux.get("uidMappings") or linux.get("gidMappings")) and "user" not in plan.new:
        raise ConfigError("linux.uidMappings: id mappings apply to a new user namespace, not a joined one")
    proc = config.get("process")
    if not proc:
        raise ConfigError("process: is required to create a container")
    # Fields of the spec that pyrunc does not implement yet: refuse rather than ignore.
    unsupported = [("linux.intelRdt", linux.get("intelRdt")), ("linux.netDevices", linux.get("netDevices")),
                   ("linux.memoryPolicy", linux.get("memoryPolicy")),
                   ("process.ioPriority", proc.get("ioPriority")), ("process.scheduler", proc.get("scheduler")),
                   ("process.execCPUAffinity", proc.get("execCPUAffinity")),
                   ("process.apparmorProfile", proc.get("apparmorProfile"))]
    for field, value in unsupported:
        if value:
            reason = "AppArmor is not enabled on this host" if "apparmor" in field else "not supported by pyrunc yet"
            raise ConfigError(f"{field}: {reason}")


# -- helpers -------------------------------------------------------------------------

def _sealed_init():
    """A sealed memfd copy of pyrunc-init: what the container execs, never the host file."""
    import fcntl

    fd = os.memfd_create("pyrunc-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        src = os.open(INIT_BINARY, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        os.close(fd)
        raise RuntimeFailure(f"{INIT_BINARY}: {e.strerror} (is pyrunc installed?)") from None
    try:
        size = os.fstat(src).st_size
        off = 0
        while off < size:
            off += os.sendfile(fd, src, off, size - off)
    finally:
        os.close(src)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd


def wait_dead(pid, start_time, timeout=10.0):
    """Wait until pid (with that start time) has exited; True if it did in time."""
    import select

    try:
        pfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if proc_start_time(pid) != start_time:
            return True
        r, _, _ = select.select([pfd], [], [], timeout)
        return bool(r)
    finally:
        os.close(pfd)


def write_pid_file(path, pid):
    """Write the pid atomically: a new temporary file in the target's directory (by
    dirfd, O_CREAT|O_EXCL|O_NOFOLLOW: a planted symlink or file there is never written
    through) renamed over the name (rename replaces a symlink, never follows it)."""
    path = os.path.abspath(path)
    name = os.path.basename(path)
    tmp = "." + name + ".tmp"
    try:
        dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise RuntimeFailure(f"--pid-file {path}: {e.strerror}") from None
    try:
        for _ in range(8):
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644, dir_fd=dfd)
                break
            except FileExistsError:
                os.unlink(tmp, dir_fd=dfd)  # a stale or planted entry: removed, not followed
        else:
            raise RuntimeFailure(f"--pid-file {path}: {tmp} keeps reappearing in its directory")
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError as e:
        raise RuntimeFailure(f"--pid-file {path}: {e.strerror}") from None
    finally:
        os.close(dfd)


def cgroups_of(c):
    from runtime import cgroups

    d = c.data.get("cgroups")
    return cgroups.from_state(d) if d else None


def spec_state(c, status=None, pid=None):
    st = c.spec_state()
    if status:
        st["status"] = status
    if pid:
        st["pid"] = pid
    return st


# -- create --------------------------------------------------------------------------

def create(opts, *, for_run=False):
    """Create the container; return (Container, console master fd or None)."""
    from runtime import namespaces

    root = Root(opts.root)
    bundle = os.path.abspath(opts.bundle or ".")
    cid = opts.id
    from runtime.state import check_id

    check_id(cid)
    config = load_config(bundle)
    rootfs = rootfs_of(config, bundle)
    plan = namespaces.Plan((config.get("linux") or {}).get("namespaces"))
    _check_fit(config, plan)
    proc = config["process"]
    if proc.get("terminal") and not opts.console_socket and (not for_run or opts.detach):
        raise RuntimeFailure("process.terminal is true: --console-socket is required with "
                             + ("run --detach" if for_run else "create"))
    if opts.console_socket and not proc.get("terminal"):
        raise RuntimeFailure("--console-socket given but process.terminal is false")
    for fd in range(3, 3 + (opts.preserve_fds or 0)):
        try:
            os.fstat(fd)
        except OSError:
            raise RuntimeFailure(f"--preserve-fds: fd {fd} is not open") from None
    from runtime.capabilities import warn_ungrantable

    warn_ungrantable((config.get("process") or {}).get("capabilities"), log.warn)

    c = Container.new(root, cid)
    mgr = None
    try:
        c.data.update({
            "ociVersion": OCI_VERSION, "bundle": bundle, "rootfs": rootfs,
            "created": log.now_rfc3339(), "owner": "", "status": CREATING,
            "annotations": config.get("annotations") or {}, "hooks": config.get("hooks") or {},
        })
        c.save()
        mgr, master = _spawn(c, config, plan, bundle, rootfs, opts, for_run)
        c.data["status"] = CREATED
        c.save()
        if opts.pid_file:
            write_pid_file(opts.pid_file, c.pid)
        return c, master
    except BaseException:
        teardown(c, mgr)
        c.close()
        raise


def _spawn(c, config, plan, bundle, rootfs, opts, for_run):
    import sys

    from runtime import cgroups, devices, hooks, init, namespaces
    from runtime.sync import Channel

    linux = config.get("linux") or {}
    os.mkfifo(c.fifo, 0o600)
    fifo_fd = os.open(c.fifo, os.O_RDWR | os.O_CLOEXEC)
    init_fd = _sealed_init()
    ns_fds = plan.open_paths()
    try:
        mgr = cgroups.manager(c.id, linux.get("cgroupsPath"), linux.get("resources"),
                              systemd=opts.systemd_cgroup, rootless=opts.rootless)
    except cgroups.CgroupError as e:
        raise RuntimeFailure(str(e)) from None
    try:
        mgr.create()
    except cgroups.CgroupError as e:
        mgr.destroy()
        raise RuntimeFailure(str(e)) from None
    c.data["cgroups"] = mgr.to_state()
    c.save()
    resources = dict(linux.get("resources") or {})
    resources["devices"] = devices.cgroup_rules(resources.get("devices"), linux.get("devices"))
    try:
        mgr.set(resources)
    except cgroups.CgroupError as e:
        raise RuntimeFailure(str(e)) from None
    parent, child = Channel.pair()
    job = init.Job(config=config, plan=plan, bundle=bundle, rootfs=rootfs, chan=child,
                   ns_fds=ns_fds, fifo_fd=fifo_fd, init_fd=init_fd,
                   preserve_fds=opts.preserve_fds or 0, no_pivot=opts.no_pivot,
                   no_new_keyring=opts.no_new_keyring, container_id=c.id, cgroups=mgr,
                   hook_state=None, hook_words_start=[])
    sys.stdout.flush()
    sys.stderr.flush()
    lock_fd = c._fd
    pid1, job.in_unified = _fork_into(mgr)
    if pid1 == 0:
        parent.close()
        os.close(lock_fd)
        init.stage1(job)
    child.close()
    os.close(fifo_fd)
    os.close(init_fd)
    for _, fd in ns_fds:
        os.close(fd)
    master = None
    try:
        while True:
            kind, msg, fds = parent.recv()
            if kind == "userns":
                namespaces.write_id_maps(pid1, linux.get("uidMappings"), linux.get("gidMappings"))
                parent.send("mapped")
            elif kind == "pid":
                c.data["pid"] = msg["pid"]
                c.data["start_time"] = proc_start_time(msg["pid"])
                c.save()
                _reap(pid1)
                pid1 = None
            elif kind == "hooks":
                # prestart, createRuntime and createContainer are lifecycle steps 3-5,
                # after step 2 whose end the spec calls `created` (runc 1.1 says creating).
                state = spec_state(c, CREATED, c.pid)
                hooks.run(config, "prestart", state)
                hooks.run(config, "createRuntime", state)
                created = dict(state, status=CREATED)
                parent.send("hooks-done", state=state, start_words=hooks.encode_for_init(config, created))
            elif kind == "console":
                if opts.console_socket:
                    from runtime import console

                    console.send_master(opts.console_socket, fds[0])
                    os.close(fds[0])
                else:
                    master = fds[0]
            elif kind == "ready":
                break
            elif kind == "error":
                raise RuntimeFailure(msg["msg"])
            else:
                raise RuntimeFailure("container init exited before it was ready")
        kind, msg, _ = parent.recv()  # EOF once pyrunc-init has been exec'd
        if kind == "error":
            raise RuntimeFailure(msg["msg"])
        return mgr, master
    except BaseException:
        if master is not None:
            os.close(master)
        raise
    finally:
        parent.close()
        if pid1:
            try:
                os.kill(pid1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(pid1)


def _fork_into(mgr):
    """fork, the child starting in the container's cgroup2 directory when there is one
    (clone3 CLONE_INTO_CGROUP: moving it later costs a synchronize_rcu).  The parent is
    single-threaded, so a raw clone is as safe as os.fork here."""
    from runtime._native import ffi, lib

    d = mgr.path("")
    if d:
        try:
            cfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            cfd = -1
        if cfd >= 0:
            try:
                pid = lib.pyrunc_fork_into_cgroup(cfd)
                err = ffi.errno
            finally:
                if pid != 0:
                    os.close(cfd)
            if pid >= 0:
                if pid == 0:
                    os.close(cfd)
                return pid, True
            log.debug(f"clone3 into {d}: {os.strerror(err)}; forking and moving instead")
    return os.fork(), False


def _reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def teardown(c, mgr=None):
    """Kill the container's processes and remove its cgroups and state: nothing is left."""
    pid, start = c.data.get("pid"), c.data.get("start_time")
    if mgr is None:
        try:
            mgr = cgroups_of(c)
        except Exception:
            mgr = None
    if mgr is not None:
        try:
            if mgr.is_frozen():
                mgr.thaw()
        except Exception:
            pass
    if pid and proc_start_time(pid) == start:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_dead(pid, start)
        try:
            os.waitpid(pid, os.WNOHANG)  # our child when `run` made us its subreaper
        except ChildProcessError:
            pass
    if mgr is not None:
        for p in _safe_pids(mgr):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            mgr.destroy()
        except Exception as e:
            log.warn(f"remove cgroups of {c.id}: {e}")
    c.remove()


def _safe_pids(mgr):
    try:
        return mgr.pids()
    except Exception:
        return []


# -- start / run ---------------------------------------------------------------------

def start_container(c):
    import select

    st = c.status()
    if st != CREATED:
        if st == STOPPED:
            raise RuntimeFailure("cannot start a container that has stopped")
        raise RuntimeFailure(f"cannot start an already {st} container")
    try:
        wfd = os.open(c.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise RuntimeFailure("cannot start a container that has stopped") from None
        raise RuntimeFailure(f"start signal: {e.strerror}") from None
    rfd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.write(wfd, b"0")
        os.close(wfd)
        os.unlink(c.fifo)
        # pyrunc-init holds the fifo until its exec closes it: POLLHUP then means the
        # container's program runs (or init failed and wrote why into the fifo).
        poller = select.poll()
        poller.register(rfd, 0)  # POLLHUP (no writer left) is always reported
        while not poller.poll(1000) and c.alive():
            pass
        try:
            rest = os.read(rfd, 65536)
        except BlockingIOError:
            rest = b""
    finally:
        os.close(rfd)
    if rest and rest != b"0":
        raise RuntimeFailure(rest.decode(errors="replace").strip().splitlines()[-1])
    from runtime import hooks

    try:
        hooks.run(c.data, "poststart", spec_state(c))
    except RuntimeFailure:
        # Spec 1.3: a failing poststart hook is an error and the container is stopped;
        # its lifecycle goes on with delete (which runs the poststop hooks).
        pid, start_time = c.pid, c.data.get("start_time")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_dead(pid, start_time)
        raise


def wait_foreground(pid, master):
    """Forward signals to the container, pump the terminal, reap; return the exit status."""
    import select

    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(w)
    forward = [s for s in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                           signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD)]
    saved = {s: signal.signal(s, lambda *_: None) for s in forward}
    attach = None
    if master is not None:
        from runtime import console

        attach = console.Attach(master)
    status = None
    try:
        while True:
            # Reap first: the container may have exited before our SIGCHLD handler
            # existed; after this pass its signal wakes the select below.
            status = _reap_all(pid, status)
            if status is not None:
                break
            fds = [r]
            if attach is not None:
                fds += [attach.master] + ([0] if attach.stdin_open else [])
            try:
                readable, _, _ = select.select(fds, [], [], 1.0)
            except InterruptedError:
                readable = []
            if r in readable:
                for s in os.read(r, 1024):
                    if s == signal.SIGCHLD:
                        continue
                    if s == signal.SIGWINCH and attach is not None:
                        attach.resize()
                        continue
                    try:
                        os.kill(pid, s)
                    except ProcessLookupError:
                        pass
            if attach is not None and readable:
                if not attach.pump(readable):
                    attach = _drop_attach(attach)
        if attach is not None:
            while attach.pump(select.select([attach.master], [], [], 0.05)[0]):
                pass
    finally:
        if attach is not None:
            _drop_attach(attach)
        signal.set_wakeup_fd(old_wakeup)
        for s, h in saved.items():
            signal.signal(s, h)
        os.close(r)
        os.close(w)
    return status


def _reap_all(pid, status):
    """Reap every exited child (we are a subreaper); the exit status of pid once it exited."""
    while True:
        try:
            p, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if p == 0:
            return status
        if p == pid:
            status = os.waitstatus_to_exitcode(st)
            if status < 0:
                status = 128 - status


def _drop_attach(attach):
    attach.restore()
    os.close(attach.master)
    return None


# -- delete --------------------------------------------------------------------------

def delete_container(c, force):
    st = c.status()
    if st in (RUNNING, PAUSED) and not force:
        raise RuntimeFailure(f"cannot delete container {c.id} that is not stopped: {st}")
    state = c.spec_state()
    teardown(c)
    from runtime import hooks

    state["status"] = STOPPED
    hooks.run_all_warn(c.data, "poststop", state, log.warn)
