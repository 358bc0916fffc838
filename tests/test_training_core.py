"""The shared trainer (``vehiclekit.training.core``) on a toy regression, in a second: per-sample
means, best/last checkpoints, and a run killed after its first epoch resuming to the same weights."""

import pytest
import torch
from torch import nn

from vehiclekit.training.core import trainer as trainer_module
from vehiclekit.training.core.checkpoint import load_checkpoint
from vehiclekit.training.core.loop import train_one_epoch
from vehiclekit.training.core.trainer import Trainer

X = torch.linspace(-1, 1, 12).unsqueeze(1)
Y = 3 * X + 1
SCORES = [0.5, 0.9, 0.7]   # epoch 2 is the best


def mse_step(model, batch):
    x, y = batch
    loss = nn.functional.mse_loss(model(x), y)
    return loss, {"half": loss.item() / 2}, len(x)


def toy_run(out, state=None):
    out.mkdir(exist_ok=True)
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    run = Trainer(out, {"toy": True}, 3, state, model, optimizer, scheduler, keep={"classes": ["y"]})

    def train(epoch):
        batches = [(X[i:i + 4], Y[i:i + 4]) for i in range(0, 12, 4)]
        return {"epoch": epoch + 1, **train_one_epoch(model, batches, mse_step, optimizer, scheduler, "toy", show=False).means}

    run.fit(train, lambda epoch: {"score": SCORES[epoch]}, score="score")
    return model, run


def test_epoch_means_are_per_sample_and_parts_follow_the_loss(tmp_path):
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)      # frozen: each batch's loss is known
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    batches = [(X[:2], Y[:2]), (X[2:], Y[2:])]
    stats = train_one_epoch(model, batches, mse_step, optimizer, scheduler, "toy", show=False)
    with torch.no_grad():
        expected = nn.functional.mse_loss(model(X), Y).item()
    assert stats.means["loss"] == pytest.approx(expected) and stats.means["half"] == pytest.approx(expected / 2)
    assert len(stats.step_losses) == 2 and 0 <= stats.data_wait <= 1


def test_best_and_last_checkpoints(tmp_path):
    model, run = toy_run(tmp_path)
    best, last = load_checkpoint(tmp_path / "best.pt"), load_checkpoint(tmp_path / "last.pt")
    assert best["epoch"] == 1 and best["classes"] == ["y"] and set(best) == {"model", "config", "classes", "epoch"}
    assert last["epoch"] == 2 and last["best_acc"] == 0.9 and [h["epoch"] for h in last["history"]] == [1, 2, 3]
    assert set(last) == {"model", "optimizer", "scheduler", "config", "classes", "epoch", "best_acc", "history"}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in last["model"].items())


def test_resume_after_a_kill_matches_the_uninterrupted_run(tmp_path, monkeypatch):
    full, _ = toy_run(tmp_path / "full")
    real_save = trainer_module.save_atomic

    def save_then_die(obj, path):
        real_save(obj, path)
        if path.name == "last.pt":
            raise KeyboardInterrupt("killed after the first epoch")

    monkeypatch.setattr(trainer_module, "save_atomic", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        toy_run(tmp_path / "killed")
    monkeypatch.undo()
    resumed, run = toy_run(tmp_path / "killed", load_checkpoint(tmp_path / "killed" / "last.pt"))
    assert run.start == 1 and run.best == 0.9
    assert torch.equal(resumed.weight, full.weight) and torch.equal(resumed.bias, full.bias)
    assert load_checkpoint(tmp_path / "killed" / "best.pt")["epoch"] == 1
