"""Whether the camera itself moves: the global shift between consecutive frames.

The shift is found by phase correlation (Kuglin & Hines, "The phase correlation image alignment
method", 1975; OpenCV's ``phaseCorrelate``) on a grey copy 320 px wide, and scaled back to the
frame's pixels. A vehicle crossing a fixed camera's view moves part of the picture, not all of it,
and gives an isolated spike at most (on the shared top-down video: one frame at 12 px, the median
of 5 consecutive shifts never above 1.3 px); a pan, a tilt or a camera on a moving vehicle shifts
every frame. So the camera counts as moving while the median of the last ``window`` shifts exceeds
``max_shift`` pixels.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

WIDTH = 320
#: Median shift per frame, in pixels, above which the camera moves.
MAX_SHIFT = 2.0
#: Phase-correlation peak below which no shift is found (a blank frame gives 0).
MIN_RESPONSE = 0.05


class CameraMotion:
    """Feed every frame to :meth:`update`; :attr:`moving` then says whether the camera moves."""

    def __init__(self, max_shift: float = MAX_SHIFT, window: int = 5):
        self.max_shift = max_shift
        self.previous: np.ndarray | None = None
        self.shifts: deque[float] = deque(maxlen=window)

    def update(self, frame: np.ndarray) -> float:
        """The shift of ``frame`` against the previous one, in pixels (0 for the first frame)."""
        height = max(1, round(frame.shape[0] * WIDTH / frame.shape[1]))
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (WIDTH, height)).astype(np.float32)
        shift = 0.0
        if self.previous is not None and self.previous.shape == grey.shape:
            (dx, dy), response = cv2.phaseCorrelate(self.previous, grey)
            if response >= MIN_RESPONSE:      # else no peak: a blank or featureless picture
                shift = float(np.hypot(dx, dy)) * frame.shape[1] / WIDTH
            self.shifts.append(shift)
        self.previous = grey
        return shift

    @property
    def moving(self) -> bool:
        return len(self.shifts) == self.shifts.maxlen and float(np.median(self.shifts)) > self.max_shift
