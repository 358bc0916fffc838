"""``train-vehicle finetune``: semi-supervised fine-tuning with a labelled fraction of the train split.

Methods: ``supervised`` (labelled fraction only: one iteration, the lower bound), ``pseudo-label``
(confidence threshold on the max probability) and ``ups`` (Rizve et al., "In Defense of
Pseudo-Labeling: An Uncertainty-Aware Pseudo-label Selection Framework for Semi-Supervised
Learning", ICLR 2021): MC-dropout uncertainty, positive and negative pseudo-labels, negative-learning
loss. Each iteration re-initialises the model (from ``--init`` when given), trains on the labelled
samples plus the current pseudo-labels, keeps the epoch with the best *val* accuracy, then re-selects
pseudo-labels from the whole unlabelled pool (the rest of the train split). The test split is only
reported, never used for selection or model choice. Unlike the official code, weight decay is applied
and the best model is chosen on val.

Run directory: ``config.json``, ``history.json`` (one entry per iteration: selection counts and
precision against the pool's hidden true labels, class histogram, val/test accuracy), ``last.pt``
(state after the last finished iteration; ``--resume`` continues with the next), ``best.pt`` (best
val accuracy over iterations) and ``metrics.json`` at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, RandomSampler

from vehiclekit.models.factory import BACKBONES, DEFAULT_ARCH, IMAGENET_ARCH, Classifier, backbone_spec, resolve_arch
from vehiclekit.paths import data_root
from vehiclekit.training.classifier.train import DATASETS, add_own_images_arguments, evaluate, own_data, own_images, predict_logits
from vehiclekit.training.core.checkpoint import add_run_arguments, load_checkpoint, seed_worker, start_run, write_json
from vehiclekit.errors import DatasetError, DatasetNotFoundError
from vehiclekit.training.core.datasets import ImageDataset, LabeledImages, label_subset
from vehiclekit.training.core.loop import train_one_epoch
from vehiclekit.training.core.schedules import warmup_cosine
from vehiclekit.training.core.trainer import Trainer
from vehiclekit.training.core.user_images import check_readable
from vehiclekit.training.corpus.shards import is_shard_spec
from vehiclekit.training.corpus.stream import unpack
from vehiclekit.training.ssl.data import folder_images
from vehiclekit.training.core.transforms import eval_transform, train_transform
from vehiclekit.training.ups.losses import negative_learning_loss
from vehiclekit.training.ups.selection import (
    Selection,
    mc_dropout_logits,
    select_confident,
    select_pseudo_labels,
    selection_stats,
    softmax_stats,
    top_n_precision,
)

METHODS = ("supervised", "pseudo-label", "ups")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=METHODS, default="ups")
    p.add_argument("--dataset", choices=sorted(DATASETS),
                   help="one of the project's labelled datasets, committed splits (default: vehicle-types)")
    add_own_images_arguments(p)
    p.add_argument("--unlabeled", metavar="DIR|SHARDS",
                   help="a folder of unlabelled images (searched recursively), or WebDataset shards of `train-vehicle harvest` "
                        "(unpacked once into OUT/unlabeled-shards/), added to the pool that pseudo-labels are chosen from: "
                        "your cameras' images next to your labelled --images/--labels")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--labels-fraction", type=float,
                   help="stratified fraction of the train split that keeps its labels (default: 0.1 of a --dataset, "
                        "all of your own --images/--labels)")
    p.add_argument("--init", help="backbone checkpoint (e.g. from `train-vehicle pretrain`), or `imagenet` (the --arch's "
                                  "ImageNet weights), loaded at every iteration")
    p.add_argument("--arch", choices=sorted(BACKBONES), help=f"backbone (default: {DEFAULT_ARCH}; with --init imagenet: {IMAGENET_ARCH})")
    p.add_argument("--img-size", type=int, default=96)
    p.add_argument("--iterations", type=int, default=20, help="pseudo-labelling iterations (supervised: always 1)")
    p.add_argument("--epochs-per-iteration", type=int, default=30)
    p.add_argument("--min-samples-per-epoch", type=int, default=1024,
                   help="an epoch draws at least this many samples (small labelled sets repeat), so a 5 %% "
                        "labelled set gets enough SGD steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.03, help="peak SGD (Nesterov) learning rate, cosine per iteration")
    p.add_argument("--warmup-epochs", type=int, default=0)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.3, help="dropout before the head (MC-dropout for UPS)")
    p.add_argument("--mc-passes", type=int, default=10, help="UPS: MC-dropout passes")
    p.add_argument("--tau-p", type=float, default=0.70, help="UPS: positive confidence threshold")
    p.add_argument("--tau-n", type=float, default=0.05, help="UPS: negative probability threshold")
    p.add_argument("--kappa-p", type=float, default=0.05, help="UPS: positive std threshold")
    p.add_argument("--kappa-n", type=float, default=0.005, help="UPS: negative std threshold")
    p.add_argument("--temp-nl", type=float, default=2.0, help="UPS: softmax temperature for negative labels")
    p.add_argument("--no-negative", action="store_true", help="UPS: positive pseudo-labels only")
    p.add_argument("--class-balance-iterations", type=int, default=0,
                   help="balance positive pseudo-labels per class (max(25, smallest class); UPS keeps the lowest std, "
                        "pseudo-label the highest confidence) in the first N selections")
    p.add_argument("--confidence-threshold", type=float, default=0.70, help="pseudo-label: max-probability threshold")
    add_run_arguments(p, "runs/finetune")


class _Samples(Dataset):
    """Items of a decoded :class:`ImageDataset` with their own targets, negative masks and transform:
    ``(image, target, negative_mask)``; ``target`` -1 marks a negative-only sample."""

    def __init__(self, base: ImageDataset, indices, targets, negative, transform):
        self.base, self.indices, self.targets, self.negative, self.transform = base, list(indices), list(targets), negative, transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.transform(self.base.images[self.indices[i]]), self.targets[i], self.negative[i]


def _fresh_model(args, num_classes: int, iteration: int) -> Classifier:
    torch.manual_seed(args.seed * 1000 + iteration)
    model = Classifier(args.arch, num_classes, args.dropout, imagenet=args.init == "imagenet")
    if args.init and args.init != "imagenet":
        model.backbone.load_state_dict(load_checkpoint(Path(args.init))["backbone"])
    return model


def ups_step(model: Classifier, batch) -> tuple[torch.Tensor, dict, int]:
    """The training step (:mod:`~vehiclekit.training.core.loop`): cross-entropy on rows with a target
    plus the negative-learning loss on rows with negative classes (each averaged over its own rows, summed)."""
    images, targets, negative = batch
    logits = model(images)
    has_target = targets >= 0
    ce = F.cross_entropy(logits[has_target], targets[has_target]) if has_target.any() else logits.sum() * 0.0
    nl = negative_learning_loss(logits, negative)
    return ce + nl, {"ce": ce.item(), "nl": nl.item()}, len(targets)


def train_iteration(args, it: int, train_set: _Samples, val_set: ImageDataset, num_classes: int) -> tuple[Classifier, float, list]:
    """Iteration ``it``: a fresh model trained ``--epochs-per-iteration`` epochs on ``train_set``; returns
    it at its best val epoch, that accuracy and the epochs' losses and val accuracies."""
    model = _fresh_model(args, num_classes, it)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay, nesterov=True)
    batch = min(args.batch_size, len(train_set))
    steps = max(len(train_set), args.min_samples_per_epoch) // batch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(args.warmup_epochs * steps, args.epochs_per_iteration * steps))
    it_best, it_state, epochs = -1.0, None, []
    for epoch in range(args.epochs_per_iteration):
        generator = torch.Generator().manual_seed(args.seed * 100003 + it * 1000 + epoch)
        torch.manual_seed(args.seed * 100003 + it * 1000 + epoch)
        sampler = RandomSampler(train_set, num_samples=max(len(train_set), args.min_samples_per_epoch), generator=generator)
        loader = DataLoader(train_set, batch, sampler=sampler, drop_last=True, num_workers=args.workers, worker_init_fn=seed_worker)
        losses = train_one_epoch(model, loader, ups_step, optimizer, scheduler, f"iteration {it} epoch {epoch + 1}").means
        val_acc = evaluate(model, val_set, args.batch_size)["accuracy"]
        epochs.append({"epoch": epoch + 1, **losses, "val_acc": val_acc})
        if val_acc > it_best:
            it_best, it_state = val_acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(it_state)
    return model, it_best, epochs


def select(args, model, pool_loader, iteration: int, num_classes: int) -> tuple[Selection, dict]:
    """The pseudo-labels this model gives the whole pool, and their statistics against the pool's true
    labels (logging only). ``confidence_top_n_precision``: precision of the same number of samples
    picked by deterministic confidence alone (no class balancing), the matched-size comparison."""
    logits, truth = predict_logits(model, pool_loader.dataset, args.batch_size)
    probs = torch.softmax(logits, 1)
    if args.method == "ups":
        mc_logits, _ = mc_dropout_logits(model, pool_loader, args.mc_passes)
        mean, std = softmax_stats(mc_logits)
        neg_mean, neg_std = softmax_stats(mc_logits, args.temp_nl)
        sel = select_pseudo_labels(mean, std, args.tau_p, args.tau_n, args.kappa_p, args.kappa_n, neg_mean, neg_std,
                                   class_balance=iteration < args.class_balance_iterations)
        if args.no_negative:
            sel.negative[:] = False
    else:
        sel = select_confident(probs, args.confidence_threshold, class_balance=iteration < args.class_balance_iterations)
    stats = selection_stats(sel, truth, num_classes)
    stats["confidence_top_n_precision"] = top_n_precision(probs, truth, stats["positive"])
    return sel, stats


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    own = own_data(args)
    if not own:
        args.dataset = args.dataset or "vehicle-types"          # stored in config.json as used
    if args.labels_fraction is None:
        args.labels_fraction = 1.0 if own else 0.1
    args, config, state = start_run(args, arch=resolve_arch(args.arch, args.init))
    for option in ("images", "labels", "images_root", "val_images", "unlabeled"):   # runs begun before these existed
        setattr(args, option, getattr(args, option, None))
    iterations = 1 if args.method == "supervised" else args.iterations

    train_data, val_data, test_data = labelled_splits(args, out)
    labeled = label_subset(train_data.labels, args.labels_fraction, args.seed)
    labeled_set = set(labeled)
    pool = [i for i in range(len(train_data)) if i not in labeled_set]
    if args.unlabeled:                     # appended after the labelled images: truth unknown (-1)
        folder = unpack(args.unlabeled, out / "unlabeled-shards") if is_shard_spec(args.unlabeled) else Path(args.unlabeled)
        extra = unlabeled_folder(folder, train_data.classes, args.max_bad_share)
        pool += list(range(len(train_data), len(train_data) + len(extra)))
        train_data = train_data + extra
    if not pool and iterations > 1:
        raise DatasetError("no unlabelled images to pseudo-label: pass --unlabeled DIR, or --labels-fraction below 1")
    classes = train_data.classes
    num_classes = len(classes)
    base = ImageDataset(train_data, None, "decode train")
    norm = backbone_spec(args.arch)
    to_eval, to_train = eval_transform(args.img_size, norm.mean, norm.std), train_transform(args.img_size, norm.mean, norm.std)
    val_set, test_set = (ImageDataset(data, to_eval, f"decode {s}") for s, data in (("val", val_data), ("test", test_data)))
    no_neg = torch.zeros(num_classes, dtype=torch.bool)
    pool_truth = torch.tensor([train_data.labels[i] for i in pool], dtype=torch.long)
    pool_eval = _Samples(base, pool, pool_truth.tolist(), [no_neg] * len(pool), to_eval)
    pool_loader = DataLoader(_PairView(pool_eval), args.batch_size)

    selection = Selection(torch.zeros(len(pool), dtype=torch.bool), torch.zeros(len(pool), dtype=torch.long),
                          torch.zeros(len(pool), num_classes, dtype=torch.bool))
    if state is not None:
        selection = Selection(state["positive"], state["pseudo_labels"], state["negative"])
    trainer = Trainer(out, config, iterations, state, resume_weights=False, keep={"classes": list(classes)}, unit="iteration",
                      last_extra=lambda: {"positive": selection.positive, "pseudo_labels": selection.labels,
                                          "negative": selection.negative})

    def iteration(it: int) -> dict:
        nonlocal selection
        pos = torch.nonzero(selection.positive).squeeze(1).tolist()
        neg_only = torch.nonzero(selection.negative.any(1)).squeeze(1).tolist() if args.method == "ups" else []
        indices = labeled + [pool[j] for j in pos] + [pool[j] for j in neg_only]
        targets = [train_data.labels[i] for i in labeled] + selection.labels[pos].tolist() + [-1] * len(neg_only)
        negative = [no_neg] * (len(labeled) + len(pos)) + [selection.negative[j] for j in neg_only]
        model, it_best, epochs = train_iteration(args, it, _Samples(base, indices, targets, negative, to_train), val_set, num_classes)
        trainer.model = model          # best.pt holds the best iteration's model
        test_acc = evaluate(model, test_set, args.batch_size)["accuracy"]
        stats = None                   # no selection after the last iteration: nothing would train on it
        if it < iterations - 1:
            selection, stats = select(args, model, pool_loader, it, num_classes)
        return {"iteration": it, "trained_on": {"labeled": len(labeled), "positive": len(pos), "negative_only": len(neg_only)},
                "val_acc": it_best, "test_acc": test_acc, "selection": stats, "epochs": epochs}

    trainer.fit(iteration, score="val_acc", after=print_iteration)

    best = load_checkpoint(out / "best.pt")
    model = Classifier(args.arch, num_classes, args.dropout)
    model.load_state_dict(best["model"])
    metrics = {"method": args.method, "best_iteration": best["iteration"], "classes": list(classes),
               "labeled": len(labeled), "pool": len(pool),
               "val": evaluate(model, val_set, args.batch_size), "test": evaluate(model, test_set, args.batch_size)}
    write_json(out / "metrics.json", metrics)
    print(f"test accuracy {metrics['test']['accuracy']:.4f} (best val iteration {best['iteration']}); run dir {out}")
    return 0


def print_iteration(entry: dict) -> None:
    stats = entry["selection"]
    sel_text = (f"  selected {stats['positive']} positive (precision {stats['positive_precision']}), "
                f"{stats['negative']} negative (precision {stats['negative_precision']})") if stats else ""
    print(f"iteration {entry['iteration']}: val acc {entry['val_acc']:.4f}  test acc {entry['test_acc']:.4f}{sel_text}  "
          f"({entry['seconds']} s)")


def labelled_splits(args: argparse.Namespace, out: Path) -> tuple[LabeledImages, LabeledImages, LabeledImages]:
    """Train / val / test: the user's own images (split once into ``OUT/split.json``) or a dataset's
    committed splits."""
    if args.dataset and own_data(args):
        raise SystemExit("pass --dataset or your own --images/--labels/--boxes, not both")
    if own_data(args):
        splits = own_images(args, out)
        return splits["train"], splits["val"], splits["test"]
    root = data_root(args.data)
    return tuple(DATASETS[args.dataset](root, s) for s in ("train", "val", "test"))


def unlabeled_folder(folder: Path, classes: tuple[str, ...], max_bad_share: float) -> LabeledImages:
    """The readable images under ``folder`` with label -1 (unknown); a folder holding the shared
    datasets' val/test images is refused (they score every evaluation)."""
    try:
        root = data_root()
    except DatasetNotFoundError:
        root = None
    found = folder_images(folder, root)
    readable = check_readable([(p, "?") for p in found.paths], max_bad_share)
    print(f"--unlabeled {folder}: {len(readable)} images")
    return LabeledImages(tuple(p for p, _ in readable), (-1,) * len(readable), classes)


class _PairView(Dataset):
    """``(image, label)`` items of a :class:`_Samples` (what the prediction helpers expect)."""

    def __init__(self, samples: _Samples):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        image, target, _ = self.samples[i]
        return image, target
