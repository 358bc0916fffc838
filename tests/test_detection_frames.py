"""Labelled traffic-camera frames: YOLO-format reading, the session split, and the evaluation's matching."""

from __future__ import annotations

import numpy as np
import pytest

from vehiclekit.training.detection.evaluate_frames import match, operating_point
from vehiclekit.training.detection.frames import CCTV_SPLIT, COARSE_CLASS, Frame, cctv_split, read_yolo_folder


@pytest.fixture(scope="module")
def cctv(data_dir):
    return read_yolo_folder(data_dir / "traffic-cctv", size=(640, 640))


def test_every_frame_and_box_is_read_with_its_session(cctv, data_dir):
    assert len(cctv) == len(list((data_dir / "traffic-cctv" / "images").glob("*.jpg")))
    assert sum(len(f.labels) for f in cctv) == sum(1 for p in (data_dir / "traffic-cctv" / "labels").glob("*.txt") for line in p.read_text().splitlines() if line.strip())
    assert {f.session for f in cctv} == {"adit_mp4", "aditganteng_mp4", "malam_04112021_mp4", "siang_15112021_1_mp4"}
    boxes = np.concatenate([f.boxes for f in cctv])
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes >= 0).all() and (boxes <= 640).all()


def test_split_is_by_session_with_the_night_cut_in_time(cctv):
    parts = {name: cctv_split(cctv, name) for name in CCTV_SPLIT}
    paths = [{f.path for f in frames} for frames in parts.values()]
    assert sum(len(p) for p in paths) == len(set().union(*paths))  # disjoint
    sessions = {name: {f.session for f in frames} for name, frames in parts.items()}
    assert not sessions["val"] & sessions["train"] and not sessions["test-day"] & sessions["train"]
    night_train = max(f.index for f in parts["train"] if f.session == "malam_04112021_mp4")
    assert min(f.index for f in parts["test-night"]) - night_train >= 40  # ten sampled frames apart
    with pytest.raises(ValueError, match="unknown traffic-cctv split"):
        cctv_split(cctv, "train-all")


def test_every_class_of_both_datasets_has_a_coarse_class(data_dir):
    for name in ("traffic-cctv", "openimages-vehicles"):
        classes = (data_dir / name / "classes.txt").read_text().split("\n")
        assert all(c in COARSE_CLASS for c in classes if c.strip())


def test_operating_point_counts_recall_precision_and_type_fit():
    boxes = np.array([[0, 0, 40, 40], [100, 100, 140, 140], [200, 200, 210, 210], [300, 300, 400, 360]], dtype=np.float32)
    frame = Frame(path=None, session="s", index=0, width=640, height=640, boxes=boxes, labels=("car", "car", "car", "big truck"))
    found = [((1, 1, 41, 41), "suv"),  # car found, type fits
             ((300, 300, 400, 362), "bus"),  # truck found, type does not fit
             ((200, 200, 210, 210), "car"),  # a vehicle under 24 px: counts neither way
             ((500, 500, 560, 560), "car")]  # nothing there
    result = operating_point([frame], [found])
    assert result["gt_vehicles"] == 3 and result["recall"] == pytest.approx(2 / 3)
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["type_fit"] == pytest.approx(1 / 2)
    assert result["confusion"] == {"car->suv": 1, "truck->bus": 1}
    assert match(boxes[:1], np.array([[0, 0, 40, 40], [1, 1, 40, 40]], dtype=np.float32)) == [(0, 0)]  # one box, one match
