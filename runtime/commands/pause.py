"""`pause`: freeze every process of a container."""
from runtime import container
from runtime.errors import RuntimeFailure
from runtime.state import CREATED, PAUSED, RUNNING, Container, Root


def main(opts):
    with Container.load(Root(opts.root), opts.id) as c:
        st = c.status()
        if st != RUNNING and st != CREATED:
            raise RuntimeFailure(f"cannot pause a container that is {st}" if st != PAUSED
                                 else "container already paused")
        container.cgroups_of(c).freeze()
        c.data["paused"] = True
        c.save()
