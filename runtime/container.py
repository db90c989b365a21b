"""The container lifecycle that several commands share: load and check a bundle, create
a container (cgroups, the init stages, the sealed waiter), start it, wait for it in the
foreground, tear it down.  The commands themselves live in runtime/commands/, one module
each; they raise RuntimeFailure with a one-line message.  A failed create leaves
nothing behind: the init process is killed, the cgroups and the state dir removed.
"""
import _signal as signal  # the C module: `signal` imports enum
import posix

from runtime import jsonio, log, ospath
from runtime.errors import ConfigError, RuntimeFailure
# start's and delete's work lives in their command modules (start_container,
# delete_container), which need not import this one; run imports them itself
from runtime.state import CREATED, CREATING, Container, Root, proc_start_time, test_step

OCI_VERSION = "1.3.0"
INIT_BINARY = ospath.join(ospath.dirname(ospath.abspath(__file__)), "pyrunc-init")


# -- config ------------------------------------------------------------------------

MAX_CONFIG_SIZE = 16 << 20  # bytes of config.json (Kubernetes' 256 KiB of annotations fit 64 times)


def read_config(bundle):
    """config.json parsed but not validated; ConfigError (`config.json: line L column
    C: <what>` for bad JSON) otherwise.  Shared with `check`."""
    import _stat as stat

    path = ospath.join(bundle, "config.json")
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC | posix.O_NONBLOCK | posix.O_NOCTTY)
    except OSError as e:
        raise ConfigError(f"config.json: cannot read {path}: {e.strerror}") from None
    try:
        if not stat.S_ISREG(posix.fstat(fd).st_mode):
            raise ConfigError(f"config.json: {path} is not a regular file")
        chunks, size = [], 0
        while size <= MAX_CONFIG_SIZE:
            chunk = posix.read(fd, MAX_CONFIG_SIZE + 1 - size if size < MAX_CONFIG_SIZE else 1)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise ConfigError(f"config.json: cannot read {path}: {e.strerror}") from None
    finally:
        posix.close(fd)
    if size > MAX_CONFIG_SIZE:
        raise ConfigError(f"config.json: larger than the limit of {MAX_CONFIG_SIZE >> 20} MiB")
    try:
        config = jsonio.loads(b"".join(chunks))
    except ValueError as e:
        raise ConfigError(f"config.json: {e}") from None
    if not isinstance(config, dict):
        raise ConfigError("config.json: must contain a JSON object")
    return config


def load_config(bundle):
    config = read_config(bundle)
    problems = config_problems(config)
    if problems:
        raise ConfigError(problems[0], lines=problems)
    return config


def config_problems(config):
    """validate_config's problems as create (and check) report them."""
    from runtime.validate import validate_config

    return [name_mount(config, p) for p in validate_config(config)]


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
    if not isinstance(dest, str) or not dest or not dest.isprintable() or len(dest) > 256:
        return problem  # a hostile destination is not worth showing
    return f"mounts[{idx}] ({dest}){rest}"


def rootfs_of(config, bundle):
    p = (config.get("root") or {}).get("path")
    if not p:
        raise ConfigError("root.path: is required")
    # As runc: the rootfs must not be a symlink nor go through one (symlinks in the
    # bundle's own path are fine: a relative root.path is taken from its real path).
    try:
        given = ospath.normpath(ospath.join(ospath.realpath(bundle), p))
        rootfs = ospath.realpath(given)
    except OSError as e:
        raise ConfigError(f"root.path: {p}: {e.strerror}") from None
    if rootfs != given and ospath.lexists(given):
        raise ConfigError(f"root.path: {p} is a symlink or goes through one ({given} -> {rootfs}): "
                          "give the real path")
    try:
        st, top = posix.stat(rootfs), posix.stat("/")
    except OSError:
        st = top = None
    if st is not None and (st.st_dev, st.st_ino) == (top.st_dev, top.st_ino):
        raise ConfigError(f"root.path: {p} is the host's root directory")
    if not ospath.isdir(rootfs):
        if not ospath.lexists(rootfs):
            raise ConfigError(f"root.path: {rootfs} does not exist")
        raise ConfigError(f"root.path: {rootfs} is not a directory")
    return rootfs


def _check_fit(config, plan):
    """What would fail half-way and validate.py does not already refuse (it checks the
    namespaces that hostname, id mappings and time offsets need): say it before
    anything is made."""
    linux = config.get("linux") or {}
    if (linux.get("uidMappings") or linux.get("gidMappings")) and "user" not in plan.new:
        raise ConfigError("linux.uidMappings: id mappings apply to a new user namespace, not a joined one")
    proc = config.get("process") or {}  # optional (spec): the container only holds its namespaces
    # Fields of the spec that pyrunc does not implement yet: refuse rather than ignore.
    unsupported = [("linux.intelRdt", linux.get("intelRdt")), ("linux.netDevices", linux.get("netDevices")),
                   ("linux.memoryPolicy", linux.get("memoryPolicy"))]
    for field, value in unsupported:
        if value:
            raise ConfigError(f"{field}: not supported by pyrunc yet")
    check_process_support(proc)
    personality = linux.get("personality") or {}
    if personality.get("flags"):
        raise ConfigError("linux.personality.flags: not supported by pyrunc yet")


def check_process_support(proc):
    """Fields of a process (create's or exec's) that pyrunc does not implement, or that
    this host cannot honour: refused rather than ignored."""
    unsupported = [("process.ioPriority", proc.get("ioPriority")), ("process.scheduler", proc.get("scheduler")),
                   ("process.execCPUAffinity", proc.get("execCPUAffinity")),
                   ("process.apparmorProfile", proc.get("apparmorProfile")),
                   ("process.selinuxLabel", proc.get("selinuxLabel"))]
    for field, value in unsupported:
        if value:
            reason = ("AppArmor is not enabled on this host" if "apparmor" in field else
                      "SELinux is not enabled on this host" if "selinux" in field else "not supported by pyrunc yet")
            raise ConfigError(f"{field}: {reason}")


def exec_state(config, no_new_keyring):
    """What `exec` needs of the config, kept in the state at create time (runc keeps its
    config in state.json): the bundle's config.json may have changed since."""
    linux = config.get("linux") or {}
    return {"process": config.get("process"), "seccomp": linux.get("seccomp"),
            "personality": linux.get("personality"), "no_new_keyring": bool(no_new_keyring)}


class Preflight:
    """Every check `create` makes before it makes anything, and what they compute:
    `check` runs exactly these (plus its host-fit extras), so its "ok" is a promise.

    problems: one line each (empty: create will get past its checks); rootfs, plan
    (namespaces), cgroups (the manager, nothing created yet), seccomp (the compiled
    filter or None).  With `tolerant` (check on a schema-invalid config) a check
    that trips over a wrong type is skipped: the schema errors already name it."""

    def __init__(self, config, bundle, cid="preflight", *, systemd=False, rootless=False, tolerant=False):
        from runtime import namespaces

        self.problems = []
        self.tolerant = tolerant
        linux = config.get("linux") or {}
        if tolerant and not isinstance(linux, dict):
            linux = {}  # the schema's error names it; the checks of its members are moot
        self.rootfs = self._try(rootfs_of, config, bundle)
        self.plan = self._try(namespaces.Plan, linux.get("namespaces"))
        if self.plan is not None:
            self._try(_check_fit, config, self.plan)
        self.cgroups = self._try(_cgroup_manager, cid, linux, systemd, rootless, config.get("annotations"))
        self.seccomp = self._try(_seccomp_filter, linux) if linux.get("seccomp") else None

    def _try(self, fn, *args):
        try:
            return fn(*args)
        except RuntimeFailure as e:
            self.problems += e.lines
        except Exception:
            if not self.tolerant:
                raise
        return None

    def raise_first(self):
        if self.problems:
            raise ConfigError(self.problems[0], lines=self.problems)


def _cgroup_manager(cid, linux, systemd, rootless, annotations=None):
    from runtime import cgroups

    try:
        return cgroups.manager(cid, linux.get("cgroupsPath"), linux.get("resources"),
                               systemd=systemd, rootless=rootless, annotations=annotations)
    except cgroups.CgroupError as e:
        raise ConfigError(str(e)) from None


def _seccomp_filter(linux):
    from runtime import seccomp

    try:
        return seccomp.compile_filter(linux["seccomp"]), seccomp.filter_flags(linux["seccomp"])
    except seccomp.SeccompError as e:
        raise ConfigError(str(e)) from None


# -- helpers -------------------------------------------------------------------------

def _sealed_init():
    """A sealed memfd copy of pyrunc-init: what the container execs, never the host file."""
    import fcntl

    try:
        src = posix.open(INIT_BINARY, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError as e:
        raise RuntimeFailure(f"{INIT_BINARY}: {e.strerror} (is pyrunc installed?)") from None
    fd = -1
    try:
        fd = posix.memfd_create("pyrunc-init", posix.MFD_CLOEXEC | posix.MFD_ALLOW_SEALING)
        size = posix.fstat(src).st_size
        off = 0
        try:
            while off < size:
                off += posix.sendfile(fd, src, off, size - off)
        except OSError as e:
            if e.errno not in (38, 22):  # ENOSYS, EINVAL (a sandbox): copied by reads instead
                raise
            while off < size:
                chunk = posix.pread(src, min(size - off, 1 << 20), off)
                if not chunk:
                    break
                off += posix.write(fd, chunk)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except OSError as e:
        if fd >= 0:
            posix.close(fd)
        raise RuntimeFailure(f"a sealed copy of {INIT_BINARY} (memfd): {e.strerror}") from None
    finally:
        posix.close(src)
    return fd


def wait_dead(pid, start_time, timeout=10.0):
    """Wait until pid (with that start time) has exited; True if it did in time.
    Through a pidfd; where the kernel (before 5.3) or a sandbox (a seccomp policy,
    gVisor, valgrind) has no pidfd_open, by looking at /proc every millisecond."""
    import select

    try:
        pfd = posix.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError as e:
        if e.errno not in (38, 1):  # ENOSYS; EPERM: a seccomp policy's answer
            raise
        return _poll_dead(pid, start_time, timeout)
    try:
        if proc_start_time(pid) != start_time:
            return True
        r, _, _ = select.select([pfd], [], [], timeout)
        return bool(r)
    finally:
        posix.close(pfd)


def _poll_dead(pid, start_time, timeout):
    import time

    end = time.monotonic() + timeout
    while proc_start_time(pid) == start_time:
        if time.monotonic() >= end:
            return False
        time.sleep(0.001)
    return True


def write_pid_file(path, pid):
    """Write the pid atomically: a new temporary file in the target's directory (by
    dirfd, O_CREAT|O_EXCL|O_NOFOLLOW: a planted symlink or file there is never written
    through) renamed over the name (rename replaces a symlink, never follows it)."""
    path = ospath.abspath(path)
    name = ospath.basename(path)
    tmp = "." + name + ".tmp"
    try:
        dfd = posix.open(ospath.dirname(path), posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
    except OSError as e:
        raise RuntimeFailure(f"--pid-file {path}: {e.strerror}") from None
    try:
        for _ in range(8):
            try:
                fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW | posix.O_CLOEXEC,
                             0o644, dir_fd=dfd)
                break
            except FileExistsError:
                posix.unlink(tmp, dir_fd=dfd)  # a stale or planted entry: removed, not followed
        else:
            raise RuntimeFailure(f"--pid-file {path}: {tmp} keeps reappearing in its directory")
        try:
            posix.write(fd, str(pid).encode())
        finally:
            posix.close(fd)
        posix.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError as e:
        raise RuntimeFailure(f"--pid-file {path}: {e.strerror}") from None
    finally:
        posix.close(dfd)


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
    """Create the container; return (Container, console master fd or None).

    Crash safety: everything is validated before anything is made (Preflight); the
    state dir is made and locked first and state.json records the cgroup plan before
    any cgroup exists; each cgroup directory is journaled before its mkdir; the
    container's processes all live in those cgroups.  So a create killed at any
    moment leaves a state dir from which `delete --force` removes every trace."""
    root = Root(opts.root)
    bundle = ospath.abspath(opts.bundle or ".")
    cid = opts.id
    from runtime.state import check_id

    check_id(cid)
    config = load_config(bundle)
    if log.debugging():
        log.debug(f"create {cid}: config loaded from {bundle}/config.json")
    pf = Preflight(config, bundle, cid, systemd=opts.systemd_cgroup, rootless=opts.rootless)
    pf.raise_first()
    if log.debugging():
        log.debug(f"create {cid}: config checked; rootfs {pf.rootfs}; namespaces new "
                  f"[{', '.join(sorted(pf.plan.new)) or '-'}], joined [{', '.join(sorted(pf.plan.join)) or '-'}]")
    proc = config.get("process") or {}
    if proc.get("terminal") and not opts.console_socket and (not for_run or opts.detach):
        raise RuntimeFailure("process.terminal is true: --console-socket is required with "
                             + ("run --detach" if for_run else "create"))
    if opts.console_socket and not proc.get("terminal"):
        raise RuntimeFailure("--console-socket given but process.terminal is false")
    from runtime.process import listen_fds

    opts.listen_fds = listen_fds()  # systemd socket activation: fds 3.. before --preserve-fds
    for fd in range(3, 3 + opts.listen_fds + (opts.preserve_fds or 0)):
        try:
            posix.fstat(fd)
        except OSError:
            what = "LISTEN_FDS" if fd < 3 + opts.listen_fds else "--preserve-fds"
            raise RuntimeFailure(f"{what}: fd {fd} is not open") from None
    from runtime.capabilities import warn_ungrantable

    warn_ungrantable((config.get("process") or {}).get("capabilities"), log.warn)
    test_step("create-validated")

    from runtime import init, namespaces

    pf.network_ahead = None
    if "network" in pf.plan.new and init.single_stage_ok(pf.plan, config):  # made while we go on
        pf.network_ahead = namespaces.NetworkAhead()
    try:
        return _create_validated(root, cid, config, pf, bundle, opts)
    finally:
        if pf.network_ahead is not None:
            pf.network_ahead.discard()  # not taken (create failed before its clone)


def _create_validated(root, cid, config, pf, bundle, opts):
    c = Container.new(root, cid)
    mgr = pf.cgroups
    try:
        # before anything is made: teardown would thaw (and kill in) a cgroup not ours
        _check_existing_cgroups(mgr)
    except BaseException:
        c.remove()
        c.close()
        raise
    try:
        c.data.update({
            "ociVersion": OCI_VERSION, "bundle": bundle, "rootfs": pf.rootfs,
            "created": log.now_rfc3339(), "owner": "", "status": CREATING,
            "annotations": config.get("annotations") or {}, "hooks": config.get("hooks") or {},
            "cgroups": mgr.to_state(), "exec": exec_state(config, opts.no_new_keyring),
        })
        c.save()
        test_step("create-state-saved")
        master = _spawn(c, config, pf, bundle, opts)
        c.data["status"] = CREATED
        c.save()
        test_step("create-saved")
        if log.debugging():
            log.debug(f"create {cid}: created, init pid {c.pid}, waiting for start on {c.fifo}")
        if opts.pid_file:
            write_pid_file(opts.pid_file, c.pid)
        return c, master
    except BaseException:
        teardown(c, mgr)
        c.close()
        raise
    finally:
        mgr.close_dirs()


def _spawn(c, config, pf, bundle, opts):
    import sys

    from runtime import cgroups, devices, init, namespaces
    from runtime.sync import Channel

    linux = config.get("linux") or {}
    plan, mgr = pf.plan, pf.cgroups
    posix.mkfifo(c.fifo, 0o600)
    test_step("create-fifo")
    fifo_fd = posix.open(c.fifo, posix.O_RDWR | posix.O_CLOEXEC)
    if log.debugging():
        log.debug(f"create {c.id}: start fifo {c.fifo} made and opened")
    init_fd = _sealed_init()
    ns_fds = plan.open_paths()
    mgr.journal = lambda path, ours=True, kind="cgroup": c.journal(kind, path, ours)
    try:
        mgr.create()
        test_step("create-cgroups-made")
        mgr.open_dirs()
        resources = dict(linux.get("resources") or {})
        resources["devices"] = devices.cgroup_rules(resources.get("devices"), linux.get("devices"))
        mgr.set(resources)
    except cgroups.CgroupError as e:
        raise RuntimeFailure(str(e)) from None
    finally:
        mgr.journal = None
    c.data["cgroups"] = mgr.to_state()
    test_step("create-cgroups-set")
    if log.debugging():
        log.debug(f"create {c.id}: cgroups at {', '.join(mgr._dirs()) or '-'} (made: {', '.join(mgr.created) or 'none'}), "
                  "resources set")
    parent, child = Channel.pair()
    job = init.Job(config=config, plan=plan, bundle=bundle, rootfs=pf.rootfs, chan=child,
                   ns_fds=ns_fds, fifo_fd=fifo_fd, init_fd=init_fd,
                   preserve_fds=opts.listen_fds + (opts.preserve_fds or 0), listen_fds=opts.listen_fds,
                   no_pivot=opts.no_pivot,
                   no_new_keyring=opts.no_new_keyring, container_id=c.id, cgroups=mgr,
                   hook_state=None, hook_words_start=[], seccomp=pf.seccomp, parent_pid=posix.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    lock_fd = c._fd
    pid1 = -1
    single = init.single_stage_ok(plan, config)
    if single:  # one child, cloned straight into its namespaces (see init.py)
        flags = plan.unshare_flags()
        netns = pf.network_ahead.take() if pf.network_ahead is not None else None
        if netns is not None:  # made ahead: the child joins it (job.ns_fds is ns_fds)
            ns_fds.append(("network", netns))
            flags &= ~namespaces.TYPES["network"][0]
        pid1, job.in_unified = _fork_into(mgr, flags)
        if pid1 < 0 and netns is not None:  # two stages instead: they make their own
            ns_fds.remove(("network", netns))
            posix.close(netns)
    if pid1 < 0:  # two stages (or clone3 refused the flags: stage 1 says why)
        single = False
        pid1, job.in_unified = _fork_into(mgr)
    if pid1 == 0:
        parent.close()
        posix.close(lock_fd)
        c.close_journal()
        (init.single_stage if single else init.stage1)(job)
    test_step("create-forked")
    child.close()
    posix.close(fifo_fd)
    posix.close(init_fd)
    for _, fd in ns_fds:
        posix.close(fd)
    master = None
    try:
        while True:
            # Single stage: the child is the container's init and its pid is known, but
            # this process writes nothing until the child's first message (its pages are
            # shared with the child until it execs: every one written here is copied),
            # and the pid goes into state.json with the status `created` that follows,
            # unless hooks run before it (they may ask `state`).  A create killed before
            # that leaves the init in the journaled cgroups, where teardown finds it (it
            # is killed with create until the exec, by its PDEATHSIG).
            kind, msg, fds = parent.recv()
            if pid1 is not None and single:
                _save_pid(c, pid1, save=kind == "hooks")
                pid1 = None  # from here on teardown kills it by its pid in c.data
                from runtime.process import set_oom_score_adj

                set_oom_score_adj(c.pid, (config.get("process") or {}).get("oomScoreAdj"))
            if kind == "userns":
                namespaces.write_id_maps(pid1, linux.get("uidMappings"), linux.get("gidMappings"))
                parent.send("mapped")
            elif kind == "pid":
                _save_pid(c, msg["pid"])
                _reap(pid1)
                pid1 = None
            elif kind == "hooks":  # sent only when the config has hooks
                if pid1 is not None:  # stage 1 reports the pid before stage 2 goes on
                    raise RuntimeFailure("container init: stage 1 exited without reporting the pid")
                # prestart, createRuntime and createContainer are lifecycle steps 3-5,
                # after step 2 whose end the spec calls `created` (runc 1.1 says creating).
                state = spec_state(c, CREATED, c.pid)
                start_words = []
                if config.get("hooks"):  # the module only when there are hooks
                    from runtime import hooks

                    hooks.run(config, "prestart", state)
                    hooks.run(config, "createRuntime", state)
                    start_words = hooks.encode_for_init(config, dict(state, status=CREATED))
                test_step("create-hooks")
                if log.debugging():
                    hk = config.get("hooks") or {}
                    log.debug(f"create {c.id}: rootfs mounted; hooks run: prestart {len(hk.get('prestart') or ())}, "
                              f"createRuntime {len(hk.get('createRuntime') or ())}")
                parent.send("hooks-done", state=state, start_words=start_words)
            elif kind == "console":
                if opts.console_socket:
                    from runtime import console

                    console.send_master(opts.console_socket, fds[0])
                    posix.close(fds[0])
                else:
                    master = fds[0]
            elif kind == "seccomp":  # the listener fd of linux.seccomp, for its agent
                from runtime import seccomp

                seccomp.forward_listener(parent, linux["seccomp"], fds, state=spec_state(c, CREATING, c.pid), pid=c.pid)
            elif kind == "ready":
                if pid1 is not None:  # stage 1 reports the pid before stage 2 is ready
                    raise RuntimeFailure("container init: stage 1 exited without reporting the pid")
                break
            elif kind == "error":
                raise RuntimeFailure(msg["msg"])
            else:
                raise RuntimeFailure("container init exited before it was ready")
        if msg.get("listener"):  # pyrunc-init loads the filter and sends its listener fd
            from runtime import seccomp

            seccomp.forward_listener(parent, linux["seccomp"], state=spec_state(c, CREATING, c.pid), pid=c.pid)
        kind, msg, _ = parent.recv()  # EOF once pyrunc-init has been exec'd
        if kind == "error":
            raise RuntimeFailure(msg["msg"])
        test_step("create-init-execd")
        return master
    except BaseException:
        if master is not None:
            posix.close(master)
        raise
    finally:
        parent.close()
        if pid1:
            try:
                posix.kill(pid1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(pid1)


def _save_pid(c, pid, save=True):
    """The container init's pid (and start time) into its state; saved now with
    `save` (else with the state's next save)."""
    test_step("create-pid")
    c.data["pid"] = pid
    c.data["start_time"] = proc_start_time(pid)
    if not save:
        return
    c.save()
    test_step("create-pid-saved")
    if log.debugging():
        log.debug(f"create {c.id}: namespaces made, container init pid {pid}")


def _check_existing_cgroups(mgr):
    """A cgroup that exists before create, as runc checks it: frozen (v1 freezer.state
    FROZEN/FREEZING, cgroup2 cgroup.events frozen 1, e.g. a parent frozen) is an error,
    since the container's processes would hang in it; with processes in it, a warning."""
    # only the freezer hierarchy has freezer.state, only cgroup2 has cgroup.events
    for sub, name in (("freezer", "freezer.state"), ("", "cgroup.events")):
        d = mgr.path(sub)
        if not d:
            continue
        while not ospath.isdir(d) and d.count("/") > 4:  # not made yet: it would inherit its parent's
            d = ospath.dirname(d)
        try:
            with open(ospath.join(d, name), "rb") as f:
                text = f.read()
        except OSError:
            continue
        if (text.strip() in (b"FROZEN", b"FREEZING")) if sub else (b"frozen 1" in text.splitlines()):
            raise RuntimeFailure(f"linux.cgroupsPath: the container's cgroup {d} is frozen: "
                                 "its processes would hang (thaw it or use another cgroup)")
    pids = _pids_in(mgr._dirs())
    if pids:
        log.warn(f"container's cgroup is not empty: {len(pids)} process(es) found")


def _fork_into(mgr, ns_flags=0):
    """fork, the child starting in the container's cgroup2 directory when there is one
    (clone3 CLONE_INTO_CGROUP: moving it later costs a synchronize_rcu) and, with
    ns_flags, in new namespaces (clone3 CLONE_NEW*); (pid, in the cgroup2 directory).
    The parent is single-threaded, so a raw clone is as safe as posix.fork here.  With
    ns_flags, pid is -1 when clone3 refuses them (the caller goes another way)."""
    from runtime._native import ffi, lib

    cfd, own = mgr.dir_fds.get(""), False  # create opened it right after making it
    if cfd is None and mgr.path(""):  # exec: the container's directory, opened now
        try:
            cfd, own = posix.open(mgr.path(""), posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC), True
        except OSError:
            cfd = None
    if cfd is not None:
        pid = lib.pyrunc_clone3(ns_flags, cfd) if ns_flags else lib.pyrunc_fork_into_cgroup(cfd)
        err = ffi.errno
        if own:
            posix.close(cfd)
        if pid >= 0:
            return pid, True
        log.debug(f"clone3 into {mgr.path('')}: {posix.strerror(err)}; forking and moving instead")
    if ns_flags:
        pid = lib.pyrunc_clone3(ns_flags, -1)
        if pid < 0:
            log.debug(f"clone3 with namespace flags {ns_flags:#x}: {posix.strerror(ffi.errno)}; two stages instead")
        return pid, False
    return posix.fork(), False


def _reap(pid):
    try:
        posix.waitpid(pid, 0)
    except ChildProcessError:
        pass


def teardown(c, mgr=None):
    """Kill the container's processes and remove its cgroups and state: nothing is left.

    Works from whatever a killed command left: state.json's cgroup plan plus the
    journal of directories made (a create killed before it saved them), the saved pid,
    and the processes found in the cgroups of every hierarchy (a killed create's
    children may not have been recorded yet)."""
    pid, start = c.data.get("pid"), c.data.get("start_time")
    if mgr is None:
        try:
            mgr = cgroups_of(c)
        except Exception:
            mgr = None
    journaled = c.journal_entries("cgroup")
    if mgr is not None:
        mgr.created += [d for d in journaled if d not in mgr.created]
        journaled = []
        try:
            if mgr.is_frozen():
                mgr.thaw()
        except Exception:
            pass
    if pid and proc_start_time(pid) == start:
        try:
            posix.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_dead(pid, start)
        try:
            posix.waitpid(pid, posix.WNOHANG)  # our child when `run` made us its subreaper
        except ChildProcessError:
            pass
    # Without a manager, only the journal's leaves hold our processes: a journaled
    # parent (the shared /pyrunc, a cgroupsPath parent) holds other containers too.
    dirs = mgr._dirs() if mgr is not None else _journal_leaves(journaled)
    if mgr is not None:
        try:
            mgr.kill_all()  # cgroup v2: the kernel kills the whole tree; the walk waits
        except Exception:
            pass
    _kill_all_in(dirs)
    test_step("delete-killed")
    if mgr is not None:
        try:
            mgr.destroy()
        except Exception as e:
            log.warn(f"remove cgroups of {c.id}: {e}")
    elif journaled:
        _rmdirs(journaled)
    if mgr is None:  # the systemd driver's scopes a create killed early had started
        units = c.journal_entries("systemd-unit")
        if units:
            from runtime.cgroups import systemd

            systemd.stop_units(units, log.warn)
    test_step("delete-cgroups-removed")
    c.remove()


def _pids_in(dirs):
    pids = set()
    for top in dirs:
        for dirpath in ospath.walk_dirs(top):
            try:
                with open(ospath.join(dirpath, "cgroup.procs"), "rb") as f:
                    pids.update(int(x) for x in f.read().split())
            except (OSError, ValueError):
                pass
    return pids


def _kill_all_in(dirs, timeout=5.0):
    """SIGKILL every process in the cgroup dirs (every hierarchy: a process may have
    joined only some) until they are empty; a process forking meanwhile is caught by
    the next pass."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        pids = _pids_in(dirs)
        if not pids or time.monotonic() > deadline:
            return
        for p in pids:
            try:
                posix.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)


def _journal_leaves(dirs):
    """The container's own cgroup directories among journaled ones: the deepest (every
    hierarchy has the same relative path; a create killed between a parent's mkdir and
    its leaf's has forked nothing yet).  Parents are never walked: they may hold others."""
    if not dirs:
        return []
    depth = max(d.rstrip("/").count("/") for d in dirs)
    return [d for d in dirs if d.rstrip("/").count("/") == depth]


def _rmdirs(dirs):
    """Remove journaled cgroup directories (no state.json left to build a manager):
    the leaves' sub-cgroups first, deepest first, busy leaves retried briefly; a
    journaled parent is removed only if empty (other containers may be below it)."""
    import time

    from runtime.cgroups import Manager

    deadline = time.monotonic() + Manager.rmdir_timeout
    leaves = set(_journal_leaves(dirs))
    todo = []
    for d in dirs:
        if d in leaves:
            for dirpath in ospath.walk_dirs(d, topdown=False):
                todo.append(dirpath)
        todo.append(d)
    for d in sorted(set(todo), key=lambda p: p.count("/"), reverse=True):
        err = Manager._rmdir(d, deadline if d not in dirs or d in leaves else None)
        if err:
            log.warn(err)


# -- start / run ---------------------------------------------------------------------

def wait_foreground(pid, master):
    """Forward signals to the container, pump the terminal, reap; return the exit status."""
    import select

    r, w = posix.pipe2(posix.O_NONBLOCK | posix.O_CLOEXEC)
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
                for s in posix.read(r, 1024):
                    if s == signal.SIGCHLD:
                        continue
                    if s == signal.SIGWINCH and attach is not None:
                        attach.resize()
                        continue
                    try:
                        posix.kill(pid, s)
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
        posix.close(r)
        posix.close(w)
    return status


def _reap_all(pid, status):
    """Reap every exited child (we are a subreaper); the exit status of pid once it exited."""
    while True:
        try:
            p, st = posix.waitpid(-1, posix.WNOHANG)
        except ChildProcessError:
            return status
        if p == 0:
            return status
        if p == pid:
            status = posix.waitstatus_to_exitcode(st)
            if status < 0:
                status = 128 - status


def _drop_attach(attach):
    attach.restore()
    posix.close(attach.master)
    return None


# -- delete: runtime/commands/delete.py (delete_container; teardown above is its full path)
