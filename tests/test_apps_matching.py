"""The exit -> entry decision rule: threshold, margin against the runner-up whatever the candidates'
order, type families and confident makes (hand-built unit vectors, Hypothesis)."""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vehiclekit.apps.matching import MAKE_CONFIDENCE, TYPE_FAMILIES, compatible, decide, unit


def with_similarities(*similarities: float) -> tuple[np.ndarray, np.ndarray]:
    """A query (1, 0, ...) and one unit candidate per similarity: cos = its first coordinate."""
    query = np.zeros(len(similarities) + 1, np.float32)
    query[0] = 1
    rows = np.zeros((len(similarities), len(query)), np.float32)
    for i, s in enumerate(similarities):
        rows[i, 0], rows[i, i + 1] = s, math.sqrt(1 - s * s)
    return query, rows


@pytest.mark.parametrize("order", list(permutations(range(4))))
def test_the_margin_is_measured_to_the_runner_up_in_any_order(order):
    # best 0.90, runner-up 0.89 (within 0.02), then 0.60 and 0.40 far below
    similarities = [(0.90, 0.89, 0.60, 0.40)[i] for i in order]
    decision = decide(*with_similarities(*similarities), threshold=0.5, margin=0.02)
    assert decision.kind == "ambiguous" and decision.best is None
    assert [s for _, s in decision.ranked] == pytest.approx([0.90, 0.89, 0.60], abs=1e-6)
    assert [similarities[i] for i, _ in decision.ranked] == pytest.approx([0.90, 0.89, 0.60], abs=1e-6)


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_a_clear_best_is_matched_whatever_its_position(order):
    similarities = [(0.90, 0.80, 0.10)[i] for i in order]
    decision = decide(*with_similarities(*similarities), threshold=0.5, margin=0.05)
    assert decision.kind == "matched" and decision.best == order.index(0)
    assert decision.ranked[0][1] == pytest.approx(0.90, abs=1e-6)


def test_threshold_and_margin_edges():
    query, rows = with_similarities(0.5)
    assert decide(query, rows, threshold=0.5).kind == "matched"          # the threshold itself is accepted
    below = decide(query, rows, threshold=0.5 + 1e-3)
    assert below.kind == "unmatched" and below.best is None
    assert below.ranked == [(0, pytest.approx(0.5))]                     # shown to the reviewer
    query, rows = with_similarities(0.75, 0.5)
    assert decide(query, rows, threshold=0.3, margin=0.25 - 1e-3).kind == "matched"
    assert decide(query, rows, threshold=0.3, margin=0.25 + 1e-3).kind == "ambiguous"
    assert decide(query, rows[:0]).kind == "unmatched" and decide(query, rows[:0]).ranked == []
    many = decide(*with_similarities(0.9, 0.1, 0.2, 0.3, 0.4), threshold=0.5, top=2)
    assert [i for i, _ in many.ranked] == [0, 4]                          # top 2 only, best first
    assert [i for i, _ in decide(*with_similarities(0.9, 0.1, 0.2, 0.3, 0.4)).ranked] == [0, 4, 3]   # default: 3
    exactly = decide(*with_similarities(0.75, 0.5), threshold=0.3, margin=0.25)
    assert exactly.kind == "matched"                                       # a gap equal to the margin is enough


def test_tied_candidates_are_ranked_in_session_order():
    query, rows = with_similarities(*[0.6] * 40)
    decision = decide(query, rows, threshold=0.5)
    assert decision.kind == "ambiguous" and [i for i, _ in decision.ranked] == [0, 1, 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-0.7, 0.99), min_size=2, max_size=6), st.floats(0.001, 0.2), st.randoms())
def test_never_charged_when_the_two_best_are_within_the_margin(similarities, margin, rng):
    similarities = sorted(similarities, reverse=True)
    similarities[1] = similarities[0] - margin / 2                         # a runner-up inside the margin
    rng.shuffle(similarities)
    decision = decide(*with_similarities(*similarities), threshold=-1.0, margin=margin)
    assert decision.kind == "ambiguous" and decision.best is None


def test_unit_scales_to_length_one_and_refuses_zero_or_nan():
    np.testing.assert_allclose(unit(np.array([3.0, 4.0])), [0.6, 0.8], rtol=1e-6)
    assert unit(np.array([3.0, 4.0])).dtype == np.float32
    for bad in ([0.0, 0.0], [np.nan, 1.0], [np.inf, 1.0]):
        with pytest.raises(ValueError, match="^the re-ID embedding is zero or not finite$"):
            unit(np.array(bad))


def test_types_agree_by_family_exactly_or_not_at_all():
    passenger, large = ("car", "suv", "van", "pickup"), ("bus", "truck", "heavy-truck")
    for group in (passenger, large, ("motorcycle",)):
        for a in group:
            for b in TYPE_FAMILIES:
                assert compatible(a, b) == (b in group), (a, b)
                assert compatible(a, b, "exact") == (a == b)
                assert compatible(a, b, "off")
    assert compatible("unlisted", "unlisted") and not compatible("unlisted", "car")
    assert not compatible("unlisted", "other") and not compatible("car", "unlisted")   # unlisted: exact label


def test_only_confident_makes_must_agree():
    sure, unsure = MAKE_CONFIDENCE, MAKE_CONFIDENCE - 0.01
    assert not compatible("car", "car", exit_make=("bmw", sure), entry_make=("audi", sure))
    assert compatible("car", "car", exit_make=("bmw", sure), entry_make=("bmw", 1.0))
    assert compatible("car", "car", exit_make=("bmw", unsure), entry_make=("audi", sure))
    assert compatible("car", "car", exit_make=("bmw", sure), entry_make=("audi", unsure))
    assert compatible("car", "car", exit_make=("bmw", sure), entry_make=(None, None))
    assert not compatible("car", "bus", exit_make=("bmw", sure), entry_make=("bmw", sure))
