"""`exec` into real containers, observed from inside the exec'd process (the in-container
checker) and from the host: user and groups, cwd, env (PATH/HOME defaults, -e), caps (-c
and --process), NoNewPrivs, seccomp mode, cgroups and namespaces equal to the init's,
exit status, signals, terminals (console socket and attach), --detach/--pid-file,
--preserve-fds and stray fds, paused/stopped/missing/created containers, the process
JSON conmon and containerd send, bad process files, --log, and the host's /dev/null."""
import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.bundle import DEFAULT_CAPS, checker_args, host_ns, parse_report
from util import assert_error, cap_bits, create_running, host_cgroup_of, wait_dead, wait_file, wait_for

SLEEP = ["sleep", "600"]


def running(rt, cid, make_bundle, **overrides):
    """A running `sleep` container; its bundle and init's host pid."""
    b = make_bundle(SLEEP, **overrides)
    return b, create_running(rt, cid, b)


def exec_report(rt, cid, *flags_and_command, sections=("id", "env", "caps"), **kw):
    """exec the checker (or, with --process, what the process file says) and parse it."""
    args = list(flags_and_command)
    if "--process" not in args and "-p" not in args:
        args += [cid] + checker_args(*sections)
    else:
        args += [cid]
    r = rt.cmd("exec", *args, **kw)
    assert r.rc == 0, r
    rep = parse_report(r.out)
    assert rep.complete, r
    return rep


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None


def one_line_error(r, rt, *words):
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert r.rc == 255, r  # runc's status for a failed exec
        assert "exec failed" in r.err, r
        for w in words:
            assert w in r.err, (w, r.err)


# -- the process: user, groups, cwd, env, caps -----------------------------------------

def test_default_process_is_the_configs(rt, cid, make_bundle):
    _, pid = running(rt, cid, make_bundle, process={"cwd": "/tmp"})
    rep = exec_report(rt, cid)
    assert (rep["uid"], rep["gid"], rep["cwd"]) == ("0", "0", "/tmp")
    env = rep.env()
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["TERM"] == "xterm" and env["HOME"] == "/root"  # HOME from the container's passwd
    assert rep.cap("CapEff") == cap_bits(DEFAULT_CAPS) == int(status_field(pid, "CapEff"), 16)
    assert rep.cap("CapBnd") == int(status_field(pid, "CapBnd"), 16)
    assert rep.cap("CapInh") == 0
    assert rep["NoNewPrivs"] == "1" and rep["Seccomp"] == "0"


def test_user_groups_cwd_env_flags(rt, cid, make_bundle):
    running(rt, cid, make_bundle)
    rep = exec_report(rt, cid, "-u", "1000:100", "-g", "5", "-g", "7", "--cwd", "/home/user",
                      "-e", "FOO=bar baz", "-e", "TERM=vt100", "-e", "EMPTY=")
    assert (rep["uid"], rep["euid"], rep["suid"]) == ("1000",) * 3
    assert (rep["gid"], rep["egid"]) == ("100", "100")
    assert rep.groups() == {5, 7}
    assert rep["cwd"] == "/home/user"
    env = rep.env()
    assert env["FOO"] == "bar baz" and env["EMPTY"] == ""
    assert env["HOME"] == "/home/user"
    terms = [e for e in rep.all("env") if e.startswith("TERM=")]
    assert terms == ["TERM=vt100"]  # -e replaces the config's value, it is not a second TERM
    assert rep.cap("CapEff") == 0  # a non-root user keeps no effective caps (no ambient: no inheritable)


def test_uid_alone_keeps_the_configs_gid_and_home_defaults(rt, cid, make_bundle):
    b = make_bundle(["/bin/sleep", "600"], process={"user": {"uid": 0, "gid": 100, "additionalGids": [5]},
                                                   "env": ["TERM=xterm"]})
    create_running(rt, cid, b)
    rep = exec_report(rt, cid, "-u", "4242")
    assert (rep["uid"], rep["gid"]) == ("4242", "100")
    assert rep.groups() == {5}
    env = rep.env()
    assert env["HOME"] == "/"  # no passwd entry
    assert "PATH" not in env  # as runc: no PATH is made up when the config has none


def test_cap_flag_adds_to_bounding_effective_permitted(rt, cid, make_bundle):
    running(rt, cid, make_bundle)
    rep = exec_report(rt, cid, "-c", "CAP_SYS_ADMIN", "-c", "CAP_NET_RAW")
    want = cap_bits(DEFAULT_CAPS + ["CAP_SYS_ADMIN", "CAP_NET_RAW"])
    assert rep.cap("CapEff") == rep.cap("CapPrm") == rep.cap("CapBnd") == want
    assert rep.cap("CapInh") == 0  # never inheritable (CVE-2022-29162)


def test_no_new_privs_flag(rt, cid, make_bundle):
    running(rt, cid, make_bundle, process={"noNewPrivileges": False})
    assert exec_report(rt, cid, sections=("caps",))["NoNewPrivs"] == "0"
    assert exec_report(rt, cid, "--no-new-privs", sections=("caps",))["NoNewPrivs"] == "1"


@pytest.mark.parametrize("nnp", [True, False])
def test_the_containers_seccomp_filter_applies(rt, cid, make_bundle, nnp):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    running(rt, cid, make_bundle, root={"readonly": False},
            process={"noNewPrivileges": nnp}, linux={"seccomp": profile})
    rep = exec_report(rt, cid, sections=("caps",))
    assert rep["Seccomp"] == "2"
    r = rt.cmd("exec", cid, "/bin/sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?")
    assert r.rc == 0, r
    assert "rc=1" in r.out and "not permitted" in r.out, r.out


# -- namespaces and cgroups ----------------------------------------------------------

NS_LINKS = ("cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts")


@pytest.mark.parametrize("extra", [[], ["user", "cgroup"],
                                   pytest.param(["time"], marks=pytest.mark.not_runc)],  # runc 1.1: no time ns
                         ids=["default", "user+cgroup", "time"])
def test_namespaces_and_cgroups_are_the_inits(rt, cid, make_bundle, tdir, extra):
    b = make_bundle(SLEEP, write=False)
    b.config["linux"]["namespaces"] += [{"type": t} for t in extra]
    if "user" in extra:
        os.chmod(tdir, 0o755)  # the mapped root must reach the rootfs
        b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] not in ("/sys/fs/cgroup", "/sys")]
    b.write()
    pid = create_running(rt, cid, b)
    init_ns = host_ns(pid)
    for n in extra:  # the container really has them
        assert init_ns[n] != host_ns()[n], n
    # from inside: every /proc/self/ns link
    rep = exec_report(rt, cid, sections=("ns", "id"))
    inside = rep.namespaces()
    for n in NS_LINKS:
        if n in init_ns:
            assert inside[n] == init_ns[n], (n, inside, init_ns)
    assert rep["uid"] == "0"
    # from the host: a detached exec's process, by its pid file
    pidfile = os.path.join(tdir, "exec.pid")
    r = rt.cmd("exec", "--detach", "--pid-file", pidfile, cid, "sleep", "60")
    assert r.rc == 0, r
    xpid = int(open(pidfile).read())
    assert host_ns(xpid) == init_ns
    assert host_cgroup_of(xpid) == host_cgroup_of(pid)
    if "user" in extra:
        with open(f"/proc/{xpid}/uid_map") as f:
            assert f.read().split() == ["0", "100000", "65536"]
        assert status_field(xpid, "Uid").split()[0] == "100000"


def test_sub_cgroup_flag(rt, cid, make_bundle, tdir):
    _, pid = running(rt, cid, make_bundle)
    cg = host_cgroup_of(pid)
    if "pids" not in cg:
        pytest.skip("no v1 pids hierarchy on this host")
    sub = os.path.join("/sys/fs/cgroup/pids", cg["pids"].lstrip("/"), "sub")
    os.mkdir(sub)  # removed with the container's cgroups by delete
    pidfile = os.path.join(tdir, "sub.pid")
    r = rt.cmd("exec", "-d", "--pid-file", pidfile, "--cgroup", "pids:sub", cid, "sleep", "60")
    assert r.rc == 0, r
    xcg = host_cgroup_of(int(open(pidfile).read()))
    assert xcg["pids"] == cg["pids"] + "/sub"
    assert {k: v for k, v in xcg.items() if k != "pids"} == {k: v for k, v in cg.items() if k != "pids"}
    one_line_error(rt.cmd("exec", "--cgroup", "pids:nosuch", cid, "true"), rt, "nosuch")
    one_line_error(rt.cmd("exec", "--cgroup", "pids:../..", cid, "true"), rt, "--cgroup")
    one_line_error(rt.cmd("exec", "--cgroup", "nosuchctrl:sub", cid, "true"), rt, "nosuchctrl")


# -- exit status and signals -----------------------------------------------------------

def test_exit_status(rt, cid, make_bundle):
    running(rt, cid, make_bundle)
    assert rt.cmd("exec", cid, "sh", "-c", "exit 7").rc == 7
    assert rt.cmd("exec", cid, "true").rc == 0
    assert rt.cmd("exec", cid, "sh", "-c", "kill -9 $$").rc == 128 + 9
    assert rt.cmd("exec", cid, "sh", "-c", "kill -TERM $$").rc == 128 + 15


def test_signals_are_forwarded(rt, cid, make_bundle):
    b, _ = running(rt, cid, make_bundle, root={"readonly": False})
    ready = b.rootfs_path("/tmp/ready")
    p = rt.popen("exec", cid, "sh", "-c", "trap 'echo got-term; exit 42' TERM; touch /tmp/ready; "
                 "while :; do sleep 0.1; done")
    try:
        wait_file(ready)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 42
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "got-term" in rt.read_popen(p)[0]


# -- terminals ---------------------------------------------------------------------------

class ConsoleSocket:
    """An AF_UNIX listener that receives one pty master (SCM_RIGHTS), as conmon's."""

    def __init__(self, path):
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.srv.settimeout(30)
        self.fds = []
        self.th = threading.Thread(target=self._accept, daemon=True)
        self.th.start()

    def _accept(self):
        try:
            conn, _ = self.srv.accept()
            with conn:
                _, self.fds, _, _ = socket.recv_fds(conn, 4096, 4)
        except OSError:
            pass

    def master(self):
        self.th.join(30)
        assert self.fds, "no pty master received"
        for extra in self.fds[1:]:
            os.close(extra)
        return self.fds[0]

    def read_until(self, marker, timeout=15):
        m = self.master()
        out = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and marker not in out:
                try:
                    chunk = os.read(m, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            os.close(m)
            self.srv.close()
        return out.decode(errors="replace")


def test_tty_with_console_socket_detached(rt, cid, make_bundle, tdir):
    """conmon's and the shim's `exec --tty --console-socket S --detach`."""
    running(rt, cid, make_bundle)
    cs = ConsoleSocket(os.path.join(tdir, "c.sock"))
    pidfile = os.path.join(tdir, "tty.pid")
    r = rt.cmd("exec", "--tty", "--console-socket", cs.path, "--detach", "--pid-file", pidfile, cid,
               "sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; echo tty-done; sleep 1")
    assert r.rc == 0, r
    out = cs.read_until(b"tty-done")
    assert "/dev/pts/" in out and "stdio-is-tty" in out and "tty-done" in out, out


def test_tty_process_json_with_console_socket(rt, cid, make_bundle, tdir):
    b, _ = running(rt, cid, make_bundle)
    cs = ConsoleSocket(os.path.join(tdir, "c.sock"))
    proc = dict(b.process, terminal=True, consoleSize={"height": 21, "width": 77},
                args=["sh", "-c", "stty size; echo json-tty-done; sleep 1"])
    pf = os.path.join(tdir, "process.json")
    with open(pf, "w") as f:
        json.dump(proc, f)
    r = rt.cmd("exec", "--process", pf, "--console-socket", cs.path, "-d", cid)
    assert r.rc == 0, r
    out = cs.read_until(b"json-tty-done")
    assert "21 77" in out and "json-tty-done" in out, out


def test_tty_attaches_to_the_callers_terminal(rt, cid, make_bundle, tdir):
    from test_runtime_extras import _pty_run

    running(rt, cid, make_bundle)
    rc, out = _pty_run(rt.base() + ["exec", "-t", cid, "sh"], tdir, b"tty; echo sum=$((40+2)); exit 7\n")
    assert rc == 7, out
    assert "/dev/pts/" in out and "sum=42" in out, out


def test_tty_detached_without_console_socket_is_refused(rt, cid, make_bundle):
    running(rt, cid, make_bundle)
    assert_error(rt.cmd("exec", "-t", "-d", cid, "true"), rt)
    assert_error(rt.cmd("exec", "--console-socket", "/nonexistent.sock", "-d", cid, "true"), rt)


@pytest.mark.parametrize("tty", [True, False])
def test_exec_user_never_chowns_host_files(rt, cid, make_bundle, tdir, tty):
    """runc and crun once chowned the host's /dev/null (the caller's stdio) on
    `exec --user`: the host's /dev/null and the caller's stdout file stay root's."""
    before = os.stat("/dev/null")
    running(rt, cid, make_bundle)
    extra = []
    if tty:
        cs = ConsoleSocket(os.path.join(tdir, "c.sock"))
        extra = ["-t", "--console-socket", cs.path, "--detach"]
    out_path = os.path.join(tdir, "stdout")
    r = rt.cmd("exec", "--user", "1000", *extra, cid, "sh", "-c", "id -u; echo user-done; sleep 0.5",
               stdout_path=out_path)
    assert r.rc == 0, r
    if tty:
        assert "user-done" in cs.read_until(b"user-done")
    else:
        assert r.out.split() == ["1000", "user-done"]
    after = os.stat("/dev/null")
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
    st_out = os.stat(out_path)
    assert (st_out.st_uid, st_out.st_gid) == (0, 0)


# -- detach, pid file, fds ----------------------------------------------------------------

def test_detach_writes_the_pid_file_before_returning(rt, cid, make_bundle, tdir):
    _, pid = running(rt, cid, make_bundle)
    pidfile = os.path.join(tdir, "d.pid")
    r = rt.cmd("exec", "-d", "--pid-file", pidfile, cid, "sleep", "60")
    assert r.rc == 0, r
    text = open(pidfile).read()
    assert text.strip().isdigit()
    xpid = int(text)
    with open(f"/proc/{xpid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"60"]  # it runs the program, not the runtime
    assert [n for n in os.listdir(tdir) if n.startswith(".d.pid")] == []  # written atomically
    assert rt.state(cid)["pid"] == pid
    # the container's kill --all reaches it; delete takes it down with the container
    assert rt.cmd("kill", "--all", cid, "KILL").rc == 0
    assert wait_dead(xpid)


def _sh_exec(rt, cid, opens, flags, tdir):
    inner = " ".join(shlex.quote(a) for a in rt.base() + ["exec", *flags, cid] + checker_args("fd"))
    p = subprocess.run(["/bin/sh", "-c", f"{opens}; exec {inner}"], capture_output=True, text=True,
                       timeout=60, env=rt.env)
    assert p.returncode == 0, p
    rep = parse_report(p.stdout)
    assert rep.complete, p
    return rep.fds()


def test_preserve_fds(rt, cid, make_bundle, tdir):
    running(rt, cid, make_bundle)
    files = {}
    for n in (3, 4, 5):
        files[n] = os.path.join(tdir, f"fd{n}")
        open(files[n], "w").close()
    opens = f"exec 3<{files[3]} 4<{files[4]} 5<{files[5]}"
    fds = _sh_exec(rt, cid, opens, ["--preserve-fds", "2"], tdir)
    assert set(fds) == {0, 1, 2, 3, 4}, fds
    assert fds[3].endswith("fd3") and fds[4].endswith("fd4"), fds


def test_stray_fds_3_and_4_do_not_reach_the_process(rt, cid, make_bundle, tdir):
    """containerd's shim leaks its fds 3 and 4 into the runtime (a directory among
    them, the CVE-2024-21626 kind): none reaches the exec'd process."""
    running(rt, cid, make_bundle)
    stray = os.path.join(tdir, "stray")
    open(stray, "w").close()
    fds = _sh_exec(rt, cid, f"exec 3<{stray} 4</", [], tdir)
    assert set(fds) == {0, 1, 2}, fds
    # a cwd through such an fd does not lead out of the container
    inner = " ".join(shlex.quote(a) for a in rt.base() + ["exec", "--cwd", "/proc/self/fd/4", cid, "pwd"])
    p = subprocess.run(["/bin/sh", "-c", f"exec 3<{stray} 4</; exec {inner}"], capture_output=True,
                       text=True, timeout=60, env=rt.env)
    assert p.returncode != 0 or p.stdout.strip() == "/", p
    assert "Traceback" not in p.stderr


def test_cwd_must_exist_and_resolves_inside(rt, cid, make_bundle):
    b, _ = running(rt, cid, make_bundle, root={"readonly": False})
    one_line_error(rt.cmd("exec", "--cwd", "/no/such/dir", cid, "true"), rt, "/no/such/dir")
    assert not os.path.exists(b.rootfs_path("/no"))  # exec does not make it (create would)
    os.symlink("../../../../../../..", b.rootfs_path("/up"))
    r = rt.cmd("exec", "--cwd", "/up", cid, "pwd")
    assert r.rc == 0 and r.out.strip() in ("/", "/up"), r
    r = rt.cmd("exec", "--cwd", "/up", cid, "sh", "-c", "ls")
    assert r.rc == 0 and sorted(r.out.split()) == sorted(os.listdir(b.rootfs)), r


@pytest.mark.parametrize("how", ["no-pivot", pytest.param("no-mount-namespace", marks=pytest.mark.pyrunc_only)])
# (runc cannot start a container without /proc inside, and a /proc mount would be the host's)
def test_root_is_the_containers(rt, cid, make_bundle, how):
    """--no-pivot (MS_MOVE + chroot) and a container sharing our mount namespace
    (chroot only): the exec'd process sees the container's root, not the host's."""
    if how == "no-pivot":
        b = make_bundle(SLEEP)
        r = rt.run(cid, b, detach=True, extra=["--no-pivot"])
    else:
        b = make_bundle(SLEEP, root={"readonly": False}, mounts=[],
                        linux={"namespaces": [{"type": "pid"}, {"type": "uts"}, {"type": "ipc"}],
                               "maskedPaths": [], "readonlyPaths": []})
        r = rt.run(cid, b, detach=True)
    assert r.rc == 0, r
    r = rt.cmd("exec", cid, "sh", "-c", "ls -a /; pwd")
    assert r.rc == 0, r
    *names, cwd = r.out.split()
    assert sorted(set(names) - {".", ".."}) == sorted(os.listdir(b.rootfs)), r.out
    assert cwd == "/"


# -- container states ----------------------------------------------------------------

def test_paused_only_with_ignore_paused(rt, cid, make_bundle):
    running(rt, cid, make_bundle)
    assert rt.cmd("pause", cid).rc == 0
    one_line_error(rt.cmd("exec", cid, "true"), rt, "paused")
    p = rt.popen("exec", "--ignore-paused", cid, "echo", "ran-after-resume")
    try:
        time.sleep(0.5)
        assert p.poll() is None  # frozen with the container
        assert rt.cmd("resume", cid).rc == 0
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            rt.cmd("resume", cid)
            p.kill()
            p.wait()
    assert rt.read_popen(p)[0].strip() == "ran-after-resume"


def test_stopped_and_missing_containers(rt, cid, new_cid, make_bundle):
    b = make_bundle(["true"])
    assert rt.create(cid, b).rc == 0 and rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    one_line_error(rt.cmd("exec", cid, "true"), rt, "stopped")
    one_line_error(rt.cmd("exec", new_cid(), "true"), rt, "does not exist")
    one_line_error(rt.cmd("exec", "../escape", "true"), rt)


def test_created_container_as_runc(rt, cid, make_bundle):
    """runc 1.1.5 execs into a created (not yet started) container."""
    assert rt.create(cid, make_bundle(SLEEP)).rc == 0
    r = rt.cmd("exec", cid, "echo", "in-created")
    assert r.rc == 0 and r.out.strip() == "in-created", r
    assert rt.state(cid)["status"] == "created"
    assert rt.start(cid).rc == 0
    assert rt.state(cid)["status"] == "running"


@pytest.mark.pyrunc_only  # runc 1.1 reads the bundle's config.json again
def test_exec_does_not_reread_the_bundle(rt, cid, make_bundle):
    """The config is the one the container was created with (runc keeps it in its state)."""
    b, _ = running(rt, cid, make_bundle, process={"env": ["PATH=/bin", "MARK=created"]})
    b.write_raw("{ not json any more")
    rep = exec_report(rt, cid, sections=("env",))
    assert rep.env()["MARK"] == "created"


# -- --process, as engines send it --------------------------------------------------------

def _process_file(tdir, proc, name="process.json"):
    path = os.path.join(tdir, name)
    with open(path, "w") as f:
        json.dump(proc, f)
    return path


def _detached_report(rt, cid, tdir, pf):
    """The way engines call it: --process F --detach --pid-file P; the output file is
    read once the process is gone."""
    pidfile = os.path.join(tdir, "p.pid")
    out_path = os.path.join(tdir, "p.out")
    r = rt.cmd("exec", "--process", pf, "--detach", "--pid-file", pidfile, cid, stdout_path=out_path)
    assert r.rc == 0, r
    assert wait_dead(int(open(pidfile).read()))
    rep = parse_report(open(out_path).read())
    assert rep.complete, open(out_path).read()
    return rep


def test_process_json_as_conmon_sends_it(rt, cid, make_bundle, tdir):
    running(rt, cid, make_bundle, root={"readonly": False})
    caps = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"]
    proc = {  # podman 4.3's exec process: the container's, user/env/cwd/args replaced
        "terminal": False,
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [100], "umask": 0o027},
        "args": checker_args("id", "env", "caps", "oom", "limits"),
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
                "container=podman", "HOSTNAME=pytest", "HOME=/home/user"],
        "cwd": "/home/user",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}],
        "noNewPrivileges": False, "oomScoreAdj": 100, "apparmorProfile": "", "selinuxLabel": "",
    }
    rep = _detached_report(rt, cid, tdir, _process_file(tdir, proc))
    assert (rep["uid"], rep["gid"]) == ("1000", "1000") and rep.groups() == {100}
    assert rep["cwd"] == "/home/user"
    if rt.name != "runc":  # runc 1.1.5 ignores process.user.umask
        assert rep["umask"] == "0027"
    assert rep.env()["container"] == "podman" and rep.env()["HOME"] == "/home/user"
    assert rep.cap("CapBnd") == cap_bits(caps) and rep.cap("CapEff") == 0  # uid 1000, no ambient
    assert rep["NoNewPrivs"] == "0"
    if rt.name != "runc":  # runc 1.1.5 ignores an exec process's oomScoreAdj
        assert rep["oom_score_adj"] == "100"
    assert rep.limits()["RLIMIT_NOFILE"] == ("256", "512")


def test_process_json_as_containerd_sends_it(rt, cid, make_bundle, tdir):
    running(rt, cid, make_bundle, process={"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]})
    caps = ["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_KILL"]
    proc = {  # the shim's /tmp/runc-process*: a specs.Process from the exec request
        "user": {"uid": 0, "gid": 0},
        "args": checker_args("id", "caps", "limits"),
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=ctr"],
        "cwd": "/",
        "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "inheritable", "ambient")},
        "noNewPrivileges": True,
    }
    rep = _detached_report(rt, cid, tdir, _process_file(tdir, proc))
    for s in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert rep.cap(s) == cap_bits(caps), s
    assert rep["NoNewPrivs"] == "1"
    # no rlimits in the JSON: the caller's stay (as with runc 1.1.5), not the container's
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert rep.limits()["RLIMIT_NOFILE"] == (str(soft), str(hard))


@pytest.mark.parametrize("proc, field", [
    ({"cwd": "/", "args": ["true"], "user": {"uid": "root", "gid": 0}}, "process.user.uid"),
    ({"cwd": "/"}, "process.args"),
    ({"args": ["true"], "cwd": "relative/dir"}, "process.cwd"),
    ({"args": ["true"], "cwd": "/", "env": ["NOEQUALS"]}, "process.env[0]"),
    ({"args": ["true"], "cwd": "/", "terminal": "yes"}, "process.terminal"),
    ({"args": ["true"], "cwd": "/", "rlimits": [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]},
     "process.rlimits[0].type"),
    ({"args": ["true"], "cwd": "/", "apparmorProfile": "docker-default"}, "process.apparmorProfile"),
    ({"args": ["true"], "cwd": "/", "selinuxLabel": "system_u:system_r:container_t:s0"}, "process.selinuxLabel"),
    ("not an object", "process.json"),
    (None, "process.json"),  # not JSON at all
])
def test_bad_process_file(rt, cid, make_bundle, tdir, proc, field):
    running(rt, cid, make_bundle)
    path = os.path.join(tdir, "process.json")
    with open(path, "w") as f:
        f.write("{ not json" if proc is None else json.dumps(proc))
    r = rt.cmd("exec", "--process", path, "--detach", cid)
    one_line_error(r, rt, field)


class _Shared:
    container = None


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["cwd", "args", "env", "terminal", "user", "noNewPrivileges", "rlimits",
                              "capabilities", "oomScoreAdj", "consoleSize"]),
       value=st.one_of(st.integers(min_value=-5, max_value=5), st.text(max_size=5), st.booleans(),
                       st.lists(st.integers(), max_size=2)))
def test_hypothesis_wrong_typed_fields_name_themselves(rt, new_cid, make_bundle, tdir, field, value):
    """A wrong-typed field is refused with a one-line error naming it, and nothing runs."""
    ok_types = {"cwd": str, "args": list, "env": list, "terminal": bool, "user": dict, "noNewPrivileges": bool,
                "rlimits": list, "capabilities": dict, "oomScoreAdj": int, "consoleSize": dict}
    if isinstance(value, ok_types[field]) and not (isinstance(value, bool) and ok_types[field] is int):
        return  # right type: not this test's business
    if _Shared.container is None or _Shared.container[0] is not rt:
        cid = new_cid()
        running(rt, cid, make_bundle)
        _Shared.container = (rt, cid)
    cid = _Shared.container[1]
    proc = {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}, field: value}
    path = os.path.join(tdir, "h.json")
    with open(path, "w") as f:
        json.dump(proc, f)
    one_line_error(rt.cmd("exec", "--process", path, cid), rt, f"process.{field}")


# -- errors reach --log ------------------------------------------------------------------------

def test_log_json_gets_the_errors(rt, cid, make_bundle, tdir):
    running(rt, cid, make_bundle)
    logf = os.path.join(tdir, "log.json")
    g = ["--log", logf, "--log-format", "json"]
    one_line_error(rt.cmd("exec", cid, "/no/such/program", global_args=g), rt)
    one_line_error(rt.cmd("exec", "-u", "nobody", cid, "true", global_args=g), rt, "--user")
    r = rt.cmd("exec", "-c", "CAP_NOPE", cid, "true", global_args=g)  # a warning, as with runc
    assert r.rc == 0, r
    assert_error(rt.cmd("exec", "--no-such-flag", cid, "true", global_args=g), rt)
    lines = [json.loads(line) for line in open(logf)]
    errors = [entry["msg"] for entry in lines if entry["level"] == "error"]
    assert len(errors) == 3, lines
    assert "/no/such/program" in errors[0] and "nobody" in errors[1] and "no-such-flag" in errors[2]
    warnings = [entry["msg"] for entry in lines if entry["level"] == "warning"]
    assert any("CAP_NOPE" in w for w in warnings), lines


def test_missing_command(rt, cid, make_bundle):
    running(rt, cid, make_bundle)
    one_line_error(rt.cmd("exec", cid), rt, "args")


def test_execs_leave_nothing_in_the_container(rt, cid, make_bundle):
    """Foreground and detached execs: once they are done the init is alone again."""
    _, pid = running(rt, cid, make_bundle)
    for _ in range(3):
        assert rt.cmd("exec", cid, "true").rc == 0
        assert rt.cmd("exec", "-d", cid, "true").rc == 0

    def alone():
        r = rt.cmd("ps", "--format", "json", cid)
        return r.rc == 0 and json.loads(r.out) == [pid]
    assert wait_for(alone)


@pytest.mark.parametrize("flags, word", [
    (["-u", "1000:x"], "--user"), (["-u", "-1"], "--user"),
    pytest.param(["-u", "99999999999"], "--user", marks=pytest.mark.pyrunc_only),  # runc truncates it
    (["-g", "-1"], "--additional-gids"), (["--cwd", "relative"], "--cwd"), (["-e", "NOEQUALS"], "--env"),
    (["--apparmor", "docker-default"], "apparmorProfile"),
    (["--process-label", "system_u:system_r:container_t:s0"], "selinuxLabel"),
    (["--preserve-fds", "40"], "--preserve-fds"),
])
def test_bad_flags(rt, cid, make_bundle, flags, word):
    """One line naming the flag or field; nothing runs (the marker file is not made)."""
    b, _ = running(rt, cid, make_bundle, root={"readonly": False})
    r = rt.cmd("exec", *flags, cid, "touch", "/tmp/ran")
    one_line_error(r, rt, word)
    assert not os.path.exists(b.rootfs_path("/tmp/ran"))
