"""Quantization-aware fine-tuning (QAT) of an ultralytics detection checkpoint with NNCF.

NNCF inserts fake quantizers with trainable ranges where OpenVINO's CPU plugin runs int8 (the Detect head's
decoding too when full_int8, else it stays float), the model is fine-tuned on the user's train split with
ultralytics' own data pipeline and loss, and two results come out of the one run:
- the OpenVINO int8 IR, converted from the fine-tuned model (its trained ranges become the IR's FakeQuantize);
- the fine-tuned weights as a plain fp32 checkpoint, for the ONNX Runtime and LiteRT files: no exporter carries
  trained ranges to those two engines (NNCF's ONNX has custom FakeQuantize ops, litert-torch cannot trace it),
  so each engine's own quantizer (models/quantize.py) calibrates the fine-tuned weights (docs/qat-study.md).
"""
from __future__ import annotations

from . import settings  # noqa: F401  (must precede ultralytics)

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.engines.base import InputSpec
from runtime.preprocess import prepare

from .training_data import linked_split

RECIPE = 5  # part of the cache key of a QAT run: bump it when the fine-tuning changes what it makes
BATCH = 16
LR = 1e-5  # small: the checkpoint has converged, QAT only adapts it to the quantization grid
CALIBRATION_IMAGES = 128  # NNCF's initial ranges: as many as ultralytics' own QAT calibrates on (8 batches of 16)


@dataclass
class QATResult:
    weights: Path  # the fine-tuned weights, a plain fp32 ultralytics checkpoint
    openvino: Path  # the int8 IR folder (no metadata.yaml: the caller copies its fp32 export's)


def load_fused(checkpoint: Path):
    """The checkpoint's model in fp32 with BatchNorm folded into the convs (as every export runs it)."""
    settings.init_ultralytics()
    from ultralytics import YOLO

    return YOLO(str(checkpoint)).model.float().fuse()


def prepared(model, imgsz: int, raw_head: bool = False):
    """The model as it is exported (models/rewrites.py drop-ins; raw_head: the head's output undecoded, as --full-int8
    exports it), with the head's anchors computed once for imgsz so that NNCF sees them as constants, not as ops to
    quantize."""
    import torch

    from .rewrites import use_depthwise_adown, use_last_axis_dfl, use_raw_head

    use_last_axis_dfl(model)
    use_depthwise_adown(model)
    if raw_head:
        use_raw_head(model)
    head = model.model[-1]
    head.dynamic, head.export = False, True
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, imgsz, imgsz))
    return model


def head_decoding_nodes(model, example) -> dict[str, str]:
    """NNCF graph nodes of the head's decoding: everything downstream of the last conv of each box and class branch
    (DFL, anchors, Sigmoid, Concat), the rule models/quantize.py applies to the ONNX graph. {name: op type}."""
    from nncf.torch.function_hook.nncf_graph.nncf_graph_builder import build_nncf_graph

    graph = build_nncf_graph(model, example)
    # cv2[i][2] and cv3[i][2], the head's bare output convs, are the convs whose output is reshaped (.view) into
    # the head's rows; every other conv feeds its activation.
    branch_ends = [n for n in graph.get_all_nodes() if n.node_type == "conv2d"
                   and any(m.node_type == "view" for m in graph.get_next_nodes(n))]
    if len(branch_ends) != 2 * model.model[-1].nl:
        raise RuntimeError(f"expected {2 * model.model[-1].nl} head output convs, found {len(branch_ends)}")
    decoding, todo = {}, [n for end in branch_ends for n in graph.get_next_nodes(end)]
    while todo:
        node = todo.pop()
        if node.node_name not in decoding and node.node_type != "nncf_model_output":
            decoding[node.node_name] = node
            todo.extend(graph.get_next_nodes(node))
    # and what only feeds it (the anchors' unsqueeze), so that no quantizer is left on its inputs
    grown = True
    while grown:
        feeders = [n for n in graph.get_all_nodes() if n.node_name not in decoding and n.node_type not in
                   ("conv2d", "nncf_model_input", "nncf_model_const") and graph.get_next_nodes(n)
                   and all(m.node_name in decoding for m in graph.get_next_nodes(n))]
        decoding.update((n.node_name, n) for n in feeders)
        grown = bool(feeders)
    return {name: node.node_type for name, node in decoding.items()}


def spec_for(imgsz: int) -> InputSpec:
    return InputSpec("images", (1, 3, imgsz, imgsz), "NCHW", np.dtype(np.float32))


def calibration_inputs(images: list[Path], imgsz: int):
    """The images as the runtime feeds them (letterboxed, RGB, 0..1), one per batch: the head's cached anchors are
    for batch 1, and another batch size would make it compute them in the graph."""
    import torch

    return [torch.from_numpy(prepare(cv2.imread(str(p), cv2.IMREAD_COLOR), spec_for(imgsz))[0]) for p in images]


def train_loader(train_images: list[Path], names: dict[int, str], imgsz: int, stride: int, seed: int, folder: Path):
    """ultralytics' train pipeline over the user's train images, linked into folder (models/training_data.py:
    ultralytics writes its labels cache beside the labels it reads), mosaic off as in the last epochs of training."""
    from ultralytics.cfg import DEFAULT_CFG, get_cfg
    from ultralytics.data import build_dataloader, build_yolo_dataset

    cfg = get_cfg(DEFAULT_CFG, {"imgsz": imgsz, "mosaic": 0.0, "seed": seed, "workers": 0, "batch": BATCH})
    data = {"names": names, "nc": len(names), "channels": 3}
    listing = linked_split(train_images, folder, "train")
    dataset = build_yolo_dataset(cfg, str(listing), BATCH, data, mode="train", stride=stride)
    # the shuffle's generator derives from torch's seed (init_seeds in quantization_aware)
    return cfg, build_dataloader(dataset, BATCH, workers=0, shuffle=True, pin_memory=False, device="cpu")


def fine_tune(model, loader, cfg, epochs: int) -> list[float]:
    """AdamW at LR with a cosine decay over every step, gradients clipped as ultralytics' trainer does; returns the
    mean loss of each epoch."""
    import torch
    from tqdm import tqdm

    model.args = cfg  # the loss reads its box / cls / dfl gains from here
    model.criterion = None
    for name, parameter in model.named_parameters():  # a loaded checkpoint comes frozen for inference
        parameter.requires_grad_(parameter.is_floating_point() and "dfl" not in name)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR, weight_decay=0.0)
    steps = epochs * len(loader)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    losses = []
    model.train()
    for epoch in range(epochs):
        total = 0.0
        bar = tqdm(loader, desc=f"QAT epoch {epoch + 1}/{epochs}", leave=False)
        for batch in bar:
            batch["img"] = batch["img"].float() / 255
            loss, _ = model.loss(batch)
            optimizer.zero_grad()
            loss.sum().backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
            optimizer.step()
            schedule.step()
            total += float(loss.sum()) / len(batch["img"])
            bar.set_postfix(loss=f"{total / (bar.n + 1):.3f}")
        losses.append(round(total / len(loader), 4))
        print(f"QAT epoch {epoch + 1}/{epochs}: mean loss {losses[-1]}", flush=True)
    model.eval()
    return losses


def save_plain_weights(trained, checkpoint: Path, dest: Path) -> Path:
    """The fine-tuned weights in a copy of the source checkpoint (fused, no quantizers, no rewrites: loads anywhere
    ultralytics does)."""
    import torch

    plain = load_fused(checkpoint)
    state = {k: v for k, v in trained.state_dict().items() if not k.startswith("__nncf_hooks")}
    missing, unexpected = plain.load_state_dict(state, strict=False)
    # The DFL is the one module the rewrites replace; its fixed 0..15 weights are not trained.
    if any("dfl" not in k for k in [*missing, *unexpected]):
        raise RuntimeError(f"fine-tuned weights do not fit the checkpoint: {missing} {unexpected}")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    ckpt.update(model=plain, ema=None, optimizer=None, updates=None)
    torch.save(ckpt, dest)
    return dest


def export_openvino(trained, imgsz: int, dest_dir: Path) -> Path:
    """ov.convert_model of the fine-tuned model: its fake quantizers become the IR's int8 FakeQuantize ops."""
    import openvino as ov
    import torch

    dest_dir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        ir = ov.convert_model(trained, example_input=torch.zeros(1, 3, imgsz, imgsz))
    ir.outputs[0].get_tensor().set_names({"output0"})
    ov.save_model(ir, str(dest_dir / f"{dest_dir.name.removesuffix('_openvino_model')}.xml"), compress_to_fp16=False)
    return dest_dir


def build_cpu_extension() -> None:
    """NNCF compiles its CPU fake-quantization kernels on first use (g++, ~1-3 min on 2 cores) and by default gives
    up after 60 s; without a compiler it falls back to plain torch operations (slower fine-tuning)."""
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")


def quantization_aware(checkpoint: Path, train_images: list[Path], names: dict[int, str], imgsz: int, epochs: int,
                       full_int8: bool, calibration: list[Path], folder: Path, ov_name: str,
                       seed: int = 0) -> QATResult:
    """NNCF QAT of `checkpoint` fine-tuned `epochs` epochs on the train images; writes folder/<its stem>.pt and
    folder/<ov_name>/."""
    build_cpu_extension()
    import nncf
    import torch
    from ultralytics.utils.torch_utils import init_seeds

    init_seeds(seed)  # random, numpy (augmentation) and torch
    model = prepared(load_fused(checkpoint), imgsz, raw_head=full_int8)
    example = torch.zeros(1, 3, imgsz, imgsz)
    decoding = head_decoding_nodes(model, example)
    # full int8 keeps one op float: the DFL's fixed 0..15 weighted sum (a MatMul on a (16, 1) constant), whose
    # per-channel weight quantizer NNCF inserts but cannot export ("dimensions of scale and zero-point are not
    # consistent"); its input, the softmax, is quantized.
    ignored = nncf.IgnoredScope(names=[n for n, kind in decoding.items() if not full_int8 or kind == "matmul"])
    inputs = calibration_inputs(calibration[:CALIBRATION_IMAGES], imgsz)
    quantized = nncf.quantize(model, nncf.Dataset(inputs), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(inputs), ignored_scope=ignored)
    folder.mkdir(parents=True, exist_ok=True)
    init_seeds(seed)  # again: nncf.quantize reseeds torch (two seeds gave bit-identical weights without this)
    cfg, loader = train_loader(train_images, names, imgsz, int(model.stride.max()), seed, folder)
    fine_tune(quantized, loader, cfg, epochs)
    weights = save_plain_weights(quantized, checkpoint, folder / f"{checkpoint.stem}.pt")
    openvino = export_openvino(quantized, imgsz, folder / ov_name)
    return QATResult(weights, openvino)

