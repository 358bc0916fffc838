"""Detector evaluation: COCO box AP of the SDK's ``VehicleDetector`` on ``coco-vehicles``.

Runs the detector over every image listed in ``coco-vehicles/instances.json`` (images without
vehicles included: they can only add false positives) and scores it with pycocotools' ``COCOeval``
restricted to the five vehicle categories. Defaults ``score_threshold=0.001``, ``iou_threshold=0.65``
are YOLOX's own evaluation settings; the SDK's serving defaults (0.3 / 0.45) trade recall for clean
output and give a lower AP.

CLI: ``train-vehicle evaluate-detector [--data DIR] [--detector NAME] [--out FILE.json]``; with
``--dataset traffic-cctv`` it scores the traffic camera's held-out sessions instead
(:mod:`~vehiclekit.training.detection.evaluate_frames`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tqdm import tqdm

from vehiclekit import paths
from vehiclekit.errors import DatasetNotFoundError
from vehiclekit.models import zoo
from vehiclekit.models.zoo import COCO_VEHICLE_CLASSES
from vehiclekit.sdk.classifier import VehicleClassifier
from vehiclekit.sdk.detector import VehicleDetector
from vehiclekit.training.detection.evaluate_frames import evaluate_traffic, format_traffic

VEHICLE_CATEGORY_IDS = sorted(COCO_VEHICLE_CLASSES)


def load_ground_truth(instances_json: Path) -> COCO:
    """A pycocotools ``COCO`` index of ``instances_json``, without pycocotools' progress prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(instances_json))


def coco_metrics(coco_gt: COCO, detections: list[dict]) -> dict:
    """Box AP of ``detections`` against ``coco_gt`` over the vehicle categories and all GT images.

    ``detections`` are COCO result dicts: ``image_id``, ``category_id``, ``bbox`` [x, y, w, h] in
    pixels, ``score``. Returns AP@[.5:.95], AP50 and AP75 over the vehicle classes, and per class its
    AP50 (IoU 0.5, all areas, 100 detections per image; ``None`` for a class without GT boxes) and
    GT box count (crowd boxes excluded, as COCOeval ignores them).
    """
    gt_counts = Counter(
        ann["category_id"] for ann in coco_gt.loadAnns(coco_gt.getAnnIds(catIds=VEHICLE_CATEGORY_IDS, iscrowd=False))
    )
    per_class = {
        COCO_VEHICLE_CLASSES[cat_id]: {"category_id": cat_id, "gt_boxes": gt_counts[cat_id], "ap50": None}
        for cat_id in VEHICLE_CATEGORY_IDS
    }
    result = {"images": len(coco_gt.getImgIds()), "detections": len(detections), "ap": 0.0, "ap50": 0.0,
              "ap75": 0.0, "per_class": per_class}
    if not detections:  # COCO.loadRes cannot take an empty list; nothing detected scores zero.
        for row in per_class.values():
            row["ap50"] = 0.0 if row["gt_boxes"] else None
        return result

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints every step
        coco_dt = coco_gt.loadRes(detections)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.params.catIds = VEHICLE_CATEGORY_IDS
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    result.update(ap=float(evaluator.stats[0]), ap50=float(evaluator.stats[1]), ap75=float(evaluator.stats[2]))

    # precision: [IoU thresholds, recall points, categories, area ranges, maxDets]; -1 = no GT.
    params = evaluator.params
    iou_50 = int(np.argmin(np.abs(params.iouThrs - 0.5)))
    area_all = params.areaRngLbl.index("all")
    max_dets_100 = params.maxDets.index(100)
    for k, cat_id in enumerate(params.catIds):
        precision = evaluator.eval["precision"][iou_50, :, k, area_all, max_dets_100]
        valid = precision[precision > -1]
        per_class[COCO_VEHICLE_CLASSES[cat_id]]["ap50"] = float(valid.mean()) if valid.size else None
    return result


def detect_all(coco_gt: COCO, images_dir: Path, detector: VehicleDetector) -> list[dict]:
    """Run ``detector`` on every GT image; its detections as COCO result dicts."""
    detections = []
    for image in tqdm(coco_gt.loadImgs(coco_gt.getImgIds()), desc="detecting", unit="img"):
        detections += [
            {"image_id": image["id"], "category_id": det.coco_category_id, "bbox": list(det.xywh), "score": det.score}
            for det in detector.detect(images_dir / image["file_name"])
        ]
    return detections


def evaluate_detector(data_root: Path, score_threshold: float = 0.001, iou_threshold: float = 0.65,
                      detector: VehicleDetector | None = None) -> dict:
    """COCO box AP on ``<data_root>/coco-vehicles`` (see :func:`coco_metrics`) of ``detector``, by
    default the zoo's ``VehicleDetector`` with these thresholds (a given detector keeps its own)."""
    detector = detector or VehicleDetector(score_threshold=score_threshold, iou_threshold=iou_threshold)
    dataset = Path(data_root) / "coco-vehicles"
    instances, images_dir = dataset / "instances.json", dataset / "images"
    if not instances.is_file() or not images_dir.is_dir():
        raise DatasetNotFoundError(f"{dataset} needs instances.json and images/: point --data at the shared data folder")
    coco_gt = load_ground_truth(instances)
    missing = [img["file_name"] for img in coco_gt.loadImgs(coco_gt.getImgIds())
               if not (images_dir / img["file_name"]).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{len(missing)} images listed in {instances} are not in {images_dir} (first: {missing[0]}); "
            "restore them or use a matching instances.json"
        )
    metrics = coco_metrics(coco_gt, detect_all(coco_gt, images_dir, detector))
    return {"score_threshold": detector.score_threshold, "iou_threshold": detector.iou_threshold, **metrics}


def format_table(metrics: dict) -> str:
    """The metrics as a plain-text table."""
    def pct(value: float | None) -> str:
        return "   n/a" if value is None else f"{100 * value:6.1f}"

    lines = [
        f"images {metrics['images']}, detections {metrics['detections']} "
        f"(score >= {metrics['score_threshold']}, NMS IoU {metrics['iou_threshold']})",
        f"AP@[.5:.95] {pct(metrics['ap'])}   AP50 {pct(metrics['ap50'])}   AP75 {pct(metrics['ap75'])}",
        "",
        f"{'class':<12}{'cat id':>7}{'GT boxes':>10}{'AP50':>8}",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(f"{name:<12}{row['category_id']:>7}{row['gt_boxes']:>10}{pct(row['ap50']):>8}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``train-vehicle evaluate-detector``."""
    parser.add_argument("--data", help="data root holding coco-vehicles/ (default: $VEHICLEKIT_DATA or ../shared/data)")
    parser.add_argument("--dataset", choices=("coco-vehicles", "traffic-cctv"), default="coco-vehicles",
                        help="coco-vehicles: COCO AP per class; traffic-cctv: per held-out session, COCO AP (car, bus, truck) "
                        "and the recognizer's recall, precision and type fit (default: %(default)s)")
    parser.add_argument("--split", default="val,test-day,test-night",
                        help="traffic-cctv parts to score, comma-separated: train, val, test-day, test-night (default: %(default)s)")
    parser.add_argument("--detector", default=zoo.DEFAULT_DETECTOR, help="zoo detector to score (default: %(default)s)")
    parser.add_argument("--detector-path", type=Path, help="a YOLOX-Nano ONNX file to score instead")
    parser.add_argument("--type-model", help="traffic-cctv: the recognizer's type model, a zoo name or an ONNX file "
                        "(default: the zoo's vehicle-type)")
    parser.add_argument("--out", type=Path, help="also write the metrics to this JSON file")
    parser.add_argument("--score-threshold", type=float, default=0.001, help="detector score threshold (default 0.001)")
    parser.add_argument("--iou-threshold", type=float, default=0.65, help="detector NMS IoU threshold (default 0.65)")


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, optionally write JSON. Returns the exit code."""
    root = paths.data_root(args.data)
    if args.dataset == "traffic-cctv":
        classifier = VehicleClassifier.named(args.type_model) if args.type_model else None
        metrics = evaluate_traffic(root / "traffic-cctv", args.split.split(","), args.detector, args.detector_path, classifier=classifier)
        print(format_traffic(metrics))
    else:
        detector = VehicleDetector(args.score_threshold, args.iou_threshold, model_path=args.detector_path, model=args.detector)
        metrics = evaluate_detector(root, detector=detector)
        print(format_table(metrics))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0
