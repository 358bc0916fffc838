"""One decision rule for exit -> entry matching, shared by parking and the dwell-time statistics.

The query embedding is compared (cosine = dot product of unit vectors) with every candidate:

* best similarity < ``threshold`` -> ``"unmatched"`` (for a human);
* best and second best within ``margin`` of each other -> ``"ambiguous"`` (for a human);
* otherwise -> ``"matched"`` to the best candidate.

The defaults were chosen on the vehicle-reid *validation* split so that no exit was matched to a
wrong session there (docs/apps.md, "Choosing the threshold").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: Lowest cosine similarity accepted as a match.
DEFAULT_THRESHOLD = 0.65
#: Best and second-best closer than this -> review.
DEFAULT_MARGIN = 0.05


@dataclass(frozen=True)
class Decision:
    """The outcome for one query: ``ranked`` holds (candidate index, similarity), best first (top 3)."""

    kind: Literal["matched", "ambiguous", "unmatched"]
    ranked: list[tuple[int, float]]

    @property
    def best(self) -> int | None:
        """Index of the matched candidate (``None`` unless matched)."""
        return self.ranked[0][0] if self.kind == "matched" else None


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
