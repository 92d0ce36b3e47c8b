"""Knowledge distillation for the factory's training: a trained model (the teacher) guides a smaller one.

An experiment for the light model's accuracy gap (docs/model-experiments.md), not part of the shipped recipe. On top of
ultralytics' own loss (box, cls, DFL against the labels), the student is pulled toward the teacher's raw head
outputs at every anchor of every level:
- class logits: binary KL between the teacher's and the student's per-class probabilities (the teacher's soft
  scores carry the background and near-miss information the one-hot targets do not);
- box distributions: KL between the teacher's and the student's DFL bin distributions (localization
  distillation, Zheng et al. 2022, arXiv 2102.12252), at temperature T, weighted per anchor by the teacher's
  best class probability so that the background's meaningless boxes do not count.
Both terms are normalized by the sum of those weights, as ultralytics normalizes its cls loss by the target scores.

    python -m models.train --model models/recipes/yolov8n-light.yaml --teacher models/artifacts/yolov8n-shapes.pt ...
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F


class DistillationLoss:
    """ultralytics' v8DetectionLoss plus the two distillation terms (added to its cls and DFL entries)."""

    def __init__(self, model, teacher, weight: float = 1.0, temperature: float = 2.0):
        from ultralytics.utils.loss import v8DetectionLoss

        self.base = v8DetectionLoss(model)
        self.teacher, self.weight, self.temperature = teacher, weight, temperature
        self.reg_max = model.model[-1].reg_max

    def __call__(self, preds, batch):
        loss, items = self.base(preds, batch)
        student = self.base.parse_output(preds)
        with torch.no_grad():
            teacher = self.base.parse_output(self.teacher(batch["img"]))
        cls_kd, box_kd = distillation_terms(student, teacher, self.reg_max, self.temperature)
        batch_size = student["boxes"].shape[0]
        extra = torch.stack([torch.zeros_like(cls_kd), cls_kd, box_kd]) * self.weight * batch_size
        # logged beside ultralytics' own items (train/kd_cls, train/kd_dfl in results.csv)
        logged = {"kd_cls": cls_kd.detach() * self.weight, "kd_dfl": box_kd.detach() * self.weight}
        return loss + extra, {**items, **logged}


def distillation_terms(student: dict, teacher: dict, reg_max: int, temperature: float):
    """(class KL, box-distribution KL) between two raw head outputs {"boxes": (B, 4*reg_max, A), "scores": (B, nc, A)}."""
    t_prob = teacher["scores"].sigmoid()
    weight = t_prob.amax(1)  # (B, A): how much the teacher sees an object at each anchor
    norm = weight.sum().clamp(min=1)
    # Binary KL per class: BCE against the teacher's probabilities minus the teacher's own entropy (>= 0).
    s_logit, t_logit = student["scores"], teacher["scores"]
    cls_kl = (F.binary_cross_entropy_with_logits(s_logit, t_prob, reduction="none")
              - F.binary_cross_entropy_with_logits(t_logit, t_prob, reduction="none"))
    cls_kd = cls_kl.sum() / norm
    b, _, a = student["boxes"].shape
    s_log = F.log_softmax(student["boxes"].view(b, 4, reg_max, a) / temperature, 2)
    t_log = F.log_softmax(teacher["boxes"].view(b, 4, reg_max, a) / temperature, 2)
    box_kl = (t_log.exp() * (t_log - s_log)).sum(2).mean(1) * temperature**2  # (B, A)
    box_kd = (box_kl * weight).sum() / norm
    return cls_kd, box_kd


def load_teacher(path, device):
    from ultralytics import YOLO

    teacher = YOLO(str(path)).model.float().to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@contextlib.contextmanager
def distillation(teacher, weight: float = 1.0, temperature: float = 2.0):
    """While active, every DetectionModel built by ultralytics trains (and validates) with DistillationLoss.

    Patched on the class, not the instance: the saved checkpoints then hold plain DetectionModels and no teacher.
    """
    from ultralytics.nn.tasks import DetectionModel

    original = DetectionModel.init_criterion
    DetectionModel.init_criterion = lambda self: DistillationLoss(self, teacher, weight, temperature)
    try:
        yield
    finally:
        DetectionModel.init_criterion = original
