"""models/distill.py: the distillation terms are KL divergences (zero when student = teacher, positive otherwise,
with gradients into the student), and the patched criterion adds them to ultralytics' own loss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the model factory (absent in the arm64 lane)")

from helpers import ARTIFACTS  # noqa: E402


def head_outputs(model, images):
    return model(images) if model.training else model(images)[1]


@pytest.fixture(scope="module")
def teacher():
    from models import distill

    return distill.load_teacher(ARTIFACTS / "yolov8n-shapes.pt", "cpu")


def test_terms_vanish_for_the_teacher_itself_and_grow_apart_from_it(teacher):
    from models.distill import distillation_terms

    images = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        t = head_outputs(teacher, images)
    same = distillation_terms(t, t, 16, 2.0)
    assert all(abs(float(v)) < 1e-5 for v in same)
    noisy = {k: (v + torch.randn_like(v) if k in ("boxes", "scores") else v) for k, v in t.items()}
    noisy["boxes"].requires_grad_(True)
    noisy["scores"].requires_grad_(True)
    cls_kd, box_kd = distillation_terms(noisy, t, 16, 2.0)
    assert cls_kd > 0.01 and box_kd > 0.01
    (cls_kd + box_kd).backward()
    assert noisy["boxes"].grad.abs().sum() > 0 and noisy["scores"].grad.abs().sum() > 0


def test_patched_criterion_adds_the_terms_to_ultralytics_loss(teacher):
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils.loss import v8DetectionLoss

    from models import blocks, distill, params

    blocks.register()
    student = DetectionModel(str(params.RECIPES_DIR / "yolov8n-light.yaml"), nc=teacher.nc, verbose=False)
    student.args = get_cfg()  # the loss gains (box, cls, dfl), as the trainer sets them
    student.train()
    images = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    batch = {"img": images, "batch_idx": torch.tensor([0.0, 1.0]), "cls": torch.tensor([[0.0], [2.0]]),
             "bboxes": torch.tensor([[0.5, 0.5, 0.3, 0.3], [0.4, 0.6, 0.2, 0.4]])}
    preds = student(images)
    plain, _ = v8DetectionLoss(student)(preds, batch)
    with distill.distillation(teacher):
        guided, items = student.init_criterion()(preds, batch)
    assert not isinstance(student.init_criterion(), distill.DistillationLoss)  # unpatched on leaving
    assert torch.allclose(guided[0], plain[0]) and (guided[1:] > plain[1:]).all()
