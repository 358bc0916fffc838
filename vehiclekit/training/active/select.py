"""``train-vehicle select``: the labeling queue — which pool images a person should label next.

The model (a zoo name such as ``vehicle-type``, an exported ONNX file or a run folder) scores every
pool image once: backbone features, the softmax, and for ``bald`` / ``ups`` ``--mc-passes`` MC-dropout
samples of the head (dropout ``--mc-dropout`` on the features; Gal & Ghahramani 2016). Strategies
are in :mod:`vehiclekit.training.active.strategies`; ``ups`` is the UPS split (Rizve et al., ICLR
2021): the confidently *and certainly* predicted images become pseudo-labels (``--pseudo-labels``,
a ``path,label`` CSV that ``train-vehicle supervised --labels`` reads), the rest go to the queue,
least certain (highest MC-dropout std of the predicted class) first. Images the label store
(``--store``) already has a label for are never queued, and are ``kcenter``'s starting centres.

The queue lists each image with the model's guess, its top 3 and the uncertainty; ``--format
label-studio`` writes Label Studio tasks with the guess pre-filled, plus the labeling config.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vehiclekit.errors import DatasetError, InvalidImageError
from vehiclekit.labeling import LabelQueue, LabelStore, QueueItem, image_key
from vehiclekit.models.factory import backbone_spec
from vehiclekit.sdk.image import IMAGE_SUFFIXES, load_image
from vehiclekit.training.active import label_studio
from vehiclekit.training.active.strategies import (
    UNCERTAINTY_STRATEGIES,
    dropout_masks,
    kcenter_greedy,
    random_ranking,
    rank,
    uncertainty_scores,
)
from vehiclekit.training.classifier.warm_start import load_trained, onnx_metadata, trained_onnx_path
from vehiclekit.training.core.checkpoint import load_checkpoint
from vehiclekit.training.corpus.shards import extract, is_shard_spec
from vehiclekit.training.corpus.stream import unpack
from vehiclekit.training.corpus.score import load_scores
from vehiclekit.training.ssl.data import folder_images
from vehiclekit.training.core.transforms import eval_transform
from vehiclekit.training.ups.selection import select_pseudo_labels

STRATEGIES = ("random", *UNCERTAINTY_STRATEGIES, "kcenter", "ups")
FORMATS = ("json", "csv", "label-studio")
TOP_K = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("examples:\n"
                "  train-vehicle select --model vehicle-type --pool cameras/ --budget 200 --strategy bald -o queue.json\n"
                "  train-vehicle select --model runs/my-types --pool cameras/ --budget 200 --strategy ups \\\n"
                "      --store labels.db --format label-studio -o ls-tasks.json\n"
                "then: label in `vehiclekit console --queue queue.json --labels labels.db` or in Label Studio,\n"
                "`train-vehicle import-labels EXPORT.json --store labels.db --by NAME`, and\n"
                "`train-vehicle supervised --labels labels.db --init vehicle-type ...`.")
    p.add_argument("--model", help="zoo name (vehicle-type), an exported .onnx, or a run folder (best.pt)")
    p.add_argument("--pool", type=Path,
                   help="folder of unlabelled images (searched recursively), a CSV/TXT with one image path per row, or "
                        "WebDataset shards of `train-vehicle harvest` (unpacked once into the cache, for labelling)")
    p.add_argument("--scores", type=Path,
                   help="instead of --model and --pool: the pool's scores from `train-vehicle score` (e.g. on a Ray "
                        "cluster); its --mc-passes / --mc-dropout apply")
    p.add_argument("--budget", required=True, type=int, help="how many images to queue for a person")
    p.add_argument("--strategy", choices=STRATEGIES, default="entropy")
    p.add_argument("--format", choices=FORMATS, default="json", help="queue file format (default: %(default)s)")
    p.add_argument("-o", "--out", required=True, type=Path, help="queue file to write")
    p.add_argument("--store", help="label store (labels.db): its labelled images are skipped (and are kcenter's centres)")
    p.add_argument("--pseudo-labels", type=Path,
                   help="ups: where the confident images' pseudo-labels go (default: OUT with .pseudo-labels.csv)")
    p.add_argument("--images-root", type=Path,
                   help="label-studio: Label Studio's local-files document root (default: the pool folder)")
    p.add_argument("--mc-passes", type=int, default=10, help="bald / ups: MC-dropout passes (default: %(default)s)")
    p.add_argument("--mc-dropout", type=float,
                   help="bald / ups: dropout on the features (default: the model's training dropout, else 0.3)")
    p.add_argument("--tau-p", type=float, default=0.70, help="ups: positive confidence threshold")
    p.add_argument("--kappa-p", type=float, default=0.05, help="ups: positive MC-dropout std threshold")
    p.add_argument("--seed", type=int, default=0, help="random / kcenter seed")
    p.add_argument("--batch-size", type=int, default=64)


def pool_images(pool: Path) -> list[Path]:
    """The pool's image paths (absolute): a folder's image files, recursively, a manifest's rows, or the
    crops of WebDataset shards (unpacked once: a person labels files)."""
    if is_shard_spec(pool):
        pool = unpack(str(pool))
    if pool.is_dir():
        return [p.resolve() for p in folder_images(pool).paths]
    if pool.is_file():
        with pool.open(newline="") as f:
            rows = [r[0].strip() for r in csv.reader(f) if r and r[0].strip() and not r[0].startswith("#")]
        rows = rows[1:] if rows and rows[0].lower() in ("path", "image") else rows
        images = [p if p.is_absolute() else pool.parent / p for p in map(Path, rows)]
    else:
        raise DatasetError(f"--pool {pool} does not exist: give a folder of images or a CSV/TXT of image paths")
    if not images:
        raise DatasetError(f"--pool {pool} holds no images ({'/'.join(sorted(IMAGE_SUFFIXES))})")
    return [p.resolve() for p in images]


def load_model(name: str) -> tuple[torch.nn.Module, tuple[str, ...], int, tuple, tuple]:
    """(classifier in eval mode, labels, input size, mean, std) of a zoo name, ONNX file or run folder."""
    model, labels = load_trained(name)
    onnx_path = trained_onnx_path(name)
    if onnx_path is not None:
        meta = onnx_metadata(onnx_path)
        return model, labels, meta.input_size[0], meta.mean, meta.std
    config = load_checkpoint(Path(name) / "best.pt")["config"]
    spec = backbone_spec(config["arch"])
    return model, labels, config["img_size"], spec.mean, spec.std


@torch.no_grad()
def score_pool(model, images: list[Path], size: int, mean, std, passes: int, dropout: float,
               batch_size: int = 64) -> tuple[list[Path], np.ndarray, np.ndarray, np.ndarray, list[Path]]:
    """(readable images, softmax [N, C], MC-dropout softmax [T, N, C] (T = 0 when ``passes`` is 0),
    backbone features [N, D], unreadable images). The backbone runs once per image; only dropout +
    head are repeated for the MC samples, with each image's own masks (:func:`dropout_masks` of its
    path), as ``train-vehicle score`` draws them on any number of workers."""
    to_tensor = eval_transform(size, mean, std)
    kept, bad, probs, mc, feats = [], [], [], [], []
    for start in tqdm(range(0, len(images), batch_size), desc="scoring pool", unit="batch", mininterval=1):
        batch, batch_paths = [], []
        for path in images[start:start + batch_size]:
            try:                          # the SDK's loader: size checked from the header before decoding
                batch.append(to_tensor(load_image(path)))
                batch_paths.append(path)
            except InvalidImageError:
                bad.append(path)
        kept += batch_paths
        if not batch:
            continue
        f = model.backbone(torch.stack(batch))
        feats.append(f)
        probs.append(F.softmax(model.head(f), dim=1))
        if passes:
            keep = torch.from_numpy(np.stack([dropout_masks(str(p), passes, f.shape[1], dropout) for p in batch_paths], 1))
            mc.append(F.softmax(model.head(f[None] * keep), dim=-1))
    if not kept:
        raise DatasetError(f"none of the {len(images)} pool images could be decoded")
    mc_probs = torch.cat(mc, dim=1).numpy() if passes else np.zeros((0, len(kept), probs[0].shape[1]), np.float32)
    return kept, torch.cat(probs).numpy(), mc_probs, torch.cat(feats).numpy(), bad


def queue_item(image: Path, probs: np.ndarray, labels: tuple[str, ...], uncertainty: float) -> QueueItem:
    top = np.argsort(-probs, kind="stable")[:TOP_K]
    return QueueItem(str(image), labels[top[0]], tuple((labels[i], round(float(probs[i]), 4)) for i in top),
                     float(uncertainty))


def choose(strategy: str, budget: int, probs: np.ndarray, mc_probs: np.ndarray, feats: np.ndarray,
           labelled: np.ndarray, seed: int, tau_p: float = 0.70, kappa_p: float = 0.05
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(queued indices, their uncertainty, UPS pseudo-labelled indices or None)."""
    if strategy == "random":
        picked = random_ranking(len(probs), budget, seed, labelled)
        return picked, 1.0 - probs[picked].max(1), None
    if strategy == "kcenter":
        unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        picked = kcenter_greedy(unit, budget, labelled, seed)
        return picked, 1.0 - probs[picked].max(1), None
    if strategy == "ups":
        mean, std = torch.from_numpy(mc_probs.mean(0)), torch.from_numpy(mc_probs.std(0, ddof=1))
        selection = select_pseudo_labels(mean, std, tau_p=tau_p, kappa_p=kappa_p)
        positive = selection.positive.numpy() & ~labelled
        class_std = std.gather(1, selection.labels[:, None]).squeeze(1).numpy()
        picked = rank(class_std, budget, exclude=positive | labelled)
        return picked, class_std[picked], np.flatnonzero(positive)
    scores = uncertainty_scores(strategy, mc_probs if strategy == "bald" else probs[None])
    picked = rank(scores, budget, exclude=labelled)
    return picked, scores[picked], None


def write_pseudo_labels(path: Path, images: list[Path], indices: np.ndarray, mc_probs: np.ndarray,
                        labels: tuple[str, ...]) -> Path:
    mean, std = mc_probs.mean(0), mc_probs.std(0, ddof=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "confidence", "std"])
        for i in indices:
            c = int(mean[i].argmax())
            writer.writerow([images[i], labels[c], f"{mean[i, c]:.4f}", f"{std[i, c]:.4f}"])
    return path


def read_scores(args: argparse.Namespace) -> tuple:
    """What :func:`score_pool` gives, from a ``train-vehicle score`` folder, plus the labels and MC passes used."""
    scores = load_scores(args.scores)
    passes = scores.mc_probs.shape[0] if args.strategy in ("bald", "ups") else 0
    if args.strategy in ("bald", "ups") and passes < 2:
        raise DatasetError(f"--strategy {args.strategy} needs MC-dropout passes: rerun `train-vehicle score` with --mc-passes 10")
    args.model = args.model or f"{scores.manifest['model']}@{scores.manifest['version']}"
    images = [Path(k) for k in scores.keys]
    return (images, scores.probs, scores.mc_probs, scores.features, scores.unreadable,
            tuple(scores.manifest["labels"]), passes)


def score_in_process(args: argparse.Namespace) -> tuple:
    if args.model is None or args.pool is None:
        raise DatasetError("give --model and --pool (or --scores from `train-vehicle score`)")
    model, labels, size, mean, std = load_model(args.model)
    trained_dropout = model.dropout.p
    dropout = args.mc_dropout if args.mc_dropout is not None else trained_dropout or 0.3
    if not 0.0 <= dropout < 1.0:
        raise DatasetError(f"--mc-dropout must be in [0, 1), got {dropout}")
    images = pool_images(args.pool)
    passes = args.mc_passes if args.strategy in ("bald", "ups") else 0
    if passes == 1 or (passes and dropout == 0):
        raise DatasetError(f"--strategy {args.strategy} needs --mc-passes >= 2 and --mc-dropout > 0")
    if passes and trained_dropout == 0:
        print(f"note: {args.model} was trained without dropout (the zoo models are): MC dropout then measures how "
              "much the head leans on single features rather than what the model does not know, and BALD tends "
              "to rank confident images first; prefer entropy or margin, or train with `--dropout 0.3`")
    images, probs, mc_probs, feats, bad = score_pool(model, images, size, mean, std, passes, dropout,
                                                     args.batch_size)
    return images, probs, mc_probs, feats, bad, labels, passes


def run(args: argparse.Namespace) -> int:
    if args.budget < 1:
        raise DatasetError(f"--budget must be at least 1, got {args.budget}")
    scored = read_scores(args) if args.scores is not None else score_in_process(args)
    images, probs, mc_probs, feats, bad, labels, passes = scored
    for path in bad:
        print(f"skipped (cannot decode): {path}")
    stored = {r.image for r in LabelStore(args.store).current()} if args.store else set()
    labelled = np.array([image_key(p) in stored for p in images])
    picked, uncertainty, pseudo = choose(args.strategy, args.budget, probs, mc_probs, feats, labelled, args.seed,
                                         args.tau_p, args.kappa_p)
    shown = mc_probs.mean(0) if passes else probs
    in_shards = [str(images[i]) for i in picked if "#" in str(images[i]) and not images[i].is_file()]
    if in_shards:   # scores of shards: the queued crops become files a person's labelling tool opens
        files = extract(in_shards, args.out.with_name(args.out.stem + ".crops"))
        images = [files.get(str(p), p) for p in images]
        print(f"{len(files)} queued crops extracted from their shards into {args.out.stem}.crops/")
    queue = LabelQueue(args.model, args.strategy, labels,
                       [queue_item(images[i], shown[i], labels, u) for i, u in zip(picked, uncertainty)])
    if args.format == "label-studio":
        pool = args.pool or Path(os.path.commonpath(images))
        root = args.images_root or (pool if pool.is_dir() else pool.parent)
        written = label_studio.write(queue, args.out, root)
        print(f"wrote {len(queue.items)} Label Studio tasks to {written[0]} and the labeling config to {written[1]}")
    else:
        queue.save(args.out, args.format)
        print(f"wrote a queue of {len(queue.items)} images to {args.out}")
    print(f"pool: {len(images)} images scored, {int(labelled.sum())} already labelled, {len(bad)} unreadable; "
          f"strategy {args.strategy}")
    if pseudo is not None:
        target = args.pseudo_labels or args.out.with_name(args.out.stem + ".pseudo-labels.csv")
        write_pseudo_labels(target, images, pseudo, mc_probs, labels)
        print(f"ups: {len(pseudo)} confident images pseudo-labelled in {target}")
    return 0
