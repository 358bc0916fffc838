"""Pseudo-label selection for UPS and the confidence baseline.

Rizve, Duarte, Rawat, Shah, "In Defense of Pseudo-Labeling: An Uncertainty-Aware Pseudo-label
Selection Framework for Semi-Supervised Learning", ICLR 2021 (official code: nayeemrizve/ups).
Semantics follow the official code (see docs/research-notes.md, UPS section):

* uncertainty = std over T MC-dropout passes (only ``nn.Dropout`` modules in train mode, BN in eval),
  ``torch.std`` with Bessel's correction as in the official code;
* positive: ``max_c mean_p[c] >= tau_p`` and ``std[argmax] < kappa_p``;
* negative (only samples not selected positive): classes with temperature-scaled probability
  ``< tau_n`` and std ``< kappa_n``, never the argmax class (argmax of the un-scaled mean).

Everything here is a pure function on tensors except :func:`mc_dropout_logits`, which runs a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def enable_mc_dropout(model: nn.Module) -> None:
    """``model.eval()``, then only the dropout modules back in train mode (BatchNorm keeps using and
    never updates its running statistics)."""
    model.eval()
    for m in model.modules():
        if isinstance(m, DROPOUT_TYPES):
            m.train()


@torch.no_grad()
def mc_dropout_logits(model: nn.Module, loader, passes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``passes`` stochastic forward passes, shape ``[passes, N, C]``, and the loader's labels.

    For a :class:`~vehiclekit.models.factory.Classifier` whose backbone has no dropout, the
    (deterministic) backbone runs once per batch and only dropout + head are repeated: the same
    distribution as ``passes`` full passes, about ``passes`` times cheaper. The model's train/eval
    modes are restored afterwards.
    """
    from vehiclekit.models.factory import Classifier

    modes = {m: m.training for m in model.modules()}
    enable_mc_dropout(model)
    fast = isinstance(model, Classifier) and not any(isinstance(m, DROPOUT_TYPES) for m in model.backbone.modules())
    out, labels = [], []
    try:
        for images, targets in loader:
            if fast:
                feats = model.backbone(images)
                out.append(torch.stack([model.head(model.dropout(feats)) for _ in range(passes)]))
            else:
                out.append(torch.stack([model(images) for _ in range(passes)]))
            labels.append(torch.as_tensor(targets))
    finally:
        for m, mode in modes.items():
            m.train(mode)
    return torch.cat(out, dim=1), torch.cat(labels)


def softmax_stats(logits: torch.Tensor, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) std over passes of ``softmax(logits / temperature)``; logits ``[T, N, C]``."""
    probs = torch.softmax(logits / temperature, dim=-1)
    return probs.mean(0), probs.std(0)


def mc_dropout_predict(model: nn.Module, loader, passes: int = 10, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std ``[N, C]`` of the softmax over ``passes`` MC-dropout passes (Rizve et al. 2021, Sec. 3.2)."""
    logits, _ = mc_dropout_logits(model, loader, passes)
    return softmax_stats(logits, temperature)


@dataclass
class Selection:
    """``positive``: bool ``[N]``; ``labels``: int ``[N]`` (argmax, meaningful where positive);
    ``negative``: bool ``[N, C]`` negative-class mask (all False on positive rows)."""

    positive: torch.Tensor
    labels: torch.Tensor
    negative: torch.Tensor


def select_pseudo_labels(
    mean_probs: torch.Tensor,
    std_probs: torch.Tensor,
    tau_p: float = 0.70,
    tau_n: float = 0.05,
    kappa_p: float = 0.05,
    kappa_n: float = 0.005,
    neg_mean_probs: torch.Tensor | None = None,
    neg_std_probs: torch.Tensor | None = None,
    class_balance: bool = False,
    balance_min: int = 25,
) -> Selection:
    """UPS selection (Rizve et al., ICLR 2021, Eq. 3-5 with the official code's thresholds).

    ``neg_mean_probs`` / ``neg_std_probs``: statistics of the temperature-scaled softmax used for the
    negative labels (official: temperature 2.0); default: the un-scaled ``mean_probs`` / ``std_probs``.
    ``class_balance``: keep, per class, at most ``max(balance_min, smallest class count)`` positives,
    those with the lowest std (the official code's balancing in early iterations).
    """
    neg_mean = mean_probs if neg_mean_probs is None else neg_mean_probs
    neg_std = std_probs if neg_std_probs is None else neg_std_probs
    max_prob, labels = mean_probs.max(dim=1)
    max_std = std_probs.gather(1, labels[:, None]).squeeze(1)
    positive = (max_prob >= tau_p) & (max_std < kappa_p)
    if class_balance:
        positive = balance_classes(positive, labels, max_std, mean_probs.shape[1], balance_min)
    negative = (neg_mean < tau_n) & (neg_std < kappa_n)
    negative[torch.arange(len(labels)), labels] = False
    negative[positive] = False
    return Selection(positive, labels, negative)


def balance_classes(selected: torch.Tensor, labels: torch.Tensor, uncertainty: torch.Tensor, num_classes: int,
                    minimum: int = 25) -> torch.Tensor:
    """``selected`` with at most ``max(minimum, smallest per-class selected count)`` samples per class,
    keeping those with the lowest ``uncertainty``."""
    counts = torch.bincount(labels[selected], minlength=num_classes)
    cap = max(minimum, int(counts.min()))
    keep = torch.zeros_like(selected)
    for c in range(num_classes):
        idx = torch.nonzero(selected & (labels == c)).squeeze(1)
        idx = idx[torch.argsort(uncertainty[idx], stable=True)][:cap]
        keep[idx] = True
    return keep


def select_confident(mean_probs: torch.Tensor, threshold: float, class_balance: bool = False) -> Selection:
    """Confidence-only pseudo-labelling baseline (Lee 2013; the "PL" row of Rizve et al. 2021):
    positive where max probability ``>= threshold``; no negative labels. ``class_balance``: as in
    :func:`select_pseudo_labels`, with the least confident dropped first."""
    max_prob, labels = mean_probs.max(dim=1)
    positive = max_prob >= threshold
    if class_balance:
        positive = balance_classes(positive, labels, -max_prob, mean_probs.shape[1])
    return Selection(positive, labels, torch.zeros_like(mean_probs, dtype=torch.bool))


def selection_stats(sel: Selection, true_labels: torch.Tensor, num_classes: int) -> dict:
    """Counts of a selection, and its precision against the (hidden) true labels of the pool where
    they are known (-1: an unlabelled image, e.g. from ``finetune --unlabeled``; precision then
    covers the rest, None when nothing is known)."""
    pos = sel.positive
    known = true_labels >= 0
    n_pos = int(pos.sum())
    correct_pos = int((sel.labels[pos & known] == true_labels[pos & known]).sum())
    negative = sel.negative & known[:, None]
    n_neg = int(negative.sum())
    rows = torch.nonzero(known).squeeze(1)
    wrong_neg = int(negative[rows, true_labels[rows]].sum())          # true class marked negative
    judged_pos = int((pos & known).sum())
    return {
        "positive": n_pos,
        "positive_precision": correct_pos / judged_pos if judged_pos else None,
        "negative": int(sel.negative.sum()),
        "negative_samples": int(sel.negative.any(1).sum()),
        "negative_precision": (n_neg - wrong_neg) / n_neg if n_neg else None,
        "class_histogram": torch.bincount(sel.labels[pos], minlength=num_classes).tolist(),
        "pool": len(true_labels),
        "pool_with_known_labels": int(known.sum()),
    }


def top_n_precision(probs: torch.Tensor, true_labels: torch.Tensor, n: int) -> float | None:
    """Precision of the argmax labels of the ``n`` most confident rows of ``probs`` ``[N, C]``: what a
    confidence-only selection of the same size would get (the matched comparison of Rizve et al. 2021, Fig. 2)."""
    confidence, labels = probs.max(dim=1)
    top = torch.argsort(confidence, descending=True, stable=True)[:n]
    top = top[true_labels[top] >= 0]                                  # judged where the truth is known
    if len(top) == 0:
        return None
    return float((labels[top] == true_labels[top]).float().mean())
