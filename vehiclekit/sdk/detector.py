"""Vehicle detection with YOLOX-Nano (COCO) in ONNX Runtime; pre/post-processing in numpy.

Pre- and post-processing follow YOLOX's own ONNX Runtime demo (``yolox.data.data_augment.preproc``,
``yolox.utils.demo_utils.demo_postprocess`` and ``multiclass_nms_class_aware``), restricted to the
COCO vehicle classes, so results match the reference implementation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from vehiclekit.errors import VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.sdk.image import ImageInput, load_image, load_images
from vehiclekit.sdk.session import check_precision, create_session, zoo_file
from vehiclekit.sdk.types import Detection

if TYPE_CHECKING:
    from vehiclekit.sdk.remote import TritonClient

#: YOLOX letterbox padding value.
PAD_VALUE = 114
#: YOLOX output strides (P3-P5).
STRIDES = (8, 16, 32)
#: COCO-80 class count of the YOLOX head; an output row is 4 box + 1 objectness + 80 class scores.
NUM_COCO_CLASSES = 80


def letterbox(image_bgr: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """YOLOX ``preproc``: scale to fit ``size`` = (H, W) keeping the aspect ratio, paste top-left on
    a canvas of :data:`PAD_VALUE`. Returns the ``[3, H, W]`` float32 BGR 0-255 tensor and the scale."""
    h, w = image_bgr.shape[:2]
    ratio = min(size[0] / h, size[1] / w)
    new_w, new_h = max(1, int(w * ratio)), max(1, int(h * ratio))
    canvas = np.full((size[0], size[1], 3), PAD_VALUE, dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1), dtype=np.float32), ratio


def grid_and_strides(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets ``[A, 2]`` (x, y) and strides ``[A, 1]`` of every YOLOX anchor point, in output
    order, for an input of ``size`` = (H, W)."""
    grids, strides = [], []
    for stride in STRIDES:
        xv, yv = np.meshgrid(np.arange(size[1] // stride), np.arange(size[0] // stride))
        grid = np.stack((xv, yv), axis=2).reshape(-1, 2)
        grids.append(grid)
        strides.append(np.full((len(grid), 1), stride))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode(raw: np.ndarray, grid: np.ndarray, strides: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YOLOX ``demo_postprocess`` for one image: raw ``[A, 85]`` predictions to xyxy boxes ``[A, 4]``
    in input pixels and per-class scores ``[A, 80]`` (objectness x class probability)."""
    centers = (raw[:, :2] + grid) * strides
    sizes = np.exp(raw[:, 2:4]) * strides
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    return boxes, raw[:, 4:5] * raw[:, 5:]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy single-class NMS (YOLOX's numpy ``nms``, +1 pixel area convention included); returns
    the indices kept, best score first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i, rest = order[0], order[1:]
        keep.append(i)
        inter_w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        inter_h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = inter_w * inter_h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` [N, 4] with every box in ``b`` [M, 4] (xyxy)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def box_side(bbox) -> float:
    """The shorter side of an xyxy box, in pixels."""
    return min(bbox[2] - bbox[0], bbox[3] - bbox[1])


def merge_across_classes(detections: list[Detection], iou_threshold: float) -> list[Detection]:
    """One detection per vehicle: the detector's NMS is per class (as COCO evaluation wants), so a
    van can come back twice, once as ``car`` and once as ``truck``, with nearly the same box. Keep
    the best-scoring of any detections overlapping by more than ``iou_threshold``, whatever their
    class (class-agnostic NMS over the class-aware result); best score first."""
    if len(detections) < 2:
        return list(detections)
    boxes = np.array([d.bbox for d in detections], dtype=np.float64)
    scores = np.array([d.score for d in detections], dtype=np.float64)
    return [detections[i] for i in nms(boxes, scores, iou_threshold)]


class VehicleDetector:
    """Find cars, buses, trucks, motorcycles and bicycles with YOLOX-Nano (COCO classes).

    >>> det = VehicleDetector()
    >>> det.detect("street.jpg")               # doctest: +SKIP
    [Detection(bbox=(143.2, 141.9, 377.0, 276.8), label='bus', score=0.91), ...]

    The model comes from ``model_path``, else the zoo's detector ``model``: ``yolox-nano-traffic``
    (fine-tuned for traffic cameras, 640 px, shipped) or ``yolox-nano`` (COCO, 416 px:
    ``$VEHICLEKIT_DETECTOR``, else ``yolox_nano.onnx`` in ``$VEHICLEKIT_MODELS`` / ``../shared/models``);
    the default is :data:`~vehiclekit.models.zoo.DEFAULT_DETECTOR`. ``score_threshold`` keeps
    detections scoring above it (use 0.001 for COCO mAP evaluation); ``iou_threshold`` is the
    per-class NMS overlap limit. ``precision`` is there for symmetry with the other models: the detector
    has no INT8 variant (quantizing it cost 14-30 AP50 points), so ``"int8"`` raises saying so.

    ``url`` detects on a Triton server instead (``http://host:8000`` or ``grpc://host:8001``, or a
    :class:`~vehiclekit.sdk.remote.TritonClient`): its ``vehicle_detector`` model runs this same
    code there, with these thresholds, and the same methods return the same results. ``session`` is
    any object with ONNX Runtime's ``get_inputs`` and ``run`` (the Triton server runs this class so).
    """

    def __init__(
        self,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        model_path: str | os.PathLike | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        url: "str | TritonClient | None" = None,
        session: Any = None,
        precision: str = "fp32",
        model: str = zoo.DEFAULT_DETECTOR,
    ):
        check_precision(precision, url is not None or session is not None)
        if not (0.0 <= score_threshold <= 1.0 and 0.0 <= iou_threshold <= 1.0):
            raise ValueError(
                f"score_threshold and iou_threshold must be between 0 and 1, got {score_threshold} and {iou_threshold}"
            )
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.remote: TritonClient | None = None
        if url is not None:
            from vehiclekit.sdk.remote import remote_client

            self.remote = remote_client(url)
            return
        self.session = session or create_session(zoo_file(model, "detection", precision, model_path), providers, threads)
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        shape = model_input.shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
            raise VehiclekitError(f"detector input {self.input_name!r} has shape {shape}, expected [1, 3, H, W]")
        self.input_size: tuple[int, int] = (shape[2], shape[3])
        self._grid, self._strides = grid_and_strides(self.input_size)
        self._class_indices = np.array(sorted(zoo.YOLOX_VEHICLE_INDICES))
        self._class_labels = [zoo.YOLOX_VEHICLE_INDICES[i] for i in self._class_indices]

    def detect(self, image: ImageInput) -> list[Detection]:
        """Vehicles in one image (path, encoded bytes or BGR array, see :func:`load_image`), best
        score first; boxes are xyxy in the image's own pixels."""
        if self.remote is not None:
            return self.remote.detect(image, self.score_threshold, self.iou_threshold)
        image_bgr = load_image(image)
        tensor, ratio = letterbox(image_bgr, self.input_size)
        (raw,) = self.session.run(None, {self.input_name: tensor[None]})
        if raw.shape[1:] != (len(self._grid), 5 + NUM_COCO_CLASSES):
            raise VehiclekitError(
                f"detector output has shape {raw.shape}, expected [1, {len(self._grid)}, {5 + NUM_COCO_CLASSES}]: "
                "the raw grid predictions of a YOLOX COCO model (exported with decode_in_inference=False)"
            )
        boxes, scores = decode(raw[0], self._grid, self._strides)
        return self._vehicles(boxes / ratio, scores[:, self._class_indices], image_bgr.shape[:2])

    def detect_batch(self, images: Iterable[ImageInput]) -> list[list[Detection]]:
        """:meth:`detect` for each image, in order (the YOLOX-Nano ONNX has a fixed batch of 1). All
        images are loaded and validated first."""
        return [self.detect(image) for image in load_images(images)]

    def _vehicles(self, boxes: np.ndarray, scores: np.ndarray, image_hw: tuple[int, int]) -> list[Detection]:
        """Class-aware NMS over the vehicle classes, then clip to the image and drop empty boxes."""
        h, w = image_hw
        found: list[Detection] = []
        for column, label in enumerate(self._class_labels):
            candidates = np.flatnonzero(scores[:, column] > self.score_threshold)
            if candidates.size == 0:
                continue
            kept = candidates[nms(boxes[candidates], scores[candidates, column], self.iou_threshold)]
            clipped = np.clip(boxes[kept], 0, [w, h, w, h])
            for box, score in zip(clipped, scores[kept, column]):
                if box[2] > box[0] and box[3] > box[1]:
                    found.append(Detection(bbox=tuple(float(v) for v in box), label=label, score=float(score)))
        return sorted(found, key=lambda d: d.score, reverse=True)

    def __repr__(self) -> str:
        return f"VehicleDetector(score_threshold={self.score_threshold}, iou_threshold={self.iou_threshold})"
