"""Every served model under NVIDIA's ``perf_analyzer``, beside the same work done in process.

One run, one machine state: builds a cpu-flavor repository from the zoo (``--precision int8``: the
INT8 zoo variants), starts ``vehiclekit``'s Triton server, and for each model and concurrency runs
``perf_analyzer`` (gRPC, one item per request, real inputs) and then the SDK in this process with
the same number of threads on the same inputs. Inputs are real: crops of ``coco-vehicles`` images
pre-processed as the SDK does for ``vehicle_type`` / ``vehicle_model`` / ``vehicle_reid``, those
images letterboxed for ``yolox_nano``, their JPEG bytes for ``vehicle_detector`` /
``vehicle_pipeline``. perf_analyzer requests every output, so a ``vehicle_pipeline`` request also
computes re-ID embeddings and make-model probabilities; the in-process recognizer does the same.

perf_analyzer comes from its own environment (``bash benchmarks/setup_perf_analyzer.sh``). Its
``p50``/``p99`` are client-side request latencies; the in-process rows time one SDK call per
request the same way. ``ratio`` = Triton infer/s ÷ in-process infer/s at the same concurrency.

    bash benchmarks/setup_perf_analyzer.sh          # once
    .venv/bin/python benchmarks/perf_analyzer.py [--models ...] [--concurrency 1 8 32] [--json OUT]
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from vehiclekit.models import zoo
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.models.metadata import INPUT_NAME
from vehiclekit.models.serving_contract import ATTRIBUTES, CLASSIFIER, DETECTOR, DETECTOR_NETWORK, IMAGE, PIPELINE, REID
from vehiclekit.paths import data_root
from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleRecognizer, VehicleReID
from vehiclekit.sdk.detector import letterbox
from vehiclekit.serving.launcher import TritonServer, free_ports
from vehiclekit.serving.repository import build_repository

ROOT = Path(__file__).resolve().parent
PERF_VENV = ROOT / ".venv-perf"
MODELS = (CLASSIFIER, ATTRIBUTES, REID, DETECTOR_NETWORK, DETECTOR, PIPELINE)
WARMUP_SECONDS = 0.5


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="served models to measure")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="concurrent requests")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="zoo variants to serve")
    parser.add_argument("--measurement-ms", type=int, default=4000, help="perf_analyzer's measurement window")
    parser.add_argument("--images", type=int, default=16, help="coco-vehicles images used as inputs")
    parser.add_argument("--json", type=Path, help="also write every row to this JSON file")
    return parser.parse_args(argv)


def perf_analyzer_command() -> tuple[list[str], dict[str, str]]:
    """The perf_analyzer binary and the environment it runs in (see setup_perf_analyzer.sh)."""
    binary = PERF_VENV / "bin" / "perf_analyzer"
    cudart = next(PERF_VENV.glob("lib/python3*/site-packages/nvidia/cuda_runtime/lib"), None)
    if not binary.is_file() or cudart is None:
        sys.exit(f"perf_analyzer is not installed at {binary}: run `bash benchmarks/setup_perf_analyzer.sh` first")
    return [str(binary)], {**os.environ, "LD_LIBRARY_PATH": str(cudart)}


def run_perf_analyzer(model: str, url: str, data: Path, concurrency: int, window_ms: int, extra: Sequence[str] = ()) -> dict:
    """One perf_analyzer measurement; its CSV row as numbers (latencies in ms). It measures windows until
    three in a row agree within 25 % (at most 10): the other processes on 2 cores make 10 % unreachable.
    Raises RuntimeError with perf_analyzer's output when it fails (a failed request, no stable windows)."""
    command, env = perf_analyzer_command()
    with tempfile.NamedTemporaryFile(suffix=".csv") as report:
        done = subprocess.run(  # noqa: S603 - fixed binary, arguments built here
            [*command, "-m", model, "-u", url, "-i", "grpc", "--input-data", str(data),
             "--concurrency-range", str(concurrency), "--measurement-interval", str(window_ms),
             "--stability-percentage", "25", "--max-trials", "10", "-f", report.name, *extra],
            env=env, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"perf_analyzer failed on {model} (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
        row = next(csv.DictReader(Path(report.name).read_text().splitlines()))
    return {
        "per_s": float(row["Inferences/Second"]),
        "p50_ms": float(row["p50 latency"]) / 1e3,
        "p99_ms": float(row["p99 latency"]) / 1e3,
    }


def measure_in_process(call: Callable[[object], object], inputs: list, concurrency: int, seconds: float) -> dict:
    """``concurrency`` threads calling ``call`` on ``inputs`` (cycled) for ``seconds``: calls/s, p50/p99 ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    timing, stop = threading.Event(), threading.Event()

    def worker(offset: int) -> None:
        mine, i = [], offset
        while not stop.is_set():
            start = time.perf_counter()
            call(inputs[i % len(inputs)])
            if timing.is_set() and not stop.is_set():
                mine.append(time.perf_counter() - start)
            i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(WARMUP_SECONDS)
    timing.set()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - began
    for thread in threads:
        thread.join()
    return {"per_s": len(latencies) / elapsed, "p50_ms": float(np.percentile(latencies, 50) * 1e3),
            "p99_ms": float(np.percentile(latencies, 99) * 1e3)}


def input_file(folder: Path, model: str, items: list[np.ndarray | bytes]) -> Path:
    """perf_analyzer ``--input-data`` JSON for served ``model``: one entry per item, its input tensor's raw
    bytes in base64 (a BYTES element is serialized as Triton does: its length as 4 little-endian bytes,
    then the bytes). Image-bytes models take ``image``, the ONNX networks ``images``."""
    name = IMAGE if model in (DETECTOR, PIPELINE) else INPUT_NAME
    def tensor(item: np.ndarray | bytes) -> dict:
        if isinstance(item, bytes):
            return {"b64": base64.b64encode(struct.pack("<I", len(item)) + item).decode(), "shape": [1]}
        return {"b64": base64.b64encode(np.ascontiguousarray(item).tobytes()).decode(), "shape": list(item.shape)}

    path = folder / f"{model}-{len(items)}.json"
    path.write_text(json.dumps({"data": [{name: tensor(item)} for item in items]}))
    return path


def workloads(precision: str, count: int) -> dict[str, tuple[list, Callable[[object], object]]]:
    """Served model -> (its per-request inputs, the in-process call doing the same work on one)."""
    images = sorted((data_root() / "coco-vehicles" / "images").glob("*.jpg"))[:count]
    jpegs = [p.read_bytes() for p in images]
    frames = [cv2.imread(str(p)) for p in images]
    crops = [f[f.shape[0] // 4: f.shape[0] * 3 // 4, f.shape[1] // 4: f.shape[1] * 3 // 4] for f in frames]
    classifier = VehicleClassifier(precision=precision)
    attributes = VehicleClassifier("vehicle-model", precision=precision)
    reid = VehicleReID(precision=precision)
    detector = VehicleDetector(precision=zoo.available_precision("yolox-nano", precision))  # stays fp32
    # perf_analyzer asks for every output, so the served pipeline also embeds and runs the make-model classifier
    recognizer = VehicleRecognizer(classifier, detector, reid=reid, attributes=("model",), attribute_classifier=attributes)

    def tensors(model: VehicleClassifier | VehicleReID) -> list[np.ndarray]:
        meta = model.metadata
        return list(classifier_input(crops, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std)))

    def runner(session, input_name: str, batch: bool) -> Callable[[np.ndarray], object]:
        return lambda x: session.run(None, {input_name: x[None] if batch else x})

    size = detector.input_size
    letterboxed = [letterbox(f, size)[0][None] for f in frames]  # yolox_nano's fixed batch of 1
    return {
        CLASSIFIER: (tensors(classifier), runner(classifier.session, INPUT_NAME, True)),
        ATTRIBUTES: (tensors(attributes), runner(attributes.session, INPUT_NAME, True)),
        REID: (tensors(reid), runner(reid.session, INPUT_NAME, True)),
        DETECTOR_NETWORK: (letterboxed, runner(detector.session, detector.input_name, False)),
        DETECTOR: (jpegs, detector.detect),
        PIPELINE: (jpegs, recognizer.recognize),
    }


@contextmanager
def served_zoo(precision: str, scratch: Path) -> Iterator[TritonServer]:
    """vehiclekit's Triton server on a cpu-flavor repository of the zoo at ``precision``."""
    repo = build_repository(scratch / "repo", "cpu", precision=precision)
    with open(scratch / "triton.log", "w") as log, TritonServer(repo, *free_ports(3), log=log, exit_timeout=2) as server:
        yield server


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    perf_analyzer_command()  # fail before building anything when it is missing
    rows = []
    with tempfile.TemporaryDirectory(prefix="vehiclekit-perf-") as scratch_dir:
        scratch = Path(scratch_dir)
        work = workloads(args.precision, args.images)
        with served_zoo(args.precision, scratch) as server:
            url = server.grpc_url.removeprefix("grpc://")
            print(f"{'model':<17}{'conc':>5}  {'mode':<14}{'infer/s':>9}{'ratio':>7}{'p50 ms':>9}{'p99 ms':>9}", flush=True)
            for model in args.models:
                inputs, call = work[model]
                data = input_file(scratch, model, inputs)
                for concurrency in args.concurrency:
                    local = measure_in_process(call, inputs, concurrency, args.measurement_ms / 1e3)
                    try:
                        remote = run_perf_analyzer(model, url, data, concurrency, args.measurement_ms)
                    except RuntimeError as e:     # reported in the table, the other rows still measured
                        print(f"{model:<17}{concurrency:>5}  perf_analyzer failed: {str(e).splitlines()[-1]}", flush=True)
                        rows.append({"model": model, "concurrency": concurrency, "mode": "perf_analyzer", "error": str(e)})
                        remote = None
                    for mode, result in (("in-process", local), ("perf_analyzer", remote)):
                        if result is None:
                            continue
                        row = {"model": model, "concurrency": concurrency, "mode": mode, "precision": args.precision,
                               **result, "ratio": result["per_s"] / local["per_s"]}
                        rows.append(row)
                        print(f"{model:<17}{concurrency:>5}  {mode:<14}{row['per_s']:>9.1f}{row['ratio']:>7.2f}"
                              f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}", flush=True)
    print(f"({os.cpu_count()} CPU cores; perf_analyzer over gRPC, one item per request; "
          f"{args.measurement_ms} ms windows; ratio = infer/s / in-process infer/s at the same concurrency)")
    if args.json:
        args.json.write_text(json.dumps({"precision": args.precision, "measurement_ms": args.measurement_ms,
                                         "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
