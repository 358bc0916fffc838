"""Make + model + body type of vehicle crops: one network run answering all three (``vehicle-model``
with its make and body label groups, as ``VehicleRecognizer(attributes=...)`` does) against three
separate classifiers of the same size run one after the other (what one model per attribute would
cost), side by side in one run, on real Stanford Cars test photos, whole SDK calls (decode of the
in-memory arrays, pre-processing, ONNX Runtime, probabilities).

    python benchmarks/attributes_throughput.py [--images 64] [--seconds S] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classifier_throughput import call_times, save_json  # noqa: E402

from vehiclekit.paths import data_root  # noqa: E402
from vehiclekit.sdk import VehicleClassifier  # noqa: E402
from vehiclekit.sdk.session import default_threads  # noqa: E402
from vehiclekit.training.core.datasets import load_stanford_cars  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=64, help="Stanford test photos per call (default 64)")
    p.add_argument("--threads", type=int, default=default_threads(), help="ONNX Runtime intra-op threads")
    p.add_argument("--seconds", type=float, default=5.0, help="timed seconds per measurement")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    crops = [cv2.imread(str(path)) for path in load_stanford_cars(data_root(), "class_name", "test").paths[: args.images]]
    one = VehicleClassifier(model="vehicle-model", threads=args.threads)
    separate = [VehicleClassifier(model=name, threads=args.threads) for name in ("vehicle-make", "vehicle-model", "vehicle-body")]
    runs = {
        "one network, three answers": lambda: one.predict_groups(crops, ["make", None, "body"]),
        "three classifiers": lambda: [clf.predict_batch(crops) for clf in separate],
    }
    results = {"images": len(crops), "threads": args.threads, "load_average_1min": load, "runs": {}}
    print(f"{len(crops)} Stanford test photos, {args.threads} threads, load average {load:.1f} before the run")
    for name, run in runs.items():
        median = statistics.median(call_times(run, args.seconds))
        results["runs"][name] = {"ms_per_call": 1e3 * median, "vehicles_per_s": len(crops) / median}
        print(f"{name:<28}{len(crops) / median:>8.1f} vehicles/s  ({1e3 * median:.0f} ms for {len(crops)})")
    ratio = results["runs"]["one network, three answers"]["vehicles_per_s"] / results["runs"]["three classifiers"]["vehicles_per_s"]
    results["speedup"] = ratio
    print(f"speed-up of one network: {ratio:.2f}x")
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
