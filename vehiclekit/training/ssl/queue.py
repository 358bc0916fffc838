"""MoCo's dictionary as a queue (He et al., "Momentum Contrast for Unsupervised Visual
Representation Learning", CVPR 2020, §3.2): the keys of the most recent mini-batches are kept as
negatives; each new batch of keys replaces the oldest ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KeyQueue(nn.Module):
    """A FIFO of ``size`` L2-normalised keys of dimension ``dim`` (buffers: saved in checkpoints and
    broadcast by DDP). Starts with random unit vectors, as the official code."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` over the oldest entries (wrapping around); with more keys than ``size``, the
        last ``size`` are kept."""
        size = self.keys.shape[0]
        keys = keys[-size:]
        slots = (self.ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.keys[slots] = keys
        self.ptr.copy_((self.ptr + keys.shape[0]) % size)
