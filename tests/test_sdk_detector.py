"""VehicleDetector: YOLOX-Nano decoding and NMS in numpy, checked on real COCO images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from vehiclekit import Detection, InvalidImageError, ModelNotFoundError, VehicleDetector
from vehiclekit.models.zoo import COCO_VEHICLE_CLASSES, YOLOX_VEHICLE_INDICES
from vehiclekit.sdk.detector import decode, grid_and_strides, letterbox, merge_across_classes, nms

LARGE = 64 * 64  # GT boxes at least this big (pixels) must be found


@pytest.mark.parametrize(
    "file_name, label",
    [
        ("000000252639.jpg", "bus"),
        ("000000423617.jpg", "bus"),
        ("000000423617.jpg", "car"),
        ("000000155341.jpg", "car"),
        ("000000155341.jpg", "truck"),
        ("000000332078.jpg", "truck"),
        ("000000084533.jpg", "motorcycle"),
        ("000000370208.jpg", "bicycle"),
    ],
)
def test_finds_every_large_vehicle_of_the_class(detector, coco_dir, coco_vehicle_boxes, box_iou, file_name, label):
    detections = detector.detect(coco_dir / "images" / file_name)
    expected = [box for name, box in coco_vehicle_boxes[file_name] if name == label
                and (box[2] - box[0]) * (box[3] - box[1]) >= LARGE]
    assert expected, "test data changed: no large GT box of this class"
    for gt_box in expected:
        best = max((box_iou(gt_box, d.bbox) for d in detections if d.label == label), default=0.0)
        assert best > 0.5, f"{label} at {gt_box} not found in {[str(d) for d in detections]}"


def test_images_without_vehicles_give_nothing(detector, coco_dir, coco_vehicle_boxes):
    empty = sorted(name for name, boxes in coco_vehicle_boxes.items() if not boxes)[:10]
    assert len(empty) == 10
    assert all(detector.detect(coco_dir / "images" / name) == [] for name in empty)


def test_detections_are_sorted_clipped_and_above_threshold(detector, coco_dir):
    image = cv2.imread(str(coco_dir / "images" / "000000125870.jpg"))
    h, w = image.shape[:2]
    detections = detector.detect(image)
    assert len(detections) >= 3
    assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)
    for d in detections:
        x1, y1, x2, y2 = d.bbox
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert d.score > detector.score_threshold and d.label in COCO_VEHICLE_CLASSES.values()


def test_low_threshold_for_coco_evaluation_is_a_superset(detector, coco_dir):
    path = coco_dir / "images" / "000000423617.jpg"
    low = VehicleDetector(score_threshold=0.001).detect(path)
    default = detector.detect(path)
    assert len(low) > len(default)
    assert {(d.label, d.bbox) for d in default} <= {(d.label, d.bbox) for d in low}


def test_every_input_form_gives_the_same_detections(detector, coco_dir):
    path = coco_dir / "images" / "000000252639.jpg"
    image = cv2.imread(str(path))
    expected = detector.detect(path)
    assert detector.detect(str(path)) == expected
    assert detector.detect(path.read_bytes()) == expected
    assert detector.detect(image) == expected
    assert detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)) == expected
    assert detector.detect_batch([path, image]) == [expected, expected]
    assert detector.detect_batch([]) == []


def test_boxes_follow_the_image_scale(detector, coco_dir, box_iou):
    """The letterbox ratio is undone: a half-size image gives the same boxes, halved."""
    image = cv2.imread(str(coco_dir / "images" / "000000423617.jpg"))
    full = [d for d in detector.detect(image) if d.score > 0.8]
    half = detector.detect(cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
    assert len(full) >= 3
    for d in full:
        doubled = [tuple(2 * v for v in h.bbox) for h in half if h.label == d.label]
        assert max(box_iou(d.bbox, box) for box in doubled) > 0.85


def test_tiny_and_gray_images_work(detector):
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []
    assert detector.detect(np.full((30, 500), 128, np.uint8)) == []


def test_bad_input_raises_invalid_image_error(detector, tmp_path):
    with pytest.raises(InvalidImageError, match="does not exist"):
        detector.detect(tmp_path / "missing.jpg")
    with pytest.raises(InvalidImageError, match="dtype float32"):
        detector.detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InvalidImageError, match="image 1 of the batch"):
        detector.detect_batch([np.zeros((10, 10, 3), np.uint8), b"junk"])


def test_missing_model_says_where_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("VEHICLEKIT_DETECTOR", str(tmp_path / "yolox_nano.onnx"))
    with pytest.raises(ModelNotFoundError, match="official YOLOX release"):
        VehicleDetector()


def test_thresholds_are_validated():
    with pytest.raises(ValueError, match="between 0 and 1"):
        VehicleDetector(score_threshold=1.5)


def test_letterbox_is_yolox_preproc():
    image = np.full((100, 200, 3), 7, np.uint8)
    tensor, ratio = letterbox(image, (416, 416))
    assert ratio == pytest.approx(2.08) and tensor.shape == (3, 416, 416) and tensor.dtype == np.float32
    assert (tensor[:, :208, :] == 7).all() and (tensor[:, 208:, :] == 114).all()


def test_decode_grid_and_strides():
    grid, strides = grid_and_strides((416, 416))
    assert len(grid) == 52 * 52 + 26 * 26 + 13 * 13 == 3549
    raw = np.zeros((3549, 85), np.float32)
    raw[:, 4] = 0.5
    raw[:, 5:] = 0.2
    boxes, scores = decode(raw, grid, strides)
    # anchor 53 = stride-8 cell (x=1, y=1): centre (8, 8), size exp(0) * 8
    np.testing.assert_allclose(boxes[53], [4, 4, 12, 12])
    # first stride-32 anchor: cell (0, 0), centre (0, 0), size 32
    np.testing.assert_allclose(boxes[52 * 52 + 26 * 26], [-16, -16, 16, 16])
    np.testing.assert_allclose(scores, 0.1)


def test_nms_keeps_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.5, 0.9, 0.3, 0.4], np.float32)
    assert nms(boxes, scores, 0.45).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 3, 2]


def test_vehicle_class_maps_agree():
    # COCO category ids 1-11 have no gaps, so contiguous index = id - 1 for the vehicle classes
    assert YOLOX_VEHICLE_INDICES == {cat_id - 1: name for cat_id, name in COCO_VEHICLE_CLASSES.items()}


def test_detection_type():
    d = Detection(bbox=(10.0, 20.0, 40.0, 60.0), label="bus", score=0.875)
    assert str(d) == "bus 0.88 [10, 20, 40, 60]"
    assert d.xywh == (10.0, 20.0, 30.0, 40.0) and d.coco_category_id == 6
    assert d.model_dump() == {"bbox": (10.0, 20.0, 40.0, 60.0), "label": "bus", "score": 0.875}
    with pytest.raises(ValidationError):
        Detection(bbox=(40, 20, 10, 60), label="bus", score=0.5)
    with pytest.raises(ValidationError):
        Detection(bbox=(0, 0, 1, 1), label="person", score=0.5)


def test_merge_across_classes_keeps_the_best_of_each_overlapping_group():
    """Boxes of 100x100 px shifted right by ``dx``: IoU (+1 px convention) 0.67 at dx 20, 0.54 at dx 30."""
    def det(label, score, dx=0.0, dy=0.0):
        return Detection(bbox=(dx, dy, 99 + dx, 99 + dy), label=label, score=score)

    car, truck, far = det("car", 0.9), det("truck", 0.8, dx=20), det("bus", 0.7, dy=500)
    assert merge_across_classes([car, truck, far], 0.6) == [car, far]      # 0.67 > 0.6: one vehicle
    assert merge_across_classes([car, truck, far], 0.7) == [car, truck, far]
    lower = det("truck", 0.95, dx=30)                                       # IoU 0.54: two vehicles at 0.6
    assert merge_across_classes([lower, car], 0.6) == [lower, car]
    assert merge_across_classes([lower, car], 0.5) == [lower]               # the better score survives
    assert merge_across_classes([], 0.6) == [] and merge_across_classes([car], 0.6) == [car]
