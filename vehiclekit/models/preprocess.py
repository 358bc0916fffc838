"""Classifier pre-processing shared by training, export, the SDK and the server.

One function, so the pixels a model was trained and evaluated on are exactly the pixels it sees in
production. Pure numpy + OpenCV: the SDK imports it without torch.
"""

from __future__ import annotations

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def classifier_input(
    images_bgr: list[np.ndarray],
    size: tuple[int, int],
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> np.ndarray:
    """Turn BGR uint8 images (any size) into a normalised float32 batch ``[N, 3, H, W]`` (RGB).

    Each image is resized (no crop: vehicle crops come in every aspect ratio) to ``size`` = (H, W)
    with area interpolation when shrinking and linear when enlarging.
    """
    h, w = size
    batch = np.empty((len(images_bgr), 3, h, w), dtype=np.float32)
    mean_arr = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
    std_arr = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
    for i, img in enumerate(images_bgr):
        shrink = img.shape[0] > h or img.shape[1] > w
        resized = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        rgb = resized[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0
        batch[i] = (rgb - mean_arr) / std_arr
    return batch
