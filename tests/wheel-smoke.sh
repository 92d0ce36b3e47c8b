#!/usr/bin/env bash
# The install the README tells device users to make, checked as they would use it: build the wheel, install it
# with the [onnx] extra into a fresh venv, and run each command from a folder outside the checkout (nothing
# installed may need the checkout's files). pip may reach PyPI for the dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
start=$SECONDS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "wheel-smoke: $*" >&2; exit 1; }

# Built from a copy of the tracked and new files: a stale build/lib in the checkout would go into the wheel.
mkdir "$tmp/src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null \
  | tar -xf - -C "$tmp/src"
isolation=--no-build-isolation  # the venv's setuptools when it has one: no download
"$PYTHON" -c 'import setuptools' 2>/dev/null || isolation=
"$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps $isolation "$tmp/src" -w "$tmp/dist"
wheel=$(echo "$tmp"/dist/yolo_edge_runtime-*.whl)
top=$("$PYTHON" -c 'import sys, zipfile
names = {n.split("/")[0] for n in zipfile.ZipFile(sys.argv[1]).namelist()}
print(" ".join(sorted(n for n in names if not n.endswith((".dist-info", ".data")))))' "$wheel")
[ "$top" = "runtime yolo_edge_factory" ] \
  || fail "the wheel installs top-level '$top'; only runtime and yolo_edge_factory belong there (never models)"

"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check --find-links "$tmp/dist" "$wheel[onnx]"

mkdir "$tmp/work"
cp models/artifacts/yolov8n-shapes-320.onnx "$(ls models/samples/*.jpg | head -1)" "$tmp/work/"
cd "$tmp/work"
unset PYTHONPATH
py=$tmp/venv/bin/python
yolo=$tmp/venv/bin/yolo-edge
model=yolov8n-shapes-320.onnx
image=$(ls ./*.jpg)

"$yolo" info "$model" > info.json || fail "info exited $?"
"$py" -c 'import json, sys; info = json.load(open("info.json"))
assert info["engine"] == "onnxruntime" and info["names"], info' || fail "info: $(cat info.json)"

"$yolo" predict "$model" "$image" --json > predict.jsonl || fail "predict exited $?"
"$py" -c 'import json; (line,) = open("predict.jsonl").read().splitlines(); d = json.loads(line)
assert len(d["xyxy"]) == len(d["confidence"]) == len(d["class_id"]) > 0, d' || fail "predict: $(cat predict.jsonl)"

"$yolo" bench "$model" --quick > bench.txt || fail "bench exited $?"
[ "$(grep -c "^$model " bench.txt)" = 3 ] || fail "bench: no row per frame size: $(cat bench.txt)"
! grep -qi -e ultralytics -e torch bench.txt || fail "bench names packages it did not use: $(cat bench.txt)"

# The factory's command is installed, but its [optimize] extra is not: one line naming the extra, exit 2.
export XDG_CACHE_HOME=$tmp/cache  # the factory's caches, outside the checkout
set +e; "$tmp/venv/bin/yolo-edge-optimize" m.pt --data d.yaml --out o 2> optimize.err; status=$?; set -e
[ "$status" = 2 ] && [ "$(wc -l < optimize.err)" = 1 ] && grep -q "\[optimize\]" optimize.err \
  || fail "yolo-edge-optimize without torch exited $status: $(cat optimize.err)"
[ ! -e o ] || fail "yolo-edge-optimize left an output folder behind"
"$tmp/venv/bin/yolo-edge-optimize" --help > optimize.help || fail "yolo-edge-optimize --help exited $?"

version=$("$yolo" --version) || fail "--version exited $?"
[[ "$version" == *"$(basename "$wheel" | cut -d- -f2)"* ]] || fail "--version says '$version' for $(basename "$wheel")"
echo "wheel-smoke: $(basename "$wheel") installs runtime and yolo_edge_factory only; --version, info, predict" \
  "--json, bench --quick, yolo-edge-optimize's missing-extra error pass outside the checkout ($((SECONDS - start)) s)"
