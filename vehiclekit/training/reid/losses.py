"""Re-ID losses of the "bag of tricks" baseline (Luo et al. 2019): cross-entropy with label smoothing
0.1 on the BNNeck logits + batch-hard triplet loss, margin 0.3, on the pre-BN feature.

Batch-hard triplet: Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss for Person
Re-Identification" — for every anchor, its farthest positive and nearest negative in the batch,
``mean(relu(d(a, p_hard) - d(a, n_hard) + margin))`` with Euclidean distances.
"""

from __future__ import annotations

import torch
from torch import nn


def pairwise_euclidean(x: torch.Tensor) -> torch.Tensor:
    """``[N, N]`` Euclidean distances (clamped before the sqrt for a finite gradient at 0)."""
    sq = (x * x).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * x @ x.t()
    return d2.clamp(min=1e-12).sqrt()


def hard_mining(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per anchor: the distance to and index of the hardest positive (farthest same-label sample,
    the anchor itself included: distance 0 when it has no other positive) and hardest negative
    (nearest other-label sample). Returns ``(d_ap, d_an, pos_index, neg_index)``."""
    same = labels[:, None] == labels[None, :]
    d_ap, pos_index = dist.masked_fill(~same, float("-inf")).max(1)
    d_an, neg_index = dist.masked_fill(same, float("inf")).min(1)
    return d_ap, d_an, pos_index, neg_index


def batch_hard_triplet(features: torch.Tensor, labels: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al. 2017) on un-normalised features, Euclidean distance."""
    d_ap, d_an, _, _ = hard_mining(pairwise_euclidean(features), labels)
    return torch.relu(d_ap - d_an + margin).mean()


class ReidLoss(nn.Module):
    """``CE_ls(logits) + triplet(f_t)``, equal weights as in the baseline. Returns the total and its parts."""

    def __init__(self, label_smoothing: float = 0.1, margin: float = 0.3):
        super().__init__()
        self.ce = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.margin = margin

    def forward(self, f_t: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        ce = self.ce(logits, labels)
        tri = batch_hard_triplet(f_t, labels, self.margin)
        return ce + tri, {"ce": ce.item(), "triplet": tri.item()}
