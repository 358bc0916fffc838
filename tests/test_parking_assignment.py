"""The joint matching behind settlement: known optima on hand-built similarity matrices, one-to-one,
feasibility, the pair confidence, and agreement with brute force on random small problems."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from vehiclekit.apps.assignment import match
from vehiclekit.apps.calibration import calibrate, cases_needed, clopper_pearson_upper


def brute_force(similarity: np.ndarray, feasible: np.ndarray, floor: float) -> float:
    """Best total over every one-to-one partial matching (an unmatched exit is worth ``floor``)."""
    exits, sessions = similarity.shape
    best = exits * floor
    columns = list(range(sessions)) + [None] * exits
    for choice in set(permutations(columns, exits)):
        total = 0.0
        for i, j in enumerate(choice):
            if j is None:
                total += floor
            elif feasible[i, j] and similarity[i, j] >= floor:
                total += similarity[i, j]
            else:
                break
        else:
            best = max(best, total)
    return best


def test_the_joint_optimum_beats_greedy_and_its_confidence_is_the_drop_without_the_pair():
    # Greedy gives exit 0 its best session (0) and leaves exit 1 with 0.1; jointly, 0.8 + 0.85 wins.
    similarity = np.array([[0.9, 0.8], [0.85, 0.1]])
    pairs = match(similarity, np.ones((2, 2), bool), floor=0.3)
    assert [(p.exit, p.session) for p in pairs] == [(0, 1), (1, 0)]
    # Without (0, 1) the best is exit 0 -> session 0 (0.9) and exit 1 unmatched (0.3): 1.65 - 1.2.
    assert pairs[0].confidence == pytest.approx(0.45)
    # Without (1, 0) the best is exit 0 -> session 0 and exit 1 unmatched as well: 1.65 - 1.2.
    assert pairs[1].confidence == pytest.approx(0.45)
    assert pairs[0].similarity == pytest.approx(0.8)


def test_each_session_is_used_once_and_extra_exits_stay_unmatched():
    similarity = np.array([[0.9], [0.8], [0.7]])
    pairs = match(similarity, np.ones((3, 1), bool), floor=0.3)
    assert [(p.exit, p.session) for p in pairs] == [(0, 0)]
    assert pairs[0].confidence == pytest.approx(0.1)        # exit 1 could take it: 0.9 + 0.3 vs 0.8 + 0.3


def test_infeasible_and_below_floor_pairs_are_never_matched():
    similarity = np.array([[0.95, 0.5], [0.9, 0.25]])
    feasible = np.array([[False, True], [True, True]])      # e.g. session 0 entered after exit 0
    pairs = match(similarity, feasible, floor=0.3)
    assert [(p.exit, p.session) for p in pairs] == [(0, 1), (1, 0)]
    assert match(similarity, np.zeros((2, 2), bool), floor=0.3) == []
    assert match(np.full((2, 2), 0.2), np.ones((2, 2), bool), floor=0.3) == []


def test_two_equally_good_matchings_give_zero_confidence():
    similarity = np.array([[0.8, 0.8], [0.8, 0.8]])
    assert all(p.confidence == pytest.approx(0.0) for p in match(similarity, np.ones((2, 2), bool), 0.3))


def test_independent_parts_are_solved_apart_and_empty_problems_are_fine():
    similarity = np.array([[0.9, 0.0], [0.0, 0.7]])
    feasible = np.eye(2, dtype=bool)                            # two type families
    pairs = match(similarity, feasible, floor=0.3)
    assert [(p.exit, p.session, round(p.confidence, 6)) for p in pairs] == [(0, 0, 0.6), (1, 1, 0.4)]
    assert match(np.zeros((0, 3)), np.zeros((0, 3), bool), 0.3) == []
    assert match(np.zeros((2, 0)), np.zeros((2, 0), bool), 0.3) == []
    with pytest.raises(ValueError, match="same"):
        match(np.zeros((2, 3)), np.zeros((3, 2), bool), 0.3)


@pytest.mark.parametrize("seed", range(12))
def test_the_matching_and_its_confidences_equal_brute_force(seed: int):
    rng = np.random.default_rng(seed)
    exits, sessions = rng.integers(1, 5), rng.integers(1, 5)
    similarity = rng.uniform(-0.2, 1.0, (exits, sessions)).round(3)
    feasible = rng.random((exits, sessions)) < 0.8
    floor = 0.3
    pairs = match(similarity, feasible, floor)
    total = sum(p.similarity for p in pairs) + floor * (exits - len(pairs))
    assert total == pytest.approx(brute_force(similarity, feasible, floor))
    assert len({p.session for p in pairs}) == len(pairs) and len({p.exit for p in pairs}) == len(pairs)
    for p in pairs:
        without = feasible.copy()
        without[p.exit, p.session] = False
        assert p.confidence == pytest.approx(total - brute_force(similarity, without, floor))


def resolved_total(similarity: np.ndarray, allowed: np.ndarray, floor: float) -> float:
    """The optimum by solving the assignment directly (an "unmatched" column per exit worth ``floor``)."""
    from scipy.optimize import linear_sum_assignment

    exits = similarity.shape[0]
    values = np.hstack([np.where(allowed, similarity, -1e6), np.where(np.eye(exits, dtype=bool), floor, -1e6)])
    rows, cols = linear_sum_assignment(values, maximize=True)
    return float(values[rows, cols].sum())


@pytest.mark.parametrize("seed", range(6))
def test_confidences_on_larger_problems_equal_solving_again_without_each_pair(seed: int):
    rng = np.random.default_rng(100 + seed)
    exits, sessions = rng.integers(10, 30), rng.integers(10, 40)
    similarity = (rng.standard_normal((exits, sessions)) * 0.15 + 0.2).round(2)   # many near ties
    feasible = rng.random((exits, sessions)) < 0.7
    floor = 0.1
    allowed = feasible & (similarity >= floor)
    total = resolved_total(similarity, allowed, floor)
    pairs = match(similarity, feasible, floor)
    assert sum(p.similarity for p in pairs) + floor * (exits - len(pairs)) == pytest.approx(total)
    for p in pairs:
        without = allowed.copy()
        without[p.exit, p.session] = False
        assert p.confidence == pytest.approx(total - resolved_total(similarity, without, floor), abs=1e-9)


def test_clopper_pearson_and_the_cases_a_bound_needs():
    assert clopper_pearson_upper(0, 59, 0.05) == pytest.approx(1 - 0.05 ** (1 / 59))
    assert clopper_pearson_upper(0, 59, 0.05) <= 0.05 < clopper_pearson_upper(0, 58, 0.05)
    assert cases_needed(0.05, 0.05) == 59 and cases_needed(0.01, 0.05) == 299
    assert clopper_pearson_upper(3, 3, 0.05) == 1.0
    assert 0.01 < clopper_pearson_upper(1, 300, 0.05) < 0.02


def test_calibration_walks_down_from_the_most_cautious_cut_and_stops_at_the_first_failure():
    # 200 right pairs with confidence 1.0 .. 0.6, then a wrong one at 0.5, then right ones below.
    cases = [(1.0 - i * 0.002, True) for i in range(200)] + [(0.5, False)] + [(0.4, True)] * 100 + [(None, False)] * 20
    result = calibrate(cases, alpha=0.01, delta=0.05)
    assert result.cases == 321
    assert result.cut == pytest.approx(1.0 - 199 * 0.002)          # the last cut before the wrong pair
    assert result.chosen.charged == 200 and result.chosen.wrong == 0
    assert result.chosen.bound == pytest.approx(clopper_pearson_upper(0, 321, 0.05))
    assert "wrong-charge rate <=" in result.summary()
    # With a looser target the wrong pair is accepted and the walk goes on to charge the rest.
    assert calibrate(cases, alpha=0.05, delta=0.05).cut == pytest.approx(0.4)


def test_too_few_cases_or_no_proposals_run_review_first_and_say_so():
    few = calibrate([(0.9, True)] * 50, alpha=0.05, delta=0.05)
    assert few.cut is None and "only 50 labelled cases, 59 needed" in few.summary()
    assert calibrate([(None, False)] * 400).cut is None
    assert calibrate([]).cut is None
    with pytest.raises(ValueError, match="alpha"):
        calibrate([(0.5, True)], alpha=0)
