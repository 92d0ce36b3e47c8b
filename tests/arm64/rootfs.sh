#!/usr/bin/env bash
# A Debian 12 arm64 root filesystem with Python 3.11 (and pip, for images built from it), cached as a tarball:
#   tests/arm64/rootfs.sh [TARBALL]     (default build/arm64/rootfs.tar.zst; ~3 min the first time)
set -euo pipefail
cd "$(dirname "$0")/../.."
tarball=${1:-build/arm64/rootfs.tar.zst}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[[ -s "$tarball" ]] && { echo "rootfs: cached $tarball"; exit 0; }
work=$(mktemp -d build/arm64/debootstrap.XXXX)
# umount says 32/64 when some of these were not mounted: that must not become the script's exit status.
trap 'umount -l "$work"/root/proc "$work"/root/sys 2>/dev/null || true; rm -rf --one-file-system "$work"' EXIT
debootstrap --arch=arm64 --variant=minbase --include=python3,python3-pip,ca-certificates bookworm "$work/root" \
  "$mirror" >"$work/log" 2>&1 || { tail -20 "$work/log"; exit 1; }
rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/*
tar -C "$work/root" --numeric-owner -cf - . | zstd -q -T0 -o "$tarball.tmp"
mv "$tarball.tmp" "$tarball"
echo "rootfs: built $tarball ($(du -h "$tarball" | cut -f1))"
