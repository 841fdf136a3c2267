#!/usr/bin/env bash
# debian-root.sh ARCH ROOT [EXTRA_PACKAGES] — a cached Debian Bookworm root (minbase + Python 3.11).
#
# Used by pi-emulate.sh (arm64, run through qemu-user-static) and by the loopback deploy test
# (the host's arch: a Pi-like target with Python 3.11 and no TensorFlow). Built in ROOT.partial
# and renamed when complete, so an interrupted build is never mistaken for a cached one.
# Needs root and debootstrap (plus qemu-user-static and binfmt-support for a foreign ARCH).
set -euo pipefail

die() { echo "debian-root: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: debian-root.sh ARCH ROOT [EXTRA,PACKAGES]"
ARCH=$1 ROOT=$2 EXTRA=${3:-}
[ "$(id -u)" = 0 ] || die "needs root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"

if [ "$ARCH" != "$(dpkg --print-architecture)" ]; then
    command -v update-binfmts >/dev/null \
        || die "a foreign root needs: apt-get install qemu-user-static binfmt-support"
    # let the kernel run foreign ELF files through qemu
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc \
        || die "cannot mount binfmt_misc (a container without the privilege?)"
    qemu=$(case $ARCH in arm64) echo qemu-aarch64 ;; armhf) echo qemu-arm ;; *) echo "qemu-$ARCH" ;; esac)
    [ -e "/proc/sys/fs/binfmt_misc/$qemu" ] || update-binfmts --enable "$qemu" \
        || die "cannot enable $qemu in binfmt_misc"
fi

if [ -e "$ROOT/.debian-root-complete" ]; then
    echo "debian-root: $ARCH root cached at $ROOT"
    exit 0
fi

# The mirror this machine's apt already uses, so the root comes from the same place.
mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
            /etc/apt/sources.list 2>/dev/null | grep -m1 -E 'debian/?( |$)' \
         | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)
mirror=${mirror:-http://deb.debian.org/debian}
packages=python3,python3-venv,python3-pip,ca-certificates${EXTRA:+,$EXTRA}

echo "debian-root: building a Bookworm $ARCH root in $ROOT from $mirror (a few minutes, once)"
mkdir -p "$(dirname "$ROOT")"
rm -rf "$ROOT.partial"
start=$(date +%s)
debootstrap --arch="$ARCH" --variant=minbase --include="$packages" \
    bookworm "$ROOT.partial" "$mirror" > "$ROOT.debootstrap.log" 2>&1 \
    || die "debootstrap failed, see $ROOT.debootstrap.log"
rm -rf "$ROOT.partial/var/cache/apt/archives/"*.deb
touch "$ROOT.partial/.debian-root-complete"
rm -rf "$ROOT"
mv "$ROOT.partial" "$ROOT"
echo "debian-root: built in $(( $(date +%s) - start )) s"
