"""MoCo v2: He et al., "Momentum Contrast for Unsupervised Visual Representation Learning",
CVPR 2020, with the v2 changes of Chen et al., "Improved Baselines with Momentum Contrastive
Learning", 2020 (MLP head, blur augmentation, cosine learning rate).

A query encoder (backbone + MLP head) and a momentum key encoder (its EMA); each query is
contrasted with its key (the other view) against a queue of keys from earlier batches (InfoNCE,
temperature 0.2). Asymmetric as in the paper: queries from view 1, keys from view 2. Keys of all
processes enter the queue under DDP (the official ``concat_all_gather``). Batch norm: the official
code shuffles the key batch across GPUs ("shuffle BN") to stop BN leaking which key is positive;
here BN covers the whole key batch (synchronised across processes under DDP, as MoCo v3 does).

Small-data deviations (docs/ssl.md): queue 4096 instead of 65,536 (≈ half the pooled unlabeled set,
keys at most 32 steps old at batch 128) and momentum 0.99 instead of 0.999 (≈ 64 steps per epoch
instead of ImageNet's 5,000, so the key encoder must follow the query encoder faster).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vehiclekit.models.factory import build_backbone
from vehiclekit.training.ssl.distributed import gather
from vehiclekit.training.ssl.heads import moco_projection_head
from vehiclekit.training.ssl.losses import info_nce
from vehiclekit.training.ssl.momentum import ema_update, frozen_copy
from vehiclekit.training.ssl.queue import KeyQueue


class MoCo(nn.Module):
    def __init__(self, arch: str, queue_size: int = 4096, temperature: float = 0.2, momentum: float = 0.99, dim: int = 128,
                 **backbone):
        super().__init__()
        self.temperature, self.momentum = temperature, momentum
        self.backbone = build_backbone(arch, **backbone)
        self.projection_head = moco_projection_head(self.backbone.num_features, dim)
        self.key_backbone = frozen_copy(self.backbone)
        self.key_projection_head = frozen_copy(self.projection_head)
        self.queue = KeyQueue(queue_size, dim)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        q = F.normalize(self.projection_head(self.backbone(view1)), dim=1)
        with torch.no_grad():
            k = F.normalize(self.key_projection_head(self.key_backbone(view2)), dim=1)
        # The queue is updated in place below, after the loss has used (a copy of) its current keys.
        loss = info_nce(q, k, self.queue.keys.clone(), self.temperature)
        self.queue.enqueue(gather(k))
        return loss

    @torch.no_grad()
    def update_target(self, step: int, total_steps: int) -> None:
        """Momentum update of the key encoder after each optimiser step (constant momentum)."""
        ema_update(self.key_backbone, self.backbone, self.momentum)
        ema_update(self.key_projection_head, self.projection_head, self.momentum)
