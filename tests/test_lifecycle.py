"""Lifecycle: create / start / state / kill / delete / run, observed for real."""

import json
import os
import re
import signal
import time

import pytest

from util import (assert_error, cgroup_dirs_named, create_running, list_ids, pid_alive, shell,
                  state_dir_exists, wait_dead, wait_file, wait_for)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def marker_bundle(make_bundle, tdir, script):
    """A bundle whose process runs ``script`` with /mark bound rw to a host
    dir; returns (bundle, host mark dir)."""
    mark = os.path.join(tdir, "mark")
    os.makedirs(mark, exist_ok=True)
    b = make_bundle(shell(script), write=False)
    b.add_mount("/mark", "bind", mark, ["rbind", "rw"])
    b.write()
    return b, mark


def test_create_state_created_and_user_code_not_run(rt, cid, make_bundle, tdir):
    b, mark = marker_bundle(make_bundle, tdir, "touch /mark/ran; sleep 30")
    pid_file = os.path.join(tdir, "pid")
    r = rt.create(cid, b, pid_file=pid_file)
    assert r.rc == 0, r
    # the pid file exists when create returns and holds the host pid
    assert os.path.exists(pid_file)
    pid = int(open(pid_file).read().strip())
    assert pid > 0 and pid_alive(pid)
    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["pid"] == pid
    assert st["id"] == cid
    time.sleep(0.3)
    assert not os.path.exists(os.path.join(mark, "ran")), \
        "user process ran before start"
    assert rt.start(cid).rc == 0
    wait_file(os.path.join(mark, "ran"))
    assert rt.state(cid)["status"] == "running"


def test_state_json_fields(rt, cid, make_bundle):
    b = make_bundle(["sleep", "30"], annotations={"org.test.key": "value1"})
    assert rt.create(cid, b).rc == 0
    st = rt.state(cid)
    for key in ("ociVersion", "id", "status", "pid", "bundle"):
        assert key in st, f"state lacks {key}: {st}"
    assert st["id"] == cid
    assert st["bundle"] == b.path and os.path.isabs(st["bundle"])
    assert st["annotations"] == {"org.test.key": "value1"}
    # runc's extra fields, which engines read
    assert st["rootfs"] == b.rootfs
    assert RFC3339.match(st["created"]), st["created"]
    assert "owner" in st
    assert re.match(r"^\d+\.\d+\.\d+", st["ociVersion"])


def test_state_transitions_through_stopped(rt, cid, make_bundle, tdir):
    b, mark = marker_bundle(make_bundle, tdir,
                            "while [ ! -e /mark/go ]; do sleep 0.05; done")
    assert rt.create(cid, b).rc == 0
    assert rt.status(cid) == "created"
    assert rt.start(cid).rc == 0
    assert rt.status(cid) == "running"
    open(os.path.join(mark, "go"), "w").close()
    assert rt.wait_status(cid, "stopped") == "stopped"
    r = rt.delete(cid)
    assert r.rc == 0, r
    assert rt.state_raw(cid).rc != 0
    assert not state_dir_exists(rt, cid)
    assert cid not in list_ids(rt)


def test_delete_created_container_without_force(rt, cid, make_bundle):
    b = make_bundle(["sleep", "30"])
    r = rt.create(cid, b)
    assert r.rc == 0, r
    pid = rt.state(cid)["pid"]
    r = rt.delete(cid)
    assert r.rc == 0, r
    assert wait_dead(pid), "container init survived delete"
    assert rt.state_raw(cid).rc != 0
    assert not state_dir_exists(rt, cid)


def test_delete_running_needs_force(rt, cid, make_bundle):
    pid = create_running(rt, cid, make_bundle(["sleep", "30"]))
    r = rt.delete(cid)
    assert_error(r, rt)
    assert rt.status(cid) == "running" and pid_alive(pid)
    r = rt.delete(cid, force=True)
    assert r.rc == 0, r
    assert wait_dead(pid)
    assert rt.state_raw(cid).rc != 0
    assert not state_dir_exists(rt, cid)


def test_delete_force_unknown_id_is_ok(rt, new_cid):
    r = rt.delete(new_cid("pytest-nonexistent"), force=True)
    assert r.rc == 0, r


def test_delete_unknown_id_fails(rt, new_cid):
    assert_error(rt.delete(new_cid("pytest-nonexistent")), rt)


@pytest.mark.parametrize("sig,expect", [
    (None, signal.SIGTERM), ("TERM", signal.SIGTERM),
    ("SIGTERM", signal.SIGTERM), ("KILL", signal.SIGKILL),
    ("SIGKILL", signal.SIGKILL), ("9", signal.SIGKILL), ("15", signal.SIGTERM),
])
def test_kill_signal_forms(rt, cid, make_bundle, tdir, sig, expect):
    # a trap reports which catchable signal arrived; KILL just kills
    b, mark = marker_bundle(
        make_bundle, tdir,
        "trap 'echo TERM > /mark/sig; exit 0' TERM; touch /mark/up; "
        "while :; do sleep 0.05; done")
    create_running(rt, cid, b)
    wait_file(os.path.join(mark, "up"))
    r = rt.kill(cid, sig)
    assert r.rc == 0, r
    assert rt.wait_status(cid, "stopped") == "stopped"
    sigfile = os.path.join(mark, "sig")
    if expect == signal.SIGTERM:
        assert open(sigfile).read().strip() == "TERM"
    else:
        assert not os.path.exists(sigfile)


def test_kill_created_container(rt, cid, make_bundle):
    """Signalling a created (not yet started) container reaches its init."""
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    pid = rt.state(cid)["pid"]
    r = rt.kill(cid, "KILL")
    assert r.rc == 0, r
    assert wait_dead(pid)
    assert rt.wait_status(cid, "stopped") == "stopped"


def test_kill_all_reaches_every_process(rt, cid, make_bundle, tdir):
    b, mark = marker_bundle(
        make_bundle, tdir,
        "sleep 300 & echo $! > /mark/child; touch /mark/up; wait")
    # share the host pid namespace so the child is visible from the host,
    # and --all must find it through the cgroup
    b.config["linux"]["namespaces"] = [
        n for n in b.config["linux"]["namespaces"] if n["type"] != "pid"]
    b.write()
    create_running(rt, cid, b)
    wait_file(os.path.join(mark, "up"))
    child = int(open(os.path.join(mark, "child")).read().strip())
    assert pid_alive(child)
    r = rt.kill(cid, "KILL", all=True)
    assert r.rc == 0, r
    assert wait_dead(child), "kill --all missed a container process"
    assert rt.wait_status(cid, "stopped") == "stopped"


def test_kill_stopped_container_fails(rt, cid, make_bundle):
    assert rt.create(cid, make_bundle(["true"])).rc == 0
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    assert_error(rt.kill(cid, "KILL"), rt)
    assert rt.status(cid) == "stopped"


def test_start_twice_fails(rt, cid, make_bundle):
    pid = create_running(rt, cid, make_bundle(["sleep", "30"]))
    assert_error(rt.start(cid), rt)
    assert rt.status(cid) == "running" and pid_alive(pid)


def test_start_stopped_fails(rt, cid, make_bundle):
    assert rt.create(cid, make_bundle(["true"])).rc == 0
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    assert_error(rt.start(cid), rt)


def test_start_unknown_fails(rt, new_cid):
    assert_error(rt.start(new_cid("pytest-nonexistent")), rt)


def test_state_unknown_fails(rt, new_cid):
    assert_error(rt.state_raw(new_cid("pytest-nonexistent")), rt)


@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_run_exit_status(rt, cid, make_bundle, code):
    r = rt.run(cid, make_bundle(shell(f"exit {code}")))
    assert r.rc == code, r


def test_run_killed_container_exit_status(rt, cid, make_bundle, tdir):
    b, mark = marker_bundle(make_bundle, tdir, "touch /mark/up; sleep 60")
    p = rt.popen("run", "--bundle", b.path, cid)
    rt.track(cid)
    try:
        wait_file(os.path.join(mark, "up"))
        assert rt.kill(cid, "KILL").rc == 0
        rc = p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 128 + signal.SIGKILL, rt.read_popen(p)


def test_run_removes_container_after_exit(rt, cid, make_bundle):
    r = rt.run(cid, make_bundle(["true"]))
    assert r.rc == 0, r
    assert rt.state_raw(cid).rc != 0, "run left the container behind"
    assert not state_dir_exists(rt, cid)


def test_run_passes_stdio(rt, cid, make_bundle):
    r = rt.run(cid, make_bundle(shell("cat; echo err >&2")),
               input="hello from stdin\n")
    assert r.rc == 0, r
    assert r.out == "hello from stdin\n"
    assert "err" in r.err


def test_run_detached(rt, cid, make_bundle, tdir):
    b, mark = marker_bundle(make_bundle, tdir, "touch /mark/up; sleep 30")
    pid_file = os.path.join(tdir, "pid")
    t0 = time.monotonic()
    r = rt.run(cid, b, detach=True, pid_file=pid_file)
    assert r.rc == 0, r
    assert time.monotonic() - t0 < 20
    st = rt.state(cid)
    assert st["status"] == "running"
    assert int(open(pid_file).read()) == st["pid"]
    wait_file(os.path.join(mark, "up"))
    assert rt.kill(cid, "KILL").rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    assert rt.delete(cid).rc == 0


def test_pid_file_relative_to_cwd(rt, cid, make_bundle, tdir):
    b = make_bundle(["sleep", "30"])
    r = rt.cmd("create", "--bundle", b.path, "--pid-file", "rel.pid", cid,
               cwd=tdir)
    rt.track(cid)
    assert r.rc == 0, r
    pid = int(open(os.path.join(tdir, "rel.pid")).read().strip())
    assert pid == rt.state(cid)["pid"]


def test_config_changes_after_create_have_no_effect(rt, cid, make_bundle, tdir):
    b, mark = marker_bundle(make_bundle, tdir, "echo original > /mark/who")
    assert rt.create(cid, b).rc == 0
    b.config["process"]["args"] = shell("echo modified > /mark/who")
    b.write()
    assert rt.start(cid).rc == 0
    assert wait_file(os.path.join(mark, "who")).strip() == "original"


def test_bundle_defaults_to_cwd(rt, cid, make_bundle):
    b = make_bundle(["sleep", "30"])
    r = rt.cmd("create", cid, cwd=b.path)
    rt.track(cid)
    assert r.rc == 0, r
    assert rt.state(cid)["bundle"] == b.path


def test_container_process_is_the_state_pid(rt, cid, make_bundle):
    pid = create_running(rt, cid, make_bundle(["sleep", "30"]))
    exe = wait_for(lambda: os.path.realpath(f"/proc/{pid}/exe")
                   .endswith("busybox"), timeout=5)
    assert exe, "state pid is not the container process"
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"30"]


def test_list_shows_containers(rt, new_cid, make_bundle):
    a, b = new_cid(), new_cid()
    assert rt.create(a, make_bundle(["sleep", "30"])).rc == 0
    create_running(rt, b, make_bundle(["sleep", "30"]))
    r = rt.list("--format", "json")
    assert r.rc == 0, r
    data = {c["id"]: c for c in json.loads(r.out)}
    assert data[a]["status"] == "created" and data[b]["status"] == "running"
    assert data[b]["pid"] == rt.state(b)["pid"]
    r = rt.list("-q")
    assert r.rc == 0
    assert sorted(r.out.split()) == sorted([a, b])
    r = rt.list()
    assert r.rc == 0
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "PID", "STATUS"]
    assert any(l.split()[0] == b and "running" in l for l in lines[1:])


def test_list_empty(rt):
    r = rt.list("--format", "json")
    assert r.rc == 0, r
    assert json.loads(r.out) in (None, [])
    r = rt.list("-q")
    assert r.rc == 0 and r.out.strip() == ""


def test_id_reusable_after_delete(rt, cid, make_bundle):
    b = make_bundle(["true"])
    assert rt.run(cid, b).rc == 0
    assert rt.run(cid, b).rc == 0


def test_stopped_container_keeps_state_until_delete(rt, cid, make_bundle):
    assert rt.create(cid, make_bundle(["true"])).rc == 0
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    time.sleep(0.2)
    st = rt.state(cid)
    assert st["status"] == "stopped" and st["id"] == cid
    assert cid in list_ids(rt)


def test_externally_killed_container_is_stopped(rt, cid, make_bundle):
    """The init dying behind the runtime's back is noticed by state and
    delete (engines kill containers directly in some paths)."""
    pid = create_running(rt, cid, make_bundle(["sleep", "30"]))
    os.kill(pid, signal.SIGKILL)
    assert wait_dead(pid)
    assert rt.wait_status(cid, "stopped") == "stopped"
    r = rt.delete(cid)
    assert r.rc == 0, r
    assert not state_dir_exists(rt, cid)


def test_externally_killed_created_container(rt, cid, make_bundle):
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    pid = rt.state(cid)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_dead(pid)
    assert rt.wait_status(cid, "stopped") == "stopped"
    assert rt.start(cid).rc != 0
    assert rt.delete(cid).rc == 0


def test_many_containers_concurrently(rt, new_cid, make_bundle):
    import threading
    ids = [new_cid() for _ in range(5)]
    bundles = [make_bundle(["sleep", "30"]) for _ in ids]
    results = {}

    def go(i):
        results[i] = rt.create(ids[i], bundles[i])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, r in results.items():
        assert r.rc == 0, r
    pids = {rt.state(c)["pid"] for c in ids}
    assert len(pids) == 5
    assert sorted(list_ids(rt)) == sorted(ids)
    for c in ids:
        assert rt.start(c).rc == 0
    for c in ids:
        assert rt.delete(c, force=True).rc == 0
    assert list_ids(rt) == []


# -- delete of a stopped container (what engines delete): runtime/commands/delete.py
# removes it with one rmdir per cgroup directory when they are empty, and hands every
# other case to the full teardown; these are the cases that must reach it.

def test_delete_of_stopped_container_kills_what_its_cgroup_still_holds(rt, cid, make_bundle, tdir):
    """No pid namespace: a child outlives the container's init.  The container is
    stopped, its cgroups are not empty: delete (no --force needed) kills the child and
    removes everything."""
    mark = os.path.join(tdir, "mark")
    os.makedirs(mark)
    b = make_bundle(shell("sleep 1000 & echo $! > /mark/pid"), write=False)
    b.config["linux"]["namespaces"] = [n for n in b.config["linux"]["namespaces"] if n["type"] != "pid"]
    b.add_mount("/mark", "bind", mark, ["rbind", "rw"])
    b.write()
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    child = int(wait_file(os.path.join(mark, "pid"), "\n").strip())
    assert pid_alive(child)
    assert cgroup_dirs_named(cid)
    r = rt.delete(cid)
    assert r.rc == 0, r
    assert wait_dead(child), "the process left in the container's cgroup survived delete"
    assert not state_dir_exists(rt, cid)
    assert wait_for(lambda: not cgroup_dirs_named(cid), 5), cgroup_dirs_named(cid)


@pytest.mark.parametrize("where", ["every", "one"])
def test_delete_of_stopped_container_removes_cgroups_made_below_its_own(rt, cid, make_bundle, where):
    """Sub-cgroups made inside the container's cgroups (here from the host, after it
    stopped) keep them from being removed by a bare rmdir: delete removes them too.
    "one": only below the unified (else the last) hierarchy's, so that the others are
    already gone when that one refuses."""
    b = make_bundle(["true"])
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    dirs = sorted(cgroup_dirs_named(cid))
    assert dirs
    if where == "one":
        dirs = [d for d in dirs if "/unified/" in d] or dirs[-1:]
    for d in dirs:
        os.makedirs(os.path.join(d, "nested", "deeper"))
    r = rt.delete(cid)
    assert r.rc == 0, r
    assert not state_dir_exists(rt, cid)
    assert not cgroup_dirs_named(cid), cgroup_dirs_named(cid)


@pytest.mark.pyrunc_only
def test_delete_of_stopped_container_removes_only_the_parents_it_made(rt, cid, make_bundle, token):
    """cgroupsPath /<made>/<id> and /<premade>/<id>: the parents pyrunc made go with the
    container, one that existed before (an engine's, here only in the memory hierarchy)
    stays."""
    made, premade = f"pytest-{token}-made", f"pytest-{token}-premade"
    theirs = f"/sys/fs/cgroup/memory/{premade}"
    os.mkdir(theirs)
    try:
        ids = {f"{cid}-a": f"/{made}/{cid}-a", f"{cid}-b": f"/{premade}/{cid}-b"}
        for c, path in ids.items():
            assert rt.create(c, make_bundle(["true"], linux={"cgroupsPath": path})).rc == 0
            assert rt.start(c).rc == 0
            assert rt.wait_status(c, "stopped") == "stopped"
            assert os.path.isdir(f"/sys/fs/cgroup/memory{path}")
        for c in ids:
            r = rt.delete(c)
            assert r.rc == 0, r
            assert not cgroup_dirs_named(c), cgroup_dirs_named(c)
        left = sorted(d for d in cgroup_dirs_named(made) + cgroup_dirs_named(premade))
        assert left == [theirs], left
    finally:
        os.rmdir(theirs)
