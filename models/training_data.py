"""A user's splits handed to ultralytics' trainer without writing into them.

ultralytics saves a labels cache beside each labels folder it reads (.../labels/train.cache), so the trainer is given
links in a folder of ours instead: the images and their labels, linked in the YOLO layout it expects.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from runtime.val import label_path

from .optimize_checks import has_labels


def link(target: Path, at: Path) -> None:
    try:
        at.symlink_to(target.resolve())
    except OSError:  # a file system without links
        shutil.copy2(target, at)


def linked_split(images: list[Path], folder: Path, split: str) -> Path:
    """folder/<split>.txt listing folder/images/<split>/<n>_<name>, each a link to one of `images`, with its label
    (if it has one) linked where ultralytics looks for it. n keeps two images of one name apart, and follows the
    order of the real paths, which is the order ultralytics sorts a listing of them in."""
    image_dir, label_dir = folder / "images" / split, folder / "labels" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    links = []
    for n, image in enumerate(sorted(images, key=lambda p: str(p.resolve()))):
        at = image_dir / f"{n:06d}_{image.name}"
        link(image, at)
        if has_labels(image):
            link(label_path(image), label_dir / at.with_suffix(".txt").name)
        links.append(f"{at.absolute()}\n")
    listing = folder / f"{split}.txt"
    listing.write_text("".join(links))
    return listing


def training_yaml(names: dict[int, str], train: list[Path], val: list[Path], folder: Path) -> Path:
    """A data yaml ultralytics reads whatever the current folder: listings of linked splits, absolute paths."""
    data = {"path": str(folder.absolute()), "train": linked_split(train, folder, "train").name,
            "val": linked_split(val, folder, "val").name, "names": names}
    path = folder / "data.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path
