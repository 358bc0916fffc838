"""`select_confident(..., class_balance=True)`, the confidence-only baseline's balancing, on hand-built
probabilities where it acts: a class above the per-class cap (``max(25, smallest class count)``) keeps
only its most confident rows; without ``class_balance`` every row above the threshold is kept."""

from __future__ import annotations

import torch

from vehiclekit.training.ups.selection import select_confident


def _pool(confidences: dict[int, list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-class probabilities ``[N, 2]``: one row per confidence, the confidence on the row's class;
    rows are interleaved by a fixed permutation so that row order says nothing about confidence.
    Returns the probabilities and each row's class."""
    rows = [(c, p) for c, ps in confidences.items() for p in ps]
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0)).tolist()
    rows = [rows[i] for i in order]
    probs = torch.tensor([[p, 1 - p] if c == 0 else [1 - p, p] for c, p in rows])
    return probs, torch.tensor([c for c, _ in rows])


def _kept(probs: torch.Tensor, threshold: float, class_balance: bool) -> set[int]:
    return set(torch.nonzero(select_confident(probs, threshold, class_balance=class_balance).positive).squeeze(1).tolist())


def test_balancing_keeps_the_25_most_confident_of_a_large_class():
    # class 0: 30 rows above the threshold (0.71 ... 0.99) and 3 below; class 1: 2 rows above, 1 below
    class0 = [round(0.70 + 0.01 * k, 2) for k in range(1, 31)] + [0.60, 0.62, 0.65]
    class1 = [0.80, 0.90, 0.55]
    probs, classes = _pool({0: class0, 1: class1})
    confidence = probs.max(dim=1).values
    above = {i for i in range(len(probs)) if confidence[i] >= 0.70}
    assert len(above) == 32

    # cap = max(25, smallest class count 2) = 25: class 0 keeps its 25 most confident (0.76 ... 0.99),
    # drops 0.71 ... 0.75; class 1 (2 rows) keeps both
    expected = {i for i in above if classes[i] == 1 or confidence[i] >= 0.755}
    assert len(expected) == 27
    balanced = _kept(probs, 0.70, class_balance=True)
    assert balanced == expected
    assert sorted(round(float(confidence[i]), 2) for i in balanced if classes[i] == 0) == \
        [round(0.75 + 0.01 * k, 2) for k in range(1, 26)]

    # without balancing (the default): every row at or above the threshold, the 5 least confident of class 0 too
    assert _kept(probs, 0.70, class_balance=False) == above
    assert set(torch.nonzero(select_confident(probs, 0.70).positive).squeeze(1).tolist()) == above
    assert _kept(probs, 0.70, class_balance=False) - balanced == {i for i in above if classes[i] == 0 and confidence[i] < 0.755}
    sel = select_confident(probs, 0.70, class_balance=True)
    assert sel.labels.tolist() == classes.tolist() and not sel.negative.any()


def test_the_cap_is_the_smallest_class_count_when_above_25():
    # class 0: 40 confident rows, class 1: 28: both classes keep 28, class 0 its 28 most confident
    class0 = [0.51 + 0.01 * k for k in range(40)]          # 0.51 ... 0.90
    class1 = [0.60 + 0.01 * k for k in range(28)]          # 0.60 ... 0.87
    probs, classes = _pool({0: class0, 1: class1})
    confidence = probs.max(dim=1).values
    balanced = _kept(probs, 0.5, class_balance=True)
    assert sum(int(classes[i]) == 0 for i in balanced) == 28 and sum(int(classes[i]) == 1 for i in balanced) == 28
    assert min(float(confidence[i]) for i in balanced if classes[i] == 0) > 0.625      # 0.63 ... 0.90: not 0.51 ... 0.62
    assert balanced == {i for i in range(len(probs)) if classes[i] == 1 or confidence[i] > 0.625}
    assert _kept(probs, 0.5, class_balance=False) == set(range(len(probs)))


def test_balancing_does_nothing_at_or_below_the_cap():
    probs, _ = _pool({0: [0.9] * 25, 1: [0.8] * 3})
    assert _kept(probs, 0.7, class_balance=True) == _kept(probs, 0.7, class_balance=False) == set(range(28))
