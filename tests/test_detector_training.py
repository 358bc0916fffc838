"""``train-vehicle detector`` end to end on a few real CCTV frames (with distillation on the photos and
partial car labels): a run directory, the val score per epoch, and an exported ONNX that the SDK
loads at the chosen size; a second run into it is refused."""

from __future__ import annotations

import json

import pytest

from vehiclekit.sdk import VehicleDetector, load_image
from vehiclekit.training.cli import main


@pytest.mark.slow
def test_a_short_run_exports_a_detector_the_sdk_reads(tmp_path, data_dir):
    out = tmp_path / "run"
    common = ["detector", "--limit", "8", "--epoch-frames", "8", "--batch-size", "4", "--size", "320", "--crop", "256",
              "--replay-share", "0.5", "--data-root", str(data_dir), "--out", str(out), "--threads", "2"]
    assert main([*common, "--epochs", "1", "--distill", "1", "--car-label", "partial"]) == 0
    history = json.loads((out / "history.json").read_text())
    entry = history[0]
    assert len(history) == 1 and entry["train_loss"] > 0
    assert entry["train_kd_obj"] > 0 and entry["train_kd_cls"] > 0  # the photos were distilled
    # scored on the camera's val session and on the held-back photos; the run keeps the best mean
    assert 0.0 <= entry["camera_AP50_vehicle"] <= 1.0 and 0.0 <= entry["photos_AP50_vehicle"] <= 1.0
    assert entry["val_score"] == pytest.approx((entry["camera_AP50_vehicle"] + entry["photos_AP50_vehicle"]) / 2, abs=1e-4)
    with pytest.raises(SystemExit, match="already holds a run"):
        main([*common, "--epochs", "1"])
    detector = VehicleDetector(model_path=out / "detector.onnx")
    assert detector.input_size == (320, 320)
    frame = load_image(sorted((data_dir / "traffic-cctv" / "images").glob("siang_*.jpg"))[0])
    assert detector.detect(frame), "a fine-tuned detector finds vehicles in a held-out CCTV frame"
