"""Line crossings and the IoU tracker on constructed tracks: both directions, jitter on the line, a
vehicle that touches the line and turns back, two vehicles passing each other, a missed frame."""

from __future__ import annotations

import numpy as np
import pytest

from vehiclekit.video.lines import CountingLine, LineCounter
from vehiclekit.video.tracking import IouTracker

HORIZONTAL = CountingLine("lane", (0, 200), (800, 200))      # drawn left to right: "in" is upward


def box_at(cy: float, cx: float = 300, h: float = 60, w: float = 40) -> np.ndarray:
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def crossings(counter: LineCounter, track: int, centres_y: list[float]) -> list[str]:
    return [d for d in (counter.update(track, box_at(y)) for y in centres_y) if d is not None]


def test_upward_is_in_and_downward_is_out_for_a_line_drawn_left_to_right():
    counter = LineCounter(HORIZONTAL)
    assert crossings(counter, 1, [400, 300, 230, 200, 170, 100]) == ["in"]
    assert crossings(counter, 2, [50, 150, 200, 260, 350]) == ["out"]


def test_reversing_the_line_reverses_the_direction():
    counter = LineCounter(CountingLine("lane", (800, 200), (0, 200)))
    assert crossings(counter, 1, [400, 200, 100]) == ["out"]


def test_a_diagonal_line_uses_the_side_of_the_whole_box():
    line = CountingLine("diag", (0, 0), (400, 400))               # walking it, the right hand points below-left (x < y)
    counter = LineCounter(line)
    left_below = np.array([20, 300, 60, 340], np.float32)         # x < y: the "right-hand" side in image coords
    right_above = np.array([300, 20, 340, 60], np.float32)
    assert line.side(left_below) == 1 and line.side(right_above) == -1
    assert counter.update(7, left_below) is None and counter.update(7, right_above) == "in"


def test_jitter_on_the_line_does_not_count_and_a_full_crossing_counts_once():
    counter = LineCounter(HORIZONTAL)
    jitter = [400, 300, 240, 215, 190, 210, 185, 205, 195, 215, 190]    # straddling the line: no side
    assert crossings(counter, 1, jitter) == []
    assert crossings(counter, 1, [150, 100]) == ["in"]
    assert crossings(counter, 1, [300, 100, 300, 100]) == ["out"]       # back and forth: once per direction


def test_touching_the_line_and_turning_back_never_counts():
    counter = LineCounter(HORIZONTAL)
    assert crossings(counter, 1, [400, 300, 220, 200, 190, 230, 300, 400]) == []


def test_a_line_needs_two_distinct_points_and_a_readable_spec():
    assert CountingLine.parse("gate=0,1,2,3", "x") == CountingLine("gate", (0, 1), (2, 3))
    assert CountingLine.parse("0,1,2,3", "line1").name == "line1"
    with pytest.raises(ValueError, match="X1,Y1,X2,Y2"):
        CountingLine.parse("0,1,2", "x")
    with pytest.raises(ValueError, match="same"):
        CountingLine.parse("5,5,5,5", "x")


def test_two_vehicles_passing_each_other_keep_their_ids():
    tracker = IouTracker()
    ids = {"up": set(), "down": set()}
    for f in range(20):
        up, down = box_at(400 - 15 * f, cx=300), box_at(100 + 15 * f, cx=345)   # lanes overlap a little
        for track, box in tracker.update(np.stack([up, down]), f):
            ids["up" if np.allclose(box, up) else "down"].add(track.id)
    assert len(ids["up"]) == 1 and len(ids["down"]) == 1 and ids["up"] != ids["down"]


def test_a_few_missed_frames_keep_the_track_and_a_long_gap_ends_it():
    tracker = IouTracker(max_misses=3)
    seen = []
    for f in range(12):
        boxes = np.zeros((0, 4), np.float32) if f in (4, 5) else box_at(400 - 20 * f)[None]
        seen += [t.id for t, _ in tracker.update(boxes, f)]
    assert set(seen) == {1}
    for f in range(12, 17):
        tracker.update(np.zeros((0, 4), np.float32), f)
    (finished,) = tracker.pop_finished()
    assert finished.id == 1 and finished.hits == 10 and tracker.confirmed(finished)


def test_a_track_seen_once_is_not_confirmed():
    tracker = IouTracker(confirm_frames=3)
    tracker.update(box_at(100)[None], 0)
    (track,) = tracker.pop_finished(flush=True)
    assert not tracker.confirmed(track)


def test_stopping_a_stream_with_ctrl_c_still_counts_the_vehicles_seen(capsys):
    """A vehicle crosses, then the operator presses Ctrl-C: its track is finished, typed and counted."""
    from datetime import UTC, datetime

    from vehiclekit.video.counter import VideoCounter
    from vehiclekit.video.source import Frame

    class Stream:
        name, fps, frame_count = "rtsp://camera", 10.0, None

        def __iter__(self):
            for i in range(12):
                yield Frame(i, i / 10, np.zeros((480, 640, 3), np.uint8))
            raise KeyboardInterrupt

    def proposals(image):                      # one vehicle driving up through y = 200
        proposals.frame += 1
        return box_at(400 - 25 * proposals.frame)[None], np.ones(1, np.float32)

    proposals.frame = -1
    counter = VideoCounter([HORIZONTAL], proposals, lambda crops: ("car", 0.9), datetime(2026, 11, 30, tzinfo=UTC))
    result = counter.run(Stream(), progress=False)
    assert result.frames == 12 and "stopped after 12 frames" in capsys.readouterr().out
    assert [(c.direction, c.vehicle_type) for c in result.crossings] == [("in", "car")]
