#!/bin/bash
# Set up, then run every test: the pytest suite (real containers) and the
# spec-conformance suite.  Run as root on Debian 12:  sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Test-only packages: the real engines tests/test_engine_*.py drive (Podman + conmon with
# CNI and catatonit, and criu so that Podman asks pyrunc about checkpoint; containerd;
# Docker).  Their services are not started on the host
# (policy-rc.d): each test starts its own daemon.  Without them those tests skip.
engine_pkgs="podman conmon catatonit containernetworking-plugins iptables criu containerd docker.io util-linux bsdutils"
engine_missing=$(for p in $engine_pkgs; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || printf ' %s' "$p"; done)
if [ -n "$engine_missing" ]; then
    echo "scripts/test.sh: installing the engines for the engine tests:$engine_missing"
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1
    fi
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $engine_missing >/dev/null; } || echo "scripts/test.sh: could not install$engine_missing: engine tests will skip" >&2
    [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
fi
# The unit tests import runtime/ from this tree: build its native parts in place too.
.venv/bin/python native/build.py >/dev/null
export PYRUNC_TEST_RUNTIME="$(pwd)/.venv/bin/pyrunc"
export PYRUNC_TEST_REQUIRE_RUNTIME=1
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider tests || status=$?
.venv/bin/python -m conformance --runtime "$PYRUNC_TEST_RUNTIME" || status=$?
# The mainstream host layout, pure cgroup v2 with systemd as PID 1, in a qemu guest
# (scripts/vm/; the image is built once per machine and cached in /var/cache/pyrunc-vm).
# A guest that cannot be built or booted fails this step.  PYRUNC_VM=0 skips it, loudly.
if [ "${PYRUNC_VM:-1}" = 0 ]; then
    echo "scripts/test.sh: PYRUNC_VM=0: the systemd / cgroup v2 guest tests did NOT run" >&2
else
    PYRUNC_VM_TIMEOUT=${PYRUNC_VM_TIMEOUT:-1800} scripts/vm/test.sh || status=$?
fi
exit $status
