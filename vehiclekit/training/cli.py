"""``train-vehicle``: train, export and evaluate vehiclekit models. ``train-vehicle COMMAND --help``."""

from __future__ import annotations

import argparse
import importlib
import sys

from vehiclekit.errors import VehiclekitError

# command -> (module in vehiclekit.training, one-line help). Each module has add_arguments() and run().
COMMANDS = {
    "supervised": ("classifier.train", "train a classifier from scratch (or from --init) on labelled images"),
    "export": ("classifier.export", "export a run's best checkpoint to ONNX with metadata, checking parity on real images"),
    "evaluate-type": ("classifier.evaluate_type", "score a vehicle-type model through the SDK per domain: traffic crops, street photos, re-ID crops, COCO boxes"),
    "evaluate-attributes": ("classifier.evaluate_attributes", "score the make-model-year classifier on Stanford Cars test: make, model, body; top-5, calibration"),
    "evaluate-detector": ("detection.evaluate", "COCO AP of a YOLOX-Nano vehicle detector on coco-vehicles, or per held-out session of the traffic camera with the recognizer's recall, precision and type fit"),
    "detector": ("detection.train", "fine-tune YOLOX-Nano on a fixed camera's labelled frames (YOLOX loss, SimOTA) and export it to ONNX"),
    "study": ("study", "run a resumable experiment grid and write its table to docs/ (e.g. `study ssl`)"),
    "make-splits": ("splits_cli", "regenerate the committed train/val/test split files (deterministic)"),
    "pretrain": ("ssl.pretrain", "self-supervised pretraining of a backbone on unlabeled images (simsiam, byol, simclr, moco)"),
    "evaluate": ("ssl.evaluate", "kNN / linear / fine-tune evaluation of a (pretrained or random) backbone"),
    "reid": ("reid.train", "train a vehicle re-ID embedder (BNNeck, ID + batch-hard triplet loss, P x K sampling) and export it"),
    "finetune": ("ups.finetune", "semi-supervised fine-tuning from a labelled fraction: supervised, confidence pseudo-labels or UPS (Rizve et al. 2021)"),
    "select": ("active.select", "the labeling queue: which unlabelled images a person should label next (active learning, UPS split)"),
    "score": ("corpus.score", "score an unlabelled pool (folder or shards) on Ray Data ONNX Runtime actors or in-process: softmax, features, MC-dropout passes for `select --scores`"),
    "import-labels": ("active.import_labels", "merge a CSV or Label Studio export into the project's label store; conflicts reported, never overwritten"),
    "quantize": ("quantize", "static INT8 quantization (QDQ, per-channel) calibrated on real images; refused if accuracy drops past --max-drop"),
    "harvest": ("corpus.harvest", "video files, frame folders and streams -> vehicle crops in WebDataset shards (a few per track, near-duplicates dropped)"),
    "evaluate-reid": ("reid.evaluate", "cross-camera re-ID retrieval on vehicle-reid test: CMC, mAP, mINP (run, ONNX, --init or random)"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="train-vehicle", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(f"vehiclekit.training.{module}")
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (VehiclekitError, ValueError, OSError) as exc:
        # A bad argument or input (a missing file, a backbone without ImageNet weights...): one line, no
        # traceback. Commands also stop with SystemExit("message"), which Python prints as one line.
        print(f"train-vehicle {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
