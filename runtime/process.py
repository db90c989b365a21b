"""The container process's attributes: rlimits, user, cwd, env, the program to exec."""
import posix
import _stat as stat  # stat's C half: importing stat itself costs ~0.06 ms

from runtime import ospath
from runtime.errors import RuntimeFailure

RLIMITS = ("AS", "CORE", "CPU", "DATA", "FSIZE", "LOCKS", "MEMLOCK", "MSGQUEUE", "NICE",
           "NOFILE", "NPROC", "RSS", "RTPRIO", "RTTIME", "SIGPENDING", "STACK")


def set_rlimits(rlimits):
    """setrlimit each through prlimit(2) on ourselves (runtime._native: no `resource`
    import on every create); failures worded as Python's resource.setrlimit."""
    if not rlimits:
        return
    from runtime._native import ffi, lib

    seen = set()
    for i, r in enumerate(rlimits or ()):
        field = f"process.rlimits[{i}]"
        t = r.get("type", "")
        if t in seen:
            raise RuntimeFailure(f"{field}.type: duplicate rlimit {t}")
        seen.add(t)
        name = t[len("RLIMIT_"):] if t.startswith("RLIMIT_") else None
        if name not in RLIMITS:
            raise RuntimeFailure(f"{field}.type: unknown rlimit {t!r}")
        soft, hard = r.get("soft", 0), r.get("hard", 0)
        if soft > hard:
            raise RuntimeFailure(f"{field}: soft limit {soft} is above the hard limit {hard}")
        inf = lib.RLIM_INFINITY
        # a limit of 2^63 or more (up to the spec's uint64) is no limit at all, as
        # RLIM_INFINITY (2^64-1) is; the order soft <= hard is kept
        conv = lambda v: inf if v >= 2**63 else v  # noqa: E731
        num = getattr(lib, "RLIMIT_" + name)
        lim = ffi.new("struct rlimit *")
        lim.rlim_cur, lim.rlim_max = conv(soft), conv(hard)
        if lib.prlimit(0, num, lim, ffi.NULL) != 0:
            err = ffi.errno
            why = _SETRLIMIT_WORDS.get(err) or posix.strerror(err)
            cur = ffi.new("struct rlimit *")
            if err not in (1, 22) or lib.prlimit(0, num, ffi.NULL, cur) != 0:  # not about the limit itself
                raise RuntimeFailure(f"{field}: cannot set {t} to soft {soft} hard {hard}: {why}")
            raise RuntimeFailure(
                f"{field}: cannot set {t} to soft {soft} hard {hard} (the current hard limit is "
                f"{'unlimited' if cur.rlim_max == inf else cur.rlim_max}; raising it needs CAP_SYS_RESOURCE): "
                f"{why}")


# what Python's resource.setrlimit says for these (the messages read as before)
_SETRLIMIT_WORDS = {1: "not allowed to raise maximum limit", 22: "current limit exceeds maximum limit"}


def set_oom_score_adj(pid, value):
    """process.oomScoreAdj through a verified procfs fd (runtime/procfs.py); pid "self"
    is this process, named by number (the `self` link is not followed)."""
    if value is None:
        return
    from runtime import procfs

    if pid == "self":
        pid = posix.getpid()
    procfs.write(f"{pid}/oom_score_adj", str(value), f"process.oomScoreAdj: cannot set {value}")


def set_user(user):
    """setgroups, setresgid, setresuid, in that order (caps are kept with PR_SET_KEEPCAPS)."""
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    # (uid_t)-1 is "leave unchanged" to the kernel: the process would stay root.  Validation
    # refuses it up front; this guards every other way in (exec --user, a hand-made job).
    for field, v in (("uid", uid), ("gid", gid)):
        if not 0 <= v < 4294967295:
            raise RuntimeFailure(f"process.user.{field}: {v} is not a valid id")
    for i, g in enumerate(user.get("additionalGids") or ()):
        if not 0 <= g < 4294967295:
            raise RuntimeFailure(f"process.user.additionalGids[{i}]: {g} is not a valid group id")
    try:
        posix.setgroups(list(user.get("additionalGids") or []))
    except OSError as e:
        # setgroups is refused in a user namespace whose setgroups file says deny
        if user.get("additionalGids") or e.errno != 1:
            raise RuntimeFailure(f"process.user.additionalGids: setgroups: {e.strerror}") from None
    try:
        posix.setresgid(gid, gid, gid)
    except OSError as e:
        raise RuntimeFailure(f"process.user.gid: setresgid({gid}): {e.strerror}") from None
    try:
        posix.setresuid(uid, uid, uid)
    except OSError as e:
        raise RuntimeFailure(f"process.user.uid: setresuid({uid}): {e.strerror}") from None


def env_list(process):
    env = list(process.get("env") or [])
    if not any(e.startswith("HOME=") for e in env):
        home = _home_of(process.get("user", {}).get("uid", 0))
        env.append(f"HOME={home}")
    return env


def _home_of(uid):
    try:
        with open("/etc/passwd") as f:
            for line in f:
                p = line.rstrip("\n").split(":")
                if len(p) >= 6 and p[2] == str(uid):
                    return p[5] or "/"
    except OSError:
        pass
    return "/"


def find_program(arg0, env, cwd):
    """Resolve args[0] as execve will see it, in the container: runc's messages on failure."""
    def runnable(p):
        try:
            st = posix.stat(p)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and posix.access(p, posix.X_OK)

    if "/" in arg0:
        path = arg0 if arg0.startswith("/") else ospath.join(cwd, arg0)
        try:
            st = posix.stat(path)
        except OSError as e:
            raise RuntimeFailure(f'exec: "{arg0}": stat {arg0}: {e.strerror.lower()}') from None
        if stat.S_ISDIR(st.st_mode):
            raise RuntimeFailure(f'exec: "{arg0}": is a directory')
        if not posix.access(path, posix.X_OK):
            raise RuntimeFailure(f'exec: "{arg0}": permission denied')
        return path
    search = next((e[5:] for e in env if e.startswith("PATH=")), None)
    if search is None:
        search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for d in search.split(":"):
        p = ospath.join(d or ".", arg0)
        if runnable(p):
            return p
    raise RuntimeFailure(f'exec: "{arg0}": executable file not found in $PATH')


def set_cwd(cwd):
    try:
        posix.chdir(cwd)
    except OSError as e:
        raise RuntimeFailure(f"process.cwd: chdir to {cwd}: {e.strerror}") from None


def enter_cwd_early(cwd):
    """chdir to process.cwd while still root (runc's order): a directory the runtime can
    enter but the container's user cannot (a 0700 /root with uid 1000) is entered.
    True once entered; False on EACCES/EPERM (tried again as the user, who may own a
    directory root cannot enter in a user namespace); other errors are the cwd's."""
    try:
        posix.chdir(cwd)
    except PermissionError:
        return False
    except OSError as e:
        raise RuntimeFailure(f"process.cwd: chdir to {cwd}: {e.strerror}") from None
    return True


def verify_cwd(cwd):
    """After the switch to the user: the cwd must still resolve inside the container's
    root (CVE-2024-21626: a leaked host fd would leave it outside, where getcwd fails
    or answers "(unreachable)...")."""
    try:
        where = posix.getcwd()
    except OSError:
        raise RuntimeFailure(f"process.cwd: {cwd} is outside the container") from None
    if not where.startswith("/"):
        raise RuntimeFailure(f"process.cwd: {cwd} is outside the container")


def make_cwd(cwd):
    """A missing process.cwd is made (0755, as root, inside the new root only) before the
    root is made read-only and before privileges drop, as runc does."""
    if ospath.isdir(cwd):
        return
    try:
        ospath.makedirs(cwd, 0o755)
    except OSError as e:
        raise RuntimeFailure(f"process.cwd: create {cwd}: {e.strerror}") from None


def listen_fds(environ=None):
    """systemd socket activation as runc does it (go-systemd's activation.Files): when the
    caller's LISTEN_PID is this process and LISTEN_FDS=N (N > 0), fds 3..3+N-1 are passed
    on to the container's process, before the --preserve-fds ones, which then start at
    3+N.  Anything else (unset, another pid, not a number): 0, nothing passed."""
    if environ is None:  # posix.environ: bytes
        environ = {k.decode(): v.decode("latin-1") for k, v in posix.environ.items() if k.startswith(b"LISTEN_")}
    pid, n = environ.get("LISTEN_PID", ""), environ.get("LISTEN_FDS", "")
    if not (pid.isdigit() and n.isdigit()) or int(pid) != posix.getpid():
        return 0
    return int(n)


def with_listen_env(env, n):
    """The container's environment with LISTEN_FDS=n and LISTEN_PID=1 (it is pid 1 of its
    pid namespace, as runc says even without one); earlier values replaced."""
    if not n:
        return env
    keep = [e for e in env if not e.startswith(("LISTEN_FDS=", "LISTEN_PID="))]
    return keep + [f"LISTEN_FDS={n}", "LISTEN_PID=1"]
