#!/usr/bin/env bash
# Host tools for the arm64 lane (Debian 12, root): QEMU user-mode emulation registered for aarch64 binaries,
# debootstrap for the rootfs and, with --podman, podman to build Dockerfile.arm64. Idempotent and quick when done.
# bookworm's qemu 7.2 crashes onnxruntime/OpenVINO (it shows them the host's x86 /proc/cpuinfo): use backports' 10.x.
set -euo pipefail

want_podman=0
[[ "${1:-}" == "--podman" ]] && want_podman=1

sources=/etc/apt/sources.list.d/bookworm-backports.list
if ! apt-cache policy 2>/dev/null | grep -q bookworm-backports; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" > "$sources"
  apt-get update -qq
fi

need=()
dpkg -s debootstrap binfmt-support zstd >/dev/null 2>&1 || need+=(debootstrap binfmt-support zstd)
qemu_version=$(dpkg-query -W -f '${Version}' qemu-user-static 2>/dev/null || true)
if [[ -z "$qemu_version" ]] || dpkg --compare-versions "$qemu_version" lt 1:8; then
  need+=(qemu-user-static qemu-user-binfmt)
fi
if (( want_podman )) && ! command -v podman >/dev/null; then
  need+=(podman runc)
fi
if (( ${#need[@]} )); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports "${need[@]}" >/dev/null
fi

# Register the aarch64 handler from the installed qemu (an old entry with the F flag pins the old binary).
binfmt=/proc/sys/fs/binfmt_misc
[[ -e $binfmt/register ]] || mount -t binfmt_misc binfmt_misc "$binfmt"
conf=/usr/lib/binfmt.d/qemu-aarch64.conf
interpreter=$(cut -d: -f7 "$conf")
if ! grep -qs "interpreter $interpreter" "$binfmt/qemu-aarch64" || \
   [[ "$(stat -c %Y "$interpreter")" -gt "$(cat /run/arm64-lane-binfmt 2>/dev/null || echo 0)" ]]; then
  [[ -e $binfmt/qemu-aarch64 ]] && echo -1 > "$binfmt/qemu-aarch64"
  cat "$conf" > "$binfmt/register"
  stat -c %Y "$interpreter" > /run/arm64-lane-binfmt
fi
echo "host ready: $(qemu-aarch64-static --version | head -1)"
