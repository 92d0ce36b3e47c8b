"""Structured channel pruning of an ultralytics YOLOv8-style detector with Torch-Pruning's dependency graph.

Every conv's output channels are pruned with what depends on them (the residual adds of the bottlenecks, the
concats of C2f, SPPF and the neck, the Detect head's hidden convs); the head's output convs and DFL keep their
channels (they are the model's outputs). Channels are ranked by the L2 norm of their whole dependency group and
every layer keeps a multiple of 8 (ROUND_TO), the widths int8 kernels are fastest on.

C2f's first conv is split into its two halves for the graph (Torch-Pruning cannot follow its chunk) and joined back
afterwards: both halves have the same width and get the same ratio, so they keep the same count, and the pruned
model is made of ultralytics' own modules again (it loads, trains and exports without this package).
"""
from __future__ import annotations

from . import settings  # noqa: F401  (must precede ultralytics)

import copy

import torch
from torch import nn

ROUND_TO = 8
MIN_WIDTH = 16  # layers this narrow (the stem at full resolution) are kept whole: halving them costs the most


class SplitC2f(nn.Module):
    """C2f with cv1 as two convs (cv0: the half that goes straight to the concat, cv1: the half the bottlenecks
    take), computing exactly what C2f computes."""

    def __init__(self, c2f):
        super().__init__()
        self.cv0, self.cv1 = halves(c2f.cv1)
        self.cv2, self.m = c2f.cv2, c2f.m
        for name in ("f", "i", "type", "np"):  # ultralytics' graph bookkeeping
            if hasattr(c2f, name):
                setattr(self, name, getattr(c2f, name))

    def forward(self, x):
        y = [self.cv0(x), self.cv1(x)]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


def halves(conv):
    """An ultralytics Conv (conv + BatchNorm + activation) cut into two Convs of its first and second half of the
    output channels."""
    first, second = copy.deepcopy(conv), copy.deepcopy(conv)
    c = conv.conv.out_channels // 2
    for part, kept in ((first, slice(0, c)), (second, slice(c, 2 * c))):
        part.conv.weight = nn.Parameter(conv.conv.weight.data[kept].clone())
        part.conv.out_channels = c
        if part.conv.bias is not None:
            part.conv.bias = nn.Parameter(conv.conv.bias.data[kept].clone())
        bn = part.bn
        bn.weight, bn.bias = nn.Parameter(bn.weight.data[kept].clone()), nn.Parameter(bn.bias.data[kept].clone())
        bn.running_mean, bn.running_var = bn.running_mean[kept].clone(), bn.running_var[kept].clone()
        bn.num_features = c
    return first, second


def joined(first, second):
    """The inverse of halves: one Conv whose output channels are first's, then second's."""
    conv = copy.deepcopy(first)
    cat = lambda a, b: torch.cat([a, b]).clone()  # noqa: E731
    conv.conv.weight = nn.Parameter(cat(first.conv.weight.data, second.conv.weight.data))
    if first.conv.bias is not None:
        conv.conv.bias = nn.Parameter(cat(first.conv.bias.data, second.conv.bias.data))
    conv.conv.out_channels = conv.conv.weight.shape[0]
    bn, a, b = conv.bn, first.bn, second.bn
    bn.weight, bn.bias = nn.Parameter(cat(a.weight.data, b.weight.data)), nn.Parameter(cat(a.bias.data, b.bias.data))
    bn.running_mean, bn.running_var = cat(a.running_mean, b.running_mean), cat(a.running_var, b.running_var)
    bn.num_features = conv.conv.out_channels
    return conv


def split_c2f(model) -> int:
    """Replace every C2f of the detection model by a SplitC2f; returns how many."""
    from ultralytics.nn.modules import C2f

    count = 0
    for index, module in enumerate(model.model):
        if type(module) is C2f:
            model.model[index] = SplitC2f(module)
            count += 1
    return count


def join_c2f(model) -> None:
    """Every SplitC2f back into ultralytics' C2f (its halves must have kept the same width)."""
    from ultralytics.nn.modules import C2f

    for index, module in enumerate(model.model):
        if isinstance(module, SplitC2f):
            c = module.cv0.conv.out_channels
            if module.cv1.conv.out_channels != c:
                raise RuntimeError(f"layer {index}: C2f halves pruned to {c} and {module.cv1.conv.out_channels}")
            c2f = C2f.__new__(C2f)
            nn.Module.__init__(c2f)
            c2f.c, c2f.cv1, c2f.cv2, c2f.m = c, joined(module.cv0, module.cv1), module.cv2, module.m
            for name in ("f", "i", "type", "np"):
                if hasattr(module, name):
                    setattr(c2f, name, getattr(module, name))
            model.model[index] = c2f


def kept_layers(model) -> list[nn.Module]:
    """What keeps its channels: the Detect head's output convs (box distributions, class logits), its DFL, and every
    conv of at most MIN_WIDTH output channels."""
    head = model.model[-1]
    narrow = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels <= MIN_WIDTH]
    return [*(branch[-1] for branch in (*head.cv2, *head.cv3)), head.dfl, *narrow]


def macs(model, imgsz: int) -> int:
    """Multiply-accumulates of one imgsz x imgsz image (Torch-Pruning's count)."""
    import torch_pruning as tp

    was_training = model.training
    model.eval()
    count, _ = tp.utils.count_ops_and_params(model, torch.zeros(1, 3, imgsz, imgsz))
    model.train(was_training)
    return int(count)


def prune_channels(model, ratio: float, imgsz: int):
    """A pruned copy of model with `ratio` of every prunable dependency group's channels removed (the least
    important by L2 norm), each layer rounded to a multiple of ROUND_TO. The model stays ultralytics' own."""
    import torch_pruning as tp

    pruned = copy.deepcopy(model).float()
    split_c2f(pruned)
    for parameter in pruned.parameters():
        parameter.requires_grad_(True)  # the dependency graph traces gradients
    pruned.eval()
    head = pruned.model[-1]
    dynamic = head.dynamic
    pruner = tp.pruner.MetaPruner(
        pruned, torch.zeros(1, 3, imgsz, imgsz),
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=ratio, ignored_layers=kept_layers(pruned), round_to=ROUND_TO,
        output_transform=lambda out: out[0] if isinstance(out, tuple) else out,
    )
    pruner.step()
    head.dynamic = dynamic
    join_c2f(pruned)
    return pruned


def prune_to_macs(model, target: float, imgsz: int, tolerance: float = 0.01):
    """The model pruned by the smallest uniform channel ratio that removes at least `target` of its MACs (bisection
    on the ratio, to within `tolerance` of it); a target of 0 or less leaves it whole (ratio 0). Returns (pruned
    model, ratio, MACs before, MACs after)."""
    before = macs(model, imgsz)
    if target <= 0:
        return copy.deepcopy(model), 0.0, before, before
    low, high, best = 0.0, 0.9, None
    while high - low > tolerance:
        middle = (low + high) / 2
        candidate = prune_channels(model, middle, imgsz)
        after = macs(candidate, imgsz)
        if 1 - after / before >= target:
            high, best = middle, (candidate, middle, after)
        else:
            low = middle
    if best is None:
        raise ValueError(f"no ratio up to {high} removes {target:.0%} of the MACs")
    candidate, ratio, after = best
    return candidate, ratio, before, after
