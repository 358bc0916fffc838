"""Vehicle-type classification with an exported vehiclekit ONNX classifier."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vehiclekit.errors import VehiclekitError
from vehiclekit.models.metadata import CLASSIFIER_OUTPUT, INPUT_NAME
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.models.serving_contract import CLASSIFIER
from vehiclekit.sdk.image import ImageInput, load_images
from vehiclekit.sdk.session import open_model
from vehiclekit.sdk.types import Prediction

if TYPE_CHECKING:
    from vehiclekit.sdk.remote import TritonClient


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``[N, C]`` logits, numerically stable."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class VehicleClassifier:
    """Classify vehicle images (ideally one vehicle per image, e.g. a detector crop) by type.

    >>> clf = VehicleClassifier()              # the shipped "vehicle-type" model
    >>> clf.predict("car.jpg")                 # doctest: +SKIP
    Prediction(label='car', confidence=0.97, ...)

    ``model`` names a zoo model; ``model_path`` (an exported ``.onnx``) overrides it. Labels, input
    size and normalisation come from the model's metadata, so any classifier exported by
    ``train-vehicle export`` works. The ONNX Runtime session is created once, here.

    ``url`` runs the model on a Triton server instead (``http://host:8000`` or ``grpc://host:8001``,
    or a :class:`~vehiclekit.sdk.remote.TritonClient` for other timeouts and retries): its
    ``vehicle_type`` model and the metadata served with it; pre-processing stays here, and the same
    methods return the same results. ``session`` is any object with ONNX Runtime's ``get_inputs``,
    ``get_outputs``, ``get_modelmeta`` and ``run`` (the Triton server itself runs this class so).
    """

    #: Images sent to ONNX Runtime per run in :meth:`predict_batch` (bounds memory).
    batch_size = 32

    def __init__(
        self,
        model: str = "vehicle-type",
        model_path: str | os.PathLike | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        url: "str | TritonClient | None" = None,
        session: Any = None,
    ):
        self.session, self.model_path, self.metadata = open_model(
            model, model_path, "classification", CLASSIFIER, providers, threads, url, session
        )
        source = self.model_path or self.session
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if INPUT_NAME not in inputs or CLASSIFIER_OUTPUT not in outputs:
            raise VehiclekitError(
                f"{source} has inputs {sorted(inputs)} and outputs {sorted(outputs)}; a vehiclekit "
                f"classifier takes {INPUT_NAME!r} and returns {CLASSIFIER_OUTPUT!r} (export it with "
                "`train-vehicle export`)"
            )
        num_outputs = next(o.shape for o in self.session.get_outputs() if o.name == CLASSIFIER_OUTPUT)[-1]
        if isinstance(num_outputs, int) and num_outputs != len(self.labels):
            raise VehiclekitError(
                f"{source} outputs {num_outputs} logits but its metadata lists {len(self.labels)} labels"
            )

    @property
    def labels(self) -> tuple[str, ...]:
        """The classes, in the order of the model's outputs."""
        return self.metadata.labels

    def predict(self, image: ImageInput) -> Prediction:
        """Classify one image (path, encoded bytes or BGR array, see
        :func:`~vehiclekit.sdk.image.load_image`)."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Iterable[ImageInput]) -> list[Prediction]:
        """Classify several images in batched ONNX Runtime runs; one :class:`Prediction` per image,
        in order. All images are loaded (and validated) before any inference."""
        loaded = load_images(images)
        predictions: list[Prediction] = []
        for start in range(0, len(loaded), self.batch_size):
            predictions += self._predict_loaded(loaded[start : start + self.batch_size])
        return predictions

    def _predict_loaded(self, images_bgr: list[np.ndarray]) -> list[Prediction]:
        meta = self.metadata
        batch = classifier_input(images_bgr, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
        (logits,) = self.session.run([CLASSIFIER_OUTPUT], {INPUT_NAME: batch})
        probabilities = softmax(logits.astype(np.float64))
        return [self._prediction(row) for row in probabilities]

    def _prediction(self, probabilities: np.ndarray) -> Prediction:
        best = int(probabilities.argmax())
        return Prediction(
            label=self.labels[best],
            confidence=float(probabilities[best]),
            probabilities={label: float(p) for label, p in zip(self.labels, probabilities)},
            model=self.metadata.name,
            model_version=self.metadata.version,
        )

    def __repr__(self) -> str:
        meta = self.metadata
        return f"VehicleClassifier(model={meta.name!r}, version={meta.version!r}, labels={meta.labels})"
