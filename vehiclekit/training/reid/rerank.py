"""k-reciprocal re-ranking (Zhong, Zheng, Cao & Li 2017, "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR), after the authors' reference implementation (k1 = 20, k2 = 6,
lambda = 0.3): the Jaccard distance of k-reciprocal neighbour sets, blended with the original
distance. Pure numpy; fine for galleries of a few thousand images (memory O((Q+G)^2)).
"""

from __future__ import annotations

import numpy as np


def k_reciprocal_rerank(q_g: np.ndarray, q_q: np.ndarray, g_g: np.ndarray,
                        k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> np.ndarray:
    """Re-ranked ``[Q, G]`` distances from the query-gallery, query-query and gallery-gallery
    distance matrices (any metric, smaller = closer)."""
    q, g = q_g.shape
    n = q + g
    original = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float64) ** 2  # squared, as the reference code
    original = original / np.maximum(original.max(axis=0, keepdims=True), 1e-12)
    original = original.T  # row i: distances from sample i, normalised per column as in the reference code
    rank = np.argsort(original, axis=1, kind="stable")
    k1 = min(k1, n - 1)
    k2 = max(1, min(k2, n))
    v = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        reciprocal = _k_reciprocal(rank, i, k1)
        expansion = reciprocal
        for candidate in reciprocal:
            cand_set = _k_reciprocal(rank, candidate, int(round(k1 / 2)))
            if len(np.intersect1d(cand_set, reciprocal)) > 2 / 3 * len(cand_set):
                expansion = np.union1d(expansion, cand_set)
        weights = np.exp(-original[i, expansion])
        v[i, expansion] = weights / weights.sum()
    if k2 > 1:  # local query expansion
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(n)])
    jaccard = np.zeros((q, n), dtype=np.float64)
    for i in range(q):
        minimum = np.minimum(v[i][None, :], v).sum(axis=1)
        jaccard[i] = 1.0 - minimum / (2.0 - minimum)
    final = jaccard * (1 - lambda_value) + original[:q] * lambda_value
    return final[:, q:]


def _k_reciprocal(rank: np.ndarray, i: int, k: int) -> np.ndarray:
    """Indices j among i's k+1 nearest whose own k+1 nearest include i."""
    forward = rank[i, : k + 1]
    backward = rank[forward, : k + 1]
    return forward[np.any(backward == i, axis=1)]
