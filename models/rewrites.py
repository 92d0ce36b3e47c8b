"""Export-time drop-ins for ultralytics modules: the same weights and numbers, in graphs the engines run faster.

- LastAxisDFL: the Detect head's DFL (distribution focal loss decoding) with its softmax over the last axis.
  ultralytics' DFL turns each box side's 16 logits into an expected distance: softmax over the 16 bins, then a
  1x1 conv with the fixed weights 0..15. It lays the bins out on axis 1 of (b, 16, 4, A), and ONNX Runtime's
  Softmax over an inner axis is slow: 10.8 ms for the 640 px head against 0.9 ms for the same numbers laid out as
  (b, 4, A, 16) with the softmax over the last axis and the weighted sum as a MatMul (2 threads, measured on the
  development CPU). Same result up to float rounding (~3e-6 on the distances).
- DepthwiseADown: ADown (YOLOv9) with its 2x2 stride-1 average pool as a depthwise convolution with weights 1/4.
  Quantized, that pool was the light model's slowest op on two engines: ONNX Runtime's QLinearAveragePool took
  2.3 of 8.5 ms and LiteRT's int8 AVERAGE_POOL_2D 2.3 of 5.4 ms (320 px, 1 thread), while int8 depthwise
  convolutions run in fast kernels. 1/4 is exact in float and in int8 (per-channel scale 0.25/127); the PyTorch
  outputs are bit-equal.
- ChannelSoftmaxASFF: the light model's ASFF with its level weights as one Softmax over channels (models/blocks.py
  writes it out as exp / sum, which ONNX Runtime runs 5-10x faster). In LiteRT the written-out form costs: the
  light int8 model had 521 ops in 9 XNNPACK partitions with it and 430 ops in 3 partitions without, and ran
  3.5 against 3.2 ms (320 px, 1 thread). Same numbers to ~1e-7.

- use_raw_head: the Detect head without its decoding, for integer-only graphs (--full-int8): the output is the
  box sides' DFL logits and the class logits, (1, 4*16+nc, A), which the runtime decodes on the host
  (runtime/postprocess.py decode_dfl). Quantized with the decoding inside, the 320 px model lost 8-11 mAP50-95
  points on ONNX Runtime and LiteRT (docs/model-experiments.md); logits of similar range share one int8 scale well.

Except for use_raw_head, the exported output contract (1, 4+nc, A) is unchanged, and ultralytics runs the exported
files like any other.
"""

from __future__ import annotations

from . import settings  # noqa: F401  (must precede ultralytics)

from typing import Callable

import torch
from torch import nn

from ultralytics.nn.modules.head import Detect

from .blocks import ASFF


class LastAxisDFL(nn.Module):
    """Drop-in for ultralytics' DFL: softmax over the bins on the last axis, then bins @ (0..c1-1)."""

    def __init__(self, dfl: nn.Module):
        super().__init__()
        self.c1 = dfl.c1
        self.register_buffer("bins", dfl.conv.weight.detach().reshape(dfl.c1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape  # batch, 4 * c1 logits, anchors
        return (x.view(b, 4, self.c1, a).transpose(2, 3).softmax(3) @ self.bins).view(b, 4, a)


class DepthwiseADown(nn.Module):
    """Drop-in for ultralytics' ADown: the same cv1 / cv2, the 2x2 stride-1 average pool as a fixed depthwise conv."""

    def __init__(self, adown: nn.Module):
        super().__init__()
        self.c, self.cv1, self.cv2 = adown.c, adown.cv1, adown.cv2
        channels = adown.cv1.conv.in_channels * 2  # ADown splits its input in halves for cv1 and cv2
        self.register_buffer("pool", torch.full((channels, 1, 2, 2), 0.25))
        copy_routing(adown, self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.conv2d(x, self.pool.to(x.dtype), groups=self.pool.shape[0])
        x1, x2 = x.chunk(2, 1)
        x1 = self.cv1(x1)
        x2 = nn.functional.max_pool2d(x2, 3, 2, 1)
        return torch.cat((x1, self.cv2(x2)), 1)


class ChannelSoftmaxASFF(ASFF):
    """Drop-in for models.blocks.ASFF: the same convs and fusion, the softmax over the k level logits as one op."""

    def __init__(self, asff: ASFF):
        nn.Module.__init__(self)  # takes asff's modules as they are, trained weights included
        self.c, self.k, self.weight, self.levels, self.conv = asff.c, asff.k, asff.weight, asff.levels, asff.conv
        copy_routing(asff, self)

    def level_weights(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return list(logits.softmax(1).split(1, 1))


def copy_routing(old: nn.Module, new: nn.Module) -> None:
    """Carry over the routing that ultralytics' parse_model puts on top-level layers (from, index, type, params)."""
    for attr in ("f", "i", "type", "np"):
        if hasattr(old, attr):
            setattr(new, attr, getattr(old, attr))


def replace_modules(model: nn.Module, kind: type, make: Callable[[nn.Module], nn.Module]) -> int:
    """Swap every module of exactly type `kind` inside model (in place) for make(it); returns how many were swapped.
    Exact type: a drop-in may subclass what it replaces, and a second call must not wrap it again."""
    swapped = 0
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is kind:
                setattr(module, name, make(child))
                swapped += 1
    return swapped


def use_last_axis_dfl(model: nn.Module) -> int:
    from ultralytics.nn.modules.block import DFL

    return replace_modules(model, DFL, LastAxisDFL)


def use_depthwise_adown(model: nn.Module) -> int:
    from ultralytics.nn.modules.block import ADown

    return replace_modules(model, ADown, DepthwiseADown)


def use_channel_softmax_asff(model: nn.Module) -> int:
    return replace_modules(model, ASFF, ChannelSoftmaxASFF)


class RawDetect(Detect):
    """Detect returning the box logits and class logits of every anchor, undecoded (b, 4*reg_max+nc, A)."""

    def _inference(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat((x["boxes"], x["scores"]), 1)


def use_raw_head(model: nn.Module) -> int:
    """Make every Detect head (exactly that type) output its logits undecoded; returns how many there were."""
    heads = [m for m in model.modules() if type(m) is Detect]
    for head in heads:
        if head.reg_max != 16 or getattr(head, "end2end", False):
            raise ValueError("a raw head needs a YOLOv8-style Detect head (16 DFL bins, not end-to-end)")
        head.__class__ = RawDetect
    return len(heads)
