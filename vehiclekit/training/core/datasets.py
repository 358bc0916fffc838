"""Loaders for the shared datasets (read in place, never copied) and their committed splits.

Each loader returns plain records (paths + labels); :class:`ImageDataset` turns them into a torch
dataset. The split files in ``vehiclekit/training/core/splits/`` fix train/val/test once, so every
experiment in the project is scored on the same test images.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
from torch.utils.data import Dataset
from tqdm import tqdm

from vehiclekit.errors import DatasetNotFoundError
from vehiclekit.sdk.image import IMAGE_SUFFIXES
from vehiclekit.training.core.partial_labels import set_names

SPLITS_DIR = Path(__file__).resolve().parent / "splits"


@dataclass(frozen=True)
class LabeledImages:
    """Image paths with integer labels into ``classes``; ``boxes`` (xyxy pixels, one per image, or
    None) label a region of the image rather than the whole of it. A label ``k >= len(classes)`` is
    the partial label ``label_sets[k - len(classes)]``, a set of class indices one of which is right
    (:mod:`~vehiclekit.training.core.partial_labels`)."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]
    boxes: tuple[tuple[int, int, int, int], ...] | None = None
    label_sets: tuple[tuple[int, ...], ...] = ()

    def __len__(self) -> int:
        return len(self.paths)

    def named_labels(self) -> list[str]:
        """Each image's class name (a partial label's as ``car|suv``)."""
        names = set_names(self.classes, self.label_sets)
        return [names[y] for y in self.labels]

    def subset(self, indices: Sequence[int]) -> "LabeledImages":
        boxes = None if self.boxes is None else tuple(self.boxes[i] for i in indices)
        return LabeledImages(tuple(self.paths[i] for i in indices), tuple(self.labels[i] for i in indices), self.classes, boxes,
                             self.label_sets)

    def __add__(self, other: "LabeledImages") -> "LabeledImages":
        if self.classes != other.classes:
            raise ValueError(f"cannot join datasets with different classes {self.classes} and {other.classes}")
        if self.label_sets and other.label_sets and self.label_sets != other.label_sets:
            raise ValueError(f"cannot join datasets with different label sets {self.label_sets} and {other.label_sets}")
        boxes = None
        if self.boxes is not None or other.boxes is not None:
            boxes = (self.boxes or (None,) * len(self)) + (other.boxes or (None,) * len(other))
        return LabeledImages(self.paths + other.paths, self.labels + other.labels, self.classes, boxes,
                             self.label_sets or other.label_sets)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetNotFoundError(f"{what} not found at {path}: check --data / VEHICLEKIT_DATA")
    return path


# ---------------------------------------------------------------- vehicle-types (folder per class)
def vehicle_types_index(root: Path) -> dict[str, list[str]]:
    """Class name -> sorted relative paths ``class/file.jpg`` found under ``root/vehicle-types``."""
    base = _require(root / "vehicle-types", "vehicle-types dataset")
    index = {
        d.name: sorted(f"{d.name}/{f.name}" for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(base.iterdir())
        if d.is_dir()
    }
    if not index:
        raise DatasetNotFoundError(f"{base} holds no class folders")
    return index


def load_vehicle_types(root: Path, split: str | None = None) -> LabeledImages:
    """The vehicle-types images, all of them or one committed split (``train``/``val``/``test``)."""
    index = vehicle_types_index(root)
    classes = tuple(sorted(index))
    rel = [p for c in classes for p in index[c]] if split is None else read_split("vehicle-types", split)
    return _labeled(root / "vehicle-types", rel, [classes.index(p.split("/")[0]) for p in rel], classes)


# ---------------------------------------------------------------- stanford-cars (labels.csv)
STANFORD_TARGETS = ("body_type", "make", "class_name")


def stanford_cars_rows(root: Path) -> list[dict[str, str]]:
    """Rows of ``stanford-cars/labels.csv`` (file, class_id, class_name, make, model, year, body_type)."""
    with open(_require(root / "stanford-cars" / "labels.csv", "stanford-cars labels.csv"), newline="") as f:
        return list(csv.DictReader(f))


def stanford_label_groups(root: Path, target: str = "class_name") -> dict[str, tuple[str, ...]]:
    """The coarser Stanford columns of each ``target`` class, in class order: for ``class_name``,
    ``{"make": ..., "body": ...}`` (each make-model-year has exactly one make and body type)."""
    rows = stanford_cars_rows(root)
    classes = sorted({r[target] for r in rows})
    coarser = {"make": "make", "body_type": "body"} if target == "class_name" else {}
    groups = {}
    for column, group in coarser.items():
        of = {}
        for r in rows:
            if of.setdefault(r[target], r[column]) != r[column]:
                raise ValueError(f"{target} {r[target]!r} has two {column} values: {of[r[target]]!r}, {r[column]!r}")
        groups[group] = tuple(of[c] for c in classes)
    return groups


def load_stanford_cars(root: Path, target: str = "body_type", split: str | None = None) -> LabeledImages:
    """Stanford Cars labelled by ``target`` (body_type, make or class_name), optionally one split."""
    if target not in STANFORD_TARGETS:
        raise ValueError(f"unknown stanford-cars target {target!r}; choose one of {STANFORD_TARGETS}")
    rows = stanford_cars_rows(root)
    classes = tuple(sorted({r[target] for r in rows}))
    by_file = {r["file"]: r for r in rows}
    files = [r["file"] for r in rows] if split is None else read_split("stanford-cars", split)
    return _labeled(
        root / "stanford-cars" / "images", files, [classes.index(by_file[f][target]) for f in files], classes
    )


# ---------------------------------------------------------------- vehicle-reid ({type}_{id}_cam{n}.jpg)
REID_NAME = re.compile(r"^(?P<type>[a-z]+)_(?P<id>\d+)_cam(?P<cam>\d+)\.(jpe?g|png)$", re.IGNORECASE)


@dataclass(frozen=True)
class ReidImage:
    path: Path
    identity: str  # "{type}_{id}": ids are numbered per vehicle type, so car_0012 and truck_0012 differ
    camera: int
    vehicle_type: str


def load_vehicle_reid(root: Path, split: str) -> list[ReidImage]:
    """One split (``train``/``val``/``test``) of the two-camera re-ID set, from its split list."""
    base = _require(root / "vehicle-reid", "vehicle-reid dataset")
    names = _require(base / f"{split}.txt", f"vehicle-reid split list {split}.txt").read_text().split()
    folder = base / "images" / ("test" if split == "test" else "train")
    out = []
    for name in names:
        m = REID_NAME.match(name)
        if not m:
            raise DatasetNotFoundError(f"{name} in {split}.txt does not follow {{type}}_{{id}}_cam{{n}}.jpg")
        out.append(ReidImage(_require(folder / name, "re-ID image"), f"{m['type']}_{m['id']}", int(m["cam"]), m["type"]))
    return out


# ---------------------------------------------------------------- coco-vehicles (COCO instances json)
def coco_vehicles(root: Path) -> tuple[Path, Path]:
    """``(images_dir, instances.json)`` of the COCO vehicles subset, for pycocotools."""
    base = root / "coco-vehicles"
    return _require(base / "images", "coco-vehicles images"), _require(base / "instances.json", "COCO instances.json")


def _labeled(folder: Path, rel: Sequence[str], labels: Sequence[int], classes: tuple[str, ...]) -> LabeledImages:
    paths = tuple(folder / r for r in rel)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{len(missing)} images listed in the split are missing under {folder} (first: {missing[0]}); "
            "check --data / VEHICLEKIT_DATA"
        )
    return LabeledImages(paths, tuple(labels), classes)


# ---------------------------------------------------------------- splits
def stratified_split(
    keys: Sequence[str], labels: Sequence[str], fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0,
    at_least_one: bool = False,
) -> dict[str, list[str]]:
    """Deterministic stratified split: per label, shuffle with ``seed`` and cut by ``fractions``.
    ``at_least_one``: every split with a non-zero fraction gets one or more of each label's members
    (the label needs as many members as such splits)."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for key, label in zip(keys, labels):
        by_label[label].append(key)
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for label in sorted(by_label):
        members = sorted(by_label[label])
        random.Random(f"{seed}-{label}").shuffle(members)  # noqa: S311 - a seeded split, not security
        n_train = round(len(members) * fractions[0])
        n_val = round(len(members) * fractions[1])
        if at_least_one:
            n_val = max(n_val, 1) if fractions[1] else 0
            n_test = max(len(members) - n_train - n_val, 1 if fractions[2] else 0)
            n_train = len(members) - n_val - n_test
        out["train"] += members[:n_train]
        out["val"] += members[n_train : n_train + n_val]
        out["test"] += members[n_train + n_val :]
    return {k: sorted(v) for k, v in out.items()}


def make_splits(root: Path, seed: int = 0) -> dict[str, dict]:
    """The split files' content for vehicle-types (by class) and stanford-cars (by body type)."""
    vt = [p for paths in vehicle_types_index(root).values() for p in paths]
    rows = stanford_cars_rows(root)
    return {
        "vehicle-types": {
            "seed": seed, "stratify": "class", "fractions": [0.7, 0.15, 0.15],
            **stratified_split(vt, [p.split("/")[0] for p in vt], seed=seed),
        },
        "stanford-cars": {
            "seed": seed, "stratify": "body_type", "fractions": [0.7, 0.15, 0.15],
            **stratified_split([r["file"] for r in rows], [r["body_type"] for r in rows], seed=seed),
        },
    }


def write_splits(root: Path, seed: int = 0) -> list[Path]:
    written = []
    for name, content in make_splits(root, seed).items():
        path = SPLITS_DIR / f"{name}.json"
        path.write_text(json.dumps(content, indent=0) + "\n")
        written.append(path)
    return written


def read_split(dataset: str, split: str) -> list[str]:
    path = SPLITS_DIR / f"{dataset}.json"
    content = json.loads(path.read_text())
    if split not in ("train", "val", "test"):
        raise ValueError(f"unknown split {split!r}; choose train, val or test")
    return content[split]


def label_subset(labels: Sequence[int], fraction: float, seed: int = 0) -> list[int]:
    """Indices of a deterministic stratified ``fraction`` of the samples (at least one per class)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"--labels-fraction must be in (0, 1], got {fraction}")
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    chosen = []
    for y in sorted(by_class):
        members = by_class[y][:]
        random.Random(f"labels-{seed}-{y}").shuffle(members)  # noqa: S311 - a seeded subset, not security
        chosen += members[: max(1, round(len(members) * fraction))]
    return sorted(chosen)


# ---------------------------------------------------------------- torch dataset
def read_bgr(path: Path, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The image at ``path`` (BGR uint8), or its ``box`` (x1, y1, x2, y2 pixels) region."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetNotFoundError(f"cannot decode image {path}")
    if box is not None:
        x1, y1, x2, y2 = box
        img = img[y1:y2, x1:x2]
        if img.size == 0:
            raise DatasetNotFoundError(f"box {box} lies outside image {path}")
    return img


def shrink_to(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """``img`` downscaled (area interpolation) so its longer side is at most ``max_side`` (None: as is)."""
    h, w = img.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return img
    scale = max_side / max(h, w)
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


class ImageDataset(Dataset):
    """Decodes every image once into memory (the shared sets are small), then applies ``transform``
    (BGR uint8 HxWx3 -> tensor, or anything else, e.g. two augmented views) per access. Returns
    ``(transform(image), label)``. ``max_side`` downscales large images once at decode time (less
    memory and faster augmentation when training at a much smaller resolution)."""

    def __init__(self, data: LabeledImages, transform: Callable[[np.ndarray], Any], desc: str = "decode",
                 max_side: int | None = None):
        boxes = data.boxes or (None,) * len(data)
        self.images = [shrink_to(read_bgr(p, box), max_side)
                       for p, box in tqdm(zip(data.paths, boxes), total=len(data), desc=desc, leave=False, mininterval=1)]
        self.labels = list(data.labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return self.transform(self.images[i]), self.labels[i]
