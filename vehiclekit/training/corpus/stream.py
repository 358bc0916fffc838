"""Torch datasets over a corpus: shards streamed into training, or unpacked where a pool needs random access.

:class:`ShardImages` is an ``IterableDataset`` of ``(transform(image), 0)`` — the items
:class:`~vehiclekit.training.core.datasets.ImageDataset` gives — read with
:func:`~.shards.read_samples`: this process's DDP rank and its DataLoader worker pick disjoint shards,
the shuffle buffer is seeded by (seed, epoch, slot), images are decoded by the SDK's loader when
used and held only in the buffer, encoded. Ranks must take the same number of steps (DDP all-reduces
every step), so :func:`steps_per_epoch` reads the manifest's per-shard counts and gives the
smallest number of full batches any rank can make; each rank stops there (:class:`Steps`).

Epoch ``e``'s stream is a function of (seed, e, slot) alone, and each image's augmentation is drawn
from a generator seeded by (seed, e, slot, its index in the stream), so an epoch replays exactly.
That makes a mid-epoch resume cheap: the resumed loader skips the samples its first steps used
*before decoding them* (``read_samples(skip=N)``) and yields the same batches, augmentations
included, that the uninterrupted run would have.

UPS fine-tuning and the labelling queue rank and revisit every pool image, so they need random
access (and a person labels files): :func:`unpack` writes a shard spec's crops once into a folder
(``KEY.jpg``; finetune: the run's ``unlabeled-shards/``, select: the cache) that their folder readers
then use. The pool's size is then bounded by what they hold anyway (UPS decodes its pool into memory);
scoring a pool beyond that is the distributed scorer's job.
"""

from __future__ import annotations

import hashlib
import itertools
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from vehiclekit.errors import DatasetError
from vehiclekit.paths import cache_dir
from vehiclekit.sdk.image import load_image
from vehiclekit.training.core.datasets import shrink_to
from vehiclekit.training.corpus.shards import URL_SCHEMES, manifest_counts, read_samples, shard_urls, slot_shards


class ShardImages(IterableDataset):
    """The decoded, transformed images of this (rank, worker)'s share of ``urls`` for ``epoch``, after
    the first ``skip_batches`` batches of ``batch`` the loader made from them (a resumed epoch)."""

    def __init__(self, urls: list[str], transform: Callable[[Any], Any], *, rank: int = 0, world: int = 1,
                 seed: int = 0, epoch: int = 0, buffer: int = 1000, max_side: int | None = None,
                 skip_batches: int = 0, batch: int = 1):
        self.urls, self.transform, self.rank, self.world = urls, transform, rank, world
        self.seed, self.epoch, self.buffer, self.max_side = seed, epoch, buffer, max_side
        self.skip_batches, self.batch = skip_batches, batch

    def __iter__(self):
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        slot, slots = self.rank * workers + worker, self.world * workers
        skip = self.batch * len(range(worker, self.skip_batches, workers))   # DataLoader takes batches round-robin
        samples = read_samples(self.urls, slot, slots, self.seed, self.epoch, self.buffer, skip=skip)
        for index, sample in enumerate(samples, start=skip):
            image = shrink_to(load_image(sample.jpg), self.max_side)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(zlib.crc32(f"{self.seed}-{self.epoch}-{slot}-{index}".encode()))
                item = self.transform(image)
            yield item, 0


def steps_per_epoch(spec: str, urls: list[str], batch: int, world: int, workers: int) -> int:
    """Full batches of ``batch`` every rank can make in one pass (each DataLoader worker batches its
    own samples and drops its last partial batch)."""
    counts = manifest_counts(spec)
    if counts is None or any(u not in counts for u in urls):
        raise DatasetError(f"--shards {spec}: no manifest.json beside the shards giving every shard's sample count; "
                           "every process must take the same number of steps (write shards with train-vehicle harvest)")
    workers = max(workers, 1)
    slots, total = world * workers, sum(counts[u] for u in urls)

    def samples(slot: int) -> int:
        mine, by_sample = slot_shards(urls, slot, slots)
        return total // slots + (slot < total % slots) if by_sample else sum(counts[u] for u in mine)

    return min(sum(samples(r * workers + w) // batch for w in range(workers)) for r in range(world))


class Steps:
    """Batches ``skip`` to ``steps`` of ``loader`` (``skip``: those a resumed epoch already trained on;
    ``loader`` either yields them all, or was made to start after them), with a length for progress bars."""

    def __init__(self, loader: DataLoader, steps: int, skip: int = 0, *, loader_skips: bool = False):
        self.loader, self.batch_size = loader, loader.batch_size
        self.start = 0 if loader_skips else skip
        self.stop = self.start + steps - skip

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self):
        return itertools.islice(self.loader, self.start, self.stop)


def shard_loader(spec: str, transform, batch: int, *, epoch: int, seed: int, rank: int, world: int, workers: int,
                 buffer: int, max_side: int | None, steps: int, skip: int = 0, generator=None) -> Steps:
    """This process's batches ``skip`` to ``steps`` of epoch ``epoch`` from the shards of ``spec``
    (``skip`` must be a multiple of ``workers``: the loader's workers take turns from the first)."""
    if workers and skip % workers:
        raise ValueError(f"a resumed epoch skips {skip} batches, not a multiple of the {workers} loader workers")
    dataset = ShardImages(shard_urls(spec), transform, rank=rank, world=world, seed=seed, epoch=epoch, buffer=buffer,
                          max_side=max_side, skip_batches=skip, batch=batch)
    return Steps(DataLoader(dataset, batch, drop_last=True, num_workers=workers, generator=generator), steps, skip,
                 loader_skips=True)


def unpack(spec: str, folder: Path | None = None) -> Path:
    """The crops of ``spec`` written once into ``folder`` (default: the cache, one folder per spec) as
    ``KEY.jpg`` (streamed; kept between runs: a ``.done`` marker says it is complete). Returns ``folder``."""
    if folder is None:
        local = spec if str(spec).startswith(URL_SCHEMES) else str(Path(spec).resolve())
        folder = cache_dir() / "unpacked-shards" / hashlib.sha1(local.encode()).hexdigest()[:16]   # noqa: S324 - a name
    folder = Path(folder)
    if (folder / ".done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for n, sample in enumerate(read_samples(spec), start=1):
        (folder / f"{sample.key}.jpg").write_bytes(sample.jpg)
    if not n:
        raise DatasetError(f"shards {spec} hold no samples")
    (folder / ".done").write_text(f"{n} samples from {spec}\n")
    return folder
