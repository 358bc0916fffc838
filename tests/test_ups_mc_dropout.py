"""MC-dropout: outputs vary across passes, BatchNorm stays in eval mode (running stats unchanged)."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vehiclekit.models.factory import Classifier
from vehiclekit.training.ups.selection import mc_dropout_logits, mc_dropout_predict


def _loader():
    torch.manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(6, 3, 32, 32), torch.arange(6) % 3), batch_size=4)


def _bn_state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}


def _check(model):
    model.train()  # modes must be restored afterwards
    before = _bn_state(model)
    logits, labels = mc_dropout_logits(model, _loader(), passes=5)
    assert logits.shape == (5, 6, 3) and labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert not torch.allclose(logits[0], logits[1])  # dropout active
    after = _bn_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN never updated
    assert all(m.training for m in model.modules())
    mean, std = mc_dropout_predict(model, _loader(), passes=5)
    assert torch.allclose(mean.sum(1), torch.ones(6), atol=1e-5) and (std > 0).any()


def test_classifier_fast_path():
    _check(Classifier("resnet18-half", 3, dropout=0.5))


def test_generic_model_with_batchnorm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Dropout(0.5), nn.Linear(4, 3))
    _check(model)
    # BN runs in eval mode (running statistics) during the MC passes
    seen = {}
    model[1].register_forward_hook(lambda m, i, o: seen.update(training=m.training))
    mc_dropout_logits(model, _loader(), passes=2)
    assert seen["training"] is False


def test_without_dropout_outputs_are_identical():
    model = Classifier("resnet18-half", 3, dropout=0.0)
    logits, _ = mc_dropout_logits(model, _loader(), passes=3)
    assert torch.allclose(logits[0], logits[2])
