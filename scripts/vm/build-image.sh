#!/bin/bash
# Build (or find in the cache) the Debian 12 test guest: an ext4 root image plus the
# guest's own kernel and initrd.  Prints the cache directory holding
#   rootfs.img  vmlinuz  initrd.img
# The cache key is a hash of this script and packages.txt, so a second run on the same
# machine with nothing changed builds nothing.  Run as root.
#   PYRUNC_VM_CACHE   cache root (default /var/cache/pyrunc-vm)
#   PYRUNC_VM_MIRROR  Debian mirror URL (default: the host's apt sources)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "scripts/vm/build-image.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
cache=${PYRUNC_VM_CACHE:-/var/cache/pyrunc-vm}
key=$(cat "$here/build-image.sh" "$here/packages.txt" "$here/guest-unit.service" | sha256sum | cut -c1-16)
out="$cache/image-$key"
if [ -s "$out/rootfs.img" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
    echo "$out"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
need=""
for p in debootstrap qemu-system-x86 e2fsprogs; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || need="$need $p"
done
if [ -n "$need" ]; then
    echo "build-image: installing$need" >&2
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends $need >&2 || die "apt-get install$need failed"
fi

# The mirror: the first bookworm (not -security) source of the host's apt configuration.
mirror=${PYRUNC_VM_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(
        { for f in /etc/apt/sources.list.d/*.sources; do [ -e "$f" ] && awk '
            /^[ \t]*$/ { if (u != "" && s ~ /(^| )bookworm( |$)/) print u; u = ""; s = ""; next }
            /^URIs:/ { u = $2 } /^Suites:/ { $1 = ""; s = $0 }
            END { if (u != "" && s ~ /(^| )bookworm( |$)/) print u }' "$f"; done
          cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                               if ($(i + 1) == "bookworm") print $i }'
        } 2>/dev/null | head -1 || true)
fi
[ -n "$mirror" ] || die "no Debian bookworm mirror in /etc/apt/sources.list*; set PYRUNC_VM_MIRROR"

mkdir -p "$cache"
# One build at a time (two CI runs at once): the second waits, bounded, then finds it made.
exec 9>"$cache/.build.lock"
flock -w 1800 9 || die "another build of the guest image held $cache/.build.lock for 30 minutes"
if [ -s "$out/rootfs.img" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
    echo "$out"
    exit 0
fi
rm -rf "$cache"/build.*
work=$(mktemp -d "$cache/build.XXXXXX")
root="$work/root"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
t0=$(date +%s)
pkgs=$(grep -v '^#' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
echo "build-image: debootstrap bookworm into $root" >&2
# In a mount namespace of its own: the /proc (and /sys) debootstrap and apt need in the
# tree are never seen by, nor removed by, anything on the host, and vanish with it.
unshare --mount --propagation private /bin/bash -euo pipefail -c '
    root=$1 mirror=$2 work=$3 pkgs=$4
    debootstrap --variant=minbase --include=systemd-sysv bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
        tail -30 "$work/debootstrap.log" >&2; echo "debootstrap failed (log above)" >&2; exit 1; }
    echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list"
    printf "#!/bin/sh\nexit 101\n" > "$root/usr/sbin/policy-rc.d"; chmod +x "$root/usr/sbin/policy-rc.d"
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    echo "build-image: apt-get install in the guest tree" >&2
    chroot "$root" apt-get update -qq >"$work/apt.log" 2>&1 || {
        tail -20 "$work/apt.log" >&2; echo "apt-get update in the guest failed" >&2; exit 1; }
    chroot "$root" apt-get install -y -qq --no-install-recommends $pkgs >>"$work/apt.log" 2>&1 || {
        tail -30 "$work/apt.log" >&2; echo "apt-get install in the guest failed (log above)" >&2; exit 1; }
    chroot "$root" apt-get clean
' build "$root" "$mirror" "$work" "$(echo "$pkgs" | tr ',' ' ')" || die "building the guest tree failed"
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/apt/sources.list"
rm -rf "$root/var/lib/apt/lists/"*

# Guest configuration: root on /dev/vda, the shares, serial console, no network.
echo "pyrunc-vm" > "$root/etc/hostname"
cat > "$root/etc/fstab" <<'FSTAB'
/dev/vda / ext4 rw,relatime 0 1
src  /mnt/src  9p trans=virtio,version=9p2000.L,ro,msize=262144,nofail,x-systemd.device-timeout=30s,x-systemd.after=systemd-modules-load.service 0 0
work /mnt/work 9p trans=virtio,version=9p2000.L,rw,msize=262144,cache=none,nofail,x-systemd.device-timeout=30s,x-systemd.after=systemd-modules-load.service 0 0
tmpfs /tmp tmpfs rw,size=1G 0 0
FSTAB
mkdir -p "$root/mnt/src" "$root/mnt/work"
printf '9p\n9pnet_virtio\n' > "$root/etc/modules-load.d/9p.conf"
passwd_hash='*'
chroot "$root" usermod -p "$passwd_hash" root
install -m 644 "$here/guest-unit.service" "$root/etc/systemd/system/pyrunc-vm-run.service"
ln -sf /etc/systemd/system/pyrunc-vm-run.service "$root/etc/systemd/system/multi-user.target.wants/pyrunc-vm-run.service"
# Nothing the guest does not need at boot.
for u in getty@tty1.service serial-getty@ttyS0.service systemd-timesyncd.service apt-daily.timer \
         apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer \
         podman.service podman.socket podman-auto-update.service podman-auto-update.timer \
         podman-restart.service podman-clean-transient.service systemd-logind.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
done
echo "build-image: making the ext4 image" >&2
cp -L "$root/vmlinuz" "$work/vmlinuz"
cp -L "$root/initrd.img" "$work/initrd.img"
truncate -s 6G "$work/rootfs.img"
mkfs.ext4 -q -F -L pyrunc-vm -d "$root" "$work/rootfs.img" >&2 || die "mkfs.ext4 -d failed"
rm -rf "$root"
mkdir -p "$out.tmp"
mv "$work/rootfs.img" "$work/vmlinuz" "$work/initrd.img" "$out.tmp/"
rm -rf "$out"; mv "$out.tmp" "$out"
echo "build-image: built $out in $(( $(date +%s) - t0 ))s" >&2
echo "$out"
