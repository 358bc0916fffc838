"""Detect vehicles, then classify the type of each one: the detector and the classifier together."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vehiclekit.models import zoo
from vehiclekit.sdk.classifier import VehicleClassifier
from vehiclekit.sdk.detector import VehicleDetector, merge_across_classes
from vehiclekit.sdk.image import ImageInput, load_image
from vehiclekit.sdk.reid import VehicleReID
from vehiclekit.sdk.types import Detection, Prediction, RecognizedVehicle

if TYPE_CHECKING:
    from vehiclekit.sdk.remote import TritonClient

#: Default smallest crop side, in pixels, worth classifying.
DEFAULT_MIN_BOX_SIZE = 8
#: Default overlap (IoU) above which detections of different COCO classes are one vehicle.
DEFAULT_DUPLICATE_IOU = 0.6
#: The vehicle types each COCO detector class allows (:func:`type_from_detector`): COCO annotates
#: minivans as car and pickups and delivery vans as truck; bicycles have no type, so they are left as
#: the classifier says.
DETECTOR_TYPES = {"car": ("car", "suv", "van", "pickup"), "truck": ("pickup", "van", "truck", "heavy-truck"),
                  "bus": ("bus",), "motorcycle": ("motorcycle",)}
#: Default lowest detection score at which the detector's class counts; None: never.
DEFAULT_DETECTOR_TYPE_SCORE: float | None = 0.0
#: ``detector_type_score=None`` as sent to the server's pipeline: a score no detection reaches.
NEVER = 2.0
#: Attributes a recognizer can add to each vehicle, and the zoo model answering each. The three
#: are label groups of one make-model-year classifier, so they come from one network run per batch.
ATTRIBUTE_MODELS = {"make": "vehicle-make", "model": "vehicle-model", "body": "vehicle-body"}
#: The vehicle types that have a make and model here (Stanford Cars holds passenger cars, SUVs, vans
#: and pickups): a bus, truck or motorcycle gets no attributes rather than a car make guessed for it.
ATTRIBUTE_TYPES = ("car", "suv", "van", "pickup")


def crop(image_bgr: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """The pixels of ``image_bgr`` covered by an xyxy box (outward-rounded, clipped to the image);
    may be empty when the box lies outside the image."""
    h, w = image_bgr.shape[:2]
    x1, y1 = max(0, math.floor(bbox[0])), max(0, math.floor(bbox[1]))
    x2, y2 = min(w, math.ceil(bbox[2])), min(h, math.ceil(bbox[3]))
    return image_bgr[y1:max(y1, y2), x1:max(x1, x2)]


def type_from_detector(prediction: Prediction, detection: Detection, min_score: float | None) -> Prediction:
    """The vehicle type, given what the detector also saw.

    YOLOX learnt street-level vehicles from COCO's photos; the type model learnt from traffic-camera
    crops, car photos and re-ID crops, saw 13 bus images and no side-on motorcycle, and calls a
    small blurred car or a side-on motorcycle something else. When ``detection`` is a class of
    :data:`DETECTOR_TYPES` scoring ``s >= min_score``, the type probabilities become the mixture
    ``s * q + (1 - s) * p``: ``p`` the classifier's, ``q`` the same restricted to the types the
    detector's class allows and renormalised (the detector trusted with probability ``s``). A sure
    bus detection thus makes a bus, a sure car detection keeps the classifier's choice among car,
    SUV, van and pickup. Otherwise (another class, a lower score, ``min_score`` None, or a classifier
    with none of the allowed labels) ``prediction`` is returned unchanged."""
    allowed = [t for t in DETECTOR_TYPES.get(detection.label, ()) if t in prediction.probabilities]
    if min_score is None or not allowed or detection.score < min_score:
        return prediction
    s, p = detection.score, prediction.probabilities
    mass = sum(p[t] for t in allowed)
    q = {t: (p[t] / mass if mass > 0 else 1 / len(allowed)) if t in allowed else 0.0 for t in p}
    mixed = {t: s * q[t] + (1 - s) * p[t] for t in p}
    label = max(mixed, key=mixed.get)
    return prediction.model_copy(update={"label": label, "confidence": mixed[label], "probabilities": mixed})


class VehicleRecognizer:
    """Find every vehicle in an image and tell its type.

    >>> rec = VehicleRecognizer()
    >>> for vehicle in rec.recognize("street.jpg"):   # doctest: +SKIP
    ...     print(vehicle)
    minibus 0.77 (detected bus 0.91 at [143, 142, 377, 277])

    ``classifier`` / ``detector`` default to :class:`VehicleClassifier` and
    :class:`VehicleDetector` with their defaults. Detections whose crop is narrower or shorter
    than ``min_box_size`` pixels are too small to classify and are left out. Each vehicle is
    reported once: detections of different classes overlapping by more than ``duplicate_iou`` are
    merged into the best-scoring one (:func:`~vehiclekit.sdk.detector.merge_across_classes`). A
    detection scoring at least ``detector_type_score`` steers the type towards those its COCO class
    allows (:func:`type_from_detector`; None turns it off, e.g. for top-down cameras, where YOLOX
    mistakes cars for buses and trucks).

    ``reid`` attaches each vehicle's re-ID embedding (``RecognizedVehicle.embedding``), all crops
    embedded in one batch, ready for a :class:`~vehiclekit.sdk.gallery.Gallery`: a
    :class:`~vehiclekit.sdk.reid.VehicleReID`, or ``True`` for the default one (the zoo's, or with
    ``url`` the server's ``vehicle_reid``, in the same round trip).

    ``attributes`` adds each vehicle's make, model (make-model-year) and/or body type
    (``RecognizedVehicle.attributes``), e.g. ``attributes=("make", "model")``: the zoo's
    ``vehicle-make`` / ``vehicle-model`` / ``vehicle-body``, answered together from one run of the
    make-model-year classifier per batch of crops (``attribute_classifier`` replaces the zoo's).
    Only vehicles typed car, SUV, van or pickup get attributes (:data:`ATTRIBUTE_TYPES`). With
    ``url`` the server's ``vehicle_model`` answers, in the same ``vehicle_pipeline`` round trip.

    ``url`` recognizes on a Triton server instead (``http://host:8000`` or ``grpc://host:8001``, or a
    :class:`~vehiclekit.sdk.remote.TritonClient`): one ``vehicle_pipeline`` round trip per image
    runs this same code there and returns the same results. The server's classifier is used (no
    ``classifier`` then); a ``detector`` only sets the thresholds.

    ``precision="int8"`` runs the models the recognizer creates itself (classifier, re-ID,
    attributes) at INT8; the detector stays fp32 (it has no INT8 variant) and models passed in run as
    they were made.
    """

    def __init__(
        self,
        classifier: VehicleClassifier | None = None,
        detector: VehicleDetector | None = None,
        min_box_size: int = DEFAULT_MIN_BOX_SIZE,
        url: "str | TritonClient | None" = None,
        reid: VehicleReID | bool | None = None,
        duplicate_iou: float = DEFAULT_DUPLICATE_IOU,
        detector_type_score: float | None = DEFAULT_DETECTOR_TYPE_SCORE,
        attributes: Sequence[str] = (),
        attribute_classifier: VehicleClassifier | None = None,
        precision: str = "fp32",
    ):
        unknown = sorted(set(attributes) - set(ATTRIBUTE_MODELS))
        if unknown:
            raise ValueError(f"unknown attributes {unknown}; choose from {sorted(ATTRIBUTE_MODELS)}")
        self.attributes = tuple(attributes)
        entries = [zoo.get(ATTRIBUTE_MODELS[a]) for a in self.attributes]
        if len({e.filename for e in entries}) > 1:
            raise ValueError(f"attributes {self.attributes} come from different models; ask for them separately")
        self._attribute_groups = [e.group for e in entries]
        if entries and attribute_classifier is None:
            attribute_classifier = VehicleClassifier(model=entries[0].name, url=url, precision=precision)
        self.attribute_classifier = attribute_classifier if entries else None
        if min_box_size < 1:
            raise ValueError(f"min_box_size must be at least 1 pixel, got {min_box_size}")
        if not 0.0 < duplicate_iou <= 1.0:
            raise ValueError(f"duplicate_iou must be in (0, 1], got {duplicate_iou}")
        self.duplicate_iou = duplicate_iou
        if detector_type_score is not None and not 0.0 <= detector_type_score <= 1.0:
            raise ValueError(f"detector_type_score must be in [0, 1] or None, got {detector_type_score}")
        self.detector_type_score = detector_type_score
        self.remote: TritonClient | None = None
        if url is not None:
            if classifier is not None:
                raise ValueError("with url, the server's vehicle_type classifies the crops: pass no classifier")
            from vehiclekit.sdk.remote import remote_client

            self.remote = remote_client(url)
            classifier = VehicleClassifier(url=self.remote, precision=precision)
            detector = detector or VehicleDetector(url=self.remote)
        self.classifier = classifier or VehicleClassifier(precision=precision)
        self.detector = detector or VehicleDetector(precision=zoo.available_precision(zoo.DEFAULT_DETECTOR, precision))
        self.min_box_size = min_box_size
        #: Embeddings come back from the server's pipeline (url and reid=True).
        self.embed_remotely = self.remote is not None and reid is True
        if reid is True:
            reid = None if self.embed_remotely else VehicleReID(precision=precision)
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
        if self.attribute_classifier is not None and self.remote is None:
            vehicles = self._with_attributes(image_bgr, vehicles)
        if self.reid is None or not vehicles:
            return vehicles
        embeddings = self.reid.embed([crop(image_bgr, v.detection.bbox) for v in vehicles])
        return [v.model_copy(update={"embedding": e.tolist()}) for v, e in zip(vehicles, embeddings)]

    def _with_attributes(self, image_bgr: np.ndarray, vehicles: list[RecognizedVehicle]) -> list[RecognizedVehicle]:
        """``vehicles`` with the asked attributes on those of :data:`ATTRIBUTE_TYPES`."""
        chosen = [i for i, v in enumerate(vehicles) if v.classification.label in ATTRIBUTE_TYPES]
        if not chosen:
            return vehicles
        answers = self.attribute_classifier.predict_groups([crop(image_bgr, vehicles[i].detection.bbox) for i in chosen],
                                                           self._attribute_groups)
        out = list(vehicles)
        for i, answer in zip(chosen, answers):
            out[i] = vehicles[i].model_copy(update={"attributes": dict(zip(self.attributes, answer))})
        return out

    def _recognize_local(self, image_bgr: np.ndarray) -> list[RecognizedVehicle]:
        detections: list[Detection] = []
        crops: list[np.ndarray] = []
        for detection in merge_across_classes(self.detector.detect(image_bgr), self.duplicate_iou):
            pixels = crop(image_bgr, detection.bbox)
            if min(pixels.shape[:2]) >= self.min_box_size:
                detections.append(detection)
                crops.append(pixels)
        if not crops:
            return []
        predictions = self.classifier.predict_batch(crops)
        return [RecognizedVehicle(detection=d, classification=type_from_detector(p, d, self.detector_type_score))
                for d, p in zip(detections, predictions)]

    def _recognize_remote(self, image: ImageInput) -> list[RecognizedVehicle]:
        from vehiclekit.models.serving_contract import MODEL_PROBABILITIES
        from vehiclekit.sdk.remote_results import to_recognized_vehicles

        outputs = self.remote.pipeline_outputs(
            image, self.detector.score_threshold, self.detector.iou_threshold, self.min_box_size,
            embed=self.embed_remotely, duplicate_iou=self.duplicate_iou, models=self.attribute_classifier is not None,
            detector_type_score=NEVER if self.detector_type_score is None else self.detector_type_score,
        )
        vehicles = to_recognized_vehicles(outputs, self.classifier.metadata)
        if MODEL_PROBABILITIES not in outputs:
            return vehicles
        return [v.model_copy(update={"attributes": dict(zip(self.attributes, self.attribute_classifier.group_predictions(row, self._attribute_groups)))})
                if row.any() else v for v, row in zip(vehicles, outputs[MODEL_PROBABILITIES])]

    def __repr__(self) -> str:
        reid = ", reid=True (on the server)" if self.embed_remotely else f", reid={self.reid!r}" if self.reid else ""
        return (f"VehicleRecognizer({self.classifier!r}, {self.detector!r}, min_box_size={self.min_box_size}, "
                f"duplicate_iou={self.duplicate_iou}, detector_type_score={self.detector_type_score}{reid})")
