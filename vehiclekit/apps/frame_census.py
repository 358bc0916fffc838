"""Vehicles in view, frame by frame, in a folder of frames from a fixed camera: a census by type
(``vehiclekit stats frames``).

Why not line counts: frames sampled far apart (the shared CCTV folders hold every 4th frame of a video
at a rate nobody recorded) show a vehicle near the camera moving more than its own length from one
frame to the next, so a tracker cannot tell a vehicle seen again from a new one (docs/results.md §23
measures it: 25-71 % of vehicles linkable per session). Line counts from such folders would count a
vehicle twice or miss it. What the frames do support is how many vehicles of each type are in view
in each frame, the road's occupancy, and its mean and peak over the folder; this module reports
that, per vehicle type and per coarse class (:data:`~vehiclekit.models.zoo.VEHICLE_CLASSES`). A
video at its full rate is counted by line crossings with ``vehiclekit count`` instead.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from vehiclekit.apps.plots import pyplot
from vehiclekit.models.zoo import CLASS_OF_TYPE, VEHICLE_CLASSES, VEHICLE_TYPES
from vehiclekit.sdk import VehicleRecognizer
from vehiclekit.sdk.detector import box_side

#: Smallest vehicle counted, in pixels of its box's shorter side (the CCTV evaluation's limit).
DEFAULT_MIN_SIDE = 24


@dataclass(frozen=True)
class FrameCount:
    """The vehicles in view in one frame, per vehicle type."""

    frame: str
    by_type: dict[str, int]

    @property
    def by_class(self) -> dict[str, int]:
        counts: Counter = Counter()
        for vehicle_type, n in self.by_type.items():
            counts[CLASS_OF_TYPE.get(vehicle_type, vehicle_type)] += n
        return dict(counts)


@dataclass(frozen=True)
class Census:
    """Per-frame counts of a folder, and their totals, means and peaks."""

    frames: tuple[FrameCount, ...]
    min_side: int

    def _stats(self, per_frame: list[dict[str, int]], names: Sequence[str]) -> dict[str, dict]:
        n = max(len(per_frame), 1)
        return {name: {"vehicle_frames": sum(f.get(name, 0) for f in per_frame),
                       "mean_in_view": round(sum(f.get(name, 0) for f in per_frame) / n, 2),
                       "max_in_view": max((f.get(name, 0) for f in per_frame), default=0)} for name in names}

    def summary(self) -> dict:
        """Frames, vehicles counted in them (``vehicle_frames``: a vehicle in view in 3 frames counts
        3), mean and peak in view, per type and per class."""
        totals = [sum(f.by_type.values()) for f in self.frames]
        return {"frames": len(self.frames), "min_side": self.min_side, "vehicle_frames": sum(totals),
                "mean_in_view": round(sum(totals) / max(len(totals), 1), 2), "max_in_view": max(totals, default=0),
                "by_class": self._stats([f.by_class for f in self.frames], tuple(VEHICLE_CLASSES)),
                "by_type": self._stats([f.by_type for f in self.frames], VEHICLE_TYPES)}


def take_census(images: Sequence[str | os.PathLike], recognizer: VehicleRecognizer, min_side: int = DEFAULT_MIN_SIDE,
                progress: bool = True) -> Census:
    """Recognise every image (in the given order) and count its vehicles per type, those whose box
    has both sides at least ``min_side`` pixels (smaller ones are too small to type reliably)."""
    frames = []
    for image in tqdm(images, desc="census", unit="frame", disable=not progress):
        counts = Counter(v.classification.label for v in recognizer.recognize(image) if box_side(v.detection.bbox) >= min_side)
        frames.append(FrameCount(Path(image).name, dict(counts)))
    return Census(tuple(frames), min_side)


def write_census(census: Census, out_dir: str | os.PathLike, plots: bool = True) -> list[Path]:
    """``frames.csv`` (one row per frame: total and each type), ``census.json`` (the summary) and,
    with ``plots``, ``census.png`` (vehicles in view per class, frame by frame); the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "frames.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["frame", "total", *VEHICLE_TYPES])
        for frame in census.frames:
            writer.writerow([frame.frame, sum(frame.by_type.values()), *(frame.by_type.get(t, 0) for t in VEHICLE_TYPES)])
    (out / "census.json").write_text(json.dumps(census.summary(), indent=2) + "\n")
    written = [out / "frames.csv", out / "census.json"]
    if plots:
        written.append(plot_census(census, out / "census.png"))
    return written


def plot_census(census: Census, path: Path) -> Path:
    """Stacked areas: vehicles in view per class over the frames."""
    plt = pyplot()
    classes = [c for c in VEHICLE_CLASSES if any(f.by_class.get(c) for f in census.frames)]
    fig, ax = plt.subplots(figsize=(9, 3.5), dpi=80)
    x = range(len(census.frames))
    ax.stackplot(x, [[f.by_class.get(c, 0) for f in census.frames] for c in classes], labels=classes, step="mid")
    ax.set_xlabel("frame (folder order)")
    ax.set_ylabel("vehicles in view")
    ax.set_title(f"vehicles in view per class ({len(census.frames)} frames, boxes >= {census.min_side} px)")
    if classes:
        ax.legend(loc="upper right", fontsize=8, ncol=len(classes))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
