#!/bin/bash
# Boot the Debian 12 test guest (systemd as PID 1, pure cgroup v2) under qemu and run a
# command in it; exit with the command's status.  Run as root.
#   scripts/vm/run.sh [-t SECONDS] [-w WORKDIR] -- COMMAND...
# The repository is shared read-only at /mnt/src, a work directory read-write at /mnt/work
# (it holds the command, the Python wheels for pyrunc's dependencies under wheels/, the
# command's output.log and the guest's serial.log; kept with -w, removed otherwise).
# PYRUNC_VM_PREPARE: a shell command run on the host once the wheels are there.
# The guest has no network.  Every wait is bounded: -t (default 900) limits the whole boot
# plus command; the image comes from build-image.sh's cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "scripts/vm/run.sh: $*" >&2; exit 2; }
timeout_s=900
workdir=""
while [ $# -gt 0 ]; do
    case "$1" in
        -t) timeout_s=$2; shift 2 ;;
        -w) workdir=$2; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || die "usage: scripts/vm/run.sh [-t SECONDS] [-w WORKDIR] -- COMMAND..."
[ "$(id -u)" = 0 ] || die "run as root"
cache=${PYRUNC_VM_CACHE:-/var/cache/pyrunc-vm}
t0=$(date +%s)
image=$("$here/build-image.sh") || die "building the guest image failed"
t_image=$(date +%s)

# Wheels for pyrunc's Python dependencies (build, run and test), downloaded on the host
# once per dependency set: the guest installs them with pip --no-index.
reqs=$("$here/../../.venv/bin/python" - "$repo/pyproject.toml" 2>/dev/null <<'PY' || /usr/bin/python3 - "$repo/pyproject.toml" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    p = tomllib.load(f)
reqs = ["pip"] + p["build-system"]["requires"] + p["project"]["dependencies"]
for extra in p["project"].get("optional-dependencies", {}).values():
    reqs += extra
print("\n".join(sorted(set(reqs))))
PY
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    p = tomllib.load(f)
reqs = ["pip"] + p["build-system"]["requires"] + p["project"]["dependencies"]
for extra in p["project"].get("optional-dependencies", {}).values():
    reqs += extra
print("\n".join(sorted(set(reqs))))
PY
) || die "cannot read the dependencies from pyproject.toml"
wkey=$(echo "$reqs" | sha256sum | cut -c1-16)
wheels="$cache/wheels-$wkey"
if [ ! -e "$wheels/.complete" ]; then
    py=/usr/bin/python3
    "$py" -m pip --version >/dev/null 2>&1 || py="$repo/.venv/bin/python"
    rm -rf "$wheels.tmp"; mkdir -p "$wheels.tmp"
    echo "$reqs" > "$wheels.tmp/requirements.txt"
    "$py" -m pip download -q --disable-pip-version-check --only-binary=:all: -d "$wheels.tmp" \
        -r "$wheels.tmp/requirements.txt" >&2 || die "pip download of the guest's wheels failed"
    touch "$wheels.tmp/.complete"
    rm -rf "$wheels"; mv "$wheels.tmp" "$wheels"
fi

if [ -n "$workdir" ]; then
    mkdir -p "$workdir"; work=$(cd "$workdir" && pwd); keep=1
else
    work=$(mktemp -d /tmp/pyrunc-vm.XXXXXX); keep=0
fi
qpid=""
cleanup() {
    [ -n "$qpid" ] && kill "$qpid" 2>/dev/null || true
    [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
rm -f "$work/rc" "$work/output.log" "$work/serial.log"
mkdir -p "$work/wheels"; cp "$wheels"/*.whl "$work/wheels/"
if [ -n "${PYRUNC_VM_PREPARE:-}" ]; then
    bash -c "$PYRUNC_VM_PREPARE" >&2 || die "PYRUNC_VM_PREPARE failed: $PYRUNC_VM_PREPARE"
fi
t_prep=$(date +%s)
{
    echo "# written by scripts/vm/run.sh"
    echo "export PYRUNC_VM=1 PIP_NO_INDEX=1 PIP_FIND_LINKS=/mnt/work/wheels PIP_DISABLE_PIP_VERSION_CHECK=1"
    printf '%q ' "$@"; echo
} > "$work/cmd.sh"

echo "vm: image $image ($(( t_image - t0 ))s), wheels and prepare $(( t_prep - t_image ))s, booting (timeout ${timeout_s}s)" >&2
set +e
# The guest's harness unit needs its 9p shares: if a mount fails at boot (seen once: the
# 9p mount raced the loading of 9pnet_virtio) the unit never starts and the guest would
# idle until the timeout.  The serial console says so at once: stop that boot and boot
# again (twice at most).
attempt=1
while :; do
    rm -f "$work/serial.log"
    timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
        -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
        -display none -monitor none -serial "file:$work/serial.log" -no-reboot -nic none \
        -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 panic=-1 oops=panic systemd.show_status=1 loglevel=4" \
        -drive "file=$image/rootfs.img,if=virtio,format=raw,snapshot=on" \
        -virtfs "local,path=$repo,mount_tag=src,security_model=none,readonly=on" \
        -virtfs "local,path=$work,mount_tag=work,security_model=none" &
    qpid=$!
    boot_failed=""
    while kill -0 "$qpid" 2>/dev/null; do
        if grep -aq "Dependency failed for.*pyru" "$work/serial.log" 2>/dev/null; then
            boot_failed=1; kill "$qpid" 2>/dev/null; break
        fi
        sleep 1
    done
    wait "$qpid"; qrc=$?
    qpid=""
    [ -n "$boot_failed" ] && [ ! -s "$work/rc" ] || break
    echo "vm: boot $attempt: the guest could not mount its shares (its harness unit did not start); last serial console lines:" >&2
    grep -a "FAILED\|DEPEND" "$work/serial.log" | tail -5 >&2 || true
    [ "$attempt" -lt 2 ] || break
    attempt=$((attempt + 1))
    echo "vm: booting again (attempt $attempt)" >&2
done
set -e
t_end=$(date +%s)
if [ ! -s "$work/rc" ]; then
    echo "vm: the guest did not report a result (qemu exit $qrc$([ $qrc = 124 ] && echo ": timed out after ${timeout_s}s")); last serial console lines:" >&2
    tail -40 "$work/serial.log" >&2 || true
    exit 2
fi
rc=$(cat "$work/rc")
# what the command printed in the guest: the CI log is all a failed run leaves
if [ "$rc" != 0 ] || [ -n "${PYRUNC_VM_SHOW_OUTPUT:-}" ]; then
    echo "vm: the command's output (output.log):" >&2
    cat "$work/output.log" >&2 || true
fi
echo "vm: command exited $rc; boot+run $(( t_end - t_prep ))s, total $(( t_end - t0 ))s" >&2
exit "$rc"
