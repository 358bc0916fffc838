"""``train-vehicle evaluate-attributes``: the make-model-year classifier scored through the SDK on the
Stanford Cars test split, for each attribute it answers (``model``: the 196 classes; ``make`` and
``body``: their label groups): top-1 and top-5 accuracy, and whether its confidence is honest — the
expected calibration error (ECE, 15 equal-width bins; Guo et al., "On Calibration of Modern Neural
Networks", ICML 2017) and a reliability diagram per attribute.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vehiclekit.paths import data_root
from vehiclekit.sdk import VehicleClassifier
from vehiclekit.sdk.recognizer import ATTRIBUTE_MODELS
from vehiclekit.training.core.checkpoint import write_json
from vehiclekit.training.core.datasets import load_stanford_cars

#: Attribute -> the Stanford labels.csv column that is its truth.
TRUTH_COLUMN = {"model": "class_name", "make": "make", "body": "body_type"}
BINS = 15


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=ATTRIBUTE_MODELS["model"], help="zoo name or ONNX file of the make-model-year classifier")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--out", required=True, help="folder for metrics.json, report.md and reliability.png")
    p.add_argument("--run", type=Path, help="the training run directory: also plot its validation accuracy per epoch")


def run(args: argparse.Namespace) -> int:
    root, out = data_root(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clf = VehicleClassifier.named(args.model)
    attributes = list(TRUTH_COLUMN)
    groups = [None if a == "model" else a for a in attributes]
    test = load_stanford_cars(root, "class_name", "test")
    answers = clf.predict_groups(list(test.paths), groups)
    metrics = {"classifier": {"source": args.model, "name": clf.metadata.name, "version": clf.metadata.version}, "n": len(test)}
    for i, attribute in enumerate(attributes):
        truth = [t for t in load_stanford_cars(root, TRUTH_COLUMN[attribute], "test").named_labels()]
        metrics[attribute] = scores([a[i] for a in answers], truth)
    write_json(out / "metrics.json", metrics)
    plot_reliability(metrics, attributes, out / "reliability.png")
    if args.run:
        plot_curve(json.loads((args.run / "history.json").read_text()), out / "accuracy_per_epoch.png")
    (out / "report.md").write_text(report(metrics, attributes))
    print(report(metrics, attributes))
    return 0


def scores(predictions: list, truth: list[str]) -> dict:
    """Top-1, top-5, ECE and the reliability bins of ``predictions`` (SDK Predictions) against ``truth``."""
    confidence = np.array([p.confidence for p in predictions])
    correct = np.array([p.label == t for p, t in zip(predictions, truth)])
    top5 = np.mean([t in sorted(p.probabilities, key=p.probabilities.get, reverse=True)[:5] for p, t in zip(predictions, truth)])
    edges = np.linspace(0, 1, BINS + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, BINS - 1)
    bins = [{"low": float(edges[b]), "high": float(edges[b + 1]), "n": int((which == b).sum()),
             "confidence": float(confidence[which == b].mean()) if (which == b).any() else None,
             "accuracy": float(correct[which == b].mean()) if (which == b).any() else None} for b in range(BINS)]
    ece = sum(b["n"] / len(truth) * abs(b["accuracy"] - b["confidence"]) for b in bins if b["n"])
    return {"top1": float(correct.mean()), "top5": float(top5), "ece": float(ece),
            "mean_confidence": float(confidence.mean()), "classes": len(predictions[0].probabilities), "bins": bins}


def plot_curve(history: list[dict], path: Path) -> None:
    """Validation accuracy (196 make-model-years) and training loss per epoch of a run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(epochs, [h["val_acc"] for h in history], "o-", label="val accuracy (model, 196 classes)")
    ax.set(xlabel="epoch", ylabel="val accuracy", ylim=(0, 1))
    twin = ax.twinx()
    twin.plot(epochs, [h["train_loss"] for h in history], "s--", color="tab:orange", label="train loss")
    twin.set_ylabel("train loss")
    fig.legend(loc="lower center", fontsize=8, ncol=2)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(metrics: dict, attributes: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(attributes), figsize=(4.2 * len(attributes), 4.2))
    for ax, attribute in zip(axes, attributes):
        m = metrics[attribute]
        filled = [b for b in m["bins"] if b["n"]]
        ax.bar([b["low"] for b in filled], [b["accuracy"] for b in filled], width=1 / BINS, align="edge",
               edgecolor="black", alpha=0.8, label="accuracy in bin")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
               title=f"{attribute} ({m['classes']} classes)\ntop-1 {m['top1']:.1%}, ECE {m['ece']:.3f}")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"{metrics['classifier']['name']} v{metrics['classifier']['version']}: reliability on Stanford Cars test ({metrics['n']} photos)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(m: dict, attributes: list[str]) -> str:
    lines = ["| attribute | classes | top-1 | top-5 | mean confidence | ECE |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {a} | {m[a]['classes']} | {m[a]['top1']:.1%} | {m[a]['top5']:.1%} | {m[a]['mean_confidence']:.1%} | "
              f"{m[a]['ece']:.3f} |" for a in attributes]
    return f"Stanford Cars test split, {m['n']} photos, {m['classifier']['source']}\n\n" + "\n".join(lines) + "\n"
