"""process.* where pyrunc follows runc 1.1.5 (issue 8, "Process"): the cwd made before the
root is read-only and entered as root first, the terminal's pty owned by the process's
user, LISTEN_FDS passed on, frozen or busy cgroups, a config without `process`, --debug."""

import json
import os

import pytest

from util import assert_error, shell


def test_missing_cwd_is_made_under_a_readonly_root(rt, cid, make_bundle):
    b = make_bundle(shell('pwd; stat -c "%a %u" .'), process={"cwd": "/made/by/runtime"},
                    root={"readonly": True})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["/made/by/runtime", "755", "0"]
    assert os.path.isdir(b.rootfs_path("made/by/runtime"))


def test_missing_cwd_is_made_as_root_for_another_user(rt, cid, make_bundle):
    # the user cannot write / of the rootfs: the runtime makes the cwd before the switch
    b = make_bundle(shell("pwd; id -u"), process={"cwd": "/opt/new/cwd", "user": {"uid": 1000, "gid": 1000}},
                    root={"readonly": True})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["/opt/new/cwd", "1000"]


def test_cwd_the_user_cannot_enter_is_entered_as_root_first(rt, cid, make_bundle):
    # runc's "runc create can chdir if runc has access": a 0700 root-owned cwd
    b = make_bundle(shell("pwd; id -u; ls . >/dev/null 2>&1 && echo listed || echo denied"),
                    process={"cwd": "/private", "user": {"uid": 1000, "gid": 1000}})
    os.makedirs(b.rootfs_path("private"), exist_ok=True)
    os.chmod(b.rootfs_path("private"), 0o700)
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["/private", "1000", "denied"]


def test_cwd_that_is_a_file_is_an_error_naming_it(rt, cid, make_bundle):
    b = make_bundle(["true"], process={"cwd": "/etc/passwd"})
    r = rt.run(cid, b)
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert "process.cwd" in r.err and "/etc/passwd" in r.err, r


def test_exec_cwd_the_user_cannot_enter(rt, cid, make_bundle):
    b = make_bundle(["sleep", "100"])
    os.makedirs(b.rootfs_path("private"), exist_ok=True)
    os.chmod(b.rootfs_path("private"), 0o700)
    r = rt.run(cid, b, detach=True)
    assert r.rc == 0, r
    r = rt.cmd("exec", "--user", "1000:1000", "--cwd", "/private", cid, "sh", "-c", "pwd; id -u", timeout=30)
    assert r.rc == 0, r
    assert r.out.split() == ["/private", "1000"]


# -- linux.sysctl against hostname/domainname ----------------------------------------

def _pyrunc_only(rt):
    if rt.name != "pyrunc":
        pytest.skip("runc 1.1.5 refuses kernel.hostname/kernel.domainname even when they agree")


@pytest.mark.parametrize("field", ["hostname", "domainname"])
def test_sysctl_contradicting_a_name_field_is_refused_before_anything_is_made(rt, cid, make_bundle, field):
    _pyrunc_only(rt)
    b = make_bundle(["true"], **{field: "given-name"}, linux={"sysctl": {f"kernel.{field}": "other-name"}})
    r = rt.run(cid, b)
    assert_error(r, rt)
    assert f"kernel.{field}" in r.err and f"contradicts {field}" in r.err, r
    assert not os.path.exists(os.path.join(rt.root, cid)), "state dir left behind"
    c = rt.cmd("check", "--bundle", b.path, root=False)
    assert c.rc != 0 and f"kernel.{field}" in c.out + c.err, c


@pytest.mark.parametrize("field", ["hostname", "domainname"])
def test_sysctl_agreeing_with_a_name_field_is_set(rt, cid, make_bundle, field):
    _pyrunc_only(rt)
    b = make_bundle(shell(f"cat /proc/sys/kernel/{field}"), **{field: "same-name"},
                    linux={"sysctl": {f"kernel.{field}": "same-name"}})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.strip() == "same-name"


# -- a config without process (optional in the spec) ---------------------------------

def _no_process_bundle(make_bundle):
    b = make_bundle(write=False)
    del b.config["process"]
    return b.write()


def test_create_without_process_holds_namespaces_and_start_refuses(rt, cid, make_bundle):
    b = _no_process_bundle(make_bundle)
    r = rt.create(cid, b)
    assert r.rc == 0, r
    st = rt.state(cid)
    assert st["status"] == "created", st
    pid = st["pid"]
    # pid 1 of its own namespaces, waiting
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    with open(f"/proc/{pid}/status") as f:
        assert "NSpid:" in f.read()
    r = rt.start(cid)
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert "process" in r.err and "nothing to start" in r.err, r
    assert rt.state(cid)["status"] == "created", "a refused start changed the container"
    r = rt.delete(cid)
    assert r.rc == 0, r
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_run_without_process_fails_and_leaves_nothing(rt, cid, make_bundle):
    b = _no_process_bundle(make_bundle)
    r = rt.run(cid, b)
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert "process" in r.err and "nothing to start" in r.err, r
    assert rt.status(cid) is None
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_check_accepts_a_config_without_process(rt, make_bundle):
    if rt.name != "pyrunc":
        pytest.skip("pyrunc check")
    b = _no_process_bundle(make_bundle)
    r = rt.cmd("check", "--bundle", b.path, root=False)
    assert r.rc == 0, r


# -- LISTEN_FDS (systemd socket activation) -------------------------------------------

def _activation_run(rt, tdir, cid, bundle, listen_pid_self, n, fds, preserve=0):
    """`run` through a wrapper that, as systemd does, sets LISTEN_PID to the runtime's own
    pid (exec keeps it) and LISTEN_FDS=n, with the given host fds as 3, 4, ..."""
    import subprocess

    import fcntl
    import sys

    wrapper = os.path.join(tdir, "activate.py")
    with open(wrapper, "w") as f:
        f.write("import fcntl, os, sys\n"
                "fds = [fcntl.fcntl(int(x), fcntl.F_DUPFD, 100) for x in sys.argv[1].split(',') if x]\n"
                "for i, fd in enumerate(fds):\n"
                "    os.dup2(fd, 3 + i)\n"
                "    os.close(fd)\n"
                "pid = str(os.getpid()) if sys.argv[2] == 'self' else '1'\n"
                "env = dict(os.environ, LISTEN_PID=pid, LISTEN_FDS=sys.argv[3])\n"
                "os.execvpe(sys.argv[4], sys.argv[4:], env)\n")
    del fcntl
    prefix = [sys.executable, "-I", wrapper, ",".join(map(str, fds)), "self" if listen_pid_self else "1", str(n)]
    argv = prefix + rt.base() + ["run", "--bundle", bundle.path]
    if preserve:
        argv += ["--preserve-fds", str(preserve)]
    rt.track(cid)
    out = os.path.join(tdir, f"act-{cid}.out")
    with open(out, "wb") as o:
        p = subprocess.run(argv + [cid], stdout=o, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           pass_fds=fds, timeout=60, env=rt.env)
    with open(out) as f:
        return p.returncode, f.read(), p.stderr.decode()


def test_listen_fds_are_passed_before_preserved_fds(rt, tdir, cid, make_bundle):
    import socket

    a, b = socket.socketpair()
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(os.path.join(tdir, "listen.sock"))
    lsock.listen(1)
    pr, pw = os.pipe()
    try:
        script = ('echo "env $LISTEN_FDS $LISTEN_PID"; echo via-socket >&3; '
                  'echo "fd4 $(readlink /proc/self/fd/4)"; echo via-pipe >&5; '
                  'for n in 3 4 5 6 7 8; do [ -e /proc/$$/fd/$n ] && printf "%s " $n; done; echo')
        bundle = make_bundle(shell(script), process={"env": ["PATH=/bin:/usr/bin", "LISTEN_FDS=9"]})
        rc, out, err = _activation_run(rt, tdir, cid, bundle, True, 2,
                                       [b.fileno(), lsock.fileno(), pw], preserve=1)
        assert rc == 0, (out, err)
        lines = out.splitlines()
        assert lines[0] == "env 2 1", out
        a.settimeout(10)
        assert a.recv(100) == b"via-socket\n"
        ino = os.fstat(lsock.fileno()).st_ino
        assert lines[1] == f"fd4 socket:[{ino}]", out
        os.set_blocking(pr, False)
        assert os.read(pr, 100) == b"via-pipe\n"
        fds = lines[2].split()
        assert fds == ["3", "4", "5"], f"not exactly LISTEN_FDS + --preserve-fds passed: {out}"
    finally:
        for s in (a, b, lsock):
            s.close()
        os.close(pr)
        os.close(pw)


def test_listen_fds_for_another_pid_are_not_passed(rt, tdir, cid, make_bundle):
    import socket

    a, b = socket.socketpair()
    try:
        bundle = make_bundle(shell('echo "env [$LISTEN_FDS] [$LISTEN_PID]"; '
                                   'for n in 3 4 5 6 7 8; do [ -e /proc/$$/fd/$n ] && printf "%s " $n; done; echo'))
        rc, out, err = _activation_run(rt, tdir, cid, bundle, False, 1, [b.fileno()])
        assert rc == 0, (out, err)
        lines = out.splitlines()
        assert lines[0] == "env [] []", out
        assert lines[1].split() == [], f"fds passed though LISTEN_PID is not the runtime: {out}"
    finally:
        a.close()
        b.close()


# -- the terminal's pty owned by the process's user -----------------------------------

def _console(tdir, name):
    from test_exec import ConsoleSocket

    return ConsoleSocket(os.path.join(tdir, name))


@pytest.mark.parametrize("uid,gid", [(1000, 1000), (0, 0)])
def test_terminal_pty_is_owned_by_the_process_user(rt, cid, make_bundle, tdir, uid, gid):
    cs = _console(tdir, f"c{uid}.sock")
    b = make_bundle(shell('stat -c "owner %u %g %a" "$(tty)"; echo pty-done; sleep 1'),
                    process={"terminal": True, "user": {"uid": uid, "gid": gid}})
    r = rt.run(cid, b, detach=True, extra=["--console-socket", cs.path])
    assert r.rc == 0, r
    out = cs.read_until(b"pty-done")
    line = next((x for x in out.splitlines() if x.startswith("owner ")), None)
    assert line is not None, out
    # the uid is the process's; the group is devpts' gid=5 ("tty"), as with runc
    assert line.split()[1:3] == [str(uid), "5"], out


def test_exec_terminal_pty_is_owned_by_the_exec_user(rt, cid, make_bundle, tdir):
    b = make_bundle(["sleep", "100"])
    r = rt.run(cid, b, detach=True)
    assert r.rc == 0, r
    null_before = os.stat("/dev/null")
    cs = _console(tdir, "e.sock")
    r = rt.cmd("exec", "--tty", "--user", "1234:1234", "--console-socket", cs.path, "--detach", cid,
               "sh", "-c", 'stat -c "owner %u %g" "$(tty)"; echo pty-done; sleep 1')
    assert r.rc == 0, r
    out = cs.read_until(b"pty-done")
    line = next((x for x in out.splitlines() if x.startswith("owner ")), None)
    assert line is not None and line.split()[1:3] == ["1234", "5"], out
    after = os.stat("/dev/null")
    assert (after.st_uid, after.st_gid) == (null_before.st_uid, null_before.st_gid)


# -- a frozen or busy cgroup made before create -----------------------------------------

CG = "/sys/fs/cgroup"


class OwnCgroup:
    """A cgroup directory the test makes (below pyrunc's own /pyrunc parent) and removes,
    thawed first: the only kind a test may freeze."""

    def __init__(self, hierarchy, rel):
        self.top = os.path.join(CG, hierarchy)
        if not os.path.isdir(self.top):
            pytest.skip(f"no {self.top} on this host")
        self.path = os.path.join(self.top, rel)
        self.made = []
        cur = self.top
        for part in rel.split("/"):
            cur = os.path.join(cur, part)
            if not os.path.isdir(cur):
                os.mkdir(cur)
                self.made.append(cur)

    def write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def read(self, name):
        with open(os.path.join(self.path, name)) as f:
            return f.read()

    def remove(self):
        for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
            if os.path.exists(os.path.join(self.path, name)):
                self.write(name, value)
        for d in reversed(self.made):
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    import time

                    time.sleep(0.02)


@pytest.mark.parametrize("hierarchy,file,value", [("freezer", "freezer.state", "FROZEN"),
                                                  ("unified", "cgroup.freeze", "1")])
@pytest.mark.parametrize("parent", [False, True])
def test_run_into_a_frozen_cgroup_is_refused(rt, cid, make_bundle, hierarchy, file, value, parent):
    if rt.name != "pyrunc":
        pytest.skip("runc 1.1.5 hangs or ignores it")
    rel = f"pyrunc/{cid}-frozen" if parent else f"pyrunc/{cid}"
    cg = OwnCgroup(hierarchy, rel)
    try:
        if not os.path.exists(os.path.join(cg.path, file)):
            pytest.skip(f"no {file} on this kernel")
        cg.write(file, value)
        b = make_bundle(["true"], linux={"cgroupsPath": f"/{rel}/c" if parent else f"/{rel}"})
        r = rt.run(cid, b, timeout=30)
        assert_error(r, rt)
        assert "linux.cgroupsPath" in r.err and "frozen" in r.err and cg.path in r.err, r
        assert not os.path.exists(os.path.join(rt.root, cid)), "state dir left behind"
        assert cg.read(file).strip() == value, "the runtime thawed a cgroup it did not make"
        made = [d for d in (os.path.join(CG, "pids", rel), os.path.join(CG, "memory", rel)) if os.path.exists(d)]
        assert not made, f"cgroups made: {made}"
    finally:
        cg.remove()


def test_run_into_a_busy_cgroup_warns(rt, cid, make_bundle, tdir):
    import subprocess

    cg = OwnCgroup("pids", f"pyrunc/{cid}")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        cg.write("cgroup.procs", str(sleeper.pid))
        log = os.path.join(tdir, "busy.log")
        b = make_bundle(["true"], linux={"cgroupsPath": f"/pyrunc/{cid}"})
        r = rt.cmd("--log", log, "--log-format", "json", "run", "--bundle", b.path, cid, timeout=30)
        rt.track(cid)
        assert r.rc == 0, r
        with open(log) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        assert any(x["level"] == "warning" and "cgroup is not empty: 1 process" in x["msg"] for x in lines), lines
    finally:
        sleeper.kill()
        sleeper.wait()
        cg.remove()


def test_empty_existing_cgroup_gives_no_warning(rt, cid, make_bundle, tdir):
    cg = OwnCgroup("pids", f"pyrunc/{cid}")
    try:
        log = os.path.join(tdir, "empty.log")
        b = make_bundle(["true"], linux={"cgroupsPath": f"/pyrunc/{cid}"})
        r = rt.cmd("--log", log, "run", "--bundle", b.path, cid, timeout=30)
        rt.track(cid)
        assert r.rc == 0, r
        with open(log) as f:
            assert "not empty" not in f.read()
    finally:
        cg.remove()


# -- --debug ----------------------------------------------------------------------------

def _lifecycle(rt, cid, bundle, global_args):
    for args in (["create", "--bundle", bundle.path, cid], ["start", cid],
                 ["exec", cid, "true"], ["kill", cid, "KILL"]):
        if args[0] == "create":
            rt.track(cid)
        r = rt.cmd(*args, global_args=global_args, timeout=30)
        assert r.rc == 0, r
    assert rt.wait_status(cid, "stopped") == "stopped"
    r = rt.cmd("delete", cid, global_args=global_args, timeout=30)
    assert r.rc == 0, r


def _parse_text(line):
    import re

    m = re.match(r'time="[^"]+" level=(\w+) msg=(".*")$', line)
    assert m, line
    return m.group(1), json.loads(m.group(2))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_debug_logs_each_step(rt, cid, make_bundle, tdir, fmt):
    if rt.name != "pyrunc":
        pytest.skip("pyrunc's own debug lines")
    log = os.path.join(tdir, f"debug.{fmt}")
    b = make_bundle(["sleep", "100"], hooks={"prestart": [{"path": "/bin/true"}]})
    _lifecycle(rt, cid, b, ["--debug", "--log", log, "--log-format", fmt])
    with open(log) as f:
        lines = [json.loads(x) if fmt == "json" else _parse_text(x) for x in f.read().splitlines()]
    if fmt == "json":
        lines = [(x["level"], x["msg"]) for x in lines]
    debug = [m for lvl, m in lines if lvl == "debug"]
    assert all(lvl in ("debug", "warning") for lvl, _ in lines), lines
    want = [f"create {cid}: config loaded from {b.path}/config.json", "cgroups at /sys/fs/cgroup/",
            "namespaces new [", "container init pid", "hooks run: prestart 1", "start fifo",
            f"create {cid}: created, init pid", f"start {cid}: start signal written",
            f"start {cid}: started, pid", f"exec {cid}: namespaces joined", f"delete {cid}: was stopped"]
    for w in want:
        assert any(w in m for m in debug), (w, debug)
    # in the order they happened
    idx = [next(i for i, m in enumerate(debug) if w in m) for w in want[:1] + want[6:]]
    assert idx == sorted(idx), debug


def test_without_debug_nothing_more_is_logged(rt, cid, make_bundle, tdir):
    log = os.path.join(tdir, "quiet.log")
    b = make_bundle(["sleep", "100"])
    _lifecycle(rt, cid, b, ["--log", log])
    with open(log) as f:
        text = f.read()
    assert "level=debug" not in text and text.strip() == "", text


def test_debug_without_log_goes_to_stderr(rt, cid, make_bundle):
    if rt.name != "pyrunc":
        pytest.skip("pyrunc's own debug lines")
    b = make_bundle(["true"])
    rt.track(cid)
    r = rt.cmd("--debug", "run", "--bundle", b.path, cid, timeout=30)
    assert r.rc == 0, r
    assert "level=debug" in r.err and f"create {cid}: config loaded" in r.err, r
    r = rt.cmd("run", "--bundle", b.path, cid, timeout=30)
    assert r.rc == 0 and r.err == "", r


# -- run --keep -------------------------------------------------------------------------

def test_run_keep_keeps_the_stopped_container_and_its_cgroups(rt, cid, make_bundle):
    b = make_bundle(shell("exit 3"), linux={"cgroupsPath": f"/pyrunc/{cid}"})
    r = rt.run(cid, b, extra=["--keep"])
    assert r.rc == 3, r
    st = rt.state(cid)
    assert st["status"] == "stopped" and st["id"] == cid, st
    kept = [os.path.join(CG, h, "pyrunc", cid) for h in ("pids", "memory", "freezer")]
    assert all(os.path.isdir(d) for d in kept), kept
    r = rt.delete(cid)
    assert r.rc == 0, r
    assert rt.status(cid) is None
    assert not any(os.path.isdir(d) for d in kept), "delete left the cgroups"


def test_run_without_keep_removes_it(rt, cid, make_bundle):
    b = make_bundle(["true"])
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert rt.status(cid) is None
    assert not os.path.isdir(os.path.join(CG, "pids", "pyrunc", cid))


# -- the same id run twice in a row: "cannot start a container that has stopped" ----------

def test_stage2_waits_until_stage1_has_reported_its_pid(rt, cid, make_bundle, tdir):
    """The race behind `run` failing now and then with "cannot start a container that has
    stopped": stage 1 and stage 2 share the channel to `create`, and under load stage 2
    could send "ready" before stage 1 sent the pid, which then ended the exchange and the
    container had no pid.  Stage 1 is held right after its fork here: stage 2 must wait
    (blocked on a pipe), not go on to pyrunc-init and the start fifo."""
    import signal

    from util import wait_for, wait_stopped_at

    if rt.name != "pyrunc":
        pytest.skip("pyrunc's test-only step hooks")
    stop = os.path.join(tdir, "stop")
    b = make_bundle(["true"], write=False)
    # a cgroup namespace takes the two stages (the usual container is one clone)
    b.config["linux"]["namespaces"].append({"type": "cgroup"})
    b.write()
    env = dict(rt.env or os.environ, PYRUNC_TEST_STOP_AT="stage1-forked", PYRUNC_TEST_STOP_FILE=stop)
    rt.track(cid)
    p = rt.popen("create", "--bundle", b.path, cid, env=env)
    try:
        s1 = wait_stopped_at(stop, "stage1-forked")
        assert s1, f"stage 1 never reached stage1-forked: {rt.read_popen(p)}"

        def child():
            with open(f"/proc/{s1}/task/{s1}/children") as f:
                kids = f.read().split()
            return int(kids[0]) if kids else None

        s2 = wait_for(child, timeout=10)
        assert s2

        def blocked_on():
            try:
                with open(f"/proc/{s2}/syscall") as f:
                    sc = f.read().split()
                if sc[0] != "0":  # read(2)
                    return None
                return os.readlink(f"/proc/{s2}/fd/{int(sc[1], 16)}")
            except (OSError, IndexError, ValueError):
                return None

        what = wait_for(blocked_on, timeout=20)
        assert what and what.startswith("pipe:"), f"stage 2 went on before its pid was reported: blocked on {what}"
        os.kill(s1, signal.SIGCONT)
        assert p.wait(timeout=30) == 0, rt.read_popen(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    st = rt.state(cid)
    assert st["status"] == "created" and st["pid"] == s2, st
    r = rt.start(cid)
    assert r.rc == 0, r


def test_delete_of_a_crashed_create_never_kills_below_a_shared_parent(rt, new_cid, make_bundle, token):
    """Found while hunting the run-twice race: a create killed -9 that had made the shared
    parent cgroup (journaled) and whose state.json is gone: its `delete --force` walked the
    parent and killed (and removed) every other container's cgroup below it."""
    if rt.name != "pyrunc":
        pytest.skip("pyrunc's state dir and journal")
    parent = f"pytest-{token}-shared"
    a, b = new_cid(), new_cid()
    bundle = make_bundle(["sleep", "100"], linux={"cgroupsPath": f"/{parent}/a"})
    r = rt.run(a, bundle, detach=True)
    assert r.rc == 0, r
    pid = rt.state(a)["pid"]
    # B: a state dir with only its journal, as a create killed after its mkdirs leaves it
    sd = os.path.join(rt.root, b)
    os.mkdir(sd)
    os.chmod(sd, 0o1700)
    leaf = os.path.join(CG, "pids", parent, "b")
    os.mkdir(leaf)
    with open(os.path.join(sd, "journal"), "w") as f:
        f.write(json.dumps(["cgroup", os.path.join(CG, "pids", parent), True]) + "\n")
        f.write(json.dumps(["cgroup", leaf, True]) + "\n")
    rt.track(b)
    r = rt.delete(b, force=True)
    assert r.rc == 0, r
    assert not os.path.exists(sd) and not os.path.exists(leaf)
    assert rt.state(a)["status"] == "running" and os.path.exists(f"/proc/{pid}"), "another container was killed"
    assert os.path.isdir(os.path.join(CG, "pids", parent, "a")), "another container's cgroup was removed"
    r = rt.delete(a, force=True)
    assert r.rc == 0, r
    assert not os.path.isdir(os.path.join(CG, "pids", parent, "a"))
    for h in os.listdir(CG):  # cgroupsPath parents are left by runc and pyrunc alike
        d = os.path.join(CG, h, parent)
        if os.path.isdir(d) and not os.path.islink(os.path.join(CG, h)):
            os.rmdir(d)
