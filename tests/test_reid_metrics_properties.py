"""Re-ID metrics against a second, loop-by-loop computation on random rankings (Hypothesis): CMC
is monotone, Rank-1 is the share of queries whose nearest kept gallery item matches, mAP and mINP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vehiclekit.training.reid.metrics import cosine_distance, evaluate_ranking


def kept_ranking(distances, q_id, q_cam, g_ids, g_cams, exclude):
    """Gallery identities of one query, nearest first, without the excluded items (ties: lower index first)."""
    order = sorted(range(len(g_ids)), key=lambda j: (distances[j], j))
    dropped = {"camera": lambda j: g_cams[j] == q_cam, "identity_camera": lambda j: g_cams[j] == q_cam and g_ids[j] == q_id,
               "none": lambda j: False}[exclude]
    return [g_ids[j] for j in order if not dropped(j)]


@st.composite
def problems(draw):
    q, g = draw(st.integers(1, 6)), draw(st.integers(1, 10))
    return (draw(arrays(np.float64, (q, g), elements=st.integers(0, 5).map(float))),   # ties happen
            draw(st.lists(st.integers(0, 3), min_size=q, max_size=q)), draw(st.lists(st.integers(0, 3), min_size=g, max_size=g)),
            draw(st.lists(st.integers(1, 2), min_size=q, max_size=q)), draw(st.lists(st.integers(1, 2), min_size=g, max_size=g)),
            draw(st.sampled_from(["camera", "identity_camera", "none"])))


@settings(max_examples=200, deadline=None)
@given(problems())
def test_metrics_equal_a_loop_by_loop_computation(problem):
    distances, q_ids, g_ids, q_cams, g_cams, exclude = problem
    m = evaluate_ranking(distances, q_ids, g_ids, q_cams, g_cams, ranks=(1, 2, 3), exclude=exclude)
    rankings = [kept_ranking(distances[i], q_ids[i], q_cams[i], g_ids, g_cams, exclude) for i in range(len(q_ids))]
    hits = [[r for r, g in enumerate(ranking, 1) if g == q] for ranking, q in zip(rankings, q_ids)]
    hits = [h for h in hits if h]
    assert m["queries"] == len(hits) and m["skipped_queries"] == len(q_ids) - len(hits)
    if not hits:
        assert m["mAP"] == m["mINP"] == m["rank-1"] == 0.0
        return
    assert m["rank-1"] == pytest.approx(sum(h[0] == 1 for h in hits) / len(hits))
    for k in (1, 2, 3):
        assert m[f"rank-{k}"] == pytest.approx(sum(h[0] <= k for h in hits) / len(hits))
    assert m["mAP"] == pytest.approx(np.mean([np.mean([(n + 1) / r for n, r in enumerate(h)]) for h in hits]))
    assert m["mINP"] == pytest.approx(np.mean([len(h) / h[-1] for h in hits]))
    assert all(a <= b for a, b in zip(m["cmc"], m["cmc"][1:])) and len(m["cmc"]) == 3


def test_ranks_and_exclusion_are_checked():
    with pytest.raises(ValueError, match="exclude must be one of"):
        evaluate_ranking(np.zeros((1, 1)), [0], [0], [1], [2], exclude="camera-id")
    with pytest.raises(ValueError, match=r"distances are \(1, 2\), expected \(1, 1\)"):
        evaluate_ranking(np.zeros((1, 2)), [0], [0], [1], [2])
    m = evaluate_ranking(np.array([[0.3, 0.1]]), ["a"], ["b", "a"], [1], [2, 2], ranks=(1, 5))
    assert m["cmc"] == [1.0] * 5 and m["rank-5"] == 1.0 and m["exclude"] == "camera"


def test_cosine_distance_of_unnormalised_and_zero_rows():
    q = np.array([[2.0, 0.0], [0.0, 0.0]])
    g = np.array([[0.0, 5.0], [-0.5, 0.0]])
    np.testing.assert_allclose(cosine_distance(q, g), [[1.0, 2.0], [1.0, 1.0]], atol=1e-12)   # zero row: no NaN
    np.testing.assert_allclose(cosine_distance(g, q), [[1.0, 1.0], [2.0, 1.0]], atol=1e-12)


def test_equal_distances_rank_in_gallery_order():
    """40 tied gallery items rank in gallery order (a stable sort): the first is the nearest, the
    23rd is 23rd."""
    m = evaluate_ranking(np.zeros((1, 40)), ["a"], ["a"] + ["b"] * 39, [1], [2] * 40, ranks=(1,))
    assert m["rank-1"] == 1.0 and m["mAP"] == 1.0
    m = evaluate_ranking(np.zeros((1, 40)), ["a"], ["b"] * 22 + ["a"] + ["b"] * 17, [1], [2] * 40, ranks=(1,))
    assert m["rank-1"] == 0.0 and m["mAP"] == pytest.approx(1 / 23)
