"""The runc CLI surface engines use: flags, formats, and error paths."""

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

import runtime
from runtime.cli import PRELOAD
from conformance.bundle import parse_report
from util import (assert_error, checker_args, create_running, list_ids,
                  shell, state_dir_exists, wait_for)


def assert_nothing_created(rt, cid):
    assert rt.state_raw(cid).rc != 0, "a failed create left a container"
    assert not state_dir_exists(rt, cid), "a failed create left a state dir"


# -- spec ------------------------------------------------------------------

def test_spec_writes_default_config(rt, tdir):
    d = os.path.join(tdir, "spec")
    os.makedirs(d)
    r = rt.cmd("spec", cwd=d)
    assert r.rc == 0, r
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["ociVersion"].startswith("1.")
    assert cfg["root"]["path"] == "rootfs"
    assert cfg["process"]["terminal"] is True
    assert cfg["process"]["args"] == ["sh"]
    assert cfg["process"]["cwd"] == "/"
    types = {n["type"] for n in cfg["linux"]["namespaces"]}
    assert {"pid", "network", "ipc", "uts", "mount"} <= types
    dests = {m["destination"] for m in cfg["mounts"]}
    assert {"/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"} <= dests
    # a second spec refuses to overwrite
    r = rt.cmd("spec", cwd=d)
    assert_error(r, rt)


def test_spec_bundle_flag(rt, tdir):
    d = os.path.join(tdir, "specb")
    os.makedirs(d)
    r = rt.cmd("spec", "--bundle", d)
    assert r.rc == 0, r
    assert os.path.isfile(os.path.join(d, "config.json"))


def test_spec_output_runs_with_terminal_false(rt, cid, tdir, make_bundle):
    """The config emitted by `spec` is accepted by `create`."""
    b = make_bundle(["true"])
    os.unlink(b.config_path)
    assert rt.cmd("spec", cwd=b.path).rc == 0
    with open(b.config_path) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "echo spec-ok"]
    b.write(cfg)
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.strip() == "spec-ok"


# -- global flags ------------------------------------------------------------

def test_help_and_version(rt):
    r = rt.cmd("--help", root=False)
    assert r.rc == 0, r
    assert "create" in r.out and "delete" in r.out
    r = rt.cmd("--version", root=False)
    assert r.rc == 0, r
    assert "version" in r.out.lower()
    assert "spec: 1." in r.out


@pytest.mark.pyrunc_only
def test_help_and_version_shapes(rt):
    """runc's (urfave/cli) shapes, which people's scripts and eyes expect."""
    r = rt.cmd("-h", root=False)
    assert r.rc == 0, r
    heads = [l for l in r.out.splitlines() if l and not l.startswith(" ") and l.endswith(":")]
    assert r.out.startswith("NAME:\n   pyrunc - ")
    assert heads[:1] == ["NAME:"] and "USAGE:" in heads and "COMMANDS:" in heads and "GLOBAL OPTIONS:" in heads
    assert heads.index("USAGE:") < heads.index("COMMANDS:") < heads.index("GLOBAL OPTIONS:")
    commands = r.out.split("COMMANDS:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    names = [c.split()[0].rstrip(",") for c in commands]
    for name in ("create", "start", "run", "state", "kill", "delete", "list", "ps", "pause", "resume",
                 "spec", "features", "help"):
        assert name in names, (name, names)
    for name in names:
        if name == "help":
            continue
        h = rt.cmd(name, "-h", root=False)
        # checkpoint/restore: help, and exit 1 (what engines probe to learn it is unsupported)
        assert h.rc == (1 if name in ("checkpoint", "restore") else 0), h
        assert h.out.startswith(f"NAME:\n   pyrunc {name} - "), h.out
        assert "\nUSAGE:\n   pyrunc " + name in h.out and "\nOPTIONS:\n" in h.out, h.out
        assert rt.cmd("help", name, root=False).out == h.out
    v = rt.cmd("--version", root=False)
    assert v.rc == 0, v
    lines = v.out.splitlines()
    assert lines[0].startswith("pyrunc version ") and lines[1].startswith("commit: ") and "spec: 1.3.0" in lines


# What the hot commands must not import (issue 9: each is a new process, and start-up is
# their latency): os (~0.5 ms), the create/cgroups machinery, the slow stdlib modules.
HOT_PATH_FORBIDDEN = {"os", "posixpath", "runtime.container", "runtime.cgroups", "runtime.hooks",
                      "json", "re", "enum", "argparse", "dataclasses", "typing", "subprocess", "signal"}


@pytest.mark.pyrunc_only
def test_hot_commands_import_only_what_they_need(rt, cid, make_bundle, tdir):
    """start, state, kill and delete (of a stopped container) through this tree's
    launcher laid out as setup.py installs it (SITE_DIRS, BIN_DIR): python -X importtime
    lists every module they import."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bin_dir = os.path.join(tdir, "bin")
    os.makedirs(bin_dir)
    with open(os.path.join(repo, "bin", "pyrunc")) as f:
        src = f.read()
    assert "\nSITE_DIRS = []" in src  # setup.py's marker
    src = src.replace("\nSITE_DIRS = []", f"\nSITE_DIRS = [{repo!r}]", 1)
    src = src.replace('\nBIN_DIR = ""', f"\nBIN_DIR = {bin_dir!r}", 1)
    exe = os.path.join(bin_dir, "pyrunc")
    with open(exe, "w") as f:
        f.write(src)

    def imports(*args):
        p = subprocess.run([sys.executable, "-IS", "-X", "importtime", exe, "--root", rt.root, *args],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p
        return {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}

    assert rt.create(cid, make_bundle(["sleep", "1000"])).rc == 0
    seen = {}
    seen["start"] = imports("start", cid)
    seen["state"] = imports("state", cid)
    seen["kill"] = imports("kill", cid, "KILL")
    assert rt.wait_status(cid, "stopped") == "stopped"
    seen["delete"] = imports("delete", cid)
    assert not state_dir_exists(rt, cid)
    for command, modules in seen.items():
        assert "runtime" in modules, (command, modules)
        modules |= set(runtime.CLI) | set(PRELOAD.get(command, ()))  # runtime.preload's, not listed there
        assert not modules & HOT_PATH_FORBIDDEN, (command, sorted(modules & HOT_PATH_FORBIDDEN))


@pytest.mark.pyrunc_only
@pytest.mark.parametrize("argv", [("help", "foo"), ("foo", "-h"), ("foo",), ("h", "foo")])
def test_unknown_command_has_no_help_topic(rt, argv, tdir):
    log = os.path.join(tdir, "runtime.log")
    r = rt.cmd(*argv, root=False, global_args=["--log", log, "--log-format", "json"])
    assert r.rc == 3, r
    assert r.err.strip() == "No help topic for 'foo'", r
    assert _log_lines(log)[-1]["msg"] == "No help topic for 'foo'"


def test_root_isolates_containers(rt, cid, make_bundle, tdir):
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    other = os.path.join(tdir, "other-root")
    os.makedirs(other)
    r = rt.cmd("--root", other, "state", cid, root=False)
    assert r.rc != 0
    r = rt.cmd("--root", other, "list", "-q", root=False)
    assert r.rc == 0 and cid not in r.out.split()
    assert cid in list_ids(rt)


def test_debug_flag_accepted(rt, cid, make_bundle):
    r = rt.cmd("--debug", "run", "--bundle", make_bundle(["true"]).path, cid)
    rt.track(cid)
    assert r.rc == 0, r


def _log_lines(path):
    lines = []
    with open(path) as f:
        for line in f:
            if line.strip():
                lines.append(json.loads(line))
    return lines


def test_log_json_error_line(rt, new_cid, tdir):
    log = os.path.join(tdir, "runtime.log")
    r = rt.cmd("state", new_cid("pytest-nonexistent"),
               global_args=["--log", log, "--log-format", "json"])
    assert r.rc != 0
    assert "Traceback" not in r.err
    lines = _log_lines(log)
    errors = [l for l in lines if l.get("level") == "error"]
    assert errors, f"no error line in {lines}"
    for l in lines:
        assert {"level", "msg", "time"} <= set(l), l
    assert errors[-1]["msg"]


def test_log_json_success_has_no_error(rt, cid, make_bundle, tdir):
    log = os.path.join(tdir, "runtime.log")
    r = rt.cmd("run", "--bundle", make_bundle(["true"]).path, cid,
               global_args=["--log", log, "--log-format", "json"])
    rt.track(cid)
    assert r.rc == 0, r
    if os.path.exists(log):
        for l in _log_lines(log):
            assert l.get("level") != "error", l


def test_log_json_create_failure(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"])
    shutil.rmtree(b.rootfs)
    log = os.path.join(tdir, "runtime.log")
    r = rt.cmd("create", "--bundle", b.path, cid,
               global_args=["--log", log, "--log-format", "json"])
    rt.track(cid)
    assert r.rc != 0
    assert any(l.get("level") == "error" for l in _log_lines(log))
    assert_nothing_created(rt, cid)


# -- create flags engines pass ---------------------------------------------

@pytest.mark.parametrize("flag", ["--no-new-keyring", "--no-pivot"])
def test_create_engine_flags(rt, cid, make_bundle, flag):
    b = make_bundle(shell("echo flag-ok"), write=False)
    b.config["root"]["readonly"] = False
    b.write()
    r = rt.run(cid, b, extra=[flag])
    assert r.rc == 0, r
    assert r.out.strip() == "flag-ok"


def test_preserve_fds(rt, cid, make_bundle, tdir):
    """fds 3..3+N-1 of the caller reach the container; no other fd does."""
    files = {}
    for n in (3, 4, 5):
        p = os.path.join(tdir, f"fd{n}")
        open(p, "w").close()
        files[n] = p
    b = make_bundle(checker_args("fd"))
    rt.track(cid)
    inner = " ".join(shlex.quote(a) for a in rt.base() + [
        "run", "--preserve-fds", "2", "--bundle", b.path, cid])
    script = (f"exec 3<{files[3]} 4<{files[4]} 5<{files[5]}; exec {inner}")
    p = subprocess.run(["/bin/sh", "-c", script], capture_output=True,
                       text=True, timeout=60, env=rt.env)
    assert p.returncode == 0, p
    rep = parse_report(p.stdout)
    assert rep.complete, p
    fds = rep.fds()
    assert set(fds) == {0, 1, 2, 3, 4}, fds
    assert fds[3].endswith("fd3") and fds[4].endswith("fd4"), fds


def test_no_stray_fds_without_preserve(rt, cid, make_bundle, tdir):
    stray = os.path.join(tdir, "stray")
    open(stray, "w").close()
    b = make_bundle(checker_args("fd"))
    rt.track(cid)
    inner = " ".join(shlex.quote(a) for a in rt.base() + [
        "run", "--bundle", b.path, cid])
    p = subprocess.run(["/bin/sh", "-c", f"exec 5<{stray}; exec {inner}"],
                       capture_output=True, text=True, timeout=60,
                       env=rt.env)
    assert p.returncode == 0, p
    fds = parse_report(p.stdout).fds()
    assert set(fds) == {0, 1, 2}, fds


@pytest.mark.pyrunc_only
def test_no_stray_fds_without_close_range(rt, cid, make_bundle, tdir):
    """Before Linux 5.9 (or in a sandbox) there is no close_range: the fds of the
    caller still never reach the container, a high one neither."""
    from util import without_syscalls

    low = os.open(os.path.join(tdir, "stray"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    high = 900
    try:
        os.fstat(high)
        pytest.skip("fd 900 is in use")
    except OSError:
        pass
    os.dup2(low, high)
    b = make_bundle(checker_args("fd"))
    rt.track(cid)
    try:
        p = subprocess.run(without_syscalls(["close_range"], rt.base() + ["run", "--bundle", b.path, cid]),
                           capture_output=True, text=True, timeout=60, env=rt.env, pass_fds=(low, high))
    finally:
        os.close(low)
        os.close(high)
    assert p.returncode == 0, p
    fds = parse_report(p.stdout).fds()
    assert set(fds) == {0, 1, 2}, fds


def test_console_socket_terminal(rt, cid, make_bundle, tdir):
    """terminal: true + --console-socket: the pty master arrives over the
    socket (SCM_RIGHTS) and the container's output comes through it."""
    sock_path = os.path.join(tdir, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    srv.settimeout(30)
    got = {}

    def accept():
        try:
            conn, _ = srv.accept()
            with conn:
                msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
                got["fds"] = fds
        except OSError as e:
            got["error"] = e

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    b = make_bundle(shell("tty; stty size; echo term-ok; sleep 0.3"),
                    write=False)
    b.config["process"]["terminal"] = True
    b.config["process"]["consoleSize"] = {"height": 33, "width": 111}
    b.write()
    try:
        r = rt.create(cid, b, extra=["--console-socket", sock_path])
        assert r.rc == 0, r
        th.join(30)
        assert got.get("fds"), f"no pty master received: {got}"
        master = got["fds"][0]
        for extra in got["fds"][1:]:
            os.close(extra)
        assert rt.start(cid).rc == 0
        out = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"term-ok" not in out:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
    finally:
        srv.close()
    text = out.decode(errors="replace")
    assert "term-ok" in text, text
    assert "/dev/pts/" in text or "/dev/console" in text, text
    assert "33 111" in text, text


# -- error paths -------------------------------------------------------------

def test_error_bad_config_json(rt, cid, make_bundle):
    b = make_bundle(["true"], write=False)
    b.write_raw("{ this is not json")
    assert_error(rt.create(cid, b), rt)
    assert_nothing_created(rt, cid)


def test_error_config_missing(rt, cid, make_bundle):
    b = make_bundle(["true"], write=False)
    assert_error(rt.create(cid, b), rt)
    assert_nothing_created(rt, cid)


def test_error_missing_rootfs(rt, cid, make_bundle):
    b = make_bundle(["true"])
    shutil.rmtree(b.rootfs)
    assert_error(rt.create(cid, b), rt)
    assert_nothing_created(rt, cid)


def test_error_missing_executable(rt, cid, make_bundle):
    b = make_bundle(["/no/such/binary"])
    r = rt.run(cid, b)
    assert_error(r, rt)
    assert_nothing_created(rt, cid)


def test_error_missing_bundle_dir(rt, cid, tdir):
    r = rt.create(cid, os.path.join(tdir, "no-such-bundle"))
    assert_error(r, rt)
    assert_nothing_created(rt, cid)


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".", "/abs",
                                 "x\ny", ""])
def test_error_bad_container_id(rt, make_bundle, tdir, bad):
    b = make_bundle(["true"])
    r = rt.create(bad, b)
    rt.created.remove(bad)
    assert_error(r, rt)
    # nothing appeared in the state root, nor next to it
    assert os.listdir(rt.root) == []
    assert sorted(os.listdir(tdir)) == sorted(["state", "io", "bundle1"])


def test_error_double_create(rt, cid, make_bundle):
    b = make_bundle(["sleep", "30"])
    assert rt.create(cid, b).rc == 0
    pid = rt.state(cid)["pid"]
    assert_error(rt.create(cid, make_bundle(["sleep", "30"])), rt)
    st = rt.state(cid)
    assert st["status"] == "created" and st["pid"] == pid
    assert st["bundle"] == b.path


def test_error_double_run_of_running(rt, cid, make_bundle):
    create_running(rt, cid, make_bundle(["sleep", "30"]))
    assert_error(rt.run(cid, make_bundle(["true"])), rt)
    assert rt.status(cid) == "running"


def test_error_kill_unknown(rt, new_cid):
    assert_error(rt.kill(new_cid("pytest-nonexistent"), "KILL"), rt)


def test_error_kill_bad_signal(rt, cid, make_bundle):
    pid = create_running(rt, cid, make_bundle(["sleep", "30"]))
    assert_error(rt.kill(cid, "NOTASIGNAL"), rt)
    assert rt.status(cid) == "running"


@pytest.mark.parametrize("args", [["state"], ["start"], ["kill"],
                                  ["delete"], ["create"], ["no-such-command"]])
def test_error_missing_arguments(rt, args):
    assert_error(rt.cmd(*args), rt)


def test_error_hook_missing_binary_leaves_nothing(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"], write=False)
    b.config["hooks"] = {"createRuntime": [
        {"path": os.path.join(tdir, "no-such-hook")}]}
    b.write()
    assert_error(rt.create(cid, b), rt)
    assert_nothing_created(rt, cid)


def test_error_bad_mount_leaves_nothing(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"], write=False)
    b.add_mount("/data", "bind", os.path.join(tdir, "no-such-source"),
                ["rbind"])
    b.write()
    assert_error(rt.create(cid, b), rt)
    assert_nothing_created(rt, cid)


def test_error_bad_cwd_leaves_nothing(rt, cid, make_bundle):
    """A cwd that is a regular file cannot be entered."""
    b = make_bundle(["true"], process={"cwd": "/etc/passwd"})
    r = rt.run(cid, b)
    assert_error(r, rt)
    assert_nothing_created(rt, cid)


def test_error_bad_ns_path(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"], write=False)
    for n in b.config["linux"]["namespaces"]:
        if n["type"] == "network":
            n["path"] = os.path.join(tdir, "no-such-ns")
    b.write()
    assert_error(rt.create(cid, b), rt)
    assert_nothing_created(rt, cid)


# -- pyrunc-only ----------------------------------------------------------------

@pytest.mark.pyrunc_only
def test_check_good_bundle(rt, make_bundle):
    b = make_bundle(["sh"])
    r = rt.cmd("check", "--bundle", b.path)
    assert r.rc == 0, r
    assert "Traceback" not in r.err


@pytest.mark.pyrunc_only
def test_check_reports_every_problem(rt, make_bundle):
    b = make_bundle(["/no/such/binary"], process={"cwd": "relative"})
    r = rt.cmd("check", "--bundle", b.path)
    assert r.rc != 0, r
    assert "Traceback" not in r.err
    text = r.out + r.err
    assert "process.cwd" in text and "process.args" in text, text


@pytest.mark.pyrunc_only
def test_check_missing_config(rt, tdir):
    r = rt.cmd("check", "--bundle", os.path.join(tdir, "nothing-here"))
    assert_error(r, rt)


@pytest.mark.pyrunc_only
def test_check_creates_nothing(rt, make_bundle):
    b = make_bundle(["sh"])
    assert rt.cmd("check", "--bundle", b.path).rc == 0
    assert not os.path.exists(rt.root) or os.listdir(rt.root) == []


# -- ps, pause, resume (docker top / pause) ----------------------------------

def test_ps_json_lists_container_pids(rt, cid, make_bundle):
    pid = create_running(rt, cid, make_bundle(["sleep", "30"]))
    r = rt.cmd("ps", "--format", "json", cid)
    assert r.rc == 0, r
    assert pid in json.loads(r.out)


def test_pause_resume(rt, cid, make_bundle):
    pid = create_running(rt, cid, make_bundle(["sleep", "30"]))
    r = rt.cmd("pause", cid)
    assert r.rc == 0, r
    assert rt.status(cid) == "paused"
    assert wait_for(lambda: open(f"/proc/{pid}/stat").read()
                    .rsplit(")", 1)[1].split()[0] in ("D", "S", "T"))
    r = rt.cmd("resume", cid)
    assert r.rc == 0, r
    assert rt.status(cid) == "running"
    # a paused container can be force-deleted
    assert rt.cmd("pause", cid).rc == 0
    assert rt.delete(cid, force=True).rc == 0
    assert rt.state_raw(cid).rc != 0



# -- list --format json and JSON log lines: compact, as runc (Go's encoding/json) -----

def _compact(line):
    return json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False)


def test_list_format_json_is_compact_and_null_when_empty(rt, cid, make_bundle):
    r = rt.list("--format", "json")
    assert r.rc == 0, r
    assert r.out == "null\n", r  # Go marshals the empty (nil) slice as null
    b = make_bundle(["sleep", "30"])
    assert rt.create(cid, b).rc == 0
    r = rt.list("--format", "json")
    assert r.rc == 0, r
    assert r.out.endswith("\n") and r.out.count("\n") == 1, r.out
    line = r.out[:-1]
    assert line == _compact(line), f"not compact: {line}"
    (entry,) = json.loads(line)
    assert (entry["id"], entry["status"], entry["bundle"]) == (cid, "created", b.path), entry
    assert entry["pid"] == rt.state(cid)["pid"], entry


def test_json_log_lines_are_compact(rt, new_cid, tdir):
    log = os.path.join(tdir, "runtime.log")
    r = rt.cmd("state", new_cid("pytest-nonexistent"), global_args=["--log", log, "--log-format", "json"])
    assert r.rc != 0
    with open(log) as f:
        lines = [x.rstrip("\n") for x in f if x.strip()]
    assert lines, "nothing logged"
    for x in lines:
        assert x == _compact(x), f"not compact: {x}"


# -- exit ------------------------------------------------------------------

_SUBREAPER = r"""
import ctypes, json, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us
me, out, keep = os.getpid(), [], set()


def children():
    kids = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
            if int(ppid) == me:
                kids.append((int(d), state))
        except (OSError, ValueError):
            pass
    return kids


for argv, pid_file in json.loads(sys.argv[1]):
    # pipes, read to EOF: but a created container keeps its stdio (the command's) open
    io = subprocess.DEVNULL if pid_file else subprocess.PIPE
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=io, stderr=io)
    stdout, _ = p.communicate()
    if pid_file and os.path.exists(pid_file):
        keep.add(int(open(pid_file).read()))  # a created container's init: ours now
    # the command's orphans were reparented to us before its exit was reported
    others = [os.waitstatus_to_exitcode(os.waitpid(k, 0)[1])
              for k, state in children() if k not in keep or state == "Z"]
    out.append({"rc": p.returncode, "stdout": (stdout or b"").decode(), "others": sorted(others)})
print(json.dumps(out))
"""


def test_exit_status_and_the_exit_task(rt, cid, make_bundle, tdir):
    """A command that loaded the C helper exits through pyrunc_exit: its memory is
    unmapped by a task of its own after it is gone.  The exit status is the command's,
    the caller's pipes reach EOF, and that task ends by itself (status 0) once the
    command has exited, in the caller's subreaper; nothing else is left."""
    b = make_bundle(["sh", "-c", "echo out; exit 3"])
    pid_file = os.path.join(tdir, "c.pid")
    base = rt.base()
    c2 = cid + "-c"
    cmds = [(base + ["run", "--bundle", b.path, cid], None),                       # foreground: 3
            (base + ["create", "--bundle", b.path, "--pid-file", pid_file, c2], pid_file),
            (base + ["create", "--bundle", b.path, c2], None),                      # exists: 1
            (base + ["delete", "--force", c2], None),                               # kills its init
            (base + ["state", c2], None)]                                           # gone: 1
    r = subprocess.run([sys.executable, "-c", _SUBREAPER, json.dumps(cmds)],
                       capture_output=True, text=True, timeout=120, env=rt.env, cwd=tdir)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert [x["rc"] for x in res] == [3, 0, 1, 0, 1], res
    assert res[0]["stdout"] == "out\n"
    # delete killed the created container's init, reparented to the caller (SIGKILL)
    assert res[3]["others"][-1:] == [-9], res
    if rt.name == "pyrunc":  # run and the creates loaded the helper: one exit task each
        assert [x["others"] for x in res] == [[0], [0], [0], [-9], []], res
