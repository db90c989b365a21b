"""runtime.seccomp: compile linux.seccomp to BPF and check the kernel enforces it.

Each enforcement test forks a child that loads the filter and reports through its
exit status (an errno number, 0 for success, 99 for an unexpected exception);
every child is waited for.
"""
import ctypes
import errno
import json
import os
import resource
import signal
import socket
import struct
import sys
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import seccomp
from runtime.seccomp import SeccompError
from util import assert_error, state_dir_exists

NR_SECCOMP_X86_64 = 317
NR_MKDIR, NR_MKDIRAT = 83, 258
UNEXPECTED = 99

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 syscall numbers")


def run_child(body):
    """Fork, run body() in the child and return the child's wait status."""
    pid = os.fork()
    if pid == 0:
        code = UNEXPECTED
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            code = body()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def exit_code(status):
    assert os.WIFEXITED(status), f"child died from signal {os.WTERMSIG(status)}"
    return os.WEXITSTATUS(status)


def enforce(config, check):
    """Load config's compiled filter in a child, then return exit_code(check())."""
    bpf = seccomp.compile_filter(config)
    flags = seccomp.filter_flags(config)

    def body():
        seccomp.load(bpf, flags)
        return check()
    return run_child(body)


def errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


def allow_with(*rules, **extra):
    return dict({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules)}, **extra)


MKDIR = ["mkdir", "mkdirat"]


# ---- enforcement ----------------------------------------------------------------

def test_errno_rule_blocks_only_its_syscall(tmp_path):
    config = allow_with({"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": 1})

    def check():
        if errno_of(os.listdir, str(tmp_path)) != 0:
            return 50
        return errno_of(os.mkdir, str(tmp_path / "d"))
    assert exit_code(enforce(config, check)) == errno.EPERM
    assert not (tmp_path / "d").exists()


def test_errno_defaults_to_eperm_and_errnoret_is_used(tmp_path):
    config = allow_with({"names": MKDIR, "action": "SCMP_ACT_ERRNO"},
                        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV})
    (tmp_path / "r").mkdir()

    def check():
        a = errno_of(os.mkdir, str(tmp_path / "d"))
        b = errno_of(os.rmdir, str(tmp_path / "r"))
        return 0 if (a, b) == (errno.EPERM, errno.EXDEV) else 50
    assert exit_code(enforce(config, check)) == 0
    assert (tmp_path / "r").is_dir()


def test_default_errno_with_allow_list(tmp_path):
    allowed = ["exit_group", "exit", "mkdir", "mkdirat", "brk", "mmap", "munmap", "mremap",
               "madvise", "futex", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
               "getpid", "write", "close", "fstat", "newfstatat", "stat", "lstat"]
    config = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EXDEV,
              "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]}
    (tmp_path / "r").mkdir()

    def check():
        if errno_of(os.mkdir, str(tmp_path / "d")) != 0:
            return 50
        return errno_of(os.rmdir, str(tmp_path / "r"))
    assert exit_code(enforce(config, check)) == errno.EXDEV
    assert (tmp_path / "d").is_dir() and (tmp_path / "r").is_dir()


def test_rule_repeating_the_default_action_is_skipped(tmp_path):
    config = {"defaultAction": "SCMP_ACT_ERRNO",
              "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                           {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
                           {"names": ["exit_group"], "action": "SCMP_ACT_ALLOW"}]}
    bpf = seccomp.compile_filter(config)

    def body():
        seccomp.load(bpf, 0)
        try:
            os.getcwd()
        except OSError as e:
            return e.errno
        return 0
    assert exit_code(run_child(body)) == errno.ENOENT  # errnoRet 2 differs from EPERM


def test_arg_equal_condition():
    config = allow_with({"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV,
                         "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"}]})

    def check():
        a = errno_of(os.close, 1000)
        b = errno_of(os.close, 1001)
        return 0 if (a, b) == (errno.EXDEV, errno.EBADF) else 50
    assert exit_code(enforce(config, check)) == 0


@pytest.mark.parametrize("op,value,blocked,passed", [
    ("SCMP_CMP_NE", 1000, 1001, 1000),
    ("SCMP_CMP_LT", 1000, 999, 1000),
    ("SCMP_CMP_LE", 1000, 1000, 1001),
    ("SCMP_CMP_GE", 1000, 1000, 999),
    ("SCMP_CMP_GT", 1000, 1001, 1000),
])
def test_arg_comparison_operators(op, value, blocked, passed):
    # close(fd) on fds that are not open: EBADF when allowed, EXDEV when blocked.
    config = allow_with({"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV,
                         "args": [{"index": 0, "value": value, "op": op}]})

    def check():
        a = errno_of(os.close, blocked)
        b = errno_of(os.close, passed)
        return 0 if (a, b) == (errno.EXDEV, errno.EBADF) else 50
    assert exit_code(enforce(config, check)) == 0


def test_arg_masked_equal(tmp_path):
    # openat(dirfd, path, flags): block opens whose flags include O_CREAT.
    config = allow_with({"names": ["open", "openat"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": errno.EXDEV,
                         "args": [{"index": 2, "value": os.O_CREAT, "valueTwo": os.O_CREAT,
                                   "op": "SCMP_CMP_MASKED_EQ"}]},
                        {"names": ["open"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV,
                         "args": [{"index": 1, "value": os.O_CREAT, "valueTwo": os.O_CREAT,
                                   "op": "SCMP_CMP_MASKED_EQ"}]})
    existing = tmp_path / "f"
    existing.write_text("x")

    def check():
        fd = os.open(str(existing), os.O_RDONLY)
        os.close(fd)
        return errno_of(os.open, str(tmp_path / "new"), os.O_RDWR | os.O_CREAT, 0o600)
    assert exit_code(enforce(config, check)) == errno.EXDEV
    assert not (tmp_path / "new").exists()


def test_args_on_different_indexes_must_all_match():
    config = allow_with({"names": ["dup2", "dup3"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": errno.EXDEV,
                         "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"},
                                  {"index": 1, "value": 1001, "op": "SCMP_CMP_EQ"}]})

    def check():
        a = errno_of(os.dup2, 1000, 1001)
        b = errno_of(os.dup2, 1000, 1002)
        c = errno_of(os.dup2, 1003, 1001)
        return 0 if (a, b, c) == (errno.EXDEV, errno.EBADF, errno.EBADF) else 50
    assert exit_code(enforce(config, check)) == 0


def test_args_repeating_an_index_match_any():
    config = allow_with({"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV,
                         "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"},
                                  {"index": 0, "value": 1001, "op": "SCMP_CMP_EQ"}]})

    def check():
        got = tuple(errno_of(os.close, fd) for fd in (1000, 1001, 1002))
        return 0 if got == (errno.EXDEV, errno.EXDEV, errno.EBADF) else 50
    assert exit_code(enforce(config, check)) == 0


def test_personality_argument_condition():
    libc = ctypes.CDLL(None, use_errno=True)
    query = 0xFFFFFFFF  # personality(0xffffffff) only reads the persona
    config = allow_with({"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": errno.EXDEV,
                         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]})

    def check():
        if libc.personality(ctypes.c_ulong(query)) == -1:
            return 50
        ctypes.set_errno(0)
        rc = libc.personality(ctypes.c_ulong(8))  # PER_LINUX32: blocked
        return ctypes.get_errno() if rc == -1 else 51
    assert exit_code(enforce(config, check)) == errno.EXDEV


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_kill_and_trap_end_with_sigsys(tmp_path, action):
    config = allow_with({"names": MKDIR, "action": action})
    status = enforce(config, lambda: errno_of(os.mkdir, str(tmp_path / "d")))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS
    assert not (tmp_path / "d").exists()


def test_kill_as_default_action_with_allow_list(tmp_path):
    config = {"defaultAction": "SCMP_ACT_KILL_PROCESS",
              "syscalls": [{"names": ["exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"}]}

    def check():
        os.getpid()
        os.mkdir(str(tmp_path / "d"))
        return 0
    status = enforce(config, check)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_log_allows(tmp_path):
    config = allow_with({"names": MKDIR, "action": "SCMP_ACT_LOG"})
    assert exit_code(enforce(config, lambda: errno_of(os.mkdir, str(tmp_path / "d")))) == 0
    assert (tmp_path / "d").is_dir()


def test_trace_without_tracer_is_enosys(tmp_path):
    config = allow_with({"names": MKDIR, "action": "SCMP_ACT_TRACE", "errnoRet": 7})
    assert exit_code(enforce(config, lambda: errno_of(os.mkdir, str(tmp_path / "d")))) \
        == errno.ENOSYS


def test_unknown_syscall_names_are_skipped(tmp_path):
    config = allow_with({"names": ["no_such_syscall", "mkdir", "mkdirat", "another_fake"],
                         "action": "SCMP_ACT_ERRNO"},
                        {"names": ["only_fakes_here"], "action": "SCMP_ACT_KILL"})
    assert exit_code(enforce(config, lambda: errno_of(os.mkdir, str(tmp_path / "d")))) \
        == errno.EPERM


def test_extra_architectures(tmp_path):
    native = seccomp.compile_filter(allow_with({"names": MKDIR, "action": "SCMP_ACT_ERRNO"}))
    config = allow_with({"names": MKDIR + ["socketcall", "_llseek"], "action": "SCMP_ACT_ERRNO"},
                        architectures=["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"])
    multi = seccomp.compile_filter(config)
    assert len(multi) > len(native)
    # The i386 audit arch and mkdir's i386 number (39) appear in the program.
    words = [struct.unpack_from("<HBBI", multi, i)[3] for i in range(0, len(multi), 8)]
    assert 0x40000003 in words and 39 in words
    assert exit_code(enforce(config, lambda: errno_of(os.mkdir, str(tmp_path / "d")))) \
        == errno.EPERM


def test_raw_seccomp_syscall_loads_the_bytes(tmp_path):
    """pyrunc-init's path: seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog) with the bytes."""
    config = allow_with({"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV},
                        flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"])
    bpf = seccomp.compile_filter(config)
    flags = seccomp.filter_flags(config)
    assert flags == seccomp.FLAG_LOG

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    def body():
        # The bytes travel through a memfd, as they do to pyrunc-init.
        fd = os.memfd_create("bpf")
        os.write(fd, bpf)
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        os.close(fd)
        buf = ctypes.create_string_buffer(data, len(data))
        prog = SockFprog(len(data) // 8, ctypes.addressof(buf))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return 60
        rc = libc.syscall(ctypes.c_long(NR_SECCOMP_X86_64), ctypes.c_ulong(1),
                          ctypes.c_ulong(flags), ctypes.byref(prog))
        if rc != 0:
            return 61
        return errno_of(os.mkdir, str(tmp_path / "d"))
    assert exit_code(run_child(body)) == errno.EXDEV


def test_load_config(tmp_path):
    config = allow_with({"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV},
                        flags=["SECCOMP_FILTER_FLAG_TSYNC"])

    def body():
        if seccomp.load_config(config) != 0:
            return 60
        return errno_of(os.mkdir, str(tmp_path / "d"))
    assert exit_code(run_child(body)) == errno.EXDEV


def test_load_rejects_bad_sizes():
    with pytest.raises(SeccompError):
        seccomp.load(b"", 0)
    with pytest.raises(SeccompError):
        seccomp.load(b"\0" * 7, 0)


# ---- the -ENOSYS stub -----------------------------------------------------------------

NR_GETPPID, NR_CLONE3, X32_BIT = 110, 435, 0x40000000
CHILD_NEEDS = ["exit_group", "exit", "brk", "mmap", "munmap", "mremap", "madvise", "futex",
               "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "getpid", "write", "close",
               "fstat", "newfstatat", "stat", "lstat"]


def raw_syscall_errno(libc, nr):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), ctypes.c_long(0), ctypes.c_long(0))
    return ctypes.get_errno() if r == -1 else 0


def probe(config, *nrs):
    """errno of each raw syscall nr in a child under config's filter (0: it worked)."""
    libc = ctypes.CDLL(None, use_errno=True)
    bpf = seccomp.compile_filter(config)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = UNEXPECTED
        try:
            os.close(r)
            seccomp.load(bpf, seccomp.filter_flags(config))
            got = bytes(raw_syscall_errno(libc, nr) for nr in nrs)
            os.write(w, got)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(w)
    try:
        got = os.read(r, 64)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    assert exit_code(status) == 0
    return list(got)


@pytest.mark.parametrize("default", [{"defaultAction": "SCMP_ACT_ERRNO"},
                                     {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EXDEV},
                                     {"defaultAction": "SCMP_ACT_KILL_PROCESS"},
                                     {"defaultAction": "SCMP_ACT_TRAP"}])
def test_syscalls_newer_than_the_profile_get_enosys(default):
    """clone3 (435) is above every syscall the profile names: ENOSYS, so glibc falls
    back to clone; getppid (110) is below the largest named one: the default action."""
    config = dict(default, syscalls=[{"names": CHILD_NEEDS, "action": "SCMP_ACT_ALLOW"},
                                     {"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
                                      "errnoRet": errno.EACCES}])
    assert probe(config, NR_CLONE3, NR_GETPPID) == [errno.ENOSYS, errno.EACCES]
    if default["defaultAction"] == "SCMP_ACT_ERRNO":
        del config["syscalls"][1]
        want = default.get("defaultErrnoRet", errno.EPERM)
        assert probe(config, NR_CLONE3, NR_GETPPID) == [errno.ENOSYS, want]


def test_enosys_stub_follows_the_largest_named_syscall():
    # naming clone3 itself moves the line: clone3 gets the default errno, 436 ENOSYS
    config = {"defaultAction": "SCMP_ACT_ERRNO",
              "syscalls": [{"names": CHILD_NEEDS + ["clone3"], "action": "SCMP_ACT_ALLOW"},
                           {"names": ["clone3"], "action": "SCMP_ACT_ERRNO",
                            "errnoRet": errno.EXDEV}]}
    config["syscalls"][0]["names"].remove("clone3")
    assert probe(config, NR_CLONE3, NR_CLONE3 + 1) == [errno.EXDEV, errno.ENOSYS]


def test_enosys_stub_for_x32():
    """x32 shares AUDIT_ARCH_X86_64 and marks its syscalls with __X32_SYSCALL_BIT: its
    own largest named syscall applies (rt_sigaction is 512 there: x32 clone3, 435, is
    below it and gets the default errno; 600 is above)."""
    config = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
              "syscalls": [{"names": CHILD_NEEDS, "action": "SCMP_ACT_ALLOW"}]}
    assert probe(config, NR_CLONE3, NR_GETPPID, X32_BIT | 600, X32_BIT | NR_CLONE3,
                 X32_BIT | NR_GETPPID) == [errno.ENOSYS, errno.EPERM, errno.ENOSYS, errno.EPERM,
                                           errno.EPERM]


@pytest.mark.parametrize("config", [
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]},
    {"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]},
    {"defaultAction": "SCMP_ACT_TRACE", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]},
    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
     "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]},
    {"defaultAction": "SCMP_ACT_ERRNO"},
    {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["no_such_call"], "action": "SCMP_ACT_ALLOW"}]},
])
def test_no_enosys_stub(config):
    """Permissive defaults (allow, log, trace: runc's list), a default that is ENOSYS
    already, or a profile that names no syscall this libseccomp knows: no prefix."""
    assert seccomp.enosys_stub(config) == b""


def test_enosys_stub_is_a_prefix():
    config = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
              "syscalls": [{"names": ["read", "mkdir"], "action": "SCMP_ACT_ALLOW"}]}
    stub = seccomp.enosys_stub(config)
    assert stub and len(stub) % 8 == 0
    full = seccomp.compile_filter(config)
    assert full.startswith(stub) and len(full) > len(stub)
    # every jump of the stub stays inside the stub or lands on libseccomp's first insn
    n = len(stub) // 8
    for i in range(n):
        code, jt, jf, k = struct.unpack_from("=HBBI", stub, 8 * i)
        if code == 0x05:
            assert i + 1 + k == n
        elif code & 0x07 == 0x05:  # BPF_JMP
            assert i + 1 + max(jt, jf) <= n


# ---- SCMP_ACT_NOTIFY and listenerPath ---------------------------------------------

NOTIFY_CONFIG = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "listenerPath": "/run/agent.sock",
    "listenerMetadata": "meta",
    "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_NOTIFY"}],
}


def test_notify_compiles_and_is_listed():
    assert seccomp.NOTIFY_SUPPORTED
    assert seccomp.compile_filter(NOTIFY_CONFIG)
    assert seccomp.filter_flags(NOTIFY_CONFIG) & seccomp.FLAG_NEW_LISTENER
    assert "SCMP_ACT_NOTIFY" in seccomp.features()["actions"]


def test_notify_needs_listener_path_and_cannot_be_default():
    config = dict(NOTIFY_CONFIG)
    del config["listenerPath"], config["listenerMetadata"]
    with pytest.raises(SeccompError, match=r"^linux\.seccomp\.listenerPath: is required"):
        seccomp.compile_filter(config)
    with pytest.raises(SeccompError, match=r"^linux\.seccomp\.defaultAction: "):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})
    with pytest.raises(SeccompError, match=r"^linux\.seccomp\.listenerMetadata: "):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"})


def test_notify_listener_fd_reaches_the_agent(tmp_path):
    """The agent receives the state JSON and the listener fd, and answers a syscall."""
    sock_path = str(tmp_path / "agent.sock")
    config = dict(NOTIFY_CONFIG, listenerPath=sock_path)
    wait_killable = seccomp._kernel_accepts(seccomp.FLAG_NEW_LISTENER |
                                            seccomp.FLAG_WAIT_KILLABLE_RECV)
    if not wait_killable:  # before Linux 5.19
        config["flags"] = []
    bpf = seccomp.compile_filter(config)
    flags = seccomp.filter_flags(config)
    assert flags & seccomp.FLAG_NEW_LISTENER
    assert bool(flags & seccomp.FLAG_WAIT_KILLABLE_RECV) == wait_killable
    state = {"ociVersion": "1.3.0", "id": "c1", "status": "creating", "pid": 0,
             "bundle": str(tmp_path)}

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    srv.settimeout(20)

    def body():
        srv.close()
        fd = seccomp.load(bpf, flags)
        if fd <= 0:
            return 60
        seccomp.send_listener_state(sock_path, fd, dict(state, pid=os.getpid()),
                                    pid=os.getpid(), metadata="meta")
        os.close(fd)
        return errno_of(os.mkdir, str(tmp_path / "d"))

    pid = os.fork()
    if pid == 0:
        code = UNEXPECTED
        try:
            code = body()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    listener = None
    try:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(20)
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 4)
            while True:
                more = conn.recv(1 << 16)
                if not more:
                    break
                msg += more
        assert len(fds) == 1
        listener = fds[0]
        got = json.loads(msg)
        assert got == {"ociVersion": "1.3.0", "fds": ["seccompFd"], "pid": pid,
                       "metadata": "meta", "state": dict(state, pid=pid)}
        assert "seccomp" in os.readlink(f"/proc/self/fd/{listener}")

        # struct seccomp_notif (80 bytes) / seccomp_notif_resp (24 bytes)
        notif_recv = (3 << 30) | (80 << 16) | (ord("!") << 8) | 0
        notif_send = (3 << 30) | (24 << 16) | (ord("!") << 8) | 1
        import fcntl
        req = bytearray(80)
        fcntl.ioctl(listener, notif_recv, req, True)
        notif_id, notif_pid, _, nr = struct.unpack_from("<QIIi", req)
        assert notif_pid == pid and nr in (NR_MKDIR, NR_MKDIRAT)
        resp = bytearray(struct.pack("<QqiI", notif_id, 0, -errno.EXDEV, 0))
        fcntl.ioctl(listener, notif_send, resp, True)
    finally:
        srv.close()
        if listener is not None:
            os.close(listener)  # a child still waiting gets ENOSYS
        _, status = os.waitpid(pid, 0)
    assert exit_code(status) == errno.EXDEV
    assert not (tmp_path / "d").exists()


def test_send_listener_state_failure_names_the_field(tmp_path):
    r, w = os.pipe()
    try:
        with pytest.raises(SeccompError, match=r"^linux\.seccomp\.listenerPath: sending"):
            seccomp.send_listener_state(str(tmp_path / "nobody"), r, {}, pid=1)
    finally:
        os.close(r)
        os.close(w)


# ---- flags ------------------------------------------------------------------------

def test_filter_flags():
    base = {"defaultAction": "SCMP_ACT_ALLOW"}
    assert seccomp.filter_flags(base) == 0
    assert seccomp.filter_flags(dict(base, flags=[])) == 0
    assert seccomp.filter_flags(dict(base, flags=["SECCOMP_FILTER_FLAG_TSYNC"])) == 0
    assert seccomp.filter_flags(dict(base, flags=["SECCOMP_FILTER_FLAG_LOG"])) == 2
    assert seccomp.filter_flags(dict(base, flags=["SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                                  "SECCOMP_FILTER_FLAG_LOG"])) == 6
    # Without a listener WAIT_KILLABLE_RECV changes nothing, and the kernel refuses it.
    assert seccomp.filter_flags(dict(base, flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])) == 0
    with pytest.raises(SeccompError) as e:
        seccomp.filter_flags(dict(base, flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_X"]))
    assert str(e.value) == "linux.seccomp.flags[1]: unknown flag SECCOMP_FILTER_FLAG_X"


def test_spec_allow_and_log_flags_load(tmp_path):
    config = allow_with({"names": MKDIR, "action": "SCMP_ACT_ERRNO"},
                        flags=["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"])
    assert exit_code(enforce(config, lambda: errno_of(os.mkdir, str(tmp_path / "d")))) \
        == errno.EPERM


# ---- features ---------------------------------------------------------------------

def test_features():
    f = seccomp.features()
    assert f["enabled"] is True
    assert set(f["actions"]) == {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                 "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",
                                 "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"}
    # this kernel (>= 5.19) has it, and with SCMP_ACT_NOTIFY it has a meaning
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in f["supportedFlags"]
    assert f["operators"] == sorted(["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                     "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"])
    for arch in ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"):
        assert arch in f["archs"]
    assert set(f["knownFlags"]) == {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}
    assert set(f["supportedFlags"]) <= set(f["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_LOG" in f["supportedFlags"]  # this kernel has it
    json.dumps(f)
    # Everything listed is accepted by compile_filter / filter_flags.
    for action in f["actions"]:
        if action == "SCMP_ACT_NOTIFY":  # a rule's action only, with a listener
            seccomp.compile_filter(allow_with({"names": ["mkdir"], "action": action},
                                              listenerPath="/run/agent.sock"))
        else:
            seccomp.compile_filter({"defaultAction": action})
    for arch in f["archs"]:
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]})
    for op in f["operators"]:
        seccomp.compile_filter(allow_with({"names": ["close"], "action": "SCMP_ACT_LOG",
                                           "args": [{"index": 0, "value": 1, "op": op}]}))
    for flag in f["supportedFlags"]:
        seccomp.filter_flags({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]})


# ---- errors -----------------------------------------------------------------------

@pytest.mark.parametrize("config,message", [
    ({"defaultAction": "SCMP_ACT_FOO"},
     "linux.seccomp.defaultAction: unknown action SCMP_ACT_FOO"),
    ({}, "linux.seccomp.defaultAction: is required"),
    ([], "linux.seccomp: must be an object"),
    (allow_with(*[{"names": ["read"], "action": "SCMP_ACT_ERRNO"}] * 3,
                {"names": ["mkdir"], "action": "SCMP_ACT_FOO"}),
     "linux.seccomp.syscalls[3].action: unknown action SCMP_ACT_FOO"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 1, "op": "SCMP_CMP_FOO"}]}),
     "linux.seccomp.syscalls[0].args[1].op: unknown operator SCMP_CMP_FOO"),
    (allow_with(architectures=["SCMP_ARCH_X86", "SCMP_ARCH_FOO"]),
     "linux.seccomp.architectures[1]: unknown architecture SCMP_ARCH_FOO"),
    (allow_with(architectures=["x86_64"]),
     "linux.seccomp.architectures[0]: unknown architecture x86_64"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
     "linux.seccomp.syscalls[0].args[0].index: must be an integer from 0 to 5, not 6"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}),
     "linux.seccomp.syscalls[0].args[0].value: must be an integer from 0 to "
     "18446744073709551615, not -1"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}),
     "linux.seccomp.syscalls[0].args[0].value: is required"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1}),
     "linux.seccomp.syscalls[0].errnoRet: is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, "
     "not SCMP_ACT_KILL"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1},
     "linux.seccomp.defaultErrnoRet: is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, "
     "not SCMP_ACT_ALLOW"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}),
     "linux.seccomp.syscalls[0].errnoRet: must be an integer from 0 to 4094, not 70000"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4095},
     "linux.seccomp.defaultErrnoRet: must be an integer from 0 to 4094, not 4095"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}),
     "linux.seccomp.syscalls[0].errnoRet: must be an integer from 0 to 65535, not 65536"),
    (allow_with({"names": [], "action": "SCMP_ACT_ERRNO"}),
     "linux.seccomp.syscalls[0].names: must contain at least one name"),
    (allow_with({"names": ["mkdir", ""], "action": "SCMP_ACT_ERRNO"}),
     "linux.seccomp.syscalls[0].names[1]: must be a non-empty string, not ''"),
    (allow_with({"names": "mkdir", "action": "SCMP_ACT_ERRNO"}),
     "linux.seccomp.syscalls[0].names: must be an array, not str"),
    (allow_with({"names": ["mkdir"]}), "linux.seccomp.syscalls[0].action: is required"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}),
     "linux.seccomp.syscalls[1]: adding the rule for mkdir: it conflicts with an earlier rule"),
])
def test_errors_name_the_field(config, message):
    with pytest.raises(SeccompError) as e:
        seccomp.compile_filter(config)
    assert str(e.value) == message
    assert "\n" not in str(e.value)


# ---- random valid configurations ----------------------------------------------------

SYSCALL_POOL = ["read", "write", "open", "openat", "close", "mkdir", "mkdirat", "clone",
                "socket", "socketcall", "ioctl", "personality", "ptrace", "mount", "umask",
                "kill", "futex", "bpf", "unshare", "no_such_call", "_llseek", "chmod"]
ACTIONS = ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"]
OPS = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
       "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]

args_st = st.fixed_dictionaries(
    {"index": st.integers(0, 5), "value": st.integers(0, 2**64 - 1), "op": st.sampled_from(OPS)},
    optional={"valueTwo": st.integers(0, 2**64 - 1)})


@st.composite
def action_st(draw):
    action = draw(st.sampled_from(ACTIONS))
    out = {"action": action}
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") and draw(st.booleans()):
        out["errnoRet"] = draw(st.integers(0, 4094 if action == "SCMP_ACT_ERRNO" else 65535))
    return out


@st.composite
def config_st(draw):
    # Each syscall appears in one entry: one name with different actions for
    # identical arguments is a real conflict, which libseccomp refuses.
    names = draw(st.permutations(SYSCALL_POOL))
    cuts = sorted(draw(st.lists(st.integers(1, len(names) - 1), max_size=6, unique=True)))
    groups = [names[a:b] for a, b in zip([0] + cuts, cuts + [len(names)])]
    syscalls = []
    for group in groups[:draw(st.integers(0, len(groups)))]:
        entry = dict(names=group, **draw(action_st()))
        if draw(st.booleans()):
            entry["args"] = draw(st.lists(args_st, max_size=4))
        syscalls.append(entry)
    default = draw(action_st())
    config = {"defaultAction": default["action"], "syscalls": syscalls}
    if "errnoRet" in default:
        config["defaultErrnoRet"] = default["errnoRet"]
    config["architectures"] = draw(st.lists(st.sampled_from(
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]), unique=True))
    config["flags"] = draw(st.lists(st.sampled_from(
        ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]), unique=True))
    return config


@settings(max_examples=int(os.environ.get('SECCOMP_EXAMPLES', 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_st())
def test_random_valid_configs_compile(config):
    bpf = seccomp.compile_filter(config)
    assert len(bpf) % 8 == 0 and 0 < len(bpf) // 8 <= 4096
    assert seccomp.compile_filter(config) == bpf
    assert seccomp.filter_flags(config) & ~(seccomp.FLAG_LOG | seccomp.FLAG_SPEC_ALLOW) == 0


def test_random_config_enforces_in_child(tmp_path):
    """A large allow-by-default profile still loads and blocks its target."""
    rules = [{"names": [n], "action": "SCMP_ACT_LOG"} for n in SYSCALL_POOL if "mkdir" not in n]
    config = allow_with(*rules, {"names": MKDIR, "action": "SCMP_ACT_ERRNO"},
                        architectures=["SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    assert exit_code(enforce(config, lambda: errno_of(os.mkdir, str(tmp_path / "d")))) \
        == errno.EPERM


def test_import_is_cheap():
    code = "import sys, runtime.seccomp; print(sorted(m for m in sys.modules if m.startswith(('json','socket','ctypes'))))"
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.strip() == "[]"


# ---- in a real container -------------------------------------------------------------

PROBE_C = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
/* sysprobe NR...: for each raw syscall number, "NR errno" (0: it worked) */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        long nr = strtol(argv[i], NULL, 0);
        errno = 0;
        long r = syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
        printf("%ld %d\n", nr, r == -1 ? errno : 0);
    }
    fflush(stdout);
    return 0;
}
"""

# What a runtime's init and a static program need (runc's Go init too), all older than
# clone3 (435) and without getppid (110): the probes.
OLD_SYSCALLS = [
    "read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap",
    "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl",
    "pread64", "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield",
    "mremap", "madvise", "dup", "dup2", "nanosleep", "getpid", "socket", "connect", "sendmsg",
    "recvmsg", "clone", "fork", "vfork", "execve", "exit", "wait4", "kill", "uname", "fcntl",
    "flock", "fsync", "getdents", "getcwd", "chdir", "fchdir", "readlink", "umask",
    "getrlimit", "getuid", "getgid", "setuid", "setgid", "geteuid", "getegid", "setpgid",
    "setsid", "setgroups", "setresuid", "setresgid", "getresuid", "getresgid", "capget",
    "capset", "sigaltstack", "prctl", "arch_prctl", "setrlimit", "gettid", "tkill", "futex",
    "sched_getaffinity", "set_tid_address", "getdents64", "clock_gettime", "clock_nanosleep",
    "exit_group", "epoll_wait", "epoll_ctl", "tgkill", "waitid", "openat", "mkdirat",
    "newfstatat", "readlinkat", "faccessat", "pselect6", "ppoll", "set_robust_list",
    "get_robust_list", "epoll_pwait", "eventfd2", "epoll_create1", "dup3", "pipe2",
    "prlimit64", "getrandom", "memfd_create", "statx", "rseq", "fstatfs", "sysinfo",
    "getpgrp",
]


def build_probe(tdir, rootfs_bin):
    import shutil
    import subprocess

    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "a C compiler is needed to build the in-container syscall probe"
    src = os.path.join(tdir, "sysprobe.c")
    with open(src, "w") as f:
        f.write(PROBE_C)
    out = os.path.join(rootfs_bin, "sysprobe")
    subprocess.run([gcc, "-static", "-O1", "-o", out, src], check=True, timeout=120)
    return "/bin/sysprobe"


def probe_results(out):
    return {int(a): int(b) for a, b in (line.split() for line in out.splitlines() if line.strip())}


@pytest.mark.parametrize("default", [{"defaultAction": "SCMP_ACT_ERRNO"},
                                     {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EXDEV}])
def test_enosys_stub_in_a_container(rt, cid, make_bundle, tdir, default):
    """A profile of old syscalls with an errno default: clone3, newer than all of them,
    gets ENOSYS from inside the container; getppid, old but not named, the default."""
    b = make_bundle(write=False)
    prog = build_probe(tdir, b.rootfs_path("bin"))
    b.config["process"]["args"] = [prog, str(NR_CLONE3), str(NR_GETPPID)]
    b.config["linux"]["seccomp"] = dict(default, architectures=["SCMP_ARCH_X86_64"],
                                        syscalls=[{"names": OLD_SYSCALLS, "action": "SCMP_ACT_ALLOW"}])
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    got = probe_results(r.out)
    assert got == {NR_CLONE3: errno.ENOSYS, NR_GETPPID: default.get("defaultErrnoRet", errno.EPERM)}, r.out


# ---- SCMP_ACT_NOTIFY in a real container, with a real agent ----------------------------

# A small seccomp agent (shared with the conformance suite): see its docstring.
AGENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "conformance", "seccomp_agent.py")


def notify_profile(sock_path, flags=()):
    return {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock_path,
            "listenerMetadata": "agent-metadata", "flags": list(flags),
            "syscalls": [{"names": ["mkdir", "mkdirat", "rmdir"], "action": "SCMP_ACT_NOTIFY"}]}


class Agent:
    def __init__(self, tdir):
        import subprocess
        import time

        self.sock = os.path.join(tdir, "agent.sock")
        self.out = os.path.join(tdir, "agent.json")
        self.proc = subprocess.Popen([sys.executable, AGENT, self.sock, self.out])
        deadline = time.monotonic() + 20
        while not os.path.exists(self.sock):
            assert self.proc.poll() is None, "the agent exited"
            assert time.monotonic() < deadline, "the agent never listened"
            time.sleep(0.02)

    def received(self, n=0):
        """What the agent got on its n-th connection (0: create's)."""
        with open(self.out if n == 0 else f"{self.out}.{n}") as f:
            return json.load(f)

    def seen(self):
        """The notified syscalls, once the agent has exited (the container is gone)."""
        assert self.proc.wait(timeout=60) == 0, "the agent failed"
        with open(self.out + ".seen") as f:
            return f.read().split()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def agent(tdir):
    a = Agent(tdir)
    yield a
    a.kill()


def notify_bundle(make_bundle, script, sock, nnp, flags=()):
    b = make_bundle(["sh", "-c", script], write=False)
    b.config["root"]["readonly"] = False
    b.config["process"]["noNewPrivileges"] = nnp
    b.config["linux"]["seccomp"] = notify_profile(sock, flags)
    b.config["annotations"] = {"org.test.key": "value"}
    os.makedirs(b.rootfs_path("gone"))
    b.write()
    return b


SCRIPT = "rmdir /gone && echo RMDIR-OK; mkdir /new 2>&1; echo mkdir=$?"


@pytest.mark.parametrize("nnp", [True, False])
def test_notify_agent_gets_the_fd_and_state_create_start(rt, cid, make_bundle, agent, nnp):
    """create hands the listener fd to the agent with the container process state; the
    agent's answers decide what mkdir (EXDEV) and rmdir (continue) do in the container."""
    b = notify_bundle(make_bundle, SCRIPT, agent.sock, nnp)
    out = os.path.join(rt.workdir, "container.out")
    r = rt.create(cid, b, stdout_path=out)
    assert r.rc == 0, r
    st = rt.state(cid)
    got = agent.received()
    assert got["nfds"] == 1 and "seccomp" in got["fd_kinds"][0], got
    m = got["message"]
    # the spec version the runtime complies with (runc 1.1.5: its 1.0.2-dev)
    assert m["ociVersion"] == json.loads(rt.cmd("features").out)["ociVersionMax"], m
    assert m["fds"] == ["seccompFd"], m
    assert m["pid"] == st["pid"] and m["metadata"] == "agent-metadata", m
    assert m["state"]["id"] == cid and m["state"]["pid"] == st["pid"], m
    assert m["state"]["bundle"] == b.path and m["state"]["status"] == "creating", m
    assert m["state"]["annotations"] == {"org.test.key": "value"}, m
    assert m["state"]["ociVersion"], m
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped", timeout=30) == "stopped"
    with open(out) as f:
        text = f.read()
    assert "RMDIR-OK" in text and "mkdir=1" in text and "cross-device" in text, text
    assert not os.path.exists(b.rootfs_path("gone"))     # continued: really removed
    assert not os.path.exists(b.rootfs_path("new"))      # answered: never made
    seen = agent.seen()
    assert "rmdir" in seen and any(s.startswith("mkdir") for s in seen), seen


@pytest.mark.parametrize("flags", [[], pytest.param(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                                                    marks=pytest.mark.not_runc)])  # runc 1.1.5: no flags
@pytest.mark.not_runc  # runc 1.1.5 run: the notified syscalls get ENOSYS
@pytest.mark.parametrize("nnp", [True, False])
def test_notify_with_run(rt, cid, make_bundle, agent, nnp, flags):
    b = notify_bundle(make_bundle, SCRIPT, agent.sock, nnp, flags)
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert "RMDIR-OK" in r.out and "mkdir=1" in r.out, r.out
    assert agent.received()["message"]["state"]["id"] == cid
    assert not os.path.exists(b.rootfs_path("gone"))


@pytest.mark.parametrize("nnp", [True, False])
@pytest.mark.parametrize("how", ["absent", "killed"])
def test_notify_without_an_agent_is_a_one_line_error(rt, cid, make_bundle, tdir, nnp, how):
    sock = os.path.join(tdir, "agent.sock")
    if how == "killed":
        a = Agent(tdir)
        a.kill()  # its socket file stays, nobody listens
        assert os.path.exists(sock)
    b = notify_bundle(make_bundle, "true", sock, nnp)
    r = rt.create(cid, b)
    assert_error(r, rt)
    assert "listenerPath" in r.err or "agent" in r.err, r.err
    if rt.name == "pyrunc":
        assert "linux.seccomp.listenerPath" in r.err and sock in r.err, r.err
    assert rt.state_raw(cid).rc != 0  # nothing left behind
    assert not state_dir_exists(rt, cid)


# ---- startContainer hooks run under the container's filter (runc's order) -------------

KILL_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}


def hooked_seccomp_bundle(make_bundle, nnp, profile=KILL_MKDIR):
    b = make_bundle(["true"], write=False)
    b.config["root"]["readonly"] = False
    b.config["process"]["noNewPrivileges"] = nnp
    b.config["linux"]["seccomp"] = profile
    # a startContainer hook's path is in the container
    b.config["hooks"] = {"startContainer": [{"path": "/bin/mkdir", "args": ["mkdir", "/hookdir"]}]}
    b.write()
    return b


@pytest.mark.not_runc  # runc 1.1.5's start returns before the hooks ran: it reports nothing
@pytest.mark.parametrize("nnp", [True, False])
def test_start_container_hook_runs_under_the_filter(rt, cid, make_bundle, nnp):
    b = hooked_seccomp_bundle(make_bundle, nnp)
    assert rt.create(cid, b).rc == 0
    r = rt.start(cid)
    assert_error(r, rt)
    assert "bad system call" in r.err.lower(), r.err
    if rt.name == "pyrunc":
        assert "startContainer hook /bin/mkdir" in r.err, r.err
    assert not os.path.exists(b.rootfs_path("hookdir"))
    assert rt.wait_status(cid, "stopped") == "stopped"


@pytest.mark.parametrize("nnp", [True, False])
def test_run_fails_when_a_start_container_hook_is_killed_by_the_filter(rt, cid, make_bundle, nnp):
    b = hooked_seccomp_bundle(make_bundle, nnp)
    r = rt.run(cid, b)
    assert r.rc != 0, r
    assert "bad system call" in r.err.lower(), r.err
    assert not os.path.exists(b.rootfs_path("hookdir"))


@pytest.mark.parametrize("nnp", [True, False])
def test_start_container_hook_not_blocked_runs(rt, cid, make_bundle, nnp):
    """The same hook under a filter that blocks something else: it runs."""
    b = hooked_seccomp_bundle(make_bundle, nnp, {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["rmdir"], "action": "SCMP_ACT_KILL_PROCESS"}]})
    assert rt.run(cid, b).rc == 0
    assert os.path.isdir(b.rootfs_path("hookdir"))


@pytest.mark.pyrunc_only
def test_features_report_notify_and_the_listener(rt):
    doc = json.loads(rt.cmd("features").out)
    sc = doc["linux"]["seccomp"]
    assert "SCMP_ACT_NOTIFY" in sc["actions"]  # and the notify tests above use it
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in sc["supportedFlags"]
    assert doc["annotations"]["io.github.pyrunc.seccomp.listener.enabled"] == "true"
    v = seccomp.lib.seccomp_version()
    assert doc["annotations"]["io.github.seccomp.libseccomp.version"] == f"{v.major}.{v.minor}.{v.micro}"


@pytest.mark.not_runc  # runc 1.1.5 exec, as its run: the notified syscalls get ENOSYS
@pytest.mark.parametrize("nnp", [True, False])
def test_notify_with_exec(rt, cid, make_bundle, agent, nnp):
    """exec's process gets a filter (and a listener) of its own: the agent gets a second
    connection with the state of the running container and the pid of exec's process,
    and answers its syscalls."""
    b = notify_bundle(make_bundle, "sleep 600", agent.sock, nnp=False)
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    init_pid = rt.state(cid)["pid"]
    flags = ["--no-new-privs"] if nnp else []
    r = rt.cmd("exec", *flags, cid, "sh", "-c", "grep ^NoNewPrivs /proc/self/status; " + SCRIPT)
    assert r.rc == 0, r
    assert "RMDIR-OK" in r.out and "mkdir=1" in r.out and "cross-device" in r.out, r.out
    assert ("NoNewPrivs:\t1" in r.out) == nnp, r.out
    got = agent.received(1)
    m = got["message"]
    assert got["nfds"] == 1 and m["fds"] == ["seccompFd"] and m["metadata"] == "agent-metadata", got
    assert m["state"]["id"] == cid and m["state"]["status"] == "running", m
    # pid: exec's process, the one the filter belongs to, not the container's init
    assert m["state"]["pid"] == init_pid and isinstance(m["pid"], int) and m["pid"] not in (0, init_pid), m
    assert not os.path.exists(b.rootfs_path("gone"))
    assert rt.kill(cid, "KILL").rc == 0
    assert rt.wait_status(cid, "stopped", timeout=30) == "stopped"
    seen = agent.seen()
    assert seen.count("rmdir") == 1, seen  # the container's own sleep made none


def test_notify_exec_without_an_agent_is_a_one_line_error(rt, cid, make_bundle, tdir):
    a = Agent(tdir)
    b = notify_bundle(make_bundle, "sleep 600", a.sock, nnp=False)
    assert rt.create(cid, b).rc == 0
    a.kill()  # the agent is gone before exec
    r = rt.cmd("exec", cid, "true")
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert "linux.seccomp.listenerPath" in r.err and a.sock in r.err, r.err
    assert rt.status(cid) == "created"


@settings(max_examples=int(os.environ.get('SECCOMP_EXAMPLES', 150)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(config_st())
def test_random_profiles_enosys_stub(config):
    """For any valid profile: the stub is there exactly when the default action is not
    permissive (nor ENOSYS already) and a named syscall is known; its jumps stay in it
    or land on libseccomp's first instruction; every ENOSYS return is guarded by a
    comparison with the largest named syscall of an architecture."""
    stub = seccomp.enosys_stub(config)
    lib = seccomp.lib
    tokens = [lib.seccomp_arch_native()] + [
        lib.seccomp_arch_resolve_name(a[len("SCMP_ARCH_"):].lower().encode()) for a in config["architectures"]]
    named = any(lib.seccomp_syscall_resolve_name_arch(t, n.encode()) > 0
                for t in tokens for e in config["syscalls"] for n in e["names"])
    permissive = config["defaultAction"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE") or (
        config["defaultAction"] == "SCMP_ACT_ERRNO" and config.get("defaultErrnoRet") == errno.ENOSYS)
    assert bool(stub) == (not permissive and named)
    assert seccomp.compile_filter(config).startswith(stub)
    n = len(stub) // 8
    insns = [struct.unpack_from("=HBBI", stub, 8 * i) for i in range(n)]
    for i, (code, jt, jf, k) in enumerate(insns):
        if code == 0x05:
            assert i + 1 + k == n
        elif code & 0x07 == 0x05:
            assert i + 1 + max(jt, jf) <= n
        elif code == 0x06:
            assert k == 0x00050000 | errno.ENOSYS
            assert insns[i - 1][0] in (0x25, 0x15)  # jgt max (or s390's jeq 0)
