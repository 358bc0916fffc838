"""Can a tracker follow the vehicles of ``traffic-cctv`` from one shared frame to the next?

The shared frames are every 4th frame extracted from each source video, at a rate nobody recorded.
For each labelled vehicle (both sides >= 24 px) this takes the best IoU with any labelled vehicle of
the session's next shared frame: the IoU tracker of ``vehiclekit count`` (``video/tracking.py``) links
a box only above ``iou_threshold`` (0.2), so the share under it is the share of vehicles it would lose
between two frames, whatever the detector. Prints the share per session and near (lower half of the
frame) and far.

    .venv/bin/python benchmarks/cctv_frame_gap.py
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from vehiclekit.paths import data_root
from vehiclekit.sdk.detector import iou_matrix
from vehiclekit.training.detection.frames import read_yolo_folder
from vehiclekit.video.tracking import IouTracker

LINK = IouTracker().iou_threshold


def main() -> None:
    frames = read_yolo_folder(data_root() / "traffic-cctv", size=(640, 640))
    by_session = defaultdict(list)
    for frame in frames:
        by_session[frame.session].append(frame)
    print(f"share of vehicles (>= 24 px) whose best IoU with the next shared frame is >= {LINK} (the tracker's link)")
    print(f"{'session':<24}{'pairs':>7}{'vehicles':>10}{'linkable':>10}{'near':>8}{'far':>8}{'median IoU':>12}")
    for session, items in sorted(by_session.items()):
        best, near = [], []
        pairs = 0
        for a, b in zip(items, items[1:]):
            if b.index - a.index != 4:  # a gap in the shared frames
                continue
            pairs += 1
            sides = np.minimum(a.boxes[:, 2] - a.boxes[:, 0], a.boxes[:, 3] - a.boxes[:, 1])
            keep = sides >= 24
            overlap = iou_matrix(a.boxes[keep], b.boxes)
            best += list(overlap.max(axis=1) if overlap.size else np.zeros(int(keep.sum())))
            near += list(a.boxes[keep][:, 3] > a.height / 2)
        best, near = np.array(best), np.array(near, dtype=bool)
        linkable = lambda m: f"{100 * np.mean(best[m] >= LINK):.0f} %" if m.any() else "n/a"  # noqa: E731
        print(f"{session:<24}{pairs:>7}{len(best):>10}{linkable(np.ones_like(near)):>10}{linkable(near):>8}{linkable(~near):>8}"
              f"{np.median(best):>12.2f}")


if __name__ == "__main__":
    main()
