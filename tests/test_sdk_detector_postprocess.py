"""Detector post-processing that one threshold cannot check: NMS at several IoU thresholds (where
IoU and intersection-over-area differ), NMS invariants (Hypothesis), the detector's own
``iou_threshold`` on a real image, decode and letterbox by hand, and scaling, clipping and score
filtering around a model whose predictions the test chooses."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from vehiclekit import VehicleDetector, VehiclekitError
from vehiclekit.sdk.detector import decode, grid_and_strides, letterbox, nms


def iou_plus_one(a, b) -> float:
    """IoU with YOLOX's +1 pixel convention, written out."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(0.0, w) * max(0.0, h)
    area = lambda box: (box[2] - box[0] + 1) * (box[3] - box[1] + 1)   # noqa: E731
    return inter / (area(a) + area(b) - inter)


# A 100 x 100 box (+1 convention: x2 = 99), a half of it inside (IoU 0.5, intersection over its own
# area 1.0), and a box shifted by 25 (IoU 75 / 125 = 0.6).
BIG, HALF, SHIFTED = [0, 0, 99, 99], [0, 0, 49, 99], [25, 0, 124, 99]


@pytest.mark.parametrize("threshold, kept", [(0.45, [0]), (0.55, [0, 1]), (0.65, [0, 1, 2]), (0.99, [0, 1, 2])])
def test_nms_suppresses_by_iou_not_by_intersection_over_area(threshold, kept):
    boxes = np.array([BIG, HALF, SHIFTED], np.float32)
    assert iou_plus_one(BIG, HALF) == pytest.approx(0.5) and iou_plus_one(BIG, SHIFTED) == pytest.approx(0.6)
    assert iou_plus_one(HALF, SHIFTED) == pytest.approx(2500 / 12500)
    assert sorted(nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), threshold).tolist()) == kept


def test_nms_at_the_threshold_keeps_the_box_and_orders_by_score():
    boxes = np.array([BIG, HALF, [300, 300, 310, 310]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.5).tolist() == [1, 2, 0]    # IoU 0.5 is not > 0.5
    assert nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.499).tolist() == [1, 2]
    shifted = np.array([BIG, SHIFTED], np.float32)
    assert nms(shifted, np.array([0.9, 0.8], np.float32), 0.6).tolist() == [0, 1]          # IoU 0.6 exactly
    assert nms(shifted, np.array([0.9, 0.8], np.float32), 0.599).tolist() == [0]
    touching = np.array([BIG, [100, 0, 199, 99], [0, 100, 99, 199]], np.float32)          # side by side, no overlap
    assert nms(touching, np.array([0.9, 0.8, 0.7], np.float32), 0.0).tolist() == [0, 1, 2]
    empty = nms(boxes[:0], np.zeros(0, np.float32), 0.5)
    assert empty.tolist() == [] and empty.dtype == np.int64                               # usable as an index


box = st.tuples(st.integers(0, 200), st.integers(0, 200), st.integers(1, 120), st.integers(1, 120)).map(
    lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]])


@settings(max_examples=200, deadline=None)
@given(st.lists(box, min_size=1, max_size=12), st.floats(0.05, 0.95), st.randoms())
def test_nms_keeps_no_two_overlapping_boxes_and_suppresses_only_under_a_better_one(boxes, threshold, rng):
    scores = np.array(rng.sample(range(1000), len(boxes)), np.float32) / 1000     # distinct scores
    kept = nms(np.array(boxes, np.float32), scores, threshold).tolist()
    assert [scores[i] for i in kept] == sorted(scores[kept], reverse=True)
    for i, j in itertools.combinations(kept, 2):
        assert iou_plus_one(boxes[i], boxes[j]) <= threshold + 1e-6
    for dropped in set(range(len(boxes))) - set(kept):
        assert any(scores[k] > scores[dropped] and iou_plus_one(boxes[k], boxes[dropped]) > threshold - 1e-6 for k in kept)


def test_the_detector_applies_its_own_iou_threshold(coco_dir):
    """On a busy street: a lower ``iou_threshold`` keeps fewer boxes, and no two kept boxes of one
    class overlap above it (unclipped boxes inside the image: the +1 convention on both)."""
    path = coco_dir / "images" / "000000125870.jpg"
    found = {t: VehicleDetector(score_threshold=0.05, iou_threshold=t).detect(path) for t in (0.1, 0.45, 0.9)}
    assert len(found[0.1]) < len(found[0.45]) < len(found[0.9])
    for threshold, detections in found.items():
        for a, b in itertools.combinations(detections, 2):
            if a.label == b.label:
                assert iou_plus_one(a.bbox, b.bbox) <= threshold + 0.02, (threshold, a, b)


def test_decode_by_hand():
    grid, strides = grid_and_strides((64, 32))                       # H 64, W 32
    assert len(grid) == 8 * 4 + 4 * 2 + 2 * 1
    assert grid[:5].tolist() == [[0, 0], [1, 0], [2, 0], [3, 0], [0, 1]] and strides[:1].tolist() == [[8]]
    assert grid[32].tolist() == [0, 0] and strides[32].tolist() == [16] and grid[-1].tolist() == [0, 1]
    assert len(grid_and_strides((100, 72))[0]) == 12 * 9 + 6 * 4 + 3 * 2             # whole cells only
    raw = np.zeros((len(grid), 85), np.float32)
    raw[5] = [0.5, -0.25, np.log(2), np.log(4), 0.5] + [0.0] * 80
    raw[5, 5 + 2] = 0.8
    boxes, scores = decode(raw, grid, strides)
    # anchor 5: cell (1, 1) at stride 8 -> centre ((1 + .5) x 8, (1 - .25) x 8) = (12, 6), size (16, 32)
    np.testing.assert_allclose(boxes[5], [4, -10, 20, 22])
    assert scores[5, 2] == pytest.approx(0.4) and scores[5].sum() == pytest.approx(0.4)


def test_letterbox_keeps_the_aspect_ratio_and_pads_right_and_bottom():
    tall = np.zeros((200, 50, 3), np.uint8)
    tall[:, :, 0], tall[:, :, 2] = 10, 200                            # B 10, R 200
    tensor, ratio = letterbox(tall, (100, 100))
    assert ratio == 0.5 and tensor.shape == (3, 100, 100)
    assert (tensor[0, :, :25] == 10).all() and (tensor[2, :, :25] == 200).all()   # BGR order kept
    assert (tensor[:, :, 25:] == 114).all()
    wide, ratio = letterbox(np.full((10, 40, 3), 7, np.uint8), (20, 20))
    assert ratio == 0.5 and (wide[:, :5] == 7).all() and (wide[:, 5:] == 114).all()
    oblong, ratio = letterbox(np.full((10, 10, 3), 7, np.uint8), (30, 20))              # H 30, W 20
    assert ratio == 2 and oblong.shape == (3, 30, 20)
    assert (oblong[:, :20, :] == 7).all() and (oblong[:, 20:, :] == 114).all()
    flat, ratio = letterbox(np.full((10, 10, 3), 7, np.uint8), (20, 40))              # H 20, W 40
    assert ratio == 2 and (flat[:, :, :20] == 7).all() and (flat[:, :, 20:] == 114).all()


def test_letterbox_keeps_at_least_one_pixel_of_a_thin_image():
    line = np.full((1000, 1, 3), 7, np.uint8)                                        # 1 px wide: 0.4 px scaled
    tensor, _ = letterbox(line, (416, 416))
    assert (tensor[:, :, 0] == 7).all() and (tensor[:, :, 1:] == 114).all()
    tensor, _ = letterbox(line.transpose(1, 0, 2), (416, 416))
    assert (tensor[:, 0, :] == 7).all() and (tensor[:, 1:, :] == 114).all()


def constant_detector(tmp_path: Path, raw: np.ndarray, **thresholds: float) -> VehicleDetector:
    """A detector whose ONNX (64 x 64 input) always outputs ``raw`` [1, A, 85]: the SDK's own
    pre- and post-processing around predictions chosen here."""
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["output"], value=numpy_helper.from_array(raw.astype(np.float32)))],
        "constant_yolox", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(raw.shape))])
    path = tmp_path / "constant.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return VehicleDetector(model_path=path, **thresholds)


def prediction(raw: np.ndarray, cell: tuple[int, int], xy: tuple[float, float], size: float, coco_index: int,
               objectness: float, class_score: float) -> None:
    """Write one stride-8 prediction: centre (cell + xy) x 8, width = height = ``size`` input pixels."""
    row = raw[0, cell[1] * 8 + cell[0]]
    row[:5] = [xy[0], xy[1], np.log(size / 8), np.log(size / 8), objectness]
    row[5 + coco_index] = class_score


def test_detections_are_scaled_clipped_filtered_and_sorted(tmp_path: Path):
    raw = np.zeros((1, 84, 85), np.float32)                              # 8x8 + 4x4 + 2x2 anchors
    prediction(raw, (1, 1), (0.5, 0.5), 16, 2, 1.0, 0.9)                 # car: input box (4, 4, 20, 20)
    prediction(raw, (0, 4), (-0.5, 0.5), 16, 5, 1.0, 0.8)               # bus across the left edge: x from -12
    prediction(raw, (7, 7), (3.0, 0.5), 8, 7, 1.0, 0.7)                 # truck right of the image: nothing left
    prediction(raw, (4, 1), (0.5, 0.5), 16, 3, 0.5, 0.6)                # motorcycle scoring exactly 0.3: not above
    prediction(raw, (1, 7), (0.5, 3.0), 8, 1, 1.0, 0.6)                 # bicycle below the image: nothing left
    found = constant_detector(tmp_path, raw).detect(np.zeros((128, 128, 3), np.uint8))   # ratio 0.5: boxes x 2
    assert [(d.label, d.bbox) for d in found] == [("car", (8.0, 8.0, 40.0, 40.0)), ("bus", (0.0, 56.0, 8.0, 88.0))]
    assert [d.score for d in found] == pytest.approx([0.9, 0.8])
    low = constant_detector(tmp_path, raw, score_threshold=0.29).detect(np.zeros((128, 128, 3), np.uint8))
    assert [(d.label, d.bbox) for d in low][2:] == [("motorcycle", (56.0, 8.0, 88.0, 40.0))]


def test_a_model_with_other_outputs_is_refused_saying_what_it_needs(tmp_path: Path):
    detector = constant_detector(tmp_path, np.zeros((1, 80, 85), np.float32))
    with pytest.raises(VehiclekitError) as error:
        detector.detect(np.zeros((64, 64, 3), np.uint8))
    assert str(error.value) == ("detector output has shape (1, 80, 85), expected [1, 84, 85]: the raw grid predictions "
                                "of a YOLOX COCO model (exported with decode_in_inference=False)")
