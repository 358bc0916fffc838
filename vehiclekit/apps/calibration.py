"""The settlement's auto-charge cut, chosen on labelled pairs with a stated guarantee.

A labelled case is one exit a settlement proposed a pair for (or none), and whether that pair was
the vehicle's own session: the vehicle-reid ``val`` split for the shipped default, a car park's
own resolved review cases in production (:meth:`ParkingStore.labelled_pairs
<vehiclekit.apps.ParkingStore.labelled_pairs>`; run review-first until there are enough). An exit's loss
at cut λ is 1 when its pair would be charged (confidence >= λ) and is not its own session.

The cut is chosen by Learn then Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021, "Learn then
Test: Calibrating Predictive Algorithms to Achieve Risk Control"): for each candidate λ, from the
most cautious down, test H0 "the wrong-charge rate at λ exceeds ``alpha``" with the exact binomial
(Clopper & Pearson 1934) upper bound on k wrong charges among n cases; walk down while the bound
stays at or below ``alpha`` (fixed-sequence testing, so no correction for the many λ is needed)
and keep the last λ that passed. Guarantee: if future exits are exchangeable with the labelled
ones, then with probability at least 1 - ``delta`` over the labelled cases, the chosen cut charges
a wrong session for at most a fraction ``alpha`` of exits. With no wrong charge, a cut needs
n >= ln(delta) / ln(1 - alpha) cases (59 for 5 % at 95 %, 299 for 1 %): a lot with fewer cases
stays review-first (``cut=None``) and is told so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import beta

#: Default wrong-charge rate bounded (per exit) and the confidence the bound holds with.
DEFAULT_ALPHA, DEFAULT_DELTA = 0.02, 0.05


def clopper_pearson_upper(wrong: int, cases: int, delta: float) -> float:
    """One-sided 1 - ``delta`` upper confidence bound on a rate seen ``wrong`` times in ``cases``."""
    return 1.0 if wrong >= cases else float(beta.ppf(1 - delta, wrong + 1, cases - wrong))


def cases_needed(alpha: float, delta: float) -> int:
    """Labelled cases that certify ``alpha`` at 1 - ``delta`` when none of them is wrong."""
    return math.ceil(math.log(delta) / math.log1p(-alpha))


@dataclass(frozen=True)
class Step:
    """One candidate cut: exits it would charge, wrong among them, and the upper bound on the rate."""

    cut: float
    charged: int
    wrong: int
    bound: float


@dataclass(frozen=True)
class Calibration:
    """The chosen ``cut`` (None: review-first) and the walk that chose it."""

    cut: float | None
    alpha: float
    delta: float
    cases: int
    steps: list[Step] = field(default_factory=list)

    @property
    def chosen(self) -> Step | None:
        return next((s for s in self.steps if s.cut == self.cut), None)

    def summary(self) -> str:
        need = cases_needed(self.alpha, self.delta)
        if self.cut is None:
            why = (f"only {self.cases} labelled cases, {need} needed to certify {self.alpha:.1%} at {1 - self.delta:.0%}"
                   if self.cases < need else f"even the most cautious cut's bound exceeds {self.alpha:.1%}")
            return f"review-first: {why}; every exit goes to a person (resolve them to calibrate)"
        c = self.chosen
        return (f"cut {self.cut:.4f}: charges {c.charged} of {self.cases} labelled exits ({c.charged / self.cases:.1%}) "
                f"with {c.wrong} wrong; wrong-charge rate <= {c.bound:.2%} per exit at {1 - self.delta:.0%} confidence "
                f"(target {self.alpha:.1%})")


def calibrate(cases: list[tuple[float | None, bool]], alpha: float = DEFAULT_ALPHA,
              delta: float = DEFAULT_DELTA) -> Calibration:
    """Choose the cut from labelled ``cases`` (pair confidence or None, pair correct); see the module docstring."""
    if not 0 < alpha < 1 or not 0 < delta < 1:
        raise ValueError(f"alpha and delta must be in (0, 1), got {alpha} and {delta}")
    n = len(cases)
    proposed = [(c, ok) for c, ok in cases if c is not None]
    if not proposed:
        return Calibration(None, alpha, delta, n)
    confidence = np.array([c for c, _ in proposed], np.float64)
    wrong = np.array([not ok for _, ok in proposed])
    order = np.argsort(-confidence, kind="stable")
    steps, cut = [], None
    charged = wrong_so_far = 0
    for rank, i in enumerate(order):
        charged, wrong_so_far = rank + 1, wrong_so_far + int(wrong[i])
        if rank + 1 < len(order) and confidence[order[rank + 1]] == confidence[i]:
            continue            # a cut charges every pair at or above it: ties go together
        step = Step(float(confidence[i]), charged, wrong_so_far, clopper_pearson_upper(wrong_so_far, n, delta))
        steps.append(step)
        if step.bound > alpha:
            break
        cut = step.cut
    return Calibration(cut, alpha, delta, n, steps)
