"""Self-supervised pretraining from the ImageNet backbone (`pretrain --init imagenet`), its
`evaluate --init imagenet` baseline, and the `domain` preset's unlabeled video frames and detector
crops: the ImageNet weights are really used, and they really help on real crops."""

from __future__ import annotations

import pytest
import torch

from vehiclekit.models.factory import backbone_spec, build_backbone
from vehiclekit.paths import data_root
from vehiclekit.training.classifier.train import predict_logits
from vehiclekit.training.core.checkpoint import load_checkpoint
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.core.datasets import ImageDataset, load_vehicle_types
from vehiclekit.training.ssl.data import PRESETS, SOURCES, coco_unlabeled_crops, video_frames
from vehiclekit.training.ssl.evaluate import load_backbone
from vehiclekit.training.ssl.knn import knn_predict
from vehiclekit.training.ssl.pretrain import METHODS, backbone_options
from vehiclekit.training.core.transforms import eval_transform, ssl_views_transform

ARCH = "efficientnet-lite0"


def first_conv(module: torch.nn.Module) -> torch.Tensor:
    return next(p for n, p in module.named_parameters() if n.endswith("conv_stem.weight"))


def test_every_method_starts_from_the_imagenet_weights_when_asked():
    imagenet = first_conv(build_backbone(ARCH, imagenet=True))
    for name, method in METHODS.items():
        model = method(ARCH, **backbone_options({"init": "imagenet", "frozen_blocks": 3}))
        assert torch.equal(first_conv(model.backbone), imagenet), name
        assert not first_conv(model.backbone).requires_grad, name                # stem frozen with frozen_blocks
    assert not torch.equal(first_conv(METHODS["simsiam"](ARCH).backbone), imagenet)   # default: random


@pytest.mark.slow
def test_imagenet_features_beat_random_ones_in_knn_on_real_crops(data_dir):
    """20 traffic-camera crops per class as the kNN bank, 10 per class of val as queries, 96 px.
    Measured: ImageNet 0.733, random (seed 0) 0.583 on these 60 queries (one query = 1.7 points):
    random convolutional features already separate colour and size, ImageNet's add shape."""
    norm = backbone_spec(ARCH)
    transform = eval_transform(96, norm.mean, norm.std)
    splits = {}
    for split, per_class in (("train", 20), ("val", 10)):
        data = load_vehicle_types(data_dir, split)
        keep = [i for c in range(len(data.classes)) for i in [j for j, y in enumerate(data.labels) if y == c][:per_class]]
        splits[split] = ImageDataset(data.subset(keep), transform, f"decode {split}")
    accuracy = {}
    for init in ("imagenet", None):
        torch.manual_seed(0)
        backbone, _ = load_backbone(init, ARCH)
        bank, bank_labels = predict_logits(backbone.eval(), splits["train"])
        queries, labels = predict_logits(backbone, splits["val"])
        predicted = knn_predict(queries, bank, bank_labels, 6, k=10, temperature=0.1)
        accuracy[init] = (predicted == labels).float().mean().item()
    assert accuracy["imagenet"] >= 0.7 and accuracy["imagenet"] >= accuracy[None] + 0.1, accuracy


def test_pretraining_views_use_the_backbones_own_normalisation():
    image = (torch.rand(80, 100, 3) * 255).to(torch.uint8).numpy()
    norm = backbone_spec(ARCH)
    torch.manual_seed(0)
    own = ssl_views_transform(32, norm.mean, norm.std)(image)[0]
    torch.manual_seed(0)
    imagenet = ssl_views_transform(32)(image)[0]
    assert norm.mean != backbone_spec("resnet18-half").mean and not torch.allclose(own, imagenet)


@pytest.mark.slow
def test_a_short_domain_adaptation_run_saves_a_backbone_evaluate_can_load(tmp_path, data_dir):
    out = tmp_path / "run"
    folder = tmp_path / "unlabeled"
    folder.mkdir()
    for path in load_vehicle_types(data_dir, "train").paths[:16]:
        (folder / path.name).write_bytes(path.read_bytes())
    assert train_vehicle(["pretrain", "--method", "simsiam", "--arch", ARCH, "--init", "imagenet", "--frozen-blocks", "5",
                          "--images", str(folder), "--epochs", "1", "--img-size", "32", "--batch-size", "8",
                          "--workers", "0", "--threads", "1", "--eval-every", "0", "--out", str(out)]) == 0
    saved = load_checkpoint(out / "backbone.pt")
    assert saved["arch"] == ARCH
    backbone, arch = load_backbone(str(out / "backbone.pt"), None)
    stem = first_conv(backbone)
    assert arch == ARCH and torch.equal(stem, first_conv(build_backbone(ARCH, imagenet=True)))   # frozen: unchanged


@pytest.mark.slow
def test_domain_preset_adds_video_frames_and_detector_crops_for_training_only(tmp_path, monkeypatch):
    monkeypatch.setenv("VEHICLEKIT_CACHE", str(tmp_path))
    root = data_root()
    frames = video_frames(root, "train")
    assert len(frames) == 76 + 9                     # every 5th frame: 377-frame MP4 and 41-frame GIF
    crops = coco_unlabeled_crops(root, "train")
    assert crops and all(p.is_file() for p in crops)
    assert video_frames(root, "test") == () and coco_unlabeled_crops(root, "val") == ()
    assert {"videos", "coco-unlabeled"} <= set(PRESETS["domain"]) and set(PRESETS["domain"]) <= set(SOURCES)


def test_finetune_starts_every_iteration_from_the_imagenet_backbone():
    import argparse

    from vehiclekit.training.ups.finetune import _fresh_model

    args = argparse.Namespace(seed=0, arch=ARCH, dropout=0.3, init="imagenet")
    imagenet = first_conv(build_backbone(ARCH, imagenet=True))
    for iteration in (0, 1):
        assert torch.equal(first_conv(_fresh_model(args, 6, iteration).backbone), imagenet)
