"""Vehicle-type classification with an exported vehiclekit ONNX classifier."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vehiclekit.errors import VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.models.metadata import CLASSIFIER_OUTPUT, INPUT_NAME, ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.models.serving_contract import served_name
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


def group_matrix(metadata: ClassifierMetadata, group: str) -> tuple[tuple[str, ...], np.ndarray]:
    """``group``'s labels (sorted) and the ``[classes, labels]`` 0/1 matrix that sums class
    probabilities into theirs (see :data:`~vehiclekit.models.metadata.KEY_GROUPS`)."""
    members = metadata.groups.get(group)
    if members is None:
        raise VehiclekitError(f"model {metadata.name!r} has no label group {group!r}; it has {sorted(metadata.groups) or 'none'}")
    labels = tuple(sorted(set(members)))
    matrix = np.zeros((len(members), len(labels)))
    matrix[np.arange(len(members)), [labels.index(m) for m in members]] = 1.0
    return labels, matrix


class VehicleClassifier:
    """Classify vehicle images (ideally one vehicle per image, e.g. a detector crop) by type.

    >>> clf = VehicleClassifier()              # the shipped "vehicle-type" model
    >>> clf.predict("car.jpg")                 # doctest: +SKIP
    Prediction(label='car', confidence=0.97, ...)

    ``model`` names a zoo model; ``model_path`` (an exported ``.onnx``) overrides it. Labels, input
    size and normalisation come from the model's metadata, so any classifier exported by
    ``train-vehicle export`` works. The ONNX Runtime session is created once, here.

    ``url`` runs the model on a Triton server instead (``http://host:8000`` or ``grpc://host:8001``,
    or a :class:`~vehiclekit.sdk.remote.TritonClient` for other timeouts and retries): the served
    model behind ``model`` (``vehicle_type``, ``vehicle_model`` for ``vehicle-model`` /
    ``vehicle-make`` / ``vehicle-body``, or a model of your own by the name it was served under with
    ``vehiclekit serve --model NAME=FILE``) and the metadata served with it; pre-processing stays here, and the same
    methods return the same results. ``session`` is any object with ONNX Runtime's ``get_inputs``,
    ``get_outputs``, ``get_modelmeta`` and ``run`` (the Triton server itself runs this class so).

    ``group`` answers in one of the model's label groups instead of its classes: a make-model-year
    classifier gives makes with ``group="make"`` (each make's probability is the sum of its models'),
    so make and model come from one distribution. Zoo names set it (``vehicle-make``, ``vehicle-body``).

    ``precision="int8"`` loads the zoo model's INT8 variant (static QDQ from ``train-vehicle
    quantize``; faster on CPU, its card states the accuracy it costs) instead of fp32.
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
        group: str | None = None,
        precision: str = "fp32",
    ):
        self.session, self.model_path, self.metadata = open_model(
            model, model_path, "classification", served_name(model), providers, threads, url,
            session, precision,
        )
        source = self.model_path or self.session
        if group is None and model_path is None and session is None and model.split("@")[0] in zoo.latest():
            group = zoo.get(model).group        # not for a user's model served under its own name
        num_classes = len(self.metadata.labels)
        self._group_matrix = None
        #: The model's own metadata (all label groups), whatever ``group`` this classifier answers in.
        self.model_metadata = self.metadata
        self._answers: dict[str | None, tuple] = {}  # group -> (labels, matrix or None, name), built once
        if group is not None:
            labels, self._group_matrix = group_matrix(self.metadata, group)
            self.metadata = dataclasses.replace(self.metadata, name=f"{self.metadata.name}:{group}", labels=labels, groups={})
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if INPUT_NAME not in inputs or CLASSIFIER_OUTPUT not in outputs:
            raise VehiclekitError(
                f"{source} has inputs {sorted(inputs)} and outputs {sorted(outputs)}; a vehiclekit "
                f"classifier takes {INPUT_NAME!r} and returns {CLASSIFIER_OUTPUT!r} (export it with "
                "`train-vehicle export`)"
            )
        num_outputs = next(o.shape for o in self.session.get_outputs() if o.name == CLASSIFIER_OUTPUT)[-1]
        if isinstance(num_outputs, int) and num_outputs != num_classes:
            raise VehiclekitError(
                f"{source} outputs {num_outputs} logits but its metadata lists {num_classes} labels"
            )

    @classmethod
    def named(cls, model: str, **options: Any) -> "VehicleClassifier":
        """The classifier a command-line argument names: an ``.onnx`` file, else a zoo name
        (``vehicle-type``, ``vehicle-type@1``)."""
        return cls(model_path=model, **options) if model.endswith(".onnx") else cls(model=model, **options)

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

    def predict_groups(self, images: Iterable[ImageInput], groups: Sequence[str | None]) -> list[list[Prediction]]:
        """One network run per batch answering several label groups of the model at once: for each
        image, one :class:`Prediction` per entry of ``groups`` (a group of the model's metadata, e.g.
        ``"make"``, or None for the model's own classes). Used for a vehicle's make, model and body
        type from one make-model-year classifier."""
        loaded = load_images(images)
        out: list[list[Prediction]] = []
        for start in range(0, len(loaded), self.batch_size):
            out += self._answer(self._class_probabilities(loaded[start : start + self.batch_size]), groups)
        return out

    def group_predictions(self, probabilities: np.ndarray, groups: Sequence[str | None]) -> list[Prediction]:
        """:meth:`predict_groups`'s answer for one row of class probabilities computed elsewhere (the
        server's ``vehicle_pipeline``)."""
        return self._answer(probabilities[None].astype(np.float64), groups)[0]

    def _answer(self, probabilities: np.ndarray, groups: Sequence[str | None]) -> list[list[Prediction]]:
        answers = [self._group_answer(g) for g in groups]
        grouped = [probabilities if m is None else probabilities @ m for _, m, _ in answers]
        return [[self._prediction(p[i], labels, name) for p, (labels, _, name) in zip(grouped, answers)]
                for i in range(len(probabilities))]

    def _group_answer(self, group: str | None) -> tuple:
        """(labels, class-to-group matrix or None, prediction name) of ``group``, computed once."""
        if group not in self._answers:
            meta = self.model_metadata
            self._answers[group] = ((meta.labels, None, meta.name) if group is None
                                    else (*group_matrix(meta, group), f"{meta.name}:{group}"))
        return self._answers[group]

    def _class_probabilities(self, images_bgr: list[np.ndarray]) -> np.ndarray:
        meta = self.model_metadata
        batch = classifier_input(images_bgr, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
        (logits,) = self.session.run([CLASSIFIER_OUTPUT], {INPUT_NAME: batch})
        return softmax(logits.astype(np.float64))

    def _predict_loaded(self, images_bgr: list[np.ndarray]) -> list[Prediction]:
        probabilities = self._class_probabilities(images_bgr)
        if self._group_matrix is not None:
            probabilities = probabilities @ self._group_matrix
        return [self._prediction(row, self.labels, self.metadata.name) for row in probabilities]

    def _prediction(self, probabilities: np.ndarray, labels: Sequence[str], name: str) -> Prediction:
        best = int(probabilities.argmax())
        return Prediction(
            label=labels[best],
            confidence=float(probabilities[best]),
            probabilities={label: float(p) for label, p in zip(labels, probabilities)},
            model=name,
            model_version=self.metadata.version,
        )

    def __repr__(self) -> str:
        meta = self.metadata
        return f"VehicleClassifier(model={meta.name!r}, version={meta.version!r}, labels={meta.labels})"
