"""Is data loading the bottleneck of pretraining? Two-view augmentation throughput of the pretraining
loader (``ssl_views_transform`` through a ``DataLoader``, decoded images in memory as in
``train-vehicle pretrain``) for several worker counts, against the training step of a method at the
same batch, resolution and threads, in one run.

    .venv/bin/python benchmarks/ssl_loader_throughput.py --method simsiam --threads 1 --json runs/ssl_loader.json

Loader img/s above the step's means the loader keeps up (with workers > 0 it runs in parallel with
the step, on the cores the step leaves). ``train-vehicle pretrain`` also records, per epoch, the share
of time the training loop waited for data (``data_wait`` in ``history.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vehiclekit.models.factory import BACKBONES
from vehiclekit.paths import data_root
from vehiclekit.training.core.datasets import ImageDataset
from vehiclekit.training.ssl.data import PRESETS, preset_images
from vehiclekit.training.ssl.pretrain import METHODS
from vehiclekit.training.core.transforms import ssl_views_transform


def loader_rate(dataset: ImageDataset, batch_size: int, workers: int, batches: int) -> float:
    """Images/s delivered (both views made), after the first batch (worker start-up excluded)."""
    loader = DataLoader(dataset, batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def step_rate(method: str, arch: str, batch_size: int, img_size: int, steps: int) -> float:
    model = METHODS[method](arch)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    views = tuple(torch.randn(batch_size, 3, img_size, img_size) for _ in range(2))
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = model(*views)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return batch_size / statistics.median(times[1:])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=sorted(METHODS), default="simsiam")
    p.add_argument("--preset", choices=sorted(PRESETS), default="pooled")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--arch", choices=sorted(BACKBONES), default="resnet18-half")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--batches", type=int, default=10, help="loader batches timed per worker count")
    p.add_argument("--steps", type=int, default=5, help="training steps timed")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    images = preset_images(data_root(args.data), args.preset)
    dataset = ImageDataset(images, ssl_views_transform(args.img_size), "decode", max_side=2 * args.img_size)
    result = {"preset": args.preset, "images": len(dataset), "method": args.method, "arch": args.arch,
              "batch_size": args.batch_size, "img_size": args.img_size, "threads": args.threads,
              "loader_images_per_s": {w: round(loader_rate(dataset, args.batch_size, w, args.batches), 1) for w in args.workers},
              "step_images_per_s": round(step_rate(args.method, args.arch, args.batch_size, args.img_size, args.steps), 1)}
    print(f"{args.preset} ({len(dataset)} images), {args.img_size} px, batch {args.batch_size}, {args.threads} thread(s)")
    for w, rate in result["loader_images_per_s"].items():
        print(f"  loader, {w} worker(s): {rate:7.1f} img/s  ({rate / result['step_images_per_s']:.1f}x the step)")
    print(f"  {args.method} training step: {result['step_images_per_s']:7.1f} img/s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
