"""``train-vehicle supervised``: one readable training loop (after torchvision's
``references/classification/train.py``) for a classifier trained on labelled images, from scratch,
from ImageNet weights (``--init imagenet``) or from a pretrained backbone checkpoint.

The images are one of the project's datasets (``--dataset``, committed splits) or the user's own
(``--images DIR`` with a sub-folder per class, or ``--labels`` CSV / Label Studio JSON / label store; see
:mod:`vehiclekit.training.core.user_images`), split once and saved as ``split.json`` in the run.

A run directory holds ``config.json`` (resolved arguments), ``last.pt`` / ``best.pt`` (atomic),
``history.json`` (per-epoch loss and accuracy), and at the end ``metrics.json`` (val/test accuracy,
per-class accuracy, confusion matrix) and ``confusion.png``. ``--resume`` continues after a kill
from ``last.pt`` with the same data order it would have had.
"""

from __future__ import annotations

import argparse
import math
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler

from vehiclekit.models.factory import BACKBONES, DEFAULT_ARCH, IMAGENET_ARCH, Classifier, backbone_spec, resolve_arch
from vehiclekit.paths import data_root
from vehiclekit.training.classifier import vehicle_type_v2, vehicle_type_v3, warm_start
from vehiclekit.training.core import box_crops, user_images
from vehiclekit.training.core.checkpoint import add_run_arguments, load_checkpoint, seed_worker, start_run, write_json
from vehiclekit.training.core.datasets import ImageDataset, label_subset, load_stanford_cars, load_vehicle_types
from vehiclekit.training.core.loop import channels_last, train_one_epoch
from vehiclekit.training.core.metrics import classification_report, plot_confusion
from vehiclekit.training.core.partial_labels import LabelSets, PartialLabelCrossEntropy
from vehiclekit.training.core.schedules import warmup_cosine
from vehiclekit.training.core.trainer import Trainer
from vehiclekit.training.core.transforms import eval_transform, train_transform

DATASETS = {
    "vehicle-types": lambda root, split: load_vehicle_types(root, split),
    "stanford-cars-body": lambda root, split: load_stanford_cars(root, "body_type", split),
    "stanford-cars-make": lambda root, split: load_stanford_cars(root, "make", split),
    # make-model-year (196 classes); export adds each class's make and body type (label groups)
    "stanford-cars-model": lambda root, split: load_stanford_cars(root, "class_name", split),
    "vehicle-type-v2": vehicle_type_v2.load,
    "vehicle-type-v3": vehicle_type_v3.load,
}
#: Datasets joined from several sources: the test split is also scored per source (domain).
DOMAINS = {"vehicle-type-v2": lambda root, split: {s: vehicle_type_v2.load_source(root, s, split) for s in vehicle_type_v2.SOURCES},
           "vehicle-type-v3": lambda root, split: {s: vehicle_type_v3.load_source(root, s, split) for s in vehicle_type_v3.SOURCES}}


def add_own_images_arguments(p: argparse.ArgumentParser) -> None:
    """``--images`` / ``--labels`` and their options: the user's own labelled images (:func:`own_images`)."""
    own = p.add_mutually_exclusive_group()
    own.add_argument("--images", metavar="DIR", help="your own images: one sub-folder per class (DIR/car/*.jpg)")
    own.add_argument("--boxes", metavar="DIR",
                     help="your camera's frames with boxes, a YOLO folder (images/, labels/, classes.txt): each box a crop, "
                          "labelled through --class-map, split by time within each recording session (70/15/15 %%)")
    own.add_argument("--labels", metavar="FILE",
                     help="your own images listed in a `path,label` CSV, a Label Studio JSON / JSON-MIN export, or "
                          "the project's label store (labels.db, from `vehiclekit console` / `import-labels`)")
    p.add_argument("--images-root", help="--labels: folder that relative / Label Studio paths resolve against "
                                                    "(default: the label file's folder)")
    p.add_argument("--class-map", metavar="FILE", help="with --boxes: CSV rows source,target taking each dataset class to "
                                                       "one of yours (an empty target leaves the class out)")
    p.add_argument("--min-side", type=float, default=24,
                   help="with --boxes: smallest box side in pixels made a crop (default: %(default)s)")
    p.add_argument("--val-images", metavar="DIR",
                   help="with --images/--labels: a class-folder tree used as the val split (else 15 %% is held out)")
    p.add_argument("--max-bad-share", type=float, default=0.05,
                   help="with --images/--labels: unreadable images are skipped and listed; stop above this share (default 0.05)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=sorted(DATASETS),
                   help="one of the project's labelled datasets, committed splits (default: vehicle-types)")
    add_own_images_arguments(p)
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--labels-fraction", type=float, default=1.0, help="stratified fraction of the train split's labels to use")
    p.add_argument("--arch", choices=sorted(BACKBONES), help=f"backbone (default: {DEFAULT_ARCH}; with --init imagenet: {IMAGENET_ARCH})")
    p.add_argument("--img-size", type=int, default=96, help="square input size in pixels")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="SGD (Nesterov, momentum 0.9) or AdamW")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (cosine decay, linear warm-up)")
    p.add_argument("--warmup-epochs", type=int, default=2)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.0, help="dropout before the linear head")
    p.add_argument("--init", help="`imagenet` (the backbone's ImageNet weights); a trained classifier to start from: "
                                  "a zoo name (vehicle-type), an exported .onnx or a run folder (same labels: continue, "
                                  "others: new head); or a backbone checkpoint (e.g. from `train-vehicle pretrain`)")
    p.add_argument("--frozen-blocks", type=int, default=0,
                   help="EfficientNet: keep the stem and the first N block stages fixed (faster; early features are generic)")
    p.add_argument("--drop-path", type=float, default=0.0, help="EfficientNet: stochastic depth rate")
    p.add_argument("--partial-prior", type=float, default=0.0,
                   help="datasets with partial labels (vehicle-type-v3): weight of the pull of a set-labelled image "
                        "towards the classes' prior inside its set (0: none; see training/core/partial_labels.py)")
    p.add_argument("--balance", choices=("none", "sqrt"), default="none",
                   help="sqrt: draw each epoch's samples with probability ~ 1/sqrt(class count) (rare classes seen more)")
    add_run_arguments(p, "runs/supervised")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.dataset and own_data(args):
        raise SystemExit("pass --dataset or your own --images/--labels/--boxes, not both")
    if not own_data(args):
        args.dataset = args.dataset or "vehicle-types"       # stored in config.json as used
    args, config, state = start_run(args, arch=resolve_arch(args.arch, args.init))

    own = own_data(args)
    root = None if own else data_root(args.data)
    if own:
        splits = own_images(args, out)
        train_data, val_data, test_data = splits["train"], splits["val"], splits["test"]
    else:
        train_data, val_data, test_data = (DATASETS[args.dataset](root, s) for s in ("train", "val", "test"))
    if args.labels_fraction < 1:
        train_data = train_data.subset(label_subset(train_data.labels, args.labels_fraction, args.seed))
    classes = train_data.classes
    norm = backbone_spec(args.arch)
    max_side = 2 * args.img_size  # decode once at twice the input size: enough for crop augmentation
    train_set = ImageDataset(train_data, train_transform(args.img_size, norm.mean, norm.std), "decode train", max_side)
    val_set = ImageDataset(val_data, eval_transform(args.img_size, norm.mean, norm.std), "decode val", max_side)

    model = channels_last(build_model(args, classes))
    params = [p for p in model.parameters() if p.requires_grad]
    if args.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=args.weight_decay, nesterov=True)
    steps_per_epoch = math.ceil(len(train_set) / args.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(args.warmup_epochs * steps_per_epoch, args.epochs * steps_per_epoch))
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    if train_data.label_sets:
        exact = torch.bincount(torch.tensor([y for y in train_data.labels if y < len(classes)]), minlength=len(classes))
        criterion = PartialLabelCrossEntropy(len(classes), train_data.label_sets, args.label_smoothing,
                                             (exact / exact.sum()).tolist(), args.partial_prior)
    trainer = Trainer(out, config, args.epochs, state, model, optimizer, scheduler, keep={"classes": list(classes)})

    def train(epoch: int) -> dict:
        loss = train_one_epoch(model, epoch_loader(train_set, args, epoch), partial(classifier_step, criterion), optimizer, scheduler,
                               f"epoch {epoch + 1}/{args.epochs}").means["loss"]
        return {"epoch": epoch + 1, "train_loss": loss, "lr": scheduler.get_last_lr()[0]}

    trainer.fit(train, lambda epoch: {"val_acc": evaluate(model, val_set, args.batch_size, val_data.label_sets)["accuracy"]}, score="val_acc",
                after=lambda e: print(f"epoch {e['epoch']}: loss {e['train_loss']:.4f}  val acc {e['val_acc']:.4f}  ({e['seconds']} s)"))

    best = load_checkpoint(out / "best.pt")
    model.load_state_dict(best["model"])
    metrics = {"best_epoch": best["epoch"] + 1, "classes": list(classes), "train_images": len(train_set)}
    test_sets = {"val": val_data, "test": test_data}
    if not own and args.dataset in DOMAINS:
        test_sets |= {f"test/{source}": data for source, data in DOMAINS[args.dataset](root, "test").items() if len(data)}
    for name, data in test_sets.items():
        metrics[name] = evaluate(model, ImageDataset(data, eval_transform(args.img_size, norm.mean, norm.std), f"decode {name}", max_side),
                                 args.batch_size, data.label_sets, classes)
    write_json(out / "metrics.json", metrics)
    title = args.dataset or Path(args.images or args.labels or args.boxes).name
    plot_confusion(metrics["test"]["confusion"], classes, out / "confusion.png", f"{title} test, {args.arch} ({metrics['test']['accuracy']:.2%})")
    print(f"test accuracy {metrics['test']['accuracy']:.4f} (best val epoch {metrics['best_epoch']}); run dir {out}")
    return 0


def epoch_loader(train_set: ImageDataset, args: argparse.Namespace, epoch: int) -> DataLoader:
    """The batches of ``epoch``: order and augmentations follow from (seed, epoch), so a resumed run
    sees what the uninterrupted one would have; ``--balance sqrt`` draws with :func:`sqrt_balanced_weights`."""
    generator = torch.Generator().manual_seed(args.seed * 1000 + epoch)
    torch.manual_seed(args.seed * 1000 + epoch)
    sampler = None
    if args.balance == "sqrt":
        sampler = WeightedRandomSampler(sqrt_balanced_weights(train_set.labels), len(train_set), generator=generator)
    return DataLoader(train_set, args.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True,
                      generator=generator, num_workers=args.workers, worker_init_fn=seed_worker, persistent_workers=False)


def own_images(args: argparse.Namespace, out: Path) -> dict:
    """The user's images split into train / val / test: made once and saved as ``OUT/split.json``
    (a resumed run reads it back); class counts printed."""
    saved = out / user_images.SPLIT_FILE
    if saved.exists():
        splits = user_images.load_split(saved)
        print(f"images as split in {saved}:")
    elif args.boxes:
        if not args.class_map:
            raise SystemExit("--boxes needs --class-map FILE (CSV rows source,target)")
        splits = box_crops.own_box_crops(Path(args.boxes), Path(args.class_map), args.min_side)
        user_images.save_split(splits, saved)
        print(f"crops of {args.boxes} split by time, written to {saved}:")
    else:
        items = (user_images.from_folder(Path(args.images)) if args.images
                 else user_images.from_label_file(Path(args.labels), args.images_root and Path(args.images_root)))
        items = user_images.check_readable(items, args.max_bad_share)
        val_items = None
        if args.val_images:
            val_items = user_images.check_readable(user_images.from_folder(Path(args.val_images)), args.max_bad_share)
        splits = user_images.split_user_images(items, args.seed, val_items)
        user_images.save_split(splits, saved)
        print(f"split written to {saved}:")
    user_images.print_counts(splits)
    return splits


def own_data(args: argparse.Namespace) -> bool:
    """Whether the run trains on the user's own images (``--images``, ``--labels`` or ``--boxes``)."""
    return bool(args.images or args.labels or args.boxes)


def build_model(args: argparse.Namespace, classes: tuple[str, ...]) -> Classifier:
    """The classifier a run trains: ``--init imagenet`` loads the backbone's ImageNet weights; a
    trained classifier (zoo name, exported ONNX, run folder) its weights (:mod:`.warm_start`);
    another path a ``train-vehicle pretrain`` backbone checkpoint."""
    options = {}
    if args.frozen_blocks:
        options["frozen_blocks"] = args.frozen_blocks
    if args.drop_path:
        options["drop_path_rate"] = args.drop_path
    model = Classifier(args.arch, len(classes), args.dropout, imagenet=args.init == "imagenet", **options)
    if args.init and warm_start.is_trained_model(args.init):
        print(f"--init: {warm_start.warm_start(model, args.init, classes)}")
    elif args.init and args.init != "imagenet":
        model.backbone.load_state_dict(load_checkpoint(Path(args.init))["backbone"])
    return model


def sqrt_balanced_weights(labels: list[int]) -> torch.Tensor:
    """Per-sample weights 1/sqrt(n_class): class c is drawn in proportion to sqrt(n_c) instead of n_c
    ("square-root sampling", Mahajan et al., ECCV 2018), a middle way between the natural
    distribution and full class balance that over-repeats a 13-image class less."""
    counts = torch.bincount(torch.tensor(labels))
    return counts.double().rsqrt()[torch.tensor(labels)]


def classifier_step(criterion: nn.Module, model: nn.Module, batch) -> tuple[torch.Tensor, dict, int]:
    """The training step (:mod:`~vehiclekit.training.core.loop`): ``criterion`` on the logits of a channels-last batch."""
    images, targets = batch
    return criterion(model(channels_last(images)), targets), {}, len(targets)


@torch.inference_mode()
def predict_logits(model: nn.Module, dataset, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    logits, labels = [], []
    for images, targets in DataLoader(dataset, batch_size):
        logits.append(model(images))
        labels.append(targets)
    return torch.cat(logits), torch.cat(labels)


def evaluate(model: nn.Module, dataset, batch_size: int = 128, label_sets: LabelSets = (), classes: tuple[str, ...] | None = None) -> dict:
    """:func:`~vehiclekit.training.core.metrics.classification_report` of ``model`` on ``dataset``
    (partial labels, ``label_sets``, are right when the prediction is in the set)."""
    logits, labels = predict_logits(model, dataset, batch_size)
    return classification_report(logits.argmax(1).tolist(), labels.tolist(), model.head.out_features, label_sets, classes)
