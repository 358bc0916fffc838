"""Export a YOLOX-Nano network to the detector's ONNX contract: input ``images`` ``[1, 3, H, W]``
(BGR 0-255, letterboxed), output ``output`` ``[1, A, 85]`` (what :class:`~vehiclekit.sdk.VehicleDetector`
decodes), checked against the network on a real frame."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from vehiclekit.models.yolox import Exportable, YOLOXNano

OPSET = 18


def export_detector(model: YOLOXNano, path: str | os.PathLike, size: int, check_image: np.ndarray | None = None) -> Path:
    """Write ``model`` as ONNX for ``size`` x ``size`` inputs (fixed batch 1, as the COCO file) to
    ``path``; with ``check_image`` (a ``[3, size, size]`` letterboxed frame) ONNX Runtime's output must
    match the network's within 1e-3."""
    import onnx
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.from_numpy(check_image[None]) if check_image is not None else torch.full((1, 3, size, size), 114.0)
    wrapped = Exportable(model).eval()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmp_path = Path(tmp) / "detector.onnx"
        torch.onnx.export(wrapped, (example,), str(tmp_path), dynamo=True, opset_version=OPSET, input_names=["images"],
                          output_names=["output"], external_data=False, verbose=False)
        onnx.save(onnx.load(str(tmp_path)), str(path))
    if check_image is not None:
        with torch.no_grad():
            expected = wrapped(example).numpy()
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"images": example.numpy()})[0]
        if not np.allclose(got, expected, atol=1e-3):
            raise RuntimeError(f"{path}: ONNX Runtime differs from the network by {np.abs(got - expected).max():.2g}")
    return path
