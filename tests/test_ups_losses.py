"""Negative-learning loss of UPS: value and gradient on a tiny tensor."""

import math

import torch

from vehiclekit.training.ups.losses import negative_learning_loss


def test_value_and_gradient_match_hand_computation():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0], [1.0, 2.0]], requires_grad=True)
    mask = torch.tensor([[True, False], [True, True], [False, False]])
    loss = negative_learning_loss(logits, mask)
    # row 0: p = (.5,.5): -log(.5); row 1: p = (.75,.25): (-log .25 - log .75)/2; row 2 ignored
    l0 = -math.log(0.5)
    l1 = (-math.log(0.25) - math.log(0.75)) / 2
    assert abs(loss.item() - (l0 + l1) / 2) < 1e-6
    loss.backward()
    # row 0: d/dz0 of -log(1-p0) = p0 (since 1-p0 = p1 = softmax): grad = (p0, -p0)/2 (mean over 2 rows)
    assert torch.allclose(logits.grad[0], torch.tensor([0.25, -0.25]), atol=1e-6)
    # row 1: d/dz of mean(-log p1, -log p0)/... = (1/2)[(p - e1) + (p - e0)] = p - 0.5 -> /2 rows
    assert torch.allclose(logits.grad[1], torch.tensor([0.125, -0.125]), atol=1e-6)
    assert torch.equal(logits.grad[2], torch.zeros(2))


def test_gradient_matches_autograd_reference_and_empty_mask_is_zero():
    torch.manual_seed(0)
    logits = torch.randn(4, 5, requires_grad=True)
    mask = torch.rand(4, 5) < 0.5
    mask[0] = False
    ref_logits = logits.detach().clone().requires_grad_(True)
    p = torch.softmax(ref_logits, 1)
    m = mask.float()
    rows = m.sum(1) > 0
    ref = ((-(torch.log(1 - p)) * m).sum(1)[rows] / m.sum(1)[rows]).mean()
    loss = negative_learning_loss(logits, mask)
    loss.backward(); ref.backward()
    assert torch.allclose(loss, ref) and torch.allclose(logits.grad, ref_logits.grad, atol=1e-6)
    empty = negative_learning_loss(logits, torch.zeros_like(mask))
    assert empty.item() == 0.0 and empty.requires_grad
