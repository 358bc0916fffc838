"""Loaders and committed splits, on the real shared data."""

import json
from collections import Counter

import pytest

from vehiclekit.errors import DatasetNotFoundError
from vehiclekit.paths import data_root
from vehiclekit.training.core.datasets import (
    SPLITS_DIR, label_subset, load_stanford_cars, load_vehicle_reid, load_vehicle_types, coco_vehicles, make_splits,
)

ROOT = data_root()


def test_vehicle_types_classes_are_folder_names():
    data = load_vehicle_types(ROOT)
    assert data.classes == ("bike", "car", "juggernaut", "minibus", "pickup", "truck")
    assert len(data) >= 4000
    assert all(data.classes[y] == p.parent.name for p, y in zip(data.paths, data.labels))


def test_committed_splits_match_regeneration():
    """The committed files are exactly what make_splits produces from the data: deterministic."""
    for name, content in make_splits(ROOT).items():
        assert json.loads((SPLITS_DIR / f"{name}.json").read_text()) == content


@pytest.mark.parametrize("dataset", ["vehicle-types", "stanford-cars"])
def test_splits_disjoint_and_stratified(dataset):
    content = json.loads((SPLITS_DIR / f"{dataset}.json").read_text())
    sets = {s: set(content[s]) for s in ("train", "val", "test")}
    assert not sets["train"] & sets["test"] and not sets["train"] & sets["val"] and not sets["val"] & sets["test"]
    load = (lambda s: load_vehicle_types(ROOT, s)) if dataset == "vehicle-types" else (lambda s: load_stanford_cars(ROOT, "body_type", s))
    full = Counter(load(None).labels) if dataset == "vehicle-types" else Counter(load_stanford_cars(ROOT).labels)
    test = Counter(load("test").labels)
    total_test = sum(test.values())
    for label, n in full.items():  # each class keeps its share of the data in the test split (±1 image)
        assert abs(test[label] - n * total_test / sum(full.values())) <= max(2, 0.02 * n)


def test_stanford_cars_targets():
    body = load_stanford_cars(ROOT, "body_type")
    assert set(body.classes) == {"sedan", "suv", "coupe", "convertible", "pickup", "hatchback", "van", "wagon"}
    assert len(load_stanford_cars(ROOT, "make").classes) == 49
    with pytest.raises(ValueError, match="unknown stanford-cars target"):
        load_stanford_cars(ROOT, "colour")


def test_vehicle_reid_parses_names_and_splits():
    test = load_vehicle_reid(ROOT, "test")
    assert len(test) == 120 and {r.camera for r in test} == {1, 2}
    assert len({r.identity for r in test}) == 60
    train_ids = {r.identity for r in load_vehicle_reid(ROOT, "train")}
    assert not train_ids & {r.identity for r in test}


def test_coco_vehicles_paths():
    images, ann = coco_vehicles(ROOT)
    assert images.is_dir() and json.loads(ann.read_text())["annotations"]


def test_label_subset_is_stratified_and_deterministic():
    labels = load_vehicle_types(ROOT, "train").labels
    a, b = label_subset(labels, 0.1), label_subset(labels, 0.1)
    assert a == b and len(set(a)) == len(a)
    counts = Counter(labels[i] for i in a)
    assert set(counts.values()) == {round(labels.count(0) * 0.1)}
    assert set(label_subset(labels, 0.05)) <= set(label_subset(labels, 0.05, seed=0))
    with pytest.raises(ValueError, match="labels-fraction"):
        label_subset(labels, 0)


def test_missing_data_root_says_what_to_do(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="VEHICLEKIT_DATA"):
        data_root(tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match="vehicle-types"):
        load_vehicle_types(tmp_path)
