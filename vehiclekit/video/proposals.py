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
- :class:`AutoProposals` (the default) — the detector, unless the first thing seen moving across
  the view (a blob that travels, not leaves shaking in place) is one the detector does not see (cars
  from straight above): then motion. A clip too short to learn a background from
  (``MIN_MOTION_SECONDS``) or a moving camera keeps the detector. Checked on the two shared videos
  (motion for the top-down one, the detector for the GIF); pass ``--detector`` to choose.
"""

from __future__ import annotations

import cv2
import numpy as np

from vehiclekit.models import zoo
from vehiclekit.sdk.detector import iou_matrix
from vehiclekit.video.camera_motion import CameraMotion
from vehiclekit.video.tracking import IouTracker

MEDIAN_GREY = 110.0
#: Shorter sources than this go to the detector: background subtraction needs time to learn the scene.
MIN_MOTION_SECONDS = 10.0
#: A motion blob track is a mover once seen in this many frames, its centre having travelled at least
#: this many times its first box's diagonal (:class:`AutoProposals`).
MOVER_FRAMES = 5
MOVER_TRAVEL = 0.5


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
        self.labels: list[str] = []          # the detector's class of each box of the last call

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = self.detector.detect(frame)
        boxes = np.array([d.bbox for d in found], np.float32).reshape(-1, 4)
        scores = np.array([d.score for d in found], np.float32)
        keep = merge_overlapping(boxes, scores)
        self.labels = [found[i].label for i in keep]
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
    """The detector, unless it does not see the vehicles that move; then motion.

    Until it decides, the detector's boxes are the proposals, the background model learns, and the
    motion blobs are tracked on their own. A blob track that has travelled at least
    ``MOVER_TRAVEL`` times its first box's diagonal over at least ``MOVER_FRAMES`` frames is a
    *mover*: a vehicle (or a cyclist, a person); leaves and shadows shaking in place never travel. The
    first mover decides: when detector boxes cover it (half of the smaller box inside the other) in
    at least half of its frames, the detector stays for good; otherwise (a camera looking straight
    down on cars, which COCO's detector misses) motion takes over. A clip shorter than
    ``MIN_MOTION_SECONDS``, or a camera found moving (:mod:`.camera_motion`, the median shift of
    ``warmup`` consecutive frames) before a mover decides, keeps the detector: no background can be
    learnt. ``choice`` is None until decided, then "detector" or "motion".
    """

    def __init__(self, detector: DetectorProposals, motion: MotionProposals, seconds: float | None, warmup: int = 12):
        """``seconds``: the source's length (None for a stream)."""
        self.detector, self.motion, self.warmup = detector, motion, warmup
        self.camera = CameraMotion(window=warmup)
        self.blobs = IouTracker(max_misses=2)
        self.covered: dict[int, list[bool]] = {}
        self.first_box: dict[int, np.ndarray] = {}
        self.frames = 0
        self.choice: str | None = "detector" if seconds is not None and seconds < MIN_MOTION_SECONDS else None

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.choice == "motion":
            return self.motion(frame)
        if self.choice == "detector":
            return self.detector(frame)
        self.frames += 1
        self.camera.update(frame)
        if self.camera.moving:
            self.choice = "detector"
        boxes, scores = self.detector(frame)
        blobs, blob_scores = self.motion(frame)
        self._watch_movers(blobs, boxes)
        return (blobs, blob_scores) if self.choice == "motion" else (boxes, scores)

    def _watch_movers(self, blobs: np.ndarray, detections: np.ndarray) -> None:
        for track, box in self.blobs.update(blobs, self.frames):
            self.first_box.setdefault(track.id, box.copy())
            self.covered.setdefault(track.id, []).append(bool(len(detections)) and covers(detections, box))
            first = self.first_box[track.id]
            travel = float(np.hypot(*((box[:2] + box[2:]) / 2 - (first[:2] + first[2:]) / 2)))
            if len(self.covered[track.id]) >= MOVER_FRAMES and travel >= MOVER_TRAVEL * float(np.hypot(*(first[2:] - first[:2]))):
                seen = self.covered[track.id]
                self.choice = "detector" if sum(seen) >= len(seen) / 2 else "motion"
                return


def covers(boxes: np.ndarray, box: np.ndarray, share: float = 0.5) -> bool:
    """Whether any of ``boxes`` and ``box`` overlap by at least ``share`` of the smaller one's area."""
    x1, y1 = np.maximum(boxes[:, 0], box[0]), np.maximum(boxes[:, 1], box[1])
    x2, y2 = np.minimum(boxes[:, 2], box[2]), np.minimum(boxes[:, 3], box[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    smaller = np.minimum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), (box[2] - box[0]) * (box[3] - box[1]))
    return bool((inter >= share * np.maximum(smaller, 1e-9)).any())
