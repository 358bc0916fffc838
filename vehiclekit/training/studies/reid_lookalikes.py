"""Re-ID levers against look-alikes (same model, close colour), one at a time, chosen on val.

Each lever changes the similarity of a query and a gallery image; the weight of each is chosen on
the vehicle-reid ``val`` split (mean mAP of both directions) and the result reported on ``test``:

* ``reid``: the embedder alone (``--model``, default the shipped ``vehicle-reid``);
* ``+colour``: + w x the Bhattacharyya coefficient of hue/saturation/value histograms of the
  image's central part (colour is what separates look-alikes, and colour jitter teaches the
  embedder to ignore it);
* ``+make-model``: + w x the cosine of the make-model-year probability vectors (``vehicle-model``);
* ``+multi-crop``: the embedding averaged over the whole image and central crops (the set of
  crop fractions chosen on val, :data:`CROP_SETS`).

    train-vehicle study reid-lookalikes [--model runs/reid-nojitter/vehicle_reid.onnx] --out runs/reid-lookalikes

Writes ``OUT/reid_lookalikes.json`` and prints a table (Rank-1 / mAP per direction).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from vehiclekit.paths import data_root
from vehiclekit.training.core.datasets import load_vehicle_reid
from vehiclekit.training.reid.metrics import evaluate_ranking

WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8)
#: Central-crop sets tried (vehiclekit.sdk.reid.PARKING_CROPS is the one this study chose on val).
CROP_SETS = ((0.9,), (0.9, 0.8), (0.9, 0.8, 0.7))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="re-ID embedder .onnx (default: the zoo's vehicle-reid)")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--out", default="runs/reid-lookalikes")


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """Square-rooted, unit-length HSV histogram of the central 60 % (8 hue x 3 saturation bins for
    coloured pixels, 4 value bins for grey ones): the cosine of two is their Bhattacharyya coefficient."""
    h, w = image.shape[:2]
    centre = image[int(0.2 * h):int(0.8 * h), int(0.2 * w):int(0.8 * w)]
    hsv = cv2.cvtColor(centre, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.float32)
    coloured = hsv[:, 1] >= 40
    hue = np.histogram2d(hsv[coloured, 0], hsv[coloured, 1], bins=(8, 3), range=((0, 180), (40, 256)))[0].ravel()
    grey = np.histogram(hsv[~coloured, 2], bins=4, range=(0, 256))[0]
    counts = np.concatenate([hue, grey]) + 1e-6
    return np.sqrt(counts / counts.sum())


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def features(paths: list[Path], model: str | None) -> dict[str, np.ndarray]:
    from vehiclekit.sdk import VehicleClassifier, VehicleReID, load_image

    options = {"model_path": model} if model else {}
    images = [load_image(p) for p in paths]
    makes = VehicleClassifier(model="vehicle-model")
    return {"reid": VehicleReID(**options).embed(images),
            **{f"crops {c}": VehicleReID(**options, crops=c).embed(images) for c in CROP_SETS},
            "colour": np.stack([colour_histogram(i) for i in images]),
            "make-model": unit_rows(np.array([list(p.probabilities.values()) for p in makes.predict_batch(images)]))}


def scores(similarity: np.ndarray, ids: np.ndarray, cams: np.ndarray) -> dict[str, float]:
    out = {}
    for q, g in ((1, 2), (2, 1)):
        qi, gi = cams == q, cams == g
        m = evaluate_ranking(-similarity[np.ix_(qi, gi)], ids[qi], ids[gi], cams[qi], cams[gi])
        out[f"cam{q}-rank-1"], out[f"cam{q}-mAP"] = m["rank-1"], m["mAP"]
    out["mean-mAP"] = (out["cam1-mAP"] + out["cam2-mAP"]) / 2
    return out


def levers(f: dict[str, np.ndarray], weight) -> dict[str, np.ndarray]:
    """Each lever's similarity matrix; ``weight`` is a fusion weight, or for multi-crop a crop set."""
    base = f["reid"] @ f["reid"].T
    several = f[f"crops {weight}"] if isinstance(weight, tuple) else f["reid"]
    weight = 0.0 if isinstance(weight, tuple) else weight
    return {"reid": base, "+multi-crop": several @ several.T,
            "+colour": base + weight * (f["colour"] @ f["colour"].T),
            "+make-model": base + weight * (f["make-model"] @ f["make-model"].T)}


def run(args: argparse.Namespace) -> int:
    root, out = data_root(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    split_data = {}
    for split in ("val", "test"):
        items = load_vehicle_reid(root, split)
        split_data[split] = (features([i.path for i in items], args.model), np.array([i.identity for i in items]),
                             np.array([i.camera for i in items]))
    report = {"model": args.model or "vehicle-reid (zoo)", "levers": {}}
    names = list(levers(split_data["val"][0], 0.0))
    for name in names:
        tried = {"+colour": WEIGHTS, "+make-model": WEIGHTS, "+multi-crop": CROP_SETS}.get(name, (0.0,))
        val = {w: scores(levers(split_data["val"][0], w)[name], *split_data["val"][1:]) for w in tried}
        best = max(tried, key=lambda w: (val[w]["mean-mAP"], -len(w) if isinstance(w, tuple) else -w))
        test = scores(levers(split_data["test"][0], best)[name], *split_data["test"][1:])
        report["levers"][name] = {"weight": best, "val": val[best], "test": test,
                                  "val_by_weight": {str(w): v["mean-mAP"] for w, v in val.items()}}
    (out / "reid_lookalikes.json").write_text(json.dumps(report, indent=1))
    print(f"model: {report['model']}; weight chosen on val (mean mAP), test reported\n")
    print("| lever | weight | val mAP (mean) | test cam1→cam2 Rank-1 / mAP | test cam2→cam1 Rank-1 / mAP |")
    print("|---|---|---|---|---|")
    for name, r in report["levers"].items():
        t = r["test"]
        print(f"| {name} | {r['weight']} | {100 * r['val']['mean-mAP']:.1f} | {100 * t['cam1-rank-1']:.1f} / "
              f"{100 * t['cam1-mAP']:.1f} | {100 * t['cam2-rank-1']:.1f} / {100 * t['cam2-mAP']:.1f} |")
    return 0
