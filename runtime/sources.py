"""What a user asks to read (image files, video files, folders of them, cameras, stream URLs) turned into sources
of frames.

The one place shared by `yolo-edge predict`, `yolo-edge val`, the demo and Detector.stream (runtime/stream.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from runtime.errors import InvalidFrameError, SourceError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})

SourceKind = Literal["image", "video", "folder", "camera", "url"]
FRAME_KINDS: tuple[SourceKind, ...] = ("image", "video")  # the kinds a folder expands to
STREAM_KINDS: tuple[SourceKind, ...] = ("image", "video", "camera", "url")  # what predict reads
LIVE_KINDS: tuple[SourceKind, ...] = ("camera", "url")  # sources that do not end: reopened when they drop
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
CAMERA_DEVICE = re.compile(r"/dev/video\d+")


@dataclass(frozen=True)
class Source:
    """One thing the user named: an image (one frame), a video (frames in order), a folder of them, a camera (an
    index such as "0", or a device such as /dev/video0) or a stream URL (rtsp://, http://, ...). `name` is what was
    given, untouched (a URL is no path)."""

    kind: SourceKind
    name: str

    def __post_init__(self):
        object.__setattr__(self, "name", str(self.name))  # a Path given is kept as its text

    @property
    def path(self) -> Path:
        return Path(self.name)

    @property
    def live(self) -> bool:
        return self.kind in LIVE_KINDS

    def capture_target(self) -> str | int:
        """What cv2.VideoCapture opens: a camera index as an int, everything else as given."""
        return int(self.name) if self.kind == "camera" and self.name.isdigit() else self.name

    @classmethod
    def of(cls, given: str | Path | int) -> Source:
        """What a name means: a URL by its scheme, a camera by its index or /dev/video* device, an existing
        folder, else a video or an image by its suffix. A file named outright is tried as an image whatever its
        suffix, and may not exist: reading it then says so."""
        if isinstance(given, int) or (isinstance(given, str) and given.isdigit()):
            return cls("camera", str(given))
        text = str(given)
        if isinstance(given, str) and given.lower().startswith(URL_SCHEMES):
            return cls("url", given)
        if CAMERA_DEVICE.fullmatch(text):
            return cls("camera", text)
        path = Path(given)
        return cls("folder" if path.is_dir() else kind_of_file(path) or "image", str(path))


def kind_of_file(path: Path) -> SourceKind | None:
    """An image or a video by its suffix; None for any other file."""
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def folder_sources(folder: Path, kinds: Iterable[SourceKind] = FRAME_KINDS, recursive: bool = False) -> list[Source]:
    """The images and/or videos inside a folder, sorted by path (sub-folders too when recursive)."""
    kinds = set(kinds)
    files = folder.rglob("*") if recursive else folder.iterdir()
    found = ((kind_of_file(p), p) for p in files if p.is_file())
    return [Source(kind, str(path)) for kind, path in sorted(found, key=lambda kp: kp[1]) if kind in kinds]


def expand_sources(given: Iterable[str | Path], kinds: Iterable[SourceKind] = FRAME_KINDS) -> list[Source]:
    """Sources in the order given, each folder replaced by the files of those kinds inside it.

    A folder with none of them, or a file of another kind, is a SourceError: the user meant it to hold frames."""
    kinds = tuple(kinds)
    file_kinds = [k for k in kinds if k in FRAME_KINDS]
    sources = []
    for source in map(Source.of, given):
        if source.kind == "folder":
            inside = folder_sources(source.path, file_kinds)
            if not inside:
                raise SourceError(f"{str(source.path)!r} holds no {' or '.join(file_kinds)} files")
            sources += inside
        elif source.kind in kinds:
            sources.append(source)
        else:
            raise SourceError(f"{source.name!r} is not an {' or '.join(kinds)} file")
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


def stream_stem(source: Source) -> str:
    """A file stem for a video's or a live source's annotated copy: the video's stem, camera0 or video0 for a
    camera, the last part of a URL's path (else its host)."""
    if source.kind == "video":
        return source.path.stem
    if source.kind == "camera":
        return "camera" + source.name if source.name.isdigit() else Path(source.name).name
    rest = source.name.split("://", 1)[1].split("?", 1)[0].rstrip("/")
    return re.sub(r"[^A-Za-z0-9._-]", "_", rest.rsplit("/", 1)[-1] if "/" in rest else rest) or "stream"


def output_names(sources: list[Source]) -> list[str]:
    """The file name of each source's annotated copy: the image's name (.jpg for a suffix OpenCV may not write),
    <stem>.mp4 for a video. A name two sources share (dirA/x.jpg, dirB/x.jpg) becomes x_1.jpg, x_2.jpg, ... in the
    order given (never a name used by another source), so that no output overwrites another."""
    names = [stream_stem(s) + ".mp4" if s.kind in ("video", *LIVE_KINDS) else
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
