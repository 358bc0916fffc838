"""One decision rule for exit -> entry matching, shared by parking and the dwell-time statistics.

Candidates are first narrowed by what is known besides appearance (:func:`compatible`): the
vehicle type must agree (by default within a family: car / SUV / van / pickup look alike from one
end, so do truck / bus), and so must the make when both gates recognised it confidently. The
query embedding is then compared (cosine = dot product of unit vectors) with every remaining
candidate:

* best similarity < ``threshold`` -> ``"unmatched"`` (for a human);
* best and second best within ``margin`` of each other -> ``"ambiguous"`` (for a human);
* otherwise -> ``"matched"`` to the best candidate.

The defaults were chosen on the vehicle-reid *validation* split with the shipped re-ID model (and
:data:`~vehiclekit.sdk.reid.PARKING_CROPS`) so that no exit was matched to a wrong session there, in
both directions of the day and the everyone-inside protocols with 200 vehicles inside
(``python -m benchmarks.parking.evaluate_parking --tune-on val --inside 200``; docs/results.md §22).
They are for paying at the barrier, where each exit is decided alone: settlement
(:mod:`vehiclekit.apps.settlement`) charges more exits at the same risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: How the vehicle types of an entry and an exit must agree: ``exact`` label, same ``family``, or ``off``.
TypeRule = Literal["exact", "family", "off"]
#: Types one vehicle may be given at two gates (front and rear views). Labels not listed (another
#: model's) must agree exactly.
TYPE_FAMILIES = {"motorcycle": "two-wheeler", "car": "passenger", "suv": "passenger", "van": "passenger",
                 "pickup": "passenger", "bus": "large", "truck": "large", "heavy-truck": "large"}
#: A make recognised at both gates with at least this confidence must agree (below it, makes are ignored).
MAKE_CONFIDENCE = 0.8

#: Lowest cosine similarity accepted as a match.
DEFAULT_THRESHOLD = 0.45
#: Best and second-best closer than this -> review.
DEFAULT_MARGIN = 0.15


@dataclass(frozen=True)
class Decision:
    """The outcome for one query: ``ranked`` holds (candidate index, similarity), best first (top 3)."""

    kind: Literal["matched", "ambiguous", "unmatched"]
    ranked: list[tuple[int, float]]

    @property
    def best(self) -> int | None:
        """Index of the matched candidate (``None`` unless matched)."""
        return self.ranked[0][0] if self.kind == "matched" else None


def compatible(exit_type: str, entry_type: str, rule: TypeRule = "family",
               exit_make: tuple[str | None, float | None] = (None, None),
               entry_make: tuple[str | None, float | None] = (None, None)) -> bool:
    """Whether an exit can be the vehicle of an entry by type (``rule``) and make (both known with
    confidence >= :data:`MAKE_CONFIDENCE` and different -> not compatible)."""
    if rule == "exact" and exit_type != entry_type:
        return False
    if rule == "family" and TYPE_FAMILIES.get(exit_type, exit_type) != TYPE_FAMILIES.get(entry_type, entry_type):
        return False
    (make_a, conf_a), (make_b, conf_b) = exit_make, entry_make
    confident = None not in (make_a, make_b, conf_a, conf_b) and min(conf_a, conf_b) >= MAKE_CONFIDENCE
    return not confident or make_a == make_b


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to unit length (float32); ``ValueError`` for a zero or non-finite vector."""
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("the re-ID embedding is zero or not finite")
    return (np.asarray(vector) / norm).astype(np.float32)


def decide(query: np.ndarray, candidates: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
           margin: float = DEFAULT_MARGIN, top: int = 3) -> Decision:
    """Match the unit vector ``query`` [D] against the unit rows of ``candidates`` [N, D]."""
    if not len(candidates):
        return Decision("unmatched", [])
    similarities = candidates @ query
    order = np.argsort(-similarities, kind="stable")[:top]
    ranked = [(int(i), float(similarities[i])) for i in order]
    if ranked[0][1] < threshold:
        return Decision("unmatched", ranked)
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < margin:
        return Decision("ambiguous", ranked)
    return Decision("matched", ranked)
