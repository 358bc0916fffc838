"""Synthetic car-park traffic from the vehicle-reid images (evaluation and demo statistics).

Each identity of a split has one image per camera (``{type}_{id}_cam1.jpg`` / ``_cam2.jpg``). One
camera is the entry gate, the other the exit; entries and stay durations are drawn at random with
a fixed seed, so the timeline is reproducible.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from vehiclekit.errors import DatasetNotFoundError

#: The vehicle-reid splits.
SPLITS = ("train", "val", "test")
#: Where the synthetic day starts (UTC): entries fall in the 14 hours after it.
DEFAULT_START = datetime(2026, 3, 28, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Visit:
    """One vehicle's stay: the identity, its dataset type, both camera images and the true times."""

    identity: str
    dataset_type: str
    images: dict[int, Path]
    entry_time: datetime
    exit_time: datetime


def reid_pairs(root: Path, split: str) -> list[tuple[str, str, dict[int, Path]]]:
    """(identity, dataset type, {camera: image}) of every identity of ``split`` (test or val) seen by both cameras."""
    listing = root / "vehicle-reid" / f"{split}.txt"
    folder = root / "vehicle-reid" / "images" / ("test" if split == "test" else "train")
    if not listing.is_file() or not folder.is_dir():
        raise DatasetNotFoundError(f"{listing} or {folder} is missing: the vehicle-reid dataset belongs under the data root")
    cams: dict[str, dict[int, Path]] = {}
    for name in listing.read_text().split():
        kind, number, cam = Path(name).stem.split("_")
        cams.setdefault(f"{kind}_{number}", {})[int(cam.removeprefix("cam"))] = folder / name
    return [(identity, identity.split("_")[0], images) for identity, images in sorted(cams.items()) if {1, 2} <= set(images)]


def synthetic_visits(pairs: list[tuple[str, str, dict[int, Path]]], seed: int = 0, start: datetime = DEFAULT_START,
                     all_open: bool = False) -> list[Visit]:
    """Random entries over 14 h from ``start`` and stays of 2 min to 30 h (10 % inside a 15-min grace,
    the rest log-normal around 2 h). ``all_open``: every entry happens before the first exit (all
    sessions open at once: the hardest matching case)."""
    rng = np.random.default_rng(seed)
    n = len(pairs)
    entries = np.sort(rng.uniform(0, 14 * 3600 if not all_open else 3600, n))
    stays = np.where(rng.random(n) < 0.1, rng.uniform(120, 840, n),
                     np.clip(rng.lognormal(np.log(7200), 1.0, n), 900, 30 * 3600))
    if all_open:
        stays = stays + 3600 - entries
    order = rng.permutation(n)       # which vehicle enters at each time
    visits = []
    for slot, k in enumerate(order):
        identity, kind, images = pairs[k]
        entry = start + timedelta(seconds=round(float(entries[slot])))
        visits.append(Visit(identity, kind, images, entry, entry + timedelta(seconds=round(float(stays[slot])))))
    return sorted(visits, key=lambda v: v.entry_time)


def distractor_splits(split: str, unseen: bool = False) -> list[str]:
    """The splits distractors for ``split`` come from: for val only train, so that what is chosen on
    val never sees a test image; for test every other split, or with ``unseen`` only val (vehicles
    the re-ID model never trained on, as every vehicle of a real car park is)."""
    if split == "val":
        return ["train"]
    return ["val"] if unseen else [s for s in SPLITS if s != split]


def distractor_visits(root: Path, split: str, inside: int, visits: list[Visit], seed: int,
                      unseen: bool = False) -> list[Visit]:
    """Vehicles of :func:`distractor_splits` that enter during the scored entries and never leave,
    until ``inside`` vehicles are in the lot (the scored exits must find their own among them)."""
    extra = inside - len(visits)
    if extra <= 0:
        return []
    others = [p for s in distractor_splits(split, unseen) for p in reid_pairs(root, s)]
    if extra > len(others):
        raise ValueError(f"--inside {inside}: only {len(others) + len(visits)} vehicles exist in vehicle-reid")
    rng = np.random.default_rng(seed + 1)
    chosen = [others[i] for i in rng.choice(len(others), extra, replace=False)]
    first, last = min(v.entry_time for v in visits), max(v.entry_time for v in visits)
    span = max((last - first).total_seconds(), 1.0)
    far = max(v.exit_time for v in visits) + timedelta(days=1)
    return [Visit(identity, kind, images, first + timedelta(seconds=float(rng.uniform(0, span))), far)
            for identity, kind, images in chosen]


def write_manifest(visits: list[Visit], path: str | os.PathLike, entry_cam: int = 1,
                   gates: tuple[str, str] = ("north", "south")) -> Path:
    """A statistics CSV manifest (image, gate, direction, time) of the visits' entries and exits."""
    rows = [(v.images[entry_cam], gates[0], "entry", v.entry_time) for v in visits]
    rows += [(v.images[3 - entry_cam], gates[1], "exit", v.exit_time) for v in visits]
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "gate", "direction", "time"])
        for image, gate, direction, time in sorted(rows, key=lambda r: r[3]):
            writer.writerow([os.fspath(image), gate, direction, time.isoformat()])
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.parking.synthetic OUT.csv``: a statistics manifest of a synthetic day."""
    import argparse

    from vehiclekit.paths import data_root

    parser = argparse.ArgumentParser(prog="python -m benchmarks.parking.synthetic", description=main.__doc__)
    parser.add_argument("out", type=Path, help="CSV manifest to write")
    parser.add_argument("--split", default="test", choices=("test", "val"), help="vehicle-reid split (default: test)")
    parser.add_argument("--seed", type=int, default=0, help="timeline seed (default: 0)")
    parser.add_argument("--start", default=DEFAULT_START.isoformat(), help="first possible entry (ISO-8601 with offset)")
    parser.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA, else ../shared/data)")
    args = parser.parse_args(argv)
    visits = synthetic_visits(reid_pairs(data_root(args.data), args.split), args.seed, datetime.fromisoformat(args.start))
    print(f"wrote {write_manifest(visits, args.out)}: {len(visits)} entries (cam1, gate north) and exits (cam2, gate south)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
