"""Results the SDK returns: immutable pydantic models, JSON-ready with ``.model_dump()``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vehiclekit.models.zoo import COCO_VEHICLE_CATEGORY_IDS

#: The COCO classes the detector reports.
VehicleLabel = Literal["car", "bus", "truck", "motorcycle", "bicycle"]


def _fmt_box(bbox: tuple[float, float, float, float]) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in bbox) + "]"


class Prediction(BaseModel):
    """A vehicle-type classification of one image (or crop)."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="the most probable class")
    confidence: float = Field(ge=0.0, le=1.0, description="probability of `label`")
    probabilities: dict[str, float] = Field(description="every class -> probability (sums to 1)")
    model: str = Field(description="model name, from the ONNX metadata")
    model_version: str = Field(description="model version, from the ONNX metadata")

    def __str__(self) -> str:
        return f"{self.label} {self.confidence:.2f} ({self.model} {self.model_version})"


class Detection(BaseModel):
    """One vehicle found by the detector."""

    model_config = ConfigDict(frozen=True)

    bbox: tuple[float, float, float, float] = Field(
        description="x1, y1, x2, y2 in pixels of the original image (clipped to it)"
    )
    label: VehicleLabel
    score: float = Field(ge=0.0, le=1.0, description="objectness x class probability")

    @model_validator(mode="after")
    def _ordered_corners(self) -> "Detection":
        x1, y1, x2, y2 = self.bbox
        if x2 < x1 or y2 < y1:
            raise ValueError(f"bbox must be x1, y1, x2, y2 with x1 <= x2 and y1 <= y2, got {self.bbox}")
        return self

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        """The box as COCO writes it: x, y, width, height."""
        return (self.bbox[0], self.bbox[1], self.width, self.height)

    @property
    def coco_category_id(self) -> int:
        """The COCO category id of ``label`` (car -> 3, ...), as in ``instances.json``."""
        return COCO_VEHICLE_CATEGORY_IDS[self.label]

    def __str__(self) -> str:
        return f"{self.label} {self.score:.2f} {_fmt_box(self.bbox)}"


class RecognizedVehicle(BaseModel):
    """A detected vehicle, the vehicle type of its crop and, when the recognizer has a re-ID model,
    the crop's L2-normalised re-ID embedding (for :class:`~vehiclekit.sdk.gallery.Gallery`)."""

    model_config = ConfigDict(frozen=True)

    detection: Detection
    classification: Prediction
    embedding: list[float] | None = Field(default=None, description="unit-length re-ID embedding of the crop")
    attributes: dict[str, Prediction] = Field(
        default_factory=dict, description="attribute ('make', 'model', 'body') -> prediction, when the recognizer was asked for them"
    )

    def __str__(self) -> str:
        c, d = self.classification, self.detection
        return f"{c.label} {c.confidence:.2f} (detected {d.label} {d.score:.2f} at {_fmt_box(d.bbox)})"
