"""``vehicle_pipeline``: one encoded image in; every vehicle's box, detector label and score, its
type and, when the request asks for ``embeddings``, its re-ID embedding. The SDK's
:class:`VehicleRecognizer` (decode and validate, detect, crop, classify and embed the crops in one
batch each) running on ``yolox_nano``, ``vehicle_type`` and ``vehicle_reid`` via BLS."""

from __future__ import annotations

import functools
from typing import Any

import triton_python_backend_utils as pb_utils

from vehiclekit.sdk.classifier import VehicleClassifier
from vehiclekit.sdk.detector import VehicleDetector
from vehiclekit.sdk.recognizer import VehicleRecognizer
from vehiclekit.sdk.reid import VehicleReID
from vehiclekit.serving.backend.bls import BlsSession
from vehiclekit.serving.backend.responses import config_parameters, respond_each
from vehiclekit.serving.backend.tensors import image_bytes, recognition_tensors, request_parameters
from vehiclekit.models.serving_contract import (
    CLASSIFIER,
    DETECTOR_NETWORK,
    EMBEDDINGS,
    IOU_THRESHOLD,
    MIN_BOX_SIZE,
    REID,
    SCORE_THRESHOLD,
)

PARAMETERS = (SCORE_THRESHOLD, IOU_THRESHOLD, MIN_BOX_SIZE)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        parameters = config_parameters(args)
        self.classifier = VehicleClassifier(session=BlsSession.from_parameters(CLASSIFIER, parameters))
        self.network = BlsSession.from_parameters(DETECTOR_NETWORK, parameters)
        self.reid = VehicleReID(session=BlsSession.from_parameters(REID, parameters))

    @functools.lru_cache(maxsize=16)
    def recognizer(
        self, score_threshold: float | None, iou_threshold: float | None, min_box_size: float | None, embed: bool
    ) -> VehicleRecognizer:
        """A recognizer per parameter set clients ask for (None: the SDK default)."""
        thresholds = {SCORE_THRESHOLD: score_threshold, IOU_THRESHOLD: iou_threshold}
        detector = VehicleDetector(session=self.network, **{k: v for k, v in thresholds.items() if v is not None})
        reid = self.reid if embed else None
        if min_box_size is None:
            return VehicleRecognizer(self.classifier, detector, reid=reid)
        if not min_box_size.is_integer():
            raise ValueError(f"request parameter {MIN_BOX_SIZE!r} must be a whole number of pixels, got {min_box_size}")
        return VehicleRecognizer(self.classifier, detector, min_box_size=int(min_box_size), reid=reid)

    def execute(self, requests: list[Any]) -> list[pb_utils.InferenceResponse]:
        return respond_each(requests, self._recognize)

    def _recognize(self, request: Any) -> list[pb_utils.Tensor]:
        chosen = request_parameters(request, PARAMETERS)
        embed = EMBEDDINGS in request.requested_output_names()
        recognizer = self.recognizer(*(chosen.get(name) for name in PARAMETERS), embed)
        vehicles = recognizer.recognize(image_bytes(request))
        return recognition_tensors(vehicles, self.classifier.labels, self.reid.dim if embed else None)
