"""Training batches for the detector: labelled frames, scale-jittered, flipped and re-lit.

A fixed camera sees the same road at the same scale all day; the jitter (0.5-1.5x of the scale the
detector runs at, then a random square window, smaller than the frame to save compute) shows the
network its distant vehicles larger and its near ones smaller, the flip and the brightness/contrast
change stand in for the other carriageway and for dusk. Targets are rows
``(COCO class index, cx, cy, w, h)`` in input pixels, as :func:`~.yolox_loss.yolox_loss` wants.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import torch

from vehiclekit.models.zoo import YOLOX_VEHICLE_INDICES
from vehiclekit.sdk.detector import PAD_VALUE
from vehiclekit.training.detection.frames import Frame

#: The detector's output index (YOLOX's contiguous COCO numbering) of each coarse class.
CLASS_INDEX = {name: index for index, name in YOLOX_VEHICLE_INDICES.items()}
#: Boxes cut by the window keep their label only when at least this share of them is still inside.
MIN_VISIBLE = 0.4


def augment(image: np.ndarray, boxes: np.ndarray, size: int, base: int, rng: random.Random,
            jitter: tuple[float, float] = (0.5, 1.5)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training view of ``image`` (BGR) with xyxy ``boxes``: the image scaled so its longer side is
    ``base`` (the detector's input size) x a random factor, a random ``size`` x ``size`` window of it
    (padded with YOLOX's grey), a coin-flip mirror and a brightness/contrast change. Returns the view,
    the boxes inside it and the indices of the boxes kept."""
    scale = base / max(image.shape[:2]) * rng.uniform(*jitter)
    h, w = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    x0, y0 = rng.randint(min(0, w - size), max(0, w - size)), rng.randint(min(0, h - size), max(0, h - size))
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    sx, sy = max(0, x0), max(0, y0)  # source window
    dx, dy = max(0, -x0), max(0, -y0)  # where it lands
    cw, ch = min(w - sx, size - dx), min(h - sy, size - dy)
    canvas[dy:dy + ch, dx:dx + cw] = resized[sy:sy + ch, sx:sx + cw]
    moved = boxes * scale - np.array([x0, y0, x0, y0], dtype=np.float32)
    clipped = moved.clip(0, size)
    area = lambda b: (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)  # noqa: E731
    keep = np.flatnonzero((area(clipped) >= MIN_VISIBLE * area(moved)) & (clipped[:, 2] - clipped[:, 0] >= 2) & (clipped[:, 3] - clipped[:, 1] >= 2))
    clipped = clipped[keep]
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1]
        clipped = np.stack([size - clipped[:, 2], clipped[:, 1], size - clipped[:, 0], clipped[:, 3]], axis=1)
    if rng.random() < 0.5:
        canvas = cv2.convertScaleAbs(canvas, alpha=rng.uniform(0.6, 1.4), beta=rng.uniform(-30, 30))
    return np.ascontiguousarray(canvas), clipped.reshape(-1, 4), keep


def to_target(boxes: np.ndarray, classes: Sequence[int]) -> torch.Tensor:
    """xyxy boxes and class indices as loss targets ``[N, 5]``: (class, cx, cy, w, h)."""
    b = torch.from_numpy(boxes.astype(np.float32)).reshape(-1, 4)
    return torch.cat([torch.tensor(list(classes), dtype=torch.float32)[:, None], (b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], dim=1)


def batches(frames: Sequence[Frame], batch_size: int, size: int, base: int,
            rng: random.Random) -> Iterator[tuple[torch.Tensor, list[torch.Tensor], list[Frame]]]:
    """One epoch of augmented ``size`` x ``size`` batches (:func:`augment`) in a random order (the last,
    partial batch dropped): images, targets and the frames they were cut from."""
    order = list(range(len(frames)))
    rng.shuffle(order)
    for start in range(0, len(order) - batch_size + 1, batch_size):
        images, targets, chosen = [], [], [frames[i] for i in order[start:start + batch_size]]
        for frame in chosen:
            view, boxes, keep = augment(cv2.imread(str(frame.path)), frame.boxes, size, base, rng)
            images.append(view.transpose(2, 0, 1))
            targets.append(to_target(boxes, [CLASS_INDEX[frame.coarse[k]] for k in keep]))
        yield torch.from_numpy(np.stack(images).astype(np.float32)), targets, chosen
