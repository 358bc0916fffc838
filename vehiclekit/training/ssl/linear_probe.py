"""Linear evaluation on frozen, precomputed features: multinomial logistic regression with an L2
penalty, fitted by L-BFGS on standardised features, the penalty chosen on the validation split
(the protocol of Kornblith et al., "Do Better ImageNet Models Transfer Better?", CVPR 2019, used
by SimCLR's transfer experiments). Deterministic and seconds long on a CPU: the backbone runs once
per image, not once per epoch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# L2 penalties tried (on features standardised with the training split's mean and std)
PENALTIES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def fit_linear(x: torch.Tensor, y: torch.Tensor, num_classes: int, penalty: float, max_iter: int = 500) -> nn.Linear:
    """Logistic regression: minimise cross entropy + ``penalty``/2 · ||W||² with L-BFGS."""
    linear = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(x), y) + penalty / 2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return linear


def linear_probe(
    train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], num_classes: int,
    penalties: tuple[float, ...] = PENALTIES,
) -> tuple[nn.Linear, dict[float, float]]:
    """The linear classifier (on raw features) with the best validation accuracy over ``penalties``,
    and the validation accuracy of each penalty. ``train``/``val`` are ``(features, labels)``."""
    mean, std = train[0].mean(0), train[0].std(0).clamp_min(1e-6)
    x_train, x_val = (train[0] - mean) / std, (val[0] - mean) / std
    val_accuracy: dict[float, float] = {}
    best, best_accuracy = None, -1.0
    for penalty in penalties:
        linear = fit_linear(x_train, train[1], num_classes, penalty)
        with torch.no_grad():
            val_accuracy[penalty] = (linear(x_val).argmax(1) == val[1]).float().mean().item()
        if val_accuracy[penalty] > best_accuracy:
            best, best_accuracy = linear, val_accuracy[penalty]
    # Fold the standardisation into the layer: W (x - mean) / std + b = (W / std) x + b - W mean / std.
    with torch.no_grad():
        best.bias -= (best.weight * mean / std).sum(1)
        best.weight /= std
    return best, val_accuracy
