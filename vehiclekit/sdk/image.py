"""One image loader for the whole SDK: paths, encoded bytes and numpy arrays in, BGR uint8 out.

Every public SDK call that takes an image goes through :func:`load_image`, so every caller gets
the same accepted inputs and the same :class:`~vehiclekit.errors.InvalidImageError` messages.

Encoded images are measured before they are decoded: Pillow reads only the header's width and
height, and anything over :data:`MAX_PIXELS` / :data:`MAX_SIDE` is refused without allocating a
pixel (a valid 0.9 MB PNG of 30,000 x 30,000 pixels took OpenCV alone 5.1 GB and 9.9 s to decode
here, docs/results.md §12).
Bytes whose header Pillow cannot read are refused too, whatever OpenCV could make of them, so
every accepted format (JPEG, PNG, WebP, BMP, TIFF, PNM, JPEG 2000, ...) is size-checked. Pillow
and OpenCV parse headers independently; should they ever disagree, the decoded size is checked
again and OpenCV's own cap (``OPENCV_IO_MAX_IMAGE_PIXELS``, which the server launcher sets to
:data:`MAX_PIXELS`) still applies. The Triton server decodes through the same function.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image

from vehiclekit.errors import InvalidImageError

#: File suffixes read as images where a folder is listed (training folders, labelling pools, `predict`).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The images directly in ``folder`` (by :data:`IMAGE_SUFFIXES`), in natural order: numbers in
    names compare as numbers, so ``frame-2.jpg`` comes before ``frame-10.jpg``, as a video's frames."""
    def key(path: Path) -> list:
        return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name)]

    return sorted((p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=key)


#: Largest image accepted, in pixels (width x height).
MAX_PIXELS = 100_000_000
#: Longest side accepted, in pixels.
MAX_SIDE = 20_000

#: Everything :func:`load_image` accepts.
ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray]

_WHAT_TO_PASS = (
    "pass a file path, the bytes of an encoded image (JPEG, PNG, BMP, WebP, ...), "  # noqa: S105 - advice, not a password
    "or a numpy uint8 array shaped HxWx3 (BGR, as cv2.imread gives), HxW (gray) or HxWx4 (BGRA)"
)


def load_image(image: ImageInput) -> np.ndarray:
    """Return ``image`` as a C-contiguous ``HxWx3`` uint8 BGR array.

    Accepted inputs:

    * a path (``str`` or :class:`os.PathLike`) to an image file OpenCV can decode;
    * ``bytes`` / ``bytearray`` / ``memoryview`` holding an encoded image;
    * a numpy ``uint8`` array: ``HxWx3`` BGR (returned as is, without a copy when already
      contiguous, so do not modify the result in place), ``HxW`` or ``HxWx1`` gray, ``HxWx4`` BGRA.

    Float arrays are rejected rather than guessed at (0-1 or 0-255?); convert them first.

    Raises :class:`InvalidImageError` naming the problem and what to pass instead, for any other
    type, a missing/unreadable/undecodable file, non-image bytes, wrong dtype/shape, an empty image,
    or one larger than :data:`MAX_PIXELS` / :data:`MAX_SIDE`.
    """
    if isinstance(image, np.ndarray):
        return _array_to_bgr(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _check_size(_decode(bytes(image), "image bytes"), "image bytes")
    if isinstance(image, (str, os.PathLike)):
        if not os.fspath(image):
            raise InvalidImageError(f"empty image path: {_WHAT_TO_PASS}")
        path = Path(image)
        return _check_size(_decode(_read_file(path), f"file {path}"), f"file {path}")
    raise InvalidImageError(f"unsupported image type {type(image).__name__}: {_WHAT_TO_PASS}")


def load_images(images: Iterable[ImageInput]) -> list[np.ndarray]:
    """:func:`load_image` for every image of a batch (a list or other iterable), all before any
    inference; an error names the image's position in the batch."""
    if isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray)):
        raise InvalidImageError("a batch must be a list of images; pass a single image to the non-batch method")
    loaded = []
    for index, image in enumerate(images):
        try:
            loaded.append(load_image(image))
        except InvalidImageError as e:
            raise InvalidImageError(f"image {index} of the batch: {e}") from None
    return loaded


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise InvalidImageError(f"image file {path} does not exist: check the path")
    if not path.is_file():
        raise InvalidImageError(f"{path} is not a file: pass the path of an image file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InvalidImageError(f"cannot read image file {path}: {e.strerror or e}") from None
    if not data:
        raise InvalidImageError(f"image file {path} is empty (0 bytes)")
    return data


def header_size(data: bytes, what: str = "image bytes") -> tuple[int, int]:
    """``(width, height)`` from the encoded image's header, without decoding any pixel;
    :class:`InvalidImageError` when the header cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # Pillow's warnings about hostile bytes; our own limits apply below
            with Image.open(io.BytesIO(data)) as header:                      # lazy: reads the header only
                width, height = header.size
    except Image.DecompressionBombError:            # Pillow's own cap (> 179 megapixels) fired first
        raise InvalidImageError(f"{what}: the header claims over {2 * Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels, "
                                f"larger than the SDK accepts ({MAX_PIXELS // 1_000_000} megapixels in all); "
                                "downscale or tile it first") from None
    # Untrusted bytes: a broken header can surface as any parser error; all mean "not an image we read".
    except Exception:  # noqa: BLE001
        raise InvalidImageError(
            f"{what}: not a decodable image (no readable header: corrupt, truncated or an unsupported "
            f"format): {_WHAT_TO_PASS}"
        ) from None
    return width, height


def _decode(data: bytes, what: str) -> np.ndarray:
    if not data:
        raise InvalidImageError(f"{what} are empty: {_WHAT_TO_PASS}")
    _check_dimensions(*header_size(data, what), what)
    try:
        decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV refuses images over OPENCV_IO_MAX_IMAGE_PIXELS (1 gigapixel by default)
        decoded = None
    if decoded is None:
        raise InvalidImageError(
            f"{what}: not a decodable image (corrupt, truncated, too large or an unsupported "
            f"format): {_WHAT_TO_PASS}"
        )
    return decoded


def _array_to_bgr(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        hint = (
            "; for a float image in 0-1 use (img * 255).clip(0, 255).astype(np.uint8)"
            if np.issubdtype(array.dtype, np.floating)
            else ""
        )
        raise InvalidImageError(f"image array has dtype {array.dtype}, expected uint8{hint}")
    if array.ndim not in (2, 3):
        raise InvalidImageError(
            f"image array has {array.ndim} dimensions (shape {array.shape}), expected HxW or HxWxC; "
            "for a batch, pass the images one by one in a list"
        )
    channels = 1 if array.ndim == 2 else array.shape[2]
    if channels not in (1, 3, 4):
        hint = " (channels-first? use img.transpose(1, 2, 0))" if array.shape[0] in (1, 3, 4) else ""
        raise InvalidImageError(
            f"image array has shape {array.shape}: the last axis must hold 1 (gray), 3 (BGR) or "
            f"4 (BGRA) channels{hint}"
        )
    array = np.ascontiguousarray(_check_size(array, "image array"))
    if channels == 1:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    return array


def _check_size(image: np.ndarray, what: str) -> np.ndarray:
    h, w = image.shape[:2]
    _check_dimensions(w, h, what)
    return image


def _check_dimensions(w: int, h: int, what: str) -> None:
    if h == 0 or w == 0:
        raise InvalidImageError(f"{what}: image is empty ({w}x{h} pixels)")
    if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
        raise InvalidImageError(
            f"{what}: image is {w}x{h} pixels, larger than the SDK accepts (sides up to {MAX_SIDE}, "
            f"{MAX_PIXELS // 1_000_000} megapixels in all); downscale or tile it first"
        )
