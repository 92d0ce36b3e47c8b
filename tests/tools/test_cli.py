"""The yolo-edge command: JSON lines, annotated images, model info, clean failures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

import runtime
from helpers import ROOT, SHIPPED, decoded_frames, sample_paths, write_video
from runtime import Detector
from runtime.cli import build_parser, main
from runtime.cli_options import LOADING_OPTIONS
from runtime.draw import annotate
from runtime.errors import DatasetError
from runtime.options import DetectorOptions

MODEL = str(SHIPPED["onnxruntime"])


def run_cli(argv: list[str]) -> int:
    """main's exit status, also when argparse exits (usage errors, --version)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def flags(options: dict) -> list[str]:
    out = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        out += [flag] if value is True else [flag, *map(str, value)] if isinstance(value, tuple) else [flag, str(value)]
    return out


def test_predict_json_lines_and_saved_images(tmp_path, capsys):
    sources = [str(p) for p in sample_paths()]
    assert main(["predict", MODEL, *sources, "--json", "--save", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["source"] for line in lines] == sources
    assert all(len(line["xyxy"]) == len(line["class_id"]) for line in lines)
    assert sum(len(line["xyxy"]) for line in lines) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in sample_paths())


def test_predict_folder_human_readable(capsys):
    assert main(["predict", str(SHIPPED["openvino"]), str(sample_paths()[0].parent)]) == 0
    out = capsys.readouterr().out
    assert out.count("found") == len(sample_paths()) and "infer" in out


@pytest.mark.parametrize("options", [{"conf": 0.05}, {"conf": 0.05, "iou": 0.3}, {"max_det": 2, "classes": (0, 2)},
                                     {"conf": 0.01, "agnostic": True}, {"classes": 1}])
def test_detector_flags_reach_the_detector(options, capsys):
    """The CLI's detections are the Detector's with the same options; each option given changes them."""
    image = sample_paths()[2]
    expected = Detector(MODEL, **options).predict(image)
    for name in options:  # every flag in the case matters, so a flag the CLI dropped would show
        without = Detector(MODEL, **{k: v for k, v in options.items() if k != name}).predict(image)
        assert (without.class_id.tolist(), without.xyxy.tolist()) != (expected.class_id.tolist(),
                                                                       expected.xyxy.tolist()), name
    assert main(["predict", MODEL, str(image), "--json", *flags(options)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["class_id"] == expected.class_id.tolist()
    np.testing.assert_allclose(line["xyxy"], expected.xyxy.reshape(-1, 4), atol=0.01)
    np.testing.assert_allclose(line["confidence"], expected.confidence, atol=1e-4)


def test_flags_are_built_from_the_options_model():
    commands = build_parser()._subparsers._group_actions[0].choices
    for command, names in (("predict", tuple(DetectorOptions.model_fields)), ("info", LOADING_OPTIONS),
                           ("val", LOADING_OPTIONS)):
        actions = {a.dest: a for a in commands[command]._actions}
        for name in names:
            field = DetectorOptions.model_fields[name]
            assert actions[name].option_strings == ["--" + name.replace("_", "-")]
            assert actions[name].default is None and actions[name].help.startswith(field.description or "")
    info = {a.dest for a in commands["info"]._actions}
    assert "conf" not in info and "iou" not in info and {"backend", "threads", "precision", "imgsz"} <= info


def test_info_takes_the_loading_options(capsys):
    assert main(["info", MODEL, "--names", "a", "b", "c", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["names"] == {"0": "a", "1": "b", "2": "c"}


def test_version(capsys):
    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out == f"yolo-edge {runtime.__version__}\n"


def test_saved_images_are_the_annotated_frames_and_same_names_do_not_overwrite(tmp_path, capsys):
    """dirA/x.png and dirB/x.png: out/x.png and out/x_1.png, each its own frame with its detections drawn."""
    frames = [cv2.imread(str(p)) for p in sample_paths()[1:3]]
    for folder, frame in zip(("dirA", "dirB"), frames):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "x.png"), frame)  # lossless: the saved pixels can be compared
    out = tmp_path / "out"
    assert main(["predict", MODEL, str(tmp_path / "dirA"), str(tmp_path / "dirB"), "--save", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x.png", "x_1.png"]
    detector = Detector(MODEL)
    for name, frame in zip(("x.png", "x_1.png"), frames):
        detections = detector.predict(frame)
        saved = cv2.imread(str(out / name))
        x1, y1, x2, y2 = detections.xyxy[0].astype(int)
        assert len(detections) and (saved[y1:y2 + 1, x1:x2 + 1] != frame[y1:y2 + 1, x1:x2 + 1]).any()
        np.testing.assert_array_equal(saved, annotate(frame, detections))


def test_bad_image_is_reported_and_others_still_run(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    code = main(["predict", MODEL, str(bad), str(tmp_path / "gone.jpg"), str(sample_paths()[0]), "--json"])
    captured = capsys.readouterr()
    assert code == 1 and len(captured.out.splitlines()) == 1
    assert captured.err.splitlines() == [f"yolo-edge: cannot read {str(bad)!r}: not a readable image",
                                         f"yolo-edge: cannot read {str(tmp_path / 'gone.jpg')!r}: no such file"]


def test_info(capsys):
    assert main(["info", str(SHIPPED["tflite"])]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["engine"] == "tflite" and info["names"]["1"] == "triangle" and info["size_mb"] > 1


def test_load_error_exit_code(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.onnx")]) == 2
    assert "file not found" in capsys.readouterr().err


@pytest.fixture
def data_yamls(tmp_path):
    """A one-image YOLO data yaml, and one whose test split is an empty folder."""
    (tmp_path / "images" / "test").mkdir(parents=True)
    (tmp_path / "images" / "empty").mkdir()
    shutil.copy(sample_paths()[1], tmp_path / "images" / "test")
    names = "names:\n  0: disc\n  1: triangle\n  2: star\n"
    (tmp_path / "data.yaml").write_text(f"path: {tmp_path}\ntrain: images/test\ntest: images/test\n{names}")
    (tmp_path / "empty.yaml").write_text(f"path: {tmp_path}\ntest: images/empty\n{names}")
    return tmp_path


USER_ERRORS = {  # command (tmp is the data_yamls folder) -> what its one line says
    "val M {tmp}/nope.yaml": "cannot read data yaml '{tmp}/nope.yaml': no such file",
    "val M {tmp}/data.yaml --split bogus": "has no 'bogus' split (it has: train, test)",
    "val M {tmp}/empty.yaml": "the 'test' split of '{tmp}/empty.yaml' holds no images",
    "predict M {sample} --save {tmp}/data.yaml": "--save '{tmp}/data.yaml' is a file",
    "predict M {tmp}/images/empty": "'{tmp}/images/empty' holds no image or video files",
    "predict M {sample} --conf 2": "invalid Detector option conf=2.0",
    "predict M {sample} --conf high": "argument --conf: invalid float value: 'high'",
    "info M --conf 0.3": "unrecognized arguments: --conf 0.3",
    "predict M {sample} --workers 0": "--workers must be at least 1",
    "predict M {sample} --ray --workers 2": "--workers is for streams run here",
}


@pytest.mark.parametrize("command", USER_ERRORS)
def test_user_errors_are_one_line_and_exit_2(command, data_yamls, capsys):
    fill = {"tmp": str(data_yamls), "sample": str(sample_paths()[1])}
    argv = [MODEL if word == "M" else word.format(**fill) for word in command.split()]
    assert run_cli(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith("yolo-edge: ")
    assert USER_ERRORS[command].format(**fill) in captured.err


@pytest.mark.parametrize("where", ["after the command", "before it"])
def test_debug_shows_the_error_itself(where, data_yamls):
    argv = ["val", MODEL, str(data_yamls / "data.yaml"), "--split", "bogus"]
    with pytest.raises(DatasetError, match="no 'bogus' split"):
        main(argv + ["--debug"] if where == "after the command" else ["--debug", *argv])


def test_a_closed_pipe_ends_quietly_and_the_video_is_still_finalized(tmp_path):
    """`yolo-edge predict ... --json --save out | head -1`: exit 141, nothing on stderr, a playable mp4."""
    video, out = tmp_path / "clip.mp4", tmp_path / "out"
    write_video(video, [cv2.resize(cv2.imread(str(sample_paths()[0])), (320, 180))] * 60)
    run = subprocess.Popen([sys.executable, "-m", "runtime", "predict", MODEL, str(video), "--json", "--save",
                            str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = json.loads(run.stdout.readline())
    run.stdout.close()  # the reader goes away while frames remain
    err = run.stderr.read().decode()
    assert run.wait(timeout=120) == 141 and err == ""
    assert first["frame"] == 0 and 1 <= len(decoded_frames(out / "clip.mp4")) < 60


@pytest.mark.parametrize("workers", ["1", "3"])
def test_predict_video_gives_a_line_per_frame_and_an_annotated_video(workers, tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    write_video(video, [cv2.imread(str(p)) for p in sample_paths()])
    frames = decoded_frames(video)
    out = tmp_path / "out"
    assert main(["predict", MODEL, str(tmp_path), "--json", "--save", str(out), "--workers", workers]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["source"], line["frame"]) for line in lines] == [(str(video), i) for i in range(len(frames))]
    detector = Detector(MODEL)
    for line, frame in zip(lines, frames):  # the CLI's boxes are the Detector's on the decoded frames
        expected = detector.predict(frame)
        assert line["class_id"] == expected.class_id.tolist()
        np.testing.assert_allclose(line["xyxy"], expected.xyxy.reshape(-1, 4), atol=0.01)
    assert sum(len(line["xyxy"]) for line in lines) > 0
    annotated = decoded_frames(out / "clip.mp4")
    assert len(annotated) == len(frames) and annotated[0].shape == frames[0].shape


def test_unreadable_video_is_reported_and_others_still_run(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video" * 100)
    code = main(["predict", MODEL, str(bad), str(sample_paths()[0])])
    captured = capsys.readouterr()
    assert code == 1 and "broken.mp4" in captured.err and "cannot open a video" in captured.err
    assert captured.out.count("found") == 1
