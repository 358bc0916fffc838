"""A few crops per track, spread over its life, the best of each stretch: never every frame.

Consecutive frames of one vehicle are near-duplicates, so a track gives at most ``per_track`` crops.
Its life (first to last frame) is cut into ``per_track`` equal stretches and each stretch gives its
best crop: different poses and positions, not the same one three times. A crop's quality is its area
times its sharpness, the variance of its Laplacian (Pech-Pacheco et al., "Diatom autofocusing in
brightfield microscopy: a comparative study", ICPR 2000), capped at :data:`SHARP`, so among sharp
crops the largest wins and a motion-blurred one loses; a box cut by the frame edge counts half.

A track's life is unknown until it ends (a car may park in view for hours), so memory is bounded
online: candidates sit in time bins of ``width`` frames, one (the best) per bin; when there are more
than ``per_track * BINS_PER_CROP`` bins, the width doubles and neighbouring bins merge (the better
candidate stays). At most that many crops are held per live track, whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

#: Laplacian variance above which a crop counts as fully sharp (a common blur threshold for 8-bit images).
SHARP = 100.0
#: Bins kept per crop wanted: the resolution of the spread.
BINS_PER_CROP = 4
#: Pixels: a box this close to the frame edge is cut by it.
EDGE_MARGIN = 2.0


@dataclass
class Candidate:
    frame: int
    seconds: float
    box: tuple[int, int, int, int]
    score: float
    label: str
    quality: float
    sharpness: float
    crop: np.ndarray = field(repr=False)


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop."""
    return float(cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def candidate(image: np.ndarray, box: np.ndarray, frame: int, seconds: float, score: float, label: str,
              min_side: int) -> Candidate | None:
    """The crop of ``box`` (xyxy, clipped to the image) with its quality; None when a side is under ``min_side``."""
    height, width = image.shape[:2]
    x1, y1 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x2, y2 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    if min(x2 - x1, y2 - y1) < min_side:
        return None
    crop = image[y1:y2, x1:x2].copy()
    sharp = sharpness(crop)
    whole = box[0] > EDGE_MARGIN and box[1] > EDGE_MARGIN and box[2] < width - EDGE_MARGIN and box[3] < height - EDGE_MARGIN
    quality = (x2 - x1) * (y2 - y1) * min(sharp / SHARP, 1.0) * (1.0 if whole else 0.5)
    return Candidate(frame, seconds, (x1, y1, x2, y2), float(score), label, float(quality), sharp, crop)


class TrackCrops:
    """The candidates of one track: :meth:`offer` each frame's crop, :meth:`choose` at the track's end."""

    def __init__(self, first_frame: int, per_track: int):
        self.first, self.per_track, self.width = first_frame, per_track, 1
        self.bins: dict[int, Candidate] = {}

    def offer(self, c: Candidate) -> None:
        key = (c.frame - self.first) // self.width
        if key not in self.bins or c.quality > self.bins[key].quality:
            self.bins[key] = c
        while len(self.bins) > self.per_track * BINS_PER_CROP:
            self.width *= 2
            merged: dict[int, Candidate] = {}
            for old in self.bins.values():
                k = (old.frame - self.first) // self.width
                if k not in merged or old.quality > merged[k].quality:
                    merged[k] = old
            self.bins = merged

    def choose(self, last_frame: int) -> list[Candidate]:
        """Up to ``per_track`` crops: the best of each of ``per_track`` equal stretches of the track's
        life that holds a candidate, in frame order."""
        span = max(last_frame - self.first + 1, 1)
        best: dict[int, Candidate] = {}
        for c in self.bins.values():
            stretch = min((c.frame - self.first) * self.per_track // span, self.per_track - 1)
            if stretch not in best or c.quality > best[stretch].quality:
                best[stretch] = c
        return sorted(best.values(), key=lambda c: c.frame)
