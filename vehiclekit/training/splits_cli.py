"""``train-vehicle make-splits``: rewrite the committed split files from the data (deterministic)."""

from __future__ import annotations

import argparse

from vehiclekit.paths import data_root
from vehiclekit.training.core.datasets import write_splits


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    for path in write_splits(data_root(args.data), args.seed):
        print(f"wrote {path}")
    return 0
