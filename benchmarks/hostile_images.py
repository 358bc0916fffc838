"""Hostile encoded images, side by side: OpenCV decoding them directly (what the SDK did before it
read headers first) vs :func:`vehiclekit.sdk.image.load_image`.

A real decompression bomb (a valid 0.9 MB PNG of 30,000 x 30,000 pixels); for every format, a
header bomb (a real image whose header claims 30,000 x 30,000 pixels),
then 11 truncations and 150 seeded corruptions of a real photo (the corpus of
``tests/test_sdk_image_hostile.py``); reported per decoder and kind: how many inputs, crashed
processes (any exit but clean rejections and decoded images), the worst time per input and the worst peak-RSS growth of a process
(one process per format and kind, so the growth is the worst single input's).

    python benchmarks/hostile_images.py [--json runs/bench_hostile_images.json]
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_sdk_image_hostile import BOMB, FORMATS, claim_size, damaged, encode  # noqa: E402

from vehiclekit.paths import data_root  # noqa: E402

PROBE = """
import resource, sys, time
from pathlib import Path
import cv2, numpy as np
from vehiclekit.errors import InvalidImageError
from vehiclekit.sdk.image import load_image
load_image(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())       # imports and decoders warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path in sorted(Path(sys.argv[1]).iterdir()):
    data = path.read_bytes()
    start = time.perf_counter()
    try:
        if sys.argv[2] == "opencv":
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
        else:
            decoded = load_image(data) is not None
    except (InvalidImageError, cv2.error):
        decoded = False
    print("decoded" if decoded else "refused", time.perf_counter() - start, flush=True)
print("rss", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def zlib_png_bomb(side: int = BOMB) -> bytes:
    """A complete, valid 8-bit grey PNG of ``side`` x ``side`` black pixels: 900 megapixels in
    about 0.9 MB (the decompression bomb of the reliability issue, built rather than downloaded)."""
    compressor, rows = zlib.compressobj(9), b"\x00" * ((side + 1) * 1000)      # filter byte + pixels, 1000 rows
    data = b"".join(compressor.compress(rows) for _ in range(side // 1000)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def corpus(photo: np.ndarray) -> list[tuple[str, str, bytes]]:
    """(format, kind, bytes) of every hostile input."""
    items = [("png", "real zlib bomb", zlib_png_bomb())]
    for fmt in FORMATS:
        data = encode(photo, fmt)
        truncated, corrupted = damaged(data, seed=FORMATS.index(fmt))
        items += [(fmt, "bomb", claim_size(data, fmt, BOMB, BOMB))]
        items += [(fmt, "truncated", d) for d in truncated] + [(fmt, "corrupted", d) for d in corrupted]
    return items


def probe(folder: Path, decoder: str) -> tuple[list[tuple[str, float]], float | None]:
    """Every file of ``folder`` through ``decoder`` in one fresh process: (outcome, seconds) per file
    and the process's peak-RSS growth over its warm-up (None: the process crashed)."""
    result = subprocess.run([sys.executable, "-c", PROBE, str(folder), decoder], capture_output=True, text=True,
                            timeout=600)
    lines = [line.split() for line in result.stdout.splitlines()]
    outcomes = [(outcome, float(seconds)) for outcome, seconds in lines if outcome != "rss"]
    grown = float(lines[-1][1]) if not result.returncode and lines and lines[-1][0] == "rss" else None
    return outcomes, grown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    parser.add_argument("--decoders", default="opencv,sdk", help="comma-separated: opencv (before), sdk (now)")
    args = parser.parse_args()
    photo = cv2.resize(cv2.imread(str(sorted((data_root() / "vehicle-reid" / "images" / "test").glob("car_*.jpg"))[0])),
                       (64, 48), interpolation=cv2.INTER_AREA)
    rows: dict[tuple[str, str], dict] = {}
    groups: dict[tuple[str, str], list[bytes]] = {}
    for fmt, kind, data in corpus(photo):
        groups.setdefault((fmt, kind), []).append(data)
    for (fmt, kind), inputs in groups.items():
        for decoder in args.decoders.split(","):
            if decoder == "opencv" and "bomb" not in kind:
                continue                      # the comparison that matters; OpenCV alone on the rest adds nothing
            with tempfile.TemporaryDirectory() as folder:
                for i, data in enumerate(inputs):
                    (Path(folder) / f"{i:04d}").write_bytes(data)
                outcomes, grown = probe(Path(folder), decoder)
            row = rows.setdefault((decoder, kind), {"inputs": 0, "refused": 0, "decoded": 0, "crashed_processes": 0,
                                                    "max_seconds": 0.0, "max_rss_growth_mb": 0.0})
            row["inputs"] += len(inputs)
            for outcome, seconds in outcomes:
                row[outcome] += 1
                row["max_seconds"] = max(row["max_seconds"], seconds)
            if grown is None:
                row["crashed_processes"] += 1
            else:
                row["max_rss_growth_mb"] = max(row["max_rss_growth_mb"], grown)
            print(f"{decoder:<7}{fmt:<6}{kind:<10}{len(inputs):>4} inputs, peak RSS +{grown} MB", file=sys.stderr)
    print("| decoder | input kind | inputs | refused | decoded | crashed processes | worst time | worst peak-RSS growth |")
    print("|---|---|---|---|---|---|---|---|")
    for (decoder, kind), row in rows.items():
        print(f"| {decoder} | {kind} | {row['inputs']} | {row['refused']} | {row['decoded']} | {row['crashed_processes']} | "
              f"{row['max_seconds']:.3f} s | {row['max_rss_growth_mb']:.0f} MB |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{"decoder": d, "kind": k, **r} for (d, k), r in rows.items()], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
