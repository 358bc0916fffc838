"""DDP on CPU (gloo), 2 processes: the gradients equal one process holding the whole batch (batch
norm over the global batch, SimCLR negatives gathered with their gradients), and `train-vehicle
pretrain` runs a few steps under torchrun."""

import json
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from vehiclekit.training.ssl.distributed import convert_sync_batchnorm
from vehiclekit.training.ssl.pretrain import METHODS

METHODS_CHECKED = ("simclr", "simsiam")
N = 8  # images in the global batch


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(N, 3, 32, 32, generator=g), torch.randn(N, 3, 32, 32, generator=g)


def _gradients(method: str, view1: torch.Tensor, view2: torch.Tensor, world: int) -> tuple[float, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = METHODS[method]("resnet18-half")
    if world > 1:
        model = DistributedDataParallel(convert_sync_batchnorm(model, torch.device("cpu")))
    loss = model(view1, view2)
    loss.backward()
    named = model.module.named_parameters() if world > 1 else model.named_parameters()
    mean_loss = loss.detach()
    if world > 1:  # each process's loss is the mean over its own views: average them
        dist.all_reduce(mean_loss)
        mean_loss /= world
    return mean_loss.item(), {name: p.grad.clone() for name, p in named if p.grad is not None}


def _worker(rank: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    view1, view2 = _batch()
    half = slice(rank * N // 2, (rank + 1) * N // 2)
    results = {m: _gradients(m, view1[half], view2[half], world=2) for m in METHODS_CHECKED}
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_gradients(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(tmp / "store"), str(tmp / "grads.pt")), nprocs=2)
    return torch.load(tmp / "grads.pt")


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS_CHECKED)
def test_two_processes_match_one_process_with_the_whole_batch(method, two_process_gradients):
    torch.set_num_threads(1)
    loss, grads = _gradients(method, *_batch(), world=1)
    ddp_loss, ddp_grads = two_process_gradients[method]
    assert set(ddp_grads) == set(grads)
    assert ddp_loss == pytest.approx(loss, abs=1e-5)
    for name, g in grads.items():
        assert torch.allclose(ddp_grads[name], g, atol=1e-5, rtol=1e-3), name


@pytest.mark.slow
def test_pretrain_under_torchrun(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    g = torch.Generator().manual_seed(0)
    import cv2

    for i in range(16):
        cv2.imwrite(str(images / f"{i}.png"), (torch.rand(40, 50, 3, generator=g) * 255).byte().numpy())
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "vehiclekit.training.cli", "pretrain", "--method", "simclr", "--images", str(images), "--epochs", "1",
           "--img-size", "32", "--batch-size", "8", "--workers", "0", "--threads", "1", "--eval-every", "0", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((out / "history.json").read_text())
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert len(history[0]["loss_steps"]) == 2, "16 images / global batch 8 = 2 steps, 4 images per process"
    assert (out / "backbone.pt").is_file()
