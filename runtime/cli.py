"""pyrunc's command line: runc's commands and flags, so engines can call it unchanged.

Every call is a new process, so what this module and the hot commands (start, state,
kill, delete) import is start-up latency: `posix` and `sys` only, never `os` (~0.5 ms).
"""
import posix
import sys

from runtime import log, preload
from runtime.errors import RuntimeFailure

VERSION = "0.1.0"
SPEC_VERSION = "1.3.0"

# The command line is runc's (urfave/cli style: `--flag value`, `--flag=value`,
# `-flag`, short aliases, flags before positional arguments).  It is parsed from this
# table rather than with argparse: every call is a new process and argparse's import
# alone costs more than a whole `state`.
#   flag: (names, takes a value, default, help)
GLOBAL_FLAGS = [
    (("--root",), True, "/run/pyrunc", "root directory for the containers' state"),
    (("--log",), True, None, "log file (default: stderr)"),
    (("--log-format",), True, "text", "log format: text or json"),
    (("--debug",), False, False, "log debug messages"),
    (("--systemd-cgroup",), False, False, "manage cgroups with systemd (needs systemd as PID 1)"),
    (("--rootless",), True, "auto", "true, false or auto"),
    (("--criu",), True, "criu", "path to criu (checkpoint/restore is not implemented yet)"),
    (("-v", "--version"), False, False, "print the version"),
    (("-h", "--help"), False, False, "show help"),
]
_CREATE = [
    (("-b", "--bundle"), True, None, "path to the bundle (default: the current directory)"),
    (("--console-socket",), True, None, "AF_UNIX socket that receives the pty master (terminal: true)"),
    (("--pid-file",), True, None, "write the container's pid to this file"),
    (("--no-pivot",), False, False, "do not use pivot_root (MS_MOVE + chroot), for ramfs roots"),
    (("--no-new-keyring",), False, False, "do not create a new session keyring"),
    (("--preserve-fds",), True, 0, "pass N more fds (3..3+N-1) to the container"),
]
_HELP = [(("-h", "--help"), False, False, "show help")]
_UPDATE = [  # runc's update flags; they may also follow the container id
    (("-r", "--resources"), True, None, "path to a file with a LinuxResources JSON object, or '-' for the "
     "standard input (unchanged values can be omitted or 0); all other flags are then ignored"),
    (("--blkio-weight",), True, 0, "specifies per cgroup weight, range is from 10 to 1000"),
    (("--cpu-period",), True, None, "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"),
    (("--cpu-quota",), True, None, "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"),
    (("--cpu-share", "--cpu-shares"), True, None, "CPU shares (relative weight vs. other containers)"),
    (("--cpu-rt-period",), True, None, "CPU realtime period to be used for hardcapping (in usecs). 0 to use "
     "system default"),
    (("--cpu-rt-runtime",), True, None, "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period"),
    (("--cpuset-cpus",), True, None, "CPU(s) to use"),
    (("--cpuset-mems",), True, None, "memory node(s) to use"),
    (("--kernel-memory",), True, None, "kernel memory limit (ignored, as by runc: the kernel no longer has one)"),
    (("--kernel-memory-tcp",), True, None, "kernel memory limit for TCP buffers (in bytes)"),
    (("--memory",), True, None, "memory limit (in bytes; k, m, g suffixes; -1 for unlimited)"),
    (("--memory-reservation",), True, None, "memory reservation or soft_limit (in bytes)"),
    (("--memory-swap",), True, None, "total memory usage (memory + swap); set '-1' to enable unlimited swap"),
    (("--pids-limit",), True, 0, "maximum number of pids allowed in the container (-1: unlimited)"),
    (("--l3-cache-schema",), True, None, "Intel RDT/CAT L3 cache schema (not supported by pyrunc)"),
    (("--mem-bw-schema",), True, None, "Intel RDT/MBA memory bandwidth schema (not supported by pyrunc)"),
]
ID = "container-id"
#   command: (summary, flags, positional arguments (name, required), takes the rest)
COMMAND_TABLE = {
    "create": ("create a container from a bundle; it waits for `start`", _CREATE, [(ID, True)], False),
    "start": ("run the user process of a created container", [], [(ID, True)], False),
    "run": ("create and start a container; wait for it unless --detach", _CREATE + [
        (("-d", "--detach"), False, False, "do not wait for the container to exit"),
        (("--keep",), False, False, "do not delete the container after it exits"),
        (("--no-subreaper",), False, False, "accepted for runc compatibility"),
    ], [(ID, True)], False),
    "exec": ("execute new process inside the container", [
        (("--console-socket",), True, None, "AF_UNIX socket that receives the pty master (with --tty)"),
        (("--cwd",), True, None, "current working directory in the container"),
        (("-e", "--env"), True, [], "set an environment variable KEY=value (repeatable)"),
        (("-t", "--tty"), False, False, "allocate a pseudo-TTY"),
        (("-u", "--user"), True, None, "UID (format: <uid>[:<gid>])"),
        (("-g", "--additional-gids"), True, [], "additional gid (repeatable)"),
        (("-p", "--process"), True, None, "path to the process.json (a runtime-spec process; the flags "
         "that shape the process are then ignored)"),
        (("-d", "--detach"), False, False, "detach from the container's process"),
        (("--pid-file",), True, None, "write the process id (as the host sees it) to this file"),
        (("--process-label",), True, None, "SELinux label of the process (SELinux is not enabled here)"),
        (("--apparmor",), True, None, "AppArmor profile of the process (AppArmor is not enabled here)"),
        (("--no-new-privs",), False, None, "set the no new privileges value for the process"),
        (("-c", "--cap"), True, [], "add a capability to the bounding, effective, permitted and ambient sets "
         "(repeatable)"),
        (("--preserve-fds",), True, 0, "pass N additional file descriptors (3..3+N-1) to the process"),
        (("--cgroup",), True, [], "run the process in an (existing) sub-cgroup: [<controller>:]<cgroup> "
         "(repeatable)"),
        (("--ignore-paused",), False, False, "allow exec in a paused container"),
    ], [(ID, True)], True),
    "state": ("print the state of a container as JSON", [], [(ID, True)], False),
    "kill": ("send a signal (default SIGTERM) to a container", [
        (("-a", "--all"), False, False, "send the signal to every process of the container"),
    ], [(ID, True), ("signal", False)], False),
    "delete": ("delete a container and everything it holds", [
        (("-f", "--force"), False, False, "kill a running container first"),
    ], [(ID, True)], False),
    "list": ("list the containers under --root", [
        (("-q", "--quiet"), False, False, "print only the ids"),
        (("-f", "--format"), True, "table", "table or json"),
    ], [], False),
    "ps": ("list the processes of a container", [
        (("-f", "--format"), True, "table", "table or json"),
    ], [(ID, True)], True),
    "pause": ("freeze every process of a container", [], [(ID, True)], False),
    "resume": ("thaw a paused container", [], [(ID, True)], False),
    "update": ("update container resource constraints (flags, or a LinuxResources JSON)", _UPDATE, [(ID, True)], False),
    "events": ("display container events: OOM notifications and cpu, memory, IO and pids statistics", [
        (("--interval",), True, "5s", "set the stats collection interval"),
        (("--stats",), False, False, "display the container's stats then exit"),
    ], [(ID, True)], False),
    "features": ("print the runtime-spec features document of pyrunc", [], [], False),
    "spec": ("write a default config.json into a bundle", [
        (("-b", "--bundle"), True, None, "the bundle directory (default: the current one)"),
        (("--rootless",), False, False, "a config for a rootless container"),
    ], [], False),
    "checkpoint": ("checkpoint a running container (not supported: pyrunc has no CRIU support)", [
        (("--image-path",), True, None, "path for saving criu image files"),
        (("--work-path",), True, None, "path for saving work files and logs"),
        (("--parent-path",), True, None, "path for previous criu image files in pre-dump"),
        (("--leave-running",), False, False, "leave the process running after checkpointing"),
        (("--tcp-established",), False, False, "allow open tcp connections"),
        (("--ext-unix-sk",), False, False, "allow external unix sockets"),
        (("--shell-job",), False, False, "allow shell jobs"),
        (("--lazy-pages",), False, False, "use userfaultfd to lazily restore memory pages"),
        (("--status-fd",), True, None, "criu writes \\0 to this FD once lazy-pages is ready"),
        (("--page-server",), True, None, "ADDRESS:PORT of the page server"),
        (("--file-locks",), False, False, "handle file locks, for safety"),
        (("--pre-dump",), False, False, "dump the container's memory only, leave it running"),
        (("--manage-cgroups-mode",), True, None, "cgroups mode: soft, full, strict or ignore"),
        (("--empty-ns",), True, None, "create a namespace, but do not restore its properties"),
        (("--auto-dedup",), False, False, "enable auto deduplication of memory images"),
    ], [(ID, True)], False),
    "restore": ("restore a container from a checkpoint (not supported: pyrunc has no CRIU support)", [
        (("--console-socket",), True, None, "AF_UNIX socket that receives the pty master"),
        (("--image-path",), True, None, "path to criu image files for restoring"),
        (("--work-path",), True, None, "path for saving work files and logs"),
        (("--tcp-established",), False, False, "allow open tcp connections"),
        (("--ext-unix-sk",), False, False, "allow external unix sockets"),
        (("--shell-job",), False, False, "allow shell jobs"),
        (("--file-locks",), False, False, "handle file locks, for safety"),
        (("--manage-cgroups-mode",), True, None, "cgroups mode: soft, full, strict or ignore"),
        (("-b", "--bundle"), True, None, "path to the bundle (default: the current directory)"),
        (("-d", "--detach"), False, False, "detach from the container's process"),
        (("--pid-file",), True, None, "write the container's pid to this file"),
        (("--no-subreaper",), False, False, "disable the use of the subreaper"),
        (("--no-pivot",), False, False, "do not use pivot_root"),
        (("--empty-ns",), True, None, "create a namespace, but do not restore its properties"),
        (("--auto-dedup",), False, False, "enable auto deduplication of memory images"),
        (("--lazy-pages",), False, False, "use userfaultfd to lazily restore memory pages"),
        (("--lsm-profile",), True, None, "the LSM profile of the restored container"),
        (("--lsm-mount-context",), True, None, "the LSM mount context of the restored container"),
    ], [(ID, True)], False),
    "check": ("check a bundle: schema and host-fit problems, all at once (not in runc)", [
        (("-b", "--bundle"), True, None, "the bundle directory (default: the current one)"),
    ], [], False),
}
# Commands that exist (runc's flags) but always fail: `-h` shows them and exits 1.
NOT_SUPPORTED = {"checkpoint": "checkpoint/restore is not supported by pyrunc",
                 "restore": "checkpoint/restore is not supported by pyrunc"}
_CHOICES = {"log_format": ("text", "json"), "format": ("table", "json")}


class UsageError(Exception):
    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


class Options:
    def __repr__(self):
        return f"Options({self.__dict__})"


def _attr(names):
    return names[-1].lstrip("-").replace("-", "_")


def _parse_flags(args, flags, opts, where, stop_at_positional):
    """Consume flags from args (a list); return the positional arguments."""
    lookup = {}
    for names, takes, default, _ in flags:
        setattr(opts, _attr(names), list(default) if isinstance(default, list) else default)
        for n in names:
            lookup[n] = (names, takes, default)
            if n.startswith("--"):
                lookup[n[1:]] = (names, takes, default)  # urfave/cli accepts -flag too
    positional = []
    while args:
        a = args.pop(0)
        if a == "--":
            positional += args
            args.clear()
            break
        if not a.startswith("-") or a == "-":
            positional.append(a)
            if stop_at_positional:
                positional += args
                args.clear()
                break
            continue
        name, eq, value = a.partition("=")
        if name not in lookup:
            raise UsageError(f"{where}: flag provided but not defined: {name}")
        names, takes, default = lookup[name]
        if takes:
            if not eq:
                if not args:
                    raise UsageError(f"{where}: flag needs an argument: {name}")
                value = args.pop(0)
            if isinstance(default, int) and not isinstance(default, bool):
                try:
                    value = int(value)
                except ValueError:
                    raise UsageError(f"{where}: invalid value {value!r} for flag {name}: not a number") from None
            key = _attr(names)
            if key in _CHOICES and value not in _CHOICES[key]:
                raise UsageError(f"{where}: invalid value {value!r} for flag {name}: "
                                 f"one of {', '.join(_CHOICES[key])}")
            if isinstance(default, list):  # a repeatable flag
                value = getattr(opts, key) + [value]
        else:
            if eq and value not in ("true", "false"):
                raise UsageError(f"{where}: invalid boolean value {value!r} for flag {name}")
            value = value != "false"
        setattr(opts, _attr(names), value)
    return positional


def parse(argv):
    opts = Options()
    try:
        return _parse(argv, opts)
    except UsageError as e:
        e.opts = opts  # the global flags read so far: --log gets the error too
        raise


def _parse(argv, opts):
    args = list(argv)
    rest = _parse_flags(args, GLOBAL_FLAGS, opts, "pyrunc", stop_at_positional=True)
    opts.command = rest[0] if rest else None
    if opts.command is None or opts.help or opts.version:
        return opts
    if opts.command in ("help", "h"):  # urfave/cli's help command: `help [COMMAND]`
        topic = rest[1] if len(rest) > 1 else None
        if topic is not None and topic not in COMMAND_TABLE and topic not in ("help", "h"):
            raise UsageError(f"No help topic for '{topic}'", status=3)
        opts.command, opts.help = (topic if topic not in ("help", "h") else None), True
        return opts
    if opts.command not in COMMAND_TABLE:
        raise UsageError(f"No help topic for '{opts.command}'", status=3)
    _, flags, posargs, takes_rest = COMMAND_TABLE[opts.command]
    where = f"pyrunc {opts.command}"
    pos = _parse_flags(rest[1:], flags + _HELP, opts, where, stop_at_positional=takes_rest)
    if opts.help:
        return opts
    required = [n for n, req in posargs if req]
    if len(pos) < len(required) or (len(pos) > len(posargs) and not takes_rest):
        want = " ".join(n if req else f"[{n}]" for n, req in posargs) or "no arguments"
        raise UsageError(f"{where}: wrong number of arguments: expected {want}")
    for (name, _), value in zip(posargs, pos):
        setattr(opts, name.replace("container-", "").replace("-", "_"), value)
    for name, req in posargs:
        if not hasattr(opts, name.replace("container-", "")):
            setattr(opts, name.replace("container-", ""), None)
    opts.rest = pos[len(posargs):]
    return opts


# The modules each lifecycle command imports (with the default config), in the order
# their imports finish, so each comes after the ones it imports: runtime.preload()
# loads them before the command's module, ~5x faster than `import` (runtime/__init__.py).
# A module missing here is imported as usual; tests/test_imports.py keeps them complete.
# The cgroup driver modules (v1, v2, systemd) depend on the host: runtime.cgroups
# preloads them itself when it picks one.
_STATE = ("runtime.commands", "runtime.state")
_CGROUPS = ("runtime.cgroupdirs", "runtime.cgroups")
_MAKE = ("runtime.validate", "runtime.schema_patterns", "runtime._validator", "runtime.mounts",
         "runtime.namespaces") + _CGROUPS + ("runtime.cgroups.resources", "runtime.process",
                                             "runtime.capabilities", "runtime.devices", "runtime.init",
                                             "runtime.sync", "runtime.procfs", "runtime.network")
PRELOAD = {
    "state": _STATE + ("runtime.commands.state",),
    "start": _STATE + ("runtime.commands.start",),
    "kill": _STATE + ("runtime.commands.kill",),
    "list": _STATE + ("runtime.commands.list",),
    "delete": ("runtime.commands", "runtime.cgroupdirs", "runtime.state", "runtime.commands.delete"),
    "create": _STATE + ("runtime._native", "runtime.ospath", "runtime.container", "runtime.commands.create") + _MAKE,
    "run": _STATE + ("runtime._native", "runtime.ospath", "runtime.container", "runtime.commands.run") + _MAKE + ("runtime.commands.start",
                                                                              "runtime.commands.delete"),
    "exec": _STATE + ("runtime._native", "runtime.ospath", "runtime.container", "runtime.commands.exec", "runtime.capabilities") + _CGROUPS + (
        "runtime.namespaces", "runtime.process", "runtime.init", "runtime.sync"),
    "pause": _STATE + ("runtime.ospath", "runtime.container", "runtime.commands.pause") + _CGROUPS,
    "resume": _STATE + ("runtime.ospath", "runtime.container", "runtime.commands.resume") + _CGROUPS,
    "update": _STATE + ("runtime.commands.update", "runtime.ospath") + _CGROUPS + (
        "runtime.container", "runtime.validate", "runtime.cgroups.resources", "runtime.schema_patterns",
        "runtime._validator"),
}


def command_module(name):
    """runtime/commands/<name>.py: only the module of the command being run is imported
    (with the modules it will import, preloaded)."""
    preload(PRELOAD.get(name, ()))
    return __import__(f"runtime.commands.{name}", fromlist=["main"])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts = parse(argv)
    except UsageError as e:
        from runtime.usage import log_target

        path, fmt = log_target(argv, getattr(e, "opts", None))
        if path:  # engines show their users only the log
            try:
                log.setup(path, fmt, False)
                log.log("error", str(e))
            except SystemExit:
                pass
        sys.stderr.write(f"{e}\n")
        return e.status
    if opts.version or opts.help or not opts.command:
        from runtime import usage

        if opts.version:
            sys.stdout.write(usage.version_text())
            return 0
        sys.stdout.write(usage.help_text(opts.command))
        if opts.command in NOT_SUPPORTED:
            # Engines probe `checkpoint --help`: its exit status is the answer (Podman then
            # reports "configured runtime does not support checkpoint/restore").
            sys.stderr.write(f"pyrunc: {NOT_SUPPORTED[opts.command]}\n")
            return 1
        return 0
    log.setup(opts.log, opts.log_format, opts.debug)
    opts.rootless = opts.rootless == "true"
    try:
        return command_module(opts.command).main(opts) or 0
    except RuntimeFailure as e:
        for line in e.lines:
            log.error(line)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: one line, never a traceback (PYRUNC_TRACEBACK=1 shows it)
        if posix.environ.get(b"PYRUNC_TRACEBACK"):
            raise
        log.error(f"internal error: {type(e).__name__}: {e}")
        return 1


def run():
    """The pyrunc command (bin/pyrunc): main() and exit with its status."""
    try:
        rc = main()
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        rc = rc or 1
    # Nothing is left to clean up at interpreter shutdown (no atexit handlers, logs are
    # written unbuffered), and tearing the interpreter down costs ~1 ms on every call.
    # A command that loaded the C helper (create, run, exec) also leaves the
    # unmapping of its memory to a task of its own after it is gone (~0.7 ms; see
    # native.c); importing the helper only for that would cost more than it saves.
    native = sys.modules.get("runtime._native")
    if native is not None:
        native.lib.pyrunc_exit(rc or 0)
    posix._exit(rc or 0)
