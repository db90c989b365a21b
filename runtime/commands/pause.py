"""`pause`: freeze every process of a container."""
from runtime import container
from runtime.errors import RuntimeFailure
from runtime.state import CREATED, PAUSED, RUNNING, Container, Root, test_step


def main(opts):
    with Container.load(Root(opts.root), opts.id) as c:
        st = c.status()
        if st != RUNNING and st != CREATED:
            raise RuntimeFailure(f"cannot pause a container that is {st}" if st != PAUSED
                                 else "container already paused")
        # Saved as paused before the freeze: a pause killed in between leaves a container
        # that `resume` thaws (a no-op thaw), never a frozen one that state calls running
        # and resume refuses.
        c.data["paused"] = True
        c.save()
        test_step("pause-saved")
        try:
            container.cgroups_of(c).freeze()
        except BaseException:
            c.data["paused"] = False
            c.save()
            raise
        test_step("pause-frozen")
