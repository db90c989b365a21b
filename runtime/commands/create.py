"""`create`: make a container from a bundle; it waits in pyrunc-init for `start`."""
import gc

gc.disable()  # a short-lived process whose objects die with it: no cyclic GC passes (~0.8 ms)
from runtime import container  # noqa: E402


def main(opts):
    c, _ = container.create(opts)
    c.close()
