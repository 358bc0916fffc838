"""``vehiclekit serving build-repo``: Triton model repository tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vehiclekit.commands.common import model_argument, precision_argument
from vehiclekit.errors import VehiclekitError
from vehiclekit.serving.repository import FLAVORS, build_repository

BUILD_REPO_EPILOG = """\
flavors:
  cpu  python-backend models running the ONNX files with ONNX Runtime (the tritonserver that
       `pip install 'vehiclekit[serve]'` installs, as `vehiclekit serve` runs it)
  gpu  onnxruntime-backend models on the GPU, TensorRT FP16 unless --no-tensorrt (NVIDIA's
       nvcr.io/nvidia/tritonserver image, see deploy/)
Both serve vehicle_type, vehicle_detector and vehicle_pipeline with the same inputs and outputs.
OUT is replaced when it holds a repository built before; any other non-empty folder is refused.

examples:
  vehiclekit serving build-repo model-repository
  vehiclekit serving build-repo deploy/model-repository --flavor gpu
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serving`` subcommands."""
    parser.description = "Triton model repository tools."
    sub = parser.add_subparsers(dest="serving_command", metavar="COMMAND", required=True)
    _add_build_repo_arguments(sub.add_parser("build-repo", help="write a Triton model repository from the zoo"))


def _add_build_repo_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vehiclekit serving build-repo``."""
    parser.description = "Write a Triton model repository holding the vehiclekit models."
    parser.epilog = BUILD_REPO_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("out", type=Path, help="repository folder to write")
    parser.add_argument("--flavor", choices=FLAVORS, default="cpu", help="cpu (pip Triton, default) or gpu (NGC image)")
    parser.add_argument("--no-tensorrt", action="store_true", help="gpu flavor: plain CUDA, no TensorRT FP16 engines")
    parser.add_argument("--classifier", type=Path, help="classifier ONNX to serve (default: the zoo's vehicle-type)")
    parser.add_argument("--detector", type=Path, help="YOLOX ONNX to serve (default: the zoo's yolox-nano)")
    parser.add_argument("--reid", type=Path, help="re-ID embedder ONNX to serve (default: the zoo's vehicle-reid)")
    parser.add_argument("--attributes", type=Path,
                        help="make-model-year classifier ONNX to serve as vehicle_model (default: the zoo's vehicle-model)")
    precision_argument(parser)
    model_argument(parser)


def _run_build_repo(args: argparse.Namespace) -> int:
    """Build the repository; 0 on success, 1 with the reason on stderr otherwise."""
    try:
        out = build_repository(args.out, args.flavor, args.classifier, args.detector, not args.no_tensorrt, args.reid,
                               args.attributes, dict(args.model), args.precision)
    except VehiclekitError as e:
        print(f"vehiclekit serving build-repo: {e}", file=sys.stderr)
        return 1
    print(f"{args.flavor}-flavor model repository written to {out}")
    return 0


#: subcommand -> the function that runs it.
RUNNERS = {"build-repo": _run_build_repo}


def run(args: argparse.Namespace) -> int:
    """Run the ``serving`` subcommand; its exit status."""
    return RUNNERS[args.serving_command](args)
