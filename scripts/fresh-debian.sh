#!/bin/bash
# Developers: try the README's two commands as a new user would, on a pristine Debian 12
# minbase (root, no sudo, Python only from apt), in a clean clone of this repository.
#   scripts/fresh-debian.sh [demo|test|both]      (default: both)
# The minbase tree is made with debootstrap (from the host's own apt sources) in
# $FRESH_DIR (default /var/tmp/pyrunc-fresh); the commands run there in a private
# mount and pid namespace after pivot_root, with the host's /sys (cgroups) and /dev.
# Nothing of the host changes but that directory (remove it when done).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-both}
D=${FRESH_DIR:-/var/tmp/pyrunc-fresh}
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
mirror=$( (grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ \
          2>/dev/null || true) | head -1 | awk '{print $2}')
[ -n "$mirror" ] || { echo "$0: no Debian mirror in the host's apt sources" >&2; exit 1; }
if [ ! -x "$D/root/usr/bin/apt-get" ]; then
    rm -rf "$D"; mkdir -p "$D"
    debootstrap --variant=minbase bookworm "$D/root" "$mirror" > "$D/debootstrap.log" 2>&1 \
        || { tail -5 "$D/debootstrap.log" >&2; exit 1; }
fi
R="$D/root"
rm -rf "$R/repo"
git clone -q "$(pwd)" "$R/repo"
cp /etc/resolv.conf "$R/etc/resolv.conf"
# Where this host's network intercepts TLS, pip in the new system needs the host's CAs.
cabundle=""
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$R/etc/host-ca-bundle.crt"; cabundle=/etc/host-ca-bundle.crt
fi
case "$what" in
    demo) cmd="scripts/demo.sh" ;;
    test) cmd="scripts/test.sh" ;;
    both) cmd="scripts/demo.sh && scripts/test.sh" ;;
    *) echo "usage: $0 [demo|test|both]" >&2; exit 2 ;;
esac
exec unshare --mount --propagation private --pid --fork /bin/bash -c '
    set -e
    R=$1; cmd=$2
    mount --bind "$R" "$R"
    mount -t proc proc "$R/proc"
    mount --rbind /sys "$R/sys"
    mount --rbind /dev "$R/dev"
    mount -t tmpfs tmpfs "$R/run"
    mount -t tmpfs tmpfs "$R/tmp"
    mkdir -p "$R/.oldroot"
    cd "$R"
    pivot_root . .oldroot
    umount -l /.oldroot
    exec /usr/sbin/chroot / /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
        ${3:+PIP_CERT=$3} /bin/bash -c "cd /repo && $cmd"
' fresh "$R" "$cmd" "$cabundle"
