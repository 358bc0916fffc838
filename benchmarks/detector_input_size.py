"""YOLOX-Nano at other input sizes: COCO AP50 on ``coco-vehicles`` against frames per second, plotted.

The released ONNX is fully convolutional apart from its declared input shape (its reshapes use -1 and
its upsampling uses scales), so a copy with a different square input runs as is: the SDK letterboxes
to whatever size the model declares. The zoo's fine-tuned detectors (``--detector
yolox-nano-traffic``, exported by ``train-vehicle detector`` with fixed reshapes) are rebuilt in
PyTorch from their ONNX weights and exported again at each size instead. The copies live in a
temporary folder (never committed). Frames/s is ``VehicleDetector.detect`` on the dataset's images,
decoding and post-processing included.

    .venv/bin/python benchmarks/detector_input_size.py [--detector NAME] [--sizes 320 416 512 640] [--json OUT] [--plot OUT.png]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib
import onnx

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vehiclekit.models import zoo  # noqa: E402
from vehiclekit.paths import data_root  # noqa: E402
from vehiclekit.sdk import VehicleDetector  # noqa: E402
from vehiclekit.training.detection.evaluate import evaluate_detector  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default=zoo.DEFAULT_DETECTOR, choices=zoo.names("detection"),
                        help="zoo detector to resize (default: %(default)s; e.g. yolox-nano-traffic@1)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 416, 512, 640], help="square input sizes (multiples of 32)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of detect() timed per size")
    parser.add_argument("--json", type=Path, help="write the rows to this JSON file")
    parser.add_argument("--plot", type=Path, help="write the AP50 vs frames/s plot to this PNG")
    return parser.parse_args(argv)


def with_input_size(source: Path, size: int, out: Path) -> Path:
    """A copy of the YOLOX ONNX declaring a ``size`` × ``size`` input."""
    model = onnx.load(str(source))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = size
    del model.graph.value_info[:]                       # inferred shapes of the old size
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    onnx.save(model, str(out))
    return out


def reexported(source: Path, size: int, out: Path) -> Path:
    """A fine-tuned detector's weights exported again for ``size`` × ``size`` inputs."""
    from vehiclekit.models.yolox import YOLOXNano, load_onnx_weights
    from vehiclekit.training.detection.export import export_detector

    return export_detector(load_onnx_weights(YOLOXNano(), source).eval(), out, size)


def frames_per_s(detector: VehicleDetector, images: list, seconds: float) -> float:
    detector.detect(images[0])
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        detector.detect(images[count % len(images)])
        count += 1
    return count / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    root = data_root()
    images = [cv2.imread(str(p)) for p in sorted((root / "coco-vehicles" / "images").glob("*.jpg"))]
    rows = []
    with tempfile.TemporaryDirectory(prefix="vehiclekit-yolox-sizes-") as scratch:
        model = zoo.get(args.detector)
        resize = reexported if model.shipped else with_input_size      # shipped: ours, fine-tuned
        for size in args.sizes:
            path = resize(model.path, size, Path(scratch) / f"detector_{size}.onnx")
            metrics = evaluate_detector(root, detector=VehicleDetector(model_path=path, score_threshold=0.001, iou_threshold=0.65))
            fps = frames_per_s(VehicleDetector(model_path=path), images, args.seconds)
            rows.append({"size": size, "AP50": 100 * metrics["ap50"], "AP": 100 * metrics["ap"], "frames_per_s": fps})
            print(f"{size:>4} px  AP50 {rows[-1]['AP50']:5.1f}  AP {rows[-1]['AP']:5.1f}  {fps:6.1f} frames/s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"dataset": "coco-vehicles", "detector": args.detector, "rows": rows}, indent=2) + "\n")
    if args.plot:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.plot([r["frames_per_s"] for r in rows], [r["AP50"] for r in rows], marker="o")
        for r in rows:
            ax.annotate(f"{r['size']} px", (r["frames_per_s"], r["AP50"]), textcoords="offset points", xytext=(6, 4))
        ax.set_xlabel("frames/s (VehicleDetector.detect, 2 CPU cores)")
        ax.set_ylabel("AP50, vehicle classes (coco-vehicles)")
        ax.set_title(f"{args.detector} input size: accuracy against speed")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
