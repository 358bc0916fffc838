"""``VehicleRecognizer.recognize`` on 640x640 traffic-camera frames with each zoo detector, side by side.

The COCO ``yolox-nano`` runs at 416 px, the fine-tuned ``yolox-nano-traffic`` at 640 px (2.4x the
pixels). Both recognizers classify every crop with the same ``vehicle-type``; they take turns on the
same frames (``traffic-cctv``'s held-out ``val`` session), so machine load affects both alike. Reports
frames/s and vehicles per frame; the ratio is the number to quote.

    .venv/bin/python benchmarks/traffic_recognizer.py [--rounds 3] [--threads 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vehiclekit.paths import data_root
from vehiclekit.sdk import VehicleDetector, VehicleRecognizer, load_image
from vehiclekit.training.detection.frames import cctv_split, read_yolo_folder

DETECTORS = ("yolox-nano", "yolox-nano-traffic")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the frames per detector, interleaved")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads per model")
    parser.add_argument("--json", type=Path, help="write the rows to this JSON file")
    args = parser.parse_args()
    frames = [load_image(f.path) for f in cctv_split(read_yolo_folder(data_root() / "traffic-cctv", size=(640, 640)), "val")]
    recognizers = {name: VehicleRecognizer(detector=VehicleDetector(model=name, threads=args.threads)) for name in DETECTORS}
    seconds = dict.fromkeys(DETECTORS, 0.0)
    vehicles = dict.fromkeys(DETECTORS, 0)
    for name, recognizer in recognizers.items():  # warm-up
        recognizer.recognize(frames[0])
    for _ in range(args.rounds):
        for name, recognizer in recognizers.items():
            start = time.perf_counter()
            vehicles[name] += sum(len(recognizer.recognize(frame)) for frame in frames)
            seconds[name] += time.perf_counter() - start
    n = len(frames) * args.rounds
    rows = [{"detector": name, "input": recognizers[name].detector.input_size[0], "frames": n,
             "frames_per_s": round(n / seconds[name], 2), "vehicles_per_frame": round(vehicles[name] / n, 1)} for name in DETECTORS]
    for row in rows:
        print(f"{row['detector']:<20} {row['input']} px  {row['frames_per_s']:6.2f} frames/s  {row['vehicles_per_frame']:5.1f} vehicles/frame")
    print(f"ratio {rows[0]['frames_per_s'] / rows[1]['frames_per_s']:.2f}x slower with {DETECTORS[1]}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
