"""The yolo-edge command: JSON lines, annotated images, model info, clean failures."""

from __future__ import annotations

import json

from conftest import SHIPPED, sample_paths
from runtime.cli import main


def test_predict_json_lines_and_saved_images(tmp_path, capsys):
    sources = [str(p) for p in sample_paths()]
    assert main(["predict", str(SHIPPED["onnxruntime"]), *sources, "--json", "--save", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["source"] for line in lines] == sources
    assert all(len(line["xyxy"]) == len(line["class_id"]) for line in lines)
    assert sum(len(line["xyxy"]) for line in lines) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in sample_paths())


def test_predict_folder_human_readable(capsys):
    assert main(["predict", str(SHIPPED["openvino"]), str(sample_paths()[0].parent)]) == 0
    out = capsys.readouterr().out
    assert out.count("found") == len(sample_paths()) and "infer" in out


def test_bad_image_is_reported_and_others_still_run(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    code = main(["predict", str(SHIPPED["onnxruntime"]), str(bad), str(sample_paths()[0]), "--json"])
    captured = capsys.readouterr()
    assert code == 1 and "broken.jpg" in captured.err and len(captured.out.splitlines()) == 1


def test_info(capsys):
    assert main(["info", str(SHIPPED["tflite"])]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["engine"] == "tflite" and info["names"]["1"] == "triangle" and info["size_mb"] > 1


def test_load_error_exit_code(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.onnx")]) == 2
    assert "file not found" in capsys.readouterr().err
