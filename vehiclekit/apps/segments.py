"""Customer segments by vehicle make, for spotting premium customers in traffic statistics.

A segment table (YAML, default :data:`DEFAULT_SEGMENTS`) maps segment names to makes; every listed
make must be one the ``vehicle-make`` model can answer, so a typo is an error naming the file, the
segment and the make (with the closest known spelling) rather than a segment that silently never
counts. :meth:`SegmentTable.segment` turns a recognised make and its confidence into a segment:
``unknown`` when there is no make or it is less certain than ``min_confidence``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vehiclekit.apps.errors import SegmentError
from vehiclekit.apps.yaml_config import load_yaml_model

DEFAULT_SEGMENTS = Path(__file__).with_name("segments.yaml")
UNKNOWN = "unknown"


class SegmentTable(BaseModel):
    """Segment name -> makes, and the segment of any make not listed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str = Field(min_length=1, description="segment of a make no segment lists")
    segments: dict[str, list[str]] = Field(description="segment -> makes, spelled as the vehicle-make model's labels")

    @model_validator(mode="after")
    def _each_make_once(self) -> "SegmentTable":
        seen: dict[str, str] = {}
        for segment, makes in self.segments.items():
            if segment == UNKNOWN:
                raise ValueError(f"{UNKNOWN!r} is reserved for vehicles without a confident make")
            for make in makes:
                if make in seen:
                    raise ValueError(f"make {make!r} is in both {seen[make]!r} and {segment!r}")
                seen[make] = segment
        return self

    def segment(self, make: str | None, confidence: float | None = None, min_confidence: float = 0.0) -> str:
        """The segment of a vehicle whose make was recognised as ``make`` with ``confidence``."""
        if make is None or (confidence is not None and confidence < min_confidence):
            return UNKNOWN
        return next((s for s, makes in self.segments.items() if make in makes), self.default)


def load_segments(path: str | os.PathLike | None = None, known_makes: Sequence[str] | None = None) -> SegmentTable:
    """Read and validate a segment table (default: :data:`DEFAULT_SEGMENTS`). ``known_makes``: the
    makes a listed one must be among (default: the zoo ``vehicle-make`` model's labels)."""
    path = Path(path) if path is not None else DEFAULT_SEGMENTS
    table = load_yaml_model(path, SegmentTable, SegmentError, "segment table", f"default and segments (see {DEFAULT_SEGMENTS})")
    if known_makes is None:
        from vehiclekit.sdk import VehicleClassifier

        known_makes = VehicleClassifier(model="vehicle-make").labels
    for segment, makes in table.segments.items():
        for i, make in enumerate(makes):
            if make not in known_makes:
                close = difflib.get_close_matches(make, known_makes, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else "; the known makes are the vehicle-make model's labels"
                raise SegmentError(f"segment table {path}: segments.{segment}[{i}]: unknown make {make!r}{hint}")
    return table
