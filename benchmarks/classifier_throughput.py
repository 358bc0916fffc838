"""Vehicle-type classifier throughput on this CPU, next to what the CPU can do at all.

Measures in one run: the machine's fp32 matmul GFLOP/s (torch, and numpy as a cross-check), the
classifier's GFLOPs per image, and img/s at several batch sizes for ONNX Runtime (the zoo ONNX, as
the SDK runs it) and PyTorch eager (the same architecture, random weights). Utilisation =
model GFLOPs x img/s / matmul GFLOP/s: how much of the matmul rate the model turns into work.
Timings are of the model call only; the input is a pre-processed batch. See benchmarks/README.md.

    python benchmarks/classifier_throughput.py [--onnx PATH] [--threads N] [--seconds S] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime as ort
import torch
from torch.utils.flop_counter import FlopCounterMode

from vehiclekit.models import zoo
from vehiclekit.models.factory import Classifier
from vehiclekit.models.metadata import INPUT_NAME, ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.sdk.session import create_session, default_threads

WARMUP_CALLS = 3
MIN_REPEATS = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", type=Path, help="classifier ONNX (default: the zoo's vehicle_type.onnx)")
    parser.add_argument("--arch", default="resnet18-half", help="backbone of the PyTorch model (default: resnet18-half)")
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="intra-op threads of both runtimes (default: the SDK's, all cores up to 4)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per measurement (default 2)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32], help="batch sizes (default 1 8 32)")
    parser.add_argument("--matmul-size", type=int, default=2048, help="N of the N x N fp32 matmul (default 2048)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def call_times(fn: Callable[[], object], seconds: float) -> list[float]:
    """Seconds per call of ``fn`` after a warm-up: at least ``MIN_REPEATS`` calls and ``seconds`` in all."""
    for _ in range(WARMUP_CALLS):
        fn()
    times: list[float] = []
    while len(times) < MIN_REPEATS or sum(times) < seconds:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def save_json(path: Path | None, results: dict) -> None:
    """``--json OUT``: every number of the run, for docs/results.md."""
    if path is not None:
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {path}")


def matmul_gflops(n: int, seconds: float) -> dict[str, float]:
    """Best-of-repeats fp32 GFLOP/s of an n x n matmul (2 n^3 FLOPs) with torch and with numpy."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a_np, b_np = a.numpy(), b.numpy()
    flops = 2 * n**3
    return {
        "torch": flops / min(call_times(lambda: torch.matmul(a, b), seconds)) / 1e9,
        "numpy": flops / min(call_times(lambda: a_np @ b_np, seconds)) / 1e9,
    }


def model_gflops(model: torch.nn.Module, size: tuple[int, int]) -> float:
    """GFLOPs of one image through ``model`` (convolutions and matmuls, 2 FLOPs per multiply-add)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, *size))
    return counter.get_total_flops() / 1e9


def throughput(run_batch: Callable[[np.ndarray], object], batch: np.ndarray, seconds: float) -> dict[str, float]:
    """Median ms per batch and the img/s it gives."""
    median = statistics.median(call_times(lambda: run_batch(batch), seconds))
    return {"batch": len(batch), "ms_per_batch": 1e3 * median, "img_per_s": len(batch) / median}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0]  # other processes' CPU use, before this run adds its own
    torch.set_num_threads(args.threads)
    onnx_path = args.onnx or zoo.get("vehicle-type").path

    session = create_session(onnx_path, providers=["CPUExecutionProvider"], threads=args.threads)
    meta = ClassifierMetadata.from_props(session.get_modelmeta().custom_metadata_map)
    if meta.arch and meta.arch != args.arch:
        print(f"note: the ONNX says arch {meta.arch!r}; GFLOPs are counted on --arch {args.arch!r}")
    model = Classifier(args.arch, len(meta.labels)).eval()

    def run_torch(batch: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return model(torch.from_numpy(batch))

    def run_ort(batch: np.ndarray) -> list:
        return session.run(None, {INPUT_NAME: batch})

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (100, 100, 3), dtype=np.uint8) for _ in range(max(args.batches))]
    peak = matmul_gflops(args.matmul_size, args.seconds)
    gflops = model_gflops(model, meta.input_size)
    results = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads,
                    "load_average_1min": load,
                    "torch": torch.__version__, "onnxruntime": ort.__version__},
        "matmul_gflop_per_s": peak,
        "model": {"onnx": str(onnx_path), "name": meta.name, "version": meta.version, "arch": args.arch,
                  "input_size": list(meta.input_size), "gflops_per_image": gflops},
        "runs": [],
    }
    print(f"threads {args.threads} of {os.cpu_count()} CPUs (load average {load:.1f} before the run), "
          f"torch {torch.__version__}, onnxruntime {ort.__version__}")
    print(f"fp32 matmul {args.matmul_size}x{args.matmul_size}: torch {peak['torch']:.1f} GFLOP/s, "
          f"numpy {peak['numpy']:.1f} GFLOP/s")
    print(f"model {meta.name} {meta.version} ({args.arch}, {meta.input_size[0]}x{meta.input_size[1]}): "
          f"{gflops:.3f} GFLOPs/image\n")
    print(f"{'runtime':<14}{'batch':>6}{'img/s':>10}{'ms/batch':>10}{'util':>8}")
    for runtime, run_batch in (("onnxruntime", run_ort), ("torch-eager", run_torch)):
        for size in args.batches:
            row = {"runtime": runtime, **throughput(run_batch, classifier_input(crops[:size], meta.input_size),
                                                     args.seconds)}
            row["utilisation"] = gflops * row["img_per_s"] / peak["torch"]
            results["runs"].append(row)
            print(f"{runtime:<14}{size:>6}{row['img_per_s']:>10.1f}{row['ms_per_batch']:>10.2f}"
                  f"{100 * row['utilisation']:>7.1f}%")
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
