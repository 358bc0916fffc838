"""Hostile encoded images: decompression bombs in every format the SDK reads, truncated and
corrupted files. Each must end in :class:`InvalidImageError` (or decode to a valid image), fast,
without the memory a bomb claims; a bomb is refused by its header before OpenCV allocates pixels."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from vehiclekit.errors import InvalidImageError
from vehiclekit.sdk.image import MAX_PIXELS, header_size, load_image

FORMATS = ("jpeg", "png", "webp", "bmp", "tiff", "gif")
#: A bomb's claimed size: 30,000 x 30,000 = 900 megapixels (2.7 GB as BGR), over Pillow's own cap too.
BOMB = 30_000
#: Between the SDK's cap (100 MP) and Pillow's (179 MP): only the SDK's check stops these.
LARGE = 12_000


@pytest.fixture(scope="module")
def small(data_dir) -> np.ndarray:
    """A real vehicle photo, shrunk to 64 x 48."""
    image = cv2.imread(str(sorted((data_dir / "vehicle-reid" / "images" / "test").glob("car_*.jpg"))[0]))
    return cv2.resize(image, (64, 48), interpolation=cv2.INTER_AREA)


def encode(image: np.ndarray, fmt: str) -> bytes:
    if fmt == "gif":
        buffer = io.BytesIO()
        Image.fromarray(image[:, :, ::-1]).save(buffer, "GIF")
        return buffer.getvalue()
    params = [cv2.IMWRITE_WEBP_QUALITY, 90] if fmt == "webp" else []     # lossy VP8 (100 would be lossless)
    ok, data = cv2.imencode({"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}"), image, params)
    assert ok
    return data.tobytes()


def claim_size(data: bytes, fmt: str, width: int, height: int) -> bytes:
    """``data`` with the header rewritten to claim ``width`` x ``height`` pixels (the pixel data unchanged)."""
    out = bytearray(data)
    if fmt == "png":                     # IHDR right after the signature; its CRC recomputed
        out[16:24] = struct.pack(">II", width, height)
        out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])) & 0xFFFFFFFF)
    elif fmt == "jpeg":                  # the first start-of-frame segment: FF C0..C2, length, precision, H, W
        at = next(i for i in range(2, len(out) - 1) if out[i] == 0xFF and out[i + 1] in (0xC0, 0xC1, 0xC2))
        out[at + 5:at + 9] = struct.pack(">HH", height, width)
    elif fmt == "bmp":                   # BITMAPINFOHEADER width, height
        out[18:26] = struct.pack("<ii", width, height)
    elif fmt == "gif":                   # logical screen, then the first image descriptor
        out[6:10] = struct.pack("<HH", width, height)
        at = out.index(0x2C, 13 + 3 * 2 ** ((out[10] & 7) + 1) * (out[10] >> 7))
        out[at + 5:at + 9] = struct.pack("<HH", width, height)
    elif fmt == "webp":                  # lossy VP8 key frame: start code 9D 01 2A, then 14-bit sizes
        at = out.index(b"\x9d\x01\x2a") + 3
        out[at:at + 4] = struct.pack("<HH", min(width, 16383), min(height, 16383))
    elif fmt == "tiff":                  # IFD0's ImageWidth (256) and ImageLength (257) tags
        endian = "<" if out[:2] == b"II" else ">"
        ifd = struct.unpack(endian + "I", out[4:8])[0]
        for entry in range(struct.unpack(endian + "H", out[ifd:ifd + 2])[0]):
            at = ifd + 2 + 12 * entry
            tag, kind = struct.unpack(endian + "HH", out[at:at + 4])
            if tag in (256, 257):
                value = width if tag == 256 else height
                out[at + 8:at + 12] = struct.pack(endian + ("HH" if kind == 3 else "I"), *((value, 0) if kind == 3 else (value,)))
    return bytes(out)


def damaged(data: bytes, seed: int) -> tuple[list[bytes], list[bytes]]:
    """11 truncations of ``data`` (0 bytes to all but the last) and 150 seeded corruptions (1-8
    random bytes overwritten each)."""
    rng = np.random.default_rng(seed)
    truncated = [data[:n] for n in sorted({0, 1, 2, 4, 8, 16, 32, 64, len(data) // 4, len(data) // 2, len(data) - 1})]
    corrupted = []
    for _ in range(150):
        mutated = bytearray(data)
        for at in rng.integers(0, len(data), rng.integers(1, 9)):
            mutated[at] = rng.integers(0, 256)
        corrupted.append(bytes(mutated))
    return truncated, corrupted


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_and_a_bomb_of_it_is_refused_by_its_header(small, fmt):
    data = encode(small, fmt)
    if fmt == "gif":          # Pillow reads GIF headers, OpenCV < 4.12 cannot decode GIF: refused, not crashed
        with pytest.raises(InvalidImageError, match="not a decodable image"):
            load_image(data)
    else:
        assert load_image(data).shape == (48, 64, 3)
    assert header_size(data) == (64, 48)
    for claimed in (BOMB, LARGE):
        bomb = claim_size(data, fmt, claimed, claimed)
        expected = min(claimed, 16383) if fmt == "webp" else claimed
        if expected <= LARGE:
            assert header_size(bomb) == (expected, expected)
        start = time.perf_counter()
        with pytest.raises(InvalidImageError, match="larger than the SDK accepts"):
            load_image(bomb)
        assert time.perf_counter() - start < 1.0       # nothing decoded


def test_bombs_cost_no_memory(tmp_path, small):
    """Peak RSS of a fresh process rejecting every bomb, 20 times over, against its peak before."""
    files = []
    for fmt in FORMATS:
        path = tmp_path / f"bomb.{fmt}"
        path.write_bytes(claim_size(encode(small, fmt), fmt, BOMB, BOMB))
        files.append(str(path))
    code = textwrap.dedent(f"""
        import resource, time
        import cv2, numpy
        from vehiclekit.errors import InvalidImageError
        from vehiclekit.sdk.image import load_image
        files = {files!r}
        load_image(cv2.imencode(".png", numpy.zeros((8, 8, 3), "uint8"))[1].tobytes())   # warm up the decoders
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start, refused = time.perf_counter(), 0
        for _ in range(20):
            for path in files:
                for source in (path, open(path, "rb").read()):
                    try:
                        load_image(source)
                    except InvalidImageError:
                        refused += 1
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(refused, (after - before) // 1024, time.perf_counter() - start)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    refused, grown_mb, seconds = result.stdout.split()
    assert int(refused) == 20 * 2 * len(FORMATS)
    assert int(grown_mb) < 20, f"peak RSS grew {grown_mb} MB rejecting bombs"       # a 900 MP bomb is 2.7 GB
    assert float(seconds) < 10


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_and_corrupted_files_fail_cleanly(small, fmt):
    """Truncations and seeded corruptions (:func:`damaged`): a valid image or InvalidImageError,
    each in bounded time; never another exception."""
    truncated, corrupted = damaged(encode(small, fmt), seed=FORMATS.index(fmt))
    variants = truncated + corrupted
    outcomes = {"decoded": 0, "refused": 0}
    for variant in variants:
        start = time.perf_counter()
        try:
            image = load_image(variant)
        except InvalidImageError:
            outcomes["refused"] += 1
        else:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            assert image.shape[0] * image.shape[1] <= MAX_PIXELS
            outcomes["decoded"] += 1
        assert time.perf_counter() - start < 2.0
    assert outcomes["refused"] >= len(variants) // 20, outcomes      # the corruption is really exercised
