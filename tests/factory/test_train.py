"""The factory's training step leaves no machine paths in the weights it ships."""

from __future__ import annotations

import pytest


def test_checkpoint_paths_become_relative_to_the_project(tmp_path):
    torch = pytest.importorskip("torch", reason="the model factory (absent in the arm64 lane)")
    from models.train import relativize_checkpoint

    weights = tmp_path / "w.pt"
    args = {"data": str(tmp_path / "build" / "dataset" / "data.yaml"), "project": str(tmp_path / "build" / "runs"),
            "save_dir": str(tmp_path), "model": "yolov8n.yaml", "other": "/elsewhere/data.yaml", "imgsz": 320}
    model = torch.nn.Linear(2, 2)
    model.args = dict(args)
    torch.save({"train_args": args, "model": model, "git": {"root": str(tmp_path), "branch": "main"}, "epoch": 3},
               weights)
    relativize_checkpoint(weights, tmp_path)
    ckpt = torch.load(weights, weights_only=False)
    expected = {"data": "build/dataset/data.yaml", "project": "build/runs", "save_dir": ".", "model": "yolov8n.yaml",
                "other": "/elsewhere/data.yaml", "imgsz": 320}
    assert ckpt["train_args"] == expected and ckpt["model"].args == expected
    assert ckpt["git"] == {"root": ".", "branch": "main"} and ckpt["epoch"] == 3
    assert torch.equal(ckpt["model"].weight, model.weight)


@pytest.mark.parametrize("state, error", [
    (None, "no "),  # nothing trained under that name
    ({"epoch": -1, "optimizer": None}, "finished"),  # what ultralytics leaves in last.pt after the final epoch
    ({"epoch": 40, "optimizer": {"state": {}}}, None),  # a run stopped after epoch 41
])
def test_resume_only_continues_a_stopped_run(tmp_path, state, error):
    torch = pytest.importorskip("torch", reason="the model factory (absent in the arm64 lane)")
    from models.train import check_resumable

    last = tmp_path / "runs" / "teacher" / "weights" / "last.pt"
    if state is not None:
        last.parent.mkdir(parents=True)
        torch.save(state, last)
    if error is None:
        check_resumable(last)
    else:
        with pytest.raises(SystemExit, match=error):
            check_resumable(last)
