"""`run`: create + start; unless detached, wait for the container and exit with its status."""
import gc

gc.disable()  # until the container runs: no cyclic GC passes on the way (~0.8 ms)
import posix

from runtime import container  # noqa: E402
from runtime.errors import NotFound  # noqa: E402
from runtime.state import Container, Root, test_step  # noqa: E402


def main(opts):
    from runtime._native import lib

    if not opts.detach:
        lib.prctl(lib.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    c, master = container.create(opts, for_run=True)
    from runtime.commands.start import start_container  # not imported by create

    try:
        try:
            start_container(c)
        except BaseException:
            container.teardown(c)
            raise
        if opts.detach:
            if master is not None:
                posix.close(master)
            return 0
        pid = c.pid
        c.close()
        test_step("run-waiting")
        gc.enable()  # the container may run for days
        status = container.wait_foreground(pid, master)
        if not opts.keep:
            try:
                from runtime.commands.delete import delete_container

                with Container.load(Root(opts.root), opts.id) as c2:
                    delete_container(c2, force=True)
            except NotFound:
                pass
        return status
    finally:
        c.close()
