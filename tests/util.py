"""Helpers shared by the real-container tests."""

from __future__ import annotations

import json
import os
import time

from conformance import bundle as cb
from conformance.bundle import (CHECKER, checker_args, shell,  # noqa: F401
                                parse_report, pid_alive, cap_bits)


_ENOSYS_WRAPPER = r"""
import ctypes, os, sys
s = ctypes.CDLL("libseccomp.so.2")
s.seccomp_init.restype = ctypes.c_void_p
s.seccomp_init.argtypes = [ctypes.c_uint32]
s.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
s.seccomp_load.argtypes = [ctypes.c_void_p]
ctx = s.seccomp_init(0x7FFF0000)  # SCMP_ACT_ALLOW
n = int(sys.argv[1])
for name in sys.argv[2:2 + n]:
    nr = s.seccomp_syscall_resolve_name(name.encode())
    assert nr > 0 and s.seccomp_rule_add(ctx, 0x00050000 | 38, nr, 0) == 0  # SCMP_ACT_ERRNO(ENOSYS)
assert s.seccomp_load(ctx) == 0
os.execv(sys.argv[2 + n], sys.argv[2 + n:])
"""


def without_syscalls(names, argv) -> list[str]:
    """argv run under a seccomp filter that answers ENOSYS to the system calls
    ``names`` (an older kernel, or a sandbox), inherited by all it starts."""
    import sys

    return [sys.executable, "-c", _ENOSYS_WRAPPER, str(len(names)), *names, *argv]


def check_run(rt, cid, bundle, timeout=30, input=None) -> cb.Result:
    """Foreground ``run`` that must succeed."""
    r = rt.run(cid, bundle, timeout=timeout, input=input)
    assert r.rc == 0, f"run failed: {r}"
    return r


def checker(rt, cid, make_bundle, *sections, **overrides) -> cb.Report:
    """Run the in-container checker with the given sections/probes in a
    default container (plus ``overrides``) and return its parsed report."""
    b = make_bundle(checker_args(*sections), **overrides)
    return report_of(rt, cid, b)


def report_of(rt, cid, bundle) -> cb.Report:
    r = rt.run(cid, bundle, timeout=30)
    assert r.rc == 0, f"checker container failed: {r}"
    rep = parse_report(r.out)
    assert rep.complete, f"checker output incomplete: {r}"
    return rep


def sh_out(rt, cid, make_bundle, script, **overrides) -> str:
    """Run ``sh -c script`` in a container; return stdout (rc must be 0)."""
    b = make_bundle(shell(script), **overrides)
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, f"container failed: {r}"
    return r.out


def assert_error(r: cb.Result, rt=None) -> None:
    """A failed CLI call: non-zero exit and, for pyrunc, one clean line."""
    assert r.rc != 0, f"expected failure, got success: {r}"
    assert "Traceback" not in r.err, f"python traceback on stderr: {r.err}"
    if rt is not None and rt.name == "pyrunc":
        lines = [l for l in r.err.splitlines() if l.strip()]
        assert len(lines) == 1, f"expected a one-line error message: {r.err!r}"


def create_running(rt, cid, bundle, pid_file=None, stdout_path=None) -> int:
    """create + start; returns the container's host pid."""
    r = rt.create(cid, bundle, pid_file=pid_file, stdout_path=stdout_path)
    assert r.rc == 0, f"create failed: {r}"
    r = rt.start(cid)
    assert r.rc == 0, f"start failed: {r}"
    st = rt.state(cid)
    assert st["status"] == "running", st
    return st["pid"]


def wait_for(pred, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def wait_file(path, content=None, timeout=10.0) -> str:
    """Wait until ``path`` exists (and contains ``content``); its text."""
    def ok():
        try:
            with open(path) as f:
                t = f.read()
        except OSError:
            return None
        if content is None or content in t:
            return t or True
        return None
    v = wait_for(ok, timeout)
    assert v, f"{path} never appeared (content {content!r})"
    return open(path).read()


def wait_stopped_at(stop_file, step, timeout=30.0):
    """Wait until a pyrunc run with PYRUNC_TEST_STOP_AT=step and PYRUNC_TEST_STOP_FILE=
    stop_file has stopped there: the pid it wrote ("<step> <pid>"), or None."""
    def stopped_pid():
        try:
            with open(stop_file) as f:
                words = f.read().split()
        except FileNotFoundError:
            return None
        return int(words[1]) if len(words) >= 2 and words[0] == step else None
    return wait_for(stopped_pid, timeout=timeout)


def wait_dead(pid, timeout=10.0) -> bool:
    return wait_for(lambda: not pid_alive(pid), timeout)


def state_dir_exists(rt, cid) -> bool:
    return os.path.exists(os.path.join(rt.root, cid))


def list_ids(rt) -> list[str]:
    r = rt.list("--format", "json")
    assert r.rc == 0, r
    data = json.loads(r.out or "null") or []
    return [c["id"] for c in data]


def cgroup_dirs_named(cid) -> list[str]:
    """The directories named `cid` in every cgroup hierarchy (up to 6 levels deep)."""
    found = []
    for h in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", h)
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        for dirpath, dirnames, _ in os.walk(top):
            if dirpath[len(top):].count("/") >= 6:
                dirnames[:] = []
            if cid in dirnames:
                found.append(os.path.join(dirpath, cid))
    return found


def host_cgroup_of(pid) -> dict:
    """controller(s) -> path for a host pid, from /proc/PID/cgroup."""
    d = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrl, path = line.rstrip("\n").split(":", 2)
            d[ctrl] = path
    return d


def write_hook(path, log, name=None) -> str:
    """A host hook script: appends '<name> <state-json>' to ``log``."""
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                "s=$(cat)\n"
                f'echo "${{1:-{name or "hook"}}} $s" >> {log}\n')
    os.chmod(path, 0o755)
    return path
