"""`delete`: remove a container and everything it holds (--force: kill it first)."""
from runtime import container
from runtime.errors import NotFound
from runtime.state import Container, Root


def main(opts):
    try:
        c = Container.load(Root(opts.root), opts.id)
    except NotFound:
        if opts.force:
            return
        raise
    with c:
        container.delete_container(c, opts.force)
