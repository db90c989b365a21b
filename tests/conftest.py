"""Fixtures for real-container tests against any runc-compatible runtime.

The runtime under test is ``$PYRUNC_TEST_RUNTIME`` (default ``pyrunc``: on
PATH or next to sys.executable).  Every test gets its own short temp dir with
a private ``--root`` state dir, a bundle factory, unique container ids, and
an autouse leak guard that fails the test (as a teardown error) if it leaves
mounts, cgroups, processes or network namespaces behind.  Other sessions may
run containers on the same host at the same time: the guard attributes to a
test only what carries its token (container ids, temp dirs, the
PYRUNC_TEST_TAG env of its containers) or lies outside every temp dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from conformance import bundle as cb  # noqa: E402

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_MARKERS = ("pyrunc", "pytest")


# --------------------------------------------------------------------------
# runtime selection
# --------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pyrunc_only: needs a pyrunc-only feature; skipped when the "
        "runtime under test is not pyrunc")
    config.addinivalue_line(
        "markers", "not_runc: spec behaviour that runc 1.1.5 gets wrong; "
        "skipped when the runtime under test is runc")


def pytest_report_header(config):
    argv = cb.resolve_runtime()
    return [f"runtime under test: {' '.join(argv)} "
            f"({cb.runtime_name(argv)})"]


@pytest.fixture(scope="session")
def runtime_argv():
    argv = cb.resolve_runtime()
    if not cb.runtime_available(argv):
        msg = (f"runtime {' '.join(argv)!r} not found (set "
               f"PYRUNC_TEST_RUNTIME)")
        if os.environ.get("PYRUNC_TEST_REQUIRE_RUNTIME"):
            pytest.fail(msg)
        pytest.skip(msg)
    if os.geteuid() != 0:
        pytest.skip("real-container tests need root")
    return argv


@pytest.fixture(scope="session")
def runtime_kind(runtime_argv):
    return cb.runtime_name(runtime_argv)


@pytest.fixture(autouse=True)
def _runtime_markers(request):
    if request.node.get_closest_marker("pyrunc_only") or \
            request.node.get_closest_marker("not_runc"):
        kind = cb.runtime_name(cb.resolve_runtime())
        if request.node.get_closest_marker("pyrunc_only") and kind != "pyrunc":
            pytest.skip(f"pyrunc-only feature (runtime under test: {kind})")
        if request.node.get_closest_marker("not_runc") and kind == "runc":
            pytest.skip("runc 1.1.5 deviates from the spec here")


def pytest_sessionfinish(session, exitstatus):
    # the busybox rootfs template is built lazily by the first bundle (so
    # unit tests sharing this conftest never need busybox); remove it here
    cb._remove_template()


# --------------------------------------------------------------------------
# leak guard
# --------------------------------------------------------------------------

def _mount_keys(own_dir: str) -> set:
    tmp = os.path.realpath(tempfile.gettempdir()).rstrip("/") + "/"
    keys = set()
    for m in cb.host_mountinfo():
        mp = m["mountpoint"]
        # other sessions' temp dirs are theirs: only ours and host paths
        if mp.startswith(tmp) and not mp.startswith(own_dir):
            continue
        keys.add((mp, m["root"], m["fstype"], m["source"]))
    return keys


def _cgroup_dirs() -> set:
    found = set()
    try:
        hierarchies = os.listdir(CGROUP_ROOT)
    except OSError:
        return found
    for h in hierarchies:
        top = os.path.join(CGROUP_ROOT, h)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for dirpath, dirnames, _ in os.walk(top):
            if dirpath[len(top):].count("/") >= 8:
                dirnames[:] = []
            for d in dirnames:
                if any(mk in d for mk in CGROUP_MARKERS):
                    found.add(os.path.join(dirpath, d))
    return found


def _netns() -> set:
    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True,
                             text=True, timeout=10).stdout
        return {line.split()[0] for line in out.splitlines() if line.strip()}
    except (OSError, subprocess.SubprocessError):
        try:
            return set(os.listdir("/run/netns"))
        except OSError:
            return set()


def _tagged_procs(markers: list[str], tag: str) -> dict[int, str]:
    """Processes (not us) whose cmdline mentions one of ``markers`` or whose
    environment carries the test's tag."""
    me = os.getpid()
    found = {}
    tagb = f"{cb.TAG_VAR}={tag}".encode()
    mb = [m.encode() for m in markers]
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        hit = any(m in cmd for m in mb)
        if not hit:
            # a created container's init runs the runtime's code, with the
            # runtime's environment: find it through its cgroup
            try:
                with open(f"/proc/{p}/cgroup", "rb") as f:
                    hit = tag.encode() in f.read()
            except OSError:
                pass
        if not hit:
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    hit = tagb in f.read().split(b"\0")
            except OSError:
                pass
        if hit and cb.pid_alive(int(p)):
            found[int(p)] = cmd.replace(b"\0", b" ").decode(errors="replace")
    return found


class LeakGuard:
    def __init__(self, own_dir: str, markers: list[str], tag: str):
        self.own_dir = own_dir.rstrip("/") + "/"
        self.markers = markers
        self.tag = tag
        self.mounts = _mount_keys(self.own_dir)
        self.cgroups = _cgroup_dirs()
        self.netns = _netns()
        self.procs = set(_tagged_procs(markers, tag))

    def leaks(self) -> dict:
        out = {}
        procs = {p: c for p, c in _tagged_procs(self.markers, self.tag).items()
                 if p not in self.procs}
        if procs:
            out["processes"] = procs
        m = _mount_keys(self.own_dir) - self.mounts
        if m:
            out["mounts"] = sorted(m)
        c = {d for d in _cgroup_dirs() - self.cgroups
             if self._ours(d, procs)}
        if c:
            out["cgroups"] = sorted(c)
        n = _netns() - self.netns
        if n:
            out["netns"] = sorted(n)
        return out

    def _ours(self, cgdir: str, procs: dict) -> bool:
        """A new pyrunc/pytest cgroup is this test's if its path carries the
        test's token (every container id does) or it holds one of the test's
        processes: other sessions may create such cgroups concurrently."""
        if self.tag in cgdir:
            return True
        try:
            with open(os.path.join(cgdir, "cgroup.procs")) as f:
                pids = {int(x) for x in f.read().split()}
        except (OSError, ValueError):
            return False
        return bool(pids & set(procs))

    def check(self, grace: float = 3.0) -> dict:
        """Leaks still present after ``grace`` seconds (exits are async)."""
        deadline = time.monotonic() + grace
        while True:
            leaks = self.leaks()
            if not leaks or time.monotonic() > deadline:
                return leaks
            time.sleep(0.1)

    def clean(self, leaks: dict) -> None:
        """Best-effort removal of what this test leaked (only ours)."""
        for pid in leaks.get("processes", {}):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)
        for mp, *_ in sorted(leaks.get("mounts", []), key=lambda k: -len(k[0])):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        for cg in sorted(leaks.get("cgroups", []), key=len, reverse=True):
            if self.tag in cg:
                for _ in range(10):
                    try:
                        os.rmdir(cg)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.1)


def _unmount_under(path: str) -> None:
    prefix = os.path.realpath(path).rstrip("/") + "/"
    for m in sorted(cb.host_mountinfo(), key=lambda m: -len(m["mountpoint"])):
        if m["mountpoint"].startswith(prefix):
            subprocess.run(["umount", "-l", m["mountpoint"]],
                           capture_output=True)


def safe_rmtree(path: str) -> None:
    """rmtree that never descends into a mount (unmounts ours first)."""
    if os.path.isdir(path):
        _unmount_under(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def token():
    """Unique per-test token: part of every container id and temp path."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def tdir(token):
    """A short per-test temp dir (short: runtimes may put sockets in it)."""
    d = tempfile.mkdtemp(prefix=f"pyrunc-{token}-")
    yield d
    safe_rmtree(d)


@pytest.fixture
def leak_guard(tdir, token):
    guard = LeakGuard(tdir, [tdir], token)
    yield guard
    leaks = guard.check()
    if leaks:
        guard.clean(leaks)
        lines = [f"test leaked {k}: {v}" for k, v in leaks.items()]
        pytest.fail("\n".join(lines), pytrace=False)


@pytest.fixture(autouse=True)
def _autoguard(request):
    """Arm the leak guard for every test that touches the runtime."""
    if "rt" in request.fixturenames or "make_bundle" in request.fixturenames:
        request.getfixturevalue("leak_guard")
    yield


# --------------------------------------------------------------------------
# runtime, ids, bundles
# --------------------------------------------------------------------------

@pytest.fixture
def rt(runtime_argv, tdir, leak_guard):
    """The runtime under test with a private ``--root``; every container it
    created is ``delete --force``d at teardown (before the leak check)."""
    r = cb.Runtime(runtime_argv, os.path.join(tdir, "state"),
                   workdir=os.path.join(tdir, "io"))
    yield r
    r.cleanup()


@pytest.fixture
def new_cid(token):
    n = [0]

    def make(prefix: str = "pytest") -> str:
        n[0] += 1
        return f"{prefix}-{token}-{n[0]}"
    return make


@pytest.fixture
def cid(new_cid):
    return new_cid()


@pytest.fixture
def make_bundle(tdir, token, leak_guard):
    """make_bundle(args, **overrides) -> written Bundle (see default_config);
    pass ``write=False`` to get an unwritten one to tweak first."""
    n = [0]

    def make(args=None, write=True, **overrides) -> cb.Bundle:
        n[0] += 1
        cfg = cb.default_config(args, **overrides)
        b = cb.Bundle(os.path.join(tdir, f"bundle{n[0]}"), cfg, tag=token)
        if write:
            b.write()
        return b
    return make
