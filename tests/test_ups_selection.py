"""UPS selection masks (Rizve et al., ICLR 2021) on constructed probability / std tensors."""

import torch

from vehiclekit.training.ups.selection import (
    balance_classes,
    select_confident,
    select_pseudo_labels,
    selection_stats,
    top_n_precision,
)


def _tensors():
    mean = torch.tensor([
        [0.90, 0.06, 0.04],   # confident, certain -> positive 0
        [0.80, 0.15, 0.05],   # confident but std of class 0 too high -> not positive
        [0.50, 0.46, 0.04],   # not confident -> negative candidate
        [0.02, 0.03, 0.95],   # positive 2
        [0.69, 0.30, 0.01],   # just below tau_p
    ])
    std = torch.tensor([
        [0.01, 0.001, 0.001],
        [0.10, 0.001, 0.001],
        [0.02, 0.02, 0.004],
        [0.001, 0.001, 0.04],
        [0.01, 0.001, 0.006],
    ])
    return mean, std


def test_positive_and_negative_masks_match_hand_computation():
    mean, std = _tensors()
    sel = select_pseudo_labels(mean, std)  # tau_p .70, tau_n .05, kappa_p .05, kappa_n .005
    assert sel.positive.tolist() == [True, False, False, True, False]
    assert sel.labels.tolist() == [0, 0, 0, 2, 0]
    # negatives: prob < .05 and std < .005, never argmax, never on positive rows
    expected = torch.tensor([
        [False, False, False],  # positive row
        [False, False, False],  # .05 is not < tau_n
        [False, False, True],   # .04 < .05 and std .004 < .005
        [False, False, False],  # positive row
        [False, False, False],  # .01 but std .006 >= .005
    ])
    assert torch.equal(sel.negative, expected)


def test_argmax_never_negative_and_temperature_scaled_negatives():
    mean = torch.tensor([[0.04, 0.03, 0.03, 0.90]])  # positive candidate but std too high
    std = torch.tensor([[0.001, 0.001, 0.001, 0.2]])
    neg_mean = torch.tensor([[0.04, 0.06, 0.04, 0.86]])  # temperature-scaled stats decide negatives
    neg_std = torch.tensor([[0.001, 0.001, 0.01, 0.001]])
    sel = select_pseudo_labels(mean, std, neg_mean_probs=neg_mean, neg_std_probs=neg_std)
    assert not sel.positive.any()
    assert sel.negative.tolist() == [[True, False, False, False]]
    # without a temperature-scaled input the un-scaled stats are used; argmax excluded even if tiny
    sel = select_pseudo_labels(mean, std, tau_n=1.0, kappa_n=1.0)
    assert sel.negative.tolist() == [[True, True, True, False]]


def test_thresholds_are_configurable():
    mean, std = _tensors()
    sel = select_pseudo_labels(mean, std, tau_p=0.6, kappa_p=0.2)
    assert sel.positive.tolist() == [True, True, False, True, True]


def test_class_balance_keeps_lowest_uncertainty():
    labels = torch.tensor([0] * 30 + [1] * 2)
    selected = torch.ones(32, dtype=torch.bool)
    unc = torch.arange(32, dtype=torch.float).flip(0)
    keep = balance_classes(selected, labels, unc, 2, minimum=25)
    assert int(keep[:30].sum()) == 25 and keep[5:30].all() and keep[30:].all()


def test_confident_baseline_and_stats():
    mean, _ = _tensors()
    sel = select_confident(mean, 0.75)
    assert sel.positive.tolist() == [True, True, False, True, False]
    assert not sel.negative.any()
    stats = selection_stats(sel, torch.tensor([0, 1, 1, 2, 0]), 3)
    assert stats["positive"] == 3 and abs(stats["positive_precision"] - 2 / 3) < 1e-9
    assert stats["class_histogram"] == [2, 0, 1] and stats["negative"] == 0 and stats["negative_precision"] is None
    mean, std = _tensors()
    ups = select_pseudo_labels(mean, std)
    stats = selection_stats(ups, torch.tensor([0, 1, 2, 2, 0]), 3)  # row 2's true class 2 marked negative
    assert stats["negative"] == 1 and stats["negative_precision"] == 0.0


def test_top_n_precision_takes_the_most_confident_rows():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55]])
    truth = torch.tensor([0, 0, 0, 1])
    assert top_n_precision(probs, truth, 1) == 1.0  # row 0 (0.9) right
    assert top_n_precision(probs, truth, 2) == 0.5  # + row 1 (0.8) wrong
    assert top_n_precision(probs, truth, 4) == 0.75
    assert top_n_precision(probs, truth, 0) is None
