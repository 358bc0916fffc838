"""VehicleRecognizer (detector + classifier on the crops) and the annotation helpers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vehiclekit import Detection, InvalidImageError, Prediction, RecognizedVehicle, VehicleRecognizer
from vehiclekit.sdk.draw import annotate, annotate_whole_image
from vehiclekit.sdk.detector import merge_across_classes
from vehiclekit.sdk.recognizer import crop, type_from_detector

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
    merged = merge_across_classes(detector.detect(street), recognizer.duplicate_iou)
    detections = [d for d in merged if min(crop(street, d.bbox).shape[:2]) >= recognizer.min_box_size]
    assert len(vehicles) >= 5 and [v.detection for v in vehicles] == detections
    assert {v.detection.label for v in vehicles} >= {"bus", "car"}
    assert batch_calls == [len(vehicles)]
    crops = [crop(street, v.detection.bbox) for v in vehicles]
    unspied = type(classifier).predict_batch(classifier, crops)
    assert [v.classification for v in vehicles] == [
        type_from_detector(p, v.detection, recognizer.detector_type_score) for p, v in zip(unspied, vehicles)]


def test_the_detector_class_steers_the_type_by_its_score():
    """The mixture s * q + (1 - s) * p, q = p restricted to the types the COCO class allows."""
    p = Prediction(label="bus", confidence=0.5, probabilities={"car": 0.2, "suv": 0.1, "bus": 0.5, "truck": 0.2},
                   model="m", model_version="2")
    car = Detection(bbox=(0, 0, 10, 10), label="car", score=0.6)        # allows car, suv (van, pickup absent here)
    fused = type_from_detector(p, car, 0.0)
    q = {"car": 2 / 3, "suv": 1 / 3, "bus": 0.0, "truck": 0.0}
    assert fused.probabilities == pytest.approx({t: 0.6 * q[t] + 0.4 * p.probabilities[t] for t in q})
    assert fused.label == "car" and fused.confidence == pytest.approx(0.6 * 2 / 3 + 0.4 * 0.2)
    assert sum(fused.probabilities.values()) == pytest.approx(1.0)
    weak = car.model_copy(update={"score": 0.2})                        # a weak detection barely moves it
    assert type_from_detector(p, weak, 0.0).label == "bus"
    assert type_from_detector(p, car, 0.7) == p                          # below min_score
    assert type_from_detector(p, car, None) == p                         # turned off
    assert type_from_detector(p, car.model_copy(update={"label": "bicycle"}), 0.0) == p   # no type allowed
    bus = car.model_copy(update={"label": "bus", "score": 0.9})
    assert type_from_detector(p, bus, 0.0).probabilities["bus"] == pytest.approx(0.9 + 0.1 * 0.5)
    v1 = Prediction(label="truck", confidence=1.0, probabilities={"truck": 1.0}, model="m", model_version="1")
    assert type_from_detector(v1, bus, 0.0) == v1                        # a model without a bus label


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


DUPLICATED = "000000234748.jpg"  # YOLOX reports one vehicle twice, as two COCO classes


def test_a_vehicle_detected_as_two_classes_is_reported_once(coco_dir, classifier, detector, box_iou):
    image = coco_dir / "images" / DUPLICATED
    raw = detector.detect(image)
    assert len(raw) == 2 and raw[0].label != raw[1].label and box_iou(raw[0].bbox, raw[1].bbox) > 0.6
    vehicles = VehicleRecognizer(classifier=classifier, detector=detector).recognize(image)
    assert [v.detection for v in vehicles] == [max(raw, key=lambda d: d.score)]
    unmerged = VehicleRecognizer(classifier=classifier, detector=detector, duplicate_iou=1.0).recognize(image)
    assert len(unmerged) == 2


def test_merging_keeps_distinct_vehicles(recognizer, street, coco_vehicle_boxes, box_iou):
    """On the 7-vehicle street image, no two reported vehicles overlap above the merge IoU, and
    every ground-truth vehicle found without merging is still found."""
    vehicles = recognizer.recognize(street)
    boxes = [v.detection.bbox for v in vehicles]
    assert all(box_iou(a, b) <= 0.6 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    unmerged = VehicleRecognizer(recognizer.classifier, recognizer.detector, duplicate_iou=1.0).recognize(street)
    found = lambda found_boxes: {i for i, (_, t) in enumerate(coco_vehicle_boxes[STREET])  # noqa: E731
                                 if any(box_iou(t, b) >= 0.5 for b in found_boxes)}
    assert found(boxes) == found([v.detection.bbox for v in unmerged])
