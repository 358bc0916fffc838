"""Self-supervised losses.

- :func:`negative_cosine_similarity` / :func:`symmetric_negative_cosine`: SimSiam's
  D(p, stopgrad(z)) = -cos(p, z) and L = D(p1, z2)/2 + D(p2, z1)/2 (Chen & He, CVPR 2021, Eq. 1-4).
  BYOL (Grill et al., NeurIPS 2020) minimises 2 - 2 cos, the same objective up to scale and shift.
- :func:`nt_xent`: SimCLR's normalised temperature-scaled cross entropy (Chen et al., ICML 2020,
  Eq. 1): for each of the 2N views, its positive against all 2N - 2 other views as negatives,
  gathered across processes under DDP.
- :func:`info_nce`: MoCo's InfoNCE (He et al., CVPR 2020, Eq. 1; Oord et al. 2018) with a queue of
  negative keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vehiclekit.training.ssl.distributed import gather_with_grad, rank


def negative_cosine_similarity(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """-cos(p, stopgrad(z)), averaged over the batch: no gradient reaches ``z``."""
    return -F.cosine_similarity(p, z.detach(), dim=1).mean()


def symmetric_negative_cosine(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """SimSiam's symmetrised loss: each view's prediction against the other view's stopped target."""
    return 0.5 * (negative_cosine_similarity(p1, z2) + negative_cosine_similarity(p2, z1))


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent over the two views ``z1[i]``, ``z2[i]`` of N images (this process's share of the batch).

    Each of the 2N local views is scored against every view of the global batch (all processes) but
    itself: its positive is the other view of the same image, the remaining 2M - 2 views (M images
    in the global batch) are negatives. Mean over the local views.
    """
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    n = z1.shape[0]
    all1, all2 = gather_with_grad(z1), gather_with_grad(z2)
    m = all1.shape[0]
    logits = torch.cat([z1, z2]) @ torch.cat([all1, all2]).T / temperature  # [2N, 2M]
    own = torch.arange(n, device=z1.device) + rank() * n  # this process's images in the global batch
    self_columns = torch.cat([own, own + m])
    positive_columns = torch.cat([own + m, own])
    is_self = torch.zeros_like(logits, dtype=torch.bool)
    is_self[torch.arange(2 * n, device=z1.device), self_columns] = True
    logits = logits.masked_fill(is_self, float("-inf"))
    return F.cross_entropy(logits, positive_columns)


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """InfoNCE for L2-normalised queries ``q`` [N, d], their positive keys ``k`` [N, d] (no gradient)
    and ``queue`` [K, d] of negative keys: cross entropy with the positive as class 0 of K + 1."""
    positive = (q * k.detach()).sum(dim=1, keepdim=True)
    negative = q @ queue.detach().T
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))
