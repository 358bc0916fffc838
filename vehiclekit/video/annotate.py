"""The annotated output video: counting lines, each track's box and id, running counts per line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from vehiclekit.video.lines import CountingLine
from vehiclekit.video.source import Frame
from vehiclekit.video.tracking import Track

LINE_COLOUR, BOX_COLOUR = (0, 200, 255), (60, 220, 60)


class VideoAnnotator:
    """Call with each frame (``VideoCounter(draw=...)``); writes ``path`` (MP4, the source's fps) with
    the running count of crossings per line and direction (a crossing's type is voted only when its
    track ends, so the frame shows counts, the summary shows types)."""

    def __init__(self, path: Path, fps: float, lines: list[CountingLine]):
        self.path, self.fps, self.lines = Path(path), fps, lines
        self.writer: cv2.VideoWriter | None = None
        self.counts: Counter = Counter()

    def __call__(self, frame: Frame, tracks: list[tuple[Track, np.ndarray]], crossed: list[tuple[str, str]]) -> None:
        image = frame.image.copy()
        self.counts.update(crossed)
        for line in self.lines:
            start, end = tuple(int(v) for v in line.start), tuple(int(v) for v in line.end)
            cv2.line(image, start, end, LINE_COLOUR, 2)
            text = f"{line.name}: in {self.counts[(line.name, 'in')]}  out {self.counts[(line.name, 'out')]}"
            _label(image, text, (min(start[0], end[0]) + 4, max(min(start[1], end[1]) - 8, 16)), LINE_COLOUR)
        for track, box in tracks:
            x1, y1, x2, y2 = (int(v) for v in box)
            cv2.rectangle(image, (x1, y1), (x2, y2), BOX_COLOUR, 2)
            _label(image, f"#{track.id}", (x1 + 2, max(y1 - 4, 14)), BOX_COLOUR)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = image.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
        self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def _label(image: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int]) -> None:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    x, y = origin
    cv2.rectangle(image, (x - 2, y - h - 4), (x + w + 2, y + 3), colour, -1)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
