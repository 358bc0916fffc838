"""vehicle-type v1 against v2 on this CPU, side by side in one run: ONNX Runtime img/s of each zoo
version at batch 1, 8 and 32 (pre-processed real crops, the model call only), and whole-image
``VehicleRecognizer.recognize`` on a 640x480 COCO street photo with each (decode, detect, crop,
classify). See benchmarks/README.md.

    python benchmarks/type_versions.py [--models vehicle-type@1 vehicle-type@2] [--seconds S] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import cv2
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classifier_throughput import call_times, save_json, throughput  # noqa: E402

from vehiclekit.models.metadata import INPUT_NAME  # noqa: E402
from vehiclekit.models.preprocess import classifier_input  # noqa: E402
from vehiclekit.paths import data_root  # noqa: E402
from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleRecognizer  # noqa: E402
from vehiclekit.sdk.session import default_threads  # noqa: E402
from vehiclekit.training.core.datasets import load_vehicle_types  # noqa: E402

STREET = "000000423617.jpg"  # 640x480, 7 vehicles


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["vehicle-type@1", "vehicle-type@2"], help="zoo names or ONNX files")
    p.add_argument("--threads", type=int, default=default_threads(), help="ONNX Runtime intra-op threads")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    root = data_root()
    crops = [cv2.imread(str(path)) for path in load_vehicle_types(root, "test").paths[: max(args.batches)]]
    street = (root / "coco-vehicles" / "images" / STREET).read_bytes()
    detector = VehicleDetector(threads=args.threads)
    results = {"threads": args.threads, "load_average_1min": load, "onnxruntime": ort.__version__, "models": []}
    print(f"threads {args.threads}, load average {load:.1f} before the run, onnxruntime {ort.__version__}\n")
    print(f"{'model':<18}{'input':>8}{'batch':>7}{'img/s':>9}{'ms/batch':>10}")
    for name in args.models:
        clf = (VehicleClassifier(model_path=name, threads=args.threads) if name.endswith(".onnx")
               else VehicleClassifier(model=name, threads=args.threads))
        meta = clf.metadata
        row = {"model": name, "version": meta.version, "arch": meta.arch, "input_size": list(meta.input_size), "runs": []}
        for size in args.batches:
            batch = classifier_input(crops[:size], tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
            run = throughput(lambda b: clf.session.run(None, {INPUT_NAME: b}), batch, args.seconds)
            row["runs"].append(run)
            print(f"{name:<18}{meta.input_size[0]:>8}{size:>7}{run['img_per_s']:>9.1f}{run['ms_per_batch']:>10.2f}")
        recognizer = VehicleRecognizer(classifier=clf, detector=detector)
        vehicles = len(recognizer.recognize(street))
        median = statistics.median(call_times(lambda: recognizer.recognize(street), args.seconds))
        row["recognize"] = {"image": STREET, "vehicles": vehicles, "ms_per_image": 1e3 * median, "img_per_s": 1 / median}
        print(f"{name:<18}{'recognize':>15}{1 / median:>9.1f}{1e3 * median:>10.2f}   ({STREET}, {vehicles} vehicles)")
        results["models"].append(row)
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
