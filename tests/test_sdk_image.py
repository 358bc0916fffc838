"""load_image: every accepted input gives the same HxWx3 uint8 BGR array; every bad one a clear
InvalidImageError."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vehiclekit import InvalidImageError
from vehiclekit.sdk.image import MAX_PIXELS, MAX_SIDE, load_image, load_images

SQUARE_SIDE = math.isqrt(MAX_PIXELS) + 1  # a square image this wide has too many pixels


@pytest.fixture(scope="module")
def car_path(data_dir: Path) -> Path:
    return data_dir / "vehicle-types" / "car" / "car1.jpg"


@pytest.fixture(scope="module")
def car_bgr(car_path: Path) -> np.ndarray:
    return cv2.imread(str(car_path))


def test_path_str_and_pathlike_match_cv2_imread(car_path, car_bgr):
    for source in (car_path, str(car_path)):
        image = load_image(source)
        assert image.dtype == np.uint8 and image.shape == (100, 100, 3) and image.flags.c_contiguous
        np.testing.assert_array_equal(image, car_bgr)


def test_encoded_bytes_in_every_buffer_type(car_path, car_bgr):
    data = car_path.read_bytes()
    for source in (data, bytearray(data), memoryview(data)):
        np.testing.assert_array_equal(load_image(source), car_bgr)


def test_png_bytes_are_lossless(car_bgr):
    png = cv2.imencode(".png", car_bgr)[1].tobytes()
    np.testing.assert_array_equal(load_image(png), car_bgr)


def test_bgr_array_is_returned_without_copy(car_bgr):
    assert load_image(car_bgr) is car_bgr


def test_gray_and_bgra_arrays_become_bgr(car_bgr):
    gray = cv2.cvtColor(car_bgr, cv2.COLOR_BGR2GRAY)
    for source in (gray, gray[:, :, None]):
        image = load_image(source)
        assert image.shape == (100, 100, 3)
        assert all(np.array_equal(image[:, :, c], gray) for c in range(3))
    bgra = cv2.cvtColor(car_bgr, cv2.COLOR_BGR2BGRA)
    bgra[:, :, 3] = 7
    np.testing.assert_array_equal(load_image(bgra), car_bgr)


def test_non_contiguous_array_becomes_contiguous(car_bgr):
    view = car_bgr[:, ::2]
    image = load_image(view)
    assert image.flags.c_contiguous
    np.testing.assert_array_equal(image, view)


def test_batch_loader_names_the_bad_image(car_bgr):
    assert len(load_images([car_bgr, car_bgr])) == 2
    assert load_images(iter([car_bgr])) and load_images([]) == []
    with pytest.raises(InvalidImageError, match=r"image 1 of the batch: .*dtype float32"):
        load_images([car_bgr, car_bgr.astype(np.float32)])
    with pytest.raises(InvalidImageError, match="batch must be a list"):
        load_images(car_bgr)


@pytest.mark.parametrize(
    "source, message",
    [
        (None, r"unsupported image type NoneType: pass a file path"),
        (42, r"unsupported image type int"),
        ([[0, 0, 0]], r"unsupported image type list"),
        ("", r"empty image path"),
        (b"", r"image bytes are empty"),
        (b"GIF? no, just text", r"image bytes: not a decodable image.*pass a file path"),
        (np.zeros((8, 8, 3), np.float32), r"dtype float32, expected uint8; for a float image in 0-1 use"),
        (np.zeros((8, 8, 3), np.uint16), r"dtype uint16, expected uint8$"),
        (np.zeros((8, 8, 3), bool), r"dtype bool, expected uint8"),
        (np.zeros(8, np.uint8), r"1 dimensions .* expected HxW or HxWxC"),
        (np.zeros((2, 8, 8, 3), np.uint8), r"4 dimensions .* pass the images one by one"),
        (np.zeros((8, 8, 2), np.uint8), r"last axis must hold 1 \(gray\), 3 \(BGR\) or 4 \(BGRA\)"),
        (np.zeros((3, 64, 64), np.uint8), r"channels-first\? use img.transpose\(1, 2, 0\)"),
        (np.zeros((0, 8, 3), np.uint8), r"image is empty \(8x0 pixels\)"),
        (np.zeros((8, 0), np.uint8), r"image is empty \(0x8 pixels\)"),
        (np.zeros((1, MAX_SIDE + 1, 3), np.uint8), rf"image is {MAX_SIDE + 1}x1 pixels, larger than"),
        # a zero-stride view: shaped like a 100+ megapixel image without allocating one
        (np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (SQUARE_SIDE, SQUARE_SIDE, 3)), r"larger than the SDK"),
    ],
)
def test_bad_inputs_raise_a_clear_error(source, message):
    with pytest.raises(InvalidImageError, match=message):
        load_image(source)


def test_invalid_image_error_is_a_value_error():
    with pytest.raises(ValueError):
        load_image(np.zeros((8, 8, 3), np.float64))


def test_missing_file_directory_and_empty_file(tmp_path):
    with pytest.raises(InvalidImageError, match=r"does not exist: check the path"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InvalidImageError, match=r"is not a file"):
        load_image(tmp_path)
    empty = tmp_path / "empty.jpg"
    empty.touch()
    with pytest.raises(InvalidImageError, match=r"is empty \(0 bytes\)"):
        load_image(str(empty))


def test_non_image_and_truncated_files(tmp_path, car_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(InvalidImageError, match=r"notes.jpg: not a decodable image"):
        load_image(text)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(car_path.read_bytes()[:200])
    with pytest.raises(InvalidImageError, match=r"truncated.jpg: not a decodable image"):
        load_image(truncated)


def test_oversized_file_is_rejected_after_decoding(tmp_path):
    wide = tmp_path / "wide.png"
    cv2.imwrite(str(wide), np.zeros((2, MAX_SIDE + 1), np.uint8))
    with pytest.raises(InvalidImageError, match=rf"wide.png: image is {MAX_SIDE + 1}x2 pixels, larger"):
        load_image(wide)

