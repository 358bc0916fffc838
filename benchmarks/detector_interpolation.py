"""Weight-space interpolation (WiSE-FT) between the COCO detector and the traffic-fine-tuned one.

WiSE-FT (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022) averages the weights of
a model and of its fine-tuned copy, ``theta(alpha) = (1 - alpha) * theta_coco + alpha * theta_traffic``,
which keeps much of the fine-tuned model's gain on the new data and much of the original's robustness
elsewhere. Both YOLOX-Nano ONNX files (``yolox_nano.onnx``, COCO, 416 px; the zoo's
``yolox_nano_traffic.onnx``, fine-tuned with the backbone frozen, 640 px) have BatchNorm folded into the
convolutions, and :func:`~vehiclekit.models.yolox.load_onnx_weights` leaves every BatchNorm the identity,
so interpolating the loaded networks' parameters and buffers interpolates the folded weights themselves
(the two networks share the one architecture and, the backbone being frozen, the same backbone).

Each loaded network must first reproduce its own ONNX Runtime output on a real camera frame. For every
alpha the interpolated network is folded and exported at 640 px (``export_detector``, checked against
ONNX Runtime) and scored on:
* camera val: COCO AP50 on the ``traffic-cctv`` val session, as ``train-vehicle detector`` scores its
  epochs (``score_frames``: the SDK's decoding, score >= 0.001);
* photos val: the same on the held-back 20 % of ``openimages-vehicles`` (``photo_split``);
* coco-vehicles: COCO AP50 of the exported ONNX (``evaluate_detector``, score >= 0.001, NMS IoU 0.65);
* for the chosen alphas only (``--test-alphas``; by default the best alpha that keeps coco-vehicles
  AP50 >= ``--coco-target``, and the two ends): the recognizer's recall and precision on the day test
  session (``evaluate_traffic``). alpha = 0 is the COCO network at 640 px, alpha = 1 the zoo's traffic one.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/detector_interpolation.py [--alphas 0 0.5 1] [--json OUT] 2>/dev/null

The best interpolated ONNX is kept at ``runs/detector_interpolation/alpha_X.onnx`` (``--keep-dir``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from vehiclekit import paths
from vehiclekit.models import zoo
from vehiclekit.models.yolox import YOLOXNano, fold_batchnorm, load_onnx_weights
from vehiclekit.sdk import VehicleDetector, load_image
from vehiclekit.sdk.detector import letterbox
from vehiclekit.training.detection.evaluate import evaluate_detector
from vehiclekit.training.detection.evaluate_frames import evaluate_traffic
from vehiclekit.training.detection.export import export_detector
from vehiclekit.training.detection.frames import (
    cctv_split,
    photo_split,
    read_yolo_folder,
)
from vehiclekit.training.detection.train import score_frames

SIZE = 640  # the traffic detector's input; every interpolated export has it too


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0, 0.25, 0.5, 0.6, 0.7, 0.8, 1.0],
                        help="weights of the traffic network (0 = COCO, 1 = traffic)")
    parser.add_argument("--test-alphas", type=float, nargs="*", default=None,
                        help="alphas scored on the CCTV day test (default: the best one meeting --coco-target, and 0 and 1)")
    parser.add_argument("--coco-target", type=float, default=48.5, help="coco-vehicles AP50 to keep (the COCO model's at 416 px)")
    parser.add_argument("--coco", type=Path, default=None, help="COCO YOLOX-Nano ONNX (default: the zoo's yolox-nano)")
    parser.add_argument("--traffic", type=Path, default=None, help="fine-tuned ONNX (default: the zoo's yolox-nano-traffic)")
    parser.add_argument("--data", default=None, help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    parser.add_argument("--json", type=Path, default=Path("runs/detector_interpolation.json"))
    parser.add_argument("--keep-dir", type=Path, default=Path("runs/detector_interpolation"),
                        help="where the best interpolated ONNX is kept")
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def load_checked(onnx_path: Path, frame: np.ndarray, threads: int) -> YOLOXNano:
    """``onnx_path`` loaded into :class:`YOLOXNano`; its output on ``frame`` (at the file's own input
    size) must equal ONNX Runtime's within 1e-3."""
    model = load_onnx_weights(YOLOXNano(), onnx_path).eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    size = session.get_inputs()[0].shape[2:]
    tensor = letterbox(frame, tuple(size))[0][None]
    expected = session.run(None, {session.get_inputs()[0].name: tensor})[0]
    with torch.no_grad():
        got = model.predict(torch.from_numpy(tensor)).numpy()
    gap = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
    print(f"{onnx_path.name}: torch vs ONNX Runtime at {size[0]} px, max |diff| {gap:.2g}", flush=True)
    if not gap < 1e-3:
        raise SystemExit(f"{onnx_path}: the rebuilt network differs from ONNX Runtime by {gap:.2g} (shape {got.shape} vs {expected.shape})")
    return model


def interpolate(coco: YOLOXNano, traffic: YOLOXNano, alpha: float) -> YOLOXNano:
    """A new network with every floating-point parameter and buffer ``(1 - alpha) * coco + alpha * traffic``
    (integer buffers, BatchNorm's batch counters, are taken from ``coco``)."""
    a, b = coco.state_dict(), traffic.state_dict()
    mixed = {k: torch.lerp(v, b[k], alpha) if v.is_floating_point() else v.clone() for k, v in a.items()}
    model = YOLOXNano()
    model.load_state_dict(mixed)
    return model.eval()


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def table(rows: list[dict]) -> str:
    lines = ["| alpha | camera val AP50 | photos val AP50 | coco-vehicles AP50 | day test AP50 | day recall | day precision | s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        day = r.get("test_day", {})
        lines.append(f"| {r['alpha']:g} | {pct(r['camera_val_ap50'])} | {pct(r['photos_val_ap50'])} | {pct(r['coco_vehicles_ap50'])} "
                     f"| {pct(day.get('AP50_vehicle'))} | {pct(day.get('recall'))} | {pct(day.get('precision'))} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    root = paths.data_root(args.data)
    coco_path, traffic_path = args.coco or zoo.get("yolox-nano").path, args.traffic or zoo.get("yolox-nano-traffic").path
    camera = read_yolo_folder(root / "traffic-cctv")
    camera_val = cctv_split(camera, "val")
    photos_val = photo_split(read_yolo_folder(root / "openimages-vehicles"), "val")
    frame = load_image(camera_val[0].path)
    coco, traffic = load_checked(Path(coco_path), frame, args.threads), load_checked(Path(traffic_path), frame, args.threads)
    check_image = letterbox(frame, (SIZE, SIZE))[0]

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="vehiclekit-wise-ft-") as scratch:
        exports: dict[float, Path] = {}
        for alpha in args.alphas:
            start = time.perf_counter()
            model = fold_batchnorm(interpolate(coco, traffic, alpha))
            path = export_detector(model, Path(scratch) / f"alpha_{alpha:g}.onnx", SIZE, check_image)
            exports[alpha] = path
            camera_ap = score_frames(model, camera_val, SIZE)["AP50_vehicle"]
            photos_ap = score_frames(model, photos_val, SIZE)["AP50_vehicle"]
            detector = VehicleDetector(score_threshold=0.001, iou_threshold=0.65, model_path=path, threads=args.threads)
            coco_ap = evaluate_detector(root, detector=detector)["ap50"]
            rows.append({"alpha": alpha, "camera_val_ap50": camera_ap, "photos_val_ap50": photos_ap, "coco_vehicles_ap50": coco_ap,
                         "seconds": time.perf_counter() - start})
            print(f"alpha {alpha:g}: camera val {pct(camera_ap)}, photos val {pct(photos_ap)}, coco-vehicles {pct(coco_ap)} "
                  f"({rows[-1]['seconds']:.0f} s)", flush=True)

        passing = [r for r in rows if 100 * r["coco_vehicles_ap50"] >= args.coco_target]
        best = max(passing, key=lambda r: (r["camera_val_ap50"], r["alpha"])) if passing else None
        chosen = args.test_alphas if args.test_alphas is not None else sorted({0.0, 1.0, *([best["alpha"]] if best else [])})
        for r in rows:
            if r["alpha"] in chosen:
                start = time.perf_counter()
                r["test_day"] = evaluate_traffic(root / "traffic-cctv", ["test-day"], detector_path=exports[r["alpha"]],
                                                 threads=args.threads)["test-day"]
                r["seconds_test_day"] = time.perf_counter() - start
                print(f"alpha {r['alpha']:g}: day test AP50 {pct(r['test_day']['AP50_vehicle'])}, recall {pct(r['test_day']['recall'])}, "
                      f"precision {pct(r['test_day']['precision'])} ({r['seconds_test_day']:.0f} s)", flush=True)
        if best:
            args.keep_dir.mkdir(parents=True, exist_ok=True)
            kept = args.keep_dir / f"alpha_{best['alpha']:g}.onnx"
            shutil.copyfile(exports[best["alpha"]], kept)
            print(f"best alpha meeting coco-vehicles AP50 >= {args.coco_target}: {best['alpha']:g}, kept at {kept}")
        else:
            print(f"no alpha meets coco-vehicles AP50 >= {args.coco_target}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"size": SIZE, "coco": str(coco_path), "traffic": str(traffic_path), "coco_target": args.coco_target,
                                     "best_alpha": best["alpha"] if best else None, "rows": rows}, indent=2) + "\n")
    print(table(rows))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
