"""yolo-edge-optimize for LiteRT end to end: ptq, and a one-epoch qat in full int8, on the shipped YOLOv8n-shapes at
160 px. LiteRT's export needs litert-torch, which pins older pydantic and typing_extensions than the runtime's test
venv has: these tests run in the factory's venv (`make test-litert`, which CI runs) and are skipped elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("litert_torch", reason="LiteRT export: runs in the factory venv (make test-litert)")

from helpers import copy_alone, matched_boxes, sample_paths  # noqa: E402
from models import settings  # noqa: E402
from models.optimize import main  # noqa: E402
from runtime import Detector  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "artifacts" / "yolov8n-shapes.pt"
NAMES = {0: "disc", 1: "triangle", 2: "star"}
FAST = ["--imgsz", "160", "--calib", "4", "--reps", "2", "--warmup", "0", "--engines", "tflite"]
RUNS = {"ptq": [], "qat-full-int8": ["--method", "qat", "--epochs", "1", "--full-int8", "--allow-drop"]}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from models.dataset import generate

    return generate(tmp_path_factory.mktemp("data"), seed=7, n_train=8, n_val=6, n_test=0)


@pytest.fixture(scope="module")
def outs(data, tmp_path_factory) -> dict[str, Path]:
    result = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "BUILD_DIR", tmp_path_factory.mktemp("cache"))
        for name, options in RUNS.items():
            out = tmp_path_factory.mktemp(name) / "out"
            assert main([str(CHECKPOINT), "--data", str(data), "--out", str(out), *FAST, *options]) == 0
            result[name] = out
    return result


def rows(out: Path) -> list[dict]:
    return json.loads((out / "report.json").read_text())["rows"]


def operators(model: Path) -> list[tuple[int, int]]:
    """(builtin op code, output tensor type) of each operator of the main graph."""
    from ai_edge_litert.tools import flatbuffer_utils

    model_t = flatbuffer_utils.read_model(str(model))
    graph, codes = model_t.subgraphs[0], model_t.operatorCodes
    return [(max(codes[op.opcodeIndex].builtinCode, codes[op.opcodeIndex].deprecatedBuiltinCode),
             graph.tensors[op.outputs[0]].type) for op in graph.operators]


def float_ops(model: Path) -> int:
    """Operators that compute in float32 (a float output that is not a DEQUANTIZE's)."""
    dequantize, float32 = 6, 0  # BuiltinOperator.DEQUANTIZE, TensorType.FLOAT32
    return sum(kind == float32 and code != dequantize for code, kind in operators(model))


@pytest.mark.parametrize("run", RUNS)
def test_each_litert_file_loads_alone_and_agrees_with_its_fp32_source(run, outs, tmp_path):
    fp32, int8 = rows(outs[run])
    assert (fp32["precision"], int8["precision"]) == ("fp32", "int8")
    assert ("_full_int8" in int8["file"]) == ("full-int8" in run) and fp32["status"] == "ok"
    detectors = [Detector(copy_alone(outs[run] / r["file"], tmp_path)) for r in (fp32, int8)]
    matched, total = matched_boxes(*detectors, sample_paths())
    assert all(d.names == NAMES and d.input_hw == (160, 160) for d in detectors)
    assert total >= 8 and matched >= 0.8 * total, (int8["file"], matched, total)


def test_full_int8_litert_quantizes_the_heads_decoding(outs):
    head_float, full = (outs[run] / rows(outs[run])[1]["file"] for run in ("ptq", "qat-full-int8"))
    assert float_ops(head_float) >= 10  # the decoding
    assert float_ops(full) == 0  # integer-only between the input QUANTIZE and the output DEQUANTIZE


def test_the_sensitive_layers_remedy_leaves_the_noisiest_ops_float(outs, data, tmp_path):
    """LiteRT's remedy: the same calibration, a tenth of the quantized ops (the noisiest by the validator's SNR)
    left float, the head's decoding float as before; the file still loads alone with its names."""
    from models.optimize_methods import PostTraining, Sensitive
    from runtime.val import split_images

    images, _ = split_images(data, "train")
    fp32 = outs["ptq"] / rows(outs["ptq"])[0]["file"]
    (tmp_path / "plain").mkdir(), (tmp_path / "remedied").mkdir()
    plain = PostTraining(False).make("tflite", fp32, images[:4], tmp_path / "plain")
    remedied = PostTraining(False).make("tflite", fp32, images[:4], tmp_path / "remedied",
                                        Sensitive(images, NAMES, 0.5))
    quantized = len(operators(plain)) - float_ops(plain)
    assert 0.05 * quantized <= float_ops(remedied) - float_ops(plain) <= 0.15 * quantized, \
        (float_ops(plain), float_ops(remedied), quantized)
    assert Detector(remedied).names == NAMES
