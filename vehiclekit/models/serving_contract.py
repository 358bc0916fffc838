"""The served models' names and inputs/outputs: one contract for the repository builder, the
python-backend models running inside Triton and the SDK's remote client.

Both repository flavors (``cpu`` and ``gpu``) expose exactly these models:

* :data:`CLASSIFIER` (``vehicle_type``): the vehicle-type ONNX as exported, ``images`` ``[N, 3, H, W]``
  float32 (from :func:`vehiclekit.models.preprocess.classifier_input`) -> ``logits`` ``[N, C]``.
  Its config ``parameters`` carry the ONNX's vehiclekit metadata (labels, input size,
  normalisation, version), so a remote client needs nothing but the server.
* :data:`DETECTOR_NETWORK` (``yolox_nano``): the YOLOX-Nano ONNX as released (fixed batch 1, raw
  grid predictions). Internal: :data:`DETECTOR` and :data:`PIPELINE` call it through BLS.
* :data:`DETECTOR` (``vehicle_detector``): one encoded image in, vehicles out (letterbox, YOLOX,
  decode and class-aware NMS on the server, boxes in the image's pixels).
* :data:`REID` (``vehicle_reid``): the re-ID embedder ONNX as exported, ``images`` ``[N, 3, H, W]``
  -> ``embeddings`` ``[N, D]`` (unit length), metadata in its config parameters like the classifier.
* :data:`ATTRIBUTES` (``vehicle_model``): the make-model-year classifier ONNX as exported, served
  like :data:`CLASSIFIER`; its metadata carries the label groups (make, body) the SDK sums.
* :data:`PIPELINE` (``vehicle_pipeline``): one encoded image in; detects, crops and classifies
  every vehicle in one round trip, embeds every crop when the request asks for
  :data:`EMBEDDINGS`, and gives each car/SUV/van/pickup's make-model-year probabilities when it
  asks for :data:`MODEL_PROBABILITIES`.

A leaf module (nothing from vehiclekit imported), so the SDK's remote client reads it without
pulling in the repository builder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: ``dims`` is the full ONNX shape, ``-1`` for a dynamic axis."""

    name: str
    data_type: str  # Triton DataType name, e.g. "TYPE_FP32"
    dims: tuple[int, ...]

    @property
    def shape(self) -> list[int]:
        """``dims`` as ONNX Runtime's ``NodeArg.shape`` reports a fixed shape (a list)."""
        return list(self.dims)


@dataclass(frozen=True)
class Signature:
    """Inputs, outputs and ``metadata_props`` of one ONNX model. Also what a python-backend model
    needs to call another model through BLS as if it were an ONNX Runtime session (see
    :mod:`vehiclekit.serving.backend.bls`), hence the JSON round trip."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def dynamic_batch(self) -> bool:
        """True when every input and output has a dynamic first axis (the batch)."""
        return all(t.dims and t.dims[0] == -1 for t in (*self.inputs, *self.outputs))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Signature":
        raw = json.loads(text)
        return cls(inputs=_specs(raw["inputs"]), outputs=_specs(raw["outputs"]), metadata=dict(raw["metadata"]))


class SignatureSession:
    """The introspection half of ONNX Runtime's ``InferenceSession`` (``get_inputs``,
    ``get_outputs``, ``get_modelmeta``) answered from a :class:`Signature`, so the SDK's models run
    unchanged on a served model; subclasses add ``run``."""

    signature: Signature

    def get_inputs(self) -> list[TensorSpec]:
        return list(self.signature.inputs)

    def get_outputs(self) -> list[TensorSpec]:
        return list(self.signature.outputs)

    def get_modelmeta(self) -> SimpleNamespace:
        return SimpleNamespace(custom_metadata_map=dict(self.signature.metadata))


def _specs(items: list[dict]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(t["name"], t["data_type"], tuple(t["dims"])) for t in items)


CLASSIFIER = "vehicle_type"
DETECTOR_NETWORK = "yolox_nano"
DETECTOR = "vehicle_detector"
PIPELINE = "vehicle_pipeline"
REID = "vehicle_reid"
ATTRIBUTES = "vehicle_model"
#: Every model of a repository.
MODELS = (CLASSIFIER, DETECTOR_NETWORK, DETECTOR, PIPELINE, REID, ATTRIBUTES)
#: The served model behind each SDK zoo name (``VehicleClassifier(model=NAME, url=...)``).
SERVED_AS = {"vehicle-type": CLASSIFIER, "vehicle-reid": REID, "vehicle-model": ATTRIBUTES, "vehicle-make": ATTRIBUTES,
             "vehicle-body": ATTRIBUTES}


def served_name(model: str) -> str:
    """The Triton model that serves SDK model ``model``: a zoo name's (any version), else a user's
    model served under its own name (``vehiclekit serve --model NAME=FILE``)."""
    return SERVED_AS.get(model.split("@")[0], model)

#: Input of :data:`DETECTOR` and :data:`PIPELINE`: the bytes of one encoded image (JPEG, PNG, ...).
IMAGE = "image"
BOXES = "boxes"
LABELS = "labels"
SCORES = "scores"
TYPE_LABELS = "type_labels"
TYPE_CONFIDENCES = "type_confidences"
TYPE_PROBABILITIES = "type_probabilities"
#: Optional outputs of :data:`PIPELINE`: computed only when the request asks for them. A row of
#: :data:`MODEL_PROBABILITIES` is all zeros for a vehicle whose type has no make (bus, truck, ...).
EMBEDDINGS = "embeddings"
MODEL_PROBABILITIES = "model_probabilities"

IMAGE_INPUT = TensorSpec(IMAGE, "TYPE_STRING", (1,))
#: Outputs of :data:`DETECTOR`: K vehicles, best score first; boxes are xyxy image pixels.
DETECTOR_OUTPUTS = (
    TensorSpec(BOXES, "TYPE_FP32", (-1, 4)),
    TensorSpec(LABELS, "TYPE_STRING", (-1,)),
    TensorSpec(SCORES, "TYPE_FP32", (-1,)),
)


def pipeline_outputs(num_types: int, embedding_dim: int, num_models: int) -> tuple[TensorSpec, ...]:
    """Outputs of :data:`PIPELINE`: the detector's, plus per vehicle the type label, its
    probability, the probabilities of all ``num_types`` types (in the classifier's label order) and,
    when requested, its ``embedding_dim`` re-ID embedding and its ``num_models`` make-model-year
    probabilities (in the :data:`ATTRIBUTES` model's label order)."""
    return (
        *DETECTOR_OUTPUTS,
        TensorSpec(TYPE_LABELS, "TYPE_STRING", (-1,)),
        TensorSpec(TYPE_CONFIDENCES, "TYPE_FP32", (-1,)),
        TensorSpec(TYPE_PROBABILITIES, "TYPE_FP32", (-1, num_types)),
        TensorSpec(EMBEDDINGS, "TYPE_FP32", (-1, embedding_dim)),
        TensorSpec(MODEL_PROBABILITIES, "TYPE_FP32", (-1, num_models)),
    )


#: Optional request parameters of :data:`DETECTOR` and :data:`PIPELINE` (the SDK's defaults apply
#: when absent): the VehicleDetector thresholds, the recognizer's smallest crop side and the overlap
#: above which detections of different classes are one vehicle.
SCORE_THRESHOLD = "score_threshold"
IOU_THRESHOLD = "iou_threshold"
MIN_BOX_SIZE = "min_box_size"
DUPLICATE_IOU = "duplicate_iou"
#: The recognizer's ``detector_type_score``; a value above 1 stands for None (never).
DETECTOR_TYPE_SCORE = "detector_type_score"

#: Prefix of the error message of a request whose image was rejected (corrupt, empty, too large...):
#: the remote client raises :class:`vehiclekit.errors.InvalidImageError` for these.
INVALID_IMAGE = "invalid image: "

#: Config parameter of ``vehicle_pipeline``: ``bls`` (call the served networks) or ``in-process``
#: (open their ONNX files in the pipeline itself); see :mod:`vehiclekit.serving.backend.pipeline`.
PIPELINE_SESSIONS = "vehiclekit.pipeline_sessions"


def signature_parameter(model: str) -> str:
    """Config parameter under which a BLS caller finds the :class:`Signature` (JSON) of ``model``."""
    return f"vehiclekit.signature.{model}"
