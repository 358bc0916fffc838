"""``train-vehicle detector``: fine-tune YOLOX-Nano on the frames of a fixed camera.

Starts from the COCO network (``yolox_nano.onnx``, rebuilt in PyTorch by :mod:`vehiclekit.models.yolox`),
trains with YOLOX's own loss (:mod:`.yolox_loss`) on the camera's labelled frames and keeps the
80-class COCO output: the SDK, the Triton repository and the recognizer's type rules read it unchanged.
So that it stays a general vehicle detector, each epoch mixes in as many general photos: 80 % of
``openimages-vehicles`` with their boxes, and unlabelled COCO photos (``coco-unlabeled``, less any
image of the ``coco-vehicles`` test) boxed by the starting network itself, which keeps its answers on
photos like them (pseudo-label replay, a hard-label form of "Learning without Forgetting", Li & Hoiem,
ECCV 2016); ``--freeze backbone`` keeps its features. Two options keep more of the starting network
(docs/results.md §29 measures both): ``--distill WEIGHT`` also trains the network on those photos
towards its dense outputs (:mod:`.distill`), answers below the pseudo-labels' threshold included;
``--car-label partial`` leaves the truck score of a box labelled car untrained, since a camera's
"car" may be COCO's "truck" (a pickup). After each epoch the network is scored (COCO AP50 through
the SDK's own post-processing) on the camera's held-out ``val`` session and on the other 20 % of the
photos; the epoch with the best mean of the two is exported to ``OUT/detector.onnx`` at ``--size``.

Example (the zoo's ``yolox-nano-traffic`` v2; its card, ``vehiclekit/models/zoo/yolox_nano_traffic_v2.md``)::

    train-vehicle detector --freeze backbone --crop 640 --epochs 20 --out runs/detector/traffic-crop640
"""

from __future__ import annotations

import argparse
import copy
import json
import random
from pathlib import Path

import cv2
import numpy as np
import torch

from vehiclekit import paths
from vehiclekit.models.yolox import YOLOXNano, calibrate_batchnorm, fold_batchnorm, load_onnx_weights
from vehiclekit.sdk import VehicleDetector
from vehiclekit.sdk.detector import letterbox
from vehiclekit.sdk.image import IMAGE_SUFFIXES
from vehiclekit.training.core.checkpoint import add_run_arguments, start_run, write_json
from vehiclekit.training.core.loop import train_one_epoch
from vehiclekit.training.core.schedules import warmup_cosine
from vehiclekit.training.core.trainer import Trainer
from vehiclekit.training.detection.data import CLASS_INDEX, batches
from vehiclekit.training.detection.distill import distillation_loss
from vehiclekit.training.detection.evaluate_frames import coco_ap
from vehiclekit.training.detection.export import export_detector
from vehiclekit.training.detection.frames import Frame, cctv_split, photo_split, read_yolo_folder
from vehiclekit.training.detection.yolox_loss import yolox_loss


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="folder of labelled frames in YOLO format (default: DATA/traffic-cctv, its train split)")
    p.add_argument("--replay", default="openimages-vehicles",
                   help="general photos with boxes (YOLO format, under DATA) mixed in so the detector keeps working off this camera; '' for none")
    p.add_argument("--pseudo", default="coco-unlabeled",
                   help="unlabelled photos (under DATA) boxed by the starting detector and mixed in as well; '' for none")
    p.add_argument("--replay-share", type=float, default=1.0, help="general photos per camera frame in each epoch")
    p.add_argument("--distill", type=float, default=0.0,
                   help="weight of the distillation of the starting network's outputs on the general photos (0: none). "
                        "1 keeps more of its COCO AP but lowers the camera's recall at the recognizer's threshold "
                        "(docs/results.md §29)")
    p.add_argument("--car-label", choices=("strict", "partial"), default="strict",
                   help="partial: a box labelled car may also be COCO's truck (the camera's 'car' covers every passenger "
                        "vehicle, and COCO calls pickups and vans trucks), so its truck score is not trained down (default: %(default)s)")
    p.add_argument("--init", default=None, help="YOLOX-Nano ONNX to start from (default: the COCO yolox_nano.onnx)")
    p.add_argument("--size", type=int, default=640, help="the detector's input size (square, multiple of 32): export and validation")
    p.add_argument("--crop", type=int, default=512, help="training windows (square, multiple of 32) cut from frames scaled for --size")
    p.add_argument("--epochs", type=int, default=12, help="epochs of --epoch-frames camera frames and their photos (default: %(default)s)")
    p.add_argument("--epoch-frames", type=int, default=256, help="camera frames drawn per epoch (consecutive frames are near-duplicates)")
    p.add_argument("--batch-size", type=int, default=8, help="training windows per step (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.002, help="peak SGD learning rate (1 warm-up epoch, then cosine)")
    p.add_argument("--freeze", choices=("none", "backbone"), default="none",
                   help="backbone: train only the neck and head (keeps the COCO features; less forgetting, less adaptation)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training frames (smoke tests)")
    p.add_argument("--data-root", default=None, help="dataset root (default: $VEHICLEKIT_DATA or ../shared/data)")
    add_run_arguments(p, "runs/detector/traffic", workers=0)


class TorchSession:
    """The network behind ONNX Runtime's session interface, so :class:`VehicleDetector` scores it
    with the product's own decoding and NMS."""

    class _Input:
        def __init__(self, size: int):
            self.name, self.shape = "images", [1, 3, size, size]

    def __init__(self, model: YOLOXNano, size: int):
        self.model, self.size = model, size

    def get_inputs(self) -> list:
        return [self._Input(self.size)]

    @torch.no_grad()
    def run(self, _outputs, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [self.model.predict(torch.from_numpy(feeds["images"])).numpy()]


@torch.no_grad()
def reestimate_batchnorm(model: YOLOXNano, images: torch.Tensor, batch_size: int = 8) -> None:
    """"Precise BatchNorm" (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021): replace the
    running statistics, an average over augmented training crops, by exact ones over ``images`` (whole
    frames, letterboxed as the detector will see them). Without it val AP50 after one epoch read 0.15; with it, 0.84."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    model.train()
    for start in range(0, len(images), batch_size):
        model(images[start:start + batch_size])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def _frame_tensor(frame: Frame, size: int) -> np.ndarray:
    return letterbox(cv2.imread(str(frame.path)), (size, size))[0]


def score_frames(model: YOLOXNano, frames: list[Frame], size: int) -> dict[str, float]:
    """COCO AP of ``model`` on ``frames``, scored as COCO evaluation wants (threshold 0.001)."""
    model.eval()
    detector = VehicleDetector(score_threshold=0.001, session=TorchSession(model, size))
    found = [[(d.bbox, d.label, d.score) for d in detector.detect(cv2.imread(str(f.path)))] for f in frames]
    return coco_ap(frames, found)


def pseudo_labelled(folder: Path, teacher: VehicleDetector, exclude: set[str], score: float = 0.5) -> list[Frame]:
    """The photos of ``folder`` (but those named in ``exclude``) with the vehicles ``teacher`` finds
    scoring at least ``score`` as their labels."""
    frames = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in exclude):
        image = cv2.imread(str(path))
        found = [d for d in teacher.detect(image) if d.score >= score]
        boxes = np.array([d.bbox for d in found], dtype=np.float32).reshape(-1, 4)
        frames.append(Frame(path, folder.name, 0, image.shape[1], image.shape[0], boxes, tuple(d.label for d in found)))
    return frames


def evaluation_images(root: Path) -> set[str]:
    """File names of the ``coco-vehicles`` test images (never trained on)."""
    instances = root / "coco-vehicles" / "instances.json"
    return {image["file_name"] for image in json.loads(instances.read_text())["images"]} if instances.is_file() else set()


def load_frames(args: argparse.Namespace) -> tuple[list[Frame], list[Frame], dict[str, list[Frame]]]:
    """Training frames, general photos to mix in, and the validation sets by name."""
    root = paths.data_root(args.data_root)
    camera = read_yolo_folder(Path(args.data) if args.data else root / "traffic-cctv")
    train, val = (cctv_split(camera, "train"), cctv_split(camera, "val")) if not args.data else (camera, [])
    photos = read_yolo_folder(root / args.replay) if args.replay else []
    general = photo_split(photos, "train")
    if args.pseudo:
        teacher = VehicleDetector(model_path=args.init or paths.models_dir() / "yolox_nano.onnx", threads=args.threads)
        general += pseudo_labelled(root / args.pseudo, teacher, evaluation_images(root))
    vals = {"camera": val, "photos": photo_split(photos, "val")}
    return train[: args.limit] if args.limit else train, general, {name: frames for name, frames in vals.items() if frames}


def run(args: argparse.Namespace) -> int:
    if args.size % 32 or args.crop % 32 or args.crop > args.size:
        raise ValueError(f"--size and --crop must be multiples of 32 (the network's largest stride), with --crop <= --size; "
                         f"got {args.size} and {args.crop}")
    if args.distill < 0:
        raise ValueError(f"--distill is a loss weight: 0 (none) or more, got {args.distill}")
    args, config, state = start_run(args)
    out = Path(args.out)
    train, replay, vals = load_frames(args)
    model = load_onnx_weights(YOLOXNano(), args.init or paths.models_dir() / "yolox_nano.onnx")
    # BatchNorm statistics over what the detector will see: the camera's frames and general photos alike
    statistics_frames = train[:: max(1, len(train) // 64)] + replay[:: max(1, len(replay) // 64)]
    statistics = torch.from_numpy(np.stack([_frame_tensor(f, args.size) for f in statistics_frames]))
    calibrate_batchnorm(model, statistics[::4])
    teacher = copy.deepcopy(model).eval().requires_grad_(False) if args.distill else None
    general = {frame.path for frame in replay}
    open_classes = {CLASS_INDEX["car"]: (CLASS_INDEX["truck"],)} if args.car_label == "partial" else None
    if args.freeze == "backbone":
        model.backbone.requires_grad_(False)
    drawn = min(len(train), args.epoch_frames)
    per_epoch = (drawn + min(len(replay), int(args.replay_share * drawn))) // args.batch_size
    # YOLOX's groups: weight decay on convolution weights only, not on BatchNorm or biases.
    decayed = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    others = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decayed, "weight_decay": 5e-4}, {"params": others, "weight_decay": 0.0}],
                                lr=args.lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(per_epoch, per_epoch * args.epochs))
    trainer = Trainer(out, config, args.epochs, state, model, optimizer, scheduler, best_key="best_ap50")

    def step(net, batch):
        images, targets, frames = batch
        raw = net(images)
        losses = yolox_loss(raw, targets, (args.crop, args.crop), open_classes=open_classes)
        photos = torch.tensor([frame.path in general for frame in frames]) if teacher is not None else None
        if photos is not None and photos.any():
            with torch.no_grad():
                taught = teacher(images[photos])
            for name, value in distillation_loss(raw[photos], taught).items():
                losses[name] = args.distill * value
                losses["total"] = losses["total"] + losses[name]
        return losses["total"], {k: v.detach() for k, v in losses.items() if k != "total"}, len(images)

    def train_epoch(epoch: int) -> dict:
        rng = random.Random(args.seed * 1000 + epoch)  # noqa: S311 - seeded augmentation, not security
        frames = rng.sample(train, drawn) + rng.sample(replay, min(len(replay), int(args.replay_share * drawn)))
        stats = train_one_epoch(model, batches(frames, args.batch_size, args.crop, args.size, rng), step, optimizer, scheduler,
                                f"epoch {epoch + 1}/{args.epochs}", first_step=epoch * per_epoch)
        return {"epoch": epoch, **{f"train_{k}": round(float(v), 4) for k, v in stats.means.items()}}

    def evaluate(_epoch: int) -> dict:
        reestimate_batchnorm(model, statistics)
        scores = {f"{name}_{k}": round(v, 4) for name, frames in vals.items() for k, v in score_frames(model, frames, args.size).items()}
        return {**scores, "val_score": round(float(np.mean([scores[f"{name}_AP50_vehicle"] for name in vals])), 4)} if vals else {}

    history = trainer.fit(train_epoch, evaluate, score="val_score" if vals else None,
                          after=lambda e: print({k: v for k, v in e.items() if "AP50_vehicle" in k or k in ("epoch", "train_loss", "val_score")}, flush=True))
    best = torch.load(out / ("best.pt" if vals else "last.pt"), map_location="cpu", weights_only=False)
    model.load_state_dict(best["model"])
    fold_batchnorm(model.eval())
    export_detector(model, out / "detector.onnx", args.size, _frame_tensor(train[0], args.size))
    write_json(out / "metrics.json", {"best_epoch": best["epoch"], "history": history})
    print(f"exported {out / 'detector.onnx'} (epoch {best['epoch'] + 1})")
    return 0
