"""`ps`: the processes of a container (json: their pids; table: ps(1) rows)."""
import sys

from runtime import container, jsonio
from runtime.errors import RuntimeFailure
from runtime.state import CREATING, STOPPED, Container, Root


def container_pids(root, cid):
    with Container.load(root, cid, lock=False) as c:
        if c.status() in (STOPPED, CREATING):
            return []
        mgr = container.cgroups_of(c)
        return sorted(mgr.pids()) if mgr else [c.pid]


def main(opts):
    pids = container_pids(Root(opts.root), opts.id)
    if opts.format == "json":
        sys.stdout.write(jsonio.dumps(pids) + "\n")
        return
    import subprocess

    args = opts.rest or ["-ef"]
    out = subprocess.run(["ps", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeFailure(f"ps {' '.join(args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return
    header = lines[0].split()
    if "PID" not in header:
        raise RuntimeFailure("ps: no PID column in the output")
    col = header.index("PID")
    print(lines[0])
    want = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in want:
            print(line)
