"""`events`: the container's resource statistics and OOM notifications, as JSON lines.

    {"type":"stats","id":ID,"data":{"cpu":..,"memory":..,"pids":..,"blkio":..,"hugetlb":..}}
    {"type":"oom","id":ID}

With --stats one stats line is printed; otherwise one every --interval (Go duration
syntax, default 5s; the first after one interval, as runc does) and an oom line each
time the OOM killer strikes the container (v1: memory.oom_control eventfd; v2:
memory.events), until the container stops.  One poll() waits for all of it (the init's
pidfd, the OOM notifier, the next tick); the state lock is not held meanwhile.
"""
import os
import time

from runtime import jsonio
from runtime.errors import RuntimeFailure
from runtime.state import CREATING, STOPPED, Container, Root, proc_start_time

_UNIT_NS = {"ns": 1, "us": 1000, "\u00b5s": 1000, "\u03bcs": 1000, "ms": 1000000, "s": 10**9,
            "m": 60 * 10**9, "h": 3600 * 10**9}
POLLIN = 0x001


def parse_duration(s):
    """Go's time.ParseDuration ("1s", "500ms", "1m30s", "1.5h") -> seconds (float)."""
    orig = s
    neg = s[:1] == "-"
    if s[:1] in "+-":
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"time: invalid duration {orig!r}")
    total = 0.0
    while s:
        i = 0
        while i < len(s) and (s[i].isdigit() and s[i].isascii() or s[i] == "."):
            i += 1
        num, s = s[:i], s[i:]
        if not num or num == "." or num.count(".") > 1:
            raise ValueError(f"time: invalid duration {orig!r}")
        j = 0
        while j < len(s) and not (s[j].isdigit() or s[j] == "."):
            j += 1
        unit, s = s[:j], s[j:]
        if not unit:
            raise ValueError(f"time: missing unit in duration {orig!r}")
        if unit not in _UNIT_NS:
            raise ValueError(f"time: unknown unit {unit!r} in duration {orig!r}")
        total += float(num) * _UNIT_NS[unit]
    return (-total if neg else total) / 1e9


class _Out:
    """JSON lines on stdout, written at once (a reader sees each event as it happens)."""

    def __init__(self, cid):
        self.cid = cid

    def emit(self, typ, data=None):
        ev = {"type": typ, "id": self.cid}
        if data is not None:
            ev["data"] = data
        line = (jsonio.dumps(ev, compact=True) + "\n").encode()
        while line:
            line = line[os.write(1, line):]


def _go_order(stats):
    """Go's encoding/json writes map keys sorted (memory.raw, hugetlb): so do we."""
    mem = stats.get("memory")
    if isinstance(mem, dict) and isinstance(mem.get("raw"), dict):
        mem["raw"] = dict(sorted(mem["raw"].items()))
    if isinstance(stats.get("hugetlb"), dict):
        stats["hugetlb"] = dict(sorted(stats["hugetlb"].items()))
    return stats


def main(opts):
    from runtime import cgroups

    try:
        interval = parse_duration(opts.interval)
    except ValueError as e:
        raise RuntimeFailure(f"invalid value {opts.interval!r} for flag --interval: {e}") from None
    # events runs for a long time: read the state and let go of it (no lock held).
    with Container.load(Root(opts.root), opts.id, lock=False) as c:
        status, pid, start = c.status(), c.pid, c.data.get("start_time")
        cg = c.data.get("cgroups")
    if interval <= 0:
        raise RuntimeFailure("duration interval must be greater than 0")
    if status in (STOPPED, CREATING):
        raise RuntimeFailure(f"container with id {opts.id} is not running")
    if not cg:
        raise RuntimeFailure(f"container {opts.id} has no cgroups")
    try:
        mgr = cgroups.from_state(cg)
    except cgroups.CgroupError as e:
        raise RuntimeFailure(str(e)) from None
    out = _Out(opts.id)
    try:
        if opts.stats:
            out.emit("stats", _go_order(mgr.stats()))
            return 0
        return _stream(out, mgr, pid, start, interval)
    except BrokenPipeError:
        return 0  # the reader went away


def _stream(out, mgr, pid, start, interval):
    import select

    from runtime import cgroups, log

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return 0
    watch = None
    try:
        if proc_start_time(pid) != start:
            return 0  # stopped (and the pid reused) since we looked
        poller = select.poll()
        poller.register(pidfd, POLLIN)
        try:
            watch = mgr.oom_watch()
        except cgroups.CgroupError as e:
            log.warn(f"no OOM notifications: {e}")
        if watch is not None:
            poller.register(watch.fd, watch.events)
        next_tick = time.monotonic() + interval
        while True:
            wait = max(0.0, next_tick - time.monotonic())
            try:
                ready = poller.poll(int(wait * 1000 + 0.999))
            except InterruptedError:
                ready = []
            stopped = False
            for fd, _ in ready:
                if watch is not None and fd == watch.fd:
                    if watch.check():
                        out.emit("oom")
                    if watch.gone:
                        stopped = True
                elif fd == pidfd:
                    stopped = True
            if stopped:
                # An OOM kill of the init is notified as it dies: report it before ending.
                if watch is not None and not watch.gone and watch.check():
                    out.emit("oom")
                return 0
            now = time.monotonic()
            if now >= next_tick:
                try:
                    out.emit("stats", _go_order(mgr.stats()))
                except (cgroups.CgroupError, OSError) as e:
                    if isinstance(e, BrokenPipeError):
                        raise
                    log.error(f"reading the stats of {out.cid}: {e}")
                next_tick += interval
                if next_tick <= now:
                    next_tick = now + interval
    finally:
        if watch is not None:
            watch.close()
        os.close(pidfd)
