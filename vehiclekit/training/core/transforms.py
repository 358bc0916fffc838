"""Image transforms for training (torch) on top of the shared, torch-free eval pre-processing."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms import RandomResizedCrop, v2

from vehiclekit.models.preprocess import IMAGENET_MEAN, IMAGENET_STD, classifier_input


def eval_transform(size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Exactly the SDK's pre-processing (:func:`classifier_input`), as a tensor. ``mean``/``std``:
    the backbone's normalisation (:class:`~vehiclekit.models.factory.BackboneSpec`)."""

    def apply(bgr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(classifier_input([bgr], (size, size), mean, std)[0])

    return apply


def train_transform(size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Supervised augmentation for vehicle crops: a mild random resized crop (the vehicle must stay
    in view), horizontal flip and light colour jitter (day/night, camera gain).

    The crop covers 60-100 % of the image with an aspect ratio within 0.8-1.25x *the image's own*,
    then is squashed to the square input, as :func:`classifier_input` squashes at inference: a square
    crop of a wide car photo would cut its ends, which costs body-type accuracy.
    """
    augment = v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.02),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )

    def apply(bgr: np.ndarray) -> torch.Tensor:
        rgb = _rgb_tensor(bgr)
        aspect = rgb.shape[2] / rgb.shape[1]
        top, left, h, w = RandomResizedCrop.get_params(rgb, scale=(0.6, 1.0), ratio=(0.8 * aspect, 1.25 * aspect))
        return augment(v2.functional.resized_crop(rgb, top, left, h, w, [size, size], antialias=True))

    return apply


def ssl_views_transform(size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Two independently augmented views of an image for self-supervised pretraining: the
    augmentations of SimCLR (Chen et al. 2020), MoCo v2, SimSiam and BYOL, adapted to small
    traffic-camera crops (the vehicle fills most of a 100×100 frame) at ``size`` ≈ 64 px:

    - random resized crop, scale (0.2, 1), ratio (3/4, 4/3): MoCo v2 / SimSiam's scale range
      (SimCLR's 0.08 would keep little more than a wheel of a 100-px crop);
    - horizontal flip p 0.5 (no vertical flip: the cameras look down at an angle);
    - colour jitter brightness/contrast/saturation 0.4, hue 0.1, applied with p 0.8; grayscale p 0.2;
    - Gaussian blur p 0.5 with the papers' sigma range (0.1, 2.0) px *at 224 px* scaled by
      ``size``/224 (at 64 px: 0.03 to 0.57 px) and a kernel ≈ 10 % of the side: the same relative
      blur as on ImageNet; 2 px on a 64-px crop that is already soft would erase the vehicle.

    BYOL's asymmetric views (blur p 1.0 / 0.1, solarisation) are not used: every method gets the
    same views, so a comparison varies only the method (as lightly's benchmarks do).
    """
    scale = size / 224
    kernel = max(3, int(0.1 * size) // 2 * 2 + 1)
    augment = v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1 * scale, 2.0 * scale))], p=0.5),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )

    def apply(bgr: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rgb = _rgb_tensor(bgr)
        return augment(rgb), augment(rgb)

    return apply


def _rgb_tensor(bgr: np.ndarray) -> torch.Tensor:
    """BGR uint8 HxWx3 (OpenCV) -> RGB uint8 3xHxW tensor."""
    return torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1)
