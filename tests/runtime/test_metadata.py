"""Metadata from every place an export puts it, and clear fallbacks when there is none."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers import ARTIFACTS, SHIPPED
from runtime import Detector, ModelMetadata
from runtime.engines import embedded_metadata, engines_reading, installed_engines
from runtime.engines.onnxruntime import OnnxRuntimeEngine
from runtime.errors import MetadataWarning
from runtime.metadata import read_simple_yaml

SHIPPED_MODELS = sorted(p for p in ARTIFACTS.iterdir()
                        if p.suffix in {".onnx", ".tflite"} or p.name.endswith("_openvino_model"))


@pytest.mark.parametrize("engine", sorted(SHIPPED))
def test_every_engine_finds_names_imgsz_and_stride(engine):
    detector = Detector(SHIPPED[engine])
    meta = detector.metadata
    assert meta.names == {0: "disc", 1: "triangle", 2: "star"}
    assert meta.imgsz == (320, 320) and meta.stride == 32 and meta.task == "detect"
    assert detector.names == meta.names and detector.input_hw == (320, 320)


def test_onnx_metadata_props_are_parsed():
    meta = Detector(SHIPPED["onnxruntime"]).metadata
    assert meta.source == "embedded" and meta.imgsz == (320, 320) and meta.end2end is False


@pytest.mark.parametrize("args, end2end", [("{'nms': True, 'batch': 1}", True), ({"nms": True}, True),
                                           ("{'nms': False}", False), (None, False)])
def test_an_export_with_nms_is_end2end_whatever_its_end2end_key_says(args, end2end):
    """ultralytics' export(nms=True) writes end2end: False and args: {nms: True}; its rows are (N, 6) after NMS."""
    raw = {"end2end": "False", **({"args": args} if args is not None else {})}
    assert ModelMetadata.from_mapping(raw, source="x").end2end is end2end


def test_sidecar_json_labels_a_model_from_elsewhere(tmp_path):
    model = tmp_path / "third_party.onnx"
    shutil.copy(SHIPPED["onnxruntime"], model)
    (tmp_path / "third_party.json").write_text(json.dumps({"names": ["cat", "dog", "bird"], "imgsz": 320}))
    detector = Detector(model)
    assert detector.names == {0: "cat", 1: "dog", 2: "bird"} and detector.metadata.source == "third_party.json"


def test_names_fall_back_to_class_numbers():
    meta = ModelMetadata.from_mapping({}, source="none")
    assert meta.class_name(4) == "class4"
    assert ModelMetadata.from_mapping({"names": "{0: 'a'}", "imgsz": "[64, 96]", "stride": "[8, 16, 32]"},
                                      source="x").model_dump(exclude={"source"}) == \
        {"names": {0: "a"}, "imgsz": (64, 96), "stride": 32, "task": "detect", "end2end": None}


def test_names_option_overrides_metadata():
    detector = Detector(SHIPPED["onnxruntime"], names={0: "a", 1: "b", 2: "c"})
    assert detector.names[2] == "c"


def test_a_recipe_yaml_beside_the_model_is_not_taken_for_metadata(tmp_path):
    model = tmp_path / "yolov8n-light.onnx"
    shutil.copy(SHIPPED["onnxruntime"], model)
    (tmp_path / "yolov8n-light.yaml").write_text(
        "nc: 80\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, Conv, [128, 3, 2]]\nhead:\n  - [[15], 1, Detect, [nc]]\n")
    (tmp_path / "metadata.yaml").write_text("not: [valid\n  : yaml")
    detector = Detector(model)
    assert detector.metadata.source == "embedded" and detector.metadata.imgsz == (320, 320)


@pytest.mark.parametrize("model", SHIPPED_MODELS, ids=lambda p: p.name)
def test_shipped_models_carry_no_absolute_paths(model):
    """ultralytics writes "trained on <data yaml>" into every export; the factory keeps that path relative."""
    if model.is_dir():  # OpenVINO: ultralytics' metadata.yaml beside the IR
        metadata = read_simple_yaml((model / "metadata.yaml").read_text())
    else:
        metadata = embedded_metadata(model)
    assert metadata.get("names") and "trained on /" not in str(metadata), metadata.get("description")


@pytest.mark.parametrize("model", sorted(SHIPPED.values()), ids=lambda p: p.name)
def test_metadata_belongs_to_the_file_whatever_engine_runs_it(model):
    """An .onnx run on OpenVINO keeps the names, input size and stride it has on ONNX Runtime. (The other shipped
    models are read by the same readers: see test_shipped_models_carry_no_absolute_paths.)"""
    engines = [e for e in engines_reading(model) if e in installed_engines()]
    found = {e: Detector(model, backend=e).metadata.model_dump(include={"names", "imgsz", "stride"}) for e in engines}
    own = found[engines[0]]
    assert own["names"] and own["imgsz"], own
    assert all(meta == own for meta in found.values()), found


@pytest.mark.parametrize("model", [p for p in SHIPPED_MODELS if p.suffix == ".onnx"], ids=lambda p: p.name)
def test_onnx_metadata_read_from_the_file_equals_onnxruntimes(model):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    assert OnnxRuntimeEngine.read_metadata(model) == dict(session.get_modelmeta().custom_metadata_map)


def test_damaged_tflite_metadata_loads_with_a_warning_naming_the_file(tmp_path, samples):
    damaged = tmp_path / "cut.tflite"
    damaged.write_bytes(SHIPPED["tflite"].read_bytes()[:-64])  # the zip's directory is at the end
    with pytest.warns(MetadataWarning, match=r"cut\.tflite.*class names, input size and stride are lost"):
        detector = Detector(damaged)
    assert detector.names == {} and detector.metadata.source == "none"
    assert len(detector.predict(samples[0])) > 0


def test_a_tflite_without_metadata_loads_without_a_warning(tmp_path, recwarn):
    whole = SHIPPED["tflite"].read_bytes()
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(whole[:whole.rindex(b"PK\x03\x04")])  # the flatbuffer alone, as other exporters write it
    assert Detector(bare).names == {}
    assert not [w for w in recwarn if issubclass(w.category, MetadataWarning)]
