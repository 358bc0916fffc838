"""Constructed frozen "features" for the studies' tests: Gaussian clusters, one per class."""

import torch

from vehiclekit.training.studies.frozen_features import Features


def blobs(per_class: int, spread: float, seed: int, num_classes: int = 4, dim: int = 64) -> tuple:
    """Gaussian clusters, one per class, around fixed random centres (the signal spread over every
    dimension, as in real features, so dropout on them leaves confident predictions confident)."""
    centres = 0.5 * torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(99))
    y = torch.arange(num_classes).repeat_interleave(per_class)
    return centres[y] + spread * torch.randn(len(y), dim, generator=torch.Generator().manual_seed(seed)), y


def blob_features(spread: float, pool_per_class: int, test_per_class: int = 100) -> Features:
    """Four classes: a pool (seed 0) and a test split (seed 1) from the same clusters."""
    pool, pool_y = blobs(pool_per_class, spread, seed=0)
    test, test_y = blobs(test_per_class, spread, seed=1)
    return Features(pool, pool_y, test, test_y, ("a", "b", "c", "d"))
