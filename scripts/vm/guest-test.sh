#!/bin/bash
# Runs INSIDE the test guest (started by scripts/vm/test.sh, from its copy of the tree).  The host made a venv with
# pyrunc and its dependencies from wheels (no network here) at $PYRUNC_VM_HOSTWORK/venv in
# the work share: it is copied to that same path on the guest's own disk, and so is the
# working tree (with its native parts built); then the given pytest arguments (default:
# the cgroup, systemd-driver, masked-path and Podman tests) and, at the same time (the
# guest has two vCPUs; each suite runs one container at a time), the conformance suite.
set -uo pipefail
t0=$(date +%s)
echo "== guest: $(uname -r), PID 1 is $(cat /proc/1/comm), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), up $(cut -d. -f1 /proc/uptime)s, $(nproc) CPUs"
hw=${PYRUNC_VM_HOSTWORK:?}
mkdir -p "$hw"
# One archive each: thousands of small files over 9p under emulation take minutes.
tar -C "$hw" -xf /mnt/work/venv.tar || { echo "unpacking the venv failed"; exit 1; }
tar -C /root -xf /mnt/work/src.tar || { echo "unpacking the tree failed"; exit 1; }
cd /root/src
export PYRUNC_TEST_RUNTIME="$hw/venv/bin/pyrunc" PYRUNC_TEST_REQUIRE_RUNTIME=1
echo "== guest: $("$PYRUNC_TEST_RUNTIME" --version | head -1), ready in $(( $(date +%s) - t0 ))s"
status=0
if [ $# -eq 0 ]; then
    # what depends on the host's cgroup layout and init; the rest of the suite is the
    # same on every host and runs natively in scripts/test.sh
    # (tests/test_cgroup_v2.py: resources, devices, cgroup.kill, OOM seen inside real
    # containers on pure v2); the slow host-independent unit tests (hypothesis
    # properties, fresh-interpreter import checks) are left to the native run
    set -- tests/test_cgroup_v2.py tests/test_systemd_cgroup.py tests/test_cgroups.py \
        tests/test_mounts.py::test_masked_paths tests/test_mounts.py::test_masked_paths_cannot_be_written \
        -k "not (range_monotonic or weight_formula or swap_to_v2_property or cpu_list_roundtrip or import_is_cheap or cpu_mask_bits or does_not_load_jeepney)"
fi
conf=""
if [ "${PYRUNC_VM_CONFORMANCE:-1}" = 1 ]; then
    # its own bound, inside run.sh's for the whole guest; its output follows pytest's
    ( timeout --kill-after=10 "${PYRUNC_VM_CONFORMANCE_TIMEOUT:-900}" \
        "$hw/venv/bin/python" -m conformance --runtime "$PYRUNC_TEST_RUNTIME"
      rc=$?; echo "== guest: conformance exited $rc at $(( $(date +%s) - t0 ))s"; exit $rc
    ) >/root/conformance.log 2>&1 &
    conf=$!
fi
"$hw/venv/bin/python" -m pytest -q -p no:cacheprovider "$@" || status=1
echo "== guest: pytest done at $(( $(date +%s) - t0 ))s"
if [ -n "$conf" ]; then
    wait "$conf" || status=1
    cat /root/conformance.log
fi
exit $status
