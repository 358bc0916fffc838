"""The ``vehicle-type-v3`` task: v2's 8 types and sources (:mod:`.vehicle_type_v2`) plus the crops of
a real toll-road CCTV camera (``traffic-cctv``) and of general photos (``openimages-vehicles``),
whose boxes are labelled more coarsely than the 8 types. A box labelled with several types is a
*partial label* (:mod:`~vehiclekit.training.core.partial_labels`): the model is trained to put its
probability on any of them, and keeps telling them apart from the sources that do.

| source class                             | v3 label (set)                 | why                                   |
|------------------------------------------|--------------------------------|---------------------------------------|
| CCTV car                                 | car / suv / van / pickup       | one class for every passenger vehicle |
| CCTV big bus, bus-l-                     | bus                            |                                       |
| CCTV small bus, bus-s-                   | van / bus                      | minibuses (HiAce); v2 calls a minibus van |
| CCTV small truck, truck-s-, mid truck, truck-m- | truck                   | two-axle box and cargo trucks         |
| CCTV big truck, truck-l-                 | truck / heavy-truck            | large rigid and articulated alike     |
| CCTV truck-xl-                           | heavy-truck                    | tankers and semi-trailers             |
| Open Images Car                          | car / suv / van / pickup       |                                       |
| Open Images Bus / Motorcycle             | bus / motorcycle               | street-level buses and side-on motorcycles v2 lacks |
| Open Images Truck                        | pickup / van / truck / heavy-truck | what COCO and Open Images call truck |
| Open Images Ambulance                    | van / truck                    |                                       |

Crops are the labelled boxes with both sides at least :data:`MIN_SIDE` pixels. Splits: CCTV by
recording session (``frames.CCTV_SPLIT``; train takes cars from every second shared frame only, as
consecutive frames show the same vehicles and cars are plentiful, buses and trucks from every
frame), test = the day and night test parts; Open Images 80 / 20 by file-name
hash (``photo_split``, as the detector's training), no test part (``coco-vehicles`` is the
street-photo test, through the recognizer).
"""

from __future__ import annotations

from pathlib import Path

from vehiclekit.training.classifier import vehicle_type_v2 as v2
from vehiclekit.training.core.box_crops import box_crops
from vehiclekit.training.core.datasets import LabeledImages, _require
from vehiclekit.training.detection.frames import Frame, cctv_split, photo_split, read_yolo_folder

LABELS = v2.LABELS
PASSENGER = ("car", "suv", "van", "pickup")
CCTV_TYPES = {
    "car": PASSENGER, "big bus": ("bus",), "bus-l-": ("bus",), "small bus": ("van", "bus"), "bus-s-": ("van", "bus"),
    "small truck": ("truck",), "truck-s-": ("truck",), "mid truck": ("truck",), "truck-m-": ("truck",),
    "big truck": ("truck", "heavy-truck"), "truck-l-": ("truck", "heavy-truck"), "truck-xl-": ("heavy-truck",),
}
OPENIMAGES_TYPES = {"Car": PASSENGER, "Bus": ("bus",), "Motorcycle": ("motorcycle",),
                    "Truck": ("pickup", "van", "truck", "heavy-truck"), "Ambulance": ("van", "truck")}
#: Every multi-type label of the two tables, in a fixed order: label ``len(LABELS) + i`` is set ``i``.
LABEL_SETS = tuple(dict.fromkeys(tuple(sorted(LABELS.index(t) for t in types))
                                 for types in (*CCTV_TYPES.values(), *OPENIMAGES_TYPES.values()) if len(types) > 1))
MIN_SIDE = 24
CCTV_PARTS = {"train": ("train",), "val": ("val",), "test": ("test-day", "test-night")}
SOURCES = (*v2.SOURCES, "traffic-cctv", "openimages-vehicles")


def label_of(types: tuple[str, ...]) -> int:
    """The integer label of a type or set of types (:data:`LABEL_SETS`)."""
    if len(types) == 1:
        return LABELS.index(types[0])
    return len(LABELS) + LABEL_SETS.index(tuple(sorted(LABELS.index(t) for t in types)))


def crops(frames: list[Frame], mapping: dict[str, tuple[str, ...]], thinned: tuple[str, ...] = ()) -> LabeledImages:
    """One labelled crop per box of ``frames`` with both sides >= :data:`MIN_SIDE` px; boxes of the
    ``thinned`` classes only from every second frame."""
    paths, labels, boxes = box_crops(frames, lambda name: label_of(mapping[name]), MIN_SIDE, thinned)
    return LabeledImages(tuple(paths), tuple(labels), LABELS, tuple(boxes), LABEL_SETS)


def load_source(root: Path, source: str, split: str) -> LabeledImages:
    """One source's ``split`` with v3 labels."""
    if source == "traffic-cctv":
        frames = read_yolo_folder(_require(root / "traffic-cctv", "traffic-cctv frames"), size=(640, 640))
        chosen = [f for part in CCTV_PARTS[split] for f in cctv_split(frames, part)]
        return crops(chosen, CCTV_TYPES, thinned=("car",) if split == "train" else ())
    if source == "openimages-vehicles":
        photos = read_yolo_folder(_require(root / "openimages-vehicles", "openimages-vehicles photos"))
        return crops(photo_split(photos, split) if split in ("train", "val") else [], OPENIMAGES_TYPES)
    if source in v2.SOURCES:
        return v2.load_source(root, source, split)
    raise ValueError(f"unknown vehicle-type-v3 source {source!r}; choose one of {SOURCES}")


def load(root: Path, split: str) -> LabeledImages:
    """Every source's ``split``, joined."""
    data = load_source(root, SOURCES[0], split)
    for source in SOURCES[1:]:
        data = data + load_source(root, source, split)
    return data
