"""Re-ID retrieval metrics (pure numpy): CMC Rank-k, mAP and mINP, cross-camera.

Protocol: every query ranks the gallery by distance (ascending); gallery images taken by the
query's own camera are removed first (``exclude="camera"``, the cross-camera protocol this project
uses: a re-ID system is asked to match across cameras). ``exclude="identity_camera"`` removes only
same-identity same-camera images, as Market-1501 / VeRi-776 (and fast-reid) do; with cam1 queries
against a cam2 gallery the two coincide. Queries left without a true match are skipped and counted.

- CMC Rank-k: fraction of queries with a true match among the first k (Luo et al. 2019 report Rank-1).
- AP: mean of precision at each true match's rank; mAP over queries.
- INP = |true matches| / rank of the last (hardest) true match; mINP over queries (Ye et al. 2021,
  "Deep Learning for Person Re-identification: A Survey and Outlook", TPAMI).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EXCLUDE = ("camera", "identity_camera", "none")


def evaluate_ranking(
    distances: np.ndarray,
    query_ids: Sequence, gallery_ids: Sequence,
    query_cams: Sequence[int], gallery_cams: Sequence[int],
    ranks: Sequence[int] = (1, 5, 10),
    exclude: str = "camera",
) -> dict:
    """Metrics of a ``[Q, G]`` distance matrix. Returns ``{"rank-1": ..., "mAP": ..., "mINP": ...,
    "cmc": [...], "queries": n_valid, "skipped_queries": n}``, fractions in [0, 1]."""
    if exclude not in EXCLUDE:
        raise ValueError(f"exclude must be one of {EXCLUDE}, got {exclude!r}")
    distances = np.asarray(distances, dtype=np.float64)
    q_ids, g_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    q_cams, g_cams = np.asarray(query_cams), np.asarray(gallery_cams)
    if distances.shape != (len(q_ids), len(g_ids)):
        raise ValueError(f"distances are {distances.shape}, expected ({len(q_ids)}, {len(g_ids)})")
    max_rank = max(ranks)
    cmc_sum = np.zeros(max_rank)
    aps, inps = [], []
    for i in range(len(q_ids)):
        order = np.argsort(distances[i], kind="stable")
        same_cam = g_cams[order] == q_cams[i]
        same_id = g_ids[order] == q_ids[i]
        if exclude == "camera":
            keep = ~same_cam
        elif exclude == "identity_camera":
            keep = ~(same_cam & same_id)
        else:
            keep = np.ones_like(same_cam)
        matches = same_id[keep]
        if not matches.any():
            continue
        hits = np.flatnonzero(matches)  # 0-based ranks of the true matches
        first = hits[0]
        if first < max_rank:
            cmc_sum[first:] += 1
        precision_at_hits = np.arange(1, len(hits) + 1) / (hits + 1)
        aps.append(precision_at_hits.mean())
        inps.append(len(hits) / (hits[-1] + 1))
    n = len(aps)
    cmc = cmc_sum / n if n else np.zeros(max_rank)
    out = {f"rank-{k}": float(cmc[k - 1]) for k in ranks}
    out |= {
        "mAP": float(np.mean(aps)) if n else 0.0,
        "mINP": float(np.mean(inps)) if n else 0.0,
        "cmc": cmc.tolist(),
        "queries": n,
        "skipped_queries": len(q_ids) - n,
        "exclude": exclude,
    }
    return out


def cosine_distance(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """``1 - cos`` between rows (inputs need not be normalised)."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True).clip(min=1e-12)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True).clip(min=1e-12)
    return 1.0 - q @ g.T
