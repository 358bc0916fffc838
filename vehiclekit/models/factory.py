"""One place that maps backbone names to builders (in the spirit of timm's registry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from vehiclekit.models import efficientnet_lite
from vehiclekit.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from vehiclekit.models.resnet import ResNet


@dataclass(frozen=True)
class BackboneSpec:
    """How to build a backbone (``build(imagenet, **options)``) and the input normalisation it expects."""

    build: Callable[..., nn.Module]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    has_imagenet_weights: bool = False


def _resnet(layers, width):
    def build(imagenet: bool = False, **options) -> nn.Module:
        if imagenet or options:
            raise ValueError(f"resnet backbones have no ImageNet weights or options here, got {options}")
        return ResNet(layers, width)

    return build


BACKBONES: dict[str, BackboneSpec] = {
    "resnet18": BackboneSpec(_resnet((2, 2, 2, 2), 64)),
    "resnet18-half": BackboneSpec(_resnet((2, 2, 2, 2), 32)),
    **{
        f"efficientnet-{v}": BackboneSpec(
            lambda imagenet=False, v=v, **options: efficientnet_lite.EfficientNetLite(v, imagenet, **options),
            efficientnet_lite.MEAN, efficientnet_lite.STD, has_imagenet_weights=True,
        )
        for v in efficientnet_lite.WEIGHTS
    },
}


#: The backbone of a run from a random start, and of one from ImageNet weights (the shipped models').
DEFAULT_ARCH, IMAGENET_ARCH = "resnet18-half", "efficientnet-lite0"


def imagenet_backbones() -> list[str]:
    """The backbones that have ImageNet weights."""
    return sorted(name for name, spec in BACKBONES.items() if spec.has_imagenet_weights)


def resolve_arch(arch: str | None, init: str | None) -> str:
    """A command's ``--arch``: as given, else :data:`IMAGENET_ARCH` with ``--init imagenet`` and
    :data:`DEFAULT_ARCH` otherwise; ``--init imagenet`` with a backbone without ImageNet weights
    stops at once with a one-line message (before any data is read)."""
    if arch is None:
        return IMAGENET_ARCH if init == "imagenet" else DEFAULT_ARCH
    if init == "imagenet" and not backbone_spec(arch).has_imagenet_weights:
        raise SystemExit(f"--init imagenet: --arch {arch} has no ImageNet weights; use one of "
                         f"{', '.join(imagenet_backbones())} (default with --init imagenet: {IMAGENET_ARCH})")
    return arch


def backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name]


def build_backbone(name: str, imagenet: bool = False, **options) -> nn.Module:
    """A backbone, freshly initialised or (``imagenet``) with its ImageNet weights; its
    ``num_features`` is the feature dimension. ``options`` go to the builder (e.g. ``frozen_blocks``)."""
    spec = backbone_spec(name)
    if imagenet and not spec.has_imagenet_weights:
        raise ValueError(f"backbone {name!r} has no ImageNet weights; choose one of {imagenet_backbones()}")
    return spec.build(imagenet=imagenet, **options)


class Classifier(nn.Module):
    """Backbone + dropout + linear head. ``dropout`` > 0 gives MC-dropout for UPS later."""

    def __init__(self, backbone: str, num_classes: int, dropout: float = 0.0, imagenet: bool = False, **options):
        super().__init__()
        self.backbone_name = backbone
        self.backbone = build_backbone(backbone, imagenet, **options)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.num_features, num_classes)

    def forward(self, x):
        return self.head(self.dropout(self.backbone(x)))
