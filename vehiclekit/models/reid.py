"""Re-identification network: backbone + (GeM) pooling + BNNeck + ID classifier.

The "strong baseline" of Luo et al. 2019, "Bag of Tricks and A Strong Baseline for Deep Person
Re-identification" (CVPR-W; also fast-reid's BoT): the pooled feature ``f_t`` feeds the triplet
loss; a BatchNorm1d without a learnable shift (the *BNNeck*) turns it into ``f_i``, which feeds a
bias-free linear ID classifier during training and, L2-normalised, is the retrieval embedding at
inference. Generalized-mean pooling (GeM, Radenović et al. 2018, "Fine-tuning CNN Image Retrieval
with No Human Annotation", TPAMI) replaces average pooling in the vehicle configs. The exported
embedder may average the embeddings of the image and its mirror image (test-time flip, as
fast-reid's ``TEST.FLIP``), which a left-right symmetric object like a vehicle seen from two
sides benefits from.

Layer names are part of the checkpoint format and stay fixed: ``backbone.*`` (exactly the
``build_backbone`` module, so a ``train-vehicle pretrain`` backbone loads into it unchanged),
``pool`` (``pool.p`` with GeM), ``bottleneck`` (the BNNeck) and ``classifier``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vehiclekit.models.factory import build_backbone


class GeM(nn.Module):
    """Generalized-mean pooling ``(mean(x^p))^(1/p)`` over H, W with a learnable ``p`` (Radenović
    et al.): p = 1 is average pooling, p -> inf max pooling. Inputs are clamped at ``eps`` (they
    follow a ReLU, so only exact zeros change)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learnable: bool = True):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)), requires_grad=learnable)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=self.eps).pow(self.p).mean(dim=(-2, -1)).pow(1.0 / self.p)


class AvgPool(nn.Module):
    """Global average pooling to ``[N, C]`` (the backbone's own pooling, flattened)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


class ReidNet(nn.Module):
    """``forward`` returns ``(f_t, f_i, logits)``: the pooled feature (triplet loss), the BNNeck
    feature (retrieval) and the ID logits (cross-entropy). :meth:`embed` is the L2-normalised
    ``f_i``, what :class:`ReidEmbedder` exports."""

    def __init__(self, arch: str, num_classes: int, gem: bool = False, imagenet: bool = False, **backbone_options):
        super().__init__()
        self.arch = arch
        self.backbone = build_backbone(arch, imagenet, **backbone_options)
        self.pool = GeM() if gem else AvgPool()
        dim = self.backbone.num_features
        self.bottleneck = nn.BatchNorm1d(dim)
        self.bottleneck.bias.requires_grad_(False)  # BNNeck: no shift (Luo et al. 2019, Sec. 4.3)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.num_features = dim

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """``f_t``: the backbone's last feature map, pooled (``self.pool``)."""
        return self.pool(self.backbone.feature_map(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f_t = self.pooled(x)
        f_i = self.bottleneck(f_t)
        return f_t, f_i, self.classifier(f_i)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The retrieval embedding: BNNeck feature, L2-normalised (cosine similarity = dot product)."""
        return F.normalize(self.bottleneck(self.pooled(x)), dim=1)


class ReidEmbedder(nn.Module):
    """Export wrapper: images ``[N, 3, H, W]`` -> L2-normalised embeddings ``[N, D]``. With ``flip``
    the BNNeck features of the image and of its mirror image are summed before normalising (twice
    the compute, one embedding)."""

    def __init__(self, model: ReidNet, flip: bool = False):
        super().__init__()
        self.model = model
        self.flip = flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.flip:
            return self.model.embed(x)
        features = self.model.bottleneck(self.model.pooled(torch.cat([x, x.flip(-1)])))
        n = x.shape[0]
        return F.normalize(features[:n] + features[n:], dim=1)


class BackboneEmbedder(nn.Module):
    """A bare backbone's average-pooled feature, L2-normalised: the zero-label re-ID baseline
    (random or self-supervised initialisation, no ID training)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x), dim=1)
