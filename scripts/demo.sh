#!/bin/bash
# Set up pyrunc, build a busybox bundle in ./demo-bundle and run a container from it.
#   sudo scripts/demo.sh [command...]     (default: a shell one-liner that looks around)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
B=demo-bundle
if [ ! -x "$B/rootfs/bin/busybox" ]; then
    mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/sys" "$B/rootfs/dev" "$B/rootfs/tmp" "$B/rootfs/etc"
    cp /bin/busybox "$B/rootfs/bin/busybox"
    for a in $("$B/rootfs/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$B/rootfs/bin/$a"; done
    echo "root:x:0:0:root:/root:/bin/sh" > "$B/rootfs/etc/passwd"
    echo "root:x:0:" > "$B/rootfs/etc/group"
fi
rm -f "$B/config.json"
.venv/bin/pyrunc spec --bundle "$B"
args='["sh", "-c", "echo hello from $(hostname), pid $$; id; ls /"]'
if [ $# -gt 0 ]; then args=$(.venv/bin/python -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@"); fi
.venv/bin/python - "$B/config.json" "$args" <<'PY'
import json, sys
path, args = sys.argv[1], json.loads(sys.argv[2])
c = json.load(open(path))
c["process"]["args"] = args
c["process"]["terminal"] = False
json.dump(c, open(path, "w"), indent=2)
PY
exec .venv/bin/pyrunc run --bundle "$B" "demo-$$"
