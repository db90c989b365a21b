"""`resume`: thaw a paused container."""
from runtime import container
from runtime.errors import RuntimeFailure
from runtime.state import PAUSED, Container, Root, test_step


def main(opts):
    with Container.load(Root(opts.root), opts.id) as c:
        if c.status() != PAUSED:
            raise RuntimeFailure("container not paused")
        # thawed first: a resume killed before the save leaves it paused in the state,
        # and resume again thaws (a no-op) and saves
        container.cgroups_of(c).thaw()
        test_step("resume-thawed")
        c.data["paused"] = False
        c.save()
