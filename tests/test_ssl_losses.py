"""The self-supervised losses against values computed by hand on tiny tensors, and their gradients."""

import math

import pytest
import torch

from vehiclekit.training.ssl.losses import info_nce, negative_cosine_similarity, nt_xent, symmetric_negative_cosine


def test_negative_cosine_by_hand():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z = torch.tensor([[1.0, 1.0], [0.0, -3.0]])
    # cos = 1/√2 and -1 -> mean -(1/√2 - 1)/2
    assert negative_cosine_similarity(p, z).item() == pytest.approx(-(1 / math.sqrt(2) - 1) / 2, abs=1e-6)


def test_symmetric_negative_cosine_by_hand():
    p1, z2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.6, 0.8]])  # cos 0.6
    p2, z1 = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 5.0]])  # cos 1
    assert symmetric_negative_cosine(p1, p2, z1, z2).item() == pytest.approx(-(0.6 + 1.0) / 2, abs=1e-6)


def test_stop_gradient_stops_gradients():
    p = torch.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    z = torch.tensor([[0.5, 0.5], [1.0, 2.0]], requires_grad=True)
    negative_cosine_similarity(p, z).backward()
    assert z.grad is None, "the target branch must receive no gradient"
    assert p.grad is not None and p.grad.abs().sum() > 0


def test_nt_xent_by_hand():
    """N = 2 images, unit vectors at angles a1, b1 (view 1) and a2, b2 (view 2): for each of the 4
    views, -log exp(s_pos / t) / sum over the 3 other views of exp(s / t), averaged."""
    angles = {"a1": 0.0, "b1": 1.0, "a2": 0.3, "b2": 2.0}
    t = 0.5
    vec = {k: torch.tensor([math.cos(v), math.sin(v)]) for k, v in angles.items()}
    pairs = {"a1": "a2", "a2": "a1", "b1": "b2", "b2": "b1"}
    expected = 0.0
    for anchor, positive in pairs.items():
        sims = {k: math.cos(angles[anchor] - angles[k]) / t for k in angles if k != anchor}
        expected += -(sims[positive] - math.log(sum(math.exp(s) for s in sims.values())))
    expected /= 4
    z1 = torch.stack([vec["a1"], vec["b1"]]) * 3  # scale must not matter: NT-Xent normalises
    z2 = torch.stack([vec["a2"], vec["b2"]])
    assert nt_xent(z1, z2, temperature=t).item() == pytest.approx(expected, abs=1e-5)


def test_nt_xent_gradients_reach_both_views():
    z1 = torch.randn(4, 8, requires_grad=True)
    z2 = torch.randn(4, 8, requires_grad=True)
    nt_xent(z1, z2).backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0


def test_info_nce_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.6, 0.8]])
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    # logits (0.6, 0, -1) / 0.5 with the positive first
    expected = -(1.2 - math.log(math.exp(1.2) + math.exp(0.0) + math.exp(-2.0)))
    assert info_nce(q, k, queue, temperature=0.5).item() == pytest.approx(expected, abs=1e-6)


def test_info_nce_keys_get_no_gradient():
    q = torch.nn.functional.normalize(torch.randn(3, 4), dim=1).requires_grad_()
    k = torch.nn.functional.normalize(torch.randn(3, 4), dim=1).requires_grad_()
    info_nce(q, k, torch.nn.functional.normalize(torch.randn(5, 4), dim=1)).backward()
    assert k.grad is None and q.grad.abs().sum() > 0
