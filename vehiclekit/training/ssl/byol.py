"""BYOL: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
NeurIPS 2020.

An online network (backbone, projector, predictor) predicts the projection a target network gives
of the other view; the target is an EMA of the online backbone and projector, its momentum rising
from 0.996 to 1 on a cosine schedule over training. Symmetric loss over both view orders. The loss
is the negative cosine (BYOL's 2 − 2 cos up to scale and shift, the form lightly uses); see
docs/ssl.md for the optimiser (SGD instead of LARS at small batches).

Dimensions scale with the backbone: the paper's 4096 hidden / 256 out on ResNet-50's 2048 features
becomes 2 × features hidden / features ÷ 2 out (512 / 128 for ``resnet18-half``).
"""

from __future__ import annotations

import torch
from torch import nn

from vehiclekit.models.factory import build_backbone
from vehiclekit.training.ssl.heads import prediction_mlp, projection_mlp
from vehiclekit.training.ssl.losses import symmetric_negative_cosine
from vehiclekit.training.ssl.momentum import cosine_momentum, ema_update, frozen_copy


class BYOL(nn.Module):
    def __init__(self, arch: str, momentum: float = 0.996, **backbone):
        super().__init__()
        self.momentum = momentum
        self.backbone = build_backbone(arch, **backbone)
        features = self.backbone.num_features
        self.projection_head = projection_mlp(features, 2 * features, features // 2)
        self.prediction_head = prediction_mlp(features // 2, 2 * features)
        self.target_backbone = frozen_copy(self.backbone)
        self.target_projection_head = frozen_copy(self.projection_head)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        p1 = self.prediction_head(self.projection_head(self.backbone(view1)))
        p2 = self.prediction_head(self.projection_head(self.backbone(view2)))
        with torch.no_grad():
            t1 = self.target_projection_head(self.target_backbone(view1))
            t2 = self.target_projection_head(self.target_backbone(view2))
        return symmetric_negative_cosine(p1, p2, t1, t2)

    @torch.no_grad()
    def update_target(self, step: int, total_steps: int) -> None:
        """EMA step after the optimiser step ``step`` of ``total_steps``."""
        tau = cosine_momentum(step, total_steps, base=self.momentum)
        ema_update(self.target_backbone, self.backbone, tau)
        ema_update(self.target_projection_head, self.projection_head, tau)
