"""`start`: run the user process of a created container.

start_container (also `run`'s, through runtime/container.py): the start signal through
the exec fifo, then the wait until the container's program runs.  It lives here, not in
runtime/container.py, whose import (create's machinery, cgroups) `start` never needs:
like runtime/state.py this imports only modules already loaded at interpreter start-up
(`posix`, not `os`: see runtime/cli.py), the rest where it is used.
"""
import posix
import _signal as signal  # the C module: `signal` imports enum

from runtime import log
from runtime.errors import RuntimeFailure
from runtime.state import CREATED, STOPPED, Container, Root, proc_start_time, test_step


def main(opts):
    with Container.load(Root(opts.root), opts.id) as c:
        start_container(c)


def start_container(c):
    import select

    st = c.status()
    if st != CREATED:
        if st == STOPPED:
            if log.debugging():
                log.debug(f"start {c.id}: init pid {c.pid} (start time {c.data.get('start_time')}) is gone: "
                          f"now {proc_start_time(c.pid) if c.pid else None}")
            raise RuntimeFailure("cannot start a container that has stopped")
        raise RuntimeFailure(f"cannot start an already {st} container")
    if not (c.data.get("exec") or {}).get("process"):
        raise RuntimeFailure(f"process: container {c.id} was created without one (config.json has no "
                             "process): nothing to start")
    try:
        wfd = posix.open(c.fifo, posix.O_WRONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except OSError as e:
        import errno

        if e.errno == errno.ENXIO:
            if log.debugging():
                log.debug(f"start {c.id}: no reader on {c.fifo}: init pid {c.pid} alive: {c.alive()}")
            raise RuntimeFailure("cannot start a container that has stopped") from None
        raise RuntimeFailure(f"start signal: {e.strerror}") from None
    rfd = posix.open(c.fifo, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    try:
        posix.write(wfd, b"0")
        posix.close(wfd)
        test_step("start-signalled")
        if log.debugging():
            log.debug(f"start {c.id}: start signal written to {c.fifo}")
        posix.unlink(c.fifo)
        # pyrunc-init holds the fifo until its exec closes it: POLLHUP then means the
        # container's program runs (or init failed and wrote why into the fifo).
        poller = select.poll()
        poller.register(rfd, 0)  # POLLHUP (no writer left) is always reported
        while not poller.poll(1000) and c.alive():
            pass
        try:
            rest = posix.read(rfd, 65536)
        except BlockingIOError:
            rest = b""
    finally:
        posix.close(rfd)
    if rest and rest != b"0":
        raise RuntimeFailure(rest.decode(errors="replace").strip().splitlines()[-1])
    test_step("start-running")
    if log.debugging():
        log.debug(f"start {c.id}: started, pid {c.pid} runs the container's process")
    if not (c.data.get("hooks") or {}).get("poststart"):
        return  # the common case: no hooks module, no second look at /proc
    from runtime import hooks

    try:
        hooks.run(c.data, "poststart", c.spec_state())
    except RuntimeFailure:
        # Spec 1.3: a failing poststart hook is an error and the container is stopped;
        # its lifecycle goes on with delete (which runs the poststop hooks).
        from runtime.container import wait_dead

        pid, start_time = c.pid, c.data.get("start_time")
        try:
            posix.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_dead(pid, start_time)
        raise
