"""Weighted k-nearest-neighbour classifier on frozen features, the usual self-supervised monitor
(Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance Discrimination", CVPR 2018,
§3.4; the kNN benchmark of lightly and solo-learn): cosine similarity, the k = 200 most similar
memory-bank samples vote for their class with weight exp(similarity / 0.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_predict(
    features: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, num_classes: int,
    k: int = 200, temperature: float = 0.1,
) -> torch.Tensor:
    """Predicted class of each row of ``features`` [N, d] from the memory ``bank`` [M, d] with labels [M]."""
    similarity = F.normalize(features, dim=1) @ F.normalize(bank, dim=1).T
    top_similarity, top_index = similarity.topk(min(k, bank.shape[0]), dim=1)
    votes = torch.zeros(features.shape[0], num_classes, dtype=similarity.dtype, device=similarity.device)
    votes.scatter_add_(1, bank_labels[top_index], (top_similarity / temperature).exp())
    return votes.argmax(dim=1)
