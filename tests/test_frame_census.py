"""Vehicles in view per frame in a folder of real CCTV frames (``vehiclekit stats frames``), checked
against the frames' labels; natural frame order; the count-agreement metric."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vehiclekit.apps.frame_census import Census, FrameCount, take_census, write_census
from vehiclekit.cli import main
from vehiclekit.sdk import VehicleDetector, VehicleRecognizer
from vehiclekit.sdk.image import image_files
from vehiclekit.training.detection.evaluate_frames import count_agreement
from vehiclekit.training.detection.frames import Frame, cctv_split, read_yolo_folder
from vehiclekit.video.source import VideoSource

DAY_TEST_FRAMES = 6


@pytest.fixture(scope="module")
def day_frames(data_dir) -> list[Frame]:
    """The first frames of the held-out day session, with their labels."""
    frames = read_yolo_folder(data_dir / "traffic-cctv", size=(640, 640))
    return cctv_split(frames, "test-day")[:DAY_TEST_FRAMES]


@pytest.fixture(scope="module")
def frame_folder(day_frames, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    for frame in day_frames:
        shutil.copy(frame.path, folder / frame.path.name)
    return folder


def test_frames_are_read_in_natural_order(tmp_path):
    for name in ("cam-10.jpg", "cam-2.jpg", "cam-1.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in image_files(tmp_path)] == ["cam-1.png", "cam-2.jpg", "cam-10.jpg"]
    assert [p.name for p in VideoSource(tmp_path).files] == ["cam-1.png", "cam-2.jpg", "cam-10.jpg"]


def test_census_counts_about_the_labelled_vehicles_of_held_out_frames(day_frames, frame_folder):
    recognizer = VehicleRecognizer(detector=VehicleDetector(model="yolox-nano-traffic"), min_box_size=24)
    census = take_census(image_files(frame_folder), recognizer, progress=False)
    assert [f.frame for f in census.frames] == [f.path.name for f in day_frames]
    found = [[(v.detection.bbox, v.classification.label) for v in recognizer.recognize(f.path)] for f in day_frames]
    agreement = count_agreement(day_frames, found)
    summary = census.summary()
    assert summary["vehicle_frames"] == agreement["all"]["counted"]
    # the traffic detector finds about 90 % of these vehicles, and the labels miss some it finds
    assert abs(agreement["all"]["counted"] - agreement["all"]["labelled"]) <= 0.25 * agreement["all"]["labelled"]
    assert agreement["all"]["mean_abs_error"] <= 3
    assert summary["by_class"]["car"]["vehicle_frames"] > summary["by_class"]["bus"]["vehicle_frames"]


def test_count_agreement_compares_vehicles_of_each_class_frame_by_frame():
    boxes = np.array([[0, 0, 50, 50], [100, 100, 140, 160], [0, 0, 10, 10]], np.float32)
    frame = Frame(Path("f-1.jpg"), "f", 1, 640, 640, boxes, ("car", "big truck", "car"))   # the 10 px car is too small
    found = [((0, 0, 50, 50), "suv"), ((100, 100, 140, 160), "bus"), ((300, 300, 330, 340), "car")]
    agreement = count_agreement([frame, frame], [found, []])
    assert agreement["car"] == {"labelled": 2, "counted": 2, "mean_abs_error": 1.0}
    assert agreement["truck"] == {"labelled": 2, "counted": 0, "mean_abs_error": 1.0}
    assert agreement["bus"]["counted"] == 1
    assert agreement["all"] == {"labelled": 4, "counted": 3, "mean_abs_error": 1.5}


def test_census_files_hold_every_frame_and_the_summary(tmp_path):
    census = Census((FrameCount("a.jpg", {"car": 2, "suv": 1}), FrameCount("b.jpg", {"heavy-truck": 1})), 24)
    written = write_census(census, tmp_path)
    assert {p.name for p in written} == {"frames.csv", "census.json", "census.png"}
    rows = (tmp_path / "frames.csv").read_text().splitlines()
    assert rows[0].startswith("frame,total,motorcycle,car,suv") and rows[1].startswith("a.jpg,3,0,2,1")
    summary = json.loads((tmp_path / "census.json").read_text())
    assert summary["by_class"]["car"] == {"vehicle_frames": 3, "mean_in_view": 1.5, "max_in_view": 3}
    assert summary["by_class"]["truck"]["vehicle_frames"] == 1 and summary["max_in_view"] == 3


def test_stats_frames_command_writes_the_census(frame_folder, tmp_path, capsys):
    assert main(["stats", "frames", str(frame_folder), "--out", str(tmp_path / "out"), "--json", "--no-plots"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == DAY_TEST_FRAMES and summary["vehicle_frames"] > 0
    assert len((tmp_path / "out" / "frames.csv").read_text().splitlines()) == DAY_TEST_FRAMES + 1


def test_stats_frames_refuses_a_folder_without_images(tmp_path, capsys):
    assert main(["stats", "frames", str(tmp_path)]) == 1
    assert "holds no images" in capsys.readouterr().err
