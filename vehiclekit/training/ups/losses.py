"""Negative-learning loss of UPS (Rizve et al., "In Defense of Pseudo-Labeling", ICLR 2021, Eq. 6;
Kim et al., "NLNL: Negative Learning for Noisy Labels", ICCV 2019)."""

from __future__ import annotations

import torch


def negative_learning_loss(logits: torch.Tensor, negative_mask: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Mean over samples with at least one negative class of ``-sum_c m_c log(1 - p_c) / sum_c m_c``,
    ``p = softmax(logits)``. Zero (still differentiable) when no sample has a negative class."""
    mask = negative_mask.to(logits.dtype)
    per_class = -torch.log((1 - torch.softmax(logits, dim=1)).clamp_min(eps)) * mask
    counts = mask.sum(1)
    rows = counts > 0
    if not bool(rows.any()):
        return logits.sum() * 0.0
    return (per_class.sum(1)[rows] / counts[rows]).mean()
