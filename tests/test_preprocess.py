"""The shared classifier pre-processing against pixel values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vehiclekit.models.preprocess import classifier_input

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)      # ImageNet, as published


def normalised(r: float, g: float, b: float) -> list[float]:
    return [(v / 255 - m) / s for v, m, s in zip((r, g, b), MEAN, STD)]


def test_same_size_image_is_only_reordered_to_rgb_and_normalised():
    image = np.array([[[0, 128, 255], [10, 20, 30]], [[255, 255, 255], [0, 0, 0]]], np.uint8)   # BGR
    batch = classifier_input([image, image[::-1]], (2, 2))
    assert batch.shape == (2, 3, 2, 2) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, :, 0, 0], normalised(255, 128, 0), rtol=1e-6)
    np.testing.assert_allclose(batch[0, :, 0, 1], normalised(30, 20, 10), rtol=1e-6)
    np.testing.assert_allclose(batch[1, :, 0, 0], normalised(255, 255, 255), rtol=1e-6)   # each image its own row
    np.testing.assert_allclose(classifier_input([image], (2, 2), (0, 0, 0), (0.5, 0.5, 0.5))[0, :, 1, 1], [0, 0, 0])
    np.testing.assert_allclose(classifier_input([image], (2, 2), (0.5, 0, 0), (1, 1, 0.5))[0, :, 0, 0],
                               [0.5, 128 / 255, 0], rtol=1e-6)


def test_shrinking_averages_areas():
    """6 x 6 -> 2 x 2: each output pixel is the mean of a 3 x 3 block (linear would take its centre)."""
    image = np.zeros((6, 6, 3), np.uint8)
    image[:3, :3] = 90
    image[1, 1] = 0                                   # block mean 80, centre 0
    batch = classifier_input([image], (2, 2), (0, 0, 0), (1, 1, 1))
    assert batch[0, 0, 0, 0] * 255 == pytest.approx(80, abs=0.5)
    assert batch[0, 0, 1, 1] == 0


def test_enlarging_interpolates_linearly():
    """1 x 2 -> 1 x 4 and 2 x 1 -> 4 x 1: 0, 64, 191, 255 (area would repeat the two pixels)."""
    image = np.zeros((1, 2, 3), np.uint8)
    image[0, 1] = 255
    row = classifier_input([image], (1, 4), (0, 0, 0), (1, 1, 1))[0, 1, 0] * 255
    np.testing.assert_allclose(row, [0, 64, 191, 255], atol=1)
    column = classifier_input([image.transpose(1, 0, 2)], (4, 1), (0, 0, 0), (1, 1, 1))[0, 1, :, 0] * 255
    np.testing.assert_allclose(column, [0, 64, 191, 255], atol=1)


def test_shrinking_one_side_counts_as_shrinking():
    """12 x 2 -> 4 x 2 (only taller than the output): area, not linear (which takes the centre row)."""
    image = np.zeros((12, 2, 3), np.uint8)
    image[:3] = 90
    image[1] = 0                                      # first third: mean 60, centre 0
    column = classifier_input([image], (4, 2), (0, 0, 0), (1, 1, 1))[0, 0, :, 0] * 255
    assert column[0] == pytest.approx(60, abs=0.5) and column[-1] == 0
