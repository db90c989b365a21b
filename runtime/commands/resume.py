"""`resume`: thaw a paused container."""
from runtime import container
from runtime.errors import RuntimeFailure
from runtime.state import PAUSED, Container, Root


def main(opts):
    with Container.load(Root(opts.root), opts.id) as c:
        if c.status() != PAUSED:
            raise RuntimeFailure("container not paused")
        container.cgroups_of(c).thaw()
        c.data["paused"] = False
        c.save()
