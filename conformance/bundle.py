"""Real-container test harness: busybox rootfs, OCI bundles, a runtime driver.

Everything here works against ANY runc-compatible binary: the runtime under
test is a command line (``PYRUNC_TEST_RUNTIME``, default ``pyrunc``).

* :func:`rootfs_template` builds, once per process, a minimal root filesystem
  from Debian's static busybox; :func:`make_rootfs` copies it into a bundle.
* :func:`default_config` is the equivalent of ``runc spec`` with
  ``terminal: false`` and the given args.
* :class:`Bundle` is a bundle directory with a config dict.
* :class:`Runtime` drives the runtime CLI with a private ``--root`` and keeps
  every container id it created so :meth:`Runtime.cleanup` can remove them.
* :func:`parse_report` parses the output of the in-container checker.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER_SRC = os.path.join(HERE, "checker.sh")
#: where the checker lives inside every rootfs
CHECKER = "/bin/pyrunc-checker"
#: environment variable that tags every container process of a test run so a
#: leak guard can find stray processes (see tests/conftest.py)
TAG_VAR = "PYRUNC_TEST_TAG"

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

PASSWD = """root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
"""
GROUP = """root:x:0:
users:x:100:user
nogroup:x:65534:
user:x:1000:
"""

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --------------------------------------------------------------------------
# rootfs
# --------------------------------------------------------------------------

_template: str | None = None
_template_parent: str | None = None


def find_busybox() -> str:
    for p in BUSYBOX_CANDIDATES:
        if os.path.isfile(p) and not os.path.islink(p):
            return p
    found = shutil.which("busybox")
    if found:
        return os.path.realpath(found)
    raise RuntimeError("busybox not found (apt-get install busybox-static)")


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list"], check=True, capture_output=True,
                         text=True).stdout
    names = []
    for name in out.split():
        # never let an applet symlink overwrite the binary itself
        if name and "/" not in name and name != "busybox":
            names.append(name)
    return names


def _build_template(dest: str) -> None:
    busybox = find_busybox()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys",
              "dev", "tmp", "root", "home/user", "var", "run", "mnt"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(dest, "bin", "busybox"))
    os.chmod(os.path.join(dest, "bin", "busybox"), 0o755)
    for name in _applets(busybox):
        link = os.path.join(dest, "bin", name)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write(GROUP)
    with open(os.path.join(dest, "etc", "hostname"), "w") as f:
        f.write("pyrunc-test\n")
    os.chown(os.path.join(dest, "home", "user"), 1000, 1000)
    shutil.copy2(CHECKER_SRC, os.path.join(dest, CHECKER.lstrip("/")))
    os.chmod(os.path.join(dest, CHECKER.lstrip("/")), 0o755)


def _remove_template() -> None:
    global _template, _template_parent
    if _template_parent and os.path.isdir(_template_parent):
        shutil.rmtree(_template_parent, ignore_errors=True)
    _template = _template_parent = None


def rootfs_template() -> str:
    """Path of the per-process cached rootfs template (built on first use)."""
    global _template, _template_parent
    if _template is None or not os.path.isdir(_template):
        _template_parent = tempfile.mkdtemp(prefix="pyrunc-rootfs-")
        _template = os.path.join(_template_parent, "rootfs")
        os.mkdir(_template)
        _build_template(_template)
        atexit.register(_remove_template)
    return _template


def make_rootfs(dest: str) -> str:
    """Copy the template into ``dest`` (a real copy: tests may write to it)."""
    src = rootfs_template()
    shutil.copytree(src, dest, symlinks=True)
    return dest


# --------------------------------------------------------------------------
# config.json
# --------------------------------------------------------------------------

def _deep_merge(base: dict, over: dict) -> dict:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

DEFAULT_MASKED = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
]
DEFAULT_READONLY = [
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
]


def default_config(args=None, **overrides) -> dict:
    """A config equivalent to ``runc spec``, with terminal false and ``args``.

    Keyword overrides are deep-merged at the top level: dicts merge key by
    key, anything else replaces (``process={"cwd": "/tmp"}`` keeps the rest of
    ``process``; ``mounts=[...]`` replaces the mount list).
    """
    if args is None:
        args = ["sh"]
    cfg = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=" + DEFAULT_PATH, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": list(DEFAULT_CAPS),
                "effective": list(DEFAULT_CAPS),
                "permitted": list(DEFAULT_CAPS),
                "ambient": list(DEFAULT_CAPS),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                         "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777",
                         "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue",
             "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup",
             "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"},
                           {"type": "ipc"}, {"type": "uts"},
                           {"type": "mount"}],
            "maskedPaths": list(DEFAULT_MASKED),
            "readonlyPaths": list(DEFAULT_READONLY),
        },
    }
    return _deep_merge(cfg, overrides)


def set_namespaces(cfg: dict, types) -> dict:
    """Replace linux.namespaces with the given list of type names or dicts."""
    ns = []
    for t in types:
        ns.append(dict(t) if isinstance(t, dict) else {"type": t})
    cfg.setdefault("linux", {})["namespaces"] = ns
    return cfg


def drop_namespace(cfg: dict, typ: str) -> dict:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                  if n["type"] != typ]
    return cfg


def checker_args(*sections) -> list[str]:
    return ["/bin/sh", CHECKER] + [str(s) for s in sections]


def shell(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


# --------------------------------------------------------------------------
# bundle
# --------------------------------------------------------------------------

class Bundle:
    """An OCI bundle directory: ``config.json`` plus a busybox ``rootfs``."""

    def __init__(self, path: str, config: dict | None = None, *,
                 rootfs: bool = True, tag: str | None = None):
        self.path = os.path.abspath(path)
        os.makedirs(self.path, exist_ok=True)
        self.rootfs = os.path.join(self.path, "rootfs")
        if rootfs and not os.path.exists(self.rootfs):
            make_rootfs(self.rootfs)
        self.tag = tag
        self.config = config if config is not None else default_config()
        self.config_path = os.path.join(self.path, "config.json")

    def write(self, config: dict | None = None) -> "Bundle":
        if config is not None:
            self.config = config
        cfg = self.config
        proc = cfg.get("process")
        if self.tag and isinstance(proc, dict) and isinstance(proc.get("env"), list):
            if not any(e.startswith(TAG_VAR + "=") for e in proc["env"]):
                proc["env"].append(f"{TAG_VAR}={self.tag}")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        return self

    def write_raw(self, text: str) -> "Bundle":
        with open(self.config_path, "w") as f:
            f.write(text)
        return self

    # helpers to shape the config ------------------------------------------
    @property
    def process(self) -> dict:
        return self.config["process"]

    def set_args(self, *args) -> "Bundle":
        self.config["process"]["args"] = list(args[0] if len(args) == 1 and
                                              isinstance(args[0], list) else args)
        return self

    def add_mount(self, destination, type="bind", source=None, options=None):
        m = {"destination": destination, "type": type}
        if source is not None:
            m["source"] = source
        if options is not None:
            m["options"] = list(options)
        self.config.setdefault("mounts", []).append(m)
        return m

    def rootfs_path(self, rel: str) -> str:
        return os.path.join(self.rootfs, rel.lstrip("/"))

    def add_file(self, rel: str, content: str | bytes, mode: int = 0o644) -> str:
        p = self.rootfs_path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        os.chmod(p, mode)
        return p


# --------------------------------------------------------------------------
# runtime driver
# --------------------------------------------------------------------------

def resolve_runtime(cmd: str | None = None) -> list[str]:
    """The runtime command line: ``cmd``, else $PYRUNC_TEST_RUNTIME, else
    ``pyrunc`` (on PATH or next to sys.executable)."""
    cmd = cmd or os.environ.get("PYRUNC_TEST_RUNTIME") or "pyrunc"
    argv = shlex.split(cmd)
    if len(argv) == 1 and "/" not in argv[0]:
        found = shutil.which(argv[0])
        if not found:
            cand = os.path.join(os.path.dirname(sys.executable), argv[0])
            if os.access(cand, os.X_OK):
                found = cand
        if found:
            argv = [found]
    return argv


def runtime_name(argv: list[str]) -> str:
    """A short name for the runtime: 'runc', 'crun', 'pyrunc', ..."""
    if not argv:
        return ""
    base = os.path.basename(argv[0])
    if base.startswith("pyrunc"):
        return "pyrunc"
    if base.startswith("python"):
        # python3 -m runtime / python3 path/to/pyrunc
        if "-m" in argv and argv[argv.index("-m") + 1:][:1] == ["runtime"]:
            return "pyrunc"
        if any("pyrunc" in a for a in argv[1:]):
            return "pyrunc"
    return base


def runtime_available(argv: list[str]) -> bool:
    if not argv:
        return False
    exe = argv[0]
    if "/" in exe:
        return os.access(exe, os.X_OK)
    return shutil.which(exe) is not None


class Result:
    def __init__(self, args, rc, out, err, duration):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err
        self.duration = duration

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def __repr__(self):
        return (f"Result(rc={self.rc}, args={self.args!r},\n  out={self.out!r},"
                f"\n  err={self.err!r})")


class RuntimeError_(Exception):
    pass


class Runtime:
    """Drives a runc-compatible CLI with a private state root.

    Output of commands is captured through temporary FILES, never pipes: a
    container created by ``create``/``run -d`` inherits the caller's stdio and
    would keep a pipe open for its whole life.
    """

    def __init__(self, argv: list[str], root: str, workdir: str | None = None,
                 global_args: list[str] | None = None, timeout: float = 60):
        self.argv = list(argv)
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        self.workdir = workdir or tempfile.mkdtemp(prefix="pyrunc-io-")
        os.makedirs(self.workdir, exist_ok=True)
        self.global_args = list(global_args or [])
        self.timeout = timeout
        self.created: list[str] = []
        self.name = runtime_name(self.argv)
        self._n = 0
        # "python3 -m runtime" must find its package from any cwd
        self.env = None
        if "-m" in self.argv:
            pp = os.environ.get("PYTHONPATH")
            self.env = dict(os.environ, PYTHONPATH=os.getcwd() +
                            (":" + pp if pp else ""))

    # low level -------------------------------------------------------------
    def base(self, root: bool = True) -> list[str]:
        a = list(self.argv)
        if root:
            a += ["--root", self.root]
        return a + self.global_args

    def cmd(self, *args, stdin=None, input: bytes | str | None = None,
            timeout: float | None = None, pass_fds=(), root: bool = True,
            stdout_path: str | None = None, env=None, cwd=None,
            global_args=()) -> Result:
        """Run ``runtime --root ROOT [global_args] args...``; never raises on
        a non-zero exit (only on timeout)."""
        self._n += 1
        argv = self.base(root) + list(global_args) + [str(a) for a in args]
        out_path = stdout_path or os.path.join(self.workdir, f"out.{self._n}")
        err_path = os.path.join(self.workdir, f"err.{self._n}")
        in_path = None
        if input is not None:
            in_path = os.path.join(self.workdir, f"in.{self._n}")
            with open(in_path, "wb") as f:
                f.write(input.encode() if isinstance(input, str) else input)
        t0 = time.monotonic()
        with open(out_path, "ab") as out, open(err_path, "wb") as err:
            fin = open(in_path, "rb") if in_path else None
            try:
                p = subprocess.Popen(
                    argv, stdout=out, stderr=err,
                    stdin=fin if fin is not None else
                    (stdin if stdin is not None else subprocess.DEVNULL),
                    pass_fds=pass_fds, env=env or self.env, cwd=cwd,
                    start_new_session=True)
                try:
                    rc = p.wait(timeout=timeout or self.timeout)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    p.wait()
                    raise RuntimeError_(
                        f"timeout after {timeout or self.timeout}s: {argv}")
            finally:
                if fin is not None:
                    fin.close()
        dur = time.monotonic() - t0
        with open(out_path, "rb") as f:
            o = f.read().decode(errors="replace")
        with open(err_path, "rb") as f:
            e = f.read().decode(errors="replace")
        return Result(argv, rc, o, e, dur)

    def popen(self, *args, stdout_path=None, stdin=None, pass_fds=(),
              **kw) -> subprocess.Popen:
        """Start ``runtime --root ROOT args...`` without waiting; stdout and
        stderr go to files (``p.out_path``/``p.err_path``)."""
        self._n += 1
        argv = self.base() + [str(a) for a in args]
        out_path = stdout_path or os.path.join(self.workdir, f"out.{self._n}")
        err_path = os.path.join(self.workdir, f"err.{self._n}")
        with open(out_path, "ab") as out, open(err_path, "wb") as err:
            kw.setdefault("env", self.env)
            p = subprocess.Popen(argv, stdout=out, stderr=err,
                                 stdin=stdin if stdin is not None
                                 else subprocess.DEVNULL,
                                 pass_fds=pass_fds, start_new_session=True,
                                 **kw)
        p.out_path, p.err_path = out_path, err_path
        return p

    @staticmethod
    def read_popen(p) -> tuple[str, str]:
        with open(p.out_path, "rb") as f:
            o = f.read().decode(errors="replace")
        with open(p.err_path, "rb") as f:
            e = f.read().decode(errors="replace")
        return o, e

    def track(self, cid: str) -> None:
        if cid not in self.created:
            self.created.append(cid)

    # operations -----------------------------------------------------------
    def create(self, cid, bundle, pid_file=None, stdout_path=None, extra=(),
               **kw) -> Result:
        self.track(cid)
        b = bundle.path if isinstance(bundle, Bundle) else bundle
        args = ["create", "--bundle", b]
        if pid_file:
            args += ["--pid-file", pid_file]
        args += list(extra) + [cid]
        return self.cmd(*args, stdout_path=stdout_path, **kw)

    def start(self, cid, **kw) -> Result:
        return self.cmd("start", cid, **kw)

    def run(self, cid, bundle, detach=False, pid_file=None, stdout_path=None,
            extra=(), **kw) -> Result:
        self.track(cid)
        b = bundle.path if isinstance(bundle, Bundle) else bundle
        args = ["run", "--bundle", b]
        if detach:
            args.append("-d")
        if pid_file:
            args += ["--pid-file", pid_file]
        args += list(extra) + [cid]
        return self.cmd(*args, stdout_path=stdout_path, **kw)

    def state_raw(self, cid, **kw) -> Result:
        return self.cmd("state", cid, **kw)

    def state(self, cid) -> dict:
        r = self.state_raw(cid)
        if r.rc != 0:
            raise RuntimeError_(f"state {cid} failed: {r}")
        return json.loads(r.out)

    def status(self, cid) -> str | None:
        r = self.state_raw(cid)
        if r.rc != 0:
            return None
        try:
            return json.loads(r.out).get("status")
        except ValueError:
            return None

    def kill(self, cid, sig=None, all=False, **kw) -> Result:
        args = ["kill"]
        if all:
            args.append("--all")
        args.append(cid)
        if sig is not None:
            args.append(str(sig))
        return self.cmd(*args, **kw)

    def delete(self, cid, force=False, **kw) -> Result:
        args = ["delete"] + (["--force"] if force else []) + [cid]
        return self.cmd(*args, **kw)

    def list(self, *extra) -> Result:
        return self.cmd("list", *extra)

    def wait_status(self, cid, want, timeout=10.0) -> str | None:
        """Poll ``state`` until status is ``want`` (or one of a tuple)."""
        if isinstance(want, str):
            want = (want,)
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.status(cid)
            if st in want:
                return st
            time.sleep(0.05)
        return st

    def cleanup(self) -> list[str]:
        """``delete --force`` every container this driver created; returns
        the ids that could not be deleted."""
        bad = []
        for cid in reversed(self.created):
            try:
                r = self.delete(cid, force=True, timeout=30)
            except (RuntimeError_, OSError):
                bad.append(cid)
                continue
            if r.rc != 0 and os.path.exists(os.path.join(self.root, cid)):
                bad.append(cid)
        self.created.clear()
        return bad

    # convenience ----------------------------------------------------------
    def run_capture(self, cid, bundle, timeout=None, input=None) -> Result:
        """Foreground ``run``; the container's stdout is ``Result.out``."""
        return self.run(cid, bundle, timeout=timeout, input=input)


def new_id(prefix: str = "pytest") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------
# checker output
# --------------------------------------------------------------------------

class Report:
    """Parsed checker output: ``r["uid"]`` the first value, ``r.all("env")``
    every value of a repeated key."""

    def __init__(self, text: str):
        self.text = text
        self.values: dict[str, list[str]] = {}
        self.complete = False
        for line in text.splitlines():
            if "=" not in line:
                continue
            k, v = line.split("=", 1)
            if k == "checker":
                if v == "end":
                    self.complete = True
                continue
            self.values.setdefault(k, []).append(v)

    def __getitem__(self, key):
        return self.values[key][0]

    def get(self, key, default=None):
        v = self.values.get(key)
        return v[0] if v else default

    def all(self, key) -> list[str]:
        return list(self.values.get(key, []))

    def __contains__(self, key):
        return key in self.values

    # derived views --------------------------------------------------------
    def env(self) -> dict:
        d = {}
        for e in self.all("env"):
            k, _, v = e.partition("=")
            d[k] = v
        return d

    def groups(self) -> set[int]:
        return {int(g) for g in self.get("groups", "").split()}

    def cap(self, name) -> int:
        return int(self[name], 16)

    def fds(self) -> dict[int, str]:
        """fd -> link target, without the checker script's own fd."""
        d = {}
        for line in self.all("fd"):
            # '/proc/1/fd/0' -> '/dev/null'
            try:
                left, right = line.split(" -> ", 1)
            except ValueError:
                continue
            n = int(left.strip("'").rsplit("/", 1)[1])
            target = right.strip("'")
            if target.endswith(CHECKER) or target.endswith("pyrunc-checker"):
                continue
            d[n] = target
        return d

    def mounts(self) -> list[dict]:
        return [parse_mountinfo_line(l) for l in self.all("mount")]

    def mount_at(self, path) -> dict | None:
        found = None
        for m in self.mounts():
            if m["mountpoint"] == path:
                found = m  # the last one is the top of the stack
        return found

    def limits(self) -> dict:
        """RLIMIT name -> (soft, hard) as strings ('unlimited' kept)."""
        names = {
            "Max cpu time": "RLIMIT_CPU", "Max file size": "RLIMIT_FSIZE",
            "Max data size": "RLIMIT_DATA", "Max stack size": "RLIMIT_STACK",
            "Max core file size": "RLIMIT_CORE",
            "Max resident set": "RLIMIT_RSS", "Max processes": "RLIMIT_NPROC",
            "Max open files": "RLIMIT_NOFILE",
            "Max locked memory": "RLIMIT_MEMLOCK",
            "Max address space": "RLIMIT_AS", "Max file locks": "RLIMIT_LOCKS",
            "Max pending signals": "RLIMIT_SIGPENDING",
            "Max msgqueue size": "RLIMIT_MSGQUEUE",
            "Max nice priority": "RLIMIT_NICE",
            "Max realtime priority": "RLIMIT_RTPRIO",
            "Max realtime timeout": "RLIMIT_RTTIME",
        }
        d = {}
        for line in self.all("limits"):
            for label, rl in names.items():
                if line.startswith(label):
                    parts = line[len(label):].split()
                    if len(parts) >= 2:
                        d[rl] = (parts[0], parts[1])
        return d

    def devices(self) -> dict:
        """/dev entry name -> dict(type, major, minor, mode, uid, gid)."""
        d = {}
        for line in self.all("dev"):
            parts = line.split("|")
            if len(parts) != 7:
                continue
            name, ftype, ma, mi, mode, uid, gid = parts
            d[name[len("/dev/"):] if name.startswith("/dev/") else name] = {
                "type": ftype, "major": int(ma, 16), "minor": int(mi, 16),
                "mode": int(mode, 8), "uid": int(uid), "gid": int(gid)}
        return d

    def devlinks(self) -> dict:
        d = {}
        for line in self.all("devlink"):
            name, _, target = line.partition(" ")
            d[name] = target
        return d

    def namespaces(self) -> dict:
        return {k[3:]: v[0] for k, v in self.values.items()
                if k.startswith("ns.")}


def parse_report(text: str) -> Report:
    return Report(text)


def parse_mountinfo_line(line: str) -> dict:
    # 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=..
    pre, _, post = line.partition(" - ")
    p = pre.split()
    q = post.split()
    return {
        "id": p[0] if p else "", "parent": p[1] if len(p) > 1 else "",
        "dev": p[2] if len(p) > 2 else "",
        "root": _unescape(p[3]) if len(p) > 3 else "",
        "mountpoint": _unescape(p[4]) if len(p) > 4 else "",
        "options": set(p[5].split(",")) if len(p) > 5 else set(),
        "optional": p[6:],
        "fstype": q[0] if q else "",
        "source": _unescape(q[1]) if len(q) > 1 else "",
        "super": set(q[2].split(",")) if len(q) > 2 else set(),
        "line": line,
    }


def _unescape(s: str) -> str:
    return (s.replace("\\040", " ").replace("\\011", "\t")
            .replace("\\012", "\n").replace("\\134", "\\"))


def host_mountinfo(pid: str | int = "self") -> list[dict]:
    with open(f"/proc/{pid}/mountinfo") as f:
        return [parse_mountinfo_line(l.rstrip("\n")) for l in f]


def host_ns(pid: str | int = "self") -> dict:
    d = {}
    base = f"/proc/{pid}/ns"
    for n in os.listdir(base):
        try:
            d[n] = os.readlink(os.path.join(base, n))
        except OSError:
            pass
    return d


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return False
    # zombies count as dead
    return st.rsplit(")", 1)[1].split()[0] != "Z"


def cap_bits(names) -> int:
    """Bit mask of capability names (CAP_*) per linux/capability.h."""
    v = 0
    for n in names:
        v |= 1 << CAPS[n]
    return v


CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6,
    "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}


