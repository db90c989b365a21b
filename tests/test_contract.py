"""The parts of the engines' contract that are not a command of their own: tmpcopyup,
mount errors that name the destination, checkpoint/restore that say they are not
supported, `kill ID 0`, `delete --force` of a deleted container, every error in the
--log file in the format asked for, and state directories of other runtimes under a
shared --root."""

import json
import os
import stat

import pytest

from util import assert_error, create_running, shell

RFC3339 = "%Y-%m-%dT%H:%M:%S"


# -- tmpcopyup ---------------------------------------------------------------------

def _copyup_bundle(make_bundle, script, dest="/data", readonly=True, extra_opts=()):
    b = make_bundle(shell(script), write=False)
    b.config["root"]["readonly"] = readonly
    b.config["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                               "options": ["rw", "nosuid", "nodev", "tmpcopyup", *extra_opts]})
    return b


def test_tmpcopyup_starts_with_the_image_content(rt, cid, make_bundle):
    """Podman's --read-only/--tmpfs: the tmpfs holds what the image had there (files,
    sub-directories, modes, symlinks as links), writes land in the tmpfs only."""
    b = _copyup_bundle(make_bundle,
                       "cat /data/f /data/sub/g; readlink /data/l; stat -c '%a %u %g' /data /data/sub/g "
                       "/data/sub; echo new > /data/new && cat /data/new; "
                       "grep ' /data ' /proc/mounts | cut -d' ' -f3")
    b.add_file("/data/f", "image-file\n")
    b.add_file("/data/sub/g", "nested\n", mode=0o604)
    os.chown(b.rootfs_path("/data/sub/g"), 1234, 5678)
    os.chmod(b.rootfs_path("/data/sub"), 0o711)
    os.chmod(b.rootfs_path("/data"), 0o750)
    os.symlink("/etc/passwd", b.rootfs_path("/data/l"))
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split("\n") == ["image-file", "nested", "/etc/passwd", "750 0 0", "604 1234 5678",
                                 "711 0 0", "new", "tmpfs", ""], r
    assert not os.path.exists(b.rootfs_path("/data/new"))  # the image is untouched
    with open(b.rootfs_path("/data/f")) as f:
        assert f.read() == "image-file\n"


def test_tmpcopyup_mode_option_wins(rt, cid, make_bundle):
    b = _copyup_bundle(make_bundle, "stat -c %a /data; cat /data/f", extra_opts=["mode=1777"])
    b.add_file("/data/f", "x\n")
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["1777", "x"]


def test_tmpcopyup_of_a_missing_destination_is_an_empty_tmpfs(rt, cid, make_bundle):
    b = _copyup_bundle(make_bundle, "ls -A /nothing-here; grep -c ' /nothing-here tmpfs' /proc/mounts",
                       dest="/nothing-here", readonly=False)
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["1"]


def test_tmpcopyup_never_follows_a_symlink_out_of_the_rootfs(rt, cid, make_bundle, tdir):
    """The destination is a symlink to a host directory, and the image's directory holds
    a symlink to a host file: neither the host directory nor the host file is read."""
    host = os.path.join(tdir, "host-secret")
    os.makedirs(host)
    with open(os.path.join(host, "secret"), "w") as f:
        f.write("host-only\n")
    b = _copyup_bundle(make_bundle, "ls -A /evil; readlink /data/s; cat /data/s 2>&1; true", dest="/evil",
                       readonly=False)
    b.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                               "options": ["tmpcopyup"]})
    os.symlink(host, b.rootfs_path("/evil"))
    os.makedirs(b.rootfs_path(host))  # where the link points, inside the rootfs
    b.add_file(os.path.join(host, "inside"), "rootfs-only\n")
    os.makedirs(b.rootfs_path("/data"))
    os.symlink(os.path.join(host, "secret"), b.rootfs_path("/data/s"))
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[:2] == ["inside", os.path.join(host, "secret")], r
    assert "host-only" not in r.out, r
    assert os.listdir(host) == ["secret"]  # nothing mounted or written on the host


# -- errors name the mount's destination ---------------------------------------------

def test_mount_errors_name_the_destination(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"], write=False)
    b.add_mount("/data-from-host", "bind", os.path.join(tdir, "no-such-source"), ["rbind"])
    b.write()
    r = rt.run(cid, b)
    assert_error(r, rt)
    assert "(/data-from-host)" in r.err, r


@pytest.mark.pyrunc_only
def test_schema_errors_of_a_mount_name_the_destination(rt, cid, make_bundle):
    b = make_bundle(["true"], write=False)
    b.config["mounts"].append({"destination": "/cache", "type": "tmpfs", "options": "rw"})
    b.write()
    r = rt.run(cid, b)
    assert_error(r, rt)
    i = len(b.config["mounts"]) - 1
    assert f"mounts[{i}] (/cache).options:" in r.err, r


@pytest.mark.pyrunc_only
def test_semantic_mount_errors_name_the_destination(rt, cid, make_bundle, tdir):
    """idmap without id mappings or a user namespace: the spec's MUST-error, by destination."""
    b = make_bundle(["true"], write=False)
    b.add_mount("/mapped", "bind", tdir, ["rbind", "idmap"])
    b.write()
    r = rt.run(cid, b)
    assert_error(r, rt)
    i = len(b.config["mounts"]) - 1
    assert f"mounts[{i}] (/mapped).options:" in r.err and "idmap" in r.err, r


# -- checkpoint / restore ----------------------------------------------------------

@pytest.mark.pyrunc_only
@pytest.mark.parametrize("command,flag", [("checkpoint", "--image-path"), ("checkpoint", "--leave-running"),
                                          ("restore", "--bundle"), ("restore", "--lsm-mount-context")])
def test_checkpoint_restore_help_lists_runcs_flags_and_says_unsupported(rt, command, flag):
    """Podman probes `checkpoint --help`: exit 0 would mean "supported"."""
    r = rt.cmd(command, "--help", root=False)
    assert r.rc == 1, r
    assert flag in r.out
    assert "not supported" in r.err and "Traceback" not in r.err
    assert rt.cmd(command, "-h", root=False).rc == 1


@pytest.mark.pyrunc_only
def test_checkpoint_fails_cleanly_and_the_container_keeps_running(rt, cid, make_bundle, tdir):
    b = make_bundle(["sleep", "60"])
    pid = create_running(rt, cid, b)
    log = os.path.join(tdir, "log.json")
    r = rt.cmd("checkpoint", "--image-path", os.path.join(tdir, "img"), "--leave-running", cid,
               global_args=["--log", log, "--log-format", "json"])
    assert_error(r, rt)
    assert "checkpoint/restore is not supported" in r.err
    assert _last_error(log) == r.err.strip()[len("pyrunc: "):]
    assert rt.state(cid)["status"] == "running" and rt.state(cid)["pid"] == pid
    assert not os.path.exists(os.path.join(tdir, "img"))


@pytest.mark.pyrunc_only
def test_restore_fails_cleanly_and_creates_nothing(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"])
    r = rt.cmd("restore", "--bundle", b.path, "--image-path", os.path.join(tdir, "img"), "-d", cid)
    assert_error(r, rt)
    assert "not supported" in r.err
    assert rt.state_raw(cid).rc != 0
    assert not os.path.exists(os.path.join(rt.root, cid))


# -- kill ID 0, delete --force twice -----------------------------------------------------

def test_kill_signal_0_checks_liveness(rt, cid, make_bundle):
    b = make_bundle(["sleep", "60"])
    pid = create_running(rt, cid, b)
    r = rt.kill(cid, "0")
    assert r.rc == 0, r
    assert rt.state(cid)["status"] == "running" and rt.state(cid)["pid"] == pid  # 0 kills nothing
    assert rt.kill(cid, "KILL").rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    r = rt.kill(cid, "0")
    assert_error(r, rt)
    assert "not running" in r.err, r


def test_kill_signal_0_of_a_created_container(rt, cid, make_bundle):
    b = make_bundle(["true"])
    assert rt.create(cid, b).rc == 0
    assert rt.kill(cid, "0").rc == 0
    assert rt.state(cid)["status"] == "created"


def test_delete_force_of_a_deleted_container_exits_0(rt, cid, make_bundle, tdir):
    """The containerd shim: `delete ID`, then `delete --force ID` of the same container."""
    b = make_bundle(["true"])
    assert rt.create(cid, b).rc == 0
    r = rt.delete(cid)
    assert r.rc == 0, r
    log = os.path.join(tdir, "log.json")
    for _ in range(2):
        r = rt.cmd("delete", "--force", cid, global_args=["--log", log, "--log-format", "json"])
        assert r.rc == 0, r
        assert r.err == ""
    assert not os.path.exists(log) or _last_error(log) is None
    r = rt.delete(cid)
    assert_error(r, rt)
    assert "does not exist" in r.err


# -- every error reaches --log ----------------------------------------------------------

def _lines(log):
    with open(log) as f:
        return [json.loads(line) for line in f.read().splitlines()]


def _last_error(log):
    """What containerd shows the user: the msg of the last "level":"error" line."""
    errs = [entry for entry in _lines(log) if entry.get("level") == "error"]
    return errs[-1]["msg"] if errs else None


def _check_json_lines(log):
    import time

    for entry in _lines(log):
        assert set(entry) >= {"level", "msg", "time"}, entry
        assert isinstance(entry["msg"], str)
        stamp = entry["time"]
        assert stamp.endswith("Z"), stamp
        time.strptime(stamp.split(".")[0], RFC3339)  # RFC 3339, as Go's time.Time parses


@pytest.mark.pyrunc_only
@pytest.mark.parametrize("argv", [
    ["--log", "LOG", "--log-format", "json", "no-such-command", "x"],
    ["--log", "LOG", "--log-format", "json", "create", "--no-such-flag", "x"],
    ["--log", "LOG", "--log-format", "json", "kill"],
    ["--log", "LOG", "--log-format", "json", "--no-such-global", "state", "x"],
    ["--no-such-global", "--log", "LOG", "--log-format", "json", "state", "x"],
    ["--log-format=json", "--bogus", "--log=LOG", "list"],
    ["--log", "LOG", "--log-format", "json", "--log-format", "xml", "list"],
    ["--log", "LOG", "--log-format", "json", "state", "no-such-container"],
    ["--log", "LOG", "--log-format", "json", "kill", "no-such-container", "NOSIG"],
    ["--log", "LOG", "--log-format", "json", "delete", "bad/id"],
])
def test_every_error_reaches_the_json_log(rt, tdir, argv):
    log = os.path.join(tdir, "log.json")
    r = rt.cmd(*[a.replace("LOG", log) for a in argv])
    assert r.rc != 0, r
    assert "Traceback" not in r.err
    assert os.path.exists(log), f"nothing logged for {argv}: {r}"
    _check_json_lines(log)
    msg = _last_error(log)
    assert msg, _lines(log)
    assert msg in r.err, (msg, r.err)


@pytest.mark.pyrunc_only
def test_container_setup_errors_reach_the_log_in_text_format(rt, cid, make_bundle, tdir):
    log = os.path.join(tdir, "log.txt")
    b = make_bundle(["true"], write=False)
    b.add_mount("/from-host", "bind", os.path.join(tdir, "missing"), ["rbind"])
    b.write()
    r = rt.cmd("create", "--bundle", b.path, cid, global_args=["--log", log, "--log-format", "text"])
    rt.track(cid)
    assert_error(r, rt)
    with open(log) as f:
        text = f.read()
    assert "level=error" in text and "(/from-host)" in text, text
    assert not os.path.exists(os.path.join(rt.root, cid))  # nothing left behind


@pytest.mark.pyrunc_only
def test_create_errors_reach_the_json_log(rt, cid, make_bundle, tdir):
    log = os.path.join(tdir, "log.json")
    b = make_bundle(["true"], write=False)
    b.config["process"]["cwd"] = "relative"
    b.write()
    r = rt.cmd("create", "--bundle", b.path, cid, global_args=["--log", log, "--log-format", "json"])
    rt.track(cid)
    assert_error(r, rt)
    _check_json_lines(log)
    assert _last_error(log) and _last_error(log) in r.err


# -- a --root shared with another runtime -------------------------------------------------

def _foreign_dir(root, name):
    """A state directory as runc leaves one: 0711, a state.json of its own format."""
    d = os.path.join(root, name)
    os.makedirs(d)
    os.chmod(d, 0o711)
    with open(os.path.join(d, "state.json"), "w") as f:
        json.dump({"id": name, "init_process_pid": 1, "init_process_start": 1, "created": "x",
                   "config": {}, "rootless": False}, f)
    os.mkfifo(os.path.join(d, "exec.fifo"))
    return d


def _snapshot(d):
    return sorted((n, os.lstat(os.path.join(d, n)).st_mode) for n in os.listdir(d)), os.lstat(d).st_mode


@pytest.mark.pyrunc_only
def test_state_dirs_of_another_runtime_are_ignored(rt, new_cid, make_bundle):
    ours = new_cid()
    foreign = new_cid("runc")
    d = _foreign_dir(rt.root, foreign)
    with open(os.path.join(rt.root, "stray-file"), "w") as f:
        f.write("not a container\n")
    os.symlink(d, os.path.join(rt.root, new_cid("link")))
    before = _snapshot(d)
    b = make_bundle(["sleep", "60"])
    create_running(rt, ours, b)
    r = rt.list("--format", "json")
    assert r.rc == 0, r
    assert [c["id"] for c in json.loads(r.out)] == [ours]
    assert rt.list("-q").out.split() == [ours]
    for args in (("state", foreign), ("kill", foreign, "KILL"), ("pause", foreign), ("start", foreign),
                 ("delete", foreign), ("ps", foreign)):
        r = rt.cmd(*args)
        assert_error(r, rt)
        assert "does not exist" in r.err, (args, r)
    assert rt.delete(foreign, force=True).rc == 0  # nothing of ours to delete
    r = rt.create(foreign, b)
    assert_error(r, rt)
    assert "already exists" in r.err
    rt.created.remove(foreign)
    assert _snapshot(d) == before and os.path.exists(os.path.join(rt.root, "stray-file"))
    os.unlink(os.path.join(d, "exec.fifo"))
    os.unlink(os.path.join(d, "state.json"))
    os.rmdir(d)


@pytest.mark.pyrunc_only
def test_a_state_dir_left_by_a_killed_create_is_removed_by_delete_force(rt, cid):
    """pyrunc killed -9 between making its state dir and writing state.json: the dir is
    still recognisably pyrunc's, and `delete --force` removes it."""
    d = os.path.join(rt.root, cid)
    os.mkdir(d, 0o1700)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o1700
    assert [c["id"] for c in json.loads(rt.list("--format", "json").out or "[]") or []] == [cid]
    assert rt.delete(cid, force=True).rc == 0
    assert not os.path.exists(d)
