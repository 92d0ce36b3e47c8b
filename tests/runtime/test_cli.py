"""The yolo-edge command: JSON lines, annotated images, model info, clean failures."""

from __future__ import annotations

import json

from helpers import SHIPPED, sample_paths
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


def write_video(path, frames, fps=5.0):
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.resize(frame, (w, h)))
    writer.release()


def decoded_frames(path):
    import cv2

    capture, frames = cv2.VideoCapture(str(path)), []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    return frames


def test_predict_video_gives_a_line_per_frame_and_an_annotated_video(tmp_path, capsys):
    import cv2
    import numpy as np

    from runtime import Detector

    video = tmp_path / "clip.mp4"
    write_video(video, [cv2.imread(str(p)) for p in sample_paths()])
    frames = decoded_frames(video)
    out = tmp_path / "out"
    assert main(["predict", str(SHIPPED["onnxruntime"]), str(tmp_path), "--json", "--save", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["source"], line["frame"]) for line in lines] == [(str(video), i) for i in range(len(frames))]
    detector = Detector(SHIPPED["onnxruntime"])
    for line, frame in zip(lines, frames):  # the CLI's boxes are the Detector's on the decoded frames
        expected = detector.predict(frame)
        assert line["class_id"] == expected.class_id.tolist()
        np.testing.assert_allclose(line["xyxy"], expected.xyxy.reshape(-1, 4), atol=1e-3)
    assert sum(len(line["xyxy"]) for line in lines) > 0
    annotated = decoded_frames(out / "clip.mp4")
    assert len(annotated) == len(frames) and annotated[0].shape == frames[0].shape


def test_unreadable_video_is_reported_and_others_still_run(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video" * 100)
    code = main(["predict", str(SHIPPED["onnxruntime"]), str(bad), str(sample_paths()[0])])
    captured = capsys.readouterr()
    assert code == 1 and "broken.mp4" in captured.err and "cannot open a video" in captured.err
    assert captured.out.count("found") == 1
