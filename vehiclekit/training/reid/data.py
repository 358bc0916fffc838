"""The two-camera vehicle-reid split as labelled images, and the re-ID training augmentation.

Augmentation of the "bag of tricks" baseline (Luo et al. 2019): resize to a square (vehicle configs
use 256×256), horizontal flip, zero padding (10 px at 256, scaled) + random crop back to size, and
random erasing (Zhong et al. 2020, "Random Erasing Data Augmentation", AAAI; p 0.5, area 2-40 %,
aspect 0.3-3.3, filled with the mean pixel = 0 after normalisation). Optional colour jitter
(brightness, contrast, saturation, hue; fast-reid's ``CJ``): two cameras see one car under
different light and white balance, and the model should not learn a camera's colour cast.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.transforms import v2

from vehiclekit.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from vehiclekit.training.core.datasets import LabeledImages, ReidImage, load_vehicle_reid
from vehiclekit.training.core.transforms import _rgb_tensor


def reid_split(root: Path, splits: tuple[str, ...]) -> list[ReidImage]:
    """The images of one or more splits (``("train",)`` or ``("train", "val")``), in file order."""
    return [image for split in splits for image in load_vehicle_reid(root, split)]


def as_labeled(images: list[ReidImage]) -> LabeledImages:
    """Integer labels = index of the identity in the sorted identity list (the ID classifier's classes)."""
    classes = tuple(sorted({im.identity for im in images}))
    index = {c: i for i, c in enumerate(classes)}
    return LabeledImages(tuple(im.path for im in images), tuple(index[im.identity] for im in images), classes)


def reid_train_transform(size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, color_jitter: float = 0.0):
    """BGR uint8 (any size) -> augmented tensor ``[3, size, size]`` normalised by ``mean``/``std``
    (the backbone's). ``color_jitter`` s > 0: brightness, contrast and saturation by up to ±s, hue
    by up to ±s/4, with probability 0.8."""
    pad = max(1, round(size * 10 / 256))
    jitter = [v2.RandomApply([v2.ColorJitter(color_jitter, color_jitter, color_jitter, color_jitter / 4)], p=0.8)]
    augment = v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            *(jitter if color_jitter > 0 else []),
            v2.Pad(pad),
            v2.RandomCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
            v2.RandomErasing(p=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3), value=0),
        ]
    )

    def apply(bgr: np.ndarray) -> torch.Tensor:
        # Same resize rule as the shared eval pre-processing (classifier_input): area when shrinking.
        shrink = bgr.shape[0] > size or bgr.shape[1] > size
        resized = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return augment(_rgb_tensor(resized))

    return apply
