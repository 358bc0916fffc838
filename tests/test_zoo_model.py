"""The shipped zoo models: size budget, model cards, and the vehicle-type model scored end to end
through the SDK on the committed test split."""

import pytest

from vehiclekit import VehicleClassifier
from vehiclekit.models import zoo
from vehiclekit.paths import data_root
from vehiclekit.training.datasets import load_vehicle_types


@pytest.mark.parametrize("name", [m.name for m in zoo.ZOO.values() if m.shipped])
def test_shipped_models_fit_the_zoo_budget_and_have_a_card(name):
    entry = zoo.get(name)
    assert entry.path.stat().st_size <= 12 * 1024 * 1024
    assert (zoo.ZOO_DIR / entry.card).is_file()


def test_shipped_model_meets_accuracy_target_on_test_split():
    """>= 95 % on the 612 held-out test images (docs/results.md has the measured value)."""
    test = load_vehicle_types(data_root(), "test")
    clf = VehicleClassifier()
    assert clf.labels == test.classes  # labels are the dataset's folder names, in output order
    predictions = clf.predict_batch(test.paths)
    correct = sum(p.label == test.classes[y] for p, y in zip(predictions, test.labels))
    assert correct / len(test) >= 0.95
