"""What a pretraining run reports every N epochs (``--eval-every``), in ``history.json`` and
``monitor.png``:

- kNN accuracy (:mod:`knn`: k = 200, cosine, weights exp(sim / 0.1)) of the backbone features on the
  labelled vehicle-types val split, with the train split as the memory bank;
- the collapse signal of SimSiam (Chen & He, CVPR 2021, §4.1 and Fig. 2): the standard deviation
  over images of each channel of the L2-normalised output z / ||z||, averaged over channels. It is
  ≈ 1/√d for a healthy d-dimensional embedding and → 0 when the outputs collapse to a constant, so
  it is reported as std · √d (≈ 1 healthy), for the projector output z (the paper's measure) and
  for the backbone features (non-negative after ReLU + pooling, so lower even when healthy);
- the loss, per epoch and per step.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vehiclekit.training.classifier.train import predict_logits
from vehiclekit.training.core.datasets import ImageDataset, load_vehicle_types
from vehiclekit.training.ssl.knn import knn_predict
from vehiclekit.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from vehiclekit.training.core.transforms import eval_transform


def normalized_std_ratio(x: torch.Tensor) -> float:
    """Mean per-channel std of the L2-normalised rows of ``x`` [N, d], times √d (≈ 1 healthy, 0 collapsed)."""
    return (F.normalize(x, dim=1).std(dim=0).mean() * math.sqrt(x.shape[1])).item()


class Monitor:
    """kNN accuracy and collapse signal on vehicle-types (val scored, train as the memory bank)."""

    def __init__(self, root: Path, img_size: int, batch_size: int = 256, k: int = 200, temperature: float = 0.1,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD):
        train, val = load_vehicle_types(root, "train"), load_vehicle_types(root, "val")
        self.num_classes, self.batch_size, self.k, self.temperature = len(train.classes), batch_size, k, temperature
        self.bank = ImageDataset(train, eval_transform(img_size, mean, std), "decode kNN bank")
        self.val = ImageDataset(val, eval_transform(img_size, mean, std), "decode kNN val")

    @torch.no_grad()
    def __call__(self, backbone: nn.Module, projection_head: nn.Module) -> dict[str, float]:
        # On CPU copies: the training modules keep their mode and device (a GPU run is monitored on CPU).
        backbone, projection_head = copy.deepcopy(backbone).cpu(), copy.deepcopy(projection_head).cpu()
        bank, bank_labels = predict_logits(backbone, self.bank, self.batch_size)
        features, labels = predict_logits(backbone, self.val, self.batch_size)
        predicted = knn_predict(features, bank, bank_labels, self.num_classes, self.k, self.temperature)
        projection_head.eval()
        z = projection_head(features)
        return {
            "knn_acc": (predicted == labels).float().mean().item(),
            "collapse_z": normalized_std_ratio(z),
            "collapse_features": normalized_std_ratio(features),
        }


def plot_history(history: list[dict], path: Path, title: str) -> None:
    """Loss (per step and per epoch), kNN accuracy and the collapse signal against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_knn, ax_std) = plt.subplots(1, 3, figsize=(14, 4))
    trained = [h for h in history if "loss" in h]
    for h in trained:
        steps = h["loss_steps"]
        ax_loss.plot([h["epoch"] - 1 + (i + 1) / len(steps) for i in range(len(steps))], steps, color="0.75", lw=0.8)
    ax_loss.plot([h["epoch"] for h in trained], [h["loss"] for h in trained], "o-", label="epoch mean")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="training loss")
    ax_loss.legend()
    monitored = [h for h in history if "knn_acc" in h]
    epochs = [h["epoch"] for h in monitored]
    ax_knn.plot(epochs, [h["knn_acc"] for h in monitored], "o-")
    ax_knn.set(xlabel="epoch (0 = initialisation)", ylabel="accuracy", title="kNN accuracy, vehicle-types val")
    ax_std.plot(epochs, [h["collapse_z"] for h in monitored], "o-", label="projector output z")
    ax_std.plot(epochs, [h["collapse_features"] for h in monitored], "s-", label="backbone features")
    ax_std.axhline(1.0, color="0.5", ls="--", lw=0.8)
    ax_std.set(xlabel="epoch", ylabel="std · √d", title="collapse signal (1 healthy, 0 collapsed)", ylim=(0, None))
    ax_std.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
