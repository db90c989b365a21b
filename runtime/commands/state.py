"""`state`: print the runtime-spec state of a container as JSON."""
import sys

from runtime import jsonio
from runtime.state import Container, Root


def main(opts):
    with Container.load(Root(opts.root), opts.id, lock=False) as c:
        st = c.spec_state()
    sys.stdout.write(jsonio.dumps(st, indent=2) + "\n")
