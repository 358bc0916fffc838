"""ResNet backbones built from torchvision's ``BasicBlock`` with a configurable width.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016. torchvision's ``ResNet``
hard-codes 64 stem channels; the zoo needs a narrower ResNet-18 so a shipped ONNX stays under
12 MB (width 64: 11.2 M parameters, 45 MB; width 32: 2.8 M parameters, 11 MB), so this module
composes torchvision's block into the same layout with ``width`` stem channels.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1


class ResNet(nn.Module):
    """ResNet with BasicBlocks. ``forward`` returns the pooled feature vector (``self.num_features``)."""

    def __init__(self, layers: tuple[int, ...] = (2, 2, 2, 2), width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        stages, inplanes = [], width
        for i, blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            stages.append(self._stage(inplanes, planes, blocks, stride))
            inplanes = planes
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each block (Goyal et al. 2017), as torchvision's zero_init_residual.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    @staticmethod
    def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or inplanes != planes:
            downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(inplanes, planes, stride, downsample)]
        layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's output ``[N, num_features, h, w]``, before pooling (re-ID pools it its own way)."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.feature_map(x)), 1)
