"""Tracking quality on the top-down parking video against hand-marked cars, and what the YOLOX
detector sees from above.

Hand marks (by eye, from every 5th frame and the frames around each entry/exit): the frames each
car is at least partly in view and which half of the frame its lane is in (the two cars in view
together, 188-228, drive in opposite lanes). For each car and each proposal source: the frames on
which some track covers it (a box whose centre is in its lane half), how many different track ids
did (1 = no ID switch), and the frames on which YOLOX-Nano (score >= 0.1 and >= 0.05) found any
vehicle box there.

    .venv/bin/python benchmarks/video_tracking.py [--json runs/video_tracking.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vehiclekit.paths import DEFAULT_SHARED
from vehiclekit.video.proposals import DetectorProposals, MotionProposals
from vehiclekit.video.source import VideoSource
from vehiclekit.video.tracking import IouTracker

VIDEO = DEFAULT_SHARED / "data" / "videos" / "parking-lot-top-down.mp4"
#: car -> (first frame in view, last frame in view, lane: centre x below / above 270 px)
CARS = {"white hatchback, up": (55, 106, "right"), "silver hatchback, down": (183, 228, "left"),
        "red sedan, up": (188, 237, "right"), "white coupe, down": (315, 348, "left")}
LANE_SPLIT = 270.0


def owner(frame: int, box: np.ndarray) -> str | None:
    lane = "left" if (box[0] + box[2]) / 2 < LANE_SPLIT else "right"
    return next((car for car, (a, b, side) in CARS.items() if a <= frame <= b and side == lane), None)


def measure(proposals) -> dict:
    tracker = IouTracker()
    covered = {car: set() for car in CARS}
    ids = {car: set() for car in CARS}
    found = {car: set() for car in CARS}
    for frame in VideoSource(VIDEO):
        boxes, _ = proposals(frame.image)
        for box in boxes:
            if (car := owner(frame.index, box)) is not None:
                found[car].add(frame.index)
        for track, box in tracker.update(boxes, frame.index):
            if (car := owner(frame.index, box)) is not None:
                covered[car].add(frame.index)
                ids[car].add(track.id)
    return {car: {"frames_in_view": b - a + 1, "frames_with_a_proposal": len(found[car]),
                  "frames_tracked": len(covered[car]), "track_ids": len(ids[car])}
            for car, (a, b, _) in CARS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {"motion": measure(MotionProposals()), "yolox@0.1": measure(DetectorProposals(0.1)),
               "yolox@0.05": measure(DetectorProposals(0.05))}
    print("| proposals | car | frames in view | with a proposal | tracked | track ids |")
    print("|---|---|---|---|---|---|")
    for source, cars in results.items():
        for car, r in cars.items():
            print(f"| {source} | {car} | {r['frames_in_view']} | {r['frames_with_a_proposal']} | "
                  f"{r['frames_tracked']} | {r['track_ids']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
