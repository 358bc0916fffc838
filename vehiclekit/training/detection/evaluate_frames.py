"""Score the detector and the recognizer on labelled frames of a fixed camera (``traffic-cctv``).

Two views of the same frames:
* the detector alone: COCO AP (pycocotools) over all vehicles as one class and per coarse class
  (car, bus, truck, motorcycle), scored at a low threshold as COCO evaluation wants;
* the product as a user runs it, :class:`~vehiclekit.sdk.VehicleRecognizer` with its thresholds:
  recall of the ground-truth vehicles with both sides at least ``min_side`` pixels, precision of what
  it returns, and whether the returned type fits the vehicle's coarse class (:data:`~vehiclekit.models.zoo.VEHICLE_CLASSES`).
* the census: vehicles in view per frame and coarse class against the labelled ones (:func:`count_agreement`).
A returned box is right when it overlaps a ground-truth vehicle of any size by IoU >= 0.5 (greedy, best
score first); one that only finds a vehicle smaller than ``min_side`` counts neither way.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vehiclekit.models import zoo
from vehiclekit.models.zoo import CLASS_OF_TYPE, VEHICLE_CLASSES
from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleRecognizer, load_image
from vehiclekit.sdk.detector import box_side, iou_matrix
from vehiclekit.training.detection.frames import Frame, cctv_split, read_yolo_folder

#: The product's vehicle types that fit each coarse class of the camera's labels.
COARSE = tuple(VEHICLE_CLASSES)


def match(gt: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, predictions in the given (best-first) order: (gt index, pred index)."""
    ious = iou_matrix(pred, gt)
    taken: set[int] = set()
    pairs = []
    for p in range(len(pred)):
        candidates = [(ious[p, g], g) for g in range(len(gt)) if g not in taken and ious[p, g] >= iou_threshold]
        if candidates:
            g = max(candidates)[1]
            taken.add(g)
            pairs.append((g, p))
    return pairs


def coco_ap(frames: Sequence[Frame], detections: Sequence[list[tuple[tuple[float, ...], str, float]]]) -> dict[str, float]:
    """AP@[.5:.95] and AP50, all vehicles as one class and per coarse class; ``detections[i]`` holds
    (xyxy, coarse label, score) for ``frames[i]``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results: dict[str, float] = {}
    for name in ("vehicle",) + COARSE:
        keep = (lambda label: label in COARSE) if name == "vehicle" else (lambda label, n=name: label == n)
        images, annotations, dets = [], [], []
        for image_id, (frame, found) in enumerate(zip(frames, detections)):
            images.append({"id": image_id, "width": frame.width, "height": frame.height})
            for box, label in zip(frame.boxes, frame.coarse):
                if keep(label):
                    x1, y1, x2, y2 = (float(v) for v in box)
                    annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                                        "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
            dets += [{"image_id": image_id, "category_id": 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s}
                     for b, label, s in found if keep(label)]
        if not annotations:
            continue
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": name}]}
        with contextlib.redirect_stdout(io.StringIO()):
            gt.createIndex()
            evaluator = COCOeval(gt, gt.loadRes(dets) if dets else COCO(), "bbox")
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        results[f"AP_{name}"], results[f"AP50_{name}"] = float(evaluator.stats[0]), float(evaluator.stats[1])
    return results


def operating_point(frames: Sequence[Frame], found: Sequence[list[tuple[tuple[float, ...], str]]], min_side: float = 24) -> dict:
    """Recall, precision and type fit of what a user gets; ``found[i]`` holds (xyxy, product type)
    best first for ``frames[i]``."""
    counts: Counter = Counter()
    confusion: Counter = Counter()
    for frame, vehicles in zip(frames, found):
        pred = np.array([v[0] for v in vehicles], dtype=np.float64).reshape(-1, 4)
        sides = np.minimum(frame.boxes[:, 2] - frame.boxes[:, 0], frame.boxes[:, 3] - frame.boxes[:, 1])
        big = sides >= min_side
        pairs = match(frame.boxes, pred)
        counts["gt"] += int(big.sum())
        counts["returned"] += len(vehicles)
        counts["right"] += len(pairs)
        counts["right_small"] += sum(1 for g, _ in pairs if not big[g])
        for g, p in pairs:
            if big[g]:
                counts["found"] += 1
                coarse, vehicle_type = frame.coarse[g], vehicles[p][1]
                counts["type_fits"] += vehicle_type in VEHICLE_CLASSES.get(coarse, ())
                confusion[(coarse, vehicle_type)] += 1
    counted = counts["returned"] - counts["right_small"]
    return {
        "recall": counts["found"] / max(counts["gt"], 1),
        "precision": (counts["right"] - counts["right_small"]) / max(counted, 1),
        "type_fit": counts["type_fits"] / max(counts["found"], 1),
        "gt_vehicles": counts["gt"], "returned": counts["returned"],
        "confusion": {f"{c}->{t}": n for (c, t), n in sorted(confusion.items())},
    }


def count_agreement(frames: Sequence[Frame], found: Sequence[list[tuple[tuple[float, ...], str]]], min_side: float = 24) -> dict:
    """Vehicles in view per frame and class (``vehiclekit stats frames``) against the labels, both
    counting boxes with both sides >= ``min_side``: per class (and ``all``) the labelled and counted
    totals over the frames and the mean absolute per-frame error."""
    names = (*COARSE, "all")
    labelled, counted, error = Counter(), Counter(), Counter()
    for frame, vehicles in zip(frames, found):
        truth = Counter(c for box, c in zip(frame.boxes, frame.coarse) if box_side(box) >= min_side)
        seen = Counter(CLASS_OF_TYPE.get(t, t) for box, t in vehicles if box_side(box) >= min_side)
        truth["all"], seen["all"] = sum(truth.values()), sum(seen.values())
        for name in names:
            labelled[name] += truth[name]
            counted[name] += seen[name]
            error[name] += abs(truth[name] - seen[name])
    n = max(len(frames), 1)
    return {name: {"labelled": labelled[name], "counted": counted[name], "mean_abs_error": error[name] / n} for name in names}


def run_over(frames: Sequence[Frame], fn: Callable[[Frame], object], desc: str) -> list:
    """``fn`` on every frame, with a progress bar."""
    return [fn(frame) for frame in tqdm(frames, desc=desc, unit="frame", leave=False)]


def evaluate_traffic(root: Path, parts: Sequence[str], detector: str = zoo.DEFAULT_DETECTOR, detector_path: Path | None = None,
                     threads: int | None = None, classifier: VehicleClassifier | None = None) -> dict[str, dict]:
    """Per part of :data:`~.frames.CCTV_SPLIT` of ``root`` (``traffic-cctv``): the detector's COCO AP
    and the recognizer's operating point, with zoo ``detector`` or the file ``detector_path``, and
    ``classifier`` as the type model (default: the zoo's)."""
    def both(frame: Frame) -> tuple[list, list]:
        image = load_image(frame.path)
        return ([(d.bbox, d.label, d.score) for d in low.detect(image)],
                [(v.detection.bbox, v.classification.label) for v in recognizer.recognize(image)])

    def make(score: float | None = None) -> VehicleDetector:
        thresholds = {"score_threshold": score, "iou_threshold": 0.65} if score is not None else {}
        return VehicleDetector(model=detector, model_path=detector_path, threads=threads, **thresholds)

    low, recognizer = make(0.001), VehicleRecognizer(classifier=classifier, detector=make())
    frames = read_yolo_folder(root)
    results = {}
    for part in parts:
        chosen = cctv_split(frames, part)
        detections, vehicles = zip(*run_over(chosen, both, part)) if chosen else ((), ())
        results[part] = {"frames": len(chosen), **coco_ap(chosen, detections), **operating_point(chosen, vehicles),
                         "counts": count_agreement(chosen, vehicles)}
    return results


def format_traffic(results: dict[str, dict]) -> str:
    """The per-part results as a plain-text table."""
    header = f"{'part':<12}{'frames':>7}{'AP50':>7}{'AP':>7}{'car':>7}{'bus':>7}{'truck':>7}{'recall':>8}{'prec.':>7}{'type fit':>9}"
    rows = [header, "  (AP50 per class; recall, precision and type fit of the recognizer's output, vehicles >= 24 px)"]
    pct = lambda r, k: f"{100 * r[k]:.1f}" if k in r else "n/a"  # noqa: E731
    for part, r in results.items():
        rows.append(f"{part:<12}{r['frames']:>7}{pct(r, 'AP50_vehicle'):>7}{pct(r, 'AP_vehicle'):>7}{pct(r, 'AP50_car'):>7}"
                    f"{pct(r, 'AP50_bus'):>7}{pct(r, 'AP50_truck'):>7}{pct(r, 'recall'):>8}{pct(r, 'precision'):>7}{pct(r, 'type_fit'):>9}")
    rows += ["", "vehicles in view (`vehiclekit stats frames`): labelled / counted over the frames, mean abs. error per frame"]
    rows.append(f"{'part':<12}" + "".join(f"{name:>22}" for name in (*COARSE, "all")))
    for part, r in results.items():
        cells = (f"{c['labelled']}/{c['counted']} ({c['mean_abs_error']:.2f})" for c in r["counts"].values())
        rows.append(f"{part:<12}" + "".join(f"{cell:>22}" for cell in cells))
    return "\n".join(rows)
