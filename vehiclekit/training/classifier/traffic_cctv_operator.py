"""The ``traffic-cctv-operator`` task of issue 31: the toll-road camera's boxes (``traffic-cctv``) as
crops of an operator's own five classes (car, bus, small-, medium-, large-truck), through the class map
a customer would write (``deploy/class-maps/traffic-cctv-operator.csv``, read by
:func:`~vehiclekit.training.core.box_crops.read_class_map`).

Split by recording session, never by frame (``frames.CCTV_SPLIT``): train = one day session and the
first 380 frames of the night session (the labelled pool and the self-supervised pool); test = three
held-out parts scored on their own (:data:`TEST_PARTS`): the day session ``aditganteng``, the noon
session ``siang`` (the detector's val session; nothing of this task is tuned on it) and the last frames
of the night session (the only night recording; 40 frames after the training block). Every box with
both sides at least :data:`MIN_SIDE` px is a crop.
"""

from __future__ import annotations

from pathlib import Path

from vehiclekit.paths import REPO_ROOT
from vehiclekit.training.core.box_crops import box_crops, read_class_map
from vehiclekit.training.core.datasets import LabeledImages, _require
from vehiclekit.training.detection.frames import CCTV_SPLIT, cctv_split, read_yolo_folder

CLASS_MAP = REPO_ROOT / "deploy" / "class-maps" / "traffic-cctv-operator.csv"
MIN_SIDE = 24
#: test domain -> its part of ``CCTV_SPLIT``.
TEST_PARTS = {"day": "test-day", "noon": "val", "night": "test-night"}


def load(root: Path, split: str) -> LabeledImages:
    """``train`` (the training sessions) or ``test`` (every :data:`TEST_PARTS` part, in its order)."""
    if split not in ("train", "test"):
        raise ValueError(f"traffic-cctv-operator has a train and a test split, not {split!r}")
    frames = read_yolo_folder(_require(root / "traffic-cctv", "traffic-cctv frames"), size=(640, 640))
    mapping = read_class_map(CLASS_MAP)
    classes = tuple(sorted({c for c in mapping.values() if c}))
    parts = ("train",) if split == "train" else tuple(TEST_PARTS.values())
    chosen = [f for part in parts for f in cctv_split(frames, part)]
    paths, labels, boxes = box_crops(chosen, lambda name: classes.index(mapping[name]) if mapping[name] else None, MIN_SIDE)
    return LabeledImages(tuple(paths), tuple(labels), classes, tuple(boxes))


def test_domain(path: Path) -> str:
    """The :data:`TEST_PARTS` domain of a test crop, from its frame's session."""
    session = Path(path).stem.rsplit("-", 1)[0]
    return next(domain for domain, part in TEST_PARTS.items() if any(session == s for s, _, _ in CCTV_SPLIT[part]))
