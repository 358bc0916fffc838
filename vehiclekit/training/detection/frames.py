"""Frames with boxes in YOLO format (``images/*.jpg`` + ``labels/*.txt`` + ``classes.txt``), and the
traffic camera's session split.

``traffic-cctv`` (RF100 "vehicles", CC BY 4.0) holds four recording sessions of one toll-road camera,
named in the file names (``{session}-{frame}.jpg``). Consecutive frames are near-duplicates, so the
split is by session, never by frame; the one night session is split into two time blocks with a gap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vehiclekit.errors import DatasetNotFoundError
from vehiclekit.video.source import frame_name

#: The detector's coarse classes (COCO names) for every class of the two labelling schemes of
#: ``traffic-cctv`` and of ``openimages-vehicles``. CCTV ``car`` covers every passenger vehicle.
COARSE_CLASS = {
    "car": "car", "big bus": "bus", "small bus": "bus", "bus-l-": "bus", "bus-s-": "bus",
    "big truck": "truck", "mid truck": "truck", "small truck": "truck",
    "truck-l-": "truck", "truck-m-": "truck", "truck-s-": "truck", "truck-xl-": "truck",
    "Car": "car", "Bus": "bus", "Truck": "truck", "Motorcycle": "motorcycle", "Ambulance": "car",
    "bus": "bus", "truck": "truck", "motorcycle": "motorcycle", "bicycle": "bicycle",  # the detector's own labels
}

#: ``traffic-cctv`` split: ``train`` fits the detector, ``val`` chooses among runs, ``test-day`` and
#: ``test-night`` report. Values: (session, first frame, last frame) blocks, frames inclusive.
NIGHT = "malam_04112021_mp4"
CCTV_SPLIT: dict[str, tuple[tuple[str, int, int], ...]] = {
    "train": (("adit_mp4", 0, 10**9), (NIGHT, 0, 379)),
    "val": (("siang_15112021_1_mp4", 0, 10**9),),
    "test-day": (("aditganteng_mp4", 0, 10**9),),
    "test-night": ((NIGHT, 420, 10**9),),
}

@dataclass(frozen=True)
class Frame:
    """One labelled frame: ``boxes`` ``[N, 4]`` xyxy in pixels, ``labels`` the dataset's class names."""

    path: Path
    session: str
    index: int
    width: int
    height: int
    boxes: np.ndarray
    labels: tuple[str, ...]

    @property
    def coarse(self) -> tuple[str, ...]:
        return tuple(COARSE_CLASS[label] for label in self.labels)


def read_yolo_folder(root: str | os.PathLike, size: tuple[int, int] | None = None) -> list[Frame]:
    """Every frame of a YOLO-format folder, sorted by session and frame number. ``size`` (W, H) skips
    reading each image's header when all frames share one size (``traffic-cctv`` is 640x640). A frame
    without a label file, or with an empty one, has no vehicles."""
    from PIL import Image

    root = Path(root)
    classes_file = root / "classes.txt"
    if not classes_file.is_file():
        raise DatasetNotFoundError(f"{root}: no classes.txt; expected images/, labels/ and classes.txt (YOLO format)")
    classes = [line.strip() for line in classes_file.read_text().splitlines() if line.strip()]
    frames = []
    for image in sorted((root / "images").glob("*.jpg")):
        session, index = frame_name(image.stem)
        if size is None:
            with Image.open(image) as opened:  # the header only
                width, height = opened.size
        else:
            width, height = size
        label_file = root / "labels" / f"{image.stem}.txt"
        rows = np.loadtxt(label_file, ndmin=2) if label_file.is_file() and label_file.stat().st_size else np.zeros((0, 5))
        cx, cy, w, h = (rows[:, i] * scale for i, scale in zip(range(1, 5), (width, height, width, height)))
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).clip(0, [width, height, width, height])
        frames.append(Frame(image, session, index, width, height, boxes.astype(np.float32), tuple(classes[int(c)] for c in rows[:, 0])))
    return sorted(frames, key=lambda f: (f.session, f.index))


def photo_split(frames: list[Frame], part: str, val_share: float = 0.2) -> list[Frame]:
    """``train`` or ``val`` part of a folder of unrelated photos (``openimages-vehicles``): a stable
    hash of the file name puts ``val_share`` of them in ``val``."""
    import zlib

    in_val = [zlib.crc32(f.path.name.encode()) % 1000 < val_share * 1000 for f in frames]
    return [f for f, v in zip(frames, in_val) if v == (part == "val")]


def cctv_split(frames: list[Frame], part: str) -> list[Frame]:
    """The frames of one part of :data:`CCTV_SPLIT`."""
    if part not in CCTV_SPLIT:
        raise ValueError(f"unknown traffic-cctv split {part!r}; choose one of {', '.join(CCTV_SPLIT)}")
    return [f for f in frames if any(f.session == s and lo <= f.index <= hi for s, lo, hi in CCTV_SPLIT[part])]
