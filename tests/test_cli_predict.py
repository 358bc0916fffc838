"""``vehiclekit predict``: output lines, JSON, annotated images, whole-image mode and error handling.

The console script itself runs in subprocesses (as ``make demo`` does); the rest calls
``vehiclekit.cli.main`` in-process, which is faster.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from vehiclekit import VehicleClassifier
from vehiclekit.cli import main
from vehiclekit.models.zoo import VEHICLE_TYPES
from vehiclekit.training.classifier.vehicle_type_v2 import VEHICLE_TYPES as VEHICLE_TYPES_TO_V2

SCRIPT = Path(sys.executable).parent / "vehiclekit"
TYPES = "|".join(VEHICLE_TYPES)
LINE = re.compile(
    rf"^(?P<image>\S+)  bbox=\[(?P<bbox>\d+, \d+, \d+, \d+)\]  "
    rf"detected=(?P<detected>(car|bus|truck|motorcycle|bicycle) [01]\.\d\d|none \(whole image\))  "
    rf"type=(?P<type>{TYPES}) [01]\.\d\d$"
)
BUS_IMAGE = "000000252639.jpg"


def run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="module")
def images(coco_dir, data_dir, coco_vehicle_boxes) -> dict[str, Path]:
    empty = sorted(name for name, boxes in coco_vehicle_boxes.items() if not boxes)[0]
    return {
        "bus": coco_dir / "images" / BUS_IMAGE,
        "empty": coco_dir / "images" / empty,
        "crop": data_dir / "vehicle-types" / "juggernaut" / "juggernaut1.jpg",
    }


def test_demo_run(tmp_path):
    """What ``make demo`` runs: sample images in, one line per vehicle out, annotated copies saved."""
    out = tmp_path / "demo-output"
    result = run_script("predict", "--data-samples", "--save-annotated", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert all(LINE.match(line) for line in lines), result.stdout
    images = {LINE.match(line)["image"] for line in lines}
    assert len([i for i in images if i.startswith("coco-vehicles/")]) == 4
    crops = [LINE.match(line) for line in lines if line.startswith("vehicle-types/")]
    assert len(crops) == 6 and all(m["detected"] == "none (whole image)" for m in crops)
    folder_as_type = {m["image"]: VEHICLE_TYPES_TO_V2[m["image"].split("/")[1]] for m in crops}   # bike -> motorcycle, ...
    assert sum(folder_as_type[m["image"]] == m["type"].split()[0] for m in crops) >= 5  # held-out images
    saved = sorted(p.name for p in out.iterdir())
    assert len(saved) == 10 and all(cv2.imread(str(out / name)) is not None for name in saved)


def test_one_line_per_vehicle(images, coco_vehicle_boxes, box_iou, capsys):
    assert main(["predict", str(images["bus"]), str(images["empty"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"{images['empty']}  no vehicles"
    matches = [LINE.match(line) for line in lines[:-1]]
    assert len(matches) >= 3 and all(m and m["image"] == str(images["bus"]) for m in matches), lines
    bus_gt = next(box for label, box in coco_vehicle_boxes[BUS_IMAGE] if label == "bus")
    buses = [tuple(map(float, m["bbox"].split(", "))) for m in matches if m["detected"].startswith("bus")]
    assert any(box_iou(bus_gt, box) > 0.5 for box in buses)


def test_json_lines(images, capsys):
    assert main(["predict", "--json", str(images["bus"]), str(images["crop"]), str(images["empty"])]) == 0
    bus, crop, empty = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert bus["image"] == str(images["bus"]) and (bus["width"], bus["height"]) == (640, 427)
    assert any(v["detection"]["label"] == "bus" for v in bus["vehicles"])
    assert all(set(v) == {"bbox", "detection", "classification"} for v in bus["vehicles"])
    assert crop["vehicles"] == [
        {"bbox": [0.0, 0.0, 100.0, 100.0], "detection": None, "classification": crop["vehicles"][0]["classification"]}
    ]
    prediction_keys = {"label", "confidence", "probabilities", "model", "model_version"}
    assert set(crop["vehicles"][0]["classification"]) == prediction_keys
    assert empty["vehicles"] == []


def test_whole_image_modes(images, capsys):
    assert main(["predict", "--whole-image", "always", str(images["bus"])]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert LINE.match(line)["detected"] == "none (whole image)" and "bbox=[0, 0, 640, 427]" in line
    assert main(["predict", "--whole-image", "never", "--score-threshold", "0.99", str(images["crop"])]) == 0
    assert capsys.readouterr().out == f"{images['crop']}  no vehicles\n"


def test_annotated_files_get_unique_names(images, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(images["crop"], tmp_path / folder / "same.jpg")
    out = tmp_path / "out"
    args = ["predict", str(tmp_path / "a" / "same.jpg"), str(tmp_path / "b" / "same.jpg"), str(images["bus"])]
    assert main([*args, "--save-annotated", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [BUS_IMAGE, "same-2.jpg", "same.jpg"]
    assert cv2.imread(str(out / BUS_IMAGE)).shape == (427, 640, 3)
    assert f"annotated images written to {out}" in capsys.readouterr().err


def test_bad_images_are_reported_and_the_rest_processed(images, tmp_path, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    status = main(["predict", str(tmp_path / "missing.jpg"), str(text), str(images["bus"])])
    captured = capsys.readouterr()
    assert status == 1
    errors = captured.err.splitlines()
    assert len(errors) == 2 and all(line.startswith("vehiclekit: error: ") for line in errors)
    assert "missing.jpg: image file" in errors[0] and "does not exist" in errors[0]
    assert "notes.jpg" in errors[1] and "not a decodable image" in errors[1]
    assert str(images["bus"]) in captured.out


def test_fatal_errors_are_one_line_without_traceback(images, tmp_path):
    no_detector = run_script("predict", str(images["bus"]), env={"VEHICLEKIT_DETECTOR": str(tmp_path / "none.onnx")})
    assert no_detector.returncode == 1 and no_detector.stdout == ""
    assert no_detector.stderr.count("\n") == 1 and "VEHICLEKIT_DETECTOR" in no_detector.stderr
    no_data = run_script("predict", "--data-samples", "--data", str(tmp_path / "nowhere"))
    assert no_data.returncode == 1 and no_data.stderr.startswith("vehiclekit: error: data root")
    assert "Traceback" not in no_detector.stderr + no_data.stderr


def test_usage_errors_exit_2(capsys):
    assert main(["predict"]) == 2
    assert "give at least one IMAGE, or --data-samples" in capsys.readouterr().err
    for argv in (["predict", "x.jpg", "--score-threshold", "1.5"], []):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2


def test_help_explains_output_and_whole_image_mode(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    help_text = capsys.readouterr().out
    needles = ("--data-samples", "--save-annotated", "--json", "whole-image mode", "VEHICLEKIT_DATA", "exit status")
    assert all(needle in help_text for needle in needles)


def test_attributes_for_cars_only(coco_dir, capsys):
    """--attributes make,model: each car/SUV/van/pickup carries both, in text and JSON; others none."""
    street = coco_dir / "images" / "000000423617.jpg"  # 2 buses, 5 cars
    assert main(["predict", str(street), "--attributes", "make,model", "--json"]) == 0
    vehicles = json.loads(capsys.readouterr().out)["vehicles"]
    cars = [v for v in vehicles if v["classification"]["label"] in ("car", "suv", "van", "pickup")]
    assert cars and len(cars) < len(vehicles)
    for v in vehicles:
        assert (v in cars) == ("attributes" in v)
    makes = VehicleClassifier(model="vehicle-make").labels
    for v in cars:
        assert set(v["attributes"]) == {"make", "model"} and v["attributes"]["make"]["label"] in makes
        assert len(v["attributes"]["model"]["probabilities"]) == 196
    assert main(["predict", str(street), "--attributes", "make"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum("  make=" in line for line in lines) == len(cars)
