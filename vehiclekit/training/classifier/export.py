"""``train-vehicle export RUN_DIR -o model.onnx``: ONNX with a dynamic batch axis and the
vehiclekit metadata (labels, input size, mean/std, name, version), refused unless ONNX Runtime
reproduces PyTorch on real images (max |logit diff| <= 1e-4 and 100 % top-1 agreement)."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from vehiclekit.errors import VehiclekitError
from vehiclekit.models.factory import Classifier, backbone_spec
from vehiclekit.models.metadata import CLASSIFIER_OUTPUT, INPUT_NAME, ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.paths import data_root
from vehiclekit.training.classifier.train import DATASETS
from vehiclekit.training.core.checkpoint import load_checkpoint
from vehiclekit.training.core.datasets import read_bgr, stanford_label_groups
from vehiclekit.training.core.user_images import SPLIT_FILE, load_split

MAX_ABS_DIFF = 1e-4
OPSET = 18


class ExportParityError(VehiclekitError):
    """ONNX Runtime does not reproduce the PyTorch model; the ONNX file is not written."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a `train-vehicle supervised` run directory (uses best.pt)")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.add_argument("--name", default="vehicle-type",
                   help="model name stored in the metadata (your own, e.g. my-car-park-types; `vehiclekit serve --model NAME=FILE`)")
    p.add_argument("--model-version", default="1", help="model version stored in the metadata")
    p.add_argument("--parity-images", type=int, default=64, help="real test-split images used for the parity check")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    ckpt = load_checkpoint(run_dir / "best.pt")
    config = ckpt["config"]
    model = Classifier(config["arch"], len(ckpt["classes"]), config.get("dropout", 0.0))
    model.load_state_dict(ckpt["model"])
    model.eval()
    size = (config["img_size"], config["img_size"])
    norm = backbone_spec(config["arch"])
    own_split = run_dir / SPLIT_FILE         # a run on the user's own images: its own test split
    root = None if own_split.exists() else data_root(args.data)
    groups = stanford_label_groups(root) if config.get("dataset") == "stanford-cars-model" else {}
    meta = ClassifierMetadata(
        name=args.name, version=args.model_version, labels=tuple(ckpt["classes"]), input_size=size,
        mean=norm.mean, std=norm.std, arch=config["arch"], groups=groups,
    )
    test = load_split(own_split)["test"] if own_split.exists() else DATASETS[config["dataset"]](root, "test")
    step = max(1, len(test) // args.parity_images)
    boxes = test.boxes or (None,) * len(test)
    images = [read_bgr(p, b) for p, b in list(zip(test.paths, boxes))[::step][: args.parity_images]]
    batch = classifier_input(images, size, norm.mean, norm.std)
    report = export_onnx(model, meta, batch, Path(args.output))
    print(f"wrote {args.output} ({Path(args.output).stat().st_size / 1e6:.1f} MB): parity on {len(images)} real test "
          f"images: max |logit diff| {report['max_abs_diff']:.2e}, top-1 agreement {report['top1_agreement']:.0%}")
    return 0


def export_onnx(model: torch.nn.Module, meta: ClassifierMetadata, parity_batch: np.ndarray, output: Path,
                output_name: str = CLASSIFIER_OUTPUT) -> dict:
    """Export ``model`` to ``output`` atomically after the parity check on ``parity_batch``.
    ``output_name``: the ONNX output, ``logits`` for a classifier, ``embeddings`` for a re-ID
    embedder (``train-vehicle reid``'s :mod:`~vehiclekit.training.reid.export`)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        tmp_path = Path(tmp) / output.name
        batch = torch.export.Dim("batch", min=1, max=4096)
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress steps
            torch.onnx.export(
                model, (torch.from_numpy(parity_batch[:2]),), str(tmp_path), dynamo=True, opset_version=OPSET,
                input_names=[INPUT_NAME], output_names=[output_name], dynamic_shapes=({0: batch},),
                external_data=False, verbose=False,
            )
        proto = onnx.load(str(tmp_path))
        onnx.helper.set_model_props(proto, meta.to_props())
        proto.producer_name = "vehiclekit"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp_path))
        report = parity(model, tmp_path, parity_batch, output_name)
        if report["max_abs_diff"] > MAX_ABS_DIFF or report.get("top1_agreement", 1.0) < 1.0:
            agreement = f", top-1 agreement {report['top1_agreement']:.1%}" if "top1_agreement" in report else ""
            raise ExportParityError(
                f"ONNX Runtime disagrees with PyTorch on {len(parity_batch)} real images: max |{output_name} diff| "
                f"{report['max_abs_diff']:.2e} (limit {MAX_ABS_DIFF:g}){agreement}; "
                f"nothing written to {output}. Check for ops that differ between runtimes (opset {OPSET})."
            )
        os.replace(tmp_path, output)
    return report


def parity(model: torch.nn.Module, onnx_path: Path, batch: np.ndarray, output_name: str = CLASSIFIER_OUTPUT) -> dict:
    """ONNX Runtime vs PyTorch on ``batch``: max |difference|, plus top-1 agreement for logits or
    the smallest cosine similarity between the two runtimes' vectors for embeddings."""
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run([output_name], {INPUT_NAME: batch})[0]
    report = {"max_abs_diff": float(np.abs(got - expected).max())}
    if output_name == CLASSIFIER_OUTPUT:
        report["top1_agreement"] = float((got.argmax(1) == expected.argmax(1)).mean())
    else:
        cos = (got * expected).sum(1) / np.maximum(np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1), 1e-12)
        report["min_cosine"] = float(cos.min())
    return report
