"""`kill`: send a signal (default SIGTERM) to the container's init, or with --all to all
of its processes."""
import posix
import _signal as signal  # the C module: `signal` imports enum

from runtime.errors import RuntimeFailure
from runtime.state import CREATING, PAUSED, STOPPED, Container, Root


def parse_signal(s):
    """TERM, SIGTERM, term or 15 -> 15 (runc accepts all of these; 0 only checks)."""
    if s is None:
        return signal.SIGTERM
    if s.isdigit():
        n = int(s)
        if n < 0 or n >= signal.NSIG:
            raise RuntimeFailure(f"invalid signal {s!r}")
        return n
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    n = getattr(signal, name, None) if name.isalnum() and name != "SIG_DFL" else None
    if not isinstance(n, int) or name in ("SIG_IGN", "SIG_DFL"):
        raise RuntimeFailure(f"unknown signal {s!r}")
    return n


def main(opts):
    sig = parse_signal(opts.signal)
    with Container.load(Root(opts.root), opts.id) as c:
        st = c.status()
        if st in (STOPPED, CREATING):
            raise RuntimeFailure("container not running")
        if opts.all:
            from runtime import container  # only --all needs the cgroups

            mgr = container.cgroups_of(c)
            # cgroup.kill (v2): one write, forks racing it die too
            killed = sig == signal.SIGKILL and mgr is not None and mgr.kill_all()
            pids = [] if killed else mgr.pids() if mgr else [c.pid]
            for p in pids:
                try:
                    posix.kill(p, sig)
                except ProcessLookupError:
                    pass
            if st == PAUSED and mgr is not None and sig == signal.SIGKILL:
                mgr.thaw()  # frozen tasks die only once thawed
            return
        try:
            posix.kill(c.pid, sig)
        except ProcessLookupError:
            raise RuntimeFailure("container not running: no such process") from None
