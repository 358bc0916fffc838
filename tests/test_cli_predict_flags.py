"""``vehiclekit predict`` with flags other than the defaults: NMS threshold, minimum box size,
another zoo model or model file, another detector file, int8."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vehiclekit.cli import main
from vehiclekit.models import zoo
from vehiclekit.paths import models_dir

STREET = "000000125870.jpg"        # a busy street: many overlapping candidate boxes
V1_LABELS = {"bike", "car", "juggernaut", "minibus", "pickup", "truck"}


def vehicles(capsys, *args: str) -> list[dict]:
    assert main(["predict", "--json", *args]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    return json.loads(line)["vehicles"]


@pytest.fixture(scope="module")
def street(coco_dir: Path) -> str:
    return str(coco_dir / "images" / STREET)


def test_iou_threshold_and_min_box_size_reach_the_detector(street, capsys):
    loose = vehicles(capsys, street, "--score-threshold", "0.05", "--iou-threshold", "0.9", "--min-box-size", "1")
    strict = vehicles(capsys, street, "--score-threshold", "0.05", "--iou-threshold", "0.1", "--min-box-size", "1")
    assert len(loose) > len(strict) > 0
    big = vehicles(capsys, street, "--score-threshold", "0.05", "--iou-threshold", "0.1", "--min-box-size", "60")
    assert 0 < len(big) < len(strict)
    # the crop is cut on whole pixels, so a box may be up to a pixel narrower than its crop
    assert all(min(v["bbox"][2] - v["bbox"][0], v["bbox"][3] - v["bbox"][1]) > 59 for v in big)


def test_another_zoo_model_or_model_file_classifies(data_dir: Path, capsys):
    crop = str(next((data_dir / "vehicle-types" / "bus").glob("*.jpg"), None) or
               next((data_dir / "vehicle-types" / "minibus").glob("*.jpg")))
    (by_name,) = vehicles(capsys, crop, "--whole-image", "always", "--model", "vehicle-type@1")
    assert by_name["classification"]["label"] in V1_LABELS and by_name["classification"]["model_version"] == "1"
    (by_file,) = vehicles(capsys, crop, "--whole-image", "always", "--model-path", str(zoo.get("vehicle-type@1").path))
    assert by_file["classification"] == by_name["classification"]


def test_detector_path_and_int8(street, capsys):
    default = vehicles(capsys, street)
    assert vehicles(capsys, street, "--detector-path", str(models_dir() / "yolox_nano.onnx")) == default
    int8 = vehicles(capsys, street, "--precision", "int8")
    assert [v["bbox"] for v in int8] == [v["bbox"] for v in default]          # the detector stays fp32
    assert {v["classification"]["model"] for v in int8} == {"vehicle-type"}
