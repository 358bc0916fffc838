"""INT8 against fp32 for every zoo model with an INT8 variant: images/s of one ONNX Runtime call at
batch 1, 8 and 32, the two precisions alternating round by round so background load hits both alike.
Inputs are real test crops pre-processed as the SDK does (speed does not depend on them, but they keep
the activations in the calibrated ranges). Accuracy of the same files: ``docs/int8/*.json``
(``train-vehicle quantize --report``).

    .venv/bin/python benchmarks/int8_throughput.py [--batches 1 8 32] [--seconds 1] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vehiclekit.models import zoo
from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.paths import data_root
from vehiclekit.sdk.session import create_session, default_threads
from vehiclekit.training.core.datasets import load_vehicle_reid, read_bgr


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32], help="batch sizes")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds timed per precision and round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (the median is reported)")
    parser.add_argument("--threads", type=int, default=default_threads(), help="intra-op threads (the SDK's default)")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    return parser.parse_args(argv)


def images_per_s(session, name: str, batch: np.ndarray, seconds: float) -> float:
    session.run(None, {name: batch})
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, {name: batch})
        calls += 1
    return calls * len(batch) / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    crops = [read_bgr(im.path) for im in load_vehicle_reid(data_root(), "test")][:32]
    rows = []
    print(f"{'model':<16}{'batch':>6}{'fp32 img/s':>12}{'int8 img/s':>12}{'int8/fp32':>11}", flush=True)
    files: dict[str, zoo.ZooModel] = {}
    for entry in zoo.ZOO.values():
        if entry.int8:
            files.setdefault(entry.filename, entry)   # vehicle-make / -body share vehicle-model's file
    for entry in files.values():
        sessions = {p: create_session(entry.path_for(p), threads=args.threads) for p in zoo.PRECISIONS}
        meta = ClassifierMetadata.from_props(sessions["fp32"].get_modelmeta().custom_metadata_map)
        data = classifier_input(crops, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
        name = sessions["fp32"].get_inputs()[0].name
        for size in args.batches:
            batch = np.resize(data, (size, *data.shape[1:]))
            runs = {p: [] for p in sessions}
            for _ in range(args.rounds):
                for precision, session in sessions.items():
                    runs[precision].append(images_per_s(session, name, batch, args.seconds))
            fp32, int8 = (float(np.median(runs[p])) for p in zoo.PRECISIONS)
            rows.append({"model": entry.key, "batch": size, "fp32": fp32, "int8": int8, "speedup": int8 / fp32})
            print(f"{entry.key:<16}{size:>6}{fp32:>12.1f}{int8:>12.1f}{int8 / fp32:>11.2f}", flush=True)
    print(f"({args.threads} threads, {os.cpu_count()} cores, load average before: {load:.2f}; median of "
          f"{args.rounds} alternating rounds of {args.seconds:g} s)")
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
