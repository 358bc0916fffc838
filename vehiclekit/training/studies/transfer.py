"""Retraining on a user's folder: which start is worth how much at 10 / 20 / 50 images per class —
the shipped ``vehicle-type`` model, ImageNet weights, or nothing (random init).

The "user's folder" is built from images no shipped model was trained on: the vehicle-types
**test** split (612 traffic-camera crops, 6 classes), classes renamed. A fixed 40 images per class
are held out; each run trains with ``train-vehicle supervised --images`` on the first N (seeded
shuffle) of the rest, is exported, and is scored through the SDK on the held-out images. Finished
runs are skipped, so the command resumes. Writes ``OUT/transfer.json`` and prints a table.

    train-vehicle study transfer --out runs/transfer-study
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

from vehiclekit.paths import data_root
from vehiclekit.training.core.datasets import load_vehicle_types

#: The user's names for the vehicle-types classes.
RENAMED = {"bike": "two-wheeler", "car": "car", "juggernaut": "articulated", "minibus": "minibus", "pickup": "pickup",
           "truck": "lorry"}
HELD_OUT = 40
#: init -> (--init value or None, frozen stages)
STARTS = {"vehicle-type": ("vehicle-type", 3), "imagenet": ("imagenet", 3), "scratch": (None, 0)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--per-class", default="10,20,50", help="training images per class, comma-separated")
    p.add_argument("--starts", default=",".join(STARTS), help=f"comma-separated, of {', '.join(STARTS)}")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--img-size", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--out", default="runs/transfer-study")


def folders(out: Path, data: str | None, seed: int, sizes: list[int]) -> tuple[Path, dict[int, Path]]:
    """The held-out folder and one training folder per size (links to the shared images)."""
    test = load_vehicle_types(data_root(data), "test")
    by_class: dict[str, list[Path]] = {}
    for path, y in zip(test.paths, test.labels):
        by_class.setdefault(RENAMED[test.classes[y]], []).append(path)
    held, train = out / "held-out", {n: out / f"train-{n}" for n in sizes}
    for name, paths in by_class.items():
        random.Random(f"{seed}-{name}").shuffle(paths)  # noqa: S311 - a seeded sample, not security
        for folder, chosen in [(held, paths[:HELD_OUT])] + [(train[n], paths[HELD_OUT:HELD_OUT + n]) for n in sizes]:
            (folder / name).mkdir(parents=True, exist_ok=True)
            for path in chosen:
                link = folder / name / path.name
                if not link.exists():
                    link.symlink_to(path)
    return held, train


def run(args: argparse.Namespace) -> int:
    from vehiclekit.sdk import VehicleClassifier
    from vehiclekit.training.cli import main as train_vehicle   # here: the CLI imports the studies

    out = Path(args.out)
    sizes = [int(n) for n in args.per_class.split(",")]
    held, train = folders(out, args.data, args.seed, sizes)
    held_images = sorted(held.glob("*/*"))
    results = json.loads((out / "transfer.json").read_text()) if (out / "transfer.json").exists() else {}
    for n in sizes:
        for start in args.starts.split(","):
            key = f"{start}/{n}"
            if key in results:
                continue
            init, frozen = STARTS[start]
            run_dir = out / "runs" / f"{start}-{n}"
            shutil.rmtree(run_dir, ignore_errors=True)
            argv = ["supervised", "--images", str(train[n]), "--arch", "efficientnet-lite0", "--img-size", str(args.img_size),
                    "--epochs", str(args.epochs), "--batch-size", "16", "--optimizer", "adamw", "--lr", "0.001",
                    "--warmup-epochs", "1", "--frozen-blocks", str(frozen), "--workers", "0", "--seed", str(args.seed),
                    "--out", str(run_dir)] + (["--init", init] if init else [])
            if train_vehicle(argv) or train_vehicle(["export", str(run_dir), "-o", str(run_dir / "model.onnx"),
                                                     "--name", "transfer"]):
                raise SystemExit(f"transfer study: {key} failed (see above); its run folder is {run_dir}")
            predictions = VehicleClassifier(model_path=run_dir / "model.onnx").predict_batch([str(p) for p in held_images])
            correct = sum(p.label == path.parent.name for p, path in zip(predictions, held_images))
            results[key] = {"start": start, "per_class": n, "held_out": len(held_images), "correct": correct,
                            "accuracy": correct / len(held_images), "command": "train-vehicle " + " ".join(argv)}
            (out / "transfer.json").write_text(json.dumps(results, indent=1))
    print(f"held-out accuracy ({len(held_images)} images, {HELD_OUT} per class):")
    print("| images per class | " + " | ".join(args.starts.split(",")) + " |")
    for n in sizes:
        print(f"| {n} | " + " | ".join(f"{100 * results[f'{s}/{n}']['accuracy']:.1f} %" for s in args.starts.split(",")) + " |")
    return 0
