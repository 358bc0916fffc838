"""A crossing's wall-clock time is absolute: ``--start`` plus its frame index over the video's frame
rate. (test_video_count.py compares times of one record with each other, and the parking-watch test
uses the same video for entry and exit, so neither pins the scale.)

Hand count of parking-lot-top-down.mp4 (377 frames, 12.5 fps; see test_video_count.py): the first
car, a white hatchback driving up, crosses mid-height between frames ~55 and ~107, i.e. 4.4 s to
8.6 s into the video.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from vehiclekit.cli import main as vehiclekit

TOP_DOWN_LINE = "lane=0,216,768,216"
START = "2026-11-30T08:00:00+01:00"


def test_crossing_times_are_the_start_plus_frame_over_the_videos_fps(capsys, data_dir):
    import cv2

    video = data_dir / "videos" / "parking-lot-top-down.mp4"
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    assert fps == pytest.approx(12.5)

    capsys.readouterr()
    assert vehiclekit(["count", str(video), "--line", TOP_DOWN_LINE, "--detector", "motion", "--start", START, "--json"]) == 0
    crossings = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["crossings"]
    assert len(crossings) == 4
    start = datetime.fromisoformat(START)
    for c in crossings:
        assert datetime.fromisoformat(c["time"]) == start + timedelta(seconds=c["frame"] / fps), c
    # and independently of the formula: the first car crosses 4.4 s to 8.6 s after the first frame
    first = datetime.fromisoformat(crossings[0]["time"]) - start
    assert crossings[0]["direction"] == "in"
    assert timedelta(seconds=55 / 12.5) <= first <= timedelta(seconds=107 / 12.5), first
