"""Where the vehicles are in a frame: boxes ``[N, 4]`` (x1, y1, x2, y2 pixels) and scores ``[N]``.

- :class:`MotionProposals` — for a fixed camera: background subtraction (Zivkovic's adaptive
  Gaussian mixture, OpenCV's MOG2: Zivkovic, "Improved adaptive Gaussian mixture model for
  background subtraction", ICPR 2004) on a grey frame normalised to a constant median brightness
  (cameras re-expose when a bright car fills the view), shadows dropped (MOG2's shadow label), small
  specks opened away, the vehicle's parts closed together, and blobs smaller than ``min_area`` of
  the frame ignored. It needs ~a second of frames to learn the empty scene, and finds anything that
  moves (people and bicycles too: the classifier types each track, and ``--zone`` limits where).
- :class:`DetectorProposals` — the YOLOX-Nano COCO detector of the SDK (locally or on a Triton
  server with ``url``), at a low score, its car/truck/bus boxes of one vehicle merged (class-agnostic
  NMS): it knows what a vehicle is and works from a moving camera, but cars seen from straight
  above are unlike COCO's photos and it misses most of them (docs/results.md §15).
- :class:`AutoProposals` — the detector for a clip too short to learn a background from
  (``MIN_MOTION_SECONDS``); otherwise it measures over the first frames whether the camera moves
  (phase correlation of consecutive frames) and then uses motion for a fixed camera, the detector
  for a moving one. (On the two shared videos this picks the one that counts right; a rule from two
  videos, not a law: pass ``--detector`` to choose.)
"""

from __future__ import annotations

import cv2
import numpy as np

from vehiclekit.models import zoo
from vehiclekit.sdk.detector import iou_matrix

MEDIAN_GREY = 110.0
#: Shorter sources than this go to the detector: background subtraction needs time to learn the scene.
MIN_MOTION_SECONDS = 10.0


class MotionProposals:
    def __init__(self, min_area: float = 0.01, history: int = 200, var_threshold: float = 25.0):
        self.min_area = min_area
        self.subtractor = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold,
                                                             detectShadows=True)
        self.open_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.close_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
        grey = np.clip(grey * (MEDIAN_GREY / max(float(np.median(grey)), 1.0)), 0, 255).astype(np.uint8)
        mask = self.subtractor.apply(cv2.GaussianBlur(grey, (5, 5), 0))
        mask = np.where(mask == 255, 255, 0).astype(np.uint8)                 # 127 = shadow
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.open_kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.close_kernel)
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        smallest = self.min_area * frame.shape[0] * frame.shape[1]
        boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:] if area >= smallest]
        return np.array(boxes, np.float32).reshape(-1, 4), np.ones(len(boxes), np.float32)


class DetectorProposals:
    def __init__(self, score_threshold: float = 0.1, url: str | None = None, threads: int | None = None,
                 model: str = zoo.DEFAULT_DETECTOR):
        from vehiclekit.sdk.detector import VehicleDetector

        self.detector = VehicleDetector(score_threshold=score_threshold, url=url, threads=threads, model=model)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = self.detector.detect(frame)
        boxes = np.array([d.bbox for d in found], np.float32).reshape(-1, 4)
        scores = np.array([d.score for d in found], np.float32)
        keep = merge_overlapping(boxes, scores)
        return boxes[keep], scores[keep]


def merge_overlapping(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.6) -> list[int]:
    """Greedy class-agnostic NMS: indices of the boxes kept, best score first (COCO's car, truck and
    bus boxes of one vehicle become one)."""
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if not keep or iou_matrix(boxes[i:i + 1], boxes[keep]).max() < iou:
            keep.append(int(i))
    return keep


class AutoProposals:
    """Motion for a fixed camera, the detector for a moving one or a short clip; the camera is judged
    on the first ``warmup`` frames (during which the detector answers and the background model learns)."""

    def __init__(self, detector: DetectorProposals, motion: MotionProposals, seconds: float | None,
                 warmup: int = 12, max_shift: float = 0.5):
        """``seconds``: the source's length (None for a stream)."""
        self.detector, self.motion, self.warmup, self.max_shift = detector, motion, warmup, max_shift
        self.previous: np.ndarray | None = None
        self.shifts: list[float] = []
        self.choice: str | None = "detector" if seconds is not None and seconds < MIN_MOTION_SECONDS else None

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.choice == "motion":
            return self.motion(frame)
        if self.choice == "detector":
            return self.detector(frame)
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (320, 180)).astype(np.float32)
        if self.previous is not None:
            (dx, dy), _ = cv2.phaseCorrelate(self.previous, grey)
            self.shifts.append(float(np.hypot(dx, dy)) * frame.shape[1] / 320)
        self.previous = grey
        self.motion(frame)
        if len(self.shifts) >= self.warmup:
            self.choice = "motion" if np.median(self.shifts) < self.max_shift else "detector"
        return self.detector(frame)
