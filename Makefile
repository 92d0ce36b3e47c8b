# Two entry points for a fresh machine: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
MODEL_DIR := models/artifacts
DEMO_MODELS := $(MODEL_DIR)/yolov8n-shapes-320.onnx $(MODEL_DIR)/yolov8n-shapes-320_openvino_model \
	$(MODEL_DIR)/yolov8n-shapes-320_float32.tflite

.PHONY: demo test test-litert test-arm64 image-arm64 install install-test bench bench-stream bench-cluster models models-light \
	models-ablation models-gap models-seed models-optimize models-teacher front-baselines front-pruned front-distilled \
	bench-front clean

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

# The stream tests' RTSP server runs on Debian's GStreamer (installed once, as root; skipped without it).
test: install-test
	tests/install-stream-tools.sh
	$(PY) -m pytest -q

# The runtime's tests on linux/aarch64 under QEMU (root; caches the rootfs and wheels in build/arm64/).
# The host side (wheel downloads, installs into the emulated root) uses the venv's pip: a clean environment.
test-arm64: | $(PY)
	PYTHON=$(PY) tests/arm64/run.sh

# Dockerfile.arm64 built offline with podman from the aarch64 wheelhouse, then `yolo-edge predict` inside it.
image-arm64: | $(PY)
	PYTHON=$(PY) tests/arm64/image.sh

# The overhead benchmark's 640 px model is exported from the shipped checkpoint into build/ (not shipped: 11.7 MB).
BENCH_640 := build/artifacts-640/yolov8n-shapes-640.onnx
$(BENCH_640): | $(VENV)/.test
	$(PY) -m models.export $(MODEL_DIR)/yolov8n-shapes.pt --imgsz 640 --engines onnxruntime --out $(@D)

bench: install-test $(BENCH_640)
	$(PY) -m benchmarks.overhead $(BENCH_640) --frame 1920x1080 --reps 100

# The model factory: its own venv, since litert-torch (TFLite export) pulls jax and transformers.
FACTORY := .venv-factory
FPY := $(FACTORY)/bin/python
DATA := build/dataset/data.yaml
WEIGHTS := $(MODEL_DIR)/yolov8n-shapes.pt
BIG := build/artifacts-640

$(FACTORY)/.installed: models/requirements-factory.txt setup.cfg
	$(PYTHON) -m venv $(FACTORY)
	$(FPY) -m pip --disable-pip-version-check -q install -r models/requirements-factory.txt
	$(FPY) -m pip --disable-pip-version-check -q install -e '.[all,val]' pytest hypothesis
	touch $@

# yolo-edge-optimize's LiteRT tests need litert-torch, so they run in the factory venv (CI runs this too).
test-litert: $(FACTORY)/.installed
	$(FPY) -m pytest -q -p no:cacheprovider tests/factory/test_optimize_litert.py

# Dataset, training (skipped while the weights exist: delete them to retrain), the 320 px fp32 and int8 files for
# every engine through the users' command (yolo-edge-optimize: its report in build/optimize-320/ marks an int8 file
# over the 0.6-point bar failed, which is still shipped), 640 px exports (build/, none shipped; make bench exports its
# own) and their int8, then the report of every file.
OPTIMIZED := build/optimize-320
models: $(FACTORY)/.installed
	$(FPY) -m models.dataset --out build/dataset --seed 0
	$(FPY) -m models.train --data $(DATA) --imgsz 320 --epochs 64 --out $(WEIGHTS)
	$(FPY) -m models.optimize $(WEIGHTS) --data $(DATA) --imgsz 320 --calib 300 --max-drop 0.6 --allow-drop --split test \
	  --force --out $(OPTIMIZED)
	cp -r $(OPTIMIZED)/yolov8n-shapes-320* $(MODEL_DIR)/
	$(FPY) -m models.export $(WEIGHTS) --imgsz 640 --engines onnxruntime openvino tflite --out $(BIG)
	for model in $(BIG)/yolov8n-shapes-640.onnx $(BIG)/yolov8n-shapes-640_openvino_model \
	             $(BIG)/yolov8n-shapes-640_float32.tflite; do \
	  $(FPY) -m models.quantize $$model --data $(DATA) --calib 300 --out $(BIG) || exit 1; \
	done
	$(FPY) -m models.quantize $(MODEL_DIR)/yolov8n-shapes-320_float32.tflite --data $(DATA) --calib 300 \
	  --tflite-integer-io --out $(MODEL_DIR)
	$(FPY) -m models.report $(MODEL_DIR) $(BIG) --data $(DATA)

# The light model (issue: CSPPC, ADown, AFPN), trained exactly like the baseline, its 320 px exports and int8
# models for every engine in build/light-int8/, and its report (models/reports/light-int8-report.json). Ships the
# checkpoint and the int8 TFLite (the tests' light graphs); the rest stays in build/ (the tree's 64 MiB).
LIGHT := build/light-int8
LIGHT_WEIGHTS := $(MODEL_DIR)/yolov8n-light-shapes.pt
LIGHT_INT8 := $(LIGHT)/.int8
models-light: $(FACTORY)/.installed
	$(FPY) -m models.dataset --out build/dataset --seed 0
	$(FPY) -m models.train --model models/recipes/yolov8n-light.yaml --data $(DATA) --imgsz 320 --epochs 64 \
	  --name yolov8n-light-shapes-320 --out $(LIGHT_WEIGHTS)
	rm -f $(LIGHT_INT8) && $(MAKE) $(LIGHT_INT8)
	$(FPY) -m models.report $(LIGHT) --data $(DATA) --out models/reports/light-int8-report.json --readme -
	cp $(LIGHT)/yolov8n-light-shapes-320_int8.tflite $(MODEL_DIR)/
$(LIGHT_INT8): | $(FACTORY)/.installed
	$(FPY) -m models.dataset --out build/dataset --seed 0
	$(FPY) -m models.export $(LIGHT_WEIGHTS) --imgsz 320 --engines onnxruntime openvino tflite --out $(LIGHT)
	for model in $(LIGHT)/yolov8n-light-shapes-320.onnx $(LIGHT)/yolov8n-light-shapes-320_openvino_model \
	             $(LIGHT)/yolov8n-light-shapes-320_float32.tflite; do \
	  $(FPY) -m models.quantize $$model --data $(DATA) --calib 300 --out $(LIGHT) || exit 1; \
	done
	touch $@

# Ablations of the light model: each variant changes one part of YOLOv8n (light-c2f-early: one part of the light
# model back; light-pconv-half: its PConvs over half the channels) and is trained exactly like the baseline
# (64 epochs, ~50-100 min each on a 2-core CPU; weights kept in build/ablation-64/ and not retrained while they
# exist); then the baseline, the light model and each variant at 320 (ONNX) and 640 (ONNX, OpenVINO), in one report.
ABLATION := build/ablation-64
ABLATIONS := csppc adown afpn light-c2f-early light-pconv-half
models-ablation: $(FACTORY)/.installed
	$(FPY) -m models.dataset --out build/dataset --seed 0
	for variant in $(ABLATIONS); do \
	  $(FPY) -m models.train --model models/recipes/yolov8n-$$variant.yaml --data $(DATA) --imgsz 320 --epochs 64 \
	    --name yolov8n-$$variant-shapes-320 --out $(ABLATION)/yolov8n-$$variant-shapes.pt || exit 1; \
	done
	for weights in $(WEIGHTS) $(LIGHT_WEIGHTS) $(foreach v,$(ABLATIONS),$(ABLATION)/yolov8n-$(v)-shapes.pt); do \
	  $(FPY) -m models.export $$weights --imgsz 320 --engines onnxruntime --out $(ABLATION)/compare || exit 1; \
	  $(FPY) -m models.export $$weights --imgsz 640 --engines onnxruntime openvino --out $(ABLATION)/compare || exit 1; \
	done
	$(FPY) -m models.report $(ABLATION)/compare --data $(DATA) --out models/reports/ablation-report-64.json --readme -

# yolo-edge-optimize on the shipped checkpoint, calibrated on the train split and scored on the 1500 test images:
# ptq, then qat (NNCF, 5 epochs) with each seed of QAT_SEEDS, each with the head's decoding float and in full int8.
# Each run's own report goes to models/reports/optimize-<run>-320-test1500.json; models.quantization_report compares
# them (QAT against PTQ, mean of the seeds; full int8 against head-float latency, alternated in one loop):
# models/reports/quantization-320-test1500.json and .md. ~15 min per qat run on 2 cores.
OPTIMIZE_DATA := build/data-test1500.yaml
OPTIMIZE_OUT := build/optimize-test1500
QAT_SEEDS := 0 1
$(DATA): | $(FACTORY)/.installed
	$(FPY) -m models.dataset --out build/dataset --seed 0
build/dataset-test-1500/data.yaml: | $(FACTORY)/.installed
	$(FPY) -m models.dataset --out build/dataset-test-1500 --seed 0 --train 0 --val 0 --test 1500
$(OPTIMIZE_DATA): $(DATA) build/dataset-test-1500/data.yaml
	printf '%s\n' 'path: .' 'train: dataset/images/train' 'val: dataset/images/val' \
	  'test: dataset-test-1500/images/test' 'names:' '  0: disc' '  1: triangle' '  2: star' > $@
models-optimize: $(OPTIMIZE_DATA)
	for full in "" --full-int8; do \
	  for run in ptq $(foreach s,$(QAT_SEEDS),qat-seed$(s)); do \
	    name=$$run$${full:+-full-int8}; \
	    case $$run in qat-seed*) method="--method qat --seed $${run#qat-seed}";; *) method="";; esac; \
	    $(FPY) -m models.optimize $(WEIGHTS) --data $(OPTIMIZE_DATA) --imgsz 320 --split test --max-drop 0.6 \
	      $$method $$full --allow-drop --force --out $(OPTIMIZE_OUT)/$$name || exit 1; \
	    cp $(OPTIMIZE_OUT)/$$name/report.json models/reports/optimize-$$name-320-test1500.json; \
	  done; \
	done
	$(FPY) -m models.quantization_report $(OPTIMIZE_OUT) --out models/reports/quantization-320-test1500

# Detector.stream (benchmarks/stream.py): the shipped 320 px files and 640 px ones (fp32 and int8 for every engine,
# made by yolo-edge-optimize into build/stream-640), on a 1280x720 H.264 file, a live RTSP stream, a 10-minute soak.
STREAM_640 := build/stream-640
STREAM_320 := $(DEMO_MODELS) $(MODEL_DIR)/yolov8n-shapes-320_int8.onnx $(MODEL_DIR)/yolov8n-shapes-320_int8_openvino_model \
	$(MODEL_DIR)/yolov8n-shapes-320_int8.tflite
$(STREAM_640)/report.json: | $(FACTORY)/.installed $(DATA)
	$(FPY) -m models.optimize $(WEIGHTS) --data $(DATA) --imgsz 640 --allow-drop --force --out $(STREAM_640)
bench-stream: install-test $(STREAM_640)/report.json
	tests/install-stream-tools.sh
	$(PY) -m benchmarks.stream file $(STREAM_320) $(wildcard $(STREAM_640)/yolov8n-shapes-640*)
	$(PY) -m benchmarks.stream workers $(STREAM_320) --reps 5
	$(PY) -m benchmarks.stream live $(filter %int8.onnx %int8_openvino_model %int8.tflite,$(STREAM_320)) \
	  --settings "" threads=1 ort_spinning=always
	$(PY) -m benchmarks.stream soak $(MODEL_DIR)/yolov8n-shapes-320_int8.onnx --minutes 10

# predict --ray against one process (benchmarks/cluster.py): 2,000 generated 1280x720 JPEGs, the 320 px int8 files.
bench-cluster: install-test
	$(PY) -m benchmarks.cluster $(MODEL_DIR)/yolov8n-shapes-320_int8.onnx $(MODEL_DIR)/yolov8n-shapes-320_int8.tflite

# The accuracy-latency front (benchmarks/front.py): yolo-edge-optimize runs scored on the 1500 test images, in
# $(FRONT)/<candidate>-seed<N>/. front-baselines: YOLOv8n at 320, 288 and 256 (the same weights exported smaller) and
# the light model, each training seed whose checkpoint is there (seed 1: make models-seed); front-pruned: YOLOv8n with
# PRUNE_RATIOS percent of its MACs pruned (PRUNE_RECIPE: 3 steps fine-tuned 8, 8 and 24 epochs, 57-85 min each on
# one core: ultralytics trains on all cores but one), each seed of PRUNE_SEEDS; front-distilled: the same, taught by
# FRONT_TEACHER (default the unpruned YOLOv8n, runs named -kd-; or TEACHER, runs named -kd-yolov8s-, after make
# models-teacher: 64 epochs of YOLOv8s, ~3 h on a 2-core CPU with both cores, minutes on a GPU; a stopped run goes on
# with make models-teacher RESUME=1; scored against YOLOv8n in models/reports/teacher-gap-1500.json), and the light
# model trained 64 epochs with that teacher, each seed of LIGHT_KD_SEEDS; bench-front: the front itself (every file
# timed in one loop, on a quiet machine).
FRONT := build/front
PRUNE_RATIOS := 30 50
PRUNE_SEEDS := 0 1
PRUNE_RECIPE := --prune-steps 3 --prune-epochs 8 --recover-epochs 24
LIGHT_KD_SEEDS := 0 1
TEACHER := build/teacher/yolov8s-shapes.pt
TEACHER_THREADS := $(shell nproc)
FRONT_TEACHER := $(WEIGHTS)
FRONT_KD = $(if $(filter $(TEACHER),$(FRONT_TEACHER)),kd-yolov8s,kd)
FRONT_OPTIMIZE = $(FPY) -m models.optimize --data $(OPTIMIZE_DATA) --split test --max-drop 0.6 --allow-drop --force
models-teacher: $(FACTORY)/.installed $(DATA) $(OPTIMIZE_DATA)
	$(FPY) -m models.train --model yolov8s.yaml --data $(DATA) --imgsz 320 --epochs 64 --name yolov8s-shapes-320 \
	  --threads $(TEACHER_THREADS) $(if $(RESUME),--resume) --out $(TEACHER)
	$(FPY) -m models.export $(TEACHER) --imgsz 320 --engines onnxruntime --out $(dir $(TEACHER))
	$(FPY) -m models.gap $(OPTIMIZE_DATA) $(MODEL_DIR)/yolov8n-shapes-320.onnx $(TEACHER:.pt=-320.onnx) \
	  --out models/reports/teacher-gap-1500.json
front-baselines: $(OPTIMIZE_DATA)
	for weights in $(WEIGHTS):0 $(if $(wildcard $(SEED_DIR)/yolov8n-shapes.pt),$(SEED_DIR)/yolov8n-shapes.pt:$(SEED)); do \
	  for size in 320 288 256; do \
	    $(FRONT_OPTIMIZE) $${weights%:*} --imgsz $$size --out $(FRONT)/yolov8n-$$size-seed$${weights##*:} || exit 1; \
	  done; \
	done
	for weights in $(LIGHT_WEIGHTS):0 $(if $(wildcard $(SEED_DIR)/yolov8n-light-shapes.pt),$(SEED_DIR)/yolov8n-light-shapes.pt:$(SEED)); do \
	  $(FRONT_OPTIMIZE) $${weights%:*} --imgsz 320 --out $(FRONT)/yolov8n-light-320-seed$${weights##*:} || exit 1; \
	done
front-pruned: $(OPTIMIZE_DATA)
	for ratio in $(PRUNE_RATIOS); do for seed in $(PRUNE_SEEDS); do \
	  $(FRONT_OPTIMIZE) $(WEIGHTS) --imgsz 320 --prune 0.$$ratio $(PRUNE_RECIPE) --seed $$seed \
	    --out $(FRONT)/yolov8n-p$$ratio-seed$$seed || exit 1; \
	done; done
front-distilled: $(OPTIMIZE_DATA) $(FRONT_TEACHER)
	for ratio in $(PRUNE_RATIOS); do for seed in $(PRUNE_SEEDS); do \
	  $(FRONT_OPTIMIZE) $(WEIGHTS) --imgsz 320 --prune 0.$$ratio $(PRUNE_RECIPE) --seed $$seed \
	    --distill $(FRONT_TEACHER) --out $(FRONT)/yolov8n-p$$ratio-$(FRONT_KD)-seed$$seed || exit 1; \
	done; done
	for seed in $(LIGHT_KD_SEEDS); do \
	  $(FPY) -m models.train --model models/recipes/yolov8n-light.yaml --teacher $(FRONT_TEACHER) --data $(DATA) \
	    --imgsz 320 --epochs 64 --seed $$seed --name yolov8n-light-$(FRONT_KD)-shapes-320-seed$$seed \
	    --out $(FRONT)/weights/yolov8n-light-$(FRONT_KD)-shapes-seed$$seed.pt || exit 1; \
	  $(FRONT_OPTIMIZE) $(FRONT)/weights/yolov8n-light-$(FRONT_KD)-shapes-seed$$seed.pt --imgsz 320 \
	    --out $(FRONT)/yolov8n-light-$(FRONT_KD)-320-seed$$seed || exit 1; \
	done
bench-front: | $(FACTORY)/.installed
	$(FPY) -m benchmarks.front $(FRONT) --out benchmarks/results/front/front --reps 60

# Accuracy gaps to the baseline on 1500 test images drawn like the test split (whose 150 are the first of them),
# with their spread over ten 150-image splits: models/reports/gap-report-1500.json. The c2f-early variant is scored
# when make models-ablation has exported it.
LIGHT_ONNX := $(LIGHT)/yolov8n-light-shapes-320.onnx
$(LIGHT_ONNX): | $(FACTORY)/.installed
	$(FPY) -m models.export $(LIGHT_WEIGHTS) --imgsz 320 --engines onnxruntime --out $(LIGHT)
models-gap: $(FACTORY)/.installed $(LIGHT_INT8)
	$(FPY) -m models.dataset --out build/dataset-test-1500 --seed 0 --train 0 --val 0 --test 1500
	$(FPY) -m models.gap build/dataset-test-1500/data.yaml $(MODEL_DIR)/yolov8n-shapes-320.onnx \
	  $(LIGHT_ONNX) \
	  $(wildcard $(ABLATION)/compare/yolov8n-light-c2f-early-shapes-320.onnx) \
	  $(LIGHT)/yolov8n-light-shapes-320_int8_openvino_model $(LIGHT)/yolov8n-light-shapes-320_int8.tflite \
	  $(LIGHT)/yolov8n-light-shapes-320_int8.onnx --out models/reports/gap-report-1500.json

# The gaps again with a second training seed: the baseline and each of SEED_VARIANTS trained exactly as before
# but with --seed $(SEED) (~50-55 min each on 2 cores), scored with the seed-0 models on the same 1500 images,
# each variant against the baseline of its own seed: models/reports/seed-gap-report-1500.json. The seed-0
# c2f-early pair is scored when make models-ablation has exported it.
SEED := 1
SEED_DIR := build/seed$(SEED)
SEED_VARIANTS := light light-c2f-early
SEED0_C2F_EARLY := $(wildcard $(ABLATION)/compare/yolov8n-light-c2f-early-shapes-320.onnx)
models-seed: $(FACTORY)/.installed $(LIGHT_ONNX)
	$(FPY) -m models.dataset --out build/dataset --seed 0
	$(FPY) -m models.train --data $(DATA) --imgsz 320 --epochs 64 --seed $(SEED) \
	  --name yolov8n-shapes-320-seed$(SEED) --out $(SEED_DIR)/yolov8n-shapes.pt
	for variant in $(SEED_VARIANTS); do \
	  $(FPY) -m models.train --model models/recipes/yolov8n-$$variant.yaml --data $(DATA) --imgsz 320 --epochs 64 \
	    --seed $(SEED) --name yolov8n-$$variant-shapes-320-seed$(SEED) --out $(SEED_DIR)/yolov8n-$$variant-shapes.pt \
	    || exit 1; \
	done
	for weights in $(SEED_DIR)/yolov8n-shapes.pt $(foreach v,$(SEED_VARIANTS),$(SEED_DIR)/yolov8n-$(v)-shapes.pt); do \
	  $(FPY) -m models.export $$weights --imgsz 320 --engines onnxruntime --out $(SEED_DIR) || exit 1; \
	done
	$(FPY) -m models.dataset --out build/dataset-test-1500 --seed 0 --train 0 --val 0 --test 1500
	$(FPY) -m models.gap build/dataset-test-1500/data.yaml --pairs \
	  $(MODEL_DIR)/yolov8n-shapes-320.onnx $(LIGHT_ONNX) \
	  $(if $(SEED0_C2F_EARLY),$(MODEL_DIR)/yolov8n-shapes-320.onnx $(SEED0_C2F_EARLY)) \
	  $(foreach v,$(SEED_VARIANTS),$(SEED_DIR)/yolov8n-shapes-320.onnx $(SEED_DIR)/yolov8n-$(v)-shapes-320.onnx) \
	  --out models/reports/seed-gap-report-1500.json

clean:
	rm -rf build .pytest_cache .hypothesis
