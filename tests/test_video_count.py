"""`vehiclekit count` and `vehiclekit parking watch` on the real videos in ../shared/data/videos.

Hand count (by eye, every 5th frame of the top-down video laid out as contact sheets, and every
frame of the GIF): parking-lot-top-down.mp4 (377 frames, 12.5 fps) shows 4 cars, one at a time or
two side by side: a white hatchback drives up (frames ~55-107), a silver hatchback down (~183-228)
while a red sedan drives up (~188-237), a white coupe down (~315-348); across a line at mid-height
drawn left to right: 2 in (up), 2 out (down), all cars. parking-lot-car-bicycle.gif (41 frames):
one car drives up and turns left, a cyclist and pedestrians at the far side; across a line at
y = 140 from x = 0 to 300: 1 car in, nothing else (bicycles and people are not vehicles here).
"""

from __future__ import annotations

import json
import time

import pytest

from vehiclekit.apps.store import Store
from vehiclekit.cli import main as vehiclekit
from vehiclekit.paths import REPO_ROOT
from vehiclekit.video.source import VideoSource, VideoSourceError

TOP_DOWN_LINE = "lane=0,216,768,216"
GIF_LINE = "lane=0,140,300,140"
TARIFF = str(REPO_ROOT / "deploy" / "tariff.example.yaml")


@pytest.fixture(scope="module")
def videos(data_dir):
    return data_dir / "videos"


def count(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert vehiclekit(["count", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("detector", ["motion", "auto"])
def test_top_down_video_counts_match_the_hand_count(capsys, videos, detector):
    summary = count(capsys, str(videos / "parking-lot-top-down.mp4"), "--line", TOP_DOWN_LINE, "--detector", detector)
    assert (summary["in"], summary["out"]) == (2, 2)
    assert summary["by_type"] == {"car": {"in": 2, "out": 2}}
    assert [c["direction"] for c in summary["crossings"]] == ["in", "out", "in", "out"]
    assert [c["frame"] for c in summary["crossings"]] == sorted(c["frame"] for c in summary["crossings"])


@pytest.mark.slow
def test_the_detector_alone_misses_the_cars_seen_from_above(capsys, videos):
    summary = count(capsys, str(videos / "parking-lot-top-down.mp4"), "--line", TOP_DOWN_LINE, "--detector", "yolox")
    assert summary["in"] + summary["out"] < 4


@pytest.mark.parametrize("detector", ["yolox", "auto"])
def test_gif_counts_the_one_car_and_not_the_cyclist(capsys, videos, detector):
    summary = count(capsys, str(videos / "parking-lot-car-bicycle.gif"), "--line", GIF_LINE, "--detector", detector)
    assert (summary["in"], summary["out"], summary["by_type"]) == (1, 0, {"car": {"in": 1, "out": 0}})


def test_crossings_go_to_the_statistics_store_with_their_crops(tmp_path, capsys, videos):
    db = tmp_path / "stats.db"
    summary = count(capsys, str(videos / "parking-lot-top-down.mp4"), "--line", TOP_DOWN_LINE, "--stats-db", str(db),
                    "--crops", str(tmp_path / "crops"), "--start", "2026-11-30T08:00:00+01:00")
    events, vectors = Store(db).events()
    assert [e.direction for e in events] == ["entry", "exit", "entry", "exit"]
    assert {e.gate for e in events} == {"lane"} and {e.vehicle_type for e in events} == {"car"}
    assert vectors.shape[0] == 4 and all(e.image and (tmp_path / "crops").joinpath(e.image).is_file() for e in events)
    first = summary["crossings"][0]
    assert events[0].time.isoformat() == first["time"].replace("+01:00", "+00:00") or events[0].time.hour == 7


def test_annotated_video_has_every_frame(tmp_path, capsys, videos):
    import cv2

    out = tmp_path / "counted.mp4"
    count(capsys, str(videos / "parking-lot-car-bicycle.gif"), "--line", GIF_LINE, "--save-video", str(out))
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 41
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (480, 270)


def test_a_folder_of_frames_is_a_source(tmp_path, videos):
    import cv2

    for frame in VideoSource(videos / "parking-lot-car-bicycle.gif"):
        cv2.imwrite(str(tmp_path / f"{frame.index:04d}.png"), frame.image)
    source = VideoSource(tmp_path, folder_fps=12)
    frames = list(source)
    assert source.frame_count == len(frames) == 41 and frames[12].seconds == pytest.approx(1.0)


@pytest.mark.parametrize("url", ["rtsp://127.0.0.1:9/stream", "http://127.0.0.1:9/video.mjpg"])
def test_an_unreachable_stream_is_a_clear_error_in_bounded_time(url):
    started = time.monotonic()
    with pytest.raises(VideoSourceError, match="cannot open stream .* within 2 s: check the address"):
        VideoSource(url, timeout_s=2)
    assert time.monotonic() - started < 8


def test_a_missing_file_is_a_clear_error_from_the_cli(capsys, tmp_path):
    assert vehiclekit(["count", str(tmp_path / "nope.mp4"), "--line", "0,0,10,10"]) == 1
    assert "is neither a video file, a folder of frames nor a stream URL" in capsys.readouterr().err


@pytest.mark.slow
def test_parking_watch_opens_sessions_from_the_entry_video_and_charges_each_car_its_own_stay(tmp_path, capsys, videos):
    """Entry camera: the cars driving up enter. Exit camera: the same recording two hours later, as if
    the same cars passed the exit camera the same way: each exit must be charged to its own car's
    session (two hours' stay), none to the other car's."""
    db, video = tmp_path / "parking.db", str(videos / "parking-lot-top-down.mp4")
    args = ["parking", "watch", "--db", str(db), "--tariff", TARIFF, "--crops", str(tmp_path / "crops"),
            "--entry", video, "--entry-line", TOP_DOWN_LINE, "--entry-start", "2026-11-30T08:00:00+00:00",
            "--exit", video, "--exit-line", TOP_DOWN_LINE, "--exit-start", "2026-11-30T10:00:00+00:00", "--json"]
    assert vehiclekit(args) == 0
    store = Store(db)
    sessions = store.sessions()
    assert len(sessions) == 2 and all(s.vehicle_type == "car" and s.entry_image for s in sessions)
    assert all((tmp_path / "crops").joinpath(s.entry_image).is_file() for s in sessions)
    assert store.reviews() == []
    for s in sessions:
        assert s.status == "closed" and s.fee is not None and s.exit_gate == "lane"
        assert (s.exit_time - s.entry_time).total_seconds() == pytest.approx(7200, abs=0.01)   # its own crossing
