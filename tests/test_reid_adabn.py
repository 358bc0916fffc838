"""AdaBN (evaluate-reid --adabn): BatchNorm statistics become the adaptation images' own; weights stay."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from vehiclekit.training.reid.adabn import adapt_batchnorm


def test_running_statistics_become_the_new_images_and_weights_stay():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    images = torch.randn(100, 3, 8, 8) * 3 + 5                              # another camera: brighter, more contrast
    adapt_batchnorm(model, TensorDataset(images, torch.zeros(100)), batch_size=25)   # 4 equal batches
    with torch.no_grad():
        features = model[0](images)
    bn = model[1]
    assert torch.allclose(bn.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(bn.running_var, features.var(dim=(0, 2, 3)), rtol=0.05)   # mean of per-batch unbiased variances
    assert not model.training and not bn.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())


def test_a_network_without_batchnorm_says_so():
    with pytest.raises(ValueError, match="no BatchNorm layer"):
        adapt_batchnorm(nn.Linear(3, 2), TensorDataset(torch.randn(4, 3), torch.zeros(4)))
