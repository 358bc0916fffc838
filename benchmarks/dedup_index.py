"""The dHash duplicate index as the corpus grows: multi-index hashing against a full scan (issue 32).

`train-vehicle harvest --dedup-against` starts from the hashes of an earlier corpus, so the index
can hold millions of crops. This run times :meth:`DuplicateIndex.add` (multi-index hashing,
:mod:`vehiclekit.training.corpus.dhash`) and a full scan (XOR and popcount over every stored
hash, what the index did before) side by side, at several corpus sizes, on the same queries.
It checks that both make the same duplicate decisions.

The hashes are dHashes of real pictures, so that they are as uneven as a camera's crops are (road,
sky, night). The stored ones come from random windows of the ``traffic-cctv`` frames of the
training sessions and of ``coco-unlabeled``. The queries come from the held-out test sessions'
frames: half are fresh windows, and half are re-encoded, brightened copies of stored windows.

    .venv/bin/python benchmarks/dedup_index.py --json docs/perf/dedup_index.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from vehiclekit.paths import data_root
from vehiclekit.training.corpus.dhash import DuplicateIndex, dhash, popcount
from vehiclekit.training.detection.frames import cctv_split, read_yolo_folder


def windows(images: list[np.ndarray], n: int, rng: np.random.Generator) -> list[tuple[int, int, int, int, int]]:
    """``n`` random windows (image, x, y, w, h) of 24-200 px sides."""
    out = []
    for _ in range(n):
        i = int(rng.integers(len(images)))
        h, w = images[i].shape[:2]
        side_w, side_h = (int(rng.integers(24, min(200, w, h))) for _ in range(2))
        out.append((i, int(rng.integers(0, w - side_w + 1)), int(rng.integers(0, h - side_h + 1)), side_w, side_h))
    return out


def hashes_of(images: list[np.ndarray], boxes, transform=None) -> np.ndarray:
    result = np.empty(len(boxes), np.uint64)
    for k, (i, x, y, w, h) in enumerate(boxes):
        crop = images[i][y:y + h, x:x + w]
        result[k] = np.uint64(dhash(transform(crop) if transform else crop))
    return result


def reencoded(crop: np.ndarray) -> np.ndarray:
    _, jpg = cv2.imencode(".jpg", cv2.convertScaleAbs(crop, alpha=1.1, beta=8), [cv2.IMWRITE_JPEG_QUALITY, 70])
    return cv2.imdecode(jpg, cv2.IMREAD_COLOR)


def scan(stored: np.ndarray, h: int, max_distance: int) -> int | None:
    """The full scan: the closest stored hash within ``max_distance`` bits, or None."""
    dist = popcount(stored ^ np.uint64(h))
    i = int(dist.argmin())
    return i if dist[i] <= max_distance else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="stored hashes, comma-separated")
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--max-distance", type=int, default=6)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    root = data_root()
    frames = read_yolo_folder(root / "traffic-cctv")
    train = [cv2.imread(str(f.path)) for f in cctv_split(frames, "train")[::2]]
    train += [cv2.imread(str(path)) for path in sorted((root / "coco-unlabeled").glob("*.jpg"))]
    held_out = [cv2.imread(str(f.path)) for f in cctv_split(frames, "test-day") + cctv_split(frames, "test-night")]
    sizes = [int(s) for s in args.sizes.split(",")]
    t0 = time.perf_counter()
    stored_boxes = windows(train, max(sizes), rng)
    stored = hashes_of(train, stored_boxes)
    half = args.queries // 2
    picked = [stored_boxes[int(j)] for j in rng.integers(0, min(sizes), half)]   # in every size's stored set
    queries = np.concatenate([hashes_of(held_out, windows(held_out, half, rng)), hashes_of(train, picked, reencoded)])
    print(f"{len(stored)} stored and {len(queries)} query dHashes in {time.perf_counter() - t0:.0f} s; "
          f"distinct stored: {len(np.unique(stored))}")
    rows = []
    for size in sizes:
        known = stored[:size]
        index = DuplicateIndex(args.max_distance, known)
        t = time.perf_counter()
        found = [index.find(int(h)) for h in queries]
        mih_ms = (time.perf_counter() - t) / len(queries) * 1e3
        t = time.perf_counter()
        reference = [scan(known, int(h), args.max_distance) for h in queries]
        scan_ms = (time.perf_counter() - t) / len(queries) * 1e3
        same = sum((a is None) == (b is None) for a, b in zip(found, reference))
        index_bytes = known.nbytes + sum(keys.nbytes + order.nbytes for keys, order in index.sorted)
        rows.append({"stored": size, "mih_ms": round(mih_ms, 4), "scan_ms": round(scan_ms, 4),
                     "speedup": round(scan_ms / mih_ms, 1), "duplicates": sum(f is not None for f in found),
                     "same_decisions": same, "queries": len(queries), "bytes_per_hash": round(index_bytes / size, 1)})
        print(rows[-1], flush=True)
    print("\n| stored hashes | multi-index, ms per lookup | full scan, ms | speedup | duplicates found | same decisions | bytes per hash |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['stored']:,} | {r['mih_ms']:.3f} | {r['scan_ms']:.3f} | {r['speedup']}x | {r['duplicates']} | "
              f"{r['same_decisions']} / {r['queries']} | {r['bytes_per_hash']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"max_distance": args.max_distance, "rows": rows,
                                         "command": "python benchmarks/dedup_index.py"}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
