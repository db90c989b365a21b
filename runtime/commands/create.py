"""`create`: make a container from a bundle; it waits in pyrunc-init for `start`."""
from runtime import container


def main(opts):
    c, _ = container.create(opts)
    c.close()
