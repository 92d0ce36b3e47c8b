"""runtime.sources: what a user names (files, folders) turned into images and videos to read, with errors that say
what is wrong."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from helpers import SHIPPED, sample_paths, write_video
from runtime import Detector, InvalidFrameError
from runtime.errors import SourceError
from runtime.sources import Source, expand_sources, output_names, read_image


def test_read_image_says_whether_the_file_is_missing_or_not_an_image(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(InvalidFrameError, match="'.*missing.jpg': no such file"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(InvalidFrameError, match="'.*broken.jpg': not a readable image"):
        read_image(broken)
    with pytest.raises(InvalidFrameError, match="a folder, not an image file"):
        read_image(tmp_path)
    np.testing.assert_array_equal(read_image(sample_paths()[0]), cv2.imread(str(sample_paths()[0])))


def test_detector_reading_a_path_gives_the_same_messages(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but no more")
    detector = Detector(SHIPPED["onnxruntime"])
    with pytest.raises(InvalidFrameError, match="no such file"):
        detector.predict(tmp_path / "missing.jpg")
    with pytest.raises(InvalidFrameError, match="not a readable image"):
        detector.predict(str(broken))


def test_folders_expand_to_their_images_and_videos_sorted_and_files_stay_in_order(tmp_path):
    for path in sample_paths()[:2]:
        shutil.copy(path, tmp_path / path.name)
    write_video(tmp_path / "clip.mp4", [cv2.imread(str(sample_paths()[0]))])
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / "sub").mkdir()
    shutil.copy(sample_paths()[2], tmp_path / "sub" / "inside.jpg")  # folders are not searched recursively
    given = [sample_paths()[3], tmp_path]
    assert expand_sources(given) == [Source("image", sample_paths()[3]), Source("video", tmp_path / "clip.mp4"),
                                     *(Source("image", tmp_path / p.name) for p in sample_paths()[:2])]
    assert expand_sources([tmp_path], kinds=["image"]) == [Source("image", tmp_path / p.name)
                                                          for p in sample_paths()[:2]]


def test_a_folder_without_frames_or_a_file_of_another_kind_is_a_source_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a frame")
    with pytest.raises(SourceError, match="holds no image or video files"):
        expand_sources([sample_paths()[0], tmp_path])
    with pytest.raises(SourceError, match="is not an image file"):
        expand_sources([tmp_path / "clip.mp4"], kinds=["image"])


def test_a_missing_file_is_kept_so_that_reading_it_says_so(tmp_path):
    assert expand_sources([tmp_path / "gone.jpg", tmp_path / "gone.mp4"]) == [
        Source("image", tmp_path / "gone.jpg"), Source("video", tmp_path / "gone.mp4")]


def test_output_names_never_give_two_sources_one_file(tmp_path):
    sources = [Source("image", tmp_path / "a" / "x.jpg"), Source("image", tmp_path / "b" / "x.jpg"),
               Source("image", tmp_path / "x_1.jpg"), Source("video", tmp_path / "x.avi"),
               Source("video", tmp_path / "c" / "x.mp4"), Source("image", tmp_path / "a" / "y.gif")]
    assert output_names(sources) == ["x.jpg", "x_2.jpg", "x_1.jpg", "x.mp4", "x_1.mp4", "y.jpg"]
