"""Dense output distillation for YOLOX: the fine-tuned detector keeps the starting network's answers
on general photos.

"Incremental Learning of Object Detectors without Catastrophic Forgetting" (Shmelkov, Schmid &
Alahari, ICCV 2017) keeps an old detector's classes by distilling its outputs (class scores and box
regressions) on the new task's images; soft targets follow Hinton, Vinyals & Dean, "Distilling the
Knowledge in a Neural Network" (2015). Here the old network is the COCO YOLOX-Nano and the images
are the general photos mixed into the camera's training. At every anchor point the student learns
the teacher's objectness; where the teacher sees an object, weighted by its objectness, also its
class probabilities and its raw box. Probabilities are matched by binary KL divergence (zero where
the two networks agree), boxes by L1. Hard pseudo-labels (``pseudo_labelled`` in :mod:`.train`)
keep only the boxes above a threshold; the dense targets also keep the low-scoring answers that COCO
AP counts and the teacher's class boundaries (COCO calls a pickup a ``truck``; the camera's labels
call it a ``car``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def binary_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL divergence of Bernoulli(sigmoid(student)) from Bernoulli(sigmoid(teacher)), element-wise:
    the cross-entropy against the teacher's probability less the teacher's own entropy."""
    target = teacher_logits.sigmoid()
    cross = F.binary_cross_entropy_with_logits(student_logits, target, reduction="none")
    return cross - F.binary_cross_entropy_with_logits(teacher_logits, target, reduction="none")


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> dict[str, torch.Tensor]:
    """Distillation loss of ``student`` towards ``teacher``, both raw YOLOX outputs ``[B, A, 5 + C]``
    (box regression, objectness logit, class logits) on the same images. Each part is summed over
    anchors and divided by the teacher's summed objectness (its expected number of objects, at least
    1), the normalisation of YOLOX's own loss, so the two losses add on one scale."""
    teacher = teacher.detach()
    weight = teacher[..., 4].sigmoid()
    objects = weight.sum().clamp(min=1.0)
    return {
        "kd_obj": binary_kl(student[..., 4], teacher[..., 4]).sum() / objects,
        "kd_cls": (weight * binary_kl(student[..., 5:], teacher[..., 5:]).sum(-1)).sum() / objects,
        "kd_box": (weight * (student[..., :4] - teacher[..., :4]).abs().sum(-1)).sum() / objects,
    }
