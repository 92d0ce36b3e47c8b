#!/usr/bin/env bash
# Fetch the aarch64 (manylinux, CPython 3.11) wheels of tests/arm64/requirements.txt into a wheelhouse and build
# this project's own wheel beside them, so the arm64 lane and `Dockerfile.arm64` install with no network.
#   tests/arm64/wheelhouse.sh [DIR]     (default build/arm64/wheelhouse)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/arm64/wheelhouse}
python=${PYTHON:-python3}
mkdir -p "$out"
stamp=$(cat tests/arm64/requirements.txt setup.cfg runtime/*.py runtime/engines/*.py models/*.py | sha256sum | cut -c1-16)
if [[ "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "wheelhouse: cached $out"
  exit 0
fi
platforms=()
for n in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${n}_aarch64"); done
platforms+=(--platform manylinux2014_aarch64)
"$python" -m pip download --disable-pip-version-check -q --dest "$out" --only-binary=:all: \
  --python-version 3.11 --implementation cp --abi cp311 "${platforms[@]}" -r tests/arm64/requirements.txt
rm -f "$out"/yolo_edge_runtime-*.whl
# Built from a copy of the tracked files: nothing is written into the checkout (CI runs this beside the native
# suite's editable install) and no stale build/lib can go into the wheel.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src"
"$python" -m pip wheel --disable-pip-version-check -q --no-deps --wheel-dir "$out" "$src"
echo "$stamp" > "$out/.stamp"
echo "wheelhouse: $(ls "$out" | wc -l) wheels, $(du -sh "$out" | cut -f1) in $out"
