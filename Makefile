# Two entry points for a fresh machine: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
MODEL_DIR := models/artifacts
DEMO_MODELS := $(MODEL_DIR)/yolov8n-shapes-320.onnx $(MODEL_DIR)/yolov8n-shapes-320_openvino_model \
	$(MODEL_DIR)/yolov8n-shapes-320_float32.tflite
export YOLO_CONFIG_DIR := $(CURDIR)/build/ultralytics-config
export YOLO_OFFLINE := 1
export MPLCONFIGDIR := $(CURDIR)/build/mpl

.PHONY: demo test install install-test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamps re-run an install only when setup.cfg changes.
$(VENV)/.runtime: setup.cfg pyproject.toml | $(PY)
	$(PIP) install -e '.[all]'
	touch $@

$(VENV)/.test: setup.cfg pyproject.toml $(VENV)/.runtime
	$(PIP) install -e '.[all,test]'
	touch $@

install: $(VENV)/.runtime
install-test: $(VENV)/.test

demo: install
	$(PY) -m runtime.demo --out build/demo $(DEMO_MODELS) --images models/samples

test: install-test
	$(PY) -m pytest -q

bench: install-test
	$(PY) -m benchmarks.overhead $(MODEL_DIR)/yolov8n-shapes-640.onnx --frame 1920x1080 --reps 100

clean:
	rm -rf build .pytest_cache .hypothesis
