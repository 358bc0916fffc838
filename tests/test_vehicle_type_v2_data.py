"""The vehicle-type-v2 label mapping, per source, on the real shared data."""

from __future__ import annotations

from collections import Counter

from vehiclekit.models.zoo import VEHICLE_TYPES
from vehiclekit.training.classifier import vehicle_type_v2 as v2
from vehiclekit.training.core.datasets import load_stanford_cars, load_vehicle_reid, load_vehicle_types, read_bgr


def named(data) -> Counter:
    return Counter(data.classes[y] for y in data.labels)


def test_labels_are_the_contract():
    assert v2.LABELS == VEHICLE_TYPES == ("motorcycle", "car", "suv", "van", "pickup", "bus", "truck", "heavy-truck")


def test_vehicle_types_mapping(data_dir):
    raw = load_vehicle_types(data_dir, "train")
    mapped = v2.load_source(data_dir, "vehicle-types", "train")
    assert mapped.paths == raw.paths
    for path, y in zip(mapped.paths, mapped.labels):
        assert v2.LABELS[y] == {"bike": "motorcycle", "car": "car", "juggernaut": "heavy-truck", "minibus": "van",
                                "pickup": "pickup", "truck": "truck"}[path.parent.name]
    assert set(named(mapped)) == {"motorcycle", "car", "van", "pickup", "truck", "heavy-truck"}


def test_stanford_body_mapping(data_dir):
    raw = load_stanford_cars(data_dir, "body_type", "test")
    mapped = v2.load_source(data_dir, "stanford-cars", "test")
    bodies = Counter(raw.classes[y] for y in raw.labels)
    counts = named(mapped)
    assert counts["car"] == sum(bodies[b] for b in ("sedan", "coupe", "convertible", "hatchback", "wagon"))
    assert (counts["suv"], counts["van"], counts["pickup"]) == (bodies["suv"], bodies["van"], bodies["pickup"])
    assert sum(counts.values()) == len(raw)


def test_reid_mapping_keeps_each_images_type(data_dir):
    images = load_vehicle_reid(data_dir, "test")
    mapped = v2.load_source(data_dir, "vehicle-reid", "test")
    assert [v2.LABELS[y] for y in mapped.labels] == [im.vehicle_type for im in images]
    assert named(mapped)["bus"] == 6


def test_bus_boxes_are_training_only_crops(data_dir):
    train = v2.load_source(data_dir, "coco-unlabeled-buses", "train")
    assert len(train) == 5 and set(named(train)) == {"bus"}
    assert len(v2.load_source(data_dir, "coco-unlabeled-buses", "test")) == 0
    crop = read_bgr(train.paths[0], train.boxes[0])
    x1, y1, x2, y2 = train.boxes[0]
    assert crop.shape[:2] == (y2 - y1, x2 - x1)


def test_joined_splits_do_not_overlap_and_cover_every_class(data_dir):
    splits = {s: v2.load(data_dir, s) for s in ("train", "val", "test")}
    keys = {s: set(zip(d.paths, d.boxes or (None,) * len(d))) for s, d in splits.items()}
    assert not keys["train"] & keys["test"] and not keys["val"] & keys["test"] and not keys["train"] & keys["val"]
    assert set(named(splits["train"])) == set(VEHICLE_TYPES)
