"""``train-vehicle evaluate-reid``: cross-camera retrieval on the vehicle-reid test split (60 vehicles,
each seen once by cam1 and once by cam2): cam1 queries against the cam2 gallery and the reverse,
CMC Rank-1/5/10, mAP and mINP (:mod:`.metrics`), optionally after k-reciprocal re-ranking
(Zhong et al. 2017, :mod:`.rerank`) whose k1 / k2 are chosen on the val split (:func:`tune_rerank`:
the published k1 = 20 assumes many true matches per query; here each query has one).

What is scored, one of:

- ``RUN_DIR``: a ``train-vehicle reid`` run (its ``best.pt``): the L2-normalised BNNeck embedding
  (Luo et al. 2019);
- ``MODEL.onnx``: an exported embedder, run through the SDK (:class:`vehiclekit.sdk.VehicleReID`),
  i.e. exactly what ships;
- ``--init CKPT`` (a ``train-vehicle pretrain`` backbone), ``--init imagenet --arch A`` (A's ImageNet
  weights) or ``--random-init``: the backbone's average-pooled feature with no ID training — the
  zero-label rows.
"""

from __future__ import annotations

import argparse
from itertools import permutations
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vehiclekit.models.factory import BACKBONES, backbone_spec, build_backbone, resolve_arch
from vehiclekit.models.reid import BackboneEmbedder, ReidEmbedder, ReidNet
from vehiclekit.paths import data_root
from vehiclekit.training.core.checkpoint import load_checkpoint, seed_everything, write_json
from vehiclekit.training.core.datasets import ImageDataset, ReidImage, load_vehicle_reid
from vehiclekit.training.reid.adabn import adapt_batchnorm
from vehiclekit.training.reid.data import as_labeled
from vehiclekit.training.reid.metrics import cosine_distance, evaluate_ranking
from vehiclekit.training.reid.rerank import k_reciprocal_rerank
from vehiclekit.training.ssl.evaluate import load_backbone
from vehiclekit.training.core.transforms import eval_transform

SUMMARY = ("rank-1", "rank-5", "rank-10", "mAP", "mINP")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="a `train-vehicle reid` run directory (best.pt) or an exported embedder .onnx")
    p.add_argument("--init", help="zero-label row: `imagenet` (with --arch) or a pretrained backbone checkpoint "
                                  "(`train-vehicle pretrain`'s backbone.pt)")
    p.add_argument("--random-init", action="store_true", help="zero-label row: a randomly initialised (seeded) backbone")
    p.add_argument("--arch", choices=sorted(BACKBONES), help="backbone for --random-init (default resnet18-half) / --init imagenet (default efficientnet-lite0)")
    p.add_argument("--img-size", type=int, default=64, help="--init / --random-init: square input size (runs and ONNX carry their own)")
    p.add_argument("--rerank", action="store_true",
                   help="also report k-reciprocal re-ranking, k1 and k2 chosen on the val split (lambda 0.3)")
    p.add_argument("--adabn", action="store_true",
                   help="RUN_DIR only: first re-estimate the BatchNorm statistics on the evaluated split's images, "
                        "without their labels (AdaBN: adapting to a car park's own cameras)")
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--threads", type=int, default=2, help="torch / ONNX Runtime intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON report (default: RUN_DIR/evaluate-reid[-rerank].json or runs/evaluate/reid-NAME.json)")


def run(args: argparse.Namespace) -> int:
    chosen = [bool(args.model), bool(args.init), args.random_init]
    if sum(chosen) != 1:
        raise SystemExit("evaluate-reid: pass exactly one of RUN_DIR / MODEL.onnx, --init CKPT or --random-init")
    if args.adabn and (not args.model or args.model.endswith(".onnx")):
        raise SystemExit("evaluate-reid --adabn needs a RUN_DIR (an exported ONNX has its BatchNorm folded)")
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    root = data_root(args.data)
    images = load_vehicle_reid(root, args.split)
    if args.model and args.model.endswith(".onnx"):
        from vehiclekit.sdk.reid import VehicleReID

        reid = VehicleReID(model_path=args.model, threads=args.threads)
        featurize = lambda ims: reid.embed([str(im.path) for im in ims])  # noqa: E731
        source, name, default_out = {"onnx": args.model, "img_size": list(reid.metadata.input_size)}, Path(args.model).stem, None
    elif args.model:
        embedder, img_size = load_run_embedder(Path(args.model))
        if args.adabn:
            adapt_batchnorm(embedder, eval_dataset(images, img_size, embedder.model.arch))
        featurize = lambda ims: embed(embedder, eval_dataset(ims, img_size, embedder.model.arch))  # noqa: E731
        source, name, default_out = {"run": args.model, "img_size": img_size, "adabn": args.adabn}, \
            Path(args.model).name + ("-adabn" if args.adabn else ""), Path(args.model)
    else:
        if args.init == "imagenet":
            arch = resolve_arch(args.arch, "imagenet")
            backbone, name = build_backbone(arch, imagenet=True), f"imagenet-{arch}"
        else:
            backbone, arch = load_backbone(args.init, args.arch)
            name = Path(args.init).parent.name if args.init else "random-init"
        featurize = lambda ims: embed(BackboneEmbedder(backbone), eval_dataset(ims, args.img_size, arch))  # noqa: E731
        source, default_out = {"init": args.init or "random", "arch": arch, "img_size": args.img_size}, None
    rerank = None
    if args.rerank:
        val_images = images if args.split == "val" else load_vehicle_reid(root, "val")
        rerank = tune_rerank(featurize(val_images), val_images)
        source["rerank_chosen_on_val"] = rerank
    report = {"split": args.split, **source, **cross_camera_report(featurize(images), images, rerank)}
    suffix = ("-adabn" if args.adabn else "") + ("-rerank" if args.rerank else "")
    out = Path(args.out) if args.out else (default_out / f"evaluate-reid{suffix}.json" if default_out
                                           else Path(f"runs/evaluate/reid-{name}{suffix}.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    print(format_report(report, f"{name} on the {args.split} split"))
    print(f"report {out}")
    return 0


def load_run_embedder(run_dir: Path) -> tuple[nn.Module, int]:
    """The L2-normalised embedder of a run's ``best.pt`` (with the run's test-time flip) and the run's input size."""
    ckpt = load_checkpoint(run_dir / "best.pt")
    config = ckpt["config"]
    model = ReidNet(config["arch"], len(ckpt["classes"]), config["gem"])
    model.load_state_dict(ckpt["model"])
    return ReidEmbedder(model, flip=config.get("flip_test", False)).eval(), config["img_size"]


def eval_dataset(images: list[ReidImage], img_size: int, arch: str) -> ImageDataset:
    """``images`` decoded once at full size, then exactly the SDK's pre-processing (:func:`classifier_input`)
    with backbone ``arch``'s normalisation."""
    spec = backbone_spec(arch)
    return ImageDataset(as_labeled(images), eval_transform(img_size, spec.mean, spec.std), "decode")


@torch.inference_mode()
def embed(embedder: nn.Module, dataset: ImageDataset, batch_size: int = 128) -> np.ndarray:
    """``[N, D]`` embeddings of an :func:`eval_dataset` (``embedder`` is put in eval mode)."""
    embedder.eval()
    return torch.cat([embedder(x) for x, _ in DataLoader(dataset, batch_size)]).numpy()


#: The k-reciprocal re-ranking settings :func:`tune_rerank` tries (k2 <= k1).
RERANK_K1 = (2, 3, 4, 6, 8, 12, 20)
RERANK_K2 = (1, 2, 3, 6)


def tune_rerank(features: np.ndarray, images: list[ReidImage]) -> dict:
    """The k1, k2 of k-reciprocal re-ranking with the best mean cross-camera mAP on ``images`` (the
    val split), and that mAP next to the plain one."""
    results = {(k1, k2): cross_camera_report(features, images, {"k1": k1, "k2": k2})["mean"]["rerank"]["mAP"]
               for k1 in RERANK_K1 for k2 in RERANK_K2 if k2 <= k1}
    k1, k2 = max(results, key=lambda key: (results[key], -key[0], -key[1]))
    plain = cross_camera_report(features, images)["mean"]["plain"]["mAP"]
    return {"k1": k1, "k2": k2, "val_mAP": results[(k1, k2)], "val_mAP_plain": plain}


def cross_camera_report(features: np.ndarray, images: list[ReidImage], rerank: dict | None = None) -> dict:
    """Metrics for every ordered camera pair (queries from one camera, gallery from the other), and
    their mean under ``"mean"``; with ``rerank`` (``{"k1": .., "k2": ..}``) the same after
    k-reciprocal re-ranking."""
    ids = np.array([im.identity for im in images])
    cams = np.array([im.camera for im in images])
    types = np.array([im.vehicle_type for im in images])
    report: dict = {"images": len(images), "identities": len(set(ids.tolist())), "directions": {}, "rank1_per_type": {}}
    variants = ("plain", "rerank") if rerank else ("plain",)
    for qc, gc in permutations(sorted(set(cams.tolist())), 2):
        q, g = cams == qc, cams == gc
        q_g = cosine_distance(features[q], features[g])
        direction = {}
        for variant in variants:
            dist = q_g if variant == "plain" else k_reciprocal_rerank(
                q_g, cosine_distance(features[q], features[q]), cosine_distance(features[g], features[g]),
                rerank["k1"], rerank["k2"])
            direction[variant] = evaluate_ranking(dist, ids[q], ids[g], cams[q], cams[g])
        report["directions"][f"cam{qc}->cam{gc}"] = direction
        hits = ids[g][q_g.argmin(axis=1)] == ids[q]         # plain Rank-1 per query, by the query's dataset type
        report["rank1_per_type"][f"cam{qc}->cam{gc}"] = {
            t: [int(hits[types[q] == t].sum()), int((types[q] == t).sum())] for t in sorted(set(types[q].tolist()))}
    report["mean"] = {v: {m: float(np.mean([d[v][m] for d in report["directions"].values()])) for m in SUMMARY}
                      for v in variants}
    return report


def format_report(report: dict, title: str) -> str:
    lines = [f"{title}: {report['images']} images, {report['identities']} identities (cross-camera)",
             f"  {'direction':<22}" + "".join(f"{m:>9}" for m in SUMMARY)]
    for direction, variants in report["directions"].items():
        for variant, metrics in variants.items():
            label = direction + (" +rerank" if variant == "rerank" else "")
            lines.append(f"  {label:<22}" + "".join(f"{100 * metrics[m]:>8.1f}%" for m in SUMMARY))
    for direction, per_type in report["rank1_per_type"].items():
        lines.append(f"  Rank-1 per type {direction}: " + ", ".join(f"{t} {h}/{n}" for t, (h, n) in per_type.items()))
    return "\n".join(lines)
