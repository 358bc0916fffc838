"""``train-vehicle evaluate-type``: a vehicle-type model scored the way users meet it, through the
SDK (ONNX Runtime), per domain:

- ``vehicle-types`` test split (traffic-camera crops), ``stanford-cars`` test split (street photos)
  and ``vehicle-reid`` test images, each with its labels mapped to the v2 types
  (:mod:`~vehiclekit.training.classifier.vehicle_type_v2`), and the boxes of the held-out
  ``traffic-cctv`` sessions with their partial labels
  (:mod:`~vehiclekit.training.classifier.vehicle_type_v3`: a CCTV car is right as car, SUV, van or
  pickup); accuracy and confusion matrix (of the exactly labelled images);
- passenger cars (Stanford sedans, coupes, convertibles, hatchbacks, wagons, SUVs) called ``car`` or
  ``suv``: the share a car park would price right;
- ``coco-vehicles`` through :class:`~vehiclekit.sdk.VehicleRecognizer`: each ground-truth vehicle box
  matched (IoU >= 0.5) to a recognised vehicle, whether its type fits the COCO category, and the
  duplicates (a second recognised vehicle on an already matched box).

A v1 model (6 traffic-camera labels) is scored after mapping its labels the same way, so v1 and v2
stand in one table.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from vehiclekit.paths import data_root
from vehiclekit.sdk import VehicleClassifier, VehicleRecognizer
from vehiclekit.sdk.detector import iou_matrix
from vehiclekit.sdk.recognizer import DEFAULT_DETECTOR_TYPE_SCORE, DEFAULT_DUPLICATE_IOU
from vehiclekit.training.classifier import vehicle_type_v2 as v2
from vehiclekit.training.classifier import vehicle_type_v3 as v3
from vehiclekit.training.core.checkpoint import write_json
from vehiclekit.training.core.datasets import coco_vehicles, load_stanford_cars, read_bgr
from vehiclekit.training.core.metrics import classification_report, plot_confusion

DOMAINS = ("vehicle-types", "stanford-cars", "vehicle-reid", "traffic-cctv")
MATCH_IOU = 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="vehicle-type", help="zoo name (vehicle-type, vehicle-type@1) or an ONNX file")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--out", required=True, help="folder for metrics.json, report.md and the confusion plots")
    p.add_argument("--duplicate-iou", type=float, default=DEFAULT_DUPLICATE_IOU,
                   help=f"the recognizer's cross-class merge overlap (default {DEFAULT_DUPLICATE_IOU}; 1 = no merging)")
    p.add_argument("--detector-type-score", type=float, default=DEFAULT_DETECTOR_TYPE_SCORE,
                   help="the recognizer's detector_type_score: a motorcycle/bus detection at least this sure sets the "
                   f"type (default {DEFAULT_DETECTOR_TYPE_SCORE}; above 1 = never)")


def run(args: argparse.Namespace) -> int:
    root, out = data_root(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clf = VehicleClassifier.named(args.model)
    detector_type_score = None if args.detector_type_score > 1 else args.detector_type_score
    metrics = evaluate(clf, root, args.duplicate_iou, detector_type_score)
    metrics["model"] = {"source": args.model, "name": clf.metadata.name, "version": clf.metadata.version}
    write_json(out / "metrics.json", metrics)
    for domain in DOMAINS:
        m = metrics[domain]
        plot_confusion(m["confusion"], v2.LABELS, out / f"confusion_{domain}.png",
                       f"{clf.metadata.name} v{clf.metadata.version} on {domain} test ({m['accuracy']:.1%})")
    (out / "report.md").write_text(report(metrics))
    print(report(metrics))
    return 0


def to_v2(label: str) -> str:
    """A prediction in v2 terms: v2 labels as they are, v1's traffic-camera labels mapped."""
    return label if label in v2.LABELS else v2.VEHICLE_TYPES[label]


def evaluate(clf: VehicleClassifier, root: Path, duplicate_iou: float = DEFAULT_DUPLICATE_IOU,
             detector_type_score: float | None = DEFAULT_DETECTOR_TYPE_SCORE) -> dict:
    metrics: dict = {}
    for domain in DOMAINS:
        data = v3.load_source(root, domain, "test")
        boxes = data.boxes or (None,) * len(data)
        images = [path if box is None else read_bgr(path, box) for path, box in zip(data.paths, boxes)]
        predicted = [v2.LABELS.index(to_v2(p.label)) for p in clf.predict_batch(images)]
        metrics[domain] = classification_report(predicted, list(data.labels), len(v2.LABELS), data.label_sets, v2.LABELS)
        if domain == "stanford-cars":
            metrics["passenger_cars"] = passenger_cars(root, [v2.LABELS[i] for i in predicted])
    recognizer = VehicleRecognizer(classifier=clf, duplicate_iou=duplicate_iou, detector_type_score=detector_type_score)
    metrics["coco-vehicles"] = coco_boxes(recognizer, root)
    metrics["coco-vehicles"] |= {"duplicate_iou": duplicate_iou, "detector_type_score": detector_type_score}
    return metrics


def passenger_cars(root: Path, predicted: list[str]) -> dict:
    """Of the Stanford test photos of passenger cars, how many are called ``car`` or ``suv``, and
    what the rest are called."""
    bodies = load_stanford_cars(root, "body_type", "test")
    answers = [p for p, y in zip(predicted, bodies.labels) if bodies.classes[y] in v2.PASSENGER_BODIES]
    right = sum(a in ("car", "suv") for a in answers)
    return {"n": len(answers), "car_or_suv": right, "rate": right / len(answers), "answers": dict(Counter(answers))}


def coco_boxes(recognizer: VehicleRecognizer, root: Path) -> dict:
    """Recognised vehicles against the COCO ground truth (bicycles left out: no v2 type). Greedy
    matching, best detection score first; a detection overlapping an already matched box by IoU >=
    0.5 is a duplicate, one overlapping nothing a false positive."""
    images_dir, instances = coco_vehicles(root)
    gt = json.loads(instances.read_text())
    names = {c["id"]: c["name"] for c in gt["categories"]}
    boxes_by_image: dict[int, list] = {}
    for a in gt["annotations"]:
        if names[a["category_id"]] in v2.FITS_COCO and not a.get("iscrowd", 0):
            x, y, w, h = a["bbox"]
            boxes_by_image.setdefault(a["image_id"], []).append(((x, y, x + w, y + h), names[a["category_id"]]))
    rows: list[dict] = []
    duplicates = false_positives = 0
    for image in gt["images"]:
        truth = boxes_by_image.get(image["id"], [])
        vehicles = recognizer.recognize(images_dir / image["file_name"])
        matched = [False] * len(truth)
        if truth and vehicles:
            ious = iou_matrix(np.array([v.detection.bbox for v in vehicles]), np.array([t[0] for t in truth]))
        for i, vehicle in enumerate(vehicles):
            best = int(ious[i].argmax()) if truth else -1
            if best < 0 or ious[i, best] < MATCH_IOU:
                false_positives += 1
            elif matched[best]:
                duplicates += 1
            else:
                matched[best] = True
                category, label = truth[best][1], vehicle.classification.label
                rows.append({"image": image["file_name"], "category": category, "type": label,
                             "fits": to_v2(label) in v2.FITS_COCO[category]})
    total = sum(len(t) for t in boxes_by_image.values())
    fits = sum(r["fits"] for r in rows)
    per_category = {c: {"boxes": sum(t[1] == c for ts in boxes_by_image.values() for t in ts),
                        "matched": sum(r["category"] == c for r in rows),
                        "fits": sum(r["fits"] for r in rows if r["category"] == c),
                        "types": dict(Counter(r["type"] for r in rows if r["category"] == c))} for c in v2.FITS_COCO}
    return {"boxes": total, "matched": len(rows), "fits": fits, "fit_rate": fits / max(len(rows), 1),
            "duplicates": duplicates, "false_positives": false_positives, "per_category": per_category}


def report(m: dict) -> str:
    coco, cars = m["coco-vehicles"], m["passenger_cars"]
    lines = [f"### {m['model']['name']} v{m['model']['version']} ({m['model']['source']})", "",
             "| domain (test) | images | accuracy |", "|---|---:|---:|"]
    lines += [f"| {d} ({'partial labels' if 'partial' in m[d] else 'labels mapped to v2'}) | {m[d]['n']} | {m[d]['accuracy']:.1%} |"
              for d in DOMAINS]
    lines += ["", *(f"- {d}, partial labels: " + ", ".join(f"{name} {fits}/{n}" for name, (fits, n) in m[d]["partial"].items())
                    for d in DOMAINS if "partial" in m[d])]
    lines += [f"- Passenger cars called `car` or `suv`: **{cars['car_or_suv']} / {cars['n']} ({cars['rate']:.1%})**; "
              f"answers {dict(sorted(cars['answers'].items(), key=lambda kv: -kv[1]))}",
              f"- coco-vehicles through the recognizer: {coco['matched']} of {coco['boxes']} car/bus/truck/motorcycle boxes "
              f"matched (IoU >= {MATCH_IOU}), type fits the COCO category for **{coco['fits']} ({coco['fit_rate']:.1%})**; "
              f"**{coco['duplicates']} duplicates**, {coco['false_positives']} detections on no labelled vehicle "
              f"(recognizer `duplicate_iou={coco['duplicate_iou']}`, `detector_type_score={coco['detector_type_score']}`)",
              "", "| COCO category | boxes | matched | type fits | types given |", "|---|---:|---:|---:|---|"]
    lines += [f"| {c} | {v['boxes']} | {v['matched']} | {v['fits']} | {v['types']} |" for c, v in coco["per_category"].items()]
    return "\n".join(lines) + "\n"
