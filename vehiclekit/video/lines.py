"""Counting lines: a vehicle crosses a line when its whole box moves from one side to the other.

A box straddling the line belongs to neither side, so a vehicle that touches the line and turns
back, or jitters on it, never counts (the rule of supervision's ``LineZone``: all four corners must
change side). Direction: ``in`` is crossing from the right-hand side of the line (as seen walking
from its first point to its second, in image coordinates, y down) to its left-hand side; ``out`` the
other way. For a line drawn left to right, ``in`` is upward on the screen. Each track counts at most
once per line and direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CountingLine:
    name: str
    start: tuple[float, float]
    end: tuple[float, float]

    @classmethod
    def parse(cls, text: str, default_name: str) -> CountingLine:
        """``X1,Y1,X2,Y2`` or ``NAME=X1,Y1,X2,Y2`` (pixels)."""
        name, _, coords = text.rpartition("=")
        try:
            x1, y1, x2, y2 = (float(v) for v in coords.split(","))
        except ValueError:
            raise ValueError(f"--line {text!r}: expected X1,Y1,X2,Y2 or NAME=X1,Y1,X2,Y2 in pixels") from None
        if (x1, y1) == (x2, y2):
            raise ValueError(f"--line {text!r}: the two points are the same")
        return cls(name or default_name, (x1, y1), (x2, y2))

    def side(self, box: np.ndarray) -> int:
        """+1 right-hand side, -1 left-hand side, 0 straddling (corners on both sides or on the line)."""
        (x1, y1), (x2, y2) = self.start, self.end
        corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]], np.float64)
        cross = (x2 - x1) * (corners[:, 1] - y1) - (y2 - y1) * (corners[:, 0] - x1)
        if (cross > 0).all():
            return 1
        if (cross < 0).all():
            return -1
        return 0


@dataclass
class LineCounter:
    """Crossings of one line by tracks: :meth:`update` returns ``"in"``, ``"out"`` or None."""

    line: CountingLine
    sides: dict[int, int] = field(default_factory=dict)
    counted: set[tuple[int, str]] = field(default_factory=set)

    def update(self, track_id: int, box: np.ndarray) -> str | None:
        side = self.line.side(box)
        if side == 0:
            return None
        before = self.sides.get(track_id)
        self.sides[track_id] = side
        if before is None or before == side:
            return None
        direction = "in" if before == 1 else "out"
        if (track_id, direction) in self.counted:
            return None
        self.counted.add((track_id, direction))
        return direction
