"""Frozen backbone features and a small head trained on them: the cheap protocol of the
active-learning and frozen label-efficiency studies, where a whole grid of label budgets, methods
and seeds runs on one CPU core because the backbone runs once per image.

A backbone start ("init") is ``random`` (resnet18-half, seeded: the architecture `train-vehicle
pretrain` trains by default), ``imagenet`` (efficientnet-lite0's ImageNet weights), a
``train-vehicle pretrain`` checkpoint, or the backbone of a trained classifier (a zoo name such as
``vehicle-type@2``, an exported ONNX file or a run folder). Features are extracted once per (task,
init, size) into a cache folder and standardised with the train split's per-dimension mean and std.
A task with test domains (:data:`TEST_DOMAINS`, e.g. held-out recording sessions) is also scored per
domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vehiclekit.models.factory import backbone_spec, build_backbone
from vehiclekit.paths import data_root
from vehiclekit.training.classifier import traffic_cctv_operator, vehicle_type_v2
from vehiclekit.training.classifier.train import predict_logits
from vehiclekit.training.classifier.warm_start import is_trained_model, load_trained
from vehiclekit.training.core.datasets import ImageDataset, load_stanford_cars, load_vehicle_types
from vehiclekit.training.core.transforms import eval_transform
from vehiclekit.training.ups.losses import negative_learning_loss
from vehiclekit.training.ups.selection import mc_dropout_logits

#: task -> (loader(root, split), input size in px). vehicle-types crops are 100 px; the v2 mix is a third
#: such crops and otherwise street photos with a longer side <= 256 px; Stanford Cars photos are larger
#: but kept at the same 128 px for one CPU core.
TASKS = {"vehicle-types": (load_vehicle_types, 128), "vehicle-type-v2": (vehicle_type_v2.load, 128),
         "stanford-cars-body": (lambda root, split: load_stanford_cars(root, "body_type", split), 128),
         "traffic-cctv-operator": (traffic_cctv_operator.load, 96)}
#: task -> the domain (e.g. held-out session) of a test image's path, for tasks scored per domain too.
TEST_DOMAINS = {"traffic-cctv-operator": traffic_cctv_operator.test_domain}
#: init -> backbone without a checkpoint.
INIT_ARCHS = {"random": "resnet18-half", "imagenet": "efficientnet-lite0"}


@dataclass(frozen=True)
class HeadConfig:
    """The linear head and how it is trained: Adam on cross-entropy, fixed steps, full batch
    (``batch_size`` 0) or random batches of ``batch_size`` rows (dropout's random numbers dominate
    the cost on this CPU: a full batch of 10k x 1280 features costs 0.2 s per step)."""

    dropout: float = 0.3
    steps: int = 200
    batch_size: int = 0
    lr: float = 0.01
    weight_decay: float = 1e-4
    mc_passes: int = 10
    tau_p: float = 0.70
    kappa_p: float = 0.05


@dataclass(frozen=True)
class Features:
    """Frozen features of the pool (train split) and the test split, standardised with the pool's
    per-dimension mean and std."""

    pool: torch.Tensor
    pool_labels: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    test_domains: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def init_backbone(init: str, checkpoint: str | None) -> tuple[nn.Module, str]:
    """The frozen backbone of ``init`` (``checkpoint`` when given: a ``train-vehicle pretrain``
    checkpoint, or a trained classifier such as the zoo's ``vehicle-type``) and its architecture name."""
    if checkpoint and is_trained_model(checkpoint):
        model, _ = load_trained(checkpoint)
        return model.backbone.eval(), model.backbone_name
    if checkpoint:
        from vehiclekit.training.ssl.evaluate import load_backbone

        return load_backbone(checkpoint, None)
    torch.manual_seed(0)
    arch = INIT_ARCHS[init]
    return build_backbone(arch, imagenet=init == "imagenet"), arch


def cache_tag(init: str, checkpoint: str | None) -> str:
    """The cache file's name for an init: a checkpoint is named by its run folder, a trained classifier by its name."""
    if checkpoint and is_trained_model(checkpoint):
        return f"model-{Path(checkpoint).stem if checkpoint.endswith('.onnx') else checkpoint.replace('@', '-v')}"
    return f"ssl-{Path(checkpoint).resolve().parent.name}" if checkpoint else init


def cached_features(task: str, init: str, checkpoint: str | None, cache: Path, data: str | None = None) -> tuple[Features, str]:
    """Features of ``task``'s train and test splits with ``init``'s backbone, extracted once into ``cache``."""
    loader, size = TASKS[task]
    path = Path(cache) / f"features-{task}-{cache_tag(init, checkpoint)}-{size}px.pt"
    if not path.exists():
        backbone, arch = init_backbone(init, checkpoint)
        spec = backbone_spec(arch)
        saved = {"arch": arch, "size": size}
        for split in ("train", "test"):
            split_data = loader(data_root(data), split)
            dataset = ImageDataset(split_data, eval_transform(size, spec.mean, spec.std), f"decode {task} {split}")
            x, y = predict_logits(backbone, dataset, 64)
            saved |= {split: x.clone(), f"{split}_labels": y.clone(), "classes": split_data.classes}
            if split == "test" and task in TEST_DOMAINS:
                saved["test_domains"] = [TEST_DOMAINS[task](path) for path in split_data.paths]
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(saved, path)
    saved = torch.load(path)
    mean, std = saved["train"].mean(0), saved["train"].std(0) + 1e-6
    feats = Features((saved["train"] - mean) / std, saved["train_labels"], (saved["test"] - mean) / std,
                     saved["test_labels"], tuple(saved["classes"]), tuple(saved.get("test_domains", ())))
    return feats, saved["arch"]


def train_head(x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int, cfg: HeadConfig,
               negative: torch.Tensor | None = None) -> nn.Module:
    """Dropout + linear layer trained full-batch on ``x``, ``y`` (deterministic given ``seed``).

    With ``negative`` (``[N, C]`` booleans), rows whose target is -1 carry only negative labels and
    the loss is cross-entropy over the rows with a target plus UPS's negative-learning loss over the
    rows with negatives (Rizve et al., ICLR 2021)."""
    torch.manual_seed(seed)
    head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(x.shape[1], num_classes))
    optimizer = torch.optim.Adam(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    head.train()
    for _ in range(cfg.steps):
        rows = torch.randint(len(x), (cfg.batch_size,)) if 0 < cfg.batch_size < len(x) else slice(None)
        optimizer.zero_grad()
        logits, targets = head(x[rows]), y[rows]
        has_target = targets >= 0
        loss = nn.functional.cross_entropy(logits[has_target], targets[has_target]) if has_target.any() else logits.sum() * 0.0
        if negative is not None:
            loss = loss + negative_learning_loss(logits, negative[rows])
        loss.backward()
        optimizer.step()
    return head.eval()


def mc_logits(head: nn.Module, x: torch.Tensor, passes: int) -> torch.Tensor:
    """``[passes, N, C]`` logits of MC-dropout passes of ``head`` over ``x``."""
    logits, _ = mc_dropout_logits(head, [(x, torch.zeros(len(x), dtype=torch.long))], passes)
    return logits


def score(head: nn.Module, feats: Features) -> dict:
    """Test accuracy and macro-F1 (over the classes in the test split) of ``head``'s deterministic
    predictions, and ``accuracy_<domain>`` per test domain when the task has them."""
    with torch.no_grad():
        predicted = head(feats.test).argmax(1)
    truth = feats.test_labels
    f1 = []
    for c in truth.unique():
        tp = int(((predicted == c) & (truth == c)).sum())
        f1.append(2 * tp / (int((predicted == c).sum()) + int((truth == c).sum())))
    right = predicted == truth
    per_domain = {f"accuracy_{d}": float(right[[x == d for x in feats.test_domains]].float().mean())
                  for d in dict.fromkeys(feats.test_domains)}
    return {"accuracy": float(right.float().mean()), "macro_f1": float(np.mean(f1))} | per_domain
