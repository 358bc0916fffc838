"""Process-group helpers for pretraining under ``torchrun`` (DDP): ranks, all-gathers, and batch norm
over the global batch.

- :func:`gather_with_grad` concatenates a tensor from every process and lets gradients flow back
  to each process's own slice, so SimCLR's NT-Xent sees the negatives of the global batch (SimCLR,
  Chen et al. 2020, §2: "global BN" and cross-replica negatives); the same pattern as lightly's
  ``GatherLayer``.
- :func:`gather` concatenates without gradient: MoCo's ``concat_all_gather`` for the key queue.
- :func:`convert_sync_batchnorm` turns every BatchNorm into one whose statistics cover the global
  batch: ``torch.nn.SyncBatchNorm`` on GPU, :class:`GlobalBatchNorm` on CPU, because torch's
  SyncBatchNorm refuses CPU tensors.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def init_from_environment() -> torch.device:
    """Join the process group ``torchrun`` describes (gloo on CPU, nccl on GPU) and return this
    process's device. A plain ``python`` run (no ``WORLD_SIZE``) stays single-process."""
    cuda = torch.cuda.is_available()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        # Every process's loss depends on this process's slice: sum those gradients, keep our own.
        stacked = torch.stack(grads)
        dist.all_reduce(stacked)
        return stacked[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """``cat`` of ``x`` from every process along dim 0 (rank order); gradients reach each ``x``."""
    if world_size() == 1:
        return x
    return torch.cat(_GatherWithGrad.apply(x))


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """``cat`` of ``x`` from every process along dim 0 (rank order), without gradient."""
    if world_size() == 1:
        return x
    out = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)


class _AllReduceWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(_BatchNorm):
    """Batch norm whose training statistics cover the batches of all processes (CPU-capable
    SyncBatchNorm): per-channel sums and sums of squares are all-reduced with gradient, so the
    forward and backward equal one process holding the whole batch. Single-process or in eval mode
    it is ordinary batch norm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        local_count = x.new_tensor([x.numel() / channels])
        stats = _AllReduceWithGrad.apply(torch.cat([x.sum(dims), (x * x).sum(dims), local_count]))
        count = stats[-1].detach()
        mean = stats[:channels] / count
        var = (stats[channels : 2 * channels] / count - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean, momentum)
                self.running_var.lerp_(var * count / (count - 1), momentum)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of ``module`` normalised over the global batch (weights and statistics kept)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, _BatchNorm):  # the same parameter and buffer objects, as torch's converter
        converted = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        if module.affine:
            converted.weight, converted.bias = module.weight, module.bias
        if module.track_running_stats:
            converted.running_mean, converted.running_var = module.running_mean, module.running_var
            converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, device))
    return module
