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
