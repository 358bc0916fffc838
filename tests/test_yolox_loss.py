"""YOLOX's loss and SimOTA assignment: which anchors learn each box, and a real frame's loss going down."""

from __future__ import annotations

import random

import numpy as np
import torch

from vehiclekit.models.yolox import YOLOXNano, calibrate_batchnorm, load_onnx_weights
from vehiclekit.paths import models_dir
from vehiclekit.training.detection.data import augment, batches
from vehiclekit.training.detection.frames import cctv_split, read_yolo_folder
from vehiclekit.training.detection.yolox_loss import anchor_points, simota_assign, yolox_loss

SIZE = (64, 64)  # 8x8 + 4x4 + 2x2 = 84 anchor points


def _raw_for(boxes_cxcywh: dict[int, list[float]], num_classes: int = 3) -> torch.Tensor:
    """Raw predictions ``[A, 5 + C]`` that put exactly ``box`` at anchor ``a`` (others predict tiny boxes)."""
    grid, strides = anchor_points(SIZE)
    raw = torch.full((len(grid), 5 + num_classes), -6.0)
    raw[:, 2:4] = np.log(0.1)
    for a, (cx, cy, w, h) in boxes_cxcywh.items():
        raw[a, 0], raw[a, 1] = cx / strides[a] - grid[a, 0], cy / strides[a] - grid[a, 1]
        raw[a, 2], raw[a, 3] = np.log(w / strides[a]), np.log(h / strides[a])
        raw[a, 4] = raw[a, 5 + 1] = 6.0
    return raw


def test_simota_gives_each_box_the_anchor_that_predicts_it_and_never_shares_one():
    grid, strides = anchor_points(SIZE)
    gt = torch.tensor([[20.0, 20.0, 16.0, 16.0], [44.0, 44.0, 16.0, 16.0]])
    # anchor 18 (stride 8, cell (2, 2), centre 20, 20) and anchor 45 (cell (5, 5), centre 44, 44) predict the boxes
    raw = _raw_for({18: gt[0].tolist(), 45: gt[1].tolist()})
    from vehiclekit.training.detection.yolox_loss import decode_boxes

    boxes = decode_boxes(raw[:, :4], grid, strides)
    fg, matched, ious = simota_assign(boxes, raw[:, 5:], raw[:, 4], gt, torch.tensor([1, 1]), grid, strides)
    chosen = fg.nonzero().squeeze(1).tolist()
    assert 18 in chosen and 45 in chosen
    assert matched[chosen.index(18)] == 0 and matched[chosen.index(45)] == 1
    assert ious[chosen.index(18)] > 0.99
    # every foreground anchor lies within 1.5 strides of its box's centre
    centres = (grid[fg] + 0.5) * strides[fg, None]
    assert ((centres - gt[matched, :2]).abs() < 1.5 * strides[fg, None]).all()


def test_the_loss_is_lower_for_the_right_prediction_than_for_a_shifted_one():
    gt = torch.tensor([[1.0, 20.0, 20.0, 16.0, 16.0]])
    right = _raw_for({18: [20.0, 20.0, 16.0, 16.0]})
    shifted = _raw_for({18: [26.0, 20.0, 16.0, 16.0]})
    wrong_class = right.clone()
    wrong_class[18, 5 + 1], wrong_class[18, 5 + 2] = -6.0, 6.0
    losses = [yolox_loss(r[None], [gt], SIZE)["total"].item() for r in (right, shifted, wrong_class)]
    assert losses[0] < losses[1] and losses[0] < losses[2]
    empty = yolox_loss(right[None], [torch.zeros(0, 5)], SIZE)
    assert empty["iou"].item() == 0 and empty["obj"].item() > 0  # an image without vehicles still trains objectness


def test_a_partial_label_leaves_its_open_class_untrained():
    gt = torch.tensor([[1.0, 20.0, 20.0, 16.0, 16.0]])  # class 1 ("car"), which may also be class 2 ("truck")
    both = _raw_for({18: [20.0, 20.0, 16.0, 16.0]})
    both[18, 5 + 2] = 6.0  # the network also says class 2
    both.requires_grad_(True)
    strict = yolox_loss(both[None], [gt], SIZE)["cls"]
    partial = yolox_loss(both[None], [gt], SIZE, open_classes={1: (2,)})["cls"]
    assert partial.item() < strict.item()
    (gradient,) = torch.autograd.grad(partial, both)
    assert gradient[18, 5 + 2] == 0 and gradient[18, 5 + 0] != 0  # class 2 is left open, class 0 still trained down
    other = torch.tensor([[0.0, 20.0, 20.0, 16.0, 16.0]])  # a box of another class keeps every class trained
    assert yolox_loss(both[None], [other], SIZE, open_classes={1: (2,)})["cls"].item() == \
        yolox_loss(both[None], [other], SIZE)["cls"].item()


def test_augmented_boxes_stay_on_their_vehicles(data_dir):
    frame = read_yolo_folder(data_dir / "traffic-cctv", size=(640, 640))[0]
    image = np.zeros((640, 640, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in frame.boxes.astype(int):
        image[y1:y2, x1:x2] = 255
    for seed in range(5):
        view, boxes, keep = augment(image, frame.boxes, 256, 640, random.Random(seed), jitter=(0.8, 1.2))
        assert view.shape == (256, 256, 3) and len(boxes) == len(keep)
        for x1, y1, x2, y2 in boxes:
            inner = view[int(y1) + 2:int(y2) - 1, int(x1) + 2:int(x2) - 1]
            assert inner.size == 0 or inner.mean() > 100  # brightness changes but the box is on white


def test_fine_tuning_steps_lower_the_loss_of_real_frames(data_dir):
    torch.manual_seed(0)
    frames = cctv_split(read_yolo_folder(data_dir / "traffic-cctv", size=(640, 640)), "train")[::50][:4]
    model = load_onnx_weights(YOLOXNano(), models_dir() / "yolox_nano.onnx")
    images, targets, _ = next(batches(frames, 4, 256, 640, random.Random(0)))
    calibrate_batchnorm(model, images)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
    model.train()
    losses = []
    for _ in range(6):
        loss = yolox_loss(model(images), targets, (256, 256))["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses

