"""``train-vehicle evaluate``: how good a (pretrained) backbone is on a labelled dataset, with the
standard self-supervised protocols, scored on the committed val and test splits:

- ``knn``: weighted kNN on frozen features (k = 200, cosine, weights exp(sim / 0.1)), the train split
  as the memory bank (:mod:`knn`);
- ``linear``: logistic regression on frozen features computed once, the L2 penalty chosen on val
  (:mod:`linear_probe`);
- ``finetune``: the whole network trained on the labels by ``train-vehicle supervised --init``
  (its loop, run directory and ``--resume``), in a run directory next to the report.

Without ``--init`` the backbone is randomly initialised (seeded): the baseline row of every table.
``--labels-fraction`` keeps a stratified fraction of the training labels (the label-efficiency
question pretraining is for). The JSON report (``--out``) holds accuracy, per-class accuracy and the
confusion matrix for val and test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from vehiclekit.models.factory import BACKBONES, DEFAULT_ARCH, IMAGENET_ARCH, backbone_spec, build_backbone, resolve_arch
from vehiclekit.paths import data_root
from vehiclekit.training.classifier import train as supervised
from vehiclekit.training.core.checkpoint import load_checkpoint, seed_everything, write_json
from vehiclekit.training.core.datasets import ImageDataset, label_subset
from vehiclekit.training.core.metrics import classification_report
from vehiclekit.training.ssl.knn import knn_predict
from vehiclekit.training.ssl.linear_probe import linear_probe
from vehiclekit.training.core.transforms import eval_transform


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", choices=("knn", "linear", "finetune"), required=True)
    p.add_argument("--init", help="checkpoint with 'backbone' and 'arch' (backbone.pt or last.pt of `train-vehicle pretrain`), "
                                  "or `imagenet` (the --arch's ImageNet weights); omitted: random initialisation")
    p.add_argument("--dataset", choices=sorted(supervised.DATASETS), default="vehicle-types", help="labelled dataset (committed splits)")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--arch", choices=sorted(BACKBONES), help=f"backbone (default {DEFAULT_ARCH}; with --init imagenet {IMAGENET_ARCH}); with a checkpoint --init it must match")
    p.add_argument("--img-size", type=int, default=64, help="square input size in pixels")
    p.add_argument("--labels-fraction", type=float, default=1.0, help="stratified fraction of the train split's labels to use")
    p.add_argument("--k", type=int, default=200, help="knn: neighbours")
    p.add_argument("--knn-temperature", type=float, default=0.1, help="knn: vote weight exp(similarity / T)")
    p.add_argument("--epochs", type=int, default=30, help="finetune: epochs")
    p.add_argument("--lr", type=float, help="finetune: peak lr (default: train-vehicle supervised's)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=2, help="finetune: data-loader worker processes")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON report (default: runs/evaluate/{run or random-init}-{dataset}-{protocol}.json)")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    backbone, arch = load_backbone(args.init, args.arch)
    name = {None: "random-init", "imagenet": f"imagenet-{arch}"}.get(args.init) or Path(args.init).parent.name
    out = Path(args.out or f"runs/evaluate/{name}-{args.dataset}-{args.protocol}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"protocol": args.protocol, "dataset": args.dataset, "init": args.init, "arch": arch,
              "img_size": args.img_size, "labels_fraction": args.labels_fraction}
    if args.protocol == "finetune":
        report |= finetune(args, arch, out.with_suffix(""))
    else:
        report |= frozen_protocol(args, backbone, arch)
    write_json(out, report)
    print(f"{args.protocol} on {args.dataset} ({name}): val acc {report['val']['accuracy']:.4f}, "
          f"test acc {report['test']['accuracy']:.4f}; report {out}")
    return 0


def load_backbone(init: str | None, arch: str | None) -> tuple[nn.Module, str]:
    """The backbone of ``init`` (checkpoint with ``backbone`` and ``arch``, or ``imagenet`` for the
    ``arch``'s ImageNet weights), or a random one."""
    if init is None or init == "imagenet":
        arch = resolve_arch(arch, init)
        return build_backbone(arch, imagenet=init == "imagenet"), arch
    checkpoint = load_checkpoint(Path(init))
    if arch and arch != checkpoint["arch"]:
        raise SystemExit(f"--arch {arch} but {init} holds a {checkpoint['arch']} backbone")
    backbone = build_backbone(checkpoint["arch"])
    backbone.load_state_dict(checkpoint["backbone"])
    return backbone, checkpoint["arch"]


def frozen_protocol(args: argparse.Namespace, backbone: nn.Module, arch: str) -> dict:
    """kNN or linear probe on features of the frozen backbone, computed once per image."""
    root = data_root(args.data)
    splits = {s: supervised.DATASETS[args.dataset](root, s) for s in ("train", "val", "test")}
    if args.labels_fraction < 1:
        splits["train"] = splits["train"].subset(label_subset(splits["train"].labels, args.labels_fraction, args.seed))
    classes = splits["train"].classes
    norm = backbone_spec(arch)
    features = {}  # split -> (features, labels), as normal tensors (predict_logits returns inference tensors)
    for s, data in splits.items():
        transform = eval_transform(args.img_size, norm.mean, norm.std)
        x, y = supervised.predict_logits(backbone, ImageDataset(data, transform, f"decode {s}"), args.batch_size)
        features[s] = (x.clone(), y.clone())
    extra: dict = {"classes": list(classes), "train_images": len(splits["train"])}
    if args.protocol == "knn":
        extra |= {"k": args.k, "knn_temperature": args.knn_temperature}

        def predict(x: torch.Tensor) -> torch.Tensor:
            return knn_predict(x, *features["train"], len(classes), args.k, args.knn_temperature)
    else:
        classifier, val_accuracy = linear_probe(features["train"], features["val"], len(classes))
        extra["penalties"] = [{"penalty": p, "val_acc": a} for p, a in val_accuracy.items()]
        extra["penalty"] = max(val_accuracy, key=val_accuracy.get)

        def predict(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return classifier(x).argmax(1)
    for s in ("val", "test"):
        x, y = features[s]
        extra[s] = classification_report(predict(x).tolist(), y.tolist(), len(classes))
    return extra


def finetune(args: argparse.Namespace, arch: str, run_dir: Path) -> dict:
    """``train-vehicle supervised`` from the backbone (resumed if its run directory holds a checkpoint)."""
    if not (run_dir / "metrics.json").exists():
        argv = ["--out", str(run_dir), "--resume"]
        if not (run_dir / "last.pt").exists():
            argv = ["--out", str(run_dir), "--dataset", args.dataset, "--arch", arch, "--img-size", str(args.img_size),
                    "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                    "--labels-fraction", str(args.labels_fraction), "--workers", str(args.workers),
                    "--threads", str(args.threads), "--seed", str(args.seed)]
            argv += ["--init", args.init] if args.init else []
            argv += ["--lr", str(args.lr)] if args.lr is not None else []
        parser = argparse.ArgumentParser()
        supervised.add_arguments(parser)
        supervised.run(parser.parse_args(argv))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"classes": metrics["classes"], "train_images": metrics["train_images"], "best_epoch": metrics["best_epoch"],
            "run_dir": str(run_dir), "val": metrics["val"], "test": metrics["test"]}
