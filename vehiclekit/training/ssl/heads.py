"""Projection and prediction MLPs of the self-supervised methods.

- SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021): a 3-layer
  projection MLP with BN on every layer, the output included (no ReLU after it), and a 2-layer
  bottleneck prediction MLP with BN + ReLU in its hidden layer only.
- BYOL (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020): 2-layer projection and prediction
  MLPs, Linear-BN-ReLU-Linear (4096 hidden, 256 out for ResNet-50).
- SimCLR (Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
  ICML 2020): a 2-layer projection head g(h) = W2 ReLU(BN(W1 h)) with a 128-d output.
- MoCo v2 (Chen et al., "Improved Baselines with Momentum Contrastive Learning", 2020): a 2-layer
  MLP head without BN, Linear-ReLU-Linear with a 128-d output.
"""

from __future__ import annotations

from torch import nn


def projection_mlp(
    in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2, batch_norm: bool = True, output_bn: bool = False
) -> nn.Sequential:
    """``num_layers`` linear layers, each hidden one followed by BN (if ``batch_norm``) and ReLU.

    ``output_bn`` ends with a BN without affine parameters, as SimSiam's official code
    (``BatchNorm1d(dim, affine=False)``). A linear layer followed by BN has no bias: BN's shift
    replaces it (the official code freezes that bias instead; the function is the same).
    """
    dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == num_layers - 1
        followed_by_bn = output_bn if last else batch_norm
        layers.append(nn.Linear(d_in, d_out, bias=not followed_by_bn))
        if last:
            if output_bn:
                layers.append(nn.BatchNorm1d(d_out, affine=False))
        else:
            if batch_norm:
                layers.append(nn.BatchNorm1d(d_out))
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def prediction_mlp(dim: int, hidden_dim: int) -> nn.Sequential:
    """The SimSiam / BYOL predictor h: ``dim`` -> ``hidden_dim`` (BN, ReLU) -> ``dim``.

    SimSiam uses a bottleneck (2048 -> 512 -> 2048); BYOL a wider hidden layer (256 -> 4096 -> 256).
    """
    return projection_mlp(dim, hidden_dim, dim, num_layers=2)


def simclr_projection_head(in_dim: int, out_dim: int = 128) -> nn.Sequential:
    """SimCLR's g: Linear(in, in) - BN - ReLU - Linear(in, 128), BN as in the official code."""
    return projection_mlp(in_dim, in_dim, out_dim, num_layers=2)


def moco_projection_head(in_dim: int, out_dim: int = 128) -> nn.Sequential:
    """MoCo v2's MLP head: Linear(in, in) - ReLU - Linear(in, 128), no BN (official ``--mlp``)."""
    return projection_mlp(in_dim, in_dim, out_dim, num_layers=2, batch_norm=False)
