"""Classification metrics and the confusion-matrix plot."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def classification_report(predicted: Sequence[int], truth: Sequence[int], num_classes: int) -> dict:
    """Accuracy, per-class accuracy (recall) and the confusion matrix ``[true][predicted]``."""
    confusion = [[0] * num_classes for _ in range(num_classes)]
    for p, t in zip(predicted, truth):
        confusion[t][p] += 1
    per_class = [row[i] / sum(row) if sum(row) else float("nan") for i, row in enumerate(confusion)]
    correct = sum(confusion[i][i] for i in range(num_classes))
    return {"accuracy": correct / max(len(truth), 1), "per_class_accuracy": per_class, "confusion": confusion, "n": len(truth)}


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 15) -> float:
    """ECE (Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML 2017):
    over ``bins`` equal-width confidence bins ``(k/bins, (k+1)/bins]``, the sample-weighted mean of
    |accuracy - mean confidence|."""
    totals = [[0, 0.0, 0] for _ in range(bins)]                     # count, confidence sum, correct
    for c, ok in zip(confidence, correct):
        b = min(bins - 1, max(0, int(-(-float(c) * bins // 1)) - 1))  # ceil(c * bins) - 1: right-closed bins
        totals[b][0] += 1
        totals[b][1] += float(c)
        totals[b][2] += bool(ok)
    n = sum(t[0] for t in totals)
    return sum(abs(t[2] - t[1]) for t in totals if t[0]) / n if n else 0.0


#: Above this many classes the confusion plot has a fixed size and no numbers or class names.
MAX_ANNOTATED_CLASSES = 30


def plot_confusion(confusion: list[list[int]], classes: Sequence[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    many = len(classes) > MAX_ANNOTATED_CLASSES
    side = 14 if many else 1.1 * len(classes) + 2
    fig, ax = plt.subplots(figsize=(side, side - 0.5))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if many:  # 196 make-model-years: the pattern, not the numbers (a numbered plot would be metres wide)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        top = max(max(r) for r in confusion) or 1
        for i, row in enumerate(confusion):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
