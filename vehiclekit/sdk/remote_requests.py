"""What :class:`~vehiclekit.sdk.remote.TritonClient` sends: an image as the bytes the server
decodes, and numpy arrays as tritonclient input tensors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tritonclient.http as httpclient

from vehiclekit.errors import InvalidImageError
from vehiclekit.sdk.image import ImageInput, load_image


def encoded_image(image: ImageInput) -> bytes:
    """What to send the server for ``image``: encoded bytes as they are and a file's bytes (the
    server decodes and validates them with the SDK's :func:`~vehiclekit.sdk.image.load_image`, so
    the pixels are the ones the embedded SDK would see); an array, validated here, as lossless PNG."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        try:
            return path.read_bytes()
        except OSError as e:
            raise InvalidImageError(f"cannot read image file {path}: {e.strerror or e}") from None
    ok, png = cv2.imencode(".png", load_image(image), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise InvalidImageError("cannot encode the image array as PNG to send it to the server")
    return png.tobytes()


def image_tensor(image: ImageInput) -> np.ndarray:
    """``image`` as the detector's and pipeline's ``IMAGE`` input: one BYTES element."""
    return np.array([encoded_image(image)], dtype=np.object_)


def input_tensors(module: Any, inputs: Mapping[str, np.ndarray]) -> list[Any]:
    """``inputs`` (name -> array) as ``module.InferInput`` tensors (``module``: tritonclient.http or .grpc)."""
    tensors = []
    for name, array in inputs.items():
        datatype = "BYTES" if array.dtype == np.object_ else httpclient.np_to_triton_dtype(array.dtype)
        tensor = module.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors
