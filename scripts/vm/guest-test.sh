#!/bin/bash
# Runs INSIDE the test guest (see scripts/vm/test.sh): installs pyrunc from the read-only
# source share into a venv (Python packages from the host-made wheels, no network), then
# runs the given pytest arguments (default: the cgroup, systemd-driver, mount and Podman
# tests) and the conformance suite.  Exit status: non-zero if anything failed.
set -uo pipefail
t0=$(date +%s)
echo "== guest: $(uname -r), PID 1 is $(cat /proc/1/comm), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup)"
rm -rf /root/pyrunc && mkdir -p /root/pyrunc
tar -C /mnt/src --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./pyrunc.egg-info \
    --exclude=__pycache__ -cf - . | tar -C /root/pyrunc -xf - || { echo "copying the sources failed"; exit 1; }
cd /root/pyrunc
scripts/setup.sh || { echo "scripts/setup.sh failed in the guest"; exit 1; }
.venv/bin/python native/build.py >/dev/null || { echo "native/build.py failed in the guest"; exit 1; }
export PYRUNC_TEST_RUNTIME="$(pwd)/.venv/bin/pyrunc" PYRUNC_TEST_REQUIRE_RUNTIME=1
echo "== guest: installed in $(( $(date +%s) - t0 ))s"
status=0
if [ $# -eq 0 ]; then
    set -- tests/test_systemd_cgroup.py tests/test_cgroups.py tests/test_mounts.py
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=1
echo "== guest: pytest done at $(( $(date +%s) - t0 ))s"
if [ "${PYRUNC_VM_CONFORMANCE:-1}" = 1 ]; then
    .venv/bin/python -m conformance --runtime "$PYRUNC_TEST_RUNTIME" || status=1
    echo "== guest: conformance done at $(( $(date +%s) - t0 ))s"
fi
exit $status
