"""One place that maps backbone names to builders (in the spirit of timm's registry)."""

from __future__ import annotations

from typing import Callable

from torch import nn

from vehiclekit.models.resnet import ResNet

BACKBONES: dict[str, Callable[[], nn.Module]] = {
    "resnet18": lambda: ResNet((2, 2, 2, 2), width=64),
    "resnet18-half": lambda: ResNet((2, 2, 2, 2), width=32),
}


def build_backbone(name: str) -> nn.Module:
    """A freshly initialised backbone; its ``num_features`` is the feature dimension."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name]()


class Classifier(nn.Module):
    """Backbone + dropout + linear head. ``dropout`` > 0 gives MC-dropout for UPS later."""

    def __init__(self, backbone: str, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.backbone_name = backbone
        self.backbone = build_backbone(backbone)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.num_features, num_classes)

    def forward(self, x):
        return self.head(self.dropout(self.backbone(x)))
