"""UPS selection rules that the hand-built masks of test_ups_selection.py cannot tell apart: the
uncertainty of the predicted class (not another's), balancing keeps the most certain, statistics."""

from __future__ import annotations

import torch

from vehiclekit.training.ups.selection import (
    balance_classes,
    select_confident,
    select_pseudo_labels,
    selection_stats,
    softmax_stats,
    top_n_precision,
)


def test_positive_uses_the_uncertainty_of_the_predicted_class():
    mean = torch.tensor([[0.10, 0.80, 0.10], [0.10, 0.80, 0.10]])
    std = torch.tensor([[0.20, 0.01, 0.20], [0.001, 0.09, 0.001]])   # row 0: certain argmax; row 1: not
    assert select_pseudo_labels(mean, std, kappa_p=0.05).positive.tolist() == [True, False]


def test_positive_thresholds_are_inclusive_on_probability_and_strict_on_std():
    mean = torch.tensor([[0.70, 0.30], [0.70, 0.30], [0.6999, 0.3001]])
    std = torch.tensor([[0.0, 0.0], [0.05, 0.0], [0.0, 0.0]])
    assert select_pseudo_labels(mean, std, tau_p=0.70, kappa_p=0.05).positive.tolist() == [True, False, False]


def test_negative_thresholds_are_strict():
    mean = torch.tensor([[0.50, 0.05, 0.0499, 0.4001]])
    std = torch.tensor([[0.1, 0.0, 0.0, 0.0]])
    assert select_pseudo_labels(mean, std).negative.tolist() == [[False, False, True, False]]
    std = torch.tensor([[0.1, 0.0, 0.005, 0.0]])
    assert select_pseudo_labels(mean, std).negative.tolist() == [[False, False, False, False]]


def test_balancing_keeps_the_most_certain_up_to_the_smallest_class_or_the_minimum():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])
    uncertainty = torch.tensor([0.4, 0.1, 0.3, 0.2, 0.9, 0.5, 0.3, 0.1, 0.2])
    selected = torch.ones(9, dtype=torch.bool)
    # smallest class count is 2 (class 1): per class the 2 lowest uncertainties
    keep = balance_classes(selected, labels, uncertainty, 3, minimum=1)
    assert keep.tolist() == [False, True, False, True, True, True, False, True, True]
    # the minimum wins when larger: 3 per class
    keep = balance_classes(selected, labels, uncertainty, 3, minimum=3)
    assert keep.tolist() == [False, True, True, True, True, True, True, True, True]
    # an unselected sample never comes back: class 0 keeps its 2 most certain selected ones
    selected[1] = False
    keep = balance_classes(selected, labels, uncertainty, 3, minimum=1)
    assert keep.tolist() == [False, False, True, True, True, True, False, True, True]


def test_class_balance_through_selection_uses_the_argmax_std():
    mean = torch.tensor([[0.9, 0.1]] * 3 + [[0.1, 0.9]])
    std = torch.tensor([[0.03, 0.0], [0.01, 0.04], [0.02, 0.0], [0.0, 0.01]])
    sel = select_pseudo_labels(mean, std, class_balance=True, balance_min=2)
    assert sel.positive.tolist() == [False, True, True, True]                  # 0.03 dropped, not 0.01


def test_softmax_stats_are_the_mean_and_unbiased_std_over_passes():
    logits = torch.log(torch.tensor([[[1.0, 3.0]], [[1.0, 1.0]]]))             # passes: p0 = .25 then .5
    mean, std = softmax_stats(logits)
    assert torch.allclose(mean, torch.tensor([[0.375, 0.625]]))
    assert torch.allclose(std, torch.tensor([[0.125 * 2 ** 0.5, 0.125 * 2 ** 0.5]]))   # sqrt(2 x .125^2 / 1)
    hot, _ = softmax_stats(torch.log(torch.tensor([[[1.0, 4.0]]] * 2)), temperature=2.0)   # (1, 4) ** 1/2 = (1, 2)
    assert torch.allclose(hot, torch.tensor([[1 / 3, 2 / 3]]))


def test_confident_baseline_is_inclusive():
    sel = select_confident(torch.tensor([[0.75, 0.25], [0.7499, 0.2501]]), 0.75)
    assert sel.positive.tolist() == [True, False] and sel.labels.tolist() == [0, 0]


def test_stats_count_only_known_labels_for_precision():
    sel = select_pseudo_labels(torch.tensor([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.1, 0.5, 0.4], [0.9, 0.1, 0.0]]),
                               torch.zeros(4, 3), tau_n=0.06)
    # positives: rows 0, 1, 3 (label 0); row 2 has no class below tau_n: no negatives
    stats = selection_stats(sel, torch.tensor([0, -1, 1, 2]), 3)
    assert stats["positive"] == 3 and stats["positive_precision"] == 0.5      # row 0 right, row 3 wrong, row 1 unknown
    assert stats["class_histogram"] == [3, 0, 0] and stats["pool"] == 4 and stats["pool_with_known_labels"] == 3
    assert stats["negative"] == 0 and stats["negative_samples"] == 0 and stats["negative_precision"] is None
    sel = select_pseudo_labels(torch.tensor([[0.5, 0.48, 0.02], [0.5, 0.02, 0.48], [0.5, 0.48, 0.02]]),
                               torch.zeros(3, 3))
    stats = selection_stats(sel, torch.tensor([2, 0, -1]), 3)                  # row 0's true class marked negative
    assert stats["negative"] == 3 and stats["negative_samples"] == 3
    assert stats["negative_precision"] == 0.5                                   # 2 judged (rows 0, 1): 1 wrong
    nothing_known = selection_stats(sel, torch.tensor([-1, -1, -1]), 3)
    assert nothing_known["positive_precision"] is None and nothing_known["negative_precision"] is None


def test_top_n_precision_skips_rows_without_truth():
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    assert top_n_precision(probs, torch.tensor([-1, 0, 0]), 2) == 1.0        # row 0 unknown: judged on row 1
    assert top_n_precision(probs, torch.tensor([-1, -1, 0]), 2) is None
    assert top_n_precision(torch.tensor([[0.6, 0.4], [0.6, 0.4]]), torch.tensor([0, 1]), 1) == 1.0   # stable: row 0


def test_balancing_defaults_and_ties_keep_the_earliest():
    labels = torch.tensor([0] * 200 + [1])
    selected = torch.ones(201, dtype=torch.bool)
    keep = balance_classes(selected, labels, torch.zeros(201), 2)                # default minimum 25; all tied
    assert keep.nonzero().squeeze(1).tolist() == [*range(25), 200]
    # a class with nothing selected makes the smallest count 0: the cap is the minimum
    three = balance_classes(torch.ones(8, dtype=torch.bool), torch.tensor([0] * 5 + [1] * 3), torch.arange(8.0), 3, minimum=2)
    assert three.tolist() == [True, True, False, False, False, True, True, False]


def test_selection_balances_only_when_asked_and_by_default_to_25():
    mean = torch.tensor([[0.9, 0.1]] * 30 + [[0.1, 0.9]])
    std = torch.zeros(31, 2)
    assert int(select_pseudo_labels(mean, std).positive.sum()) == 31
    assert int(select_pseudo_labels(mean, std, class_balance=True).positive.sum()) == 26


def test_top_n_ties_are_taken_in_row_order():
    probs = torch.tensor([[0.6, 0.4]] * 300)
    truth = torch.tensor([0] * 10 + [1] * 290)
    assert top_n_precision(probs, truth, 10) == 1.0
