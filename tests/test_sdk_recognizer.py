"""VehicleRecognizer (detector + classifier on the crops) and the annotation helpers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vehiclekit import InvalidImageError, RecognizedVehicle, VehicleRecognizer
from vehiclekit.sdk.draw import annotate, annotate_whole_image
from vehiclekit.sdk.recognizer import crop

STREET = "000000423617.jpg"  # 2 buses, 5 cars


@pytest.fixture(scope="module")
def recognizer(classifier, detector) -> VehicleRecognizer:
    return VehicleRecognizer(classifier=classifier, detector=detector)


@pytest.fixture(scope="module")
def street(coco_dir) -> np.ndarray:
    return cv2.imread(str(coco_dir / "images" / STREET))


@pytest.fixture()
def batch_calls(classifier, monkeypatch) -> list[int]:
    """Sizes of the classifier's ``predict_batch`` calls during a test; ``predict`` is forbidden."""
    calls: list[int] = []
    original = classifier.predict_batch

    def spy(images):
        images = list(images)
        calls.append(len(images))
        return original(images)

    def forbidden(image):
        raise AssertionError("the recognizer must classify crops with predict_batch")

    monkeypatch.setattr(classifier, "predict_batch", spy)
    monkeypatch.setattr(classifier, "predict", forbidden)
    return calls


def test_recognizes_detections_and_classifies_their_crops(recognizer, classifier, detector, street, batch_calls):
    vehicles = recognizer.recognize(street)
    detections = [d for d in detector.detect(street) if min(crop(street, d.bbox).shape[:2]) >= recognizer.min_box_size]
    assert len(vehicles) >= 5 and [v.detection for v in vehicles] == detections
    assert {v.detection.label for v in vehicles} >= {"bus", "car"}
    assert batch_calls == [len(vehicles)]
    crops = [crop(street, v.detection.bbox) for v in vehicles]
    unspied = type(classifier).predict_batch(classifier, crops)
    assert [v.classification for v in vehicles] == unspied


def test_every_input_form_gives_the_same_result(recognizer, coco_dir, street):
    path = coco_dir / "images" / STREET
    expected = recognizer.recognize(street)
    assert recognizer.recognize(path) == expected
    assert recognizer.recognize(path.read_bytes()) == expected


def test_small_boxes_are_left_out(classifier, detector, street, batch_calls):
    assert VehicleRecognizer(classifier, detector, min_box_size=10_000).recognize(street) == []
    assert batch_calls == []


def test_image_without_vehicles(recognizer, coco_dir, coco_vehicle_boxes, batch_calls):
    empty = sorted(name for name, boxes in coco_vehicle_boxes.items() if not boxes)[0]
    assert recognizer.recognize(coco_dir / "images" / empty) == []
    assert batch_calls == []


def test_bad_input_and_arguments(recognizer, classifier, detector):
    with pytest.raises(InvalidImageError, match="dtype int64"):
        recognizer.recognize(np.zeros((50, 50, 3), np.int64))
    with pytest.raises(ValueError, match="min_box_size"):
        VehicleRecognizer(classifier, detector, min_box_size=0)


def test_result_reads_as_one_line(recognizer, street):
    vehicle = recognizer.recognize(street)[0]
    assert isinstance(vehicle, RecognizedVehicle)
    text = str(vehicle)
    assert "\n" not in text and text.startswith(vehicle.classification.label)
    assert f"detected {vehicle.detection.label}" in text


def test_crop_rounds_outwards_and_clips():
    image = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    np.testing.assert_array_equal(crop(image, (2.5, 3.2, 10.1, 7.0)), image[3:7, 2:11])
    assert crop(image, (-5, -5, 100, 100)).shape == (20, 30, 3)
    assert crop(image, (40, 5, 50, 10)).size == 0


def test_annotate_draws_on_a_copy(recognizer, street):
    vehicles = recognizer.recognize(street)
    before = street.copy()
    drawn = annotate(street, vehicles)
    np.testing.assert_array_equal(street, before)
    assert drawn.shape == street.shape and drawn.dtype == np.uint8
    x1, y1, x2, y2 = (round(v) for v in vehicles[0].detection.bbox)
    assert not np.array_equal(drawn[y1 : y2 + 1, x1 : x2 + 1], street[y1 : y2 + 1, x1 : x2 + 1])
    np.testing.assert_array_equal(annotate(street, []), street)


def test_annotate_whole_image_adds_a_banner(classifier, data_dir):
    crop_path = data_dir / "vehicle-types" / "car" / "car1.jpg"
    image = cv2.imread(str(crop_path))
    drawn = annotate_whole_image(image, classifier.predict(image))
    assert drawn.shape[0] > image.shape[0] and drawn.shape[1] >= image.shape[1]
    np.testing.assert_array_equal(drawn[-100:, :100], image)


def test_reid_embeddings_attached_to_every_vehicle(classifier, detector, street):
    """With a re-ID model each vehicle carries the unit embedding of its own crop (one batch)."""
    from vehiclekit.sdk import VehicleReID

    reid = VehicleReID()
    vehicles = VehicleRecognizer(classifier=classifier, detector=detector, reid=reid).recognize(street)
    assert len(vehicles) >= 5
    expected = reid.embed([crop(street, v.detection.bbox) for v in vehicles])
    got = np.array([v.embedding for v in vehicles])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert all(v.embedding is None for v in VehicleRecognizer(classifier=classifier, detector=detector).recognize(street))
