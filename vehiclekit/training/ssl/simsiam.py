"""SimSiam: Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021
(facebookresearch/simsiam).

Two views pass through one encoder f (backbone + 3-layer projection MLP with BN on every layer) and
a bottleneck predictor h; the loss is the symmetric negative cosine between h(f(x1)) and
stopgrad(f(x2)). No negatives and no momentum encoder: the stop-gradient prevents collapse (§4).
Each view is a separate forward pass, so BN statistics are per view as in the official code.

Dimensions scale with the backbone: the paper's 2048-d projector / 512-d predictor bottleneck sit
on ResNet-50's 2048 features; here the projector is 2 × the backbone's features (512 for
``resnet18-half``) and the predictor keeps the paper's 4× bottleneck (128).
"""

from __future__ import annotations

import torch
from torch import nn

from vehiclekit.models.factory import build_backbone
from vehiclekit.training.ssl.heads import prediction_mlp, projection_mlp
from vehiclekit.training.ssl.losses import symmetric_negative_cosine


class SimSiam(nn.Module):
    def __init__(self, arch: str, **backbone):
        super().__init__()
        self.backbone = build_backbone(arch, **backbone)
        dim = 2 * self.backbone.num_features
        self.projection_head = projection_mlp(self.backbone.num_features, dim, dim, num_layers=3, output_bn=True)
        self.prediction_head = prediction_mlp(dim, dim // 4)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        z1 = self.projection_head(self.backbone(view1))
        z2 = self.projection_head(self.backbone(view2))
        return symmetric_negative_cosine(self.prediction_head(z1), self.prediction_head(z2), z1, z2)
