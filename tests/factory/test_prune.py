"""models/prune.py and yolo-edge-optimize --prune: structured channel pruning with Torch-Pruning, fine-tuned (and
distilled: models/distill.py) with ultralytics' trainer, on the shipped YOLOv8n-shapes at 160 px."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the model factory (absent in the arm64 lane)")
pytest.importorskip("torch_pruning")

from helpers import ARTIFACTS, file_states, matched_boxes, sample_paths  # noqa: E402
from models import settings  # noqa: E402
from models.optimize import main  # noqa: E402
from models.prune import (MIN_WIDTH, ROUND_TO, SplitC2f, join_c2f, kept_layers, macs, prune_channels,  # noqa: E402
                          prune_to_macs, split_c2f)
from runtime import Detector  # noqa: E402

CHECKPOINT = ARTIFACTS / "yolov8n-shapes.pt"
IMGSZ = 160


@pytest.fixture()
def model():
    settings.init_ultralytics()
    from ultralytics import YOLO

    return YOLO(str(CHECKPOINT)).model.float().eval()


def outputs(model, images):
    with torch.no_grad():
        return model(images)[0]


def test_splitting_c2f_and_joining_it_back_change_nothing(model):
    from ultralytics.nn.modules import C2f

    images = torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(0))
    before = outputs(model, images)
    assert split_c2f(model) == 8 and not any(type(m) is C2f for m in model.modules())
    torch.testing.assert_close(outputs(model, images), before, rtol=0, atol=1e-5)
    join_c2f(model)
    assert sum(type(m) is C2f for m in model.modules()) == 8
    torch.testing.assert_close(outputs(model, images), before, rtol=0, atol=1e-5)


def test_pruned_model_is_ultralytics_own_with_multiples_of_8_channels(model, tmp_path):
    pruned = prune_channels(model, 0.25, IMGSZ)
    assert not any(isinstance(m, SplitC2f) for m in pruned.modules())
    kept = {id(m) for m in kept_layers(pruned)}
    convs = [m for m in pruned.modules() if isinstance(m, torch.nn.Conv2d) and id(m) not in kept]
    assert convs and all(c.out_channels % ROUND_TO == 0 and c.out_channels > MIN_WIDTH for c in convs)
    assert macs(pruned, IMGSZ) < 0.75 * macs(model, IMGSZ)
    images = torch.rand(1, 3, IMGSZ, IMGSZ)
    assert outputs(pruned, images).shape == outputs(model, images).shape
    # the saved checkpoint names none of this package's classes: it loads wherever ultralytics does
    torch.save({"model": pruned}, tmp_path / "pruned.pt")
    with zipfile.ZipFile(tmp_path / "pruned.pt") as archive:
        pickled = b"".join(archive.read(n) for n in archive.namelist() if n.endswith(".pkl"))
    assert b"ultralytics.nn.modules" in pickled and b"models.prune" not in pickled and b"yolo_edge" not in pickled


@pytest.mark.parametrize("target", [0.3, 0.5])
def test_prune_to_macs_removes_at_least_the_share_asked(model, target):
    pruned, ratio, before, after = prune_to_macs(model, target, IMGSZ)
    assert after == macs(pruned, IMGSZ) and before == macs(model, IMGSZ)
    assert 1 - after / before >= target and 0 < ratio < 0.9
    assert 1 - macs(prune_channels(model, ratio - 0.02, IMGSZ), IMGSZ) / before < 1 - after / before + 0.2


def test_a_share_already_reached_prunes_nothing(model):
    """A step whose share an earlier (coarser) cut already removed only fine-tunes."""
    same, ratio, before, after = prune_to_macs(model, -0.05, IMGSZ)
    assert ratio == 0 and after == before == macs(same, IMGSZ)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from models.dataset import generate

    path = generate(tmp_path_factory.mktemp("data"), seed=7, n_train=8, n_val=6, n_test=0)
    AS_GENERATED[path] = file_states(path.parent)
    return path


AS_GENERATED: dict[Path, dict] = {}  # each dataset's files before any run


TEACHERS = {"alone": None, "taught": CHECKPOINT}


@pytest.fixture(scope="module")
def pruned_runs(data, tmp_path_factory) -> dict[str, Path]:
    """Two steps, with the unpruned model as teacher or none: {"alone"|"taught": (--out, cache)}. Alone, one epoch
    each; taught (its terms at half weight), the last step recovers for two (--recover-epochs)."""
    runs = {}
    for name, teacher in TEACHERS.items():
        tmp = tmp_path_factory.mktemp(name)
        distill = ["--distill", str(teacher), "--distill-weight", "0.5", "--recover-epochs", "2"] if teacher else []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(settings, "BUILD_DIR", tmp / "cache")
            assert main([str(CHECKPOINT), "--data", str(data), "--engines", "onnxruntime", "--out", str(tmp / "out"),
                         "--imgsz", str(IMGSZ), "--calib", "4", "--reps", "2", "--warmup", "0", "--allow-drop",
                         "--prune", "0.3", "--prune-steps", "2", "--prune-epochs", "1", *distill]) == 0
        runs[name] = (tmp / "out", tmp / "cache")
    return runs


def test_pruning_leaves_the_users_dataset_as_it_was(pruned_runs, data):
    """ultralytics' trainer, which fine-tunes every step, writes a labels cache beside the labels it reads."""
    assert file_states(data.parent) == AS_GENERATED[data]


@pytest.mark.parametrize("name", TEACHERS)
def test_optimize_prune_writes_pruned_files_and_reports_the_steps(name, pruned_runs):
    """The report records each step's MACs and the fine-tuning; the files are the pruned model's, load alone, and
    int8 agrees with fp32."""
    out, _ = pruned_runs[name]
    teacher = TEACHERS[name]
    report = json.loads((out / "report.json").read_text())
    pruning = report["pruning"]
    assert report["model"] == CHECKPOINT.name and pruning["teacher"] == (teacher.name if teacher else None)
    assert pruning["distill_weight"] == (0.5 if teacher else None)
    assert ("distilled from yolov8n-shapes.pt (terms x 0.5)" in (out / "report.md").read_text()) == bool(teacher)
    epochs = [1, 2] if teacher else [1, 1]
    assert [s["epochs"] for s in pruning["steps"]] == epochs and pruning["fine_tune_epochs"] == sum(epochs)
    # step 1 aims at 15% and its coarsest cut (8 channels off every layer) takes 20-25%: step 2 (30%) cuts again
    assert pruning["macs_before"] > pruning["steps"][0]["macs"] > pruning["steps"][1]["macs"]
    assert pruning["macs_after"] == pruning["steps"][1]["macs"] <= 0.7 * pruning["macs_before"]
    assert f"{pruning['macs_after'] / 1e6:.0f} M" in (out / "report.md").read_text()
    fp32, int8 = (Detector(out / r["file"]) for r in report["rows"])
    assert [r["file"] for r in report["rows"]] == ["yolov8n-shapes-pruned-160.onnx",
                                                   "yolov8n-shapes-pruned-160_int8.onnx"]
    assert macs_of_onnx(out / report["rows"][0]["file"]) == pytest.approx(pruning["macs_after"], rel=0.05)
    matched, total = matched_boxes(fp32, int8, sample_paths())
    assert matched >= 0.5 * total, (matched, total)


def step_logs(cache: Path) -> list[dict[str, float]]:
    """ultralytics' results.csv rows (one per epoch) of each fine-tuning step."""
    import csv

    logs = sorted((cache / "optimize").glob("*/runs/step*/results.csv"))
    return [{k.strip(): float(v) for k, v in row.items()} for log in logs for row in csv.DictReader(log.open())]


def test_the_teacher_adds_its_distillation_terms_to_every_step(pruned_runs):
    """Taught, every step's training logs the two distillation terms (models/distill.py), which the teacher makes
    positive; alone, there are none."""
    alone, taught = (step_logs(pruned_runs[name][1]) for name in TEACHERS)
    assert len(alone) == 2 and len(taught) == 3  # epochs: 1 + 1, and 1 + 2 (--recover-epochs)
    assert all(row["train/kd_cls"] > 0 and row["train/kd_dfl"] > 0 for row in taught), taught
    assert not any("train/kd_cls" in row for row in alone)


def macs_of_onnx(path: Path) -> int:
    """Conv multiply-accumulates of an exported file, counted from its weights and output sizes."""
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.output]}
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            out_c, in_c, kh, kw = weights[node.input[1]]
            _, _, h, w = shapes[node.output[0]]
            total += out_c * in_c * kh * kw * h * w
    return total
