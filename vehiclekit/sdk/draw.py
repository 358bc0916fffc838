"""Draw SDK results onto a copy of an image (the input is never modified)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import cv2
import numpy as np

from vehiclekit.errors import VehiclekitError
from vehiclekit.sdk.image import ImageInput, load_image
from vehiclekit.sdk.types import Prediction, RecognizedVehicle

#: BGR colours, picked per vehicle type so one type keeps one colour across images.
PALETTE = ((56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
           (23, 204, 146), (134, 219, 61), (211, 188, 0), (255, 56, 132), (236, 24, 0), (255, 149, 200))
FONT = cv2.FONT_HERSHEY_SIMPLEX


def color_for(label: str) -> tuple[int, int, int]:
    """A stable colour for a label."""
    return PALETTE[zlib.crc32(label.encode()) % len(PALETTE)]


def _font_scale(image: np.ndarray) -> float:
    return float(np.clip(min(image.shape[:2]) / 900, 0.35, 1.0))


def _put_label(image: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], scale: float) -> None:
    """Write ``text`` on a filled box of ``color`` whose bottom-left corner is (x, y), kept inside."""
    thickness = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    x = int(np.clip(x, 0, max(0, image.shape[1] - tw)))
    y = int(np.clip(y, th + base, image.shape[0]))
    cv2.rectangle(image, (x, y - th - base), (x + tw, y), color, cv2.FILLED)
    cv2.putText(image, text, (x, y - base), FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def annotate(image: ImageInput, vehicles: Iterable[RecognizedVehicle]) -> np.ndarray:
    """A BGR copy of ``image`` with each vehicle's box and ``"<type> <confidence> / <detector label>"``."""
    canvas = load_image(image).copy()
    scale = _font_scale(canvas)
    thickness = max(1, round(scale * 3))
    for vehicle in vehicles:
        kind, det = vehicle.classification, vehicle.detection
        color = color_for(kind.label)
        x1, y1, x2, y2 = (round(v) for v in det.bbox)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        _put_label(canvas, f"{kind.label} {kind.confidence:.2f} / {det.label}", x1, y1, color, scale)
    return canvas


def annotate_whole_image(image: ImageInput, prediction: Prediction) -> np.ndarray:
    """A BGR copy of ``image`` under a banner saying which type the whole image was classified as
    (no detection: for pre-cropped single-vehicle images). The canvas is widened if the text needs it."""
    image_bgr = load_image(image)
    text = f"{prediction.label} {prediction.confidence:.2f} (whole image)"
    scale = _font_scale(image_bgr)
    (text_width, text_height), base = cv2.getTextSize(text, FONT, scale, max(1, round(scale * 2)))
    banner = text_height + base + 6
    extra_width = max(0, text_width + 4 - image_bgr.shape[1])
    canvas = cv2.copyMakeBorder(image_bgr, banner, 0, 0, extra_width, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    _put_label(canvas, text, 2, banner - 3, color_for(prediction.label), scale)
    return canvas


def side_by_side(panels: Iterable[tuple[ImageInput | None, str]], height: int = 240) -> np.ndarray:
    """One BGR image of ``panels`` left to right, each scaled to ``height`` with its caption on a
    bar below (to compare vehicles by eye). A panel whose image is ``None`` or cannot be read is
    drawn grey with the reason, so one lost file does not hide the others."""
    bar, scale, tiles = 28, 0.5, []
    for image, caption in panels:
        try:
            pixels = load_image(image) if image is not None else None
        except (VehiclekitError, OSError) as e:  # a missing or broken file: a grey panel that says why
            pixels, caption = None, f"{caption} ({type(e).__name__})"
        if pixels is None:
            tile = np.full((height, height * 3 // 4, 3), 96, np.uint8)
            caption = caption if image is not None else f"{caption} (no image stored)"
        else:
            width = max(1, round(pixels.shape[1] * height / pixels.shape[0]))
            tile = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
        (text_width, _), _ = cv2.getTextSize(caption, FONT, scale, 1)
        canvas = np.full((height + bar, max(tile.shape[1], text_width + 8), 3), 255, np.uint8)
        canvas[:height, : tile.shape[1]] = tile
        cv2.putText(canvas, caption, (4, height + bar - 9), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(canvas)
    if not tiles:
        raise ValueError("side_by_side needs at least one panel")
    gap = np.full((height + bar, 6, 3), 255, np.uint8)
    return np.hstack([part for tile in tiles for part in (tile, gap)][:-1])
