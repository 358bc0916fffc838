"""Detect vehicles, then classify the type of each one: the detector and the classifier together."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from vehiclekit.sdk.classifier import VehicleClassifier
from vehiclekit.sdk.detector import VehicleDetector
from vehiclekit.sdk.image import ImageInput, load_image
from vehiclekit.sdk.reid import VehicleReID
from vehiclekit.sdk.types import Detection, RecognizedVehicle

if TYPE_CHECKING:
    from vehiclekit.sdk.remote import TritonClient

#: Default smallest crop side, in pixels, worth classifying.
DEFAULT_MIN_BOX_SIZE = 8


def crop(image_bgr: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """The pixels of ``image_bgr`` covered by an xyxy box (outward-rounded, clipped to the image);
    may be empty when the box lies outside the image."""
    h, w = image_bgr.shape[:2]
    x1, y1 = max(0, math.floor(bbox[0])), max(0, math.floor(bbox[1]))
    x2, y2 = min(w, math.ceil(bbox[2])), min(h, math.ceil(bbox[3]))
    return image_bgr[y1:max(y1, y2), x1:max(x1, x2)]


class VehicleRecognizer:
    """Find every vehicle in an image and tell its type.

    >>> rec = VehicleRecognizer()
    >>> for vehicle in rec.recognize("street.jpg"):   # doctest: +SKIP
    ...     print(vehicle)
    minibus 0.77 (detected bus 0.91 at [143, 142, 377, 277])

    ``classifier`` / ``detector`` default to :class:`VehicleClassifier` and
    :class:`VehicleDetector` with their defaults. Detections whose crop is narrower or shorter
    than ``min_box_size`` pixels are too small to classify and are left out.

    ``reid`` attaches each vehicle's re-ID embedding (``RecognizedVehicle.embedding``), all crops
    embedded in one batch, ready for a :class:`~vehiclekit.sdk.gallery.Gallery`: a
    :class:`~vehiclekit.sdk.reid.VehicleReID`, or ``True`` for the default one (the zoo's, or with
    ``url`` the server's ``vehicle_reid``, in the same round trip).

    ``url`` recognizes on a Triton server instead (``http://host:8000`` or ``grpc://host:8001``, or a
    :class:`~vehiclekit.sdk.remote.TritonClient`): one ``vehicle_pipeline`` round trip per image
    runs this same code there and returns the same results. The server's classifier is used (no
    ``classifier`` then); a ``detector`` only sets the thresholds.
    """

    def __init__(
        self,
        classifier: VehicleClassifier | None = None,
        detector: VehicleDetector | None = None,
        min_box_size: int = DEFAULT_MIN_BOX_SIZE,
        url: "str | TritonClient | None" = None,
        reid: VehicleReID | bool | None = None,
    ):
        if min_box_size < 1:
            raise ValueError(f"min_box_size must be at least 1 pixel, got {min_box_size}")
        self.remote: TritonClient | None = None
        if url is not None:
            if classifier is not None:
                raise ValueError("with url, the server's vehicle_type classifies the crops: pass no classifier")
            from vehiclekit.sdk.remote import remote_client

            self.remote = remote_client(url)
            classifier = VehicleClassifier(url=self.remote)
            detector = detector or VehicleDetector(url=self.remote)
        self.classifier = classifier or VehicleClassifier()
        self.detector = detector or VehicleDetector()
        self.min_box_size = min_box_size
        #: Embeddings come back from the server's pipeline (url and reid=True).
        self.embed_remotely = self.remote is not None and reid is True
        if reid is True:
            reid = None if self.embed_remotely else VehicleReID()
        self.reid: VehicleReID | None = reid or None

    def recognize(self, image: ImageInput) -> list[RecognizedVehicle]:
        """Vehicles in one image, best detection score first; all crops are classified in one
        batch (and embedded in one batch when the recognizer has ``reid``)."""
        if self.remote is not None:
            vehicles = self._recognize_remote(image)
            image_bgr = load_image(image) if self.reid is not None and vehicles else None
        else:
            image_bgr = load_image(image)
            vehicles = self._recognize_local(image_bgr)
        if self.reid is None or not vehicles:
            return vehicles
        embeddings = self.reid.embed([crop(image_bgr, v.detection.bbox) for v in vehicles])
        return [v.model_copy(update={"embedding": e.tolist()}) for v, e in zip(vehicles, embeddings)]

    def _recognize_local(self, image_bgr: np.ndarray) -> list[RecognizedVehicle]:
        detections: list[Detection] = []
        crops: list[np.ndarray] = []
        for detection in self.detector.detect(image_bgr):
            pixels = crop(image_bgr, detection.bbox)
            if min(pixels.shape[:2]) >= self.min_box_size:
                detections.append(detection)
                crops.append(pixels)
        if not crops:
            return []
        predictions = self.classifier.predict_batch(crops)
        return [RecognizedVehicle(detection=d, classification=p) for d, p in zip(detections, predictions)]

    def _recognize_remote(self, image: ImageInput) -> list[RecognizedVehicle]:
        from vehiclekit.sdk.remote import encoded_image, to_recognized_vehicles

        found = self.remote.recognize(
            encoded_image(image), self.detector.score_threshold, self.detector.iou_threshold, self.min_box_size,
            embed=self.embed_remotely,
        )
        return to_recognized_vehicles(found, self.classifier.metadata)

    def __repr__(self) -> str:
        reid = ", reid=True (on the server)" if self.embed_remotely else f", reid={self.reid!r}" if self.reid else ""
        return f"VehicleRecognizer({self.classifier!r}, {self.detector!r}, min_box_size={self.min_box_size}{reid})"
