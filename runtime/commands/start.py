"""`start`: run the user process of a created container."""
from runtime import container
from runtime.state import Container, Root


def main(opts):
    with Container.load(Root(opts.root), opts.id) as c:
        container.start_container(c)
