"""``vehicle_pipeline``: one encoded image in; every vehicle's box, detector label and score, its
type and, when the request asks for them, its re-ID embedding (``embeddings``) and its
make-model-year probabilities (``model_probabilities``). The SDK's :class:`VehicleRecognizer`
(decode and validate, detect, crop, classify and embed the crops in one batch each) running on
``yolox_nano``, ``vehicle_type``, ``vehicle_reid`` and ``vehicle_model``.

How it reaches those four networks is the repository's choice (config parameter
:data:`~vehiclekit.models.serving_contract.PIPELINE_SESSIONS`): ``bls`` sends each network call to
the served model (gpu flavor: the networks stay on the GPU, shared by every caller); ``in-process``
opens the same ONNX files from the repository in this stub with ONNX Runtime (cpu flavor: no
tensor round trips through the server, so a request costs what ``recognize`` costs in process)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import triton_python_backend_utils as pb_utils

from vehiclekit.sdk.classifier import VehicleClassifier
from vehiclekit.sdk.detector import VehicleDetector
from vehiclekit.sdk.recognizer import VehicleRecognizer
from vehiclekit.sdk.reid import VehicleReID
from vehiclekit.sdk.session import create_session
from vehiclekit.serving.backend.bls import BlsSession
from vehiclekit.serving.backend.responses import config_parameters, respond_each
from vehiclekit.serving.backend.tensors import image_bytes, recognition_tensors, request_parameters
from vehiclekit.models.serving_contract import (
    ATTRIBUTES,
    CLASSIFIER,
    DETECTOR_NETWORK,
    DUPLICATE_IOU,
    DETECTOR_TYPE_SCORE,
    EMBEDDINGS,
    IOU_THRESHOLD,
    MIN_BOX_SIZE,
    MODEL_PROBABILITIES,
    PIPELINE_SESSIONS,
    REID,
    SCORE_THRESHOLD,
)

PARAMETERS = (SCORE_THRESHOLD, IOU_THRESHOLD, MIN_BOX_SIZE, DUPLICATE_IOU, DETECTOR_TYPE_SCORE)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        session = session_opener(args)
        self.classifier = VehicleClassifier(session=session(CLASSIFIER))
        self.network = session(DETECTOR_NETWORK)
        self.reid = VehicleReID(session=session(REID))
        self.attributes = VehicleClassifier(session=session(ATTRIBUTES))

    @functools.lru_cache(maxsize=16)
    def recognizer(
        self, score_threshold: float | None, iou_threshold: float | None, min_box_size: float | None,
        duplicate_iou: float | None, detector_type_score: float | None, embed: bool, models: bool,
    ) -> VehicleRecognizer:
        """A recognizer per parameter set clients ask for (None: the SDK default)."""
        thresholds = {SCORE_THRESHOLD: score_threshold, IOU_THRESHOLD: iou_threshold}
        detector = VehicleDetector(session=self.network, **{k: v for k, v in thresholds.items() if v is not None})
        options = {"reid": self.reid if embed else None}
        if models:
            options |= {"attributes": ("model",), "attribute_classifier": self.attributes}
        if duplicate_iou is not None:
            options["duplicate_iou"] = duplicate_iou
        if detector_type_score is not None:
            options["detector_type_score"] = None if detector_type_score > 1 else detector_type_score
        if min_box_size is not None:
            if not min_box_size.is_integer():
                raise ValueError(f"request parameter {MIN_BOX_SIZE!r} must be a whole number of pixels, got {min_box_size}")
            options["min_box_size"] = int(min_box_size)
        return VehicleRecognizer(self.classifier, detector, **options)

    def execute(self, requests: list[Any]) -> list[pb_utils.InferenceResponse]:
        return respond_each(requests, self._recognize)

    def _recognize(self, request: Any) -> list[pb_utils.Tensor]:
        chosen = request_parameters(request, PARAMETERS)
        asked = request.requested_output_names()
        embed, models = EMBEDDINGS in asked, MODEL_PROBABILITIES in asked
        recognizer = self.recognizer(*(chosen.get(name) for name in PARAMETERS), embed, models)
        vehicles = recognizer.recognize(image_bytes(request))
        return recognition_tensors(vehicles, self.classifier.labels, self.reid.dim if embed else None,
                                   self.attributes.labels if models else None)


def session_opener(args: dict) -> Callable[[str], Any]:
    """model name -> the session the pipeline runs that network on (see the module docstring)."""
    parameters = config_parameters(args)
    how = parameters.get(PIPELINE_SESSIONS, "bls")
    if how == "in-process":
        repository = Path(args["model_repository"]).parent
        # No busy-waiting threads: the server's other models and its clients share these cores.
        return lambda model: create_session(repository / model / "1" / "model.onnx", spin=False)
    if how == "bls":
        return lambda model: BlsSession.from_parameters(model, parameters)
    raise ValueError(f"config parameter {PIPELINE_SESSIONS!r} is {how!r}; rebuild the repository with "
                     "`vehiclekit serving build-repo`")
