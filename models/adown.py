"""ADown with its 2x2 average pool written as a depthwise convolution (weights 1/4), for export.

ultralytics' ADown (YOLOv9) starts with avg_pool2d(x, 2, stride 1). Quantized, that pool is the slowest op of the
light model on two engines: ONNX Runtime's QLinearAveragePool took 2.3 of 8.5 ms and LiteRT's int8
AVERAGE_POOL_2D 2.3 of 5.4 ms (320 px, 1 thread), while int8 depthwise convolutions run in their fast kernels.
The weights 1/4 are exact in float and in int8 (per-channel scale 0.25/127), so the numbers are those of the
pool up to float summation order (~1e-7). Same weights otherwise; ultralytics runs the exported file like any other.
"""

from __future__ import annotations

import torch
from torch import nn


class DepthwiseADown(nn.Module):
    """Drop-in for ultralytics' ADown: the same cv1 / cv2, the 2x2 stride-1 average pool as a fixed depthwise conv."""

    def __init__(self, adown: nn.Module):
        super().__init__()
        self.c, self.cv1, self.cv2 = adown.c, adown.cv1, adown.cv2
        channels = adown.cv1.conv.in_channels * 2  # ADown splits its input in halves for cv1 and cv2
        self.register_buffer("pool", torch.full((channels, 1, 2, 2), 0.25))
        for attr in ("f", "i", "type", "np"):  # the routing ultralytics' parse_model puts on top-level layers
            if hasattr(adown, attr):
                setattr(self, attr, getattr(adown, attr))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.conv2d(x, self.pool.to(x.dtype), groups=self.pool.shape[0])
        x1, x2 = x.chunk(2, 1)
        x1 = self.cv1(x1)
        x2 = nn.functional.max_pool2d(x2, 3, 2, 1)
        return torch.cat((x1, self.cv2(x2)), 1)


def use_depthwise_adown(model: nn.Module) -> int:
    """Swap every ADown inside model (in place) for DepthwiseADown; returns how many were swapped."""
    from ultralytics.nn.modules.block import ADown

    swapped = 0
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, ADown):
                setattr(module, name, DepthwiseADown(child))
                swapped += 1
    return swapped
