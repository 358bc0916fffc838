"""``train-vehicle reid``: the "bag of tricks" re-ID baseline (Luo et al. 2019, "Bag of Tricks and A
Strong Baseline for Deep Person Re-identification") on the two-camera vehicle-reid set.

- Model (:class:`~vehiclekit.models.reid.ReidNet`): backbone (``--init imagenet``: its ImageNet weights,
  ``--init PATH``: a ``train-vehicle pretrain`` backbone, else random; ``--frozen-blocks`` keeps an
  EfficientNet's early stages fixed, the usual remedy when identities are few), average or ``--gem``
  pooling (Radenović et al.), BNNeck, bias-free ID classifier.
- Loss: cross-entropy with label smoothing 0.1 on the BNNeck logits + batch-hard triplet loss
  (Hermans et al. 2017), margin 0.3, on the pre-BN feature; P×K identity batches (``--p``, ``--k``),
  each identity's K images spread over its cameras (camera-aware, :mod:`.sampler`).
- Augmentation: flip, pad + random crop, random erasing, ``--color-jitter`` (:mod:`.data`); input
  normalised as the backbone expects. ``--flip-test`` averages each image with its mirror image in
  evaluation and in the exported model. Adam 3.5e-4, weight decay
  5e-4, linear warm-up then cosine decay (the baseline's warm-up; cosine instead of its step decay).
- Data: the **train split only** by default; the val split is held out to pick ``best.pt`` by mean
  cross-camera mAP. ``--train-val`` trains on train + val instead (no model selection: ``best.pt`` is
  the last epoch). The test split is scored once, at the end.

A run directory holds ``config.json``, ``history.json``, atomic ``last.pt`` / ``best.pt`` (``--resume``
continues after a kill with the same batches), ``metrics.json`` (val and test, both directions, with and
without k-reciprocal re-ranking, its k1 / k2 chosen on val) and ``vehicle_reid.onnx`` (the L2-normalised embedder, parity-checked;
``--no-export`` skips it).
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vehiclekit.models.factory import BACKBONES, DEFAULT_ARCH, IMAGENET_ARCH, backbone_spec, resolve_arch
from vehiclekit.models.reid import ReidEmbedder, ReidNet
from vehiclekit.paths import data_root
from vehiclekit.training.core import user_images
from vehiclekit.training.core.checkpoint import add_run_arguments, load_checkpoint, seed_worker, start_run, write_json
from vehiclekit.training.core.datasets import ImageDataset, ReidImage, load_vehicle_reid
from vehiclekit.training.core.loop import channels_last, train_one_epoch
from vehiclekit.training.core.schedules import warmup_cosine
from vehiclekit.training.core.trainer import Trainer
from vehiclekit.training.reid.data import as_labeled, reid_split, reid_train_transform
from vehiclekit.training.reid.evaluate import cross_camera_report, embed, eval_dataset, tune_rerank
from vehiclekit.training.reid.losses import ReidLoss
from vehiclekit.training.reid.sampler import PKSampler

ONNX_NAME = "vehicle_reid.onnx"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="data root holding vehicle-reid/ (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--images", metavar="DIR|CSV",
                   help="your own identities instead of vehicle-reid: a folder of {identity}_{camera}_*.jpg or a CSV "
                   "of path,identity,camera; split by identity (70/15/15, seeded) into OUT/split.json")
    p.add_argument("--train-val", action="store_true",
                   help="train on train + val (no held-out model selection; best.pt = last epoch)")
    p.add_argument("--init", help="`imagenet` (the backbone's ImageNet weights) or a backbone checkpoint to start "
                                  "from (`train-vehicle pretrain`'s backbone.pt)")
    p.add_argument("--frozen-blocks", type=int, default=0,
                   help="EfficientNet: keep the stem and the first N of 7 block stages fixed (fewer weights to fit)")
    p.add_argument("--color-jitter", type=float, default=0.0,
                   help="brightness/contrast/saturation jitter strength, 0 = off (e.g. 0.3)")
    p.add_argument("--flip-test", action="store_true",
                   help="embed each image and its mirror image, summed (evaluation and export; 2x inference cost)")
    p.add_argument("--arch", choices=sorted(BACKBONES),
                   help=f"backbone, matching a checkpoint --init (default: {DEFAULT_ARCH}; with --init imagenet: {IMAGENET_ARCH})")
    p.add_argument("--img-size", type=int, default=128, help="square input size in pixels")
    p.add_argument("--epochs", type=int, default=120)
    p.add_argument("--p", type=int, default=16, help="identities per batch")
    p.add_argument("--k", type=int, default=4, help="images per identity per batch (with replacement below K)")
    p.add_argument("--gem", action="store_true", help="GeM pooling (learnable p, init 3) instead of average pooling")
    p.add_argument("--lr", type=float, default=3.5e-4, help="peak Adam learning rate")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup-epochs", type=int, default=10)
    p.add_argument("--margin", type=float, default=0.3, help="triplet margin")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=5, help="epochs between val evaluations (and always the last)")
    p.add_argument("--limit-ids", type=int, help="smoke runs and tests: train on the first N identities only")
    p.add_argument("--no-export", action="store_true", help="do not write OUT/vehicle_reid.onnx at the end")
    p.add_argument("--model-version", default="1", help="model version stored in the ONNX metadata")
    add_run_arguments(p, "runs/reid")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    args, config, state = start_run(args, arch=resolve_arch(args.arch, args.init))

    if args.images:
        splits = own_identities(Path(args.images), out, args.seed)
        train_images = splits["train"] + (splits["val"] if args.train_val else [])
    else:
        root = data_root(args.data)
        splits = {"val": load_vehicle_reid(root, "val"), "test": load_vehicle_reid(root, "test")}
        train_images = reid_split(root, ("train", "val") if args.train_val else ("train",))
    if args.limit_ids:
        keep = set(sorted({im.identity for im in train_images})[: args.limit_ids])
        train_images = [im for im in train_images if im.identity in keep]
    train_data = as_labeled(train_images)
    val_images = None if args.train_val else splits["val"]
    val_set = None if val_images is None else eval_dataset(val_images, args.img_size, args.arch)
    spec = backbone_spec(args.arch)
    train_set = ImageDataset(train_data, reid_train_transform(args.img_size, spec.mean, spec.std, args.color_jitter),
                             "decode train", max_side=4 * args.img_size)
    cameras = [im.camera for im in train_images]

    options = {"frozen_blocks": args.frozen_blocks} if args.frozen_blocks else {}
    model = ReidNet(args.arch, len(train_data.classes), args.gem, imagenet=args.init == "imagenet", **options)
    if args.init and args.init != "imagenet":
        init = load_checkpoint(Path(args.init))
        if init.get("arch", args.arch) != args.arch:
            raise SystemExit(f"--arch {args.arch} but {args.init} holds a {init['arch']} backbone")
        model.backbone.load_state_dict(init["backbone"])
    model = channels_last(model)
    params = [p for p in model.parameters() if p.requires_grad]  # the BNNeck shift is frozen
    optimizer = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = len(PKSampler(train_data.labels, args.p, args.k, cameras=cameras))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(args.warmup_epochs * steps_per_epoch, args.epochs * steps_per_epoch))
    step = partial(reid_step, ReidLoss(args.label_smoothing, args.margin))
    trainer = Trainer(out, config, args.epochs, state, model, optimizer, scheduler, keep={"classes": list(train_data.classes)},
                      best_key="best_score")

    def train(epoch: int) -> dict:
        epoch_seed = args.seed * 1000 + epoch  # same batches and augmentation after a resume
        torch.manual_seed(epoch_seed)
        loader = DataLoader(train_set, batch_sampler=PKSampler(train_data.labels, args.p, args.k, epoch_seed, cameras),
                            num_workers=args.workers, worker_init_fn=seed_worker)
        stats = train_one_epoch(model, loader, step, optimizer, scheduler, f"epoch {epoch + 1}/{args.epochs}")
        return {"epoch": epoch + 1, **stats.means, "lr": scheduler.get_last_lr()[0]}

    def validate(epoch: int) -> dict:
        if val_images is None or not ((epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs):
            return {}
        val = cross_camera_report(embed(ReidEmbedder(model, args.flip_test), val_set), val_images)["mean"]["plain"]
        return {"val_rank-1": val["rank-1"], "val_mAP": val["mAP"]}

    trainer.fit(train, validate, score=None if val_images is None else "val_mAP", after=print_epoch)

    best = load_checkpoint(out / "best.pt")
    model.load_state_dict(best["model"])
    metrics = {"best_epoch": best["epoch"] + 1, "train_splits": ["train", "val"] if args.train_val else ["train"],
               "train_images": len(train_data), "train_identities": len(train_data.classes)}
    embedder = ReidEmbedder(model, args.flip_test)
    rerank = {"k1": 20, "k2": 6}                 # the published setting, unless val can choose
    if val_images is not None:
        val_features = embed(embedder, val_set)
        rerank = metrics["rerank_chosen_on_val"] = tune_rerank(val_features, val_images)
        metrics["val"] = cross_camera_report(val_features, val_images, rerank)
    test_images = splits["test"]
    metrics["test"] = cross_camera_report(embed(embedder, eval_dataset(test_images, args.img_size, args.arch)),
                                          test_images, rerank)
    if not args.no_export:
        from vehiclekit.training.reid.export import export_run

        metrics["onnx_parity"] = export_run(out, out / ONNX_NAME, version=args.model_version,
                                            parity_paths=[im.path for im in test_images])
    write_json(out / "metrics.json", metrics)
    test = metrics["test"]["mean"]["plain"]
    print(f"test (mean of cam1->cam2, cam2->cam1): Rank-1 {test['rank-1']:.4f}  mAP {test['mAP']:.4f}  "
          f"mINP {test['mINP']:.4f} (best epoch {metrics['best_epoch']}); run dir {out}")
    return 0


def own_identities(source: Path, out: Path, seed: int) -> dict[str, list[ReidImage]]:
    """The user's identities split by identity (:func:`~vehiclekit.training.core.user_images.split_reid_items`),
    made once and kept in ``OUT/split.json``."""
    saved = out / user_images.SPLIT_FILE
    if saved.exists():
        parts = json.loads(saved.read_text())
    else:
        parts = {split: [[str(p), i, c] for p, i, c in items]
                 for split, items in user_images.split_reid_items(user_images.reid_items(source), seed).items()}
        saved.write_text(json.dumps(parts, indent=1) + "\n")
    print("identities / images per split: " + ", ".join(
        f"{split} {len({i for _, i, _ in rows})} / {len(rows)}" for split, rows in parts.items()))
    return {split: [ReidImage(Path(p), i, c, "unknown") for p, i, c in rows] for split, rows in parts.items()}


def reid_step(criterion: ReidLoss, model: ReidNet, batch) -> tuple[torch.Tensor, dict, int]:
    """The training step (:mod:`~vehiclekit.training.core.loop`): ID + triplet loss on a channels-last batch."""
    images, targets = batch
    f_t, _, logits = model(channels_last(images))
    loss, parts = criterion(f_t, logits, targets)
    return loss, parts, len(targets)


def print_epoch(entry: dict) -> None:
    val_text = f"  val Rank-1 {entry['val_rank-1']:.3f} mAP {entry['val_mAP']:.3f}" if "val_mAP" in entry else ""
    print(f"epoch {entry['epoch']}: loss {entry['loss']:.4f} (ce {entry['ce']:.4f}, triplet {entry['triplet']:.4f}){val_text}"
          f"  ({entry['seconds']} s)")
