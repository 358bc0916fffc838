"""Classification metrics and the confusion-matrix plot."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vehiclekit.training.core.partial_labels import LabelSets, fits, set_names


def classification_report(predicted: Sequence[int], truth: Sequence[int], num_classes: int, label_sets: LabelSets = (),
                          classes: Sequence[str] | None = None) -> dict:
    """Accuracy, per-class accuracy (recall) and the confusion matrix ``[true][predicted]``. Truths
    ``>= num_classes`` are partial labels (``label_sets``): right when the prediction is in the set;
    they count in the accuracy and, per set, in ``partial`` (``{"car|suv|van|pickup": [fits, n]}``,
    named by ``classes``, else by class index), not in the confusion matrix."""
    confusion = [[0] * num_classes for _ in range(num_classes)]
    names = set_names(classes or [str(c) for c in range(num_classes)], label_sets)
    partial: dict[str, list[int]] = {}
    for p, t in zip(predicted, truth):
        if t < num_classes:
            confusion[t][p] += 1
        else:
            counts = partial.setdefault(names[t], [0, 0])
            counts[0] += fits(p, t, num_classes, label_sets)
            counts[1] += 1
    per_class = [row[i] / sum(row) if sum(row) else float("nan") for i, row in enumerate(confusion)]
    correct = sum(confusion[i][i] for i in range(num_classes)) + sum(f for f, _ in partial.values())
    report = {"accuracy": correct / max(len(truth), 1), "per_class_accuracy": per_class, "confusion": confusion, "n": len(truth)}
    return report | ({"partial": partial} if partial else {})


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
