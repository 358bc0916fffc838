"""Remote (Triton over HTTP and gRPC) vs embedded SDK results on the shared test images.

Starts the real tritonserver on a cpu-flavor repository built from the zoo, then compares, for the
COCO images with vehicles, the vehicle-types and the vehicle-reid test splits, what
``VehicleRecognizer`` (with server-side re-ID embeddings), ``VehicleDetector``,
``VehicleClassifier`` and ``VehicleReID`` return with ``url=`` and without: label agreement, the
largest probability, box-coordinate and embedding differences.

    .venv/bin/python benchmarks/serving_parity.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from vehiclekit.models import zoo
from vehiclekit.paths import data_root
import numpy as np

from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleRecognizer, VehicleReID
from vehiclekit.serving.launcher import TritonServer, free_ports
from vehiclekit.serving.repository import build_repository
from vehiclekit.training.core.datasets import coco_vehicles, load_vehicle_types


def compare_predictions(got, expected, stats: dict) -> None:
    stats["predictions"] += 1
    stats["label_mismatches"] += got.label != expected.label
    diff = max(abs(got.probabilities[k] - p) for k, p in expected.probabilities.items())
    stats["max_probability_diff"] = max(stats["max_probability_diff"], diff)


def compare_detections(got, expected, stats: dict) -> None:
    stats["count_mismatches"] += len(got) != len(expected)
    for g, e in zip(got, expected):
        stats["boxes"] += 1
        stats["label_mismatches"] += g.label != e.label
        stats["max_box_diff_px"] = max(stats["max_box_diff_px"], *(abs(a - b) for a, b in zip(g.bbox, e.bbox)))
        stats["max_score_diff"] = max(stats["max_score_diff"], abs(g.score - e.score))


def compare_embeddings(got: np.ndarray, expected: np.ndarray, stats: dict) -> None:
    stats["embeddings"] += len(expected)
    stats["max_abs_diff"] = max(stats["max_abs_diff"], float(np.abs(got - expected).max()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    root = data_root()
    images_dir, _ = coco_vehicles(root)
    scenes = sorted(images_dir.glob("*.jpg"))
    crops = list(load_vehicle_types(root, "test").paths)
    reid_images = sorted((root / "vehicle-reid" / "images" / "test").glob("*.jpg"))
    embedded = {"classifier": VehicleClassifier(), "detector": VehicleDetector()}
    expected_types = embedded["classifier"].predict_batch(crops)
    expected_dets = {p: embedded["detector"].detect(p) for p in scenes}
    local_recognizer = VehicleRecognizer(embedded["classifier"], embedded["detector"], reid=True)
    expected_rec = {p: local_recognizer.recognize(p) for p in scenes}
    expected_embeddings = VehicleReID().embed(reid_images)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = build_repository(Path(tmp) / "repo", "cpu", zoo.get("vehicle-type").path, zoo.get("yolox-nano").path,
                                reid=zoo.get("vehicle-reid").path)
        http_port, grpc_port, metrics_port = free_ports(3)
        with open(Path(tmp) / "triton.log", "w") as log, TritonServer(repo, http_port, grpc_port, metrics_port, log=log) as server:
            for protocol, url in (("http", server.http_url), ("grpc", server.grpc_url)):
                types = {"predictions": 0, "label_mismatches": 0, "max_probability_diff": 0.0}
                for g, e in zip(VehicleClassifier(url=url).predict_batch(crops), expected_types, strict=True):
                    compare_predictions(g, e, types)
                dets = {"boxes": 0, "count_mismatches": 0, "label_mismatches": 0, "max_box_diff_px": 0.0, "max_score_diff": 0.0}
                remote_detector = VehicleDetector(url=url)
                for p in scenes:
                    compare_detections(remote_detector.detect(p), expected_dets[p], dets)
                pipe_dets = {"boxes": 0, "count_mismatches": 0, "label_mismatches": 0, "max_box_diff_px": 0.0, "max_score_diff": 0.0}
                pipe_types = {"predictions": 0, "label_mismatches": 0, "max_probability_diff": 0.0}
                pipe_embeddings = {"embeddings": 0, "max_abs_diff": 0.0}
                remote_recognizer = VehicleRecognizer(url=url, reid=True)
                for p in scenes:
                    got = remote_recognizer.recognize(p)
                    compare_detections([v.detection for v in got], [v.detection for v in expected_rec[p]], pipe_dets)
                    for g, e in zip(got, expected_rec[p]):
                        compare_predictions(g.classification, e.classification, pipe_types)
                        compare_embeddings(np.array([g.embedding]), np.array([e.embedding]), pipe_embeddings)
                reid = {"embeddings": 0, "max_abs_diff": 0.0}
                compare_embeddings(VehicleReID(url=url).embed(reid_images), expected_embeddings, reid)
                results[protocol] = {"vehicle_type on vehicle-types test": types, "vehicle_detector on coco-vehicles": dets,
                                     "vehicle_pipeline detections": pipe_dets, "vehicle_pipeline types": pipe_types,
                                     "vehicle_pipeline embeddings": pipe_embeddings, "vehicle_reid on vehicle-reid test": reid}
    print(f"{len(crops)} vehicle-types test crops, {len(scenes)} coco-vehicles images, {len(reid_images)} vehicle-reid test images")
    for protocol, rows in results.items():
        for name, stats in rows.items():
            print(f"{protocol:5s} {name:38s} " + "  ".join(f"{k}={v:.2e}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
