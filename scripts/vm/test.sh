#!/bin/bash
# Boot the test guest (Debian 12, systemd, pure cgroup v2) and run pyrunc's tests for that
# host layout in it: scripts/vm/test.sh [PYTEST ARGS...].  Run as root.  Fails loudly when
# the guest cannot be built or booted.  PYRUNC_VM_TIMEOUT bounds boot + tests (seconds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/run.sh" -t "${PYRUNC_VM_TIMEOUT:-900}" ${PYRUNC_VM_WORKDIR:+-w "$PYRUNC_VM_WORKDIR"} -- \
    env PYRUNC_VM_CONFORMANCE="${PYRUNC_VM_CONFORMANCE:-1}" /bin/bash /mnt/src/scripts/vm/guest-test.sh "$@"
