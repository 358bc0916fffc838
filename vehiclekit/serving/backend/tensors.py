"""Request inputs and response outputs of ``vehicle_detector`` and ``vehicle_pipeline``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from vehiclekit.sdk.types import Detection, RecognizedVehicle
from vehiclekit.models.serving_contract import (
    BOXES,
    EMBEDDINGS,
    MODEL_PROBABILITIES,
    IMAGE,
    LABELS,
    SCORES,
    TYPE_CONFIDENCES,
    TYPE_LABELS,
    TYPE_PROBABILITIES,
)


def image_bytes(request: Any) -> bytes:
    """The encoded image of a request: exactly one bytes element in input ``image``."""
    array = pb_utils.get_input_tensor_by_name(request, IMAGE).as_numpy()
    if array.size != 1:
        raise ValueError(f"input {IMAGE!r} holds {array.size} elements; send exactly one encoded image per request")
    data = array.reshape(-1)[0]
    if not isinstance(data, bytes):
        raise ValueError(f"input {IMAGE!r} must hold the bytes of an encoded image (BYTES), got {type(data).__name__}")
    return data


def request_parameters(request: Any, names: Sequence[str]) -> dict[str, float]:
    """The numeric request parameters among ``names`` that the request sets."""
    sent = json.loads(request.parameters() or "{}")
    chosen = {}
    for name in names:
        if name in sent:
            value = sent[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"request parameter {name!r} must be a number, got {value!r}")
            chosen[name] = float(value)
    return chosen


def detection_tensors(detections: Sequence[Detection]) -> list[pb_utils.Tensor]:
    """``boxes`` [K, 4] float32, ``labels`` [K] bytes, ``scores`` [K] float32."""
    return [
        pb_utils.Tensor(BOXES, np.array([d.bbox for d in detections], dtype=np.float32).reshape(-1, 4)),
        pb_utils.Tensor(LABELS, np.array([d.label.encode() for d in detections], dtype=np.object_)),
        pb_utils.Tensor(SCORES, np.array([d.score for d in detections], dtype=np.float32)),
    ]


def recognition_tensors(
    vehicles: Sequence[RecognizedVehicle], type_labels: Sequence[str], embedding_dim: int | None = None,
    model_labels: Sequence[str] | None = None,
) -> list[pb_utils.Tensor]:
    """:func:`detection_tensors` plus ``type_labels`` [K] bytes, ``type_confidences`` [K] float32 and
    ``type_probabilities`` [K, C] float32 (columns in ``type_labels`` order); with ``embedding_dim``,
    also ``embeddings`` [K, D] float32; with ``model_labels``, also ``model_probabilities`` [K, M]
    float32 (columns in that order; zeros for a vehicle without a ``model`` attribute)."""
    kinds = [v.classification for v in vehicles]
    probabilities = np.array([[k.probabilities[label] for label in type_labels] for k in kinds], dtype=np.float32)
    tensors = [
        *detection_tensors([v.detection for v in vehicles]),
        pb_utils.Tensor(TYPE_LABELS, np.array([k.label.encode() for k in kinds], dtype=np.object_)),
        pb_utils.Tensor(TYPE_CONFIDENCES, np.array([k.confidence for k in kinds], dtype=np.float32)),
        pb_utils.Tensor(TYPE_PROBABILITIES, probabilities.reshape(-1, len(type_labels))),
    ]
    if embedding_dim is not None:
        embeddings = np.array([v.embedding for v in vehicles], dtype=np.float32).reshape(-1, embedding_dim)
        tensors.append(pb_utils.Tensor(EMBEDDINGS, embeddings))
    if model_labels is not None:
        rows = [[v.attributes["model"].probabilities[m] for m in model_labels] if "model" in v.attributes
                else [0.0] * len(model_labels) for v in vehicles]
        tensors.append(pb_utils.Tensor(MODEL_PROBABILITIES, np.array(rows, dtype=np.float32).reshape(-1, len(model_labels))))
    return tensors
