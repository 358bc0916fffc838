"""Dense output distillation (``train-vehicle detector --distill``): zero where the networks agree,
class and box terms only where the teacher sees an object, and its gradient leads to the teacher."""

from __future__ import annotations

import pytest
import torch

from vehiclekit.training.detection.distill import binary_kl, distillation_loss


def _raw(seed: int, anchors: int = 50, classes: int = 80) -> torch.Tensor:
    return torch.randn(2, anchors, 5 + classes, generator=torch.Generator().manual_seed(seed))


def test_the_loss_is_zero_only_where_the_networks_agree():
    teacher = _raw(0)
    same = distillation_loss(teacher.clone(), teacher)
    assert all(abs(v.item()) < 1e-5 for v in same.values())
    other = distillation_loss(_raw(1), teacher)
    assert all(v.item() > 0 for v in other.values())
    assert (binary_kl(torch.tensor([0.0, 3.0]), torch.tensor([2.0, -1.0])) > 0).all()


def test_class_and_box_terms_count_only_where_the_teacher_sees_an_object():
    teacher = _raw(0)
    teacher[:, :, 4] = -30.0  # no object anywhere...
    teacher[0, 7, 4] = 30.0  # ...but at one anchor
    student = teacher.clone()
    student[:, :7, 5:] += 5.0  # classes and boxes wrong where the teacher sees nothing
    student[:, :7, :4] += 5.0
    quiet = distillation_loss(student, teacher)
    assert quiet["kd_cls"].item() < 1e-5 and quiet["kd_box"].item() < 1e-5
    student[0, 7, 5:] += 5.0  # and now where it sees one
    student[0, 7, :4] += 1.0
    loud = distillation_loss(student, teacher)
    assert loud["kd_cls"].item() > 1.0 and loud["kd_box"].item() == pytest.approx(4.0, rel=1e-4)


def test_descending_the_loss_leads_the_student_to_the_teacher():
    teacher = _raw(0)
    student = _raw(1).requires_grad_(True)
    optimizer = torch.optim.Adam([student], lr=0.05)
    for _ in range(400):
        loss = sum(distillation_loss(student, teacher).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    gap = (student.detach()[..., 4].sigmoid() - teacher[..., 4].sigmoid()).abs().max().item()
    assert gap < 0.02, gap
    assert not teacher.requires_grad
