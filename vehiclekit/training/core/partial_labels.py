"""Partial labels: an image labelled with a *set* of classes, one of which is right.

A traffic camera's boxes say `car` without telling car, SUV, van or pickup apart; a truck's label says
its size, not whether it is articulated. Such an example is labelled with the set of classes it may
be, and the classifier is trained to put its probability mass anywhere inside that set:

    loss = -log sum_{k in S} p_k

the likelihood of the candidate set (Jin & Ghahramani, "Learning with Multiple Labels", NeurIPS 2002),
shown classifier-consistent by Feng et al. ("Provably Consistent Partial-Label Learning", NeurIPS
2020, their CC loss). For a one-class set it is the usual cross-entropy. With label smoothing ``eps``
the loss is ``(1 - eps) * that + eps * mean_k(-log p_k)``, which for a one-class set is exactly
``nn.CrossEntropyLoss(label_smoothing=eps)``.

The set likelihood says nothing about which class inside the set an image is, so on images that
look alike (small, blurred CCTV cars) a network is free to settle on any one of them, e.g. to call
every distant car a van. ``prior_weight`` adds a pull of each set-labelled image's within-set
distribution ``r`` towards the classes' prior ``pi`` (their share among the exactly labelled
images, renormalised to the set): ``prior_weight * -sum_{k in S} pi_k log r_k``, which leaves a
visible van a van (the exactly labelled vans teach that) but makes the majority class, car, the
answer where nothing in the picture decides.

Targets stay integers: ``k < C`` is class ``k``, ``k >= C`` is the set ``label_sets[k - C]`` (each a
tuple of class indices), so datasets, samplers and loaders need no change.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

LabelSets = tuple[tuple[int, ...], ...]


def target_masks(num_classes: int, label_sets: LabelSets) -> torch.Tensor:
    """``[C + len(label_sets), C]`` booleans: row ``k`` marks the classes target ``k`` allows."""
    masks = torch.zeros(num_classes + len(label_sets), num_classes, dtype=torch.bool)
    masks[torch.arange(num_classes), torch.arange(num_classes)] = True
    for row, classes in enumerate(label_sets, start=num_classes):
        if not classes or not all(0 <= c < num_classes for c in classes):
            raise ValueError(f"label set {classes} must hold class indices in [0, {num_classes})")
        masks[row, list(classes)] = True
    return masks


class PartialLabelCrossEntropy(nn.Module):
    """``-log`` of the probability of the target's class set, with label smoothing (module docstring)."""

    def __init__(self, num_classes: int, label_sets: LabelSets, label_smoothing: float = 0.0,
                 class_prior: Sequence[float] | None = None, prior_weight: float = 0.0):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if prior_weight and class_prior is None:
            raise ValueError("prior_weight needs class_prior")
        masks = target_masks(num_classes, label_sets)
        self.register_buffer("masks", masks, persistent=False)
        priors = torch.zeros(masks.shape)
        if prior_weight:
            prior = torch.as_tensor(class_prior, dtype=torch.float32).clamp_min(1e-6)
            priors[num_classes:] = masks[num_classes:] * prior
            priors[num_classes:] /= priors[num_classes:].sum(dim=1, keepdim=True)
        self.register_buffer("priors", priors, persistent=False)
        self.label_smoothing, self.prior_weight = label_smoothing, prior_weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = logits.float().log_softmax(dim=1)
        outside = ~self.masks[targets]
        in_set = log_p.masked_fill(outside, float("-inf")).logsumexp(dim=1)
        loss = -((1 - self.label_smoothing) * in_set + self.label_smoothing * log_p.mean(dim=1))
        if self.prior_weight:
            within = (log_p - in_set[:, None]).masked_fill(outside, 0.0)    # log r_k inside the set
            loss = loss - self.prior_weight * (self.priors[targets] * within).sum(dim=1)
        return loss.mean()


def fits(predicted: int, target: int, num_classes: int, label_sets: LabelSets) -> bool:
    """Whether the predicted class is the target class, or one of the target's set."""
    return predicted == target if target < num_classes else predicted in label_sets[target - num_classes]


def set_names(classes: Sequence[str], label_sets: LabelSets) -> list[str]:
    """Every target's name: the classes, then each set as ``car|suv|van|pickup``."""
    return list(classes) + ["|".join(classes[c] for c in s) for s in label_sets]
