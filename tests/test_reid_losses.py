"""Re-ID building blocks: batch-hard triplet mining and loss, GeM, BNNeck model, P×K sampler."""

from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from vehiclekit.models.factory import build_backbone
from vehiclekit.models.reid import GeM, ReidEmbedder, ReidNet
from vehiclekit.training.reid.losses import ReidLoss, batch_hard_triplet, hard_mining, pairwise_euclidean
from vehiclekit.training.reid.sampler import PKSampler

torch.set_num_threads(1)

# 1-D features: identity 0 at 0, 1, 3; identity 1 at 2.5, 10.
X = torch.tensor([[0.0], [1.0], [3.0], [2.5], [10.0]])
Y = torch.tensor([0, 0, 0, 1, 1])


def test_hard_mining_picks_farthest_positive_and_nearest_negative():
    d_ap, d_an, pos, neg = hard_mining(pairwise_euclidean(X), Y)
    assert pos.tolist() == [2, 2, 0, 4, 3]
    assert neg.tolist() == [3, 3, 3, 2, 2]
    torch.testing.assert_close(d_ap, torch.tensor([3.0, 2.0, 3.0, 7.5, 7.5]), atol=1e-5, rtol=0)
    torch.testing.assert_close(d_an, torch.tensor([2.5, 1.5, 0.5, 0.5, 7.0]), atol=1e-5, rtol=0)


def test_batch_hard_triplet_value_and_gradient():
    x = X.clone().requires_grad_(True)
    loss = batch_hard_triplet(x, Y, margin=0.3)
    # relu(d_ap - d_an + 0.3) = 0.8, 0.8, 2.8, 7.3, 0.8 -> mean 2.5
    assert loss.item() == pytest.approx(2.5, abs=1e-5)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    assert batch_hard_triplet(X, Y, margin=0.0).item() == pytest.approx((0.5 + 0.5 + 2.5 + 7.0 + 0.5) / 5, abs=1e-5)


def test_reid_loss_is_smoothed_ce_plus_triplet():
    logits = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    total, parts = ReidLoss()(X, logits, Y)
    ce = F.cross_entropy(logits, Y, label_smoothing=0.1)
    assert parts["ce"] == pytest.approx(ce.item(), abs=1e-6) and parts["triplet"] == pytest.approx(2.5, abs=1e-5)
    assert total.item() == pytest.approx(ce.item() + 2.5, abs=1e-5)


def test_gem_is_average_pooling_at_p1_and_tends_to_max():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0)) + 0.01
    torch.testing.assert_close(GeM(p=1.0)(x), x.mean(dim=(2, 3)))
    torch.testing.assert_close(GeM(p=1.0)(F.relu(x - 0.5)), F.relu(x - 0.5).mean(dim=(2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(GeM(p=200.0)(x), x.amax(dim=(2, 3)), atol=0.05, rtol=0)


def test_reid_net_layers_outputs_and_ssl_backbone_loading():
    model = ReidNet("resnet18-half", num_classes=7, gem=True)
    names = set(model.state_dict())
    assert {"pool.p", "bottleneck.weight", "bottleneck.bias", "classifier.weight"} <= names  # stable names
    assert "classifier.bias" not in names and not model.bottleneck.bias.requires_grad      # BNNeck as in BoT
    model.backbone.load_state_dict(build_backbone("resnet18-half").state_dict())          # a pretrain backbone.pt
    f_t, f_i, logits = model(torch.randn(4, 3, 32, 32))
    assert f_t.shape == f_i.shape == (4, 256) and logits.shape == (4, 7)
    model.eval()
    with torch.no_grad():
        e = ReidEmbedder(model)(torch.randn(3, 3, 32, 32))
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))


def test_flip_embedder_is_mirror_invariant_and_reid_net_takes_imagenet_efficientnet():
    model = ReidNet("efficientnet-lite0", num_classes=5, gem=True, imagenet=True, frozen_blocks=2).eval()
    assert model.num_features == 1280
    reference = build_backbone("efficientnet-lite0", imagenet=True)
    torch.testing.assert_close(model.backbone.state_dict(), reference.state_dict())      # ImageNet weights loaded
    frozen = dict(model.backbone.named_parameters())
    assert not frozen["net.blocks.1.0.conv_pw.weight"].requires_grad and frozen["net.blocks.2.0.conv_pw.weight"].requires_grad
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        flipped, plain = ReidEmbedder(model, flip=True), ReidEmbedder(model)
        torch.testing.assert_close(flipped(x), flipped(x.flip(-1)), atol=1e-5, rtol=0)    # a car and its mirror image
        assert not torch.allclose(plain(x), plain(x.flip(-1)), atol=1e-3)
        torch.testing.assert_close(flipped(x).norm(dim=1), torch.ones(2))


def test_pk_sampler_composition():
    counts = {"a": 5, "b": 1, "c": 3, "d": 2, "e": 4}
    identities = [name for name, n in counts.items() for _ in range(n)]
    sampler = PKSampler(identities, p=2, k=3, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 2          # 5 identities // P=2, the last incomplete group dropped
    seen = []
    for batch in batches:
        assert len(batch) == 6
        per_id = Counter(identities[i] for i in batch)
        assert len(per_id) == 2 and set(per_id.values()) == {3}   # P identities x K images
        for name in per_id:
            members = [i for i in batch if identities[i] == name]
            # >= K images: K distinct; fewer: every image, then repeats
            assert len(set(members)) == min(counts[name], 3)
        seen += list(per_id)
    assert len(seen) == len(set(seen))                 # every identity at most once per epoch
    assert list(PKSampler(identities, 2, 3, seed=0)) == batches     # deterministic given the seed
    assert any(list(PKSampler(identities, 2, 3, seed=s)) != batches for s in range(1, 5))


def test_camera_aware_sampling_spreads_each_identity_over_its_cameras():
    # identity a: 3 images from camera 1, 1 from camera 2; b: 2 + 2; c: camera 1 only
    identities = ["a", "a", "a", "a", "b", "b", "b", "b", "c", "c"]
    cameras = [1, 1, 1, 2, 1, 1, 2, 2, 1, 1]
    for seed in range(20):
        for batch in PKSampler(identities, p=3, k=2, seed=seed, cameras=cameras):
            for name in ("a", "b"):
                picked = [cameras[i] for i in batch if identities[i] == name]
                assert sorted(picked) == [1, 2], (seed, name, picked)      # one per camera, never two from one
    with pytest.raises(ValueError, match="cameras"):
        PKSampler(identities, 2, 2, cameras=cameras[:-1])


def test_pk_sampler_rejects_too_few_identities():
    with pytest.raises(ValueError, match="only 1"):
        PKSampler(["a", "a"], p=2, k=2)
