"""Blocks for the lightweight YOLOv8 recipes in models/recipes/, usable from ultralytics model yamls.

    from models import blocks
    blocks.register()  # once per process, before YOLO("models/recipes/yolov8n-light.yaml")

- PConv, FasterNetBlock, CSPPC: C2f whose bottlenecks are FasterNet blocks built on partial convolution
  (FasterNet, Chen et al. 2023, arXiv 2303.03667).
- ADown is not defined here: the recipes use ultralytics' own (ultralytics.nn.modules.block.ADown, YOLOv9).
- ASFF, BasicBlock: the pieces of an AFPN neck (asymptotic feature pyramid, Yang et al. 2023, arXiv 2306.15988).
  The AFPN topology itself is written out in the recipe yaml with ultralytics' Conv / nn.Upsample / Concat rows,
  so its P3/P4/P5 outputs feed ultralytics' standard Detect head and the exported model keeps YOLOv8's output.
"""
from __future__ import annotations

from . import settings  # noqa: F401  (must precede ultralytics)

import ast
import importlib.util
import inspect
import sys
import textwrap

import torch
from torch import nn
from ultralytics.nn.modules.block import C2f
from ultralytics.nn.modules.conv import Conv


class PConv(nn.Module):
    """Partial convolution (FasterNet): a k x k conv over the first c // n_div channels, the rest passed through.

    As in FasterNet: a plain conv (no norm, no activation, no bias), same channels in and out, ratio 1/4.
    """

    def __init__(self, c: int, n_div: int = 4, k: int = 3):
        super().__init__()
        self.c_conv = c // n_div
        if self.c_conv < 1:
            raise ValueError(f"PConv needs at least n_div={n_div} channels, got {c}")
        self.c_keep = c - self.c_conv
        self.conv = nn.Conv2d(self.c_conv, self.c_conv, k, 1, k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = torch.split(x, [self.c_conv, self.c_keep], 1)
        return torch.cat((self.conv(x1), x2), 1)


class FasterNetBlock(nn.Module):
    """FasterNet block: PConv, then 1x1 conv to 2c with norm + activation, then 1x1 conv back to c; optional residual.

    Norm and activation only after the middle layer, as in FasterNet; the activation is YOLOv8's SiLU (ultralytics
    Conv) instead of FasterNet's GELU/ReLU. `shortcut` plays the role it has in C2f's Bottleneck.
    """

    def __init__(self, c: int, shortcut: bool = True, n_div: int = 4, expand: int = 2):
        super().__init__()
        self.pconv = PConv(c, n_div)
        self.pw1 = Conv(c, c * expand, 1)
        self.pw2 = nn.Conv2d(c * expand, c, 1, bias=False)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw2(self.pw1(self.pconv(x)))
        return x + y if self.add else y


class CSPPC(C2f):
    """C2f with each Bottleneck (two 3x3 convs, 18c^2 weights) replaced by a FasterNetBlock (~4.6c^2 weights).

    Same arguments, channel split and concatenation as ultralytics' C2f (and the same export handling: ultralytics
    treats it as a C2f); only the bottlenecks change. n_div: the PConvs convolve 1/n_div of the channels
    (FasterNet's 4; a yaml row passes it after e, e.g. [128, True, 0.5, 2]).
    """

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, e: float = 0.5, n_div: int = 4):
        super().__init__(c1, c2, n, shortcut, e=e)
        self.m = nn.ModuleList(FasterNetBlock(self.c, shortcut, n_div) for _ in range(n))


class ASFF(nn.Module):
    """Adaptive spatial fusion (ASFF_2 / ASFF_3 of AFPN) of k same-shape maps that arrive concatenated (k*c2 channels).

    Per level a 1x1 conv compresses to `compress` channels; a 1x1 conv over their concatenation gives k logits per
    pixel; softmax over the levels gives the weights of a per-pixel weighted sum, followed by a 3x3 conv. Taking the
    inputs as one concatenated tensor (a Concat row before it) lets it sit in a yaml like any single-input block.
    """

    def __init__(self, c1: int, c2: int, k: int = 2, compress: int = 8):
        super().__init__()
        if c1 != k * c2:
            raise ValueError(f"ASFF fuses {k} maps of {c2} channels, so it needs {k * c2} input channels, got {c1}")
        self.c, self.k = c2, k
        self.weight = nn.ModuleList(Conv(c2, compress, 1) for _ in range(k))
        self.levels = nn.Conv2d(k * compress, k, 1)
        self.conv = Conv(c2, c2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = x.split(self.c, 1)
        w = self.level_weights(self.levels(torch.cat([f(xi) for f, xi in zip(self.weight, xs)], 1)))
        y = xs[0] * w[0]
        for i in range(1, self.k):
            y = y + xs[i] * w[i]
        return self.conv(y)

    def level_weights(self, logits: torch.Tensor) -> list[torch.Tensor]:
        """(b, k, h, w) logits -> k per-pixel weight maps that sum to 1."""
        return softmax_over_maps(logits.split(1, 1))


def softmax_over_maps(logits: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """Softmax across k single-channel maps, written out as exp(z - max) / sum: the same numbers as .softmax(1)
    on their concatenation (to ~1e-7), as element-wise ops in the exported graph. ONNX Runtime's Softmax over the
    channel axis ran 5-10x slower (0.19-0.61 ms against 0.04-0.07 ms per ASFF on 80-160 px maps); the whole light
    model at 640 px: 2% faster on ONNX Runtime. OpenVINO and LiteRT run the one-op Softmax faster: their exports
    swap in models.rewrites.ChannelSoftmaxASFF (models/export.py)."""
    peak = logits[0]
    for z in logits[1:]:
        peak = torch.maximum(peak, z)
    exps = [torch.exp(z - peak) for z in logits]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    return [e / total for e in exps]


class BasicBlock(nn.Module):
    """AFPN's residual unit (ResNet basic block): act(x + bn(conv3x3(conv3x3(x)))), with ultralytics Conv / SiLU."""

    def __init__(self, c1: int, c2: int):
        super().__init__()
        if c1 != c2:
            raise ValueError(f"BasicBlock keeps its channels, got {c1} -> {c2}")
        self.cv1 = Conv(c1, c2, 3)
        self.cv2 = Conv(c2, c2, 3, act=False)
        self.act = self.cv1.act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.cv2(self.cv1(x)))


# parse_model argument conventions: every block takes (c1, c2, *yaml args[1:]) like Conv; CSPPC also takes the
# depth-scaled repeat count n like C2f.
BASE_MODULES = (CSPPC, ASFF, BasicBlock)
REPEAT_MODULES = (CSPPC,)


def alias_checkout_name() -> None:
    """Let checkpoints trained in a repository checkout load where this package is installed.

    They pickle these classes as models.blocks.*; installed, this module is yolo_edge_factory.blocks and ultralytics,
    failing to import `models`, calls the file a YOLOv5 model. Unpickling imports the module (its package first)
    through sys.modules, so both names point to this package, but only when nothing else can be imported as
    `models`: a project's own package of that name always wins.
    """
    if __name__ == "models.blocks" or "models" in sys.modules or importlib.util.find_spec("models") is not None:
        return
    sys.modules["models"] = sys.modules[__package__]
    sys.modules["models.blocks"] = sys.modules[__name__]


def register() -> None:
    """Let ultralytics' yaml model builder (ultralytics.nn.tasks.parse_model) build the blocks here. Idempotent.

    parse_model looks a yaml module name up with globals()[name] in ultralytics.nn.tasks, so the classes are added
    to that namespace. It computes constructor channels (c1 = ch[f], c2 = yaml c2 scaled by width and capped by
    max_channels, depth-scaled repeats n inserted as the third argument) only for classes in two sets it builds
    inside the function, base_modules and repeat_modules; any other class gets its yaml args verbatim and is
    recorded as keeping its input channels, which is wrong for these blocks. Those sets have no extension hook, so
    register() swaps tasks.parse_model for a copy compiled from ultralytics' own source with our classes appended to
    the two set literals (BASE_MODULES / REPEAT_MODULES above); nothing else in the function changes. Every
    ultralytics builder (YOLO(yaml), DetectionModel, the trainer's get_model) calls parse_model through the tasks
    namespace, so they all see the copy. Saved checkpoints refer to these classes by this module's name
    (alias_checkout_name lets the installed package load a checkout's); register() is not needed to load a .pt.
    """
    from ultralytics.nn import tasks

    for cls in BASE_MODULES:  # REPEAT_MODULES is a subset
        other = getattr(tasks, cls.__name__, cls)
        if getattr(other, "__module__", __name__) != __name__:
            raise RuntimeError(f"ultralytics.nn.tasks already has a {cls.__name__} ({other!r}); rename ours")
        setattr(tasks, cls.__name__, cls)
    if not getattr(tasks.parse_model, "_models_blocks", False):
        tasks.parse_model = _parse_model_with_blocks(tasks.parse_model)


def _parse_model_with_blocks(parse_model):
    """Recompile parse_model from its source with our classes added to its base_modules / repeat_modules sets."""
    lines, first_line = inspect.getsourcelines(parse_model)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    ast.increment_lineno(tree, first_line - 1)  # tracebacks keep pointing at ultralytics' file and lines
    added = {"base_modules": BASE_MODULES, "repeat_modules": REPEAT_MODULES}
    patched = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in added and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "frozenset"
                and len(node.value.args) == 1 and isinstance(node.value.args[0], ast.Set)):
            name = node.targets[0].id
            node.value.args[0].elts.extend(ast.Name(cls.__name__, ast.Load()) for cls in added[name])
            patched.add(name)
    if patched != set(added):
        raise RuntimeError(f"this ultralytics' parse_model has no `{' / '.join(sorted(set(added) - patched))} = "
                           "frozenset({...})`; models.blocks.register() needs updating for it")
    ast.fix_missing_locations(tree)
    namespace = {}
    exec(compile(tree, inspect.getsourcefile(parse_model), "exec"), parse_model.__globals__, namespace)
    patched_fn = namespace[parse_model.__name__]
    patched_fn._models_blocks = True
    return patched_fn
