"""The benchmark completes in a tiny quick mode, prints its table (or JSON),
and leaves nothing behind.  No timing assertions: goals are the benchmark's
business, never a test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench import run as bench  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the benchmark needs root")


def _cgroup_entries() -> set:
    out = set()
    for h in bench.cgroup_hierarchies():
        parent = os.path.join(h, bench.CG_PARENT)
        out.add(parent if os.path.isdir(parent) else None)
        try:
            out |= {os.path.join(parent, n) for n in os.listdir(parent)
                    if os.path.isdir(os.path.join(parent, n))}
        except OSError:
            pass
    out.discard(None)
    return out


def _procs_mentioning(text: str) -> list[str]:
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{p}: {cmd}")
    return found


def _run_bench(tmp_path, *args):
    env = dict(os.environ)
    # the runtime under test (PYRUNC_TEST_RUNTIME), unless a test set PYRUNC
    if "PYRUNC" not in env and env.get("PYRUNC_TEST_RUNTIME"):
        env["PYRUNC"] = env["PYRUNC_TEST_RUNTIME"]
    with pytest.MonkeyPatch.context() as mp:
        if "PYRUNC" in env:
            mp.setenv("PYRUNC", env["PYRUNC"])
        if bench.find_runtime("pyrunc") is None:
            pytest.skip("pyrunc is not installed")
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    before = _cgroup_entries()
    env["TMPDIR"] = str(tmp)
    r = subprocess.run([sys.executable, "-m", "bench", "--runs", "2",
                        "--warmup", "1", "--parallel", "3",
                        "--parallel-jobs", "2", *args], cwd=REPO, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=600)
    # nothing left: temp dirs (rootfs, bundles, --root dirs), cgroups,
    # processes
    assert os.listdir(tmp) == [], f"left in TMPDIR: {os.listdir(tmp)}"
    assert _cgroup_entries() - before == set()
    assert _procs_mentioning(str(tmp)) == []
    return r


def test_bench_table(tmp_path):
    r = _run_bench(tmp_path)
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    out = r.stdout
    assert "Traceback" not in r.stderr
    for label, _ in bench.ROWS:
        assert label in out
    assert "goals:" in out
    for _, label, *_ in bench.GOALS:
        assert label in out
    header = next(l for l in out.splitlines() if l.startswith("measure"))
    assert "pyrunc" in header
    for other in ("runc", "crun"):
        if bench.find_runtime(other):
            assert other in header and f"pyrunc/{other}" in header
    assert "error" not in out.split("goals:")[0]


def _check_doc(doc):
    assert doc["commit"] is None or len(doc["commit"].split("-")[0]) == 40
    assert doc["parallel"] == {"containers": 3, "jobs": 2, "rounds": bench.PARALLEL_ROUNDS}
    res = doc["results"]["pyrunc"]
    assert "error" not in res
    assert res["floor"]["n"] == 2 and res["floor"]["argv"] == \
        bench.FLOOR_ARGV
    par = res["parallel"]
    assert par["containers"] == 3 and par["jobs"] == 2
    # one sample per round (the rounds take the runtimes in turn)
    assert par["rounds"] == len(par["cps"]) == len(par["wall_ms"]) == bench.PARALLEL_ROUNDS
    assert par["cps_median"] > 0 and par["wall_median_ms"] > 0
    # containers/s is the containers over the wall time of each round
    for cps, wall in zip(par["cps"], par["wall_ms"]):
        assert abs(cps * wall / 1e3 - 3) < 1e-6
    assert [g["goal"] for g in doc["goals"]] == [g[0] for g in bench.GOALS]
    for g in doc["goals"]:
        assert g["status"] in ("PASS", "MISS", "n/a")
        if g["kind"] == "floor":
            assert g["status"] != "n/a"
            # the floor measured between the lifecycle steps, once per round
            assert res["lifecycle"]["floor"]["n"] == 2
            assert g["floor"] == res["lifecycle"]["floor"]["mean_ms"]


def test_bench_json_pyrunc_without_hyperfine(tmp_path):
    r = _run_bench(tmp_path, "--json", "--no-hyperfine",
                   "--runtimes", "pyrunc")
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    doc = json.loads(r.stdout)
    _check_doc(doc)
    assert doc["timer"] == "time.perf_counter_ns"
    res = doc["results"]["pyrunc"]
    assert "error" not in res
    assert res["run"]["n"] == 2 and len(res["run"]["times_ms"]) == 2
    assert res["lifecycle"]["total"]["n"] == 2
    for step in ("create", "start", "state", "kill", "delete"):
        assert res["lifecycle"][step]["n"] == 2
    assert res["pss_kb"]["n"] == 2 and res["pss_kb"]["median"] > 0
    assert res["rss_kb"]["median"] >= res["pss_kb"]["median"] > 0
    assert res["exec"]["n"] == 2 and len(res["exec"]["times_ms"]) == 2
    assert [g["goal"] for g in doc["goals"]] == [
        "start", "state", "kill", "delete", "run_true", "create", "exec",
        "parallel", "pss"]
    assert doc["cleanup"] == {"leftover_containers": [],
                              "leftover_cgroups": [], "unremovable": []}


def test_bench_json_file_and_compare(tmp_path):
    """--json FILE keeps the numbers (the table is still printed); a later
    run --compare FILE shows them beside its own."""
    out = tmp_path / "then.json"
    r = _run_bench(tmp_path, "--json", str(out), "--no-hyperfine",
                   "--runtimes", "pyrunc")
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "goals:" in r.stdout and "parallel containers/s" in r.stdout
    doc = json.loads(out.read_text())
    _check_doc(doc)
    r = _run_bench(tmp_path, "--compare", str(out), "--no-hyperfine",
                   "--runtimes", "pyrunc")
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    header = next(l for l in r.stdout.splitlines()
                  if l.startswith("measure"))
    assert "pyrunc now/then" in header
    row = next(l for l in r.stdout.splitlines()
               if l.startswith("parallel containers/s"))
    assert row.rstrip().endswith("x")


@pytest.mark.parametrize("args", [["--parallel", "0"],
                                  ["--parallel-jobs", "0"],
                                  ["--compare", "/nonexistent/then.json"]])
def test_bench_rejects_bad_arguments(args, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(args)
    err = capsys.readouterr().err
    assert args[0] in err


def test_bench_rejects_unknown_runtime():
    with pytest.raises(SystemExit):
        bench.parse_args(["--runtimes", "docker"])


def test_bench_failing_runtime_is_reported_and_cleaned(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRUNC", "/bin/false")
    r = _run_bench(tmp_path, "--runtimes", "pyrunc")
    assert r.returncode == 1
    assert "errors:" in r.stdout and "pyrunc:" in r.stdout
    assert "Traceback" not in r.stdout
