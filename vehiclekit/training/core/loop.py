"""One training epoch, the same for every task (after torchvision's
``references/classification/train.py``): the task gives the step that turns a batch into a loss;
the loop does the rest (backward, optimiser and per-step LR schedule, running means, progress bar)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from tqdm import tqdm

#: ``step(model, batch) -> (loss, parts, n)``: the loss to minimise, named parts to report (floats)
#: and the number of samples in the batch (the weight of its values in the epoch's means).
Step = Callable[[nn.Module, Any], tuple[torch.Tensor, dict[str, Any], int]]


@dataclass
class EpochStats:
    """``means``: ``loss`` and each part, averaged over samples; ``step_losses``: the loss of each
    step; ``seconds``: the epoch's time; ``data_wait``: the share of it spent waiting for batches."""

    means: dict[str, float]
    step_losses: list[float]
    seconds: float
    data_wait: float


@dataclass
class EpochProgress:
    """An unfinished epoch after ``steps`` steps: what a mid-epoch checkpoint keeps so that the resumed
    epoch reports the same means as an uninterrupted one (``sums``: per-sample sums of the loss and
    its parts, ``count``: samples, ``losses``: per-step losses, ``seconds`` and ``waited`` so far)."""

    steps: int = 0
    sums: dict[str, float] = field(default_factory=lambda: {"loss": 0.0})
    count: int = 0
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    waited: float = 0.0


def channels_last(x: torch.Tensor | nn.Module):
    """A model or a batch of images in channels-last memory order: 1.6x faster training steps for
    EfficientNet-Lite0 on this CPU (0.95 vs 1.54 s per batch of 32 at 160 px)."""
    return x.to(memory_format=torch.channels_last)


def train_one_epoch(model: nn.Module, loader, step: Step, optimizer, scheduler, desc: str, *, first_step: int = 0,
                    after_step: Callable[[int], None] | None = None, show: bool = True,
                    progress: EpochProgress | None = None, checkpoint_every: int = 0,
                    checkpoint: Callable[[EpochProgress], None] | None = None) -> EpochStats:
    """One pass over ``loader``: ``step`` gives each batch's loss, then backward, ``optimizer.step()``
    and ``scheduler.step()`` (schedules are per step); ``after_step(global step)`` follows (e.g. an
    EMA target update). ``first_step``: the global index of the epoch's first step.

    Mid-epoch checkpoints: ``checkpoint(progress)`` is called every ``checkpoint_every`` steps (not
    after the last, which the epoch's own checkpoint covers). To continue an epoch, pass the
    ``progress`` it stored and a ``loader`` that yields only the batches after its ``steps``."""
    model.train()
    progress = progress or EpochProgress()
    sums, losses = progress.sums, progress.losses
    total = progress.steps + len(loader) if hasattr(loader, "__len__") else None
    tick = time.perf_counter()
    start, waited = tick - progress.seconds, progress.waited
    bar = tqdm(loader, desc=desc, leave=False, mininterval=2, disable=not show, initial=progress.steps, total=total)
    for index, batch in enumerate(bar, start=first_step + progress.steps):
        waited += time.perf_counter() - tick
        loss, parts, n = step(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if after_step:
            after_step(index)
        losses.append(loss.item())
        for key, value in (("loss", losses[-1]), *parts.items()):
            sums[key] = sums.get(key, 0.0) + value * n
        progress.count += n
        progress.steps += 1
        bar.set_postfix(loss=f"{sums['loss'] / progress.count:.3f}")
        if checkpoint and checkpoint_every and progress.steps % checkpoint_every == 0 \
                and (total is None or progress.steps < total):
            progress.seconds, progress.waited = time.perf_counter() - start, waited
            checkpoint(progress)
        tick = time.perf_counter()
    seconds = time.perf_counter() - start
    return EpochStats({k: v / max(progress.count, 1) for k, v in sums.items()}, losses, seconds, waited / seconds)
