"""The trainable YOLOX-Nano: the COCO ONNX's weights rebuilt in PyTorch give ONNX Runtime's outputs,
BatchNorm calibration and folding keep the function, and an export is read by the SDK unchanged."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vehiclekit.models.yolox import YOLOXNano, calibrate_batchnorm, fold_batchnorm, load_onnx_weights
from vehiclekit.paths import models_dir
from vehiclekit.sdk import VehicleDetector, load_image
from vehiclekit.sdk.detector import letterbox
from vehiclekit.training.detection.export import export_detector

COCO_ONNX = models_dir() / "yolox_nano.onnx"


@pytest.fixture(scope="module")
def frames(data_dir):
    paths = sorted((data_dir / "traffic-cctv" / "images").glob("malam_*.jpg"))[:2] + sorted((data_dir / "traffic-cctv" / "images").glob("adit_*.jpg"))[:2]
    return [load_image(p) for p in paths]


@pytest.fixture(scope="module")
def coco_reference(frames):
    session = ort.InferenceSession(str(COCO_ONNX), providers=["CPUExecutionProvider"])
    tensor = letterbox(frames[2], (416, 416))[0][None]
    return tensor, session.run(None, {"images": tensor})[0]


def test_rebuilt_network_matches_onnx_runtime(coco_reference):
    tensor, expected = coco_reference
    model = load_onnx_weights(YOLOXNano(), COCO_ONNX).eval()
    with torch.no_grad():
        got = model.predict(torch.from_numpy(tensor)).numpy()
    assert got.shape == expected.shape == (1, 3549, 85)
    assert np.abs(got - expected).max() < 1e-3


def test_calibration_and_folding_keep_the_function(frames, coco_reference):
    tensor, expected = coco_reference
    model = load_onnx_weights(YOLOXNano(), COCO_ONNX)
    stem_before = model.backbone.stem.conv.weight.abs().mean().item()
    calibrate_batchnorm(model, torch.from_numpy(np.stack([letterbox(f, (416, 416))[0] for f in frames])))
    # the stem's folded weights (0-255 input) are rescaled to a trainable size
    assert model.backbone.stem.conv.weight.abs().mean().item() > 10 * stem_before
    with torch.no_grad():
        assert np.abs(model.eval().predict(torch.from_numpy(tensor)).numpy() - expected).max() < 1e-3
        fold_batchnorm(model)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
        assert np.abs(model.predict(torch.from_numpy(tensor)).numpy() - expected).max() < 1e-3


def test_export_gives_the_sdk_the_same_detections(tmp_path, frames):
    model = fold_batchnorm(load_onnx_weights(YOLOXNano(), COCO_ONNX).eval())
    path = export_detector(model, tmp_path / "detector.onnx", 416, letterbox(frames[3], (416, 416))[0])
    exported, reference = VehicleDetector(model_path=path), VehicleDetector(model_path=COCO_ONNX)
    for frame in frames:
        got, expected = exported.detect(frame), reference.detect(frame)
        assert [d.label for d in got] == [d.label for d in expected]
        assert np.allclose([d.bbox for d in got], [d.bbox for d in expected], atol=0.5)


def test_a_network_that_is_not_yolox_nano_is_refused(tmp_path):
    from vehiclekit.models.zoo import get

    with pytest.raises(ValueError, match="not a YOLOX-Nano export"):
        load_onnx_weights(YOLOXNano(), get("vehicle-type").path)

