"""The ``vehicle-type-v2`` task: 8 vehicle types learnt from every labelled source in the shared data
through one documented mapping, so one model is right on traffic-camera crops, street photos and
detector crops alike.

| v2 label      | vehicle-types | stanford-cars body_type                       | vehicle-reid | coco-unlabeled |
|---------------|---------------|-----------------------------------------------|--------------|----------------|
| motorcycle    | bike          |                                               | motorcycle   |                |
| car           | car           | sedan, coupe, convertible, hatchback, wagon   | car          |                |
| suv           |               | suv                                           |              |                |
| van           | minibus       | van                                           |              |                |
| pickup        | pickup        | pickup                                        |              |                |
| bus           |               |                                               | bus          | 5 boxes checked by eye |
| truck         | truck         |                                               | truck        |                |
| heavy-truck   | juggernaut    |                                               |              |                |

Splits: each source's committed split (vehicle-types and stanford-cars: ``splits/*.json``;
vehicle-reid: its own ``train/val/test.txt``); the five coco-unlabeled bus boxes
(``splits/coco-unlabeled-buses.json``) are training images only. ``coco-vehicles`` is never trained
on: it is the street-photo test of the whole recognizer.
"""

from __future__ import annotations

import json
from pathlib import Path

from vehiclekit.models.zoo import VEHICLE_TYPES
from vehiclekit.sdk.recognizer import DETECTOR_TYPES
from vehiclekit.training.core.datasets import SPLITS_DIR, LabeledImages, _labeled, _require, load_stanford_cars, load_vehicle_reid, load_vehicle_types

LABELS = VEHICLE_TYPES
VEHICLE_TYPES = {"bike": "motorcycle", "car": "car", "juggernaut": "heavy-truck", "minibus": "van", "pickup": "pickup", "truck": "truck"}
STANFORD_BODY = {"sedan": "car", "coupe": "car", "convertible": "car", "hatchback": "car", "wagon": "car",
                 "suv": "suv", "van": "van", "pickup": "pickup"}
VEHICLE_REID = {"car": "car", "motorcycle": "motorcycle", "truck": "truck", "bus": "bus"}
#: Passenger cars: the Stanford body types a car park prices as a car or an SUV.
PASSENGER_BODIES = ("sedan", "coupe", "convertible", "hatchback", "wagon", "suv")
#: v2 labels that fit a COCO category: the recognizer's own table (COCO annotates pickups and
#: delivery vans as truck, minivans as car; bicycles have no v2 label).
FITS_COCO = DETECTOR_TYPES
BUS_BOXES = SPLITS_DIR / "coco-unlabeled-buses.json"


def _remap(data: LabeledImages, mapping: dict[str, str]) -> LabeledImages:
    names = [data.classes[y] for y in data.labels]
    unknown = sorted(set(names) - set(mapping))
    if unknown:
        raise ValueError(f"no vehicle-type-v2 label for {unknown}; extend the mapping in {__name__}")
    return LabeledImages(data.paths, tuple(LABELS.index(mapping[n]) for n in names), LABELS, data.boxes)


def load_source(root: Path, source: str, split: str) -> LabeledImages:
    """One source's ``split`` with v2 labels (``coco-unlabeled-buses``: train only, else empty)."""
    if source == "vehicle-types":
        return _remap(load_vehicle_types(root, split), VEHICLE_TYPES)
    if source == "stanford-cars":
        return _remap(load_stanford_cars(root, "body_type", split), STANFORD_BODY)
    if source == "vehicle-reid":
        images = load_vehicle_reid(root, split)
        return LabeledImages(tuple(im.path for im in images),
                             tuple(LABELS.index(VEHICLE_REID[im.vehicle_type]) for im in images), LABELS)
    if source == "coco-unlabeled-buses":
        if split != "train":
            return LabeledImages((), (), LABELS)
        entries = json.loads(BUS_BOXES.read_text())["boxes"]
        folder = _require(root / "coco-unlabeled", "coco-unlabeled images")
        data = _labeled(folder, [e["file"] for e in entries], [LABELS.index(e["label"]) for e in entries], LABELS)
        return LabeledImages(data.paths, data.labels, LABELS, tuple(tuple(e["bbox"]) for e in entries))
    raise ValueError(f"unknown vehicle-type-v2 source {source!r}; choose one of {SOURCES}")


SOURCES = ("vehicle-types", "stanford-cars", "vehicle-reid", "coco-unlabeled-buses")


def load(root: Path, split: str) -> LabeledImages:
    """Every source's ``split``, joined."""
    data = load_source(root, SOURCES[0], split)
    for source in SOURCES[1:]:
        data = data + load_source(root, source, split)
    return data
