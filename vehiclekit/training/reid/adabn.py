"""AdaBN: adapt a trained network to a new camera without labels by re-estimating its BatchNorm
statistics on that camera's images (Li, Wang, Shi, Liu, Hou 2016, "Revisiting Batch Normalization
For Practical Domain Adaptation"). Weights are untouched; only each BatchNorm layer's running mean
and variance become the averages over the given images.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, images: Dataset, batch_size: int = 64) -> nn.Module:
    """Replace every BatchNorm layer's running statistics of ``model`` by their average over
    ``images`` (batches of ``(tensor, label)``, labels unused); returns ``model`` in eval mode."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        raise ValueError("the model has no BatchNorm layer: AdaBN has nothing to adapt (was BatchNorm folded?)")
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None            # cumulative average over every batch, not an exponential one
    model.eval()
    for layer in layers:
        layer.train()
    for x, _ in DataLoader(images, batch_size):
        model(x)
    return model.eval()
