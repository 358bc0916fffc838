"""``train-vehicle pretrain``: self-supervised pretraining of a backbone on unlabeled images (SimSiam,
BYOL, SimCLR, MoCo v2), in one process or under ``torchrun --nproc_per_node N`` (DDP: gloo on CPU,
nccl on GPU; BN synchronised across processes; ``--batch-size`` is the global batch).

A run directory holds ``config.json`` (resolved arguments), ``last.pt`` (atomic, every epoch: model,
optimiser, scheduler and history, plus ``backbone`` and ``arch`` so it already works as ``--init``),
``history.json`` (per epoch: loss and per-step losses, lr, img/s, share of time waiting for data;
at epoch 0 and every ``--eval-every`` epochs the kNN accuracy and the collapse signal, see
:mod:`monitor`), ``monitor.png``, and at the end ``backbone.pt`` (``{"backbone", "arch"}``) for
``train-vehicle supervised --init`` and ``train-vehicle evaluate --init``. ``--resume`` continues after
a kill from ``last.pt`` exactly as the uninterrupted run would have (same data order, augmentations,
model, optimiser, EMA targets and MoCo queue).

Optimiser (docs/ssl.md): SGD with momentum 0.9, lr = base lr × batch / 256 (linear scaling rule),
cosine decay per step after an optional linear warm-up. ``--fix-pred-lr`` keeps the predictor at the
initial lr, as the official SimSiam code (on by default for SimSiam, as in its recommended command).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from vehiclekit.errors import DatasetNotFoundError
from vehiclekit.models.factory import BACKBONES, DEFAULT_ARCH, IMAGENET_ARCH, backbone_spec, imagenet_backbones, resolve_arch
from vehiclekit.paths import data_root
from vehiclekit.training.core.checkpoint import open_run, save_atomic, seed_everything
from vehiclekit.training.core.datasets import ImageDataset, LabeledImages
from vehiclekit.training.core.loop import EpochProgress, EpochStats, train_one_epoch
from vehiclekit.training.core.schedules import warmup_cosine
from vehiclekit.training.core.trainer import Trainer
from vehiclekit.training.corpus.shards import shard_urls
from vehiclekit.training.corpus.stream import Steps, shard_loader
from vehiclekit.training.corpus.stream import steps_per_epoch as shard_steps
from vehiclekit.training.ssl import distributed
from vehiclekit.training.ssl.byol import BYOL
from vehiclekit.training.ssl.data import PRESETS, folder_images, preset_images
from vehiclekit.training.ssl.moco import MoCo
from vehiclekit.training.ssl.monitor import Monitor, plot_history
from vehiclekit.training.ssl.simclr import SimCLR
from vehiclekit.training.ssl.simsiam import SimSiam
from vehiclekit.training.core.transforms import ssl_views_transform

METHODS: dict[str, type[nn.Module]] = {"simsiam": SimSiam, "byol": BYOL, "simclr": SimCLR, "moco": MoCo}
# Method options a run may override (constructor keyword arguments; defaults in each method module).
METHOD_OPTIONS = {"simsiam": (), "byol": ("momentum",), "simclr": ("temperature",), "moco": ("queue_size", "temperature", "momentum")}
# Base lr (per 256 images) and weight decay per method; see docs/ssl.md for the sources and deviations.
RECIPES = {
    "simsiam": {"lr": 0.05, "weight_decay": 5e-4},
    "byol": {"lr": 0.05, "weight_decay": 5e-4},
    "simclr": {"lr": 0.05, "weight_decay": 5e-4},
    "moco": {"lr": 0.03, "weight_decay": 5e-4},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=sorted(METHODS), help="required unless --resume")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), default="pooled",
                        help="train splits of the shared datasets to pool (default: pooled = all three; domain adds "
                             "video frames and detector crops of coco-unlabeled)")
    source.add_argument("--images", help="any folder tree of images instead of a preset (labels ignored)")
    source.add_argument("--shards", metavar="SPEC",
                        help="WebDataset shards of `train-vehicle harvest` (a directory, crops-{000000..000009}.tar, or URLs), "
                             "streamed: each process and loader worker reads its own shards")
    p.add_argument("--shuffle-buffer", type=int, default=1000, help="--shards: samples shuffled together (default: %(default)s)")
    p.add_argument("--arch", choices=sorted(BACKBONES),
                   help=f"backbone (default: {DEFAULT_ARCH}; with --init imagenet: {IMAGENET_ARCH})")
    p.add_argument("--init", choices=("imagenet",),
                   help="start from the backbone's ImageNet weights (domain adaptation; "
                        f"{', '.join(imagenet_backbones())}) instead of a random initialisation")
    p.add_argument("--frozen-blocks", type=int, default=0,
                   help="efficientnet-lite: keep the stem and the first N block stages fixed (with --init imagenet)")
    p.add_argument("--img-size", type=int, default=64, help="square view size in pixels")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=128, help="global batch (split across processes)")
    p.add_argument("--lr", type=float, help="base lr per 256 images (default: per method, see docs/ssl.md)")
    p.add_argument("--weight-decay", type=float, help="default: per method")
    p.add_argument("--warmup-epochs", type=int, default=0)
    p.add_argument("--fix-pred-lr", action=argparse.BooleanOptionalAction,
                   help="keep the predictor's lr constant (default: on for simsiam, off for byol)")
    p.add_argument("--temperature", type=float, help="simclr (0.5), moco (0.2)")
    p.add_argument("--queue-size", type=int, help="moco key queue (4096)")
    p.add_argument("--momentum", type=float, help="EMA momentum: byol's base of the cosine schedule (0.996), moco's constant (0.99)")
    p.add_argument("--eval-every", type=int, default=5, help="kNN / collapse monitoring every N epochs (0: never)")
    p.add_argument("--workers", type=int, default=1, help="data-loader worker processes per training process")
    p.add_argument("--threads", type=int, help="torch intra-op threads per process (default: cores / processes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run directory (default: runs/pretrain-METHOD)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt with the run's stored settings")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS",
                   help="also write OUT/last.pt every STEPS steps inside an epoch, so that --resume continues mid-epoch "
                        "with the same batches and augmentations (for epochs of hours on a large corpus; rounded up "
                        "to a multiple of --workers; default 0: after each epoch only)")


def run(args: argparse.Namespace) -> int:
    device = distributed.init_from_environment()
    try:
        return pretrain(args, device)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def pretrain(args: argparse.Namespace, device: torch.device) -> int:
    rank, world = distributed.rank(), distributed.world_size()
    if args.method is None and not (args.resume and args.out):
        raise SystemExit("--method is required (simsiam, byol, simclr or moco), or --resume --out RUN")
    out = Path(args.out or f"runs/pretrain-{args.method}")
    config, state = open_run(out, args.resume, lambda: resolve_config(args, out, world), write_config=rank == 0)
    if state is not None and config["world_size"] != world and rank == 0:
        print(f"note: resuming a {config['world_size']}-process run with {world}: it continues, not bit-exactly")
    args = argparse.Namespace(**config)
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the {world} processes")
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)

    norm = backbone_spec(args.arch)
    views = ssl_views_transform(args.img_size, norm.mean, norm.std)
    if getattr(args, "shards", None):    # streamed; the rank's share of every global batch
        dataset = None
        steps_per_epoch = shard_steps(args.shards, shard_urls(args.shards), args.batch_size // world, world, args.workers)
    else:  # decoded once; large images (Stanford Cars) are shrunk to 2x the view size: enough for any crop
        dataset = ImageDataset(unlabeled_images(args), views, "decode unlabeled", max_side=2 * args.img_size)
        steps_per_epoch = len(dataset) // args.batch_size
    if steps_per_epoch == 0:
        raise SystemExit(f"the images do not fill one batch of {args.batch_size} per step")
    total_steps = args.epochs * steps_per_epoch

    model = METHODS[args.method](args.arch, **{k: config[k] for k in METHOD_OPTIONS[args.method] if config[k] is not None},
                                 **backbone_options(config))
    if world > 1:
        model = distributed.convert_sync_batchnorm(model, device)
    model.to(device)
    optimizer, lr_lambdas = build_optimizer(model, args, steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambdas)
    trainer = Trainer(out, config, args.epochs, state, model, optimizer, scheduler, best_key=None, writer=rank == 0,
                      last_extra=lambda: {"backbone": model.backbone.state_dict(), "arch": args.arch})
    trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if world > 1 else model
    update_target = getattr(model, "update_target", None)

    monitor = Monitor(data_root(args.data), args.img_size, mean=norm.mean, std=norm.std) if rank == 0 and args.eval_every else None
    if monitor and not trainer.history:
        trainer.history.append({"epoch": 0, **monitor(model.backbone, model.projection_head)})
        print(f"initialisation: kNN acc {trainer.history[0]['knn_acc']:.4f}, collapse z {trainer.history[0]['collapse_z']:.3f}")

    def train(epoch: int) -> dict:
        progress = trainer.progress(epoch)          # a run resumed mid-epoch: skip the steps it made
        skip = progress.steps if progress else 0
        loader = (Steps(epoch_loader(dataset, args, epoch, rank, world), steps_per_epoch, skip) if dataset is not None else
                  shard_loader(args.shards, views, args.batch_size // world, epoch=epoch, seed=args.seed, rank=rank, world=world,
                               workers=args.workers, buffer=args.shuffle_buffer, max_side=2 * args.img_size,
                               steps=steps_per_epoch, skip=skip, generator=_epoch_generator(args, epoch, rank)))
        stats = train_one_epoch(trained, loader, partial(ssl_step, device), optimizer, scheduler,
                                f"{args.method} epoch {epoch + 1}/{args.epochs}", first_step=epoch * steps_per_epoch,
                                after_step=update_target and (lambda step: update_target(step, total_steps)), show=rank == 0,
                                progress=progress, checkpoint_every=config.get("checkpoint_every", 0),
                                checkpoint=lambda p: trainer.save_progress(epoch, rank_mean(p)))
        return {"epoch": epoch + 1, **epoch_summary(stats, loader.batch_size), "lr": scheduler.get_last_lr()[0]}

    def monitored(epoch: int) -> dict:
        due = monitor and ((epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs)
        return monitor(model.backbone, model.projection_head) if due else {}

    def after(entry: dict) -> None:
        if rank == 0:
            plot_history(trainer.history, out / "monitor.png", f"{args.method}, {args.arch}, {args.img_size} px, batch {args.batch_size}")
            print(_summary(entry))
        if world > 1:
            dist.barrier()

    trainer.fit(train, monitored, after=after)
    if rank == 0:
        save_atomic({"backbone": model.backbone.state_dict(), "arch": args.arch}, out / "backbone.pt")
        print(f"backbone: {out / 'backbone.pt'} (train-vehicle supervised --init / evaluate --init)")
    return 0


def resolve_config(args: argparse.Namespace, out: Path, world: int) -> dict:
    """The run's settings with every default made explicit (what ``--resume`` reuses)."""
    config = {k: v for k, v in vars(args).items() if k != "func"}
    config["arch"] = resolve_arch(args.arch, args.init)
    for option in ("temperature", "queue_size", "momentum"):
        if config[option] is not None and option not in METHOD_OPTIONS[args.method]:
            raise SystemExit(f"--{option.replace('_', '-')} does not apply to {args.method}")
    if args.checkpoint_every < 0:
        raise SystemExit(f"--checkpoint-every wants a number of steps (0: after each epoch only), got {args.checkpoint_every}")
    if args.fix_pred_lr and args.method not in ("simsiam", "byol"):
        raise SystemExit(f"--fix-pred-lr: {args.method} has no predictor")
    config.update(
        out=str(out), world_size=world,
        lr=RECIPES[args.method]["lr"] if args.lr is None else args.lr,
        weight_decay=RECIPES[args.method]["weight_decay"] if args.weight_decay is None else args.weight_decay,
        fix_pred_lr=args.method == "simsiam" if args.fix_pred_lr is None else args.fix_pred_lr,
        checkpoint_every=-(-args.checkpoint_every // max(args.workers, 1)) * max(args.workers, 1),
        threads=args.threads or max(1, (os.cpu_count() or 1) // world),
    )
    return config


def backbone_options(config: dict) -> dict:
    """How the methods build the backbone: ImageNet weights and frozen stages (absent in older runs)."""
    options = {"imagenet": True} if config.get("init") == "imagenet" else {}
    if config.get("frozen_blocks"):
        options["frozen_blocks"] = config["frozen_blocks"]
    return options


def unlabeled_images(args: argparse.Namespace) -> LabeledImages:
    if args.images:
        try:  # with the shared data present, a folder holding its val/test images is refused
            root = data_root(args.data)
        except DatasetNotFoundError:
            root = None
        return folder_images(Path(args.images), root)
    return preset_images(data_root(args.data), args.preset)


def build_optimizer(model: nn.Module, args: argparse.Namespace, steps_per_epoch: int):
    """SGD over the trainable parameters and the per-group lr factors for ``LambdaLR``."""
    predictor = list(model.prediction_head.parameters()) if args.fix_pred_lr else []
    in_predictor = {id(p) for p in predictor}
    groups = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) not in in_predictor]}]
    cosine = warmup_cosine(args.warmup_epochs * steps_per_epoch, args.epochs * steps_per_epoch)
    lambdas = [cosine]
    if predictor:
        groups.append({"params": predictor})
        lambdas.append(_constant)
    optimizer = torch.optim.SGD(groups, lr=args.lr * args.batch_size / 256, momentum=0.9, weight_decay=args.weight_decay)
    return optimizer, lambdas


def _constant(step: int) -> float:
    return 1.0


def epoch_loader(dataset: ImageDataset, args: argparse.Namespace, epoch: int, rank: int, world: int) -> DataLoader:
    """This process's batches of ``epoch``: the data order and every augmentation follow from
    (seed, epoch, rank) alone, so a resumed run sees what the uninterrupted one would have."""
    generator = _epoch_generator(args, epoch, rank)
    sampler = DistributedSampler(dataset, world, rank, shuffle=True, seed=args.seed, drop_last=True) if world > 1 else None
    if sampler:
        sampler.set_epoch(epoch)
    return DataLoader(dataset, args.batch_size // world, shuffle=sampler is None, sampler=sampler, drop_last=True,
                      generator=generator, num_workers=args.workers)


def _epoch_generator(args: argparse.Namespace, epoch: int, rank: int) -> torch.Generator:
    """Seeds this process's augmentations (--workers 0) and returns the loader's generator for ``epoch``."""
    seed = args.seed * 1_000_000 + epoch * 1000 + rank
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def ssl_step(device: torch.device, trained: nn.Module, batch) -> tuple[torch.Tensor, dict, int]:
    """The training step (:mod:`~vehiclekit.training.core.loop`): the method's loss on the two views;
    ``trained`` is the method or its DDP wrapper."""
    (view1, view2), _ = batch
    return trained(view1.to(device, non_blocking=True), view2.to(device, non_blocking=True)), {}, len(view1)


def rank_mean(progress: EpochProgress) -> EpochProgress:
    """What a mid-epoch checkpoint stores: the step losses so far averaged over the processes, as
    :func:`epoch_summary` reports them (every rank calls this at the same step)."""
    if distributed.world_size() == 1:
        return progress
    losses = torch.tensor(progress.losses, dtype=torch.float64)
    dist.all_reduce(losses)
    return replace(progress, losses=(losses / distributed.world_size()).tolist())


def epoch_summary(stats: EpochStats, batch_size: int) -> dict:
    """An epoch's history fields: the loss (mean over processes), per-step losses, img/s (all processes)
    and the share of time spent waiting for data."""
    step_losses = torch.tensor(stats.step_losses, dtype=torch.float64)
    if distributed.world_size() > 1:
        dist.all_reduce(step_losses)
        step_losses /= distributed.world_size()
    return {"loss": step_losses.mean().item(), "loss_steps": [round(v, 6) for v in step_losses.tolist()],
            "images_per_s": round(len(stats.step_losses) * batch_size * distributed.world_size() / stats.seconds, 1),
            "data_wait": round(stats.data_wait, 3), "seconds": round(stats.seconds, 1)}


def _summary(entry: dict) -> str:
    text = (f"epoch {entry['epoch']}: loss {entry['loss']:.4f}  {entry['images_per_s']} img/s  "
            f"data wait {entry['data_wait']:.0%}  ({entry['seconds']} s)")
    if "knn_acc" in entry:
        text += f"  kNN acc {entry['knn_acc']:.4f}  collapse z {entry['collapse_z']:.3f} features {entry['collapse_features']:.3f}"
    return text
