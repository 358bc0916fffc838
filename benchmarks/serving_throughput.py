"""Serving throughput: the same models in-process (ONNX Runtime), through Triton over gRPC and over HTTP.

One run, one machine state: starts the pip ``tritonserver`` on a cpu-flavor repository (built from
the zoo into a temporary folder unless ``--repo``), then for each mode keeps ``concurrency`` client
threads busy for ``--seconds`` and reports images/s, the ratio to in-process, and p50/p99 latency
per request.

* ``vehicle_type``: ``--request-batch`` pre-processed crops per request (``classifier_input`` of
  COCO crops; 1 = one crop per request, 8 or 32 = what ``VehicleClassifier.predict_batch`` sends);
  in-process = the SDK's ONNX Runtime session called by the same threads with the same batches;
  Triton batches concurrent requests on the server (dynamic batching).
* ``vehicle_pipeline``: one COCO JPEG per request (decode, detect, crop, classify); in-process =
  :class:`~vehiclekit.sdk.VehicleRecognizer` on the same bytes.

Client-side Python (tritonclient, the vehiclekit remote client) is part of every remote number, as it
is for an application. Other processes using the CPU lower everything: compare rows of one run.

    python benchmarks/serving_throughput.py [--seconds S] [--concurrency 1 8 32] [--request-batch 1 8] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vehiclekit.models import zoo
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.paths import data_root
from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleRecognizer
from vehiclekit.sdk.remote import TritonClient
from vehiclekit.serving.launcher import TritonServer, free_ports
from vehiclekit.serving.repository import build_repository

WARMUP_SECONDS = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="cpu-flavor repository to serve (default: built from the zoo)")
    parser.add_argument("--classifier", type=Path, help="classifier ONNX (default: the zoo's vehicle_type.onnx)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement (default 3)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="vehicle_type client threads")
    parser.add_argument("--request-batch", type=int, nargs="+", default=[1, 8], help="vehicle_type crops per request")
    parser.add_argument("--pipeline-concurrency", type=int, nargs="+", default=[1, 8], help="vehicle_pipeline client threads")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def measure(call: Callable[[object], object], inputs: list, concurrency: int, seconds: float) -> dict[str, float]:
    """Keep ``concurrency`` threads calling ``call`` on ``inputs`` (cycled) for ``seconds`` after a
    warm-up; requests/s and latency percentiles per request in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = [float("inf")]
    timing = threading.Event()

    def worker(offset: int) -> None:
        mine = []
        for item in itertools.islice(itertools.cycle(inputs), offset, None):
            start = time.perf_counter()
            call(item)
            end = time.perf_counter()
            if end > stop_at[0]:
                break
            if timing.is_set():
                mine.append(end - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(WARMUP_SECONDS)
    timing.set()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {
        "per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "requests": len(latencies),
    }


def coco_images(limit: int = 32) -> list[Path]:
    return sorted((data_root() / "coco-vehicles" / "images").glob("*.jpg"))[:limit]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    classifier_path = args.classifier or zoo.get("vehicle-type").path
    embedded = VehicleClassifier(model_path=classifier_path)
    recognizer = VehicleRecognizer(embedded, VehicleDetector())
    images = coco_images()
    jpegs = [p.read_bytes() for p in images]
    meta = embedded.metadata
    crops = [cv2.imread(str(p))[0:160, 0:200] for p in images]
    batch = classifier_input(crops, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
    batches = {b: [np.roll(batch, -i, axis=0)[:b] for i in range(len(batch))] for b in args.request_batch}

    rows = []
    with tempfile.TemporaryDirectory(prefix="vehiclekit-bench-") as scratch:
        repo = args.repo or build_repository(Path(scratch) / "repo", "cpu", classifier_path)
        with open(Path(scratch) / "triton.log", "w") as log, TritonServer(repo, *free_ports(3), log=log, exit_timeout=2) as server:
            grpc, http = TritonClient(server.grpc_url), TritonClient(server.http_url)
            modes = {
                "vehicle_type": {
                    "in-process": lambda x: embedded.session.run(["logits"], {"images": x}),
                    "triton-grpc": grpc.classify,
                    "triton-http": http.classify,
                },
                "vehicle_pipeline": {
                    "in-process": recognizer.recognize,
                    "triton-grpc": grpc.recognize,
                    "triton-http": http.recognize,
                },
            }
            plan = [("vehicle_type", c, b, batches[b]) for b in args.request_batch for c in args.concurrency]
            plan += [("vehicle_pipeline", c, 1, jpegs) for c in args.pipeline_concurrency]
            print(f"{'model':<17}{'conc':>5}{'batch':>6}  {'mode':<12}{'img/s':>9}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}")
            for model, concurrency, per_request, inputs in plan:
                baseline = None
                for mode, call in modes[model].items():
                    result = measure(call, inputs, concurrency, args.seconds)
                    images_per_s = result["per_s"] * per_request
                    baseline = baseline or images_per_s
                    row = {"model": model, "concurrency": concurrency, "request_batch": per_request, "mode": mode,
                           **result, "images_per_s": images_per_s, "ratio": images_per_s / baseline}
                    rows.append(row)
                    print(f"{model:<17}{concurrency:>5}{per_request:>6}  {mode:<12}{images_per_s:>9.1f}{row['ratio']:>8.2f}"
                          f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}", flush=True)
    print(f"({os.cpu_count()} CPU cores; {args.seconds:g} s per row; ratio = img/s / in-process img/s at the same concurrency)")
    if args.json:
        args.json.write_text(json.dumps({"seconds": args.seconds, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
