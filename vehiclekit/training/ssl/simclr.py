"""SimCLR: Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
ICML 2020.

Both views of the N images go through one backbone and a 2-layer projection head in a single batch
(BN over all 2N views, as the official code; across processes under DDP with synchronised BN); the
NT-Xent loss scores each view's positive against the other 2N − 2 views of the global batch.
Temperature 0.5, the paper's choice for small batches (0.1 at 4096).
"""

from __future__ import annotations

import torch
from torch import nn

from vehiclekit.models.factory import build_backbone
from vehiclekit.training.ssl.heads import simclr_projection_head
from vehiclekit.training.ssl.losses import nt_xent


class SimCLR(nn.Module):
    def __init__(self, arch: str, temperature: float = 0.5, **backbone):
        super().__init__()
        self.temperature = temperature
        self.backbone = build_backbone(arch, **backbone)
        self.projection_head = simclr_projection_head(self.backbone.num_features)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        z1, z2 = self.projection_head(self.backbone(torch.cat([view1, view2]))).chunk(2)
        return nt_xent(z1, z2, self.temperature)
