"""Momentum (exponential moving average) target networks.

BYOL (Grill et al., NeurIPS 2020, §3.1): the target's weights are an EMA of the online network's,
ξ ← τξ + (1 − τ)θ, with τ rising from τ_base = 0.996 to 1 on a cosine schedule,
τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2 at step k of K. MoCo (He et al., CVPR 2020, Eq. 2) updates
its key encoder the same way with a constant momentum.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` that no optimiser updates (``requires_grad=False``)."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target ← τ·target + (1 − τ)·online, parameter by parameter. Buffers (BN statistics) are the
    target's own: it runs in training mode and keeps its running statistics itself."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.lerp_(o, 1 - tau)


def cosine_momentum(step: int, total_steps: int, base: float = 0.996, final: float = 1.0) -> float:
    """BYOL's schedule: ``base`` at step 0, ``final`` at ``total_steps``, cosine in between."""
    progress = min(step / max(total_steps, 1), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
