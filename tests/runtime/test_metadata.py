"""Metadata from every place an export puts it, and clear fallbacks when there is none."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers import SHIPPED
from runtime import Detector, ModelMetadata
from runtime.metadata import read_simple_yaml


def test_simple_yaml_reader_equals_pyyaml_on_ultralytics_metadata(yaml_models):
    yaml = pytest.importorskip("yaml")
    text = (yaml_models["openvino"] / "metadata.yaml").read_text()
    assert read_simple_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("engine", sorted(SHIPPED))
def test_every_engine_finds_names_imgsz_and_stride(engine):
    detector = Detector(SHIPPED[engine])
    meta = detector.metadata
    assert meta.names == {0: "disc", 1: "triangle", 2: "star"}
    assert meta.imgsz == (320, 320) and meta.stride == 32 and meta.task == "detect"
    assert detector.names == meta.names and detector.input_hw == (320, 320)


def test_onnx_metadata_props_are_parsed(yaml_models):
    meta = Detector(yaml_models["onnxruntime"]).metadata
    assert meta.source == "embedded" and meta.imgsz == (160, 160) and meta.end2end is False


def test_sidecar_json_labels_a_model_from_elsewhere(yaml_models, tmp_path):
    model = tmp_path / "third_party.onnx"
    shutil.copy(yaml_models["onnxruntime"], model)
    (tmp_path / "third_party.json").write_text(json.dumps({"names": ["cat", "dog", "bird"], "imgsz": 160}))
    detector = Detector(model)
    assert detector.names == {0: "cat", 1: "dog", 2: "bird"} and detector.metadata.source == "third_party.json"


def test_names_fall_back_to_class_numbers():
    meta = ModelMetadata.from_mapping({}, source="none")
    assert meta.class_name(4) == "class4"
    assert ModelMetadata.from_mapping({"names": "{0: 'a'}", "imgsz": "[64, 96]", "stride": "[8, 16, 32]"},
                                      source="x").model_dump(exclude={"source"}) == \
        {"names": {0: "a"}, "imgsz": (64, 96), "stride": 32, "task": "detect", "end2end": None}


def test_names_option_overrides_metadata(yaml_models):
    detector = Detector(yaml_models["onnxruntime"], names={0: "a", 1: "b", 2: "c"})
    assert detector.names[2] == "c"


def test_a_recipe_yaml_beside_the_model_is_not_taken_for_metadata(yaml_models, tmp_path):
    model = tmp_path / "yolov8n-light.onnx"
    shutil.copy(yaml_models["onnxruntime"], model)
    (tmp_path / "yolov8n-light.yaml").write_text(
        "nc: 80\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, Conv, [128, 3, 2]]\nhead:\n  - [[15], 1, Detect, [nc]]\n")
    (tmp_path / "metadata.yaml").write_text("not: [valid\n  : yaml")
    detector = Detector(model)
    assert detector.metadata.source == "embedded" and detector.metadata.imgsz == (160, 160)


@pytest.mark.parametrize("model", sorted(p for p in (SHIPPED["onnxruntime"].parent).iterdir()
                                         if p.suffix in {".onnx", ".tflite"} or p.name.endswith("_openvino_model")),
                         ids=lambda p: p.name)
def test_shipped_models_carry_no_absolute_paths(model):
    """ultralytics writes "trained on <data yaml>" into every export; the factory keeps that path relative."""
    if model.is_dir():  # OpenVINO: ultralytics' metadata.yaml beside the IR
        metadata = read_simple_yaml((model / "metadata.yaml").read_text())
    else:
        metadata = Detector(model).engine.embedded_metadata()
    assert metadata.get("names") and "trained on /" not in str(metadata), metadata.get("description")
