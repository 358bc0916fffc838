"""Re-ID metrics (CMC, mAP, mINP) against hand-computed values, same-camera exclusion, re-ranking."""

import numpy as np
import pytest

from vehiclekit.training.reid.metrics import cosine_distance, evaluate_ranking
from vehiclekit.training.reid.rerank import k_reciprocal_rerank

# Gallery: g0 A cam2, g1 B cam2, g2 A cam2, g3 C cam2, g4 A cam1 (same camera as the queries).
G_IDS, G_CAMS = ["A", "B", "A", "C", "A"], [2, 2, 2, 2, 1]
Q_IDS, Q_CAMS = ["A", "B"], [1, 1]
DIST = np.array([
    [0.5, 0.1, 0.9, 0.3, 0.0],   # q0 (A): g4 0.0 (excluded), g1 B, g3 C, g0 A, g2 A -> hits at ranks 3 and 4
    [0.2, 0.1, 0.3, 0.4, 0.05],  # q1 (B): g4 A (excluded), g1 B first -> hit at rank 1
])


def test_cross_camera_cmc_map_minp_hand_computed():
    m = evaluate_ranking(DIST, Q_IDS, G_IDS, Q_CAMS, G_CAMS, ranks=(1, 3, 5))
    ap0, ap1 = (1 / 3 + 2 / 4) / 2, 1.0       # precision at each true match
    inp0, inp1 = 2 / 4, 1.0                   # |matches| / rank of the hardest match
    assert m["rank-1"] == pytest.approx(0.5) and m["rank-3"] == pytest.approx(1.0) and m["rank-5"] == 1.0
    assert m["cmc"] == pytest.approx([0.5, 0.5, 1.0, 1.0, 1.0])
    assert m["mAP"] == pytest.approx((ap0 + ap1) / 2)   # 0.708333
    assert m["mINP"] == pytest.approx((inp0 + inp1) / 2)  # 0.75
    assert m["queries"] == 2 and m["skipped_queries"] == 0


def test_same_camera_gallery_images_are_excluded():
    """g4 (cam1, same identity as q0, distance 0) would be q0's Rank-1 without the exclusion."""
    none = evaluate_ranking(DIST, Q_IDS, G_IDS, Q_CAMS, G_CAMS, ranks=(1,), exclude="none")
    assert none["rank-1"] == 0.5                      # q0 hits g4 at rank 1; q1's first is g4 (A), B second
    assert none["mAP"] == pytest.approx(((1 + 2 / 4 + 3 / 5) / 3 + 0.5) / 2)  # q1: g4 (A) first, B at rank 2
    fastreid = evaluate_ranking(DIST, Q_IDS, G_IDS, Q_CAMS, G_CAMS, ranks=(1,), exclude="identity_camera")
    assert fastreid["mAP"] == pytest.approx(((1 / 3 + 2 / 4) / 2 + 0.5) / 2)  # only same-id same-cam removed
    cross = evaluate_ranking(DIST, Q_IDS, G_IDS, Q_CAMS, G_CAMS, ranks=(1,))
    assert cross["rank-1"] == 0.5 and cross["mAP"] == pytest.approx(((1 / 3 + 2 / 4) / 2 + 1.0) / 2)  # q0 misses, q1 hits


def test_query_whose_only_match_is_same_camera_is_skipped():
    m = evaluate_ranking(np.array([[0.1, 0.2]]), ["A"], ["A", "B"], [1], [1, 2], ranks=(1,))
    assert m["queries"] == 0 and m["skipped_queries"] == 1 and m["mAP"] == 0.0


def test_cosine_distance():
    q = np.array([[1.0, 0.0], [0.0, 2.0]])
    g = np.array([[3.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(cosine_distance(q, g), [[0.0, 1 - 2 ** -0.5], [1.0, 1 - 2 ** -0.5]], atol=1e-12)


def test_rerank_keeps_well_separated_identities_first():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16))
    q = centres + 0.05 * rng.normal(size=centres.shape)
    g = centres + 0.05 * rng.normal(size=centres.shape)
    d = k_reciprocal_rerank(cosine_distance(q, g), cosine_distance(q, q), cosine_distance(g, g), k1=3, k2=2)
    assert d.shape == (6, 6)
    ids = list(range(6))
    assert evaluate_ranking(d, ids, ids, [1] * 6, [2] * 6)["rank-1"] == 1.0
