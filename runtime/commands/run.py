"""`run`: create + start; unless detached, wait for the container and exit with its status."""
import os

from runtime import container
from runtime.errors import NotFound
from runtime.state import Container, Root, test_step


def main(opts):
    from runtime._native import lib

    if not opts.detach:
        lib.prctl(lib.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    c, master = container.create(opts, for_run=True)
    try:
        try:
            container.start_container(c)
        except BaseException:
            container.teardown(c)
            raise
        if opts.detach:
            if master is not None:
                os.close(master)
            return 0
        pid = c.pid
        c.close()
        test_step("run-waiting")
        status = container.wait_foreground(pid, master)
        if not opts.keep:
            try:
                with Container.load(Root(opts.root), opts.id) as c2:
                    container.delete_container(c2, force=True)
            except NotFound:
                pass
        return status
    finally:
        c.close()
