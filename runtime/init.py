"""The container side of create: what runs in the forked children, in the spec's order.

stage 1 (forked from `create`): joins namespaces by path, creates the user namespace
  (the parent writes its id maps), waits until the parent has put it in its cgroups,
  creates the other namespaces and forks stage 2, whose pid it reports; then exits.
stage 2 (pid 1 of a new pid namespace): mounts, devices, the parent's prestart and
  createRuntime hooks, createContainer hooks, pivot_root, console, sysctl, masked and
  read-only paths, hostname, rlimits, user, capabilities, seccomp; then it execs
  pyrunc-init from a sealed memfd, which waits for `start` (or, for `exec`, execs
  straight away).

Both report failures to the parent as one line over the sync channel and exit 1.

When no namespace needs the two stages (no user, cgroup or time namespace to make, none
of user, pid, cgroup or time to join: the usual container), create clones one child
straight into its new namespaces instead (single_stage: clone3 with the CLONE_NEW*
flags): the steps of stage 1 that remain, then stage 2's.  One fork, one Python process
exit and one message less on every create.
"""
import _signal as signal  # the C module: `signal` imports enum
import posix
import sys

from runtime import capabilities, namespaces, ospath, process  # mounts: create's stages only (exec needs none)
from runtime.errors import RuntimeFailure
from runtime.state import test_step


class Job:
    """Everything the children need; filled in by the parent before fork."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _guard(fn, job):
    """Run a stage; any failure goes to the parent as one line; never returns."""
    code = 0
    try:
        fn(job)
    except RuntimeFailure as e:
        _report(job, str(e))
        code = 1
    except OSError as e:
        _report(job, f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
        code = 1
    except BaseException as e:  # a bug: still one line, and never a traceback
        _report(job, f"internal error in container init: {type(e).__name__}: {e}")
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        posix._exit(code)


def _report(job, msg):
    try:
        job.chan.send("error", msg=msg)
    except OSError:
        pass


def stage1(job):
    _guard(_stage1, job)


def _stage1(job):
    from runtime._native import lib

    lib.prctl(lib.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if getattr(job, "parent_pid", None) and posix.getppid() != job.parent_pid:
        posix._exit(1)  # the parent died before PDEATHSIG was armed: nobody to report to
    lib.prctl(lib.PR_SET_DUMPABLE, 0, 0, 0, 0)
    test_step("stage1-start")
    _preload(job.config)
    plan = job.plan
    # Join the container's cgroups first, before any namespace (the cgroup namespace
    # is rooted where we are when it is created) and before we allocate much.
    job.cgroups.join_self(skip_unified=job.in_unified)
    test_step("stage1-joined")
    process.set_oom_score_adj("self", (job.config.get("process") or {}).get("oomScoreAdj"))
    # bind sources (and idmapped mounts) opened while we still have the host's privileges
    from runtime import mounts

    job.bind_trees = mounts.preopen_binds(job.config, job.bundle, plan.has("user"),
                                          dict(job.ns_fds).get("user"), ospath.realpath(job.rootfs)) \
        if plan.has("mount") else {}
    ns_fds = dict(job.ns_fds)
    if "user" in ns_fds:
        namespaces.setns(ns_fds.pop("user"), "user")
    elif "user" in plan.new:
        namespaces.unshare(namespaces.TYPES["user"][0], "user namespace")
        job.chan.send("userns")
        job.chan.expect("mapped")
    if plan.has("user"):
        namespaces.become_root("linux.uidMappings")
    namespaces.join(ns_fds)
    namespaces.unshare(plan.unshare_flags(), "namespaces")
    if "time" in plan.new:
        namespaces.write_time_offsets(job.config.get("linux", {}).get("timeOffsets"))
    sys.stdout.flush()
    sys.stderr.flush()
    # Stage 2 shares the channel: it waits until this stage has sent its pid (EOF on this
    # pipe when we exit), so the parent always has the pid before stage 2's "hooks" (the
    # hooks' state needs it) and "ready" (a pid arriving after it was taken for the end
    # of the exchange: the container then had no pid and `run` said "cannot start a
    # container that has stopped").
    order_r, order_w = posix.pipe2(posix.O_CLOEXEC)
    pid = posix.fork()
    if pid == 0:
        posix.close(order_w)
        job.order_fd = order_r
        _guard(_stage2, job)
    posix.close(order_r)
    test_step("stage1-forked")
    job.chan.send("pid", pid=pid)
    posix._exit(0)


# What clone3 cannot do for the one child of single_stage: a user namespace needs its id
# maps written from outside and bind sources opened before it is entered; a cgroup
# namespace must be made after the v1 cgroups are joined; time offsets are written
# before any process is in the time namespace; a joined pid namespace takes a fork.
TWO_STAGE_NEW = frozenset(("user", "cgroup", "time"))
TWO_STAGE_JOIN = frozenset(("user", "pid", "cgroup", "time"))


def single_stage_ok(plan, config):
    if plan.new & TWO_STAGE_NEW or plan.join.keys() & TWO_STAGE_JOIN:
        return False
    # an idmapped mount's user namespace is made by a helper process whose maps are
    # written through the host's /proc by its pid: a pid of the host's pid namespace
    for m in config.get("mounts") or ():
        if m.get("uidMappings") or m.get("gidMappings") or \
                any(o in ("idmap", "ridmap") for o in m.get("options") or ()):
            return False
    return True


def single_stage(job):
    _guard(_single_stage, job)


def _single_stage(job):
    """The child create cloned into its new namespaces (and cgroup2 directory): pid 1
    of its pid namespace from the start.  Stage 1's steps but the namespaces, then
    stage 2's.  Its oomScoreAdj is set by the parent, which knows its host pid."""
    from runtime._native import lib

    lib.prctl(lib.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if job.chan.peer_gone():  # the parent sends nothing before our first message
        posix._exit(1)  # the parent died before PDEATHSIG was armed: nobody to report to
    lib.prctl(lib.PR_SET_DUMPABLE, 0, 0, 0, 0)
    test_step("stage1-start")
    _preload(job.config)
    job.cgroups.join_self(skip_unified=job.in_unified)
    test_step("stage1-joined")
    job.bind_trees = {}  # no user namespace, no idmapped mount: stage 2 binds from the sources
    namespaces.join(dict(job.ns_fds))  # network, ipc, uts, mount: no fork needed
    test_step("stage1-forked")
    job.order_fd = None
    _stage2(job)


def _stage2(job):
    from runtime import mounts
    from runtime._native import lib

    lib.prctl(lib.PR_SET_DUMPABLE, 0, 0, 0, 0)
    if job.order_fd is not None:
        posix.read(job.order_fd, 1)  # EOF: stage 1 has reported our pid and exited
        posix.close(job.order_fd)
    test_step("stage2-start")
    config, plan = job.config, job.plan
    linux = config.get("linux") or {}
    proc = config.get("process") or {}
    root = config.get("root") or {}
    rootfs = job.rootfs

    if "network" in plan.new:
        from runtime import network

        network.loopback_up()
    if "uts" in plan.new or "uts" in plan.join:
        _set_names(config)

    # -- the rootfs: mounts and devices, still seeing the host ------------------------
    if plan.has("mount"):
        if "mount" in plan.new:  # a copy of the runtime's: its cgroup mounts as create read them
            from runtime import cgroups

            mounts.HOST_MOUNTINFO = cgroups.mountinfo_read()
        mounts.prepare_root(rootfs, linux.get("rootfsPropagation"))
        root_fd = posix.open(rootfs, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
        dev_is_ours = True  # the default devices are made unless /dev is bound from elsewhere
        for i, m in enumerate(config.get("mounts") or ()):
            mounts.do_mount(root_fd, m, i, job.bundle, plan.has("cgroup"), job.bind_trees.get(i))
            if m.get("destination", "").rstrip("/") == "/dev":
                dev_is_ours = not mounts.Options(m.get("options")).bind and m.get("type") != "bind"
        mounts.close_trees(job.bind_trees)
        from runtime import devices

        devices.create_devices(root_fd, linux.get("devices"), dev_is_ours, plan.has("user"), config.get("mounts"))
        if dev_is_ours or _is_dir_in(root_fd, "/dev/pts"):
            devices.setup_ptmx(root_fd)
        posix.close(root_fd)

    test_step("stage2-rootfs")
    if not job.no_new_keyring:
        _join_keyring(job.container_id)
    if linux.get("personality"):
        _set_personality(linux["personality"])

    if config.get("hooks"):  # without hooks, nothing to wait for (a round trip less)
        job.chan.send("hooks")  # prestart + createRuntime, run by the parent
        msg, _ = job.chan.expect("hooks-done")
        job.hook_state, job.hook_words_start = msg["state"], msg["start_words"]
        test_step("stage2-hooks-done")

    # createContainer hooks run in the rootfs as with runc and crun (`touch ./lib/x` must
    # not reach the host's /lib); pivot_root below changes the cwd again.
    try:
        posix.chdir(rootfs)
    except OSError as e:
        raise RuntimeFailure(f"root.path: chdir to {rootfs}: {e.strerror}") from None
    if (config.get("hooks") or {}).get("createContainer"):
        from runtime import hooks  # imported by _preload

        hooks.run(config, "createContainer", job.hook_state)

    if plan.has("mount"):
        if job.no_pivot:
            mounts.move_root(rootfs)
        else:
            mounts.pivot(rootfs)
    else:
        posix.chroot(rootfs)
        posix.chdir("/")

    if proc.get("terminal"):
        from runtime import console

        master = console.setup_in_container(proc.get("consoleSize"))
        job.chan.send("console", fds=[master])
        posix.close(master)

    # runc makes a missing cwd inside the new root, before it is made read-only
    process.make_cwd(proc.get("cwd") or "/")
    _sysctl(linux.get("sysctl"))
    mounts.readonly_paths(linux.get("readonlyPaths"))
    mounts.mask_paths(linux.get("maskedPaths"))
    if plan.has("mount"):
        mounts.remount_dev_readonly(config.get("mounts"))
    if root.get("readonly"):
        mounts.readonly_root()
    if plan.has("mount"):  # last: readonlyPaths and maskedPaths bind from / (runbindable)
        mounts.set_root_propagation(linux.get("rootfsPropagation"))

    finish_process(job, proc, linux)


def _preload(config):
    """Import now, before the user namespace and pivot_root, every module the container
    side needs: afterwards the host's Python files may be out of reach (a mapped root
    cannot enter /root, and after pivot_root nothing of the host is left)."""
    from runtime import _native, devices, procfs  # noqa: F401

    linux = config.get("linux") or {}
    if any(n.get("type") == "network" and not n.get("path") for n in linux.get("namespaces") or ()):
        from runtime import network  # noqa: F401
    if (config.get("hooks") or {}).get("createContainer"):
        import subprocess  # noqa: F401

        from runtime import hooks  # noqa: F401
    if (config.get("linux") or {}).get("seccomp"):
        import struct  # noqa: F401  (seccomp.compile_filter's)

        from runtime import seccomp  # noqa: F401
    if (config.get("process") or {}).get("terminal"):
        import termios  # noqa: F401

        from runtime import console  # noqa: F401


def finish_process(job, proc, linux):
    """The last steps, shared with `exec`: rlimits, seccomp, user, caps, cwd, fds, exec."""
    from runtime._native import lib

    process.set_rlimits(proc.get("rlimits"))
    if proc.get("noNewPrivileges"):
        lib.prctl(lib.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    seccomp_words = []
    if linux.get("seccomp"):
        from runtime import seccomp

        # create compiled it before anything was made (its errors name the rule)
        bpf, flags = getattr(job, "seccomp", None) or (seccomp.compile_filter(linux["seccomp"]),
                                                       seccomp.filter_flags(linux["seccomp"]))
        if proc.get("noNewPrivileges"):
            sfd = posix.memfd_create("pyrunc-seccomp", 0)
            posix.write(sfd, bpf)
            seccomp_words = ["seccomp", str(sfd), str(flags)]
            if flags & seccomp.FLAG_NEW_LISTENER:
                # pyrunc-init loads it before waiting for start and sends the runtime
                # the listener fd over the channel (see seccomp.py)
                seccomp_words += ["listener", str(job.chan.fileno())]
        else:
            # Without no_new_privs the filter needs CAP_SYS_ADMIN: load it before caps drop.
            listener = seccomp.load(bpf, flags)
            if flags & seccomp.FLAG_NEW_LISTENER:
                seccomp.hand_listener(job.chan, listener)

    caps = capabilities.masks(proc.get("capabilities"))
    capabilities.apply_bounding(caps["bounding"])
    # The cwd is entered as root first (runc: a dir the user cannot enter still works),
    # and only if that is refused, again as the user; verified inside the root after.
    cwd = proc.get("cwd") or "/"
    entered = process.enter_cwd_early(cwd)
    user = proc.get("user") or {}
    if proc.get("terminal"):  # create's and exec's pty slave, made by console.setup_in_container
        from runtime import console

        console.own_slave(user.get("uid", 0))
    lib.prctl(lib.PR_SET_KEEPCAPS, 1, 0, 0, 0)
    process.set_user(user)
    # A change of uid resets the dumpable flag to fs.suid_dumpable: set it again, so the
    # container cannot ptrace or read /proc of this process before it execs (CVE-2016-9962).
    lib.prctl(lib.PR_SET_DUMPABLE, 0, 0, 0, 0)
    lib.prctl(lib.PR_SET_KEEPCAPS, 0, 0, 0, 0)
    if "umask" in user:
        posix.umask(user["umask"])
    if not entered:
        process.set_cwd(cwd)
    process.verify_cwd(cwd)
    env = process.with_listen_env(process.env_list(proc), getattr(job, "listen_fds", 0))
    args = proc.get("args") or []
    # no args: a create without `process` (pyrunc-init holds the namespaces; start refuses)
    path = process.find_program(args[0], env, cwd) if args else None
    capabilities.apply_sets(caps)

    words = []
    if job.fifo_fd is not None:
        words += ["fifo", str(job.fifo_fd)]
    words += seccomp_words + list(job.hook_words_start)
    if path is not None:
        words += ["exec", path, str(len(args)), *args, str(len(env)), *env]
    ifd = posix.memfd_create("pyrunc-init-instructions", 0)
    posix.write(ifd, b"".join(w.encode() + b"\0" for w in words))
    posix.lseek(ifd, 0, 0)

    keep = {ifd, *range(3, 3 + job.preserve_fds)}
    if job.fifo_fd is not None:
        keep.add(job.fifo_fd)
    if seccomp_words:
        keep.add(int(seccomp_words[1]))
    if "listener" in seccomp_words:
        keep.add(job.chan.fileno())
    _cloexec_from(3)
    for fd in keep:
        posix.set_inheritable(fd, True)
    # Python ignores these; ignored signals would survive exec.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    test_step("stage2-exec")
    # listener: pyrunc-init will send the seccomp listener fd (see seccomp.forward_listener)
    job.chan.send("ready", listener="listener" in seccomp_words)
    # single_stage's PDEATHSIG would survive the exec: the created container must
    # outlive `create`
    lib.prctl(lib.PR_SET_PDEATHSIG, 0, 0, 0, 0)
    filter_loaded = linux.get("seccomp") and not seccomp_words  # above, before the caps dropped
    if job.fifo_fd is not None and not filter_loaded:
        # create (nothing runs in the container yet) with no filter loaded: the
        # unmapping of this process's memory left to a task pyrunc-init reaps, off
        # create's way (~0.8 ms); exec into a running container execs plainly
        from runtime._native import ffi

        lib.pyrunc_exec_init(job.init_fd, b"pyrunc-init", str(ifd).encode())
        raise RuntimeFailure(f"exec pyrunc-init: {posix.strerror(ffi.errno)}")
    try:
        posix.execve(job.init_fd, ["pyrunc-init", str(ifd)], {})
    except OSError as e:
        raise RuntimeFailure(f"exec pyrunc-init: {e.strerror}") from None


def _cloexec_from(first):
    """Every fd from `first` up close-on-exec: no fd of the runtime's or of its caller's
    reaches the container.  close_range (Linux 5.9); before it, or in a sandbox without
    it, every number up to the fd limit (at least 65536), one by one: /proc may be the
    container's own, which it can fake."""
    from runtime._native import lib

    if lib.pyrunc_close_range(first, 0xFFFFFFFF, lib.CLOSE_RANGE_CLOEXEC) == 0:
        return
    for fd in range(first, max(posix.sysconf("SC_OPEN_MAX"), 1 << 16)):
        try:
            posix.set_inheritable(fd, False)
        except OSError:
            pass  # not open


def _join_keyring(cid):
    """A new session keyring, so the container does not share the caller's keys."""
    from runtime._native import ffi, lib

    if lib.pyrunc_join_session_keyring(f"_ses.{cid}".encode()) < 0:
        err = ffi.errno
        if err not in (38, 122):  # ENOSYS, EDQUOT (a user namespace's quota): runc goes on too
            raise RuntimeFailure(f"join a new session keyring: {posix.strerror(err)} (--no-new-keyring skips it)")


PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def _set_personality(p):
    from runtime._native import ffi, lib

    domain = p.get("domain")
    if domain not in PERSONALITY_DOMAINS:
        raise RuntimeFailure(f"linux.personality.domain: unknown domain {domain!r}")
    if p.get("flags"):
        raise RuntimeFailure("linux.personality.flags: not supported by pyrunc yet")
    if lib.personality(PERSONALITY_DOMAINS[domain]) == -1:
        raise RuntimeFailure(f"linux.personality: {posix.strerror(ffi.errno)}")


def _is_dir_in(root_fd, path):
    from runtime import mounts

    try:
        fd = mounts.open_in_root(root_fd, path)
    except OSError:
        return False
    posix.close(fd)
    return True


def _set_names(config):
    from runtime._native import ffi, lib

    for field, fn in (("hostname", lib.sethostname), ("domainname", lib.setdomainname)):
        name = config.get(field)
        if name is not None:
            b = name.encode()
            if fn(b, len(b)) != 0:
                raise RuntimeFailure(f"{field}: cannot set {name!r}: {posix.strerror(ffi.errno)}")


def _sysctl(sysctl):
    """linux.sysctl, written through the container's /proc verified as a procfs, with no
    symlink followed and no mount crossed (a bind over /proc/sys/... cannot redirect it)."""
    if not sysctl:
        return
    from runtime import procfs

    proc_fd = procfs.open_root(what="linux.sysctl")
    try:
        from runtime.validate import format_path  # imported by create before the fork

        for key, value in sysctl.items():
            rel = key.replace(".", "/")
            field = format_path(["linux", "sysctl", key])
            if "" in rel.split("/") or ".." in rel.split("/") or key.startswith("/"):
                raise RuntimeFailure(f"{field}: invalid name")  # validate.py refuses it first
            procfs.write("sys/" + rel, str(value), field, proc_fd)
    finally:
        posix.close(proc_fd)
