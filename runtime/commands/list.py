"""`list`: the containers under --root (table, json or ids)."""
import sys

from runtime import jsonio
from runtime.errors import RuntimeFailure
from runtime.state import Container, Root


def list_states(root):
    out = []
    for cid in root.ids():
        try:
            with Container.load(root, cid, lock=False) as c:
                out.append(c.spec_state())
        except RuntimeFailure:
            continue
    return out


def main(opts):
    states = list_states(Root(opts.root))
    w = sys.stdout.write
    if opts.quiet:
        for s in states:
            w(s["id"] + "\n")
    elif opts.format == "json":
        # runc (Go's encoding/json): compact, and `null` when there is no container
        w((jsonio.dumps(states, compact=True) if states else "null") + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]) for s in states]
        widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(5)]
        for r in rows:
            w("".join(r[i].ljust(widths[i]) for i in range(5)) + r[5] + "\n")
