"""What :class:`~vehiclekit.sdk.remote.TritonClient` reads back: a served model's signature from
its metadata and config, and the detector's and pipeline's output arrays as the SDK's result types
(:class:`~vehiclekit.sdk.types.Detection`, :class:`~vehiclekit.sdk.types.RecognizedVehicle`)."""

from __future__ import annotations

import numpy as np

from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.models.serving_contract import (
    BOXES,
    EMBEDDINGS,
    LABELS,
    SCORES,
    TYPE_CONFIDENCES,
    TYPE_LABELS,
    TYPE_PROBABILITIES,
    Signature,
    TensorSpec,
)
from vehiclekit.sdk.types import Detection, Prediction, RecognizedVehicle


def served_signature(metadata: dict, config: dict) -> tuple[Signature, int]:
    """A model's inputs and outputs (full shapes, ``-1`` batch axis when it batches), the vehiclekit
    metadata in its config parameters, and its ``max_batch_size``, from Triton's model metadata
    and config (as dicts)."""
    config = config.get("config", config)  # gRPC wraps it
    signature = Signature(
        inputs=tuple(_spec(t) for t in metadata["inputs"]),
        outputs=tuple(_spec(t) for t in metadata["outputs"]),
        metadata={k: v["string_value"] for k, v in config.get("parameters", {}).items()},
    )
    return signature, int(config.get("max_batch_size", 0))


def to_detections(outputs: dict[str, np.ndarray]) -> list[Detection]:
    """The detector's (or pipeline's) boxes, labels and scores as the SDK's :class:`Detection` list (same order)."""
    return [
        Detection(bbox=tuple(float(v) for v in box), label=_text(label), score=float(score))
        for box, label, score in zip(outputs[BOXES], outputs[LABELS].reshape(-1), outputs[SCORES])
    ]


def to_recognized_vehicles(outputs: dict[str, np.ndarray], metadata: ClassifierMetadata) -> list[RecognizedVehicle]:
    """The pipeline's arrays as the SDK's :class:`RecognizedVehicle` list; ``metadata`` is the
    served classifier's (labels in probability-column order, name, version)."""
    detections = to_detections(outputs)
    embeddings = outputs.get(EMBEDDINGS)
    embeddings = [None] * len(detections) if embeddings is None else [e.tolist() for e in embeddings]
    return [
        RecognizedVehicle(
            detection=detection,
            classification=Prediction(
                label=_text(label),
                confidence=float(confidence),
                probabilities={name: float(p) for name, p in zip(metadata.labels, probabilities)},
                model=metadata.name,
                model_version=metadata.version,
            ),
            embedding=embedding,
        )
        for detection, label, confidence, probabilities, embedding in zip(
            detections, outputs[TYPE_LABELS].reshape(-1), outputs[TYPE_CONFIDENCES], outputs[TYPE_PROBABILITIES],
            embeddings
        )
    ]


def _spec(tensor: dict) -> TensorSpec:
    """A model-metadata tensor (``{"name", "datatype", "shape"}``) as a :class:`TensorSpec`."""
    datatype = "TYPE_STRING" if tensor["datatype"] == "BYTES" else f"TYPE_{tensor['datatype']}"
    return TensorSpec(tensor["name"], datatype, tuple(int(d) for d in tensor["shape"]))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
