"""What a user asks to read (image files, video files, folders of them) turned into sources of frames.

The one place shared by `yolo-edge predict`, `yolo-edge val` and the demo. Streams (cameras, RTSP URLs) are meant
to become further kinds of Source here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from runtime.errors import InvalidFrameError, SourceError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})

SourceKind = Literal["image", "video", "folder"]
FRAME_KINDS: tuple[SourceKind, ...] = ("image", "video")  # the kinds a folder expands to


@dataclass(frozen=True)
class Source:
    """One thing the user named: an image (one frame), a video (frames in order) or a folder of them."""

    kind: SourceKind
    path: Path

    @classmethod
    def of(cls, given: str | Path) -> Source:
        """What a path names: an existing folder, else a video or an image by its suffix. A file named outright is
        tried as an image whatever its suffix, and may not exist: reading it then says so."""
        path = Path(given)
        return cls("folder" if path.is_dir() else kind_of_file(path) or "image", path)


def kind_of_file(path: Path) -> SourceKind | None:
    """An image or a video by its suffix; None for any other file."""
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def folder_sources(folder: Path, kinds: Iterable[SourceKind] = FRAME_KINDS, recursive: bool = False) -> list[Source]:
    """The images and/or videos inside a folder, sorted by path (sub-folders too when recursive)."""
    kinds = set(kinds)
    files = folder.rglob("*") if recursive else folder.iterdir()
    found = ((kind_of_file(p), p) for p in files if p.is_file())
    return [Source(kind, path) for kind, path in sorted(found, key=lambda kp: kp[1]) if kind in kinds]


def expand_sources(given: Iterable[str | Path], kinds: Iterable[SourceKind] = FRAME_KINDS) -> list[Source]:
    """Sources in the order given, each folder replaced by the files of those kinds inside it.

    A folder with none of them, or a file of another kind, is a SourceError: the user meant it to hold frames."""
    kinds = tuple(kinds)
    sources = []
    for source in map(Source.of, given):
        if source.kind == "folder":
            inside = folder_sources(source.path, kinds)
            if not inside:
                raise SourceError(f"{str(source.path)!r} holds no {' or '.join(kinds)} files")
            sources += inside
        elif source.kind in kinds:
            sources.append(source)
        else:
            raise SourceError(f"{str(source.path)!r} is not an {' or '.join(kinds)} file")
    return sources


def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 image from a file; InvalidFrameError says whether the file is missing or not an image."""
    path = Path(path)
    if not path.exists():
        raise InvalidFrameError(f"cannot read {str(path)!r}: no such file")
    if path.is_dir():
        raise InvalidFrameError(f"cannot read {str(path)!r}: a folder, not an image file")
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise InvalidFrameError(f"cannot read {str(path)!r}: not a readable image")
    return frame


class Video:
    """A video file decoded one frame at a time; use it in a `with` block so the decoder is released."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InvalidFrameError(f"cannot read {str(self.path)!r}: no such file")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            self._capture.release()
            raise InvalidFrameError(f"cannot open a video from {str(self.path)!r}: not a readable video")

    @property
    def fps(self) -> float:
        return self._capture.get(cv2.CAP_PROP_FPS) or 30.0  # some containers do not record it

    def __iter__(self) -> Iterator[np.ndarray]:
        count = 0
        while True:
            ok, frame = self._capture.read()
            if not ok:
                break
            count += 1
            yield frame
        if count == 0:
            raise InvalidFrameError(f"no frame could be decoded from {str(self.path)!r}")

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def output_names(sources: list[Source]) -> list[str]:
    """The file name of each source's annotated copy: the image's name (.jpg for a suffix OpenCV may not write),
    <stem>.mp4 for a video. A name two sources share (dirA/x.jpg, dirB/x.jpg) becomes x_1.jpg, x_2.jpg, ... in the
    order given (never a name used by another source), so that no output overwrites another."""
    names = [s.path.stem + ".mp4" if s.kind == "video" else
             s.path.name if s.path.suffix.lower() in IMAGE_SUFFIXES else s.path.stem + ".jpg" for s in sources]
    taken, seen, out = set(names), set(), []
    for name in names:
        if name in seen:
            stem, suffix, index = Path(name).stem, Path(name).suffix, 1
            while f"{stem}_{index}{suffix}" in taken:
                index += 1
            name = f"{stem}_{index}{suffix}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out
