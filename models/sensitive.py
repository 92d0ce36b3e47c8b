"""The accuracy guard's second remedy: int8 with the most sensitive layers kept in float, found by each engine's own
tool (yolo-edge-optimize tries it when more calibration images did not bring an int8 file within --max-drop).

- OpenVINO: NNCF's accuracy-control quantization (nncf.quantize_with_accuracy_control), which ranks the quantized
  layers by how much mAP each costs and reverts the worst to float until the drop is met; its metric is the
  runtime's own mAP50-95 on labelled train images (never the split the report scores).
- ONNX Runtime: its QDQ debugging tools (onnxruntime.quantization.qdq_loss_debug) give each quantized tensor's
  signal-to-quantization-noise ratio on the calibration images; the nodes whose outputs lose the most are
  excluded from quantization.
- LiteRT: ai-edge-quantizer's model validator compares every tensor of the int8 model with the float model's on
  the calibration images (signal-to-noise ratio); the ops whose outputs lose the most stay float.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from runtime import postprocess
from runtime.detections import Detections
from runtime.preprocess import prepare
from runtime.sources import read_image
from runtime.val import VAL_OPTIONS, coco_ground_truth, coco_map, predictions_for

from .quantize import (HEAD_MARK, calibration_reader, calibration_tensors, input_spec, openvino_head_scope,
                       quantize_onnx, quantize_tflite, tflite_quantizer, tflite_samples)

KEEP_FLOAT_SHARE = 0.1  # ONNX Runtime and LiteRT: the share of quantized ops, the noisiest first, left float
RANKING_IMAGES = 16  # ONNX Runtime keeps every intermediate tensor of every image: 300 at 320 px took > 24 GB


class CompiledDetector:
    """Detector.predict's pre- and post-processing around an OpenVINO CompiledModel that NNCF hands to the metric."""

    def __init__(self, compiled, spec, names: dict[int, str], path: Path):
        self.compiled, self.spec, self.names, self.path = compiled, spec, names, path
        self._normalized = None

    def predict(self, image: Path) -> Detections:
        frame = read_image(image)
        tensor, box = prepare(frame, self.spec)
        raw = np.asarray(self.compiled(tensor)[0], dtype=np.float32)
        pred, _, self._normalized = postprocess.canonical_head(raw, len(self.names), self.spec.input_hw, False,
                                                               self._normalized)
        xyxy, conf, cls = postprocess.select(pred, conf=VAL_OPTIONS["conf"], iou=VAL_OPTIONS["iou"],
                                             max_det=VAL_OPTIONS["max_det"])
        return Detections.model_construct(xyxy=box.boxes_to_frame(xyxy), confidence=conf.astype(np.float32),
                                          class_id=cls.astype(np.int64), names=self.names, image_shape=box.frame_hw)


def openvino_accuracy_control(src: Path, dst_dir: Path, calibration: list[Path], validation: list[Path],
                              names: dict[int, str], max_drop: float, exclude_head: bool = True) -> Path:
    """NNCF accuracy-control quantization of the fp32 IR: at most max_drop mAP50-95 points lost on `validation`."""
    import shutil

    import nncf
    import openvino as ov

    src_dir = src if src.is_dir() else src.parent
    spec = input_spec(src)
    model = ov.Core().read_model(str(next(src_dir.glob("*.xml"))))
    ground_truth = coco_ground_truth(validation, names)

    def metric(compiled, images) -> float:
        detector = CompiledDetector(compiled, spec, names, src)
        return coco_map(ground_truth, predictions_for(detector, list(images), progress=False))["map50_95"]

    ignored = openvino_head_scope(model) if exclude_head else []
    quantized = nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(list(calibration_tensors(calibration, spec))), nncf.Dataset(validation), metric,
        max_drop=max_drop / 100, drop_type=nncf.DropType.ABSOLUTE, preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(calibration), ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None)
    shutil.rmtree(dst_dir, ignore_errors=True)
    dst_dir.mkdir(parents=True)
    ov.save_model(quantized, str(dst_dir / f"{dst_dir.name.removesuffix('_openvino_model')}.xml"),
                  compress_to_fp16=False)
    shutil.copy2(src_dir / "metadata.yaml", dst_dir / "metadata.yaml")
    return dst_dir


def onnx_noisiest_nodes(src: Path, calibration: list[Path], exclude_head: bool = True) -> list[str]:
    """Names (in the shape-inferred model quantize_onnx quantizes) of the KEEP_FLOAT_SHARE of quantized nodes whose
    output tensors have the lowest signal-to-quantization-noise ratio on the calibration images."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    spec = input_spec(src)
    ranking = calibration[:RANKING_IMAGES]
    with tempfile.TemporaryDirectory() as tmp:
        # quantize_onnx quantizes the same shape-inferred model, so uncompacted its names are this one's
        prepared, qdq = Path(tmp) / "prepared.onnx", Path(tmp) / "qdq.onnx"
        quant_pre_process(str(src), str(prepared))
        quantize_onnx(src, qdq, calibration, exclude_head=exclude_head, compact=False)
        acts = {}
        for name, model in (("float", prepared), ("qdq", qdq)):
            augmented = Path(tmp) / f"{name}-augmented.onnx"
            modify_model_output_intermediate_tensors(str(model), str(augmented))
            acts[name] = collect_activations(str(augmented), calibration_reader(ranking, spec))
        errors = compute_activation_error(create_activation_matching(acts["qdq"], acts["float"]))
        producers = {out: node.name for node in onnx.load(str(prepared)).graph.node for out in node.output}
    noisy = sorted((e["qdq_err"], tensor) for tensor, e in errors.items() if tensor in producers and "qdq_err" in e)
    nodes = list(dict.fromkeys(producers[t] for _, t in noisy))
    return nodes[:max(1, round(KEEP_FLOAT_SHARE * len(nodes)))]


def onnx_with_noisiest_float(src: Path, dst: Path, images: list[Path], exclude_head: bool, sensitive) -> Path:
    keep = onnx_noisiest_nodes(src, images, exclude_head=exclude_head)
    print(f"onnxruntime: {len(keep)} noisiest nodes left float")
    return quantize_onnx(src, dst, images, exclude_head=exclude_head, keep_float=tuple(keep))


def openvino_with_accuracy_control(src: Path, dst: Path, images: list[Path], exclude_head: bool, sensitive) -> Path:
    return openvino_accuracy_control(src, dst, images, sensitive.validation, sensitive.names, sensitive.max_drop,
                                     exclude_head=exclude_head)


def tflite_noisiest_tensors(src: Path, calibration: list[Path], exclude_head: bool = True) -> list[str]:
    """Names (in src) of the KEEP_FLOAT_SHARE of the int8 model's intermediate tensors (the head's float decoding
    aside) with the lowest signal-to-noise ratio against the float model's, on the first RANKING_IMAGES calibration
    images; their ops are the ones to leave float."""
    from ai_edge_quantizer.utils import validation_utils

    qt, ranges = tflite_quantizer(src, calibration, exclude_head)
    qt.quantize(calibration_result=ranges)
    signature, samples = tflite_samples(src, calibration[:RANKING_IMAGES])
    snr = validation_utils.ValidationErrorMetric.SNR
    result = qt.validate({signature: samples}, [snr], num_threads=os.cpu_count() or 1)
    tensors = result.get_signature_comparison_result(signature).intermediate_tensors
    ranked = sorted((errors[snr.value], name) for name, errors in tensors.items() if HEAD_MARK not in name)
    return [name for _, name in ranked[:max(1, round(KEEP_FLOAT_SHARE * len(ranked)))]]


def tflite_with_noisiest_float(src: Path, dst: Path, images: list[Path], exclude_head: bool, sensitive) -> Path:
    keep = tflite_noisiest_tensors(src, images, exclude_head=exclude_head)
    print(f"tflite: {len(keep)} noisiest ops left float")
    return quantize_tflite(src, dst, images, exclude_head=exclude_head, keep_float=tuple(keep))


# The engines that have this remedy, each with its own tool; (src, dst, calibration images, exclude_head,
# optimize_methods.Sensitive) -> the int8 file.
REMEDIES = {"onnxruntime": onnx_with_noisiest_float, "openvino": openvino_with_accuracy_control,
            "tflite": tflite_with_noisiest_float}

