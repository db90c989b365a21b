"""pyrunc side by side with runc and crun: one command, one table.

    python3 -m bench [--runs N] [--warmup W] [--runtimes pyrunc,runc,crun]
                     [--json [FILE]] [--compare FILE] [--no-hyperfine]
                     [--strict] [--parallel N] [--parallel-jobs J]
                     [--parallel-rounds R]

For every installed runtime, in one run:

1. ``run`` of ``/bin/true`` (``RUNTIME --root R run --bundle B ID``), N times,
   timed by hyperfine (``-N``, ``--export-json``) when it is installed, else
   with ``time.perf_counter_ns`` around each subprocess;
2. the lifecycle as separate processes, the way engines call it:
   ``create --pid-file``, ``start``, ``state``, ``kill KILL``, ``delete
   --force`` of a ``/bin/sleep 10`` container (alive during ``state``, stopped
   before ``delete``), N times: per step and per cycle;
3. PSS and RSS of the waiting created process (the pid of the pid file, from
   ``/proc/PID/smaps_rollup``), N times;
4. ``exec`` of ``/bin/true`` into a running ``/bin/sleep`` container
   (``RUNTIME --root R exec ID /bin/true``, the engines' exec probes), N times,
   timed like ``run``;
5. parallel scale: 50 ``/bin/true`` containers, each created, started and
   deleted, 10 at a time: containers per second; after 1-4 of every runtime,
   in rounds that take the runtimes in turn (pyrunc, runc, crun, then the other
   way round, ...), so that the machine's slower and faster phases fall on all
   of them alike (the median of the rounds is compared);
0. and the floor: ``/usr/bin/python3 -IS -c pass``, N times, in the same run.

Then a table (one row per measure, one column per runtime, the ratios
pyrunc/runc and pyrunc/crun) and the goals of issue 9, PASS/MISS each; or all
numbers as JSON with ``--json``; ``--json FILE`` keeps them in FILE (with the
commit measured) and ``--compare FILE`` shows an earlier run's pyrunc column
beside this one.

Each runtime gets its own temporary ``--root``; every container gets a
``cgroupsPath`` under ``/pyrunc-bench/``, a parent the bench makes in every
hierarchy before it measures (as an engine's parent is there: make_parents), and
the roots are on a tmpfs the bench mounts in its work directory (as /run is:
state_tmpfs).  Containers, state dirs, bundles and
the cgroups of the bench's ids are removed on the way out, even on Ctrl-C or a
failure; cgroups a runtime left behind are reported and removed.

crun 1.8 refuses to run at all on a hybrid cgroup host whose cgroup2 hierarchy
has controllers ("cgroups in hybrid mode not supported"); there the bench runs
crun in a private mount namespace without ``/sys/fs/cgroup/unified`` (set up
once, so no per-call cost) and says so in the notes.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from conformance import bundle as cb  # noqa: E402

CG_ROOT = "/sys/fs/cgroup"
CG_PARENT = "pyrunc-bench"
UNIFIED = os.path.join(CG_ROOT, "unified")
KNOWN = ("pyrunc", "runc", "crun")
SLEEP = ["/bin/sleep", "10"]

#: Parallel scale: this many containers, created, started and deleted with
#: PARALLEL_JOBS at a time (--parallel N --parallel-jobs J)
PARALLEL = 50
PARALLEL_JOBS = 10
#: rounds of it, each runtime in turn (--parallel-rounds R)
PARALLEL_ROUNDS = 3

#: The goals of issue 9, (key, label, measure, limit, kind).  kind:
#: "floor": pyrunc's mean at most limit ms above the interpreter's floor
#:   (``/usr/bin/python3 -IS -c pass``, measured in the same run);
#: "ratio": pyrunc/runc <= limit; "ratio_min": pyrunc/runc >= limit;
#: "plus_crun": pyrunc - crun <= limit ms; "abs": pyrunc's value <= limit.
GOALS = [
    ("start", "start <= python3 floor + 1.5 ms", "lifecycle.start.mean_ms",
     1.5, "floor"),
    ("state", "state <= python3 floor + 1.5 ms", "lifecycle.state.mean_ms",
     1.5, "floor"),
    ("kill", "kill <= python3 floor + 1.5 ms", "lifecycle.kill.mean_ms",
     1.5, "floor"),
    ("delete", "delete of a stopped container <= python3 floor + 1.5 ms",
     "lifecycle.delete.mean_ms", 1.5, "floor"),
    ("run_true", "run /bin/true <= 0.9x runc", "run.mean_ms", 0.9, "ratio"),
    ("create", "create <= crun + 5 ms", "lifecycle.create.mean_ms", 5.0,
     "plus_crun"),
    ("exec", "exec /bin/true no slower than runc", "exec.mean_ms",
     1.0, "ratio"),
    ("parallel", "parallel scale at least runc's containers/s",
     "parallel.cps_median", 1.0, "ratio_min"),
    ("pss", "PSS of the waiting process <= 1024 kB", "pss_kb.median",
     1024, "abs"),
]

#: the interpreter's own start-up, the floor of every pyrunc call
FLOOR_ARGV = ["/usr/bin/python3", "-IS", "-c", "pass"]


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# runtimes
# --------------------------------------------------------------------------

class Rt:
    def __init__(self, name: str, argv: list[str]):
        self.name = name
        self.argv = argv
        self.hide_unified = False
        self.version = ""
        self.root = ""

    def cmd(self, *args) -> list[str]:
        return self.argv + ["--root", self.root] + [str(a) for a in args]


def find_runtime(name: str) -> list[str] | None:
    if name == "pyrunc":
        env = os.environ.get("PYRUNC")
        if env:
            argv = shlex.split(env)
            if argv and (shutil.which(argv[0]) or os.access(argv[0], os.X_OK)):
                return argv
            return None
        for cand in (os.path.join(REPO, ".venv", "bin", "pyrunc"),
                     "/work/main/.venv/bin/pyrunc"):
            if os.access(cand, os.X_OK):
                return [cand]
    found = shutil.which(name)
    return [found] if found else None


def runtime_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv + ["--version"], capture_output=True,
                             text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out else ""


def hybrid_with_v2_controllers() -> bool:
    """A hybrid host (tmpfs /sys/fs/cgroup + cgroup2 at unified) whose cgroup2
    hierarchy has controllers: crun 1.8 refuses those hosts."""
    try:
        with open(os.path.join(UNIFIED, "cgroup.controllers")) as f:
            return bool(f.read().split()) and \
                not os.path.exists(os.path.join(CG_ROOT, "cgroup.controllers"))
    except OSError:
        return False


def enter_private_ns_without_unified() -> None:
    """unshare(CLONE_NEWNS), make every mount private, detach the cgroup2
    mount at /sys/fs/cgroup/unified: only this process and its children see
    the host as a legacy cgroup v1 host."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        e = ctypes.get_errno()
        raise OSError(e, f"unshare(CLONE_NEWNS): {os.strerror(e)}")
    if libc.mount(b"none", b"/", None, 0x4000 | (1 << 18), None) != 0:
        e = ctypes.get_errno()  # MS_REC | MS_PRIVATE
        raise OSError(e, f"mount --make-rprivate /: {os.strerror(e)}")
    if libc.umount2(UNIFIED.encode(), 2) != 0:  # MNT_DETACH
        e = ctypes.get_errno()
        raise OSError(e, f"umount {UNIFIED}: {os.strerror(e)}")


def in_child(rt: Rt, fn, *args):
    """Run ``fn(*args)`` in a forked child (in crun's namespace if needed);
    return its JSON-able result.  On an interrupt the child cleans up its own
    containers (its ``finally``) and the parent waits for it."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            signal.signal(signal.SIGINT, _interrupt_once)
            signal.signal(signal.SIGTERM, _interrupt_once)
            signal.signal(signal.SIGHUP, _interrupt_once)
            if rt.hide_unified:
                enter_private_ns_without_unified()
            res = {"ok": fn(*args)}
        except KeyboardInterrupt:
            res, code = {"error": "interrupted"}, 130
        except BenchError as e:
            res, code = {"error": str(e)}, 1
        except BaseException as e:  # noqa: BLE001 - report everything
            res = {"error": f"{type(e).__name__}: {e}",
                   "traceback": traceback.format_exc()}
            code = 1
        try:
            data = json.dumps(res).encode()
            while data:
                data = data[os.write(w, data):]
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    try:
        with os.fdopen(r, "rb") as f:
            while True:
                b = f.read(65536)
                if not b:
                    break
                chunks.append(b)
        _, status = os.waitpid(pid, 0)
    except BaseException:
        # an interrupt: pass it on (a SIGTERM reached only us), then let the
        # child finish its own cleanup first
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
            _wait_child(pid, 120)
        finally:
            signal.signal(signal.SIGINT, old)
        raise
    try:
        res = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        res = {}
    if "ok" in res:
        return res["ok"]
    if os.waitstatus_to_exitcode(status) == 130 or \
            res.get("error") == "interrupted":
        raise KeyboardInterrupt
    raise BenchError(res.get("error") or
                     f"child exited with status {status}",
                     res.get("traceback", ""))


def _wait_child(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


class BenchError(Exception):
    def __init__(self, msg, tb=""):
        super().__init__(msg)
        self.tb = tb


# --------------------------------------------------------------------------
# bundles
# --------------------------------------------------------------------------

def write_bundle(path: str, rootfs: str, args: list[str], cid: str) -> str:
    """A bundle dir holding only config.json: the default config (as ``runc
    spec``, rlimits kept), ``root.path`` the shared read-only rootfs, and a
    cgroupsPath under the bench's parent."""
    os.makedirs(path, exist_ok=True)
    cfg = cb.default_config(args)
    cfg["root"] = {"path": rootfs, "readonly": True}
    cfg["linux"]["cgroupsPath"] = f"/{CG_PARENT}/{cid}"
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return path


# --------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------

def stats(ms: list[float]) -> dict:
    return {
        "n": len(ms),
        "mean_ms": statistics.fmean(ms) if ms else None,
        "median_ms": statistics.median(ms) if ms else None,
        "stdev_ms": statistics.stdev(ms) if len(ms) > 1 else 0.0,
        "min_ms": min(ms) if ms else None,
        "max_ms": max(ms) if ms else None,
    }


class Step:
    """One runtime call: stdio to files (never pipes: a created container
    inherits them), a new session (a Ctrl-C must not cut a runtime in half:
    the cleanup deletes what it made)."""

    def __init__(self, workdir: str):
        self.err = os.path.join(workdir, "stderr")
        self.out = os.path.join(workdir, "stdout")

    def __call__(self, argv, capture=False, driver=False) -> tuple[int, int]:
        """``driver``: argv runs the runtime itself (hyperfine): stopped on an
        interrupt, and its whole process group waited for."""
        with open(self.out if capture else os.devnull, "wb") as out, \
                open(self.err, "wb") as err:
            t0 = time.perf_counter_ns()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=err, start_new_session=True)
            try:
                rc = p.wait()
            except KeyboardInterrupt:
                finish(p, driver)
                raise
            t1 = time.perf_counter_ns()
        return rc, t1 - t0

    def check(self, rc, argv) -> None:
        if rc != 0:
            with open(self.err, errors="replace") as f:
                msg = f.read().strip()
            raise BenchError(f"{shlex.join(argv)} exited {rc}: {msg[-800:]}")

    def output(self) -> str:
        with open(self.out, errors="replace") as f:
            return f.read()


def finish(p: subprocess.Popen, driver: bool) -> None:
    """After an interrupt: a runtime call is let finish (cut in half it could
    leave a half-made container the cleanup cannot see); a driver is stopped
    and the runtime call it was running is waited for."""
    if driver:
        try:
            p.terminate()
        except OSError:
            pass
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    if driver:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(p.pid, 0)
            except OSError:
                return
            time.sleep(0.05)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass


_interrupted = False


def _interrupt_once(signum, frame):
    """SIGINT/SIGTERM in a measuring child: one KeyboardInterrupt, then the
    cleanup runs undisturbed (a terminal's Ctrl-C reaches the child directly
    and again through the parent)."""
    global _interrupted
    if not _interrupted:
        _interrupted = True
        raise KeyboardInterrupt


def delete_force(rt: Rt, step: Step, cid: str) -> None:
    if os.path.exists(os.path.join(rt.root, cid)):
        step(rt.cmd("delete", "--force", cid))


def measure_run(rt: Rt, bundle: str, cid: str, runs: int, warmup: int,
                workdir: str, hyperfine: str | None) -> dict:
    argv = rt.cmd("run", "--bundle", bundle, cid)
    try:
        return time_calls(rt, argv, f"{rt.name} run /bin/true", cid, runs,
                          warmup, workdir, hyperfine)
    finally:
        delete_force(rt, Step(workdir), cid)


def measure_exec(rt: Rt, bundle: str, cid: str, runs: int, warmup: int,
                 workdir: str, hyperfine: str | None) -> dict:
    """exec /bin/true into a running container (created and started first)."""
    step = Step(workdir)
    try:
        for argv in (rt.cmd("create", "--bundle", bundle, cid),
                     rt.cmd("start", cid)):
            rc, _ = step(argv)
            step.check(rc, argv)
        return time_calls(rt, rt.cmd("exec", cid, "/bin/true"),
                          f"{rt.name} exec /bin/true", None, runs, warmup,
                          workdir, hyperfine)
    finally:
        delete_force(rt, step, cid)


def time_calls(rt: Rt, argv: list[str], name: str, cid: str | None,
               runs: int, warmup: int, workdir: str,
               hyperfine: str | None) -> dict:
    """argv N times (after W warm-ups), by hyperfine or perf_counter; cid: a
    container to delete before asking again when hyperfine saw a failure."""
    step = Step(workdir)
    if hyperfine:
        js = os.path.join(workdir, "hyperfine.json")
        hf = [hyperfine, "-N", "--style", "none", "--warmup", str(warmup),
              "--runs", str(runs), "--export-json", js,
              "--command-name", name,
              shlex.join(argv)]
        rc, _ = step(hf, driver=True)
        if rc != 0:  # hyperfine hides the runtime's stderr: ask it
            if cid:
                delete_force(rt, step, cid)
            rc2, _ = step(argv)
            step.check(rc2, argv)
            step.check(rc, hf)
        with open(js) as f:
            times = json.load(f)["results"][0]["times"]
        ms = [t * 1e3 for t in times]
        how = "hyperfine"
    else:
        ms = []
        for i in range(warmup + runs):
            rc, ns = step(argv)
            step.check(rc, argv)
            if i >= warmup:
                ms.append(ns / 1e6)
        how = "perf_counter"
    return dict(stats(ms), timer=how, times_ms=ms)


def measure_lifecycle(rt: Rt, bundle: str, cid: str, runs: int, warmup: int,
                      workdir: str) -> dict:
    """create, start, state (must say running), kill KILL, then (untimed) wait
    until state says stopped, and delete --force the stopped container; then the
    floor (python3 -IS -c pass) once in each round, so the floor goals compare
    with an interpreter start-up measured under the same load as the steps."""
    step = Step(workdir)
    pidfile = os.path.join(workdir, "lifecycle.pid")
    names = ("create", "start", "state", "kill", "delete", "floor")
    per = {n: [] for n in names}
    total = []
    try:
        for i in range(warmup + runs):
            if os.path.exists(pidfile):
                os.unlink(pidfile)
            calls = [rt.cmd("create", "--bundle", bundle, "--pid-file",
                            pidfile, cid),
                     rt.cmd("start", cid),
                     rt.cmd("state", cid),
                     rt.cmd("kill", cid, "KILL"),
                     rt.cmd("delete", "--force", cid),
                     FLOOR_ARGV]
            took = []
            for name, argv in zip(names, calls):
                if name == "delete":
                    wait_stopped(rt, step, cid)
                rc, ns = step(argv, capture=(name == "state"))
                step.check(rc, argv)
                took.append(ns / 1e6)
                if name == "state":
                    st = json.loads(step.output()).get("status")
                    if st != "running":
                        raise BenchError(f"{rt.name}: state says {st!r}, "
                                         "want 'running' after start")
            if i >= warmup:
                for n, t in zip(names, took):
                    per[n].append(t)
                total.append(sum(took[:-1]))
    finally:
        delete_force(rt, step, cid)
    out = {"total": dict(stats(total), times_ms=total)}
    for n in names:
        out[n] = stats(per[n])
    return out


def wait_stopped(rt: Rt, step: Step, cid: str, timeout: float = 20) -> None:
    """Poll ``state`` (untimed) until the container says stopped."""
    argv = rt.cmd("state", cid)
    deadline = time.monotonic() + timeout
    while True:
        rc, _ = step(argv, capture=True)
        step.check(rc, argv)
        st = json.loads(step.output()).get("status")
        if st == "stopped":
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{rt.name}: state still says {st!r} "
                             f"{timeout:.0f} s after kill KILL")
        time.sleep(0.005)


def measure_floor(runs: int, warmup: int, workdir: str) -> dict:
    """``/usr/bin/python3 -IS -c pass``: the interpreter's own start-up."""
    step = Step(workdir)
    ms = []
    for i in range(warmup + runs):
        rc, ns = step(FLOOR_ARGV)
        step.check(rc, FLOOR_ARGV)
        if i >= warmup:
            ms.append(ns / 1e6)
    return dict(stats(ms), argv=FLOOR_ARGV, times_ms=ms)


def measure_parallel(rt: Rt, bundles: list[str], ids: list[str], jobs: int,
                     workdir: str) -> dict:
    """One round: len(ids) containers (running /bin/true), each created, started
    and deleted (--force) by one of ``jobs`` workers; its wall time and
    containers per second."""
    import threading
    steps = []
    for j in range(jobs):
        d = os.path.join(workdir, f"par-{j}")
        os.makedirs(d, exist_ok=True)
        steps.append(Step(d))
    try:
        todo = list(zip(bundles, ids))
        lock = threading.Lock()
        errors: list[str] = []
        stop = threading.Event()

        def work(step):
            while not stop.is_set():
                with lock:
                    if not todo:
                        return
                    bundle, cid = todo.pop(0)
                for argv in (rt.cmd("create", "--bundle", bundle, cid),
                             rt.cmd("start", cid),
                             rt.cmd("delete", "--force", cid)):
                    try:
                        rc, _ = step(argv)
                        step.check(rc, argv)
                    except BaseException as e:  # noqa: BLE001
                        with lock:
                            errors.append(str(e))
                        stop.set()
                        return
        threads = [threading.Thread(target=work, args=(st,), daemon=True)
                   for st in steps[:max(1, min(jobs, len(ids)))]]
        t0 = time.perf_counter_ns()
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.1)
        except BaseException:
            stop.set()  # let the workers finish their current call
            for t in threads:
                t.join(120)
            raise
        t1 = time.perf_counter_ns()
        if errors:
            raise BenchError(errors[0])
    finally:
        for cid in ids:
            delete_force(rt, steps[0], cid)
    wall = (t1 - t0) / 1e6
    return {"wall_ms": wall, "cps": len(ids) / (wall / 1e3)}


def read_mem(pid: int) -> tuple[int, int]:
    pss = rss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return pss, rss


def measure_pss(rt: Rt, bundle: str, cid: str, runs: int,
                workdir: str) -> dict:
    step = Step(workdir)
    pidfile = os.path.join(workdir, "pss.pid")
    pss, rss, comm = [], [], ""
    try:
        for _ in range(runs):
            if os.path.exists(pidfile):
                os.unlink(pidfile)
            argv = rt.cmd("create", "--bundle", bundle, "--pid-file", pidfile,
                          cid)
            rc, _ = step(argv)
            step.check(rc, argv)
            with open(pidfile) as f:
                pid = int(f.read().strip())
            p, r = read_mem(pid)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                comm = f.read().replace(b"\0", b" ").decode(errors="replace")
            pss.append(p)
            rss.append(r)
            argv = rt.cmd("delete", "--force", cid)
            rc, _ = step(argv)
            step.check(rc, argv)
    finally:
        delete_force(rt, step, cid)

    def kb(v):
        return {"n": len(v), "median": statistics.median(v),
                "mean": statistics.fmean(v), "min": min(v), "max": max(v)}
    return {"pss_kb": kb(pss), "rss_kb": kb(rss),
            "process": " ".join(comm.split()[:2])}


def measure_runtime(rt: Rt, bundles: dict, ids: dict, runs: int,
                    warmup: int, workdir: str, hyperfine: str | None) -> dict:
    """Measures 0-4 of one runtime (parallel scale: measure_parallel_rounds)."""
    os.makedirs(workdir, exist_ok=True)
    log(f"{rt.name}: python3 -IS -c pass x{runs} (the floor)")
    floor = measure_floor(runs, warmup, workdir)
    log(f"{rt.name}: run /bin/true x{runs}")
    run = measure_run(rt, bundles["run"], ids["run"], runs, warmup, workdir,
                      hyperfine)
    log(f"{rt.name}: lifecycle x{runs}")
    life = measure_lifecycle(rt, bundles["cycle"], ids["cycle"], runs,
                             warmup, workdir)
    log(f"{rt.name}: PSS of the created process x{runs}")
    mem = measure_pss(rt, bundles["pss"], ids["pss"], runs, workdir)
    log(f"{rt.name}: exec /bin/true x{runs}")
    exe = measure_exec(rt, bundles["exec"], ids["exec"], runs, warmup, workdir,
                       hyperfine)
    return {"floor": floor, "run": run, "lifecycle": life, **mem,
            "exec": exe}


def measure_parallel_rounds(rts: list[Rt], par: dict, jobs: int, rounds: int,
                            workdir: str, results: dict) -> None:
    """Parallel scale of every runtime whose other measures worked, ``rounds``
    times, the runtimes in turn and every other round in the reverse order
    (A B C, C B A, A B C, ...): a slow phase of the machine costs each about
    the same.  Each round is one measure_parallel in the runtime's child;
    results[name]["parallel"] gets every round's wall time and containers/s
    and their medians."""
    live = [rt for rt in rts if "error" not in results.get(rt.name, {})]
    walls: dict = {rt.name: [] for rt in live}
    cps: dict = {rt.name: [] for rt in live}
    for r in range(rounds):
        for rt in (live if r % 2 == 0 else live[::-1]):
            if "error" in results[rt.name]:
                continue
            bundles, ids = par[rt.name]
            log(f"{rt.name}: parallel scale, {len(ids)} containers {jobs} at "
                f"a time, round {r + 1} of {rounds}")
            try:
                one = in_child(rt, measure_parallel, rt, bundles, ids, jobs,
                               os.path.join(workdir, f"io-{rt.name}"))
            except BenchError as e:
                log(f"{rt.name} FAILED: {e}")
                if e.tb:
                    log(e.tb)
                results[rt.name] = {"error": str(e)}
                continue
            walls[rt.name].append(one["wall_ms"])
            cps[rt.name].append(one["cps"])
    for rt in live:
        if "error" in results[rt.name] or not cps[rt.name]:
            continue
        results[rt.name]["parallel"] = {
            "containers": len(par[rt.name][1]), "jobs": jobs,
            "rounds": len(cps[rt.name]), "wall_ms": walls[rt.name],
            "cps": cps[rt.name], "cps_median": statistics.median(cps[rt.name]),
            "wall_median_ms": statistics.median(walls[rt.name])}


# --------------------------------------------------------------------------
# cleanup
# --------------------------------------------------------------------------

def cgroup_hierarchies() -> list[str]:
    out = []
    try:
        names = sorted(os.listdir(CG_ROOT))
    except OSError:
        return out
    if os.path.exists(os.path.join(CG_ROOT, "cgroup.controllers")):
        return [CG_ROOT]  # unified (v2 only)
    for n in names:
        p = os.path.join(CG_ROOT, n)
        if os.path.isdir(p) and not os.path.islink(p):
            out.append(p)
    return out


def our_cgroups(token: str) -> list[str]:
    found = []
    for h in cgroup_hierarchies():
        parent = os.path.join(h, CG_PARENT)
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for n in names:
            p = os.path.join(parent, n)
            if token in n and os.path.isdir(p):
                found.append(p)
    return found


def remove_cgroup(path: str) -> bool:
    """Kill what is still in one of OUR cgroups (and its children), rmdir it
    bottom-up."""
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        for _ in range(50):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                pids = []
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    break
                time.sleep(0.05)
    return not os.path.exists(path)


def parents_before() -> set[str]:
    return {os.path.join(h, CG_PARENT) for h in cgroup_hierarchies()
            if os.path.isdir(os.path.join(h, CG_PARENT))}


def make_parents(had_parent: set[str]) -> None:
    """The cgroup parent of the bench's containers, made in every hierarchy before
    any runtime is measured, as an engine's parent (/docker, kubepods, machine.slice)
    is there when a runtime creates a container in it: each runtime then makes and
    removes only its containers' own cgroups.  Without it the first runtime measured
    makes and removes the parent with every container (pyrunc and crun remove an
    empty parent they made; runc leaves it, so the runtimes after it find it there).
    A cpuset parent gets its root's cpus and mems, a cgroup2 one the controllers its
    root enables; cleanup() removes what this made."""
    for h in cgroup_hierarchies():
        parent = os.path.join(h, CG_PARENT)
        if parent in had_parent:
            continue
        try:
            os.mkdir(parent, 0o755)
        except FileExistsError:
            continue
        for name in ("cpuset.cpus", "cpuset.mems"):
            try:
                with open(os.path.join(h, name)) as f:
                    value = f.read().strip()
                with open(os.path.join(parent, name), "w") as f:
                    f.write(value)
            except OSError:
                pass
        try:
            with open(os.path.join(h, "cgroup.subtree_control")) as f:
                enabled = f.read().split()
            if enabled:
                with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                    f.write(" ".join(f"+{c}" for c in enabled))
        except OSError:
            pass


def state_tmpfs(workdir: str, notes: list[str]) -> str:
    """A tmpfs for the runtimes' --root directories and pid files, as /run is one on
    the hosts engines run on: on a disk filesystem each runtime's state writes and
    removals pay for block allocation (ext4 allocates a file renamed over another at
    once; unlinking it then costs ~0.4 ms), which is not what an engine's node pays.
    cleanup() unmounts it (unmount_under(workdir)).  Where it cannot be mounted the
    state stays on workdir's filesystem, and the notes say so."""
    path = os.path.join(workdir, "run")
    os.makedirs(path)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "pyrunc-bench", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        notes.append(f"state roots on {workdir}'s filesystem, not tmpfs: mount: {r.stderr.strip()}")
    return path


def unmount_under(path: str) -> None:
    prefix = os.path.realpath(path).rstrip("/") + "/"
    try:
        mounts = cb.host_mountinfo()
    except OSError:
        return
    for m in sorted(mounts, key=lambda m: -len(m["mountpoint"])):
        if m["mountpoint"].startswith(prefix):
            subprocess.run(["umount", "-l", m["mountpoint"]],
                           capture_output=True)


def cleanup(rts: list[Rt], all_ids: list[str], token: str, workdir: str,
            had_parent: set[str]) -> dict:
    """Best effort, every step whatever failed before it."""
    report = {"leftover_containers": [], "leftover_cgroups": [],
              "unremovable": []}
    for rt in rts:
        left = [c for c in all_ids if rt.root and
                os.path.exists(os.path.join(rt.root, c))]
        if not left:
            continue
        report["leftover_containers"] += [f"{rt.name}:{c}" for c in left]

        def sweep(rt=rt, left=left):
            for c in left:
                subprocess.run(rt.cmd("delete", "--force", c),
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=60, start_new_session=True)
            return True
        try:
            in_child(rt, sweep)
        except BaseException:  # noqa: BLE001 - keep cleaning
            pass
    for cg in our_cgroups(token):
        report["leftover_cgroups"].append(cg)
        if not remove_cgroup(cg):
            report["unremovable"].append(cg)
    for h in cgroup_hierarchies():
        parent = os.path.join(h, CG_PARENT)
        if parent not in had_parent and os.path.isdir(parent):
            try:
                os.rmdir(parent)  # only when empty: others may use it
            except OSError:
                pass
    if workdir and os.path.isdir(workdir):
        unmount_under(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        if os.path.exists(workdir):
            report["unremovable"].append(workdir)
    cb._remove_template()
    return report


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def dig(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


ROWS = [
    ("python3 -IS -c pass mean (ms)", "floor.mean_ms"),
    ("run /bin/true mean (ms)", "run.mean_ms"),
    ("run /bin/true median (ms)", "run.median_ms"),
    ("run /bin/true stdev (ms)", "run.stdev_ms"),
    ("lifecycle total mean (ms)", "lifecycle.total.mean_ms"),
    ("lifecycle total median (ms)", "lifecycle.total.median_ms"),
    ("lifecycle total stdev (ms)", "lifecycle.total.stdev_ms"),
    ("  create mean (ms)", "lifecycle.create.mean_ms"),
    ("  start mean (ms)", "lifecycle.start.mean_ms"),
    ("  state mean (ms)", "lifecycle.state.mean_ms"),
    ("  kill KILL mean (ms)", "lifecycle.kill.mean_ms"),
    ("  delete --force (stopped) mean (ms)", "lifecycle.delete.mean_ms"),
    ("  python3 -IS -c pass between them (ms)", "lifecycle.floor.mean_ms"),
    ("exec /bin/true mean (ms)", "exec.mean_ms"),
    ("exec /bin/true median (ms)", "exec.median_ms"),
    ("exec /bin/true stdev (ms)", "exec.stdev_ms"),
    ("parallel containers/s median", "parallel.cps_median"),
    ("parallel wall median (ms)", "parallel.wall_median_ms"),
    ("PSS waiting process (kB)", "pss_kb.median"),
    ("RSS waiting process (kB)", "rss_kb.median"),
]


def ratios(results: dict) -> dict:
    out = {}
    base = results.get("pyrunc")
    for other in ("runc", "crun"):
        o = results.get(other)
        if not isinstance(base, dict) or not isinstance(o, dict) or \
                "error" in base or "error" in o:
            continue
        r = {}
        for _, path in ROWS:
            a, b = dig(base, path), dig(o, path)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
                    and b:
                r[path] = a / b
        out[f"pyrunc/{other}"] = r
    return out


def goals(results: dict, rat: dict) -> list[dict]:
    out = []

    def ok(name):
        r = results.get(name)
        return r if isinstance(r, dict) and "error" not in r else None
    base = ok("pyrunc")
    for key, label, path, limit, kind in GOALS:
        g = {"goal": key, "label": label, "limit": limit, "kind": kind,
             "status": "n/a"}
        mine = dig(base, path) if base else None
        if kind in ("ratio", "ratio_min"):
            v = rat.get("pyrunc/runc", {}).get(path)
            if v is not None:
                good = v <= limit if kind == "ratio" else v >= limit
                g.update(value=v, pyrunc=mine, runc=dig(ok("runc"), path),
                         status="PASS" if good else "MISS")
        elif kind == "plus_crun":
            other = dig(ok("crun"), path) if ok("crun") else None
            if mine is not None and other is not None:
                v = mine - other
                g.update(value=v, pyrunc=mine, crun=other,
                         status="PASS" if v <= limit else "MISS")
        elif kind == "floor":
            # the floor measured between the lifecycle steps (same load), else
            # the separate floor phase (a JSON file of an older bench)
            floor = (dig(base, "lifecycle.floor.mean_ms") or dig(base, "floor.mean_ms")) if base else None
            if mine is not None and floor is not None:
                v = mine - floor
                g.update(value=v, pyrunc=mine, floor=floor,
                         status="PASS" if v <= limit else "MISS")
        elif mine is not None:
            g.update(value=mine, status="PASS" if mine <= limit else "MISS")
        out.append(g)
    return out


def goal_detail(g: dict) -> str:
    if "value" not in g:
        return "(no numbers)"
    v, k = g["value"], g["kind"]
    if k == "abs":
        return f"({v:.0f} kB)"
    if k == "floor":
        return (f"(+{v:.2f} ms: pyrunc {g['pyrunc']:.2f} ms, python3 "
                f"{g['floor']:.2f} ms)")
    if k == "plus_crun":
        return (f"({v:+.2f} ms: pyrunc {g['pyrunc']:.2f} ms, crun "
                f"{g['crun']:.2f} ms)")
    unit = "containers/s" if k == "ratio_min" else "ms"
    return (f"({v:.2f}x: pyrunc {g['pyrunc']:.2f} {unit}, "
            f"runc {g['runc']:.2f} {unit})")


def fmt(v, path) -> str:
    if v is None:
        return "-"
    if path.startswith(("pss", "rss")):
        return f"{v:.0f}"
    return f"{v:.2f}"


def table(doc: dict, previous: dict | None = None) -> str:
    names = list(doc["runtimes"])
    res = doc["results"]
    rat = dict(doc["ratios"])
    prev = (previous or {}).get("results", {}).get("pyrunc")
    if previous is not None:
        now = res.get("pyrunc")
        r = {}
        if isinstance(prev, dict) and "error" not in prev and \
                isinstance(now, dict) and "error" not in now:
            for _, path in ROWS:
                x, y = dig(now, path), dig(prev, path)
                if isinstance(x, (int, float)) and \
                        isinstance(y, (int, float)) and y:
                    r[path] = x / y
        rat["pyrunc now/then"] = r
    rcols = list(rat)
    w0 = max(len(r[0]) for r in ROWS) + 2
    lines = []
    timer = doc["timer"]
    lines.append(f"pyrunc bench: {doc['runs']} runs (+{doc['warmup']} warm-up) "
                 f"per measure; run timed by {timer}")
    par = doc.get("parallel") or {}
    if par:
        lines.append(f"parallel scale: {par['containers']} containers "
                     f"created, started, deleted {par['jobs']} at a time, "
                     f"x{par['rounds']}")
    for n in names:
        lines.append(f"  {n:7} {' '.join(doc['runtimes'][n]['argv'])}  "
                     f"({doc['runtimes'][n]['version']})")
    lines.append(f"  commit  {doc.get('commit') or '-'}")
    if previous is not None:
        lines.append(f"  then    pyrunc of {doc['compared_with']['file']} "
                     f"(commit {previous.get('commit') or '-'})")
    lines.append("")
    head = f"{'measure':<{w0}}" + "".join(f"{n:>11}" for n in names) + \
        "".join(f"{c:>{max(14, len(c) + 2)}}" for c in rcols)
    lines.append(head)
    lines.append("-" * len(head))
    for label, path in ROWS:
        row = f"{label:<{w0}}"
        for n in names:
            r = res.get(n)
            v = dig(r, path) if isinstance(r, dict) and "error" not in r \
                else None
            row += f"{fmt(v, path) if r and 'error' not in r else 'error':>11}"
        for c in rcols:
            v = rat[c].get(path)
            row += f"{(f'{v:.2f}x' if v is not None else '-'):>{max(14, len(c) + 2)}}"
        lines.append(row)
    for n in names:
        r = res.get(n)
        if isinstance(r, dict) and "process" in r:
            lines.append(f"  waiting process of {n}: {r['process']}")
    lines.append("")
    lines.append("goals:")
    for g in doc["goals"]:
        detail = goal_detail(g)
        lines.append(f"  {g['status']:<4}  {g['label']}  {detail}")
    errs = {n: r["error"] for n, r in res.items()
            if isinstance(r, dict) and "error" in r}
    if errs:
        lines.append("")
        lines.append("errors:")
        for n, e in errs.items():
            lines.append(f"  {n}: {e}")
    notes = list(doc["notes"])
    cl = doc.get("cleanup") or {}
    if cl.get("leftover_containers"):
        notes.append("containers left behind (deleted by the bench): " +
                     ", ".join(cl["leftover_containers"]))
    if cl.get("leftover_cgroups"):
        notes.append("cgroups left behind (removed by the bench): " +
                     ", ".join(cl["leftover_cgroups"]))
    if cl.get("unremovable"):
        notes.append("COULD NOT REMOVE: " + ", ".join(cl["unremovable"]))
    if notes:
        lines.append("")
        lines.append("notes:")
        lines += [f"  - {n}" for n in notes]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python3 -m bench",
        description="Measure pyrunc side by side with runc and crun.")
    p.add_argument("--runs", type=int, default=20,
                   help="measured repetitions per measure (default 20)")
    p.add_argument("--warmup", type=int, default=None,
                   help="warm-up repetitions (default min(3, runs))")
    p.add_argument("--runtimes", default=",".join(KNOWN),
                   help="comma-separated subset of pyrunc,runc,crun")
    p.add_argument("--json", nargs="?", const="-", default=None,
                   metavar="FILE",
                   help="every number as JSON: alone, printed instead of the "
                        "table; with FILE, written there (the table is still "
                        "printed) to compare commits with --compare")
    p.add_argument("--compare", metavar="FILE", default=None,
                   help="a JSON file of an earlier run (--json FILE): adds "
                        "its pyrunc numbers and pyrunc now/then to the table")
    p.add_argument("--parallel", type=int, default=PARALLEL,
                   help=f"containers of the parallel-scale measure (default "
                        f"{PARALLEL})")
    p.add_argument("--parallel-jobs", type=int, default=PARALLEL_JOBS,
                   help=f"how many at a time (default {PARALLEL_JOBS})")
    p.add_argument("--parallel-rounds", type=int, default=PARALLEL_ROUNDS,
                   help="rounds of the parallel-scale measure, the runtimes "
                        f"in turn (default {PARALLEL_ROUNDS})")
    p.add_argument("--no-hyperfine", action="store_true",
                   help="time `run` with perf_counter even if hyperfine is "
                        "installed")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a goal is MISSed")
    a = p.parse_args(argv)
    if a.runs < 1:
        p.error("--runs must be >= 1")
    if a.parallel < 1 or a.parallel_jobs < 1 or a.parallel_rounds < 1:
        p.error("--parallel, --parallel-jobs and --parallel-rounds must be "
                ">= 1")
    if a.warmup is None:
        a.warmup = min(3, a.runs)
    a.previous = None
    if a.compare:
        try:
            with open(a.compare) as f:
                a.previous = json.load(f)
            if not isinstance(a.previous, dict) or \
                    not isinstance(a.previous.get("results"), dict):
                raise ValueError("not a bench --json document")
        except (OSError, ValueError) as e:
            p.error(f"--compare {a.compare}: {e}")
    names = [n.strip() for n in a.runtimes.split(",") if n.strip()]
    bad = [n for n in names if n not in KNOWN]
    if bad or not names:
        p.error(f"unknown runtime(s) {bad}: choose from {','.join(KNOWN)}")
    a.names = list(dict.fromkeys(names))
    return a


def git_commit() -> str | None:
    """The commit measured (with "-dirty" when the tree has changes)."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=20)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip()
                                      else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        log("needs root (containers with namespaces and cgroups)")
        return 2
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    old_hup = signal.signal(signal.SIGHUP, _raise_interrupt)

    notes = []
    rts: list[Rt] = []
    for n in a.names:
        argv_ = find_runtime(n)
        if argv_ is None:
            notes.append(f"{n}: not installed, skipped")
            continue
        rts.append(Rt(n, argv_))
    if not rts:
        log("no runtime to measure")
        return 2
    hyperfine = None if a.no_hyperfine else shutil.which("hyperfine")
    timer = "hyperfine -N" if hyperfine else "time.perf_counter_ns"

    token = uuid.uuid4().hex[:8]
    all_ids: list[str] = []
    workdir = ""
    had_parent = parents_before()
    results: dict = {}
    cleanup_report: dict = {}
    interrupted = False
    try:
        workdir = tempfile.mkdtemp(prefix="pyrunc-bench-")
        log(f"building the busybox rootfs in {workdir}")
        rootfs = cb.make_rootfs(os.path.join(workdir, "rootfs"))
        cb._remove_template()
        make_parents(had_parent)
        run_dir = state_tmpfs(workdir, notes)
        for rt in rts:
            rt.root = os.path.join(run_dir, f"root-{rt.name}")
            os.makedirs(rt.root)
            rt.version = runtime_version(rt.argv)
            if rt.name == "crun" and hybrid_with_v2_controllers():
                rt.hide_unified = True
                notes.append(
                    "crun: this hybrid host has controllers on cgroup2, which "
                    "crun 1.8 refuses; crun ran in a private mount namespace "
                    "without /sys/fs/cgroup/unified (v1 cgroups only, set up "
                    "once: no per-call cost)")
        par = {}
        for rt in rts:
            ids = {s: f"bench-{token}-{rt.name}-{s}"
                   for s in ("run", "cycle", "pss", "exec")}
            all_ids += ids.values()
            par_ids = [f"bench-{token}-{rt.name}-par{i}"
                       for i in range(a.parallel)]
            all_ids += par_ids
            par_bundles = [write_bundle(os.path.join(workdir, "b", c), rootfs,
                                        ["/bin/true"], c) for c in par_ids]
            par[rt.name] = (par_bundles, par_ids)
            bundles = {
                "run": write_bundle(os.path.join(workdir, "b", ids["run"]),
                                    rootfs, ["/bin/true"], ids["run"]),
                "cycle": write_bundle(os.path.join(workdir, "b",
                                                   ids["cycle"]),
                                      rootfs, SLEEP, ids["cycle"]),
                "pss": write_bundle(os.path.join(workdir, "b", ids["pss"]),
                                    rootfs, SLEEP, ids["pss"]),
                "exec": write_bundle(os.path.join(workdir, "b", ids["exec"]),
                                     rootfs, SLEEP, ids["exec"]),
            }
            try:
                results[rt.name] = in_child(
                    rt, measure_runtime, rt, bundles, ids, a.runs, a.warmup,
                    os.path.join(run_dir, f"io-{rt.name}"), hyperfine)
            except BenchError as e:
                log(f"{rt.name} FAILED: {e}")
                if e.tb:
                    log(e.tb)
                results[rt.name] = {"error": str(e)}
        measure_parallel_rounds(rts, par, a.parallel_jobs, a.parallel_rounds,
                                run_dir, results)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            cleanup_report = cleanup(rts, all_ids, token, workdir, had_parent)
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGHUP, old_hup)
    if interrupted:
        return 130

    rat = ratios(results)
    doc = {
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": a.runs, "warmup": a.warmup, "timer": timer,
        "parallel": {"containers": a.parallel, "jobs": a.parallel_jobs,
                     "rounds": a.parallel_rounds},
        "runtimes": {rt.name: {"argv": rt.argv, "version": rt.version,
                               "private_ns_without_unified": rt.hide_unified}
                     for rt in rts},
        "results": results,
        "ratios": rat,
        "goals": goals(results, rat),
        "notes": notes,
        "cleanup": cleanup_report,
    }
    if a.previous is not None:
        doc["compared_with"] = {"file": a.compare,
                                "commit": a.previous.get("commit")}
    if a.json and a.json != "-":
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, a.json)
    if a.json == "-":
        print(json.dumps(doc, indent=2))
    else:
        print(table(doc, a.previous))
    failed = any(isinstance(r, dict) and "error" in r
                 for r in results.values()) or \
        bool(cleanup_report.get("unremovable"))
    if failed:
        return 1
    if a.strict and any(g["status"] == "MISS" for g in doc["goals"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
