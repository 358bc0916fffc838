"""A new camera's frames with boxes as labelled crops (`train-vehicle supervised --boxes DIR --class-map
FILE`): the operator's classes through the map, a split by time within each recording session, the
errors, and a tiny real training run and export on real CCTV frames."""

import json
import shutil
from pathlib import Path

import pytest

from vehiclekit.errors import DatasetError
from vehiclekit.paths import REPO_ROOT
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.core.box_crops import own_box_crops, read_class_map
from vehiclekit.training.detection.frames import read_yolo_folder

#: issue 31's operator classes for the toll-road camera's two labelling schemes
OPERATOR_MAP = (REPO_ROOT / "deploy" / "class-maps" / "traffic-cctv-operator.csv").read_text()
SESSIONS = {"siang_15112021_1_mp4": 40, "aditganteng_mp4": 40}   # frames taken from each, in order


@pytest.fixture(scope="module")
def camera(data_dir, tmp_path_factory) -> Path:
    """A YOLO folder of the first frames of two recording sessions of the shared CCTV camera."""
    source = data_dir / "traffic-cctv"
    folder = tmp_path_factory.mktemp("camera")
    (folder / "images").mkdir()
    (folder / "labels").mkdir()
    shutil.copy(source / "classes.txt", folder / "classes.txt")
    frames = read_yolo_folder(source, size=(640, 640))
    for session, count in SESSIONS.items():
        for frame in [f for f in frames if f.session == session][:count]:
            (folder / "images" / frame.path.name).symlink_to(frame.path)
            label = source / "labels" / f"{frame.path.stem}.txt"
            if label.is_file():
                (folder / "labels" / label.name).symlink_to(label)
    (folder / "map.csv").write_text(OPERATOR_MAP)
    return folder


def frame_number(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


def test_crops_are_split_by_time_within_each_session(camera):
    parts = own_box_crops(camera, camera / "map.csv", min_side=24)
    assert parts["train"].classes == ("bus", "car", "large-truck", "medium-truck", "small-truck")
    for session in SESSIONS:
        frames = {split: {frame_number(p) for p in data.paths if p.name.startswith(session)} for split, data in parts.items()}
        assert max(frames["train"]) < min(frames["val"]) <= max(frames["val"]) < min(frames["test"])
    files = {split: set(data.paths) for split, data in parts.items()}
    assert not (files["train"] & files["val"] or files["val"] & files["test"] or files["train"] & files["test"])
    for data in parts.values():
        assert len(data.boxes) == len(data) and all(min(x2 - x1, y2 - y1) >= 24 for x1, y1, x2, y2 in data.boxes)


def test_every_class_must_be_mapped_and_the_map_must_make_a_classifier(camera, tmp_path):
    partial = tmp_path / "partial.csv"
    partial.write_text("car,car\nbig bus,bus\n")
    with pytest.raises(DatasetError, match="no row for class"):
        own_box_crops(camera, partial, 24)
    one = tmp_path / "one.csv"
    one.write_text("".join(f"{line.split(',')[0]},vehicle\n" for line in OPERATOR_MAP.splitlines()[1:]))
    with pytest.raises(DatasetError, match="a classifier needs two or more"):
        own_box_crops(camera, one, 24)
    with pytest.raises(DatasetError, match="does not exist"):
        read_class_map(tmp_path / "missing.csv")
    assert read_class_map(camera / "map.csv")["truck-xl-"] == "large-truck"


def test_a_class_mapped_to_nothing_is_left_out(camera, tmp_path):
    only_cars_and_buses = tmp_path / "map.csv"
    only_cars_and_buses.write_text("\n".join(line if line.split(",")[1] in ("car", "bus") else line.split(",")[0] + ","
                                             for line in OPERATOR_MAP.splitlines()[1:]) + "\n")
    parts = own_box_crops(camera, only_cars_and_buses, 24)
    assert parts["test"].classes == ("bus", "car")


def test_training_on_the_crops_of_a_new_camera_and_export(camera, tmp_path):
    out = tmp_path / "run"
    args = ["supervised", "--boxes", str(camera), "--class-map", str(camera / "map.csv"), "--epochs", "1",
            "--img-size", "32", "--batch-size", "16", "--workers", "0", "--threads", "1", "--out", str(out)]
    assert train_vehicle(args) == 0
    split = json.loads((out / "split.json").read_text())
    assert split["classes"] == ["bus", "car", "large-truck", "medium-truck", "small-truck"]
    assert all(len(row) == 3 and len(row[2]) == 4 for row in split["test"])     # path, class, box
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == len(split["test"])
    assert train_vehicle(["export", str(out), "-o", str(tmp_path / "camera.onnx"), "--name", "toll-road-types"]) == 0


def test_detector_crops_of_the_frames_are_saved_for_the_unlabelled_pool(camera, tmp_path, capsys):
    from vehiclekit.cli import main as vehiclekit

    frames = sorted((camera / "images").iterdir())[:3]
    args = ["predict", *map(str, frames), "--detector", "yolox-nano-traffic", "--min-box-size", "24",
            "--save-crops", str(tmp_path / "crops"), "--json"]
    assert vehiclekit(args) == 0
    found = sum(len(json.loads(line)["vehicles"]) for line in capsys.readouterr().out.splitlines())
    crops = sorted((tmp_path / "crops").glob("*.jpg"))
    assert found > 10 and len(crops) == found
    assert {c.name.rsplit("-", 1)[0] for c in crops} == {f.stem for f in frames}


@pytest.mark.slow
def test_ups_on_a_new_cameras_crops_with_its_unlabelled_detector_crops(camera, tmp_path):
    from vehiclekit.cli import main as vehiclekit

    frames = sorted((camera / "images").iterdir())[::10]
    assert vehiclekit(["predict", *map(str, frames), "--detector", "yolox-nano-traffic", "--min-box-size", "24",
                       "--save-crops", str(tmp_path / "unlabelled")]) == 0
    out = tmp_path / "ups"
    args = ["finetune", "--boxes", str(camera), "--class-map", str(camera / "map.csv"), "--unlabeled", str(tmp_path / "unlabelled"),
            "--method", "ups", "--iterations", "2", "--labels-fraction", "0.2", "--img-size", "32", "--epochs-per-iteration", "1",
            "--min-samples-per-epoch", "64", "--batch-size", "16", "--mc-passes", "3", "--threads", "1", "--workers", "0",
            "--tau-p", "0.3", "--kappa-p", "0.5", "--tau-n", "0.3", "--kappa-n", "0.5", "--out", str(out)]
    assert train_vehicle(args) == 0
    assert json.loads((out / "split.json").read_text())["classes"] == ["bus", "car", "large-truck", "medium-truck", "small-truck"]
    assert (out / "metrics.json").is_file()
