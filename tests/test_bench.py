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
    if bench.find_runtime("pyrunc") is None:
        pytest.skip("pyrunc is not installed")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = _cgroup_entries()
    env = dict(os.environ, TMPDIR=str(tmp))
    r = subprocess.run([sys.executable, "-m", "bench", "--runs", "2",
                        "--warmup", "1", *args], cwd=REPO, env=env,
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


def test_bench_json_pyrunc_without_hyperfine(tmp_path):
    r = _run_bench(tmp_path, "--json", "--no-hyperfine",
                   "--runtimes", "pyrunc")
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    doc = json.loads(r.stdout)
    assert doc["timer"] == "time.perf_counter_ns"
    res = doc["results"]["pyrunc"]
    assert "error" not in res
    assert res["run"]["n"] == 2 and len(res["run"]["times_ms"]) == 2
    assert res["lifecycle"]["total"]["n"] == 2
    for step in ("create", "start", "state", "delete"):
        assert res["lifecycle"][step]["n"] == 2
    assert res["pss_kb"]["n"] == 2 and res["pss_kb"]["median"] > 0
    assert res["rss_kb"]["median"] >= res["pss_kb"]["median"] > 0
    assert res["exec"]["n"] == 2 and len(res["exec"]["times_ms"]) == 2
    assert [g["goal"] for g in doc["goals"]] == ["run_true", "lifecycle",
                                                 "pss", "exec"]
    assert doc["cleanup"] == {"leftover_containers": [],
                              "leftover_cgroups": [], "unremovable": []}


def test_bench_rejects_unknown_runtime():
    with pytest.raises(SystemExit):
        bench.parse_args(["--runtimes", "docker"])


def test_bench_failing_runtime_is_reported_and_cleaned(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRUNC", "/bin/false")
    r = _run_bench(tmp_path, "--runtimes", "pyrunc")
    assert r.returncode == 1
    assert "errors:" in r.stdout and "pyrunc:" in r.stdout
    assert "Traceback" not in r.stdout
