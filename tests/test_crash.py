"""Crash safety: kill -9 of create, start, run and delete at every step leaves nothing
that the next `delete --force` does not remove (processes, cgroups in every hierarchy,
the fifo, the state dir, the session keyring; mounts live in the container's own mount
namespace and go with its processes; the leak guard checks all of it).

The runtime's test-only step hooks (runtime/state.py STEPS, PYRUNC_TEST_STOP_AT) make
the process that reaches a named step stop itself there, so every step is hit
deterministically, not by random delays.
"""

from __future__ import annotations

import os
import signal

import pytest

from runtime import state as rstate
from tests.util import assert_error, cgroup_dirs_named, wait_for

pytestmark = pytest.mark.pyrunc_only

STEPS = rstate.STEPS
CREATE_STEPS = [s for s in STEPS if s.startswith(("create-", "stage1-", "stage2-"))]
START_STEPS = [s for s in STEPS if s.startswith("start-")]
DELETE_STEPS = [s for s in STEPS if s.startswith("delete-")]
RUN_STEPS = CREATE_STEPS + START_STEPS + ["run-waiting"]
EXEC_STEPS = [s for s in STEPS if s.startswith("exec-")]
PAUSE_STEPS = [s for s in STEPS if s.startswith(("pause-", "resume-"))]
# reached only when the config has hooks (without, create skips the exchange, and the
# init's pid is saved with the status `created` instead of before the hooks on its own)
HOOK_STEPS = ("create-hooks", "stage2-hooks-done", "create-pid-saved")
HOOKS = {"createRuntime": [{"path": "/bin/true"}]}


def _env(step, stop_file):
    return dict(os.environ, PYRUNC_TEST_STOP_AT=step, PYRUNC_TEST_STOP_FILE=stop_file)


def _keyring_exists(cid):
    try:
        with open("/proc/keys") as f:
            return f"_ses.{cid}" in f.read()
    except OSError:
        return False


def _stop_reached(stop_file, step, p, timeout=30.0):
    def reached():
        try:
            with open(stop_file) as f:
                return any(line.split()[0] == step for line in f.read().splitlines() if line)
        except OSError:
            return False
    ok = wait_for(lambda: reached() or p.poll() is not None, timeout)
    return ok and reached()


def _kill_at(rt, step, tdir, *args):
    """Run `runtime args...` until it (or its child) stops at `step`; kill -9 the
    runtime process there."""
    stop_file = os.path.join(tdir, f"stop.{step}")
    p = rt.popen(*args, env=_env(step, stop_file))
    try:
        reached = _stop_reached(stop_file, step, p)
        out, err = rt.read_popen(p) if p.poll() is not None else ("", "")
        assert reached, f"{' '.join(args)} never reached step {step} (rc={p.poll()}, err={err!r})"
        assert p.poll() is None, f"{args[0]} exited at step {step} instead of waiting there"
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


def _assert_gone(rt, cid):
    r = rt.delete(cid, force=True)
    assert r.rc == 0, f"delete --force after the kill failed: {r}"
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    assert not os.path.exists(os.path.join(rt.root, cid)), "state dir left"
    assert wait_for(lambda: not cgroup_dirs_named(cid), 5), f"cgroups left: {cgroup_dirs_named(cid)}"
    assert wait_for(lambda: not _keyring_exists(cid), 10), "session keyring left"
    # and once more: delete --force of what is gone is a no-op
    r = rt.delete(cid, force=True)
    assert r.rc == 0, r


def test_every_step_is_reached(rt, make_bundle, new_cid, tdir):
    """The step list is complete and each step is reachable: a trace of one
    create/start/delete and one foreground run records every name in STEPS."""
    trace = os.path.join(tdir, "trace")
    env = _env("trace", trace)
    b = make_bundle(["sleep", "1000"], hooks=HOOKS)
    a = new_cid()
    assert rt.create(a, b, env=env).rc == 0
    assert rt.start(a, env=env).rc == 0
    r = rt.cmd("exec", "--pid-file", os.path.join(tdir, "exec.pid"), a, "true", env=env)
    assert r.rc == 0, r
    assert rt.cmd("pause", a, env=env).rc == 0
    assert rt.cmd("resume", a, env=env).rc == 0
    assert rt.delete(a, force=True, env=env).rc == 0
    assert rt.run(new_cid(), make_bundle(["true"]), env=env).rc == 0
    with open(trace) as f:
        seen = {line.split()[0] for line in f if line.strip()}
    assert seen == set(STEPS), f"never reached: {set(STEPS) - seen}; unknown: {seen - set(STEPS)}"


def test_create_without_hooks_skips_the_hooks_exchange(rt, make_bundle, new_cid, tdir):
    """No hooks in the config: stage 2 does not wait for the runtime to run any (one
    round trip less per create); the container still comes up and runs."""
    trace = os.path.join(tdir, "trace")
    a = new_cid()
    rt.track(a)
    assert rt.create(a, make_bundle(["sleep", "1000"]), env=_env("trace", trace)).rc == 0
    with open(trace) as f:
        seen = {line.split()[0] for line in f if line.strip()}
    assert {"stage2-rootfs", "create-pid", "create-saved"} <= seen, seen
    assert not seen & set(HOOK_STEPS), seen
    st = rt.state(a)
    assert st["status"] == "created" and st["pid"] > 0, st
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"pyrunc-init"
    assert rt.start(a).rc == 0
    assert rt.state(a)["status"] == "running"
    assert rt.delete(a, force=True).rc == 0


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_kill9_create_at_every_step(rt, make_bundle, cid, tdir, step):
    b = make_bundle(["sleep", "1000"], **({"hooks": HOOKS} if step in HOOK_STEPS else {}))
    rt.track(cid)
    _kill_at(rt, step, tdir, "create", "--bundle", b.path, cid)
    if os.path.exists(os.path.join(rt.root, cid)):
        # state and list answer sensibly for a container whose creator died
        st = rt.state(cid)
        assert st["status"] in ("stopped", "created"), st
        assert st["status"] == "created" or st["pid"] == 0, st
        r = rt.list("--format", "json")
        assert r.rc == 0 and cid in r.out, r
        if st["status"] == "stopped":
            assert_error(rt.start(cid), rt)
    _assert_gone(rt, cid)


@pytest.mark.parametrize("step", START_STEPS)
def test_kill9_start_at_every_step(rt, make_bundle, cid, tdir, step):
    b = make_bundle(["sleep", "1000"])
    assert rt.create(cid, b).rc == 0
    _kill_at(rt, step, tdir, "start", cid)
    _assert_gone(rt, cid)


@pytest.mark.parametrize("step", RUN_STEPS)
def test_kill9_run_at_every_step(rt, make_bundle, cid, tdir, step):
    b = make_bundle(["sleep", "1000"], **({"hooks": HOOKS} if step in HOOK_STEPS else {}))
    rt.track(cid)
    _kill_at(rt, step, tdir, "run", "--bundle", b.path, cid)
    _assert_gone(rt, cid)


@pytest.mark.parametrize("step", DELETE_STEPS)
@pytest.mark.parametrize("started", ["created", "running", "stopped"])
def test_kill9_delete_at_every_step(rt, make_bundle, cid, tdir, step, started):
    """created, running: processes to kill first; stopped (what engines delete): the
    cgroups are empty, and delete takes its own path (runtime/commands/delete.py)."""
    b = make_bundle(["sleep", "1000"])
    assert rt.create(cid, b).rc == 0
    if started != "created":
        assert rt.start(cid).rc == 0
    if started == "stopped":
        assert rt.kill(cid, "KILL").rc == 0
        assert rt.wait_status(cid, "stopped") == "stopped"
    _kill_at(rt, step, tdir, "delete", "--force", cid)
    _assert_gone(rt, cid)


def _frozen(rt, cid):
    """The container's freezer says FROZEN (v1) or its cgroup.events frozen 1 (v2)."""
    for d in cgroup_dirs_named(cid):
        for name, frozen in (("freezer.state", b"FROZEN"), ("cgroup.events", b"frozen 1")):
            try:
                with open(os.path.join(d, name), "rb") as f:
                    if frozen in f.read():
                        return True
            except OSError:
                pass
    return False


@pytest.mark.parametrize("step", PAUSE_STEPS)
def test_kill9_pause_and_resume_at_every_step(rt, make_bundle, cid, tdir, step):
    """A pause or resume killed at any step leaves a container that resume thaws and
    state calls running: never frozen while the state says running (resume would then
    refuse it)."""
    b = make_bundle(["sleep", "1000"])
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    if step.startswith("resume-"):
        assert rt.cmd("pause", cid).rc == 0
        _kill_at(rt, step, tdir, "resume", cid)
    else:
        _kill_at(rt, step, tdir, "pause", cid)
    st = rt.state(cid)["status"]
    assert st == "paused" or (st == "running" and not _frozen(rt, cid)), (st, _frozen(rt, cid))
    if st == "paused":
        r = rt.cmd("resume", cid)
        assert r.rc == 0, r
    assert rt.state(cid)["status"] == "running" and not _frozen(rt, cid)
    _assert_gone(rt, cid)


@pytest.mark.parametrize("step", EXEC_STEPS)
def test_kill9_exec_at_every_step(rt, make_bundle, cid, tdir, step):
    """exec killed at each of its own steps: its process (if it got that far) is the
    container's, and delete --force removes it with everything else."""
    b = make_bundle(["sleep", "1000"])
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    _kill_at(rt, step, tdir, "exec", "--pid-file", os.path.join(tdir, "exec.pid"), cid, "sleep", "999")
    _assert_gone(rt, cid)
    assert wait_for(lambda: not _stopped_in_cgroup_of(cid), 10)


def test_cgroup_removed_between_create_and_join(rt, make_bundle, cid, tdir):
    """A cgroup directory that disappears after create made it and before the
    container joined it: one clear error naming it, and nothing left."""
    b = make_bundle(["true"])
    rt.track(cid)
    step = "create-cgroups-set"
    stop_file = os.path.join(tdir, "stop")
    p = rt.popen("create", "--bundle", b.path, cid, env=_env(step, stop_file))
    try:
        assert _stop_reached(stop_file, step, p), rt.read_popen(p)
        victims = [d for d in cgroup_dirs_named(cid) if "/unified/" not in d]
        if not victims:
            pytest.skip("no v1 hierarchy to remove a cgroup from")
        victim = sorted(victims)[0]
        os.rmdir(victim)
        os.kill(p.pid, signal.SIGCONT)
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    _, err = rt.read_popen(p)
    assert rc != 0, "create succeeded without one of its cgroups"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and victim in lines[0] and "does not exist" in lines[0], err
    assert "internal error" not in err and "Traceback" not in err
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert wait_for(lambda: not cgroup_dirs_named(cid), 5), cgroup_dirs_named(cid)


def test_poststop_hook_never_fails_delete(rt, make_bundle, cid, tdir):
    """A poststop hook that cannot run is a warning once the container is gone:
    delete succeeds (the NUL-byte hook path of the issue is refused at create)."""
    b = make_bundle(["true"], hooks={"poststop": [{"path": os.path.join(tdir, "missing-hook")}]})
    assert rt.create(cid, b).rc == 0
    r = rt.delete(cid, force=True)
    assert r.rc == 0, r
    assert "missing-hook" in r.err and "Traceback" not in r.err
    assert not os.path.exists(os.path.join(rt.root, cid))
    b2 = make_bundle(["true"], hooks={"poststop": [{"path": "/bin/tr\0ue"}]})
    r = rt.create(cid + "x", b2)
    assert_error(r, rt)
    assert r.err.strip().endswith("hooks.poststop[0].path: contains a NUL byte"), r.err
    assert not os.path.exists(os.path.join(rt.root, cid + "x"))


def test_creating_state_dir_without_state_file(rt, make_bundle, cid):
    """What a kill between mkdir and the first save leaves (only the directory):
    state says stopped, delete --force removes it."""
    b = make_bundle(["true"])
    assert rt.create(cid, b).rc == 0
    assert rt.delete(cid, force=True).rc == 0
    d = os.path.join(rt.root, cid)
    os.mkdir(d, 0o1700)
    os.chmod(d, 0o1700)  # pyrunc marks its directories with the sticky bit
    st = rt.state(cid)
    assert st["status"] == "stopped" and st["pid"] == 0, st
    assert rt.delete(cid, force=True).rc == 0
    assert not os.path.exists(d)


def _stopped_in_cgroup_of(cid):
    """Pids in state T (stopped) whose cgroup names the container."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{p}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        if st == "T" and f"/{cid}" in cg:
            found.append(int(p))
    return found


def test_kill9_exec_mid_way(rt, make_bundle, cid, tdir):
    """exec killed while its process is half-way into the container (stopped at the
    last step before it execs, shared with create; exec's child has closed the stop
    file by then, so the test finds it stopped in the container's cgroup):
    delete --force removes it too."""
    b = make_bundle(["sleep", "1000"])
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    p = rt.popen("exec", cid, "sleep", "999", env=_env("stage2-exec", os.path.join(tdir, "stop")))
    try:
        assert wait_for(lambda: _stopped_in_cgroup_of(cid) or p.poll() is not None, 30)
        assert p.poll() is None and _stopped_in_cgroup_of(cid), rt.read_popen(p)
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
    _assert_gone(rt, cid)


def test_pause_whose_freeze_fails_leaves_it_running(rt, make_bundle, cid, tdir):
    """The freeze itself fails (here: the container's freezer.state read-only, bound
    over in a private mount namespace of the pause alone): one line, and the state still
    says running, so resume refuses it and kill and delete work as before."""
    import subprocess

    b = make_bundle(["sleep", "1000"])
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    dirs = cgroup_dirs_named(cid)
    # v1 (and hybrid): the freezer hierarchy's freezer.state; pure v2: cgroup.freeze
    states = [os.path.join(d, n) for n in ("freezer.state", "cgroup.freeze") for d in dirs
              if os.path.exists(os.path.join(d, n))][:1]
    assert states, f"no freezer file in {dirs}"
    ro = os.path.join(tdir, "ro-state")
    with open(ro, "w") as f:
        f.write("THAWED\n")
    script = (f"mount --bind {ro} {states[0]} && mount -o remount,bind,ro {states[0]} && "
              f"exec {' '.join(rt.base())} pause {cid}")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60, env=rt.env)
    assert p.returncode == 1, p
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "internal error" not in p.stderr and os.path.basename(states[0]) in lines[0], p.stderr
    assert rt.state(cid)["status"] == "running"
    assert not _frozen(rt, cid)
    r = rt.cmd("resume", cid)
    assert r.rc != 0 and "not paused" in r.err, r
    _assert_gone(rt, cid)
