"""Heads, EMA targets, the MoCo queue, the kNN classifier, the linear probe, batch norm across
processes (single-process path), and the two-view augmentation."""

import numpy as np
import pytest
import torch
from torch import nn

from vehiclekit.training.ssl.byol import BYOL
from vehiclekit.training.ssl.distributed import GlobalBatchNorm, convert_sync_batchnorm
from vehiclekit.training.ssl.heads import prediction_mlp, projection_mlp
from vehiclekit.training.ssl.knn import knn_predict
from vehiclekit.training.ssl.linear_probe import linear_probe
from vehiclekit.training.ssl.momentum import cosine_momentum, ema_update, frozen_copy
from vehiclekit.training.ssl.queue import KeyQueue
from vehiclekit.training.ssl.simsiam import SimSiam
from vehiclekit.training.core.transforms import ssl_views_transform


def test_simsiam_heads_follow_the_paper():
    model = SimSiam("resnet18-half")
    proj = list(model.projection_head)
    linears = [m for m in proj if isinstance(m, nn.Linear)]
    bns = [m for m in proj if isinstance(m, nn.BatchNorm1d)]
    assert len(linears) == 3 and len(bns) == 3, "3 layers, BN on every layer including the output"
    assert isinstance(proj[-1], nn.BatchNorm1d) and not proj[-1].affine, "output BN without affine, no ReLU after it"
    assert linears[0].in_features == 256 and linears[-1].out_features == 512
    pred = [m for m in model.prediction_head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in pred] == [(512, 128), (128, 512)], "4x bottleneck"
    assert isinstance(model.prediction_head[-1], nn.Linear), "no BN / ReLU on the predictor output"


def test_projection_mlp_without_bn_is_linear_relu_linear():
    head = projection_mlp(8, 16, 4, batch_norm=False)
    assert [type(m) for m in head] == [nn.Linear, nn.ReLU, nn.Linear]
    assert [type(m) for m in prediction_mlp(4, 2)] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]


def test_ema_update():
    online, target = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        online.weight.fill_(1.0), online.bias.fill_(2.0), target.weight.fill_(0.0), target.bias.fill_(-2.0)
    ema_update(target, online, tau=0.9)
    assert torch.allclose(target.weight, torch.full((1, 2), 0.1)) and torch.allclose(target.bias, torch.tensor([-1.6]))


def test_cosine_momentum_schedule():
    assert cosine_momentum(0, 100) == pytest.approx(0.996)
    assert cosine_momentum(50, 100) == pytest.approx(0.998)
    assert cosine_momentum(100, 100) == pytest.approx(1.0)


def test_byol_target_is_frozen_and_follows_the_online_network():
    model = BYOL("resnet18-half")
    assert not any(p.requires_grad for p in model.target_backbone.parameters())
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.target_backbone.parameters()]
    model.update_target(step=0, total_steps=10)  # tau = 0.996
    for b, t, o in zip(before, model.target_backbone.parameters(), model.backbone.parameters()):
        assert torch.allclose(t, 0.996 * b + 0.004 * o, atol=1e-6)


def test_frozen_copy_is_independent():
    online = nn.Linear(2, 2)
    target = frozen_copy(online)
    with torch.no_grad():
        online.weight.add_(1)
    assert not torch.equal(online.weight, target.weight) and not target.weight.requires_grad


def test_moco_queue_is_fifo_and_wraps():
    queue = KeyQueue(size=4, dim=2)
    a, b, c, d, e = (torch.full((1, 2), float(i)) for i in range(1, 6))
    queue.enqueue(torch.cat([a, b, c]))
    assert queue.ptr.item() == 3 and torch.equal(queue.keys[:3], torch.cat([a, b, c]))
    queue.enqueue(torch.cat([d, e]))  # e overwrites the oldest key, a
    assert queue.ptr.item() == 1
    assert torch.equal(queue.keys, torch.cat([e, b, c, d]))
    assert {"keys", "ptr"} <= set(queue.state_dict()), "the queue travels with checkpoints"


def test_knn_on_a_toy_problem():
    bank = torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.9, 0.0], [-1.0, 0.1], [-1.0, -0.2]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    queries = torch.tensor([[2.0, 0.05], [-0.5, 0.0], [0.1, 1.0]])
    assert knn_predict(queries, bank, labels, num_classes=2, k=3).tolist() == [0, 1, 0]
    # k larger than the bank uses the whole bank; similarity-weighted votes beat the 3-vs-2 majority
    assert knn_predict(torch.tensor([[-1.0, 0.0]]), bank, labels, num_classes=2, k=200).tolist() == [1]


def test_linear_probe_separates_a_separable_problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g) * 3 + 10  # standardisation must cope with offset and scale
    y = (x[:, 0] > 10).long()
    classifier, val_accuracy = linear_probe((x[:150], y[:150]), (x[150:], y[150:]), num_classes=2)
    assert max(val_accuracy.values()) >= 0.95
    assert (classifier(x).argmax(1) == y).float().mean() >= 0.95, "standardisation folded into the layer"


def test_global_batchnorm_is_batchnorm_in_one_process():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 3), nn.BatchNorm1d(3))
    reference = frozen_copy(net).requires_grad_(True)
    converted = convert_sync_batchnorm(net, torch.device("cpu"))
    assert isinstance(converted[1], GlobalBatchNorm) and isinstance(converted[4], GlobalBatchNorm)
    x = torch.randn(5, 3, 8, 8)
    assert torch.allclose(converted(x), reference(x), atol=1e-6)


def test_ssl_views_are_two_different_normalised_crops():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)
    torch.manual_seed(0)
    v1, v2 = ssl_views_transform(64)(image)
    assert v1.shape == v2.shape == (3, 64, 64) and v1.dtype == torch.float32
    assert not torch.equal(v1, v2)
