"""``vehicle_detector``: one encoded image in, vehicles out. The SDK's :class:`VehicleDetector`
(image validation, letterbox, YOLOX decoding, class-aware NMS) running on ``yolox_nano`` via BLS."""

from __future__ import annotations

import functools
from typing import Any

import triton_python_backend_utils as pb_utils

from vehiclekit.sdk.detector import VehicleDetector
from vehiclekit.serving.backend.bls import BlsSession
from vehiclekit.serving.backend.responses import config_parameters, respond_each
from vehiclekit.serving.backend.tensors import detection_tensors, image_bytes, request_parameters
from vehiclekit.models.serving_contract import DETECTOR_NETWORK, IOU_THRESHOLD, SCORE_THRESHOLD

THRESHOLDS = (SCORE_THRESHOLD, IOU_THRESHOLD)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.network = BlsSession.from_parameters(DETECTOR_NETWORK, config_parameters(args))

    @functools.lru_cache(maxsize=16)
    def detector(self, score_threshold: float | None, iou_threshold: float | None) -> VehicleDetector:
        """A detector per threshold pair clients ask for (None: the SDK default)."""
        chosen = {SCORE_THRESHOLD: score_threshold, IOU_THRESHOLD: iou_threshold}
        return VehicleDetector(session=self.network, **{k: v for k, v in chosen.items() if v is not None})

    def execute(self, requests: list[Any]) -> list[pb_utils.InferenceResponse]:
        return respond_each(requests, self._detect)

    def _detect(self, request: Any) -> list[pb_utils.Tensor]:
        thresholds = request_parameters(request, THRESHOLDS)
        detector = self.detector(*(thresholds.get(name) for name in THRESHOLDS))
        return detection_tensors(detector.detect(image_bytes(request)))
