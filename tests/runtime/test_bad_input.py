"""Bad frames, bad model files and bad options give typed, explicit errors; the detector keeps working after."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from helpers import EMULATED, SHIPPED
from runtime import Detector, DetectorOptions, InvalidFrameError, InvalidOptionsError, ModelLoadError


@pytest.fixture(scope="module")
def detector(shipped_onnx):
    return Detector(shipped_onnx)


@pytest.mark.parametrize(
    "frame, message",
    [
        (None, "None"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 0, 3), np.uint8), "empty"),
        (np.zeros((10, 10, 3), np.float32), "dtype"),
        (np.zeros((10, 10, 3), np.uint16), "dtype"),
        (np.zeros((2, 10, 10, 3), np.uint8), "shape"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        (np.zeros(10, np.uint8), "shape"),
        ([[1, 2, 3]], "list"),
        ("no/such/image.jpg", "cannot read"),
    ],
)
def test_bad_frames_raise_typed_errors_and_detector_survives(detector, samples, frame, message):
    with pytest.raises(InvalidFrameError, match=message):
        detector.predict(frame)
    if not EMULATED or message == "cannot read":  # emulated, one survival check (a predict costs ~8 s there)
        assert len(detector.predict(samples[0])) > 0


@pytest.mark.parametrize("engine", sorted(SHIPPED))
def test_truncated_model_raises_load_error_naming_file_and_engine(engine, tmp_path):
    source = SHIPPED[engine]
    if source.is_dir():  # OpenVINO: truncate the weights and the graph inside a copied folder
        target = tmp_path / source.name
        shutil.copytree(source, target)
        xml = next(target.glob("*.xml"))
        xml.write_bytes(xml.read_bytes()[: xml.stat().st_size // 3])
    else:
        target = tmp_path / source.name
        target.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    with pytest.raises(ModelLoadError) as info:
        Detector(target)
    assert info.value.engine == engine and str(target.name) in str(info.value)


@pytest.mark.parametrize("suffix", [".onnx", ".tflite", ".xml"])
def test_foreign_file_raises_load_error(suffix, tmp_path):
    target = tmp_path / f"not-a-model{suffix}"
    target.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(ModelLoadError, match="not-a-model"):
        Detector(target)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(ModelLoadError, match="file not found"):
        Detector(tmp_path / "missing.onnx")
    unknown = tmp_path / "model.pt"
    unknown.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="unknown model format"):
        Detector(unknown)


@pytest.mark.parametrize(
    "options",
    [{"conf": 1.5}, {"iou": -0.1}, {"max_det": 0}, {"threads": 0}, {"backend": "tensorrt"}, {"colour": "red"},
     {"classes": "cats"}, {"precision": "int4"}],
)
def test_bad_options_fail_at_construction(options, shipped_onnx):
    with pytest.raises(InvalidOptionsError):
        Detector(shipped_onnx, **options)


@pytest.mark.parametrize("engine", sorted(SHIPPED))
def test_one_detector_shared_by_threads_gives_serial_results(engine, samples):
    detector = Detector(SHIPPED[engine])
    frames = samples[:2] if EMULATED else samples * 3  # one thread per frame: 2 (emulated) or 12 threads at once
    serial = [detector.predict(f) for f in frames]
    results = [None] * len(frames)

    def work(i):
        results[i] = detector.predict(frames[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(frames))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for got, want in zip(results, serial):
        assert got is not None
        np.testing.assert_array_equal(got.class_id, want.class_id)
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-3)


def test_ort_spinning_reaches_the_session_and_accepts_bools(shipped_onnx):
    def entries(detector):
        return detector.engine.session.get_session_options().get_session_config_entry

    within = entries(Detector(shipped_onnx))
    assert within("session.intra_op.allow_spinning") == "1" and within("session.force_spinning_stop") == "1"
    assert Detector(shipped_onnx, ort_spinning=True).options.ort_spinning == "always"
    off = entries(Detector(shipped_onnx, ort_spinning=False))
    assert off("session.intra_op.allow_spinning") == "0"
    with pytest.raises(InvalidOptionsError):
        Detector(shipped_onnx, ort_spinning="sometimes")


def test_openvino_load_error_keeps_the_cause(tmp_path):
    target = tmp_path / SHIPPED["openvino"].name
    shutil.copytree(SHIPPED["openvino"], target)
    weights = next(target.glob("*.bin"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="Incorrect weights in bin file") as info:
        Detector(target, backend="openvino")
    assert "\n" not in str(info.value) and "core.cpp" not in str(info.value)


@pytest.mark.parametrize("imgsz", [640, (320, 640), 0, -320])
def test_imgsz_other_than_a_fixed_input_or_not_positive_is_an_option_error(imgsz, shipped_onnx):
    with pytest.raises(InvalidOptionsError, match=r"imgsz=.*(fixed at 320x320|greater than 0)"):
        Detector(shipped_onnx, imgsz=imgsz)
    assert Detector(shipped_onnx, imgsz=320).input_hw == (320, 320)


def test_classes_the_model_does_not_have_are_an_option_error(shipped_onnx):
    names = Detector(shipped_onnx).names
    with pytest.raises(InvalidOptionsError, match=f"no class {len(names)}; valid ids: 0 {names[0]}, 1 {names[1]}"):
        Detector(shipped_onnx, classes=[0, len(names)])
    with pytest.raises(InvalidOptionsError, match="classes"):
        Detector(shipped_onnx, classes=[-1])
    assert Detector(shipped_onnx, classes=[len(names) - 1]).options.classes == (len(names) - 1,)


def test_option_errors_are_one_plain_line_per_problem(shipped_onnx):
    with pytest.raises(InvalidOptionsError) as info:
        Detector(shipped_onnx, conf=1.5)
    assert str(info.value) == "invalid Detector option conf=1.5: must be less than or equal to 1"
    with pytest.raises(InvalidOptionsError) as info:
        Detector(shipped_onnx, iou="high", colour="red", backend="tensorrt")
    lines = str(info.value).splitlines()
    assert len(lines) == 3 and not any("http" in line or "pydantic" in line for line in lines)
    assert lines[0].startswith("invalid Detector option backend='tensorrt': must be 'onnxruntime'")
    assert lines[1].startswith("invalid Detector option iou='high': must be a valid number")
    assert lines[2].startswith("unknown Detector option colour='red'; the options are ") and "max_det" in lines[2]


def test_every_option_has_a_description():
    """The CLI builds its flags and help from these."""
    assert {name for name, field in DetectorOptions.model_fields.items() if not field.description} == set()
