"""Query strategies: rank a pool of unlabelled images by how much a label would teach the model.

All functions are pure numpy. ``probs`` is the model's softmax ``[N, C]`` (the mean over MC-dropout
passes where the strategy uses them); ``mc_probs`` is ``[T, N, C]`` for ``T`` MC-dropout passes.
Each ``*_scores`` is higher = more informative; :func:`rank` turns scores into the ``budget`` first
indices (ties broken by pool order, so a ranking is reproducible).

- ``least-confidence``: ``1 - max_c p_c`` (Settles, "Active Learning Literature Survey", 2009);
- ``margin``: ``-(p_(1) - p_(2))``, a small gap between the two best labels (Scheffer et al. 2001);
- ``entropy``: ``-sum_c p_c log p_c`` (Shannon; Settles 2009);
- ``bald``: mutual information between the label and the weights, estimated with MC dropout:
  ``H[mean_t p_t] - mean_t H[p_t]`` (Houlsby et al. 2011; Gal, Islam, Ghahramani, "Deep Bayesian
  Active Learning with Image Data", ICML 2017);
- ``kcenter``: greedy core-set on embeddings, each pick the image farthest from everything labelled
  or picked so far (Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set
  Approach", ICLR 2018);
- ``random``: a seeded permutation, the baseline every strategy must beat.
"""

from __future__ import annotations

import hashlib

import numpy as np

UNCERTAINTY_STRATEGIES = ("entropy", "margin", "least-confidence", "bald")
EPS = 1e-12


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of ``probs`` (last axis)."""
    p = np.clip(probs, EPS, 1.0)
    return -(probs * np.log(p)).sum(-1)


def least_confidence_scores(probs: np.ndarray) -> np.ndarray:
    return 1.0 - probs.max(1)


def margin_scores(probs: np.ndarray) -> np.ndarray:
    top2 = np.sort(probs, axis=1)[:, -2:]
    return -(top2[:, 1] - top2[:, 0])


def entropy_scores(probs: np.ndarray) -> np.ndarray:
    return entropy(probs)


def bald_scores(mc_probs: np.ndarray) -> np.ndarray:
    """Mutual information ``H[E_t p] - E_t H[p]`` from ``[T, N, C]`` MC-dropout softmax samples (>= 0)."""
    return np.maximum(entropy(mc_probs.mean(0)) - entropy(mc_probs).mean(0), 0.0)


def uncertainty_scores(strategy: str, mc_probs: np.ndarray) -> np.ndarray:
    """Scores of an uncertainty strategy from ``[T, N, C]`` MC-dropout softmax samples (``T`` may be 1
    for all but ``bald``)."""
    if strategy == "bald":
        if mc_probs.shape[0] < 2:
            raise ValueError("bald needs at least 2 MC-dropout passes")
        return bald_scores(mc_probs)
    probs = mc_probs.mean(0)
    scores = {"entropy": entropy_scores, "margin": margin_scores, "least-confidence": least_confidence_scores}
    if strategy not in scores:
        raise ValueError(f"unknown uncertainty strategy {strategy!r}; one of {UNCERTAINTY_STRATEGIES}")
    return scores[strategy](probs)


def rank(scores: np.ndarray, budget: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``budget`` highest ``scores`` (highest first; ties in pool order), skipping
    rows where the boolean ``exclude`` is true."""
    order = np.argsort(-scores, kind="stable")
    if exclude is not None:
        order = order[~exclude[order]]
    return order[:budget]


def random_ranking(n: int, budget: int, seed: int = 0, exclude: np.ndarray | None = None) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n)
    if exclude is not None:
        order = order[~exclude[order]]
    return order[:budget]


def kcenter_greedy(embeddings: np.ndarray, budget: int, labeled: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Greedy k-center (Sener & Savarese 2018): ``budget`` pool indices, each the point farthest (L2)
    from the labelled points and the points already picked. With nothing labelled, the first pick is
    a seeded random point. ``labeled``: boolean mask ``[N]`` of points already labelled."""
    x = np.asarray(embeddings, dtype=np.float32)
    n = len(x)
    labeled = np.zeros(n, bool) if labeled is None else labeled.astype(bool)
    budget = min(budget, int((~labeled).sum()))
    sq = (x * x).sum(1)

    def dist_to(i: int) -> np.ndarray:
        return np.sqrt(np.maximum(sq - 2.0 * x @ x[i] + sq[i], 0.0))

    nearest = np.full(n, np.inf, np.float32)
    for i in np.flatnonzero(labeled):
        nearest = np.minimum(nearest, dist_to(i))
    picks: list[int] = []
    if not labeled.any() and budget:
        picks.append(int(np.random.default_rng(seed).integers(n)))
        nearest = dist_to(picks[0])
    while len(picks) < budget:
        candidate = np.where(labeled, -1.0, nearest)
        candidate[picks] = -1.0
        i = int(np.argmax(candidate))
        picks.append(i)
        nearest = np.minimum(nearest, dist_to(i))
    return np.asarray(picks, dtype=np.int64)


def dropout_masks(key: str, passes: int, dim: int, p: float, seed: int = 0) -> np.ndarray:
    """``[passes, dim]`` inverted-dropout masks (0 or ``1 / (1 - p)``) of the image ``key`` for the
    MC-dropout passes of ``bald`` and ``ups``: its own RNG, seeded by ``seed`` and a hash of the key, so
    the same in-process (``select``) and on any worker of ``train-vehicle score``, in any batch."""
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    uniform = np.random.default_rng([seed, digest]).random((passes, dim), dtype=np.float32)
    return (uniform >= p).astype(np.float32) / np.float32(1.0 - p)
