#!/usr/bin/env bash
# The arm64 lane: the runtime's tests on linux/aarch64 under QEMU user-mode emulation, in a Debian 12 arm64
# rootfs (chroot), every engine, no torch/ultralytics inside. Needs root. Caches under build/arm64/ (git-ignored):
# the rootfs tarball and the aarch64 wheelhouse. On a 2-core x86 host: ~8 min warm; a cold run adds ~4 min.
#   tests/arm64/run.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=build/arm64
root=$cache/root
PYTHON=${PYTHON:-python3}
# Convolutions run ~150x slower emulated: the runtime's tests use the small 320 px models and few frames. The
# lane runs tests/runtime/, the tests that need nothing beyond the runtime and its engines.
TESTS=(tests/runtime)

tests/arm64/setup-host.sh
PYTHON=$PYTHON tests/arm64/wheelhouse.sh $cache/wheelhouse
tests/arm64/rootfs.sh $cache/rootfs.tar.zst

# A fresh root from the cached tarball each run (4 s), with the wheels installed by the host's pip: native speed.
cleanup() {
  for mount in $(grep -o " $PWD/$root[^ ]*" /proc/mounts | sort -r); do umount -l "$mount" || true; done
}
trap cleanup EXIT
cleanup
# Never delete through a mount still bound in (the source tree, /dev): stop instead.
if grep -q " $PWD/$root" /proc/mounts; then echo "mounts remain under $root: not deleting it"; exit 1; fi
rm -rf --one-file-system "$root" && mkdir -p "$root"
zstd -q -d -c $cache/rootfs.tar.zst | tar -C "$root" -xf -
platforms=()
for n in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${n}_aarch64"); done
"$PYTHON" -m pip install --disable-pip-version-check -q --no-index --find-links $cache/wheelhouse \
  --target "$root/opt/site" --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
  "${platforms[@]}" --platform manylinux2014_aarch64 -r tests/arm64/requirements.txt

for dir in proc sys dev; do mkdir -p "$root/$dir" && mount --rbind "/$dir" "$root/$dir"; done
mkdir -p "$root/src" && mount --bind "$PWD" "$root/src"
in_arm64() {
  chroot "$root" env -i PATH=/usr/bin:/bin HOME=/tmp PYTHONPATH=/opt/site:/src PYTHONDONTWRITEBYTECODE=1 \
    YOLO_EDGE_EMULATED=1 QEMU_CPU=neoverse-n1 "$@"
}
machine=$(in_arm64 python3 -c "import platform; print(platform.machine())")
echo "emulated machine: $machine"
[[ "$machine" == aarch64 ]] || { echo "not aarch64: is the qemu binfmt handler registered?"; exit 1; }
in_arm64 grep -q "^vendor_id" /proc/cpuinfo && { echo "/proc/cpuinfo shows the x86 host CPU: qemu too old"; exit 1; }
in_arm64 sh -c 'cd /src && exec "$@"' sh python3 -m pytest -p no:cacheprovider -q --durations=12 "${TESTS[@]}" "$@"
