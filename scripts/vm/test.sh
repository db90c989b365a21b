#!/bin/bash
# Boot the test guest (Debian 12, systemd, pure cgroup v2) and run pyrunc's tests for that
# host layout in it:  scripts/vm/test.sh [PYTEST ARGS...]   (as root).
# On the host: a copy of the working tree with its native parts built in place (what the
# unit tests import) and a venv with pyrunc installed from it (dependencies from wheels
# only) go into the guest's work share.
# Fails loudly when the guest cannot be built or booted.
#   PYRUNC_VM_TIMEOUT      bound for boot + tests, seconds (default 900)
#   PYRUNC_VM_WORKDIR      keep the work directory (output.log, serial.log) there
#   PYRUNC_VM_CONFORMANCE  0: skip the conformance suite
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "scripts/vm/test.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root"
py="$repo/.venv/bin/python"
[ -x "$py" ] || die "no $py: run scripts/setup.sh first (it provides the build tools)"
if [ -n "${PYRUNC_VM_WORKDIR:-}" ]; then
    mkdir -p "$PYRUNC_VM_WORKDIR"; work=$(cd "$PYRUNC_VM_WORKDIR" && pwd); keep=1
else
    work=$(mktemp -d /tmp/pyrunc-vm.XXXXXX); keep=0
fi
trap '[ "$keep" = 1 ] || rm -rf "$work"' EXIT
t0=$(date +%s)
rm -rf "$work/src" "$work/wheels"; mkdir -p "$work/src" "$work/wheels"
tar -C "$repo" --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./pyrunc.egg-info \
    --exclude=__pycache__ -cf - . | tar -C "$work/src" -xf - || die "copying the working tree failed"
"$py" "$work/src/native/build.py" >/dev/null || die "native/build.py failed"
echo "vm: tree copied and its native parts built in $(( $(date +%s) - t0 ))s" >&2
# run.sh adds the dependency wheels to $work/wheels and, before booting, runs
# PYRUNC_VM_PREPARE: pyrunc and its dependencies installed from those wheels only (pip
# --no-index) into a venv at the path the guest copies it to, built by the interpreter
# that runs it there (the guest's Debian python3 is the same; installing under emulation
# would take minutes).
export PYRUNC_VM_PREPARE="set -e; rm -rf '$work/venv'; /usr/bin/python3 -m venv --without-pip '$work/venv'
    pip() { '$work/venv/bin/python' \$(ls '$work'/wheels/pip-*.whl | head -1)/pip \"\$@\"; }
    pip install -q --no-index --find-links '$work/wheels' --disable-pip-version-check pip setuptools wheel cffi fastjsonschema
    '$work/venv/bin/pip' install -q --no-index --find-links '$work/wheels' --disable-pip-version-check \
        --no-build-isolation '$work/src[test]' >'$work/install.log' 2>&1 || { tail -20 '$work/install.log'; exit 1; }
    rm -rf '$work/src/build' '$work/src/pyrunc.egg-info'
    # the guest runs, never installs: the packaging tools stay behind (half the venv)
    sp=\$(echo '$work'/venv/lib/python3*/site-packages)
    rm -rf \$sp/pip \$sp/pip-* \$sp/setuptools \$sp/setuptools-* \$sp/pkg_resources \$sp/_distutils_hack \
        \$sp/distutils-precedence.pth \$sp/wheel \$sp/wheel-*
    tar -C '$work' -cf '$work/venv.tar' venv; tar -C '$work' -cf '$work/src.tar' src"
"$here/run.sh" -t "${PYRUNC_VM_TIMEOUT:-900}" -w "$work" -- \
    env PYRUNC_VM_CONFORMANCE="${PYRUNC_VM_CONFORMANCE:-1}" PYRUNC_VM_HOSTWORK="$work" \
    /bin/bash /mnt/work/src/scripts/vm/guest-test.sh "$@"
