"""Terminal attach, created-container signals, keyrings, personality, features, and the
fields pyrunc refuses rather than ignores; observed from inside the container."""
import json
import os
import pty
import select
import time

import pytest

from util import assert_error, sh_out, without_syscalls


def _pty_run(argv, cwd, script, wait=1.0, timeout=20):
    """Run argv under a new pty; type script once the container's shell is up."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.chdir(cwd)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    out = b""
    typed = False
    start = time.monotonic()
    try:
        while time.monotonic() - start < timeout:
            if not typed and time.monotonic() - start > wait:
                os.write(fd, script)
                typed = True
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.pyrunc_only
def test_run_terminal_attaches_to_the_callers_tty(rt, cid, make_bundle, tdir):
    b = make_bundle(["sh"], process={"terminal": True})
    argv = rt.base() + ["run", "--bundle", b.path, cid]
    rc, out = _pty_run(argv, tdir, b"tty; echo sum=$((40+2)); exit 7\n")
    assert rc == 7, out
    assert "/dev/pts/0" in out and "sum=42" in out, out


def test_run_detach_with_terminal_needs_console_socket(rt, cid, make_bundle):
    b = make_bundle(["sh"], process={"terminal": True})
    r = rt.cmd("run", "--detach", "--bundle", b.path, cid)
    assert_error(r, rt)
    assert rt.cmd("state", cid).rc != 0


def test_created_container_dies_of_term(rt, cid, make_bundle):
    """kill ID (TERM) of a created container stops it, as with runc."""
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    assert rt.cmd("kill", cid).rc == 0
    deadline = time.monotonic() + 5
    while rt.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rt.state(cid)["status"] == "stopped"
    assert rt.cmd("delete", cid).rc == 0


@pytest.mark.pyrunc_only
def test_exe_handle_taken_while_created_cannot_write_after_start(rt, cid, make_bundle, tdir):
    """CVE-2019-5736: a handle on the waiting init's /proc/PID/exe, reopened for
    writing once the container's program runs, must not write any binary."""
    b = make_bundle(["sleep", "30"])
    assert rt.create(cid, b).rc == 0
    pid = rt.state(cid)["pid"]
    target = os.readlink(f"/proc/{pid}/exe")
    assert target.startswith("/memfd:"), target  # never a path to a host file
    fd = os.open(f"/proc/{pid}/exe", os.O_PATH)
    try:
        assert rt.start(cid).rc == 0
        assert "sleep" in os.readlink(f"/proc/{pid}/exe") or "busybox" in os.readlink(f"/proc/{pid}/exe")
        try:
            w = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
        except OSError:
            return
        try:
            with pytest.raises(OSError):
                os.write(w, b"overwritten")
        finally:
            os.close(w)
    finally:
        os.close(fd)


@pytest.mark.pyrunc_only
def test_each_container_gets_its_own_session_keyring(rt, cid, make_bundle):
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    with open("/proc/keys") as f:
        assert f"_ses.{cid}" in f.read()


@pytest.mark.pyrunc_only
def test_no_new_keyring_keeps_the_callers(rt, cid, make_bundle):
    r = rt.create(cid, make_bundle(["sleep", "30"]), extra=("--no-new-keyring",))
    assert r.rc == 0, r
    with open("/proc/keys") as f:
        assert f"_ses.{cid}" not in f.read()


@pytest.mark.not_runc  # runc 1.1 has no linux.personality
def test_personality_linux32(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle, "cat /proc/self/personality; uname -m",
                 linux={"personality": {"domain": "LINUX32"}})
    pers, machine = out.split()
    assert int(pers, 16) & 0xFF == 0x08
    assert machine in ("i686", "i386", "armv7l", "armv8l")


@pytest.mark.pyrunc_only
@pytest.mark.parametrize("field,value", [
    ("linux.intelRdt", {"closID": "x"}),
    ("linux.netDevices", {"eth9": {}}),
    ("process.scheduler", {"policy": "SCHED_OTHER"}),
    ("process.ioPriority", {"class": "IOPRIO_CLASS_IDLE"}),
    ("process.execCPUAffinity", {"initial": "0"}),
])
def test_unimplemented_fields_are_refused(rt, cid, make_bundle, field, value):
    b = make_bundle(["true"], write=False)
    section, key = field.split(".")
    b.config.setdefault(section, {})[key] = value
    b.write()
    r = rt.cmd("create", "--bundle", b.path, cid)
    assert_error(r, rt)
    assert field in r.err
    assert rt.cmd("state", cid).rc != 0  # nothing left behind


def test_state_oci_version_is_the_runtimes(rt, cid, make_bundle):
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    st = rt.state(cid)
    assert st["ociVersion"].split(".")[0] == "1"
    if rt.name == "pyrunc":
        assert st["ociVersion"] == "1.3.0"


@pytest.mark.pyrunc_only
def test_features_document(rt):
    r = rt.cmd("features")
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["ociVersionMax"] == "1.3.0"
    assert set(doc["hooks"]) == {"prestart", "createRuntime", "createContainer",
                                 "startContainer", "poststart", "poststop"}
    linux = doc["linux"]
    assert set(linux["namespaces"]) == {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    assert linux["seccomp"]["enabled"] is True
    assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"]
    # the systemd driver works with systemd as PID 1 on pure cgroup v2 only: be truthful
    from runtime import cgroups
    assert linux["cgroup"]["systemd"] is (os.path.isdir("/run/systemd/system") and cgroups.host_mode() == "v2")
    assert {"rro", "rnosuid", "rnosymfollow"} <= set(doc["mountOptions"])  # mount_setattr(AT_RECURSIVE)
    assert linux["mountExtensions"]["idmap"]["enabled"] is True


@pytest.mark.pyrunc_only
def test_every_listed_mount_option_works(rt, new_cid, make_bundle):
    """Truthful features: each option `features` lists is accepted on a tmpfs mount."""
    opts = json.loads(rt.cmd("features").out)["mountOptions"]
    skip = {"bind", "rbind", "remount", "mand"}  # bind needs a source; mand is gone from the kernel
    for opt in opts:
        if opt in skip:
            continue
        cid = new_cid()
        b = make_bundle(["true"], write=False)
        b.config["mounts"].append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                                   "options": [opt]})
        b.write()
        r = rt.run(cid, b)
        assert r.rc == 0, (opt, r)


@pytest.mark.not_runc  # runc 1.1 only warns
def test_failing_poststart_is_an_error_and_stops_the_container(rt, cid, make_bundle, tdir):
    """Spec 1.3: a failing poststart hook is an error, the container is stopped and
    its lifecycle goes on with delete, which still runs the poststop hooks."""
    log = os.path.join(tdir, "poststop.log")
    stop_hook = os.path.join(tdir, "poststop.sh")
    with open(stop_hook, "w") as f:
        f.write(f"#!/bin/sh\ncat > {log}\n")
    os.chmod(stop_hook, 0o755)
    b = make_bundle(["sleep", "30"], write=False)
    b.config["hooks"] = {"poststart": [{"path": "/bin/false"}], "poststop": [{"path": stop_hook}]}
    b.write()
    assert rt.create(cid, b).rc == 0
    r = rt.start(cid)
    assert_error(r, rt)
    assert "poststart" in r.err
    assert rt.state(cid)["status"] == "stopped"
    assert rt.cmd("delete", cid).rc == 0
    with open(log) as f:
        assert json.load(f)["id"] == cid


SECCOMP_NO_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


@pytest.mark.parametrize("nnp", [True, False])
def test_seccomp_filter_applies_in_the_container(rt, cid, make_bundle, nnp):
    """With noNewPrivileges the filter is loaded last, by pyrunc-init right before exec;
    without, before the capabilities are dropped.  Either way the program runs under it."""
    out = sh_out(rt, cid, make_bundle,
                 "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x 2>&1 && echo MADE; echo done",
                 process={"noNewPrivileges": nnp}, root={"readonly": False},
                 linux={"seccomp": SECCOMP_NO_MKDIR})
    assert "Seccomp:\t2" in out, out
    assert "MADE" not in out and "Operation not permitted" in out, out


@pytest.mark.parametrize("prop,field", [("shared", "shared:"), ("private", None), ("slave", None)])
def test_rootfs_propagation(rt, cid, make_bundle, prop, field):
    out = sh_out(rt, cid, make_bundle, "awk '$5 == \"/\"' /proc/self/mountinfo",
                 linux={"rootfsPropagation": prop})
    if field:
        assert field in out, out
    else:
        assert "shared:" not in out, out


@pytest.mark.pyrunc_only
def test_run_terminal_with_stdin_not_a_tty(rt, cid, make_bundle, tdir):
    """run of a terminal container from a script (stdin /dev/null, stdout a file): the
    output still arrives through the pty and the exit status is the container's."""
    import subprocess

    b = make_bundle(["sh", "-c", "tty; echo via-pty; exit 5"], process={"terminal": True})
    out_path = os.path.join(tdir, "out")
    with open(out_path, "wb") as out, open(os.devnull, "rb") as devnull:
        p = subprocess.run(rt.base() + ["run", "--bundle", b.path, cid], stdin=devnull,
                           stdout=out, stderr=subprocess.PIPE, timeout=30)
    with open(out_path, "rb") as f:
        text = f.read().decode()
    assert p.returncode == 5, (p.stderr, text)
    assert "/dev/pts/0" in text and "via-pty" in text, text


@pytest.mark.pyrunc_only
def test_id_mappings_with_a_joined_user_namespace_are_refused(rt, cid, make_bundle):
    b = make_bundle(["true"], write=False)
    b.config["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})
    b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1}]
    b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1}]
    b.write()
    r = rt.cmd("create", "--bundle", b.path, cid)
    assert_error(r, rt)
    assert "linux.uidMappings" in r.err and "joined" in r.err
    assert rt.cmd("state", cid).rc != 0


@pytest.mark.pyrunc_only
def test_failed_create_cleans_up_without_pidfd_open(rt, cid, make_bundle, tdir):
    """A kernel before 5.3 or a sandbox without pidfd_open: a create whose container
    init fails is still torn down (its init waited for by polling /proc) with the
    init's own one-line error, and nothing is left."""
    import subprocess

    b = make_bundle(args=["/nonexistent-program"])
    err = os.path.join(tdir, "no-pidfd.err")
    with open(err, "wb") as f:
        rc = subprocess.run(without_syscalls(["pidfd_open"], [*rt.base(), "create", "--bundle", b.path, cid]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                            env=rt.env, timeout=60).returncode
    text = open(err).read()
    assert rc == 1, text
    lines = [l for l in text.splitlines() if l.strip()]
    assert len(lines) == 1 and "/nonexistent-program" in lines[0] and "internal error" not in text, text
    assert rt.state_raw(cid).rc != 0  # no state left behind
    assert not os.path.exists(os.path.join(rt.root, cid))


# System calls a sandbox (gVisor, a seccomp policy) or an older kernel may not have.
_MAYBE_MISSING = ["clone3", "openat2", "close_range", "pidfd_open", "pidfd_send_signal", "open_tree",
                  "move_mount", "mount_setattr", "memfd_create", "execveat", "sendfile", "keyctl",
                  "pivot_root", "setns", "prlimit64", "flock", "rename"]


@pytest.mark.pyrunc_only
@pytest.mark.parametrize("syscall", _MAYBE_MISSING)
def test_a_missing_system_call_is_a_clean_error_or_worked_around(rt, cid, make_bundle, tdir, syscall):
    """With one system call answering ENOSYS, `run` of a default container either works
    (the call has a fallback) or fails with one line naming what it could not do, never
    an internal error, and leaves nothing behind."""
    import subprocess

    b = make_bundle(args=["/bin/true"])
    err = os.path.join(tdir, f"{syscall}.err")
    with open(err, "wb") as f:
        rc = subprocess.run(without_syscalls([syscall], [*rt.base(), "run", "--bundle", b.path, cid]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                            env=rt.env, timeout=60).returncode
    text = open(err).read()
    assert "internal error" not in text and "Traceback" not in text, text
    if rc != 0:
        lines = [l for l in text.splitlines() if l.strip()]
        assert rc == 1 and len(lines) == 1 and lines[0].startswith("pyrunc: ") and \
            "Function not implemented" in lines[0], text
    assert not os.path.exists(os.path.join(rt.root, cid)), f"{syscall}: state left behind"


@pytest.mark.pyrunc_only
@pytest.mark.parametrize("syscall", ["pidfd_open", "pidfd_send_signal", "flock", "rename"])
def test_lifecycle_commands_without_a_system_call(rt, cid, make_bundle, tdir, syscall):
    """exec, pause, resume, kill and delete of a running container with one system
    call answering ENOSYS: exec works without pidfds (the init checked by its start
    time); a state directory that cannot be locked or saved is one line naming --root;
    never an internal error, and delete --force (unfiltered) removes everything."""
    import subprocess

    b = make_bundle(args=["/bin/sleep", "100"])
    assert rt.create(cid, b).rc == 0 and rt.start(cid).rc == 0
    for cmd in (["exec", cid, "/bin/true"], ["pause", cid], ["resume", cid], ["kill", cid, "KILL"]):
        err = os.path.join(tdir, f"{syscall}-{cmd[0]}.err")
        with open(err, "wb") as f:
            rc = subprocess.run(without_syscalls([syscall], [*rt.base(), *cmd]), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=f, env=rt.env, timeout=60).returncode
        text = open(err).read()
        assert "internal error" not in text and "Traceback" not in text, (cmd, text)
        if syscall.startswith("pidfd") and cmd[0] == "exec":
            assert rc == 0, text
        if rc != 0:
            lines = [l for l in text.splitlines() if l.strip()]
            assert len(lines) == 1, (cmd, text)
            if syscall in ("flock", "rename"):  # (a pause that could not save froze nothing)
                assert "--root" in lines[0] or (cmd[0] == "resume" and "not paused" in lines[0]), (cmd, text)
    assert rt.delete(cid, force=True).rc == 0
    assert not os.path.exists(os.path.join(rt.root, cid))
