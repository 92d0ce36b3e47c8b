"""Lightweight YOLOv8n (models/blocks.py, models/recipes/): blocks keep their shapes, every recipe builds and runs,
the parameter budget holds, ultralytics trains it, and its ONNX export runs through this runtime unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")

from models import blocks, params  # noqa: E402  (after the skips: needs torch + ultralytics)

NAMES = {0: "disc", 1: "triangle", 2: "star"}
BASELINE_PARAMS = 3_011_043  # ultralytics' YOLOv8n summary at nc=1
LIGHT_BUDGET = 1_436_977  # what the source reports for CSPPC + ADown + AFPN at nc=1

SIZES = [(1, 32, 32), (2, 64, 48), (1, 96, 160)]  # (batch, h, w); even sizes: everything here works on /32 inputs


def x(b, c, h, w):
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("b,h,w", SIZES)
@pytest.mark.parametrize("c", [4, 16, 33])
def test_pconv_convolves_a_quarter_and_passes_the_rest(c, b, h, w):
    m = blocks.PConv(c).eval()
    inp = x(b, c, h, w)
    out = m(inp)
    assert out.shape == inp.shape and m.c_conv == c // 4
    assert torch.equal(out[:, m.c_conv:], inp[:, m.c_conv:])  # untouched channels
    assert not torch.allclose(out[:, :m.c_conv], inp[:, :m.c_conv])
    assert sum(p.numel() for p in m.parameters()) == 9 * (c // 4) ** 2  # one bias-free 3x3 conv


def test_pconv_needs_at_least_n_div_channels():
    with pytest.raises(ValueError):
        blocks.PConv(3)


@pytest.mark.parametrize("b,h,w", SIZES)
@pytest.mark.parametrize("c1,c2,n,shortcut", [(32, 32, 1, True), (64, 64, 2, True), (192, 64, 1, False),
                                              (384, 128, 1, False), (24, 40, 3, True)])
def test_csppc_keeps_the_c2f_contract(c1, c2, n, shortcut, b, h, w):
    m = blocks.CSPPC(c1, c2, n, shortcut).eval()
    inp = x(b, c1, h, w)
    out = m(inp)
    assert out.shape == (b, c2, h, w)
    assert len(m.m) == n and all(isinstance(block, blocks.FasterNetBlock) for block in m.m)
    assert all(block.add == shortcut for block in m.m)
    assert torch.allclose(m.forward_split(inp), out)  # the forward ultralytics' exporter switches C2f to


@pytest.mark.parametrize("n_div", [2, 4])
def test_csppc_passes_its_partial_ratio_to_every_pconv(n_div):
    m = blocks.CSPPC(64, 64, 2, True, 0.5, n_div).eval()  # as a yaml row [64, True, 0.5, n_div] builds it
    assert [block.pconv.c_conv for block in m.m] == [32 // n_div] * 2  # hidden width c = 64 * 0.5
    assert m(x(1, 64, 16, 16)).shape == (1, 64, 16, 16)


@pytest.mark.parametrize("b,h,w", SIZES)
@pytest.mark.parametrize("c,shortcut", [(8, True), (16, False), (64, True)])
def test_fasternet_block_keeps_shape(c, shortcut, b, h, w):
    m = blocks.FasterNetBlock(c, shortcut).eval()
    assert m(x(b, c, h, w)).shape == (b, c, h, w)


@pytest.mark.parametrize("b,h,w", SIZES)
@pytest.mark.parametrize("c,k", [(16, 2), (32, 2), (16, 3), (24, 3), (64, 3)])
def test_asff_fuses_k_maps_into_one(c, k, b, h, w):
    m = blocks.ASFF(k * c, c, k).eval()
    maps = [x(b, c, h, w) * (i + 1) for i in range(k)]
    assert m(torch.cat(maps, 1)).shape == (b, c, h, w)
    # the fusion weights are a softmax over levels: k copies of one map fuse to that map
    same = maps[0]
    assert torch.allclose(m(torch.cat([same] * k, 1)), m.conv(same), atol=1e-5)


def test_asff_checks_its_input_channels():
    with pytest.raises(ValueError):
        blocks.ASFF(48, 16, 2)


@pytest.mark.parametrize("b,h,w", SIZES)
@pytest.mark.parametrize("c", [16, 32, 64])
def test_basic_block_keeps_shape(c, b, h, w):
    assert blocks.BasicBlock(c, c).eval()(x(b, c, h, w)).shape == (b, c, h, w)


def test_register_is_idempotent_and_scales_our_blocks_like_ultralytics_own():
    from ultralytics.nn import tasks

    blocks.register()
    parse_model = tasks.parse_model
    blocks.register()
    assert tasks.parse_model is parse_model
    model = params.build("yolov8n-light", 3).model
    # yaml [-1, 6, CSPPC, [512, True]] at depth 0.33 / width 0.25: 2 repeats, 128 channels, shortcut, c1 from ADown
    csppc = model[6]
    assert isinstance(csppc, blocks.CSPPC) and len(csppc.m) == 2 and csppc.cv2.conv.out_channels == 128
    assert csppc.cv1.conv.in_channels == 128 and csppc.m[0].add
    asff = model[36]  # yaml [-1, 1, ASFF, [256, 3]] after a Concat of three 64-channel maps
    assert isinstance(asff, blocks.ASFF) and (asff.c, asff.k) == (64, 3)


@pytest.mark.parametrize("recipe", params.RECIPES)
def test_recipe_builds_and_runs(recipe):
    model = params.build(recipe, 3).eval()
    with torch.no_grad():
        y = model(x(1, 3, 160, 160))[0]
    assert y.shape == (1, 4 + 3, 20 * 20 + 10 * 10 + 5 * 5)
    assert list(model.stride) == [8, 16, 32]


def test_light_model_loss_reaches_every_parameter():
    """One loss/backward step as ultralytics' trainer takes it: every trainable parameter gets a gradient."""
    from ultralytics.cfg import get_cfg

    model = params.build("yolov8n-light", 3).train()
    model.args = get_cfg()
    batch = {"img": x(2, 3, 160, 160).sigmoid(), "batch_idx": torch.tensor([0.0, 0.0, 1.0]),
             "cls": torch.tensor([[0.0], [2.0], [1.0]]),
             "bboxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5]])}
    loss, _ = model.loss(batch)
    loss.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


@pytest.mark.parametrize("recipe,expected", [("yolov8n", BASELINE_PARAMS), ("yolov8n-light", None)])
def test_parameter_counts_at_one_class(recipe, expected):
    n, _ = params.measure(recipe, 1, imgsz=160)
    if expected is not None:
        assert n == expected
    else:
        assert n <= LIGHT_BUDGET and n <= 1_400_000
    if recipe == "yolov8n":  # ultralytics' own count of its own yolov8n.yaml agrees
        from ultralytics.nn.tasks import DetectionModel

        assert sum(p.numel() for p in DetectionModel("yolov8n.yaml", nc=1, verbose=False).parameters()) == n


def test_ablations_are_each_smaller_than_the_baseline():
    counts = {r: params.measure(r, 1, imgsz=160)[0] for r in params.RECIPES}
    base = counts.pop("yolov8n")
    assert all(n < base for n in counts.values())
    assert counts["yolov8n-light"] == min(counts.values())


@pytest.fixture(scope="module")
def light_onnx(tmp_path_factory):
    """The light model at the dataset's 3 classes (untrained), saved like a trained .pt and exported by ultralytics."""
    from ultralytics import YOLO

    blocks.register()
    out = tmp_path_factory.mktemp("light")
    recipe = (params.RECIPES_DIR / "yolov8n-light.yaml").read_text()
    assert recipe.count("\nnc: 80") == 1
    # not beside the export: the runtime would read a <model stem>.yaml there as the model's sidecar metadata
    (out / "recipe").mkdir()
    yaml = out / "recipe" / "yolov8n-light.yaml"  # the file name keeps the scale letter
    yaml.write_text(recipe.replace("\nnc: 80", "\nnc: 3"))
    model = YOLO(yaml)
    model.model.names = NAMES
    model.save(out / "yolov8n-light.pt")
    onnx_path = Path(YOLO(out / "yolov8n-light.pt").export(format="onnx", imgsz=160, simplify=True, verbose=False))
    return onnx_path, out / "yolov8n-light.pt"


def test_light_onnx_runs_through_the_runtime(light_onnx, samples):
    """Untrained, the head's class biases (sigmoid ~3e-4 to 4e-3) still put boxes above conf=0.0001: the runtime
    must find them, and find what ultralytics' predict finds on the same file."""
    from ultralytics import YOLO

    from helpers import assert_same_detections
    from runtime import Detector
    from runtime.detections import Detections

    onnx_path, _ = light_onnx
    detector = Detector(onnx_path, conf=0.0001)
    assert detector.input_hw == (160, 160) and detector.names == NAMES
    raw = detector.engine.run(np.zeros(detector.engine.input.shape, np.float32))
    assert raw.shape == (1, 7, 525)  # YOLOv8's (1, 4 + nc, anchors) contract
    dets = detector.predict(samples[0])
    assert isinstance(dets, Detections) and len(dets) > 0
    assert dets.xyxy.shape == (len(dets), 4) and set(dets.class_id.tolist()) <= {0, 1, 2}
    ref = YOLO(str(onnx_path), task="detect").predict(samples[0], imgsz=160, conf=0.0001, verbose=False)[0].boxes
    assert_same_detections(dets, ref.xyxy.numpy(), ref.conf.numpy(), ref.cls.numpy().astype(int))


def test_light_onnx_matches_pytorch(light_onnx):
    """The exported graph computes what the PyTorch model does (ADown / CSPPC / ASFF / bilinear upsampling)."""
    from ultralytics import YOLO

    from runtime import Detector

    onnx_path, pt_path = light_onnx
    torch_model = YOLO(pt_path).model.float().eval()
    inp = x(1, 3, 160, 160).sigmoid()
    with torch.no_grad():
        expected = torch_model(inp)[0].numpy()
    got = Detector(onnx_path).engine.run(inp.numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)


def test_int8_keeps_the_light_heads_decoding_float(light_onnx):
    """The ONNX int8 step leaves the Detect head's decoding float (quantized, mAP falls to 0). The light recipe's
    head is module 43, not YOLOv8n's 22: the factory must find it by its DFL, not by index."""
    from models.quantize import onnx_head_nodes

    onnx_path, _ = light_onnx
    nodes = onnx_head_nodes(onnx_path)
    assert any("/dfl/" in n for n in nodes) and any("Sigmoid" in n for n in nodes)
    assert len({n.split("/")[1] for n in nodes}) == 1 and not any("/cv2" in n or "/cv3" in n for n in nodes)


@pytest.mark.slow
def test_ultralytics_trains_the_light_model_for_one_epoch(tmp_path):
    """ultralytics' trainer, loss, EMA, checkpointing and final validation accept the recipe (CPU, ~5 s)."""
    from ultralytics import YOLO

    from models.dataset import generate

    blocks.register()
    data = generate(tmp_path / "data", seed=1, n_train=16, n_val=8, n_test=8)
    model = YOLO(params.RECIPES_DIR / "yolov8n-light.yaml")
    model.train(data=str(data), imgsz=160, epochs=1, batch=8, workers=0, device="cpu", seed=0, pretrained=False,
                amp=False, plots=False, project=str(tmp_path / "runs"), name="light", exist_ok=True, verbose=False,
                deterministic=False)  # True would switch torch to deterministic algorithms for the whole session
    best = Path(model.trainer.best)
    assert best.exists()
    trained = YOLO(best).model
    assert isinstance(trained.model[2], blocks.CSPPC) and trained.nc == 3


LOAD_FROM_ELSEWHERE = """
import sys
from pathlib import Path
from yolo_edge_factory.optimize_checks import OptimizeError, detection_model_names
try:  # how yolo-edge-optimize loads a checkpoint (and a teacher)
    print(",".join(detection_model_names(Path(sys.argv[1])).values()), end=" ")
except OptimizeError as e:
    print("OptimizeError", end=" ")
import models
print(models.__file__)
"""


@pytest.mark.parametrize("own_models_package", [False, True])
def test_a_checkout_trained_light_checkpoint_loads_from_the_installed_factory(tmp_path, own_models_package):
    """Its classes are pickled as models.blocks.*: outside the checkout (no `models` to import) they resolve to
    yolo_edge_factory.blocks; a project's own `models` package is never replaced."""
    checkpoint = Path(__file__).resolve().parents[2] / "models" / "artifacts" / "yolov8n-light-shapes.pt"
    if own_models_package:
        (tmp_path / "models").mkdir()
        (tmp_path / "models" / "__init__.py").write_text("")
    run = subprocess.run([sys.executable, "-c", LOAD_FROM_ELSEWHERE, str(checkpoint)], cwd=tmp_path,
                         capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stderr[-2000:]
    outcome, package = run.stdout.splitlines()[-1].split()  # after what ultralytics prints
    if own_models_package:  # theirs stays theirs (the checkpoint then cannot load, as before)
        assert outcome == "OptimizeError" and Path(package) == tmp_path / "models" / "__init__.py"
    else:
        assert outcome == ",".join(NAMES.values())
        assert Path(package).parent.name == "models" and Path(package).parent.parent != tmp_path
