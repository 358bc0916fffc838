"""Recognise one vehicle image for the applications: its type (SDK classifier), re-ID embedding and,
with ``makes=True``, its make (for a car, SUV, van or pickup).

The re-ID embedding averages the whole image with central crops (:data:`~vehiclekit.sdk.reid.PARKING_CROPS`,
chosen on the val split: docs/results.md §22).

``crop="whole"`` (default) treats the image as one vehicle crop, like the vehicle-reid images and a
gate camera framed on the lane: it is classified and embedded as is. ``crop="largest"`` runs the
detector first and uses the largest detected vehicle (for wider scenes); no vehicle ->
:class:`~vehiclekit.apps.errors.NoVehicleError`. The models load on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from vehiclekit.apps.errors import NoVehicleError
from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleReID, load_image
from vehiclekit.sdk.image import ImageInput
from vehiclekit.sdk.reid import PARKING_CROPS
from vehiclekit.sdk.recognizer import ATTRIBUTE_MODELS, ATTRIBUTE_TYPES
from vehiclekit.sdk.recognizer import crop as crop_box


@dataclass(frozen=True)
class Observation:
    """What the applications need of one vehicle image."""

    vehicle_type: str
    type_confidence: float | None
    embedding: np.ndarray
    make: str | None = None
    make_confidence: float | None = None


class Observer:
    """Type + embedding of vehicle images with the SDK models (loaded lazily)."""

    def __init__(self, crop: Literal["whole", "largest"] = "whole", threads: int | None = None, makes: bool = False):
        if crop not in ("whole", "largest"):
            raise ValueError(f"crop must be 'whole' or 'largest', got {crop!r}")
        self.crop, self.threads, self.makes = crop, threads, makes

    @cached_property
    def make_classifier(self) -> VehicleClassifier:
        return VehicleClassifier(model=ATTRIBUTE_MODELS["make"], threads=self.threads)

    @cached_property
    def classifier(self) -> VehicleClassifier:
        return VehicleClassifier(threads=self.threads)

    @cached_property
    def reid(self) -> VehicleReID:
        return VehicleReID(threads=self.threads, crops=PARKING_CROPS)

    @cached_property
    def detector(self) -> VehicleDetector:
        return VehicleDetector(threads=self.threads)

    def vehicle_pixels(self, image: ImageInput) -> np.ndarray:
        """The BGR pixels to recognise: the whole image, or the largest detected vehicle."""
        pixels = load_image(image)
        if self.crop == "whole":
            return pixels
        detections = self.detector.detect(pixels)
        if not detections:
            raise NoVehicleError("no vehicle detected in the image: check the camera, or use crop='whole' "
                                 "(--crop whole) for images framed on one vehicle")
        largest = max(detections, key=lambda d: d.width * d.height)
        return crop_box(pixels, largest.bbox)

    def observe(self, image: ImageInput) -> Observation:
        pixels = self.vehicle_pixels(image)
        prediction = self.classifier.predict(pixels)
        seen = Observation(prediction.label, prediction.confidence, self.reid.embed(pixels))
        if not self.makes or prediction.label not in ATTRIBUTE_TYPES:
            return seen
        make = self.make_classifier.predict(pixels)
        return Observation(seen.vehicle_type, seen.type_confidence, seen.embedding, make.label, make.confidence)
