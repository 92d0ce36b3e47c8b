#!/usr/bin/env bash
# Build Dockerfile.arm64 offline with podman and run `yolo-edge predict` in it, under QEMU. Needs root.
# The base image is the cached Debian 12 arm64 rootfs imported as a local image (no registry is reached); give
# BASE_IMAGE=python:3.11-slim-bookworm (or any arm64 Python 3.11 image already present) to use another.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=build/arm64
tests/arm64/setup-host.sh --podman
PYTHON=${PYTHON:-python3} tests/arm64/wheelhouse.sh $cache/wheelhouse
tests/arm64/rootfs.sh $cache/rootfs.tar.zst

# podman's own state stays in build/; runc and explicit ulimits because crun and the defaults fail on some hosts.
mkdir -p $cache/podman
podman=(podman --root "$PWD/$cache/podman/root" --runroot "$PWD/$cache/podman/run" --runtime runc)
limits=(--ulimit nofile=20000:20000 --ulimit nproc=1000:1000)
base=${BASE_IMAGE:-localhost/debian-arm64-python:bookworm}
if [[ -z "${BASE_IMAGE:-}" ]] && ! "${podman[@]}" image exists "$base"; then
  zstd -q -d -c $cache/rootfs.tar.zst | "${podman[@]}" import --arch arm64 - "$base" >/dev/null
fi
"${podman[@]}" build -q --pull=never --network none --platform linux/arm64 "${limits[@]}" \
  --build-arg BASE_IMAGE="$base" -f Dockerfile.arm64 -t localhost/yolo-edge:arm64 .
"${podman[@]}" image ls localhost/yolo-edge:arm64 --format '{{.Repository}}:{{.Tag}} {{.Size}}'
"${podman[@]}" run --rm --arch arm64 --network none "${limits[@]}" -e QEMU_CPU=neoverse-n1 --entrypoint uname \
  localhost/yolo-edge:arm64 -m
"${podman[@]}" run --rm --arch arm64 --network none "${limits[@]}" -e QEMU_CPU=neoverse-n1 localhost/yolo-edge:arm64 \
  predict models/yolov8n-shapes-320_int8.tflite samples/sample_1_480x360.jpg
