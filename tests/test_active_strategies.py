"""Each query strategy picks the right images on constructed scores."""

from __future__ import annotations

import numpy as np
import pytest

from vehiclekit.training.active.select import choose
from vehiclekit.training.active.strategies import (
    bald_scores,
    kcenter_greedy,
    random_ranking,
    rank,
    uncertainty_scores,
)

# rows: confident, two-way near-tie (margin 0.005), near-uniform (margin 0.01), fairly confident
PROBS = np.array([[0.96, 0.02, 0.02], [0.50, 0.495, 0.005], [0.34, 0.33, 0.33], [0.70, 0.20, 0.10]])


@pytest.mark.parametrize(("strategy", "first"), [("entropy", 2), ("least-confidence", 2), ("margin", 1)])
def test_uncertainty_strategies_rank_the_most_uncertain_first(strategy, first):
    order = rank(uncertainty_scores(strategy, PROBS[None]), budget=4)
    assert order[0] == first and order[-1] == 0


def test_bald_prefers_disagreeing_passes_over_uniform_agreement():
    agree_uniform = np.full((4, 3), 1 / 3)                     # every pass unsure: aleatoric, BALD ~ 0
    disagree = np.eye(3)[[0, 1, 2, 0]] * 0.98 + 0.02 / 3        # each pass sure, of a different class
    mc = np.stack([agree_uniform, disagree], axis=1)            # [T=4, N=2, C=3]
    scores = bald_scores(mc)
    assert scores[0] == pytest.approx(0.0, abs=1e-9) and scores[1] > 0.5
    assert rank(scores, 1)[0] == 1
    assert uncertainty_scores("entropy", mc)[0] >= uncertainty_scores("entropy", mc)[1]   # entropy would not


def test_bald_needs_several_passes():
    with pytest.raises(ValueError, match="2 MC-dropout passes"):
        uncertainty_scores("bald", PROBS[None])


def test_kcenter_covers_every_cluster_before_repeating_one():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10]], np.float32)
    points = np.concatenate([c + rng.normal(0, 0.1, (20, 2)) for c in centers]).astype(np.float32)
    cluster = np.repeat(np.arange(3), 20)
    assert sorted(cluster[kcenter_greedy(points, 3)]) == [0, 1, 2]
    labelled = cluster == 0
    picks = kcenter_greedy(points, 2, labelled)
    assert sorted(cluster[picks]) == [1, 2] and not labelled[picks].any()


def test_random_is_seeded_and_skips_labelled_images():
    labelled = np.zeros(50, bool)
    labelled[:10] = True
    a, b = random_ranking(50, 20, seed=3, exclude=labelled), random_ranking(50, 20, seed=3, exclude=labelled)
    assert np.array_equal(a, b) and len(set(a)) == 20 and (a >= 10).all()
    assert not np.array_equal(a, random_ranking(50, 20, seed=4, exclude=labelled))


def test_ups_pseudo_labels_the_certain_and_queues_the_rest_least_certain_first():
    confident = np.tile([0.95, 0.03, 0.02], (10, 1))                       # same in every pass: std 0
    wobbly = np.stack([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2]] * 5)            # mean 0.7, std of class 0 ~ 0.21
    unsure = np.tile([0.4, 0.35, 0.25], (10, 1))
    mc = np.stack([confident, wobbly, unsure], axis=1)                      # [T=10, N=3, C=3]
    picked, uncertainty, pseudo = choose("ups", 2, mc.mean(0), mc, np.zeros((3, 4)), np.zeros(3, bool), seed=0)
    assert list(pseudo) == [0]
    assert list(picked) == [1, 2] and uncertainty[0] > uncertainty[1]


def test_a_labelled_image_is_never_queued_again():
    labelled = np.array([False, False, True, False])
    for strategy in ("entropy", "margin", "least-confidence", "random", "kcenter"):
        picked, _, _ = choose(strategy, 3, PROBS, PROBS[None], np.eye(4), labelled, seed=0)
        assert 2 not in picked and len(picked) == 3, strategy
