"""Post-training int8 quantization of exported (fp32) YOLOv8 models, one engine at a time.

    .venv-factory/bin/python -m models.quantize models/artifacts/yolov8n-shapes-320.onnx \
        --data build/dataset/data.yaml --engine onnxruntime --calib 300 --out models/artifacts
    (the same with yolov8n-shapes-320_openvino_model --engine openvino, yolov8n-shapes-320_float32.tflite
    --engine tflite; --engine defaults to the one the file is for)

Writes <stem>_int8.onnx, <stem>_int8_openvino_model/ and <stem>_int8.tflite. Calibration frames come from the
dataset's train split and go through the runtime's own preprocessing (prepare), so the ranges measured are those
the deployed model sees. In all three engines the Detect head's box decoding (DFL softmax, anchor arithmetic,
class Sigmoid, the final Concat) stays float by default: quantized, it cost 2.5 (OpenVINO) and 6.9 (TFLite)
mAP50-95 points. exclude_head=False (--quantize-head) quantizes it too, except, in ONNX, the output Concat, where
pixel boxes and 0..1 scores would share one int8 scale (mAP 0). yolo-edge-optimize --full-int8 instead quantizes,
whole, an export whose head ends at its logits (models/rewrites.py use_raw_head; the runtime decodes them).
The int8 ONNX and TFLite graphs get short tensor and node names (models/compact.py).
Needs onnxruntime (onnx), nncf (openvino) and ai-edge-quantizer (tflite): all three live in .venv-factory.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .compact import append_to_zip, compact_onnx, compact_tflite
from runtime import Detector
from runtime.engines import model_size, owning_engine
from runtime.engines.base import InputSpec
from runtime.preprocess import prepare
from runtime.val import split_images

RECIPE = 2  # part of yolo-edge-optimize's cache keys: bump it when a quantizer changes what it makes
HEAD = "model.22"  # YOLOv8n's Detect module: its box decoding (DFL, anchors, Sigmoid, Concat) stays float


# ---------------------------------------------------------------- calibration data


def calibration_images(data_yaml: Path, count: int, seed: int = 0) -> list[Path]:
    """A fixed random sample of the train split: calibration never sees the test images it is scored on."""
    images, _ = split_images(data_yaml, "train")
    return calibration_sample(images, count, seed)


def calibration_sample(images: list[Path], count: int, seed: int = 0) -> list[Path]:
    """`count` of the images (all if fewer), the same ones for the same list, count and seed."""
    return sorted(random.Random(seed).sample(images, min(count, len(images))))


def calibration_tensors(images: list[Path], spec: InputSpec) -> Iterator[np.ndarray]:
    """Each image as the runtime would feed it to this model: letterboxed, RGB, scaled, in the model's layout."""
    from tqdm import tqdm

    for path in tqdm(images, desc="calibration", leave=False):
        tensor, _ = prepare(cv2.imread(str(path), cv2.IMREAD_COLOR), spec)
        yield tensor


def input_spec(model: Path) -> InputSpec:
    """The fp32 model's input as the runtime reads it (name, layout, size)."""
    spec = Detector(model).engine.input
    if spec.is_quantized or spec.input_hw is None:
        raise SystemExit(f"{model}: expected a float model with a fixed input size, got {spec}")
    return spec


# ---------------------------------------------------------------- ONNX Runtime


def onnx_head_nodes(model_path: Path) -> list[str]:
    """Names of the head's decoding nodes: everything in the Detect module after its cv2 (box) / cv3 (class) conv
    branches. The module is the one holding the DFL (model.22 in YOLOv8n; another index in other recipes)."""
    import onnx

    nodes = onnx.load(str(model_path)).graph.node
    head = next((n.name.split("/")[1] for n in nodes if "/dfl/" in n.name), HEAD)
    return [n.name for n in nodes
            if n.name.startswith(f"/{head}/") and not n.name.startswith((f"/{head}/cv2", f"/{head}/cv3"))]


def calibration_reader(images: list[Path], spec: InputSpec):
    """ONNX Runtime's CalibrationDataReader over the images, as the runtime feeds them."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._feeds = ({spec.name: t} for t in calibration_tensors(images, spec))

        def get_next(self):
            return next(self._feeds, None)

    return Reader()


def onnx_output_join(model_path: Path) -> list[str]:
    """The Concat that joins pixel boxes and 0..1 scores into the output: quantized, the two share one int8 scale and
    every score rounds to 0 (mAP 0). Left float, each input keeps its own scale: the whole head else is int8."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    return [n.name for n in graph.node if n.op_type == "Concat" and graph.output[0].name in n.output]


def quantize_onnx(src: Path, dst: Path, images: list[Path], activations: str = "uint8", method: str = "minmax",
                  exclude_head: bool = True, keep_float: tuple[str, ...] = (), reduce_range: bool = True,
                  compact: bool = True) -> Path:
    """Static QDQ quantization, int8 per-channel weights; ONNX Runtime fuses the QDQ pairs into integer kernels.

    reduce_range: 7-bit weights. x86 CPUs without VNNI multiply u8 x s8 with AVX2's vpmaddubsw, whose int16 sums
    saturate with full-range weights (ONNX Runtime documents this): measured on an AVX2-only AMD EPYC, the 320 px
    model lost 5.3 mAP50-95 points with 8-bit weights and 0.06 with 7-bit ones (150 val images). The file must run
    well wherever it is deployed, so 7 bits is the default.

    uint8 activations: with int8 ones ORT's x86 CPU provider fuses only 6 of the 64 Convs into QLinearConv and runs
    the rest as float between DequantizeLinear/QuantizeLinear, slower than the fp32 model. MinMax calibration:
    Percentile and Entropy scored the same mAP here and need ~19 GB of RAM for 300 images at 320. keep_float: more
    nodes left float (names in the shape-inferred model; models/sensitive.py picks them). compact=False keeps the
    node and tensor names of that model (for comparing the two, tensor by tensor).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    spec = input_spec(src)
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    act_type = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}[activations]
    with tempfile.TemporaryDirectory() as tmp:
        # Shape inference + constant folding first, as ORT asks: quantize_static needs every tensor's shape.
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared))
        excluded = onnx_head_nodes(prepared) if exclude_head else onnx_output_join(prepared)
        quantize_static(
            str(prepared), str(dst), calibration_reader(images, spec),
            quant_format=QuantFormat.QDQ, per_channel=True,
            weight_type=QuantType.QInt8, activation_type=act_type, reduce_range=reduce_range,
            calibrate_method=methods[method], nodes_to_exclude=[*excluded, *keep_float],
            extra_options={"CalibPercentile": 99.999} if method == "percentile" else {},
        )
    copy_onnx_metadata(src, dst)
    if compact:
        compact_onnx(dst)
    return dst


def copy_onnx_metadata(src: Path, dst: Path) -> None:
    """The runtime reads names/imgsz/stride from metadata_props: make sure the quantized file still has them."""
    import onnx

    source, target = onnx.load(str(src)), onnx.load(str(dst))
    have = {p.key for p in target.metadata_props}
    missing = [p for p in source.metadata_props if p.key not in have]
    if missing:
        target.metadata_props.extend(missing)
        onnx.save(target, str(dst))


# ---------------------------------------------------------------- OpenVINO


def openvino_head_scope(model) -> list[str]:
    """The Detect head's decoding ops, found as ultralytics' int8 export does: the scope of the last Sigmoid.

    SiLU is a single Swish op in the IR, so the only Sigmoid ops are the head's class scores.
    """
    ops = model.get_ordered_ops()
    sigmoids = [op.get_friendly_name() for op in ops if op.get_type_name() == "Sigmoid"]
    if not sigmoids:
        return []
    head = sigmoids[-1].split("/", 1)[0]  # "__module.model.22"
    return [op.get_friendly_name() for op in ops
            if op.get_friendly_name().startswith((f"{head}/", f"{head}.dfl")) or op.get_type_name() == "Sigmoid"]


def quantize_openvino(src: Path, dst_dir: Path, images: list[Path], exclude_head: bool = True) -> Path:
    """NNCF post-training quantization of the IR; MIXED = symmetric weights, asymmetric activations."""
    import nncf
    import openvino as ov

    src_dir = src if src.is_dir() else src.parent
    xml = next(src_dir.glob("*.xml")) if src.is_dir() else src
    spec = input_spec(src)
    model = ov.Core().read_model(str(xml))
    ignored = openvino_head_scope(model) if exclude_head else []
    quantized = nncf.quantize(
        model, nncf.Dataset(list(calibration_tensors(images, spec))),
        preset=nncf.QuantizationPreset.MIXED, subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
    )
    if dst_dir.exists():
        shutil.rmtree(dst_dir)
    dst_dir.mkdir(parents=True)
    stem = dst_dir.name.removesuffix("_openvino_model")
    ov.save_model(quantized, str(dst_dir / f"{stem}.xml"), compress_to_fp16=False)  # float leftovers stay fp32
    if (src_dir / "metadata.yaml").exists():
        shutil.copy2(src_dir / "metadata.yaml", dst_dir / "metadata.yaml")  # names, imgsz: the runtime's sidecar
    return dst_dir


# ---------------------------------------------------------------- TFLite / LiteRT


HEAD_MARK = "/head_decode"  # appended to the names of the TFLite head's decoding tensors, to select them
KEEP_FLOAT_MARK = "/keep_float"  # appended to the names of tensors whose ops the accuracy guard leaves float


def mark_tflite_tensors(model: bytes, head: bool, keep_float: tuple[str, ...] = ()) -> bytes:
    """The model's bytes with its box-decoding tensors renamed <name>/head_decode (when `head`) and the tensors
    named in keep_float renamed <name>/keep_float.

    The quantizer selects ops by a regex on their output tensor names, and litert-torch's names are module paths
    with running numbers ("...Detect_22;17"), so the decoding ops are found by shape instead: they are the ones
    whose outputs span all A anchors (the graph output is (1, 4+nc, A)), also flattened (the DFL's weighted sum runs
    as a FULLY_CONNECTED on (4A, 16)); the per-level conv outputs do not.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    if not head and not keep_float:
        return model
    model_t = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    graph = model_t.subgraphs[0]
    anchors = int(graph.tensors[graph.outputs[0]].shape[-1])
    keep = set(keep_float)
    for op in graph.operators:
        for index in op.outputs:
            tensor = graph.tensors[index]
            name = tensor.name.decode()
            marks = (HEAD_MARK * (head and any(d >= anchors and d % anchors == 0 for d in tensor.shape))
                     + KEEP_FLOAT_MARK * (name in keep))
            tensor.name = (name + marks).encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model_t))


def calibrate_min_max(model: bytes, quant_recipe, signature: str, samples: list[dict]) -> dict:
    """Each tensor's min/max over all calibration samples, as ONNX Runtime's MinMax does.

    Quantizer.calibrate keeps a moving average (factor 0.95) of each sample's min and max instead, which clips
    the rare large activations, the confident class logits first: scores came out 0.06 low on average and the
    int8 model lost 2.7 mAP50-95 points where this loses under one.
    """
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(quant_recipe)
    calib = calibrator.Calibrator(model, num_threads=os.cpu_count() or 1, qsv_update_func=qsv_utils.min_max_update)
    calib.calibrate({signature: samples}, manager)
    return calib.get_model_qsvs()


def quantize_tflite(src: Path, dst: Path, images: list[Path], exclude_head: bool = True,
                    integer_io: bool = False, keep_float: tuple[str, ...] = ()) -> Path:
    """ai-edge-quantizer static int8 (int8 weights and activations) on the fp32 LiteRT export.

    Graph input/output stay float, as in ultralytics' own int8 LiteRT export: int8 I/O measured no faster here
    (the input QUANTIZE op is cheap) and float I/O lets any consumer call the model unchanged. `integer_io`
    makes them int8 too, for integer-only accelerators (and to test the runtime's quantized I/O path).
    keep_float: the ops writing these tensors (names in src) stay float (models/sensitive.py picks them).
    """
    qt, ranges = tflite_quantizer(src, images, exclude_head, integer_io, keep_float)
    qt.quantize(calibration_result=ranges).export_model(str(dst), overwrite=True)
    dst.chmod(0o644)  # the quantizer writes it executable
    compact_tflite(dst)
    copy_tflite_metadata(src, dst)
    return dst


def tflite_quantizer(src: Path, images: list[Path], exclude_head: bool = True, integer_io: bool = False,
                     keep_float: tuple[str, ...] = ()):
    """ai-edge-quantizer's Quantizer on src (its tensors marked, the recipe set) and its calibrated ranges."""
    from ai_edge_quantizer import qtyping, quantizer, recipe

    signature, samples = tflite_samples(src, images)
    model = mark_tflite_tensors(src.read_bytes(), exclude_head, keep_float)
    qt = quantizer.Quantizer(model)
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    no_quantize = recipe.AlgorithmName.NO_QUANTIZE
    # Float box decoding when exclude_head: one int8 scale over xywh and scores would cost box precision.
    for mark in (HEAD_MARK,) * exclude_head + (KEEP_FLOAT_MARK,) * bool(keep_float):
        qt.update_quantization_recipe(regex=mark, operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                      algorithm_key=no_quantize)
    for op in () if integer_io else (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
        qt.update_quantization_recipe(regex=".*", operation_name=op, algorithm_key=no_quantize)
    return qt, calibrate_min_max(model, qt.get_quantization_recipe(), signature, samples)


def tflite_samples(src: Path, images: list[Path]) -> tuple[str, list[dict]]:
    """The model's signature and the images as its input samples."""
    from ai_edge_litert.interpreter import Interpreter

    spec = input_spec(src)
    signature, io = next(iter(Interpreter(model_path=str(src)).get_signature_list().items()))
    return signature, [{io["inputs"][0]: t} for t in calibration_tensors(images, spec)]


def copy_tflite_metadata(src: Path, dst: Path) -> None:
    """ultralytics appends a zip holding metadata.json to the .tflite; the runtime reads names/imgsz from it."""
    try:
        with zipfile.ZipFile(src) as archive:
            meta = archive.read("metadata.json")
    except (zipfile.BadZipFile, KeyError):
        return
    append_to_zip(dst, {"metadata.json": meta})


# ---------------------------------------------------------------- CLI


def output_path(model: Path, engine: str, out_dir: Path, integer_io: bool = False, tag: str = "int8") -> Path:
    """<stem>_int8.onnx, <stem>_int8_openvino_model/, <stem>_int8.tflite (a _float32 suffix is dropped);
    <stem>_int8_io.tflite for int8 input and output; another tag (full_int8) replaces int8."""
    if engine == "openvino":
        stem = (model if model.is_dir() else model.parent).name.removesuffix("_openvino_model")
        return out_dir / f"{stem}_{tag}_openvino_model"
    stem = model.stem.removesuffix("_float32")
    return out_dir / f"{stem}_{tag}{'_io' if integer_io else ''}{model.suffix}"


# Each engine's own post-training quantizer, keyed by the runtime's engine names.
QUANTIZERS = {"onnxruntime": quantize_onnx, "openvino": quantize_openvino, "tflite": quantize_tflite}
# The modules each engine's export and quantizer import (besides torch and ultralytics).
TOOLS = {"onnxruntime": ("onnx", "onnxslim", "onnxruntime"), "openvino": ("openvino", "nncf"),
         "tflite": ("litert_torch", "ai_edge_quantizer", "ai_edge_litert")}


def quantize(model: Path, data: Path, engine: str, calib: int, out_dir: Path, **options) -> Path:
    images = calibration_images(data, calib)
    dst = output_path(model, engine, out_dir, options.get("integer_io", False))
    out_dir.mkdir(parents=True, exist_ok=True)
    return QUANTIZERS[engine](model, dst, images, **options)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="fp32 .onnx, *_openvino_model/ (or .xml), or .tflite")
    ap.add_argument("--data", type=Path, default=Path("build/dataset/data.yaml"))
    ap.add_argument("--engine", choices=list(QUANTIZERS), help="default: the engine the file is for")
    ap.add_argument("--calib", type=int, default=300, help="calibration images from the train split")
    ap.add_argument("--out", type=Path, default=Path("models/artifacts"))
    ap.add_argument("--onnx-activations", choices=("uint8", "int8"), default="uint8",
                    help="int8 is slower than fp32 on x86 ONNX Runtime (see quantize_onnx)")
    ap.add_argument("--onnx-calibration", choices=("minmax", "percentile", "entropy"), default="minmax",
                    help="percentile/entropy: no better here, ~19 GB RAM")
    ap.add_argument("--tflite-integer-io", action="store_true", help="int8 graph input and output too")
    ap.add_argument("--quantize-head", action="store_true",
                    help="quantize the head's box decoding too (worse; ONNX keeps only the output Concat float)")
    args = ap.parse_args()

    engine = args.engine or owning_engine(args.model)
    if engine is None:
        raise SystemExit(f"{args.model}: cannot tell the engine; pass --engine")
    options = {"exclude_head": not args.quantize_head}
    if engine == "onnxruntime":
        options.update(activations=args.onnx_activations, method=args.onnx_calibration)
    if engine == "tflite":
        options.update(integer_io=args.tflite_integer_io)
    dst = quantize(args.model, args.data, engine, args.calib, args.out, **options)
    print(json.dumps({"engine": engine, "source": str(args.model), "int8": str(dst),
                      "bytes": {"fp32": model_size(args.model), "int8": model_size(dst)}}))


if __name__ == "__main__":
    main()
