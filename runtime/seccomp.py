"""linux.seccomp: compile the OCI seccomp object into a classic BPF program.

libseccomp builds the filter, with runc's -ENOSYS stub in front (enosys_stub). With
noNewPrivileges pyrunc-init loads the exported bytes with seccomp(SECCOMP_SET_MODE_FILTER,
filter_flags(...), &prog) after the start signal, before the startContainer hooks and
the execve; without it finish_process loads them before the capabilities drop.

    compile_filter(seccomp) -> bytes     the struct sock_filter array
    enosys_stub(seccomp) -> bytes        its prefix: ENOSYS for syscalls newer than the profile
    filter_flags(seccomp) -> int         the seccomp(2) flags for it
    load(bpf, flags) -> int              load raw bytes into this process
    load_config(seccomp) -> int          compile_filter + filter_flags + load
    send_listener_state(...)             hand a listener fd to a seccomp agent
    hand_listener(chan, fd)              container side: the listener fd to the runtime
    forward_listener(chan, seccomp, ...) runtime side: that fd on to the agent
    features() -> dict                   the features document's linux.seccomp

SCMP_ACT_NOTIFY (linux.seccomp.listenerPath): whoever loads the filter gets the
listener fd and hands it to the runtime process over the sync channel (a "seccomp"
message with the fd; the runtime answers "seccomp-done"), as runc's init does:

- without noNewPrivileges, finish_process loads it (before the capabilities drop)
  and calls hand_listener(job.chan, fd);
- with noNewPrivileges, pyrunc-init loads it ("listener" instruction, see
  native/init.c) before waiting for the start signal, so that the runtime (create,
  exec) is still there, and sends the same message itself.

The runtime (create's or exec's channel loop) calls forward_listener, which sends
the container process state and the fd to the agent (send_listener_state) and
answers the container.  A missing or dead agent is an error of create/run/exec.
"""
import errno
import posix

from runtime._native import ffi, lib
from runtime.errors import RuntimeFailure

# The container path delivers the listener fd to linux.seccomp.listenerPath.
NOTIFY_SUPPORTED = True
AGENT_TIMEOUT = 30.0  # seconds for connecting and sending to the agent

# seccomp(2) flags (linux/seccomp.h)
FLAG_TSYNC = 1
FLAG_LOG = 2
FLAG_SPEC_ALLOW = 4
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16
FLAG_WAIT_KILLABLE_RECV = 32

_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": FLAG_WAIT_KILLABLE_RECV,
}

# Action values as libseccomp's SCMP_ACT_* macros compute them, with the name the
# kernel uses for it in /proc/sys/kernel/seccomp/actions_avail, and whether the
# action carries errnoRet as its 16-bit data.
_ACTIONS = {
    "SCMP_ACT_KILL": (0x00000000, "kill_thread", False),
    "SCMP_ACT_KILL_THREAD": (0x00000000, "kill_thread", False),
    "SCMP_ACT_KILL_PROCESS": (0x80000000, "kill_process", False),
    "SCMP_ACT_TRAP": (0x00030000, "trap", False),
    "SCMP_ACT_ERRNO": (0x00050000, "errno", True),
    "SCMP_ACT_TRACE": (0x7FF00000, "trace", True),
    "SCMP_ACT_LOG": (0x7FFC0000, "log", False),
    "SCMP_ACT_ALLOW": (0x7FFF0000, "allow", False),
    "SCMP_ACT_NOTIFY": (0x7FC00000, "user_notif", False),
}

# enum scmp_compare
_OPERATORS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# Names offered to libseccomp; features() lists those it resolves.
_ARCH_NAMES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
)

_ATTR_CTL_NNP = 3          # SCMP_FLTATR_CTL_NNP
_ATTR_CTL_TSYNC = 4        # fallback flag probes (see _kernel_accepts)
_ATTR_CTL_LOG = 6
_ATTR_CTL_SSB = 7
_NR_SCMP_ERROR = -1        # __NR_SCMP_ERROR: a name libseccomp does not know
_BPF_MAXINSNS = 4096
_MAX_ARGS = 6
_U64 = (1 << 64) - 1
_EPERM = errno.EPERM

_cache = {}


class SeccompError(RuntimeFailure):
    """An invalid or unsupported linux.seccomp; str() is one line naming the field."""

    def __init__(self, field, message):
        self.field = field
        super().__init__(" ".join(f"{field}: {message}".split()))


def _strerror(rc):
    return posix.strerror(-rc) if rc < 0 else str(rc)


# ---- reading the config --------------------------------------------------------

def _uint(value, field, limit=_U64):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise SeccompError(field, f"must be an integer from 0 to {limit}, not {value!r}")
    return value


def _list(value, field):
    if value is None:
        return []
    if not isinstance(value, list):
        raise SeccompError(field, f"must be an array, not {type(value).__name__}")
    return value


def _actions_avail():
    if "avail" not in _cache:
        try:
            with open("/proc/sys/kernel/seccomp/actions_avail") as f:
                _cache["avail"] = frozenset(f.read().split())
        except OSError:
            # Kernels before 4.14 have no list; they have these.
            _cache["avail"] = frozenset(("kill_thread", "trap", "errno", "trace", "allow"))
    return _cache["avail"]


def _action(name, errno_ret, field, errno_field):
    """The action value for an action name and its optional errnoRet."""
    if not isinstance(name, str):
        raise SeccompError(field, f"must be a string, not {name!r}")
    try:
        base, kernel_name, takes_errno = _ACTIONS[name]
    except KeyError:
        raise SeccompError(field, f"unknown action {name}") from None
    if kernel_name not in _actions_avail():
        raise SeccompError(field, f"{name} is not supported by this kernel")
    if errno_ret is not None:
        if not takes_errno:
            raise SeccompError(errno_field, f"is only valid with SCMP_ACT_ERRNO or "
                               f"SCMP_ACT_TRACE, not {name}")
        # libseccomp takes ERRNO data below MAX_ERRNO (4095); TRACE data is 16 bits.
        errno_ret = _uint(errno_ret, errno_field, 4094 if name == "SCMP_ACT_ERRNO" else 0xFFFF)
    elif takes_errno:
        errno_ret = _EPERM
    return base | (errno_ret & 0xFFFF) if takes_errno else base


def _arch_token(name):
    if not isinstance(name, str) or not name.startswith("SCMP_ARCH_") or name != name.upper():
        return 0
    return lib.seccomp_arch_resolve_name(name[len("SCMP_ARCH_"):].lower().encode())


def _conditions(args, field):
    """The groups of argument comparisons to add as one rule each.

    libseccomp compares each argument at most once per rule.  When the args name
    an index more than once, each comparison becomes a rule of its own, so the
    syscall matches when any of them holds (what runc does); otherwise all the
    comparisons form one rule and must all hold.
    """
    conds = []
    for j, arg in enumerate(_list(args, field)):
        f = f"{field}[{j}]"
        if not isinstance(arg, dict):
            raise SeccompError(f, "must be an object")
        if "index" not in arg:
            raise SeccompError(f"{f}.index", "is required")
        if "value" not in arg:
            raise SeccompError(f"{f}.value", "is required")
        if "op" not in arg:
            raise SeccompError(f"{f}.op", "is required")
        index = _uint(arg["index"], f"{f}.index", _MAX_ARGS - 1)
        value = _uint(arg["value"], f"{f}.value")
        value_two = arg.get("valueTwo")
        value_two = 0 if value_two is None else _uint(value_two, f"{f}.valueTwo")
        op = _OPERATORS.get(arg["op"]) if isinstance(arg["op"], str) else None
        if op is None:
            raise SeccompError(f"{f}.op", f"unknown operator {arg['op']}")
        conds.append((index, op, value, value_two))
    if not conds:
        return [[]]
    if len({c[0] for c in conds}) < len(conds):
        return [[c] for c in conds]
    return [conds]


def _parse(seccomp):
    """Validate linux.seccomp: (default action, arch tokens, rules)."""
    top = "linux.seccomp"
    if not isinstance(seccomp, dict):
        raise SeccompError(top, "must be an object")
    if "defaultAction" not in seccomp:
        raise SeccompError(f"{top}.defaultAction", "is required")
    if seccomp.get("defaultAction") == "SCMP_ACT_NOTIFY":
        raise SeccompError(f"{top}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
    default = _action(seccomp["defaultAction"], seccomp.get("defaultErrnoRet"),
                      f"{top}.defaultAction", f"{top}.defaultErrnoRet")
    if seccomp.get("listenerMetadata") and not seccomp.get("listenerPath"):
        raise SeccompError(f"{top}.listenerMetadata", "is set without listenerPath")

    archs = []
    for i, name in enumerate(_list(seccomp.get("architectures"), f"{top}.architectures")):
        token = _arch_token(name)
        if not token:
            raise SeccompError(f"{top}.architectures[{i}]", f"unknown architecture {name}")
        archs.append((f"{top}.architectures[{i}]", name, token))

    rules = []
    notify_used = False
    for i, entry in enumerate(_list(seccomp.get("syscalls"), f"{top}.syscalls")):
        field = f"{top}.syscalls[{i}]"
        if not isinstance(entry, dict):
            raise SeccompError(field, "must be an object")
        if "action" not in entry:
            raise SeccompError(f"{field}.action", "is required")
        names = _list(entry.get("names"), f"{field}.names")
        if not names:
            raise SeccompError(f"{field}.names", "must contain at least one name")
        for j, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise SeccompError(f"{field}.names[{j}]", f"must be a non-empty string, not {name!r}")
        action = _action(entry["action"], entry.get("errnoRet"), f"{field}.action",
                         f"{field}.errnoRet")
        groups = _conditions(entry.get("args"), f"{field}.args")
        if action == default:
            continue  # libseccomp refuses a rule that repeats the default action
        notify_used = notify_used or entry["action"] == "SCMP_ACT_NOTIFY"
        for name in names:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr == _NR_SCMP_ERROR:
                continue  # unknown to this libseccomp: ignored, as runc does
            rules.append((field, name, nr, action, groups))
    if notify_used and not seccomp.get("listenerPath"):
        raise SeccompError(f"{top}.listenerPath", "is required when SCMP_ACT_NOTIFY is used")
    return default, archs, rules


def _new_ctx(default, archs, rules):
    ctx = lib.seccomp_init(default)
    if ctx == ffi.NULL:
        raise SeccompError("linux.seccomp.defaultAction", "libseccomp refused the default action")
    try:
        rc = lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0)
        if rc < 0:
            raise SeccompError("linux.seccomp", f"clearing SCMP_FLTATR_CTL_NNP: {_strerror(rc)}")
        for field, name, token in archs:
            rc = lib.seccomp_arch_add(ctx, token)
            # EEXIST: the native arch, already there.  EDOM: the other byte order,
            # which libseccomp cannot mix in one filter; this kernel never reports
            # such syscalls, so leaving the arch out changes nothing.
            if rc < 0 and rc not in (-errno.EEXIST, -errno.EDOM):
                raise SeccompError(field, f"adding {name}: {_strerror(rc)}")
        for field, name, nr, action, groups in rules:
            for conds in groups:
                arr = ffi.new("struct scmp_arg_cmp[]", conds) if conds else ffi.NULL
                rc = lib.seccomp_rule_add_array(ctx, action, nr, len(conds), arr)
                if rc < 0:
                    why = ("it conflicts with an earlier rule" if rc == -errno.EEXIST
                           else _strerror(rc))
                    raise SeccompError(field, f"adding the rule for {name}: {why}")
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return ctx


# ---- the public functions ------------------------------------------------------

def compile_filter(seccomp):
    """The BPF program (struct sock_filter array) for an OCI linux.seccomp object."""
    ctx = _new_ctx(*_parse(seccomp))
    try:
        fd = posix.memfd_create("pyrunc-seccomp", posix.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise SeccompError("linux.seccomp", f"exporting the filter: {_strerror(rc)}")
            from runtime.sync import read_whole

            size = posix.fstat(fd).st_size
            bpf = read_whole(fd)
        finally:
            posix.close(fd)
    finally:
        lib.seccomp_release(ctx)
    if not bpf or len(bpf) % 8 or len(bpf) != size:
        raise SeccompError("linux.seccomp", f"libseccomp exported a bad program ({len(bpf)} bytes)")
    bpf = enosys_stub(seccomp) + bpf
    if len(bpf) // 8 > _BPF_MAXINSNS:
        raise SeccompError("linux.seccomp", f"the filter needs {len(bpf) // 8} instructions, "
                           f"more than the kernel's limit of {_BPF_MAXINSNS}")
    return bpf


# ---- the -ENOSYS stub ------------------------------------------------------------
#
# A profile written before a syscall existed does not name it, so the default action
# (an errno such as EPERM, or a kill) hits it; glibc falls back to an older syscall
# only on ENOSYS (clone3 -> clone, faccessat2 -> faccessat, ...).  As runc does, a
# prefix in front of libseccomp's program returns ENOSYS for a syscall number above the
# largest one the profile names for that architecture; everything else falls through
# to libseccomp's program (which checks the architecture again itself).

_X32_BIT = 0x40000000            # __X32_SYSCALL_BIT: x32 syscalls on AUDIT_ARCH_X86_64
_RET_ERRNO_ENOSYS = 0x00050000 | errno.ENOSYS
_LD_W_ABS, _JEQ_K, _JGT_K, _JSET_K, _JA, _RET_K = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06
_OFF_NR, _OFF_ARCH = 0, 4        # struct seccomp_data
_PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")  # runc's list: no stub


def _last_syscalls(seccomp):
    """{AUDIT_ARCH value: {mode: largest syscall number the profile names}} for the
    native architecture and the listed ones; mode "x32" and "x86_64" split the one
    AUDIT_ARCH_X86_64 by __X32_SYSCALL_BIT, every other architecture has mode ""."""
    x86_64 = lib.seccomp_arch_resolve_name(b"x86_64")
    x32 = lib.seccomp_arch_resolve_name(b"x32")
    tokens = [lib.seccomp_arch_native()]
    for name in seccomp.get("architectures") or ():
        token = _arch_token(name)
        if token and token not in tokens:
            tokens.append(token)
    names = sorted({n.encode() for e in seccomp.get("syscalls") or () for n in e.get("names") or ()})
    last = {}
    for token in tokens:
        # negative: unknown to this architecture, or multiplexed (socketcall, ipc)
        top = max((nr for nr in (lib.seccomp_syscall_resolve_name_arch(token, n) for n in names)
                   if nr >= 0), default=0)
        if top == 0:
            continue  # no syscall named for it (as runc: then no stub for it)
        if token == x32:
            last.setdefault(x86_64, {})["x32"] = top
        elif token == x86_64:
            last.setdefault(x86_64, {})["x86_64"] = top
        else:
            last.setdefault(token, {})[""] = top
    return last


def enosys_stub(seccomp):
    """The classic BPF prefix (bytes) that gives ENOSYS to syscalls newer than every
    syscall the profile names; b"" when the default action is permissive (allow, log,
    trace: a tracer handles new syscalls itself) or already ENOSYS."""
    import struct

    default = seccomp.get("defaultAction")
    if default in _PERMISSIVE or (default == "SCMP_ACT_ERRNO" and
                                  seccomp.get("defaultErrnoRet") == errno.ENOSYS):
        return b""
    last = _last_syscalls(seccomp)
    if not last:
        return b""
    s390 = {lib.seccomp_arch_resolve_name(b"s390"), lib.seccomp_arch_resolve_name(b"s390x")}
    x86_64 = lib.seccomp_arch_resolve_name(b"x86_64")
    to_filter = "ja-filter"  # resolved below: jump to libseccomp's program

    def above(top):
        if top is None:
            return [to_filter]
        return [(_JGT_K, 0, 1, top), (_RET_K, 0, 0, _RET_ERRNO_ENOSYS), to_filter]

    prog = [(_LD_W_ABS, 0, 0, _OFF_ARCH)]
    for audit, modes in sorted(last.items()):
        body = [(_LD_W_ABS, 0, 0, _OFF_NR)]
        if audit in s390:
            # s390 multiplexes large syscall numbers through 0 (setup), which is what an
            # unknown one becomes: ENOSYS for it, as runc does
            body += [(_JEQ_K, 0, 1, 0), (_RET_K, 0, 0, _RET_ERRNO_ENOSYS)]
        if audit == x86_64:
            x32_part, x86_64_part = above(modes.get("x32")), above(modes.get("x86_64"))
            body += [(_JSET_K, 0, len(x32_part), _X32_BIT)] + x32_part + x86_64_part
        else:
            body += above(modes[""])
        prog += [(_JEQ_K, 0, len(body), audit)] + body  # another arch: skip this section
    end = len(prog)
    out = []
    for i, ins in enumerate(prog):
        if ins == to_filter:
            ins = (_JA, 0, 0, end - i - 1)
        out.append(struct.pack("=HBBI", *ins))
    return b"".join(out)


def _uses_notify(seccomp):
    if not isinstance(seccomp, dict) or not isinstance(seccomp.get("syscalls"), list):
        return False
    return any(isinstance(s, dict) and s.get("action") == "SCMP_ACT_NOTIFY"
               for s in seccomp["syscalls"])


def _kernel_accepts(bits):
    """Whether seccomp(SECCOMP_SET_MODE_FILTER) accepts these flags.

    The program pointer is an unmapped address: the kernel checks the flags
    first (EINVAL), then fails to copy the program (EFAULT, or EACCES without
    privilege), so nothing is ever loaded.
    """
    key = ("flags", bits)
    if key not in _cache:
        if hasattr(lib, "pyrunc_seccomp_load"):
            rc = lib.pyrunc_seccomp_load(ffi.cast("void *", 1), 8, bits)
            _cache[key] = rc < 0 and ffi.errno in (errno.EFAULT, errno.EACCES)
        else:  # older native layer: ask libseccomp, which probes the same way
            attr = {FLAG_TSYNC: _ATTR_CTL_TSYNC, FLAG_LOG: _ATTR_CTL_LOG,
                    FLAG_SPEC_ALLOW: _ATTR_CTL_SSB}.get(bits)
            ok = False
            if attr is not None:
                ctx = lib.seccomp_init(0x7FFF0000)
                if ctx != ffi.NULL:
                    ok = lib.seccomp_attr_set(ctx, attr, 1) == 0
                    lib.seccomp_release(ctx)
            _cache[key] = ok
    return _cache[key]


def _flag_supported(name):
    bits = _FLAGS[name]
    if bits == FLAG_WAIT_KILLABLE_RECV:  # only valid with NEW_LISTENER
        bits |= FLAG_NEW_LISTENER
    return _kernel_accepts(bits)


def filter_flags(seccomp):
    """The seccomp(2) flags with which to load compile_filter(seccomp).

    TSYNC is dropped (pyrunc-init is single-threaded), NEW_LISTENER is added when
    SCMP_ACT_NOTIFY is used, and WAIT_KILLABLE_RECV is kept only with it (the
    kernel refuses it otherwise; without a listener it has nothing to change).
    """
    if not isinstance(seccomp, dict):
        raise SeccompError("linux.seccomp", "must be an object")
    flags = 0
    for i, name in enumerate(_list(seccomp.get("flags"), "linux.seccomp.flags")):
        field = f"linux.seccomp.flags[{i}]"
        if not isinstance(name, str) or name not in _FLAGS:
            raise SeccompError(field, f"unknown flag {name}")
        if not _flag_supported(name):
            raise SeccompError(field, f"{name} is not supported by this kernel")
        flags |= _FLAGS[name]
    flags &= ~FLAG_TSYNC
    if _uses_notify(seccomp):
        flags |= FLAG_NEW_LISTENER
    else:
        flags &= ~FLAG_WAIT_KILLABLE_RECV
    return flags


def load(bpf, flags=0):
    """Load a BPF program into the calling thread, as pyrunc-init does.

    The caller needs no_new_privs or CAP_SYS_ADMIN.  Returns the listener fd
    when flags has FLAG_NEW_LISTENER, else 0.
    """
    if not hasattr(lib, "pyrunc_seccomp_load"):
        raise SeccompError("linux.seccomp", "loading a raw filter needs "
                           "pyrunc_seccomp_load in runtime._native (rebuild it)")
    if not bpf or len(bpf) % 8 or len(bpf) // 8 > _BPF_MAXINSNS:
        raise SeccompError("linux.seccomp", f"bad BPF program size {len(bpf)}")
    rc = lib.pyrunc_seccomp_load(ffi.from_buffer(bpf), len(bpf), flags)
    if rc < 0:
        raise SeccompError("linux.seccomp", f"loading the filter: {posix.strerror(ffi.errno)}")
    if flags & FLAG_TSYNC and not flags & FLAG_TSYNC_ESRCH and rc > 0:
        raise SeccompError("linux.seccomp", f"loading the filter: thread {rc} "
                           "could not be synchronized")
    return rc


def load_config(seccomp):
    """Compile and load linux.seccomp into the calling process.

    Unlike pyrunc-init this process may have threads, so TSYNC is honoured.
    Returns the listener fd when SCMP_ACT_NOTIFY is used, else 0.
    """
    bpf = compile_filter(seccomp)
    flags = filter_flags(seccomp)
    if "SECCOMP_FILTER_FLAG_TSYNC" in (seccomp.get("flags") or ()):
        flags |= FLAG_TSYNC
        if flags & FLAG_NEW_LISTENER:
            flags |= FLAG_TSYNC_ESRCH
    return load(bpf, flags)


def send_listener_state(listener_path, seccomp_fd, state, *, pid, metadata=None,
                        oci_version="1.3.0"):
    """Send the container process state and the listener fd to a seccomp agent
    (config-linux.md, "The Container Process State").

    One AF_UNIX SOCK_STREAM connection to listener_path, used once: the JSON
    {ociVersion, fds: ["seccompFd"], pid, metadata, state} goes with the fd
    (SCM_RIGHTS) in the first sendmsg, the rest (if any) after, then it is closed.
    """
    import _socket

    from runtime import jsonio
    from runtime.sync import send_fds

    message = {"ociVersion": oci_version, "fds": ["seccompFd"], "pid": pid, "state": state}
    if metadata:
        message["metadata"] = metadata
    data = jsonio.dumps(message).encode()
    field = "linux.seccomp.listenerPath"
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    except OSError as e:
        raise SeccompError(field, f"socket: {e.strerror or e}") from None
    try:
        sock.settimeout(AGENT_TIMEOUT)
        sock.connect(listener_path)
        sent = send_fds(sock, data, [seccomp_fd])
        while sent < len(data):
            sent += sock.send(data[sent:])
    except OSError as e:
        why = e.strerror or ("timed out" if isinstance(e, TimeoutError) else str(e) or type(e).__name__)
        raise SeccompError(field, f"sending the seccomp fd to the agent at {listener_path}: "
                           f"{why}") from None
    finally:
        sock.close()


def hand_listener(chan, listener):
    """Container side (the filter was loaded in Python): give the listener fd to the
    runtime, which passes it on to the agent, and wait until it has."""
    try:
        chan.send("seccomp", fds=[listener])
    finally:
        posix.close(listener)
    chan.expect("seccomp-done")


def forward_listener(chan, seccomp, fds=None, *, state, pid):
    """Runtime side of the sync channel: the container's "seccomp" message (already
    received with its fds, or the next one when fds is None: pyrunc-init's) carries
    the listener fd; send it with the container process state to the agent at
    linux.seccomp.listenerPath, then tell the container to go on ("seccomp-done").

    state is the container's state (create: status creating; exec: running) and pid
    the process the filter belongs to, as the runtime sees it.  Raises SeccompError
    (a one-line error naming listenerPath) when the agent cannot be reached."""
    if fds is None:
        kind, _, fds = chan.recv()
        if kind != "seccomp":
            for fd in fds:
                posix.close(fd)
            raise SeccompError("linux.seccomp", "the container's init failed before it handed "
                               "over the seccomp listener fd (see its error above)")
    try:
        if len(fds) != 1:
            raise SeccompError("linux.seccomp", f"expected the listener fd from the container, "
                               f"got {len(fds)} fds")
        send_listener_state(seccomp["listenerPath"], fds[0], state, pid=pid,
                            metadata=seccomp.get("listenerMetadata"))
    finally:
        for fd in fds:
            posix.close(fd)
    chan.send("seccomp-done")


def annotations():
    """The features document's annotations about seccomp: libseccomp's version (as
    runc reports it) and that SCMP_ACT_NOTIFY's listener fd reaches listenerPath."""
    v = lib.seccomp_version()
    return {"io.github.seccomp.libseccomp.version": f"{v.major}.{v.minor}.{v.micro}",
            "io.github.pyrunc.seccomp.listener.enabled": "true" if NOTIFY_SUPPORTED else "false"}


def features():
    """The linux.seccomp part of the runtime features document."""
    avail = _actions_avail()
    actions = sorted(a for a, (_, kernel_name, _) in _ACTIONS.items() if kernel_name in avail)
    supported = []
    for name in _FLAGS:
        if _flag_supported(name):
            supported.append(name)
    return {
        "enabled": True,
        "actions": actions,
        "operators": sorted(_OPERATORS),
        "archs": sorted(a for a in _ARCH_NAMES if _arch_token(a)),
        "knownFlags": sorted(_FLAGS),
        "supportedFlags": sorted(supported),
    }
