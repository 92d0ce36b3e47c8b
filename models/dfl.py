"""The Detect head's DFL (distribution focal loss decoding) with its softmax over the last axis, for export.

ultralytics' DFL turns each box side's 16 logits into an expected distance: softmax over the 16 bins, then a
1x1 conv with the fixed weights 0..15. It lays the bins out on axis 1 of (b, 16, 4, A), and ONNX Runtime's
Softmax over an inner axis is slow: 10.8 ms for the 640 px head against 0.9 ms for the same numbers laid out
as (b, 4, A, 16) with the softmax over the last axis and the weighted sum as a MatMul (2 threads, measured on
the development CPU). Same weights, same result up to float rounding (~3e-6 on the distances); the exported
output contract (1, 4+nc, A) is unchanged, and ultralytics runs the exported file like any other.
"""

from __future__ import annotations

import torch
from torch import nn


class LastAxisDFL(nn.Module):
    """Drop-in for ultralytics' DFL: softmax over the bins on the last axis, then bins @ (0..c1-1)."""

    def __init__(self, dfl: nn.Module):
        super().__init__()
        self.c1 = dfl.c1
        self.register_buffer("bins", dfl.conv.weight.detach().reshape(dfl.c1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape  # batch, 4 * c1 logits, anchors
        return (x.view(b, 4, self.c1, a).transpose(2, 3).softmax(3) @ self.bins).view(b, 4, a)


def use_last_axis_dfl(model: nn.Module) -> int:
    """Swap every DFL inside model (in place) for LastAxisDFL; returns how many were swapped."""
    from ultralytics.nn.modules.block import DFL

    swapped = 0
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, DFL):
                setattr(module, name, LastAxisDFL(child))
                swapped += 1
    return swapped
