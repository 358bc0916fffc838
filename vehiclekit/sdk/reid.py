"""Vehicle re-identification embeddings with an exported vehiclekit ONNX embedder (no torch).

The embedder is the L2-normalised BNNeck feature of the "bag of tricks" re-ID baseline (Luo et al.
2019), trained by ``train-vehicle reid``: two images of the same vehicle from different cameras
have a high cosine similarity (= dot product). Pair it with :class:`~vehiclekit.sdk.gallery.Gallery`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vehiclekit.errors import VehiclekitError
from vehiclekit.models.metadata import EMBEDDING_OUTPUT, INPUT_NAME, REID_TASK
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.models.serving_contract import REID
from vehiclekit.sdk.image import ImageInput, load_image, load_images
from vehiclekit.sdk.session import open_model

if TYPE_CHECKING:
    from vehiclekit.sdk.remote import TritonClient


class VehicleReID:
    """Embed vehicle crops for cross-camera matching.

    >>> reid = VehicleReID()                           # the zoo model "vehicle-reid"
    >>> v = reid.embed("exit_cam.jpg")                 # doctest: +SKIP
    >>> vs = reid.embed(["a.jpg", "b.jpg"])            # doctest: +SKIP
    >>> float(v @ vs[0])                               # cosine similarity  # doctest: +SKIP

    ``model`` names a zoo model; ``model_path`` (an ``.onnx`` from ``train-vehicle reid``) overrides
    it. Input size and normalisation come from the model's metadata. ``embed`` returns float32
    unit vectors: ``[D]`` for one image, ``[N, D]`` for a list.

    ``url`` embeds on a Triton server instead (``http://host:8000``, ``grpc://host:8001`` or a
    :class:`~vehiclekit.sdk.remote.TritonClient`): its ``vehicle_reid`` model and metadata;
    pre-processing stays here. ``session``: any object with ONNX Runtime's ``get_inputs``,
    ``get_outputs``, ``get_modelmeta`` and ``run`` (the Triton server itself runs this class so).

    ``precision="int8"`` loads the zoo model's INT8 variant (static QDQ from ``train-vehicle
    quantize``; faster on CPU, its card states the accuracy it costs) instead of fp32.

    ``crops=(0.9, 0.8, 0.7)`` embeds each image several times, whole and as central crops of those
    fractions of its height and width, and averages the unit vectors: several views of one vehicle,
    at 1 + len(crops) times the cost. The parking and statistics applications use
    :data:`PARKING_CROPS` (chosen on the val split, docs/results.md §22).
    """

    #: Images per ONNX Runtime run (bounds memory).
    batch_size = 32

    def __init__(self, model: str = "vehicle-reid", model_path: str | os.PathLike | None = None,
                 providers: Sequence[str] | None = None, threads: int | None = None,
                 url: "str | TritonClient | None" = None, session: Any = None, precision: str = "fp32",
                 crops: Sequence[float] = ()):
        if not all(0 < f < 1 for f in crops):
            raise ValueError(f"crops are fractions of the image in (0, 1), got {tuple(crops)}")
        self.crops = tuple(crops)
        self.session, self.model_path, self.metadata = open_model(
            model, model_path, REID_TASK, REID, providers, threads, url, session, precision
        )
        source = self.model_path or self.session
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if self.metadata.task != REID_TASK or INPUT_NAME not in inputs or EMBEDDING_OUTPUT not in outputs:
            raise VehiclekitError(
                f"{source} (task {self.metadata.task!r}, outputs {sorted(outputs)}) is not a vehiclekit re-ID "
                f"embedder: it should take {INPUT_NAME!r} and return {EMBEDDING_OUTPUT!r} (`train-vehicle reid`)"
            )
        dim = outputs[EMBEDDING_OUTPUT][-1]
        self.dim: int | None = dim if isinstance(dim, int) else None

    def embed(self, images: ImageInput | Sequence[ImageInput]) -> np.ndarray:
        """One image (path, bytes or BGR array) -> ``[D]``; a list or tuple of images -> ``[N, D]``."""
        if isinstance(images, (list, tuple)):
            loaded = load_images(images)
            parts = [self._run(loaded[s : s + self.batch_size]) for s in range(0, len(loaded), self.batch_size)]
            return np.concatenate(parts) if parts else np.zeros((0, self.dim or 0), np.float32)
        return self._run([load_image(images)])[0]

    def _run(self, images_bgr: list[np.ndarray]) -> np.ndarray:
        total = self._embed(images_bgr)
        for fraction in self.crops:
            total = total + self._embed([central_crop(image, fraction) for image in images_bgr])
        return total if not self.crops else _unit(total)

    def _embed(self, images_bgr: list[np.ndarray]) -> np.ndarray:
        meta = self.metadata
        batch = classifier_input(images_bgr, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
        (embeddings,) = self.session.run([EMBEDDING_OUTPUT], {INPUT_NAME: batch})
        # Already unit length from the model; normalising again is idempotent and guards custom exports.
        return _unit(embeddings)

    def __repr__(self) -> str:
        crops = f", crops={self.crops}" if self.crops else ""
        return f"VehicleReID(model={self.metadata.name!r}, version={self.metadata.version!r}, dim={self.dim}{crops})"


#: Central crops the parking and statistics applications average with the whole image.
PARKING_CROPS = (0.9, 0.8, 0.7)


def central_crop(image: np.ndarray, fraction: float) -> np.ndarray:
    """The central ``fraction`` of ``image``'s height and width."""
    h, w = image.shape[:2]
    dy, dx = int(h * (1 - fraction) / 2), int(w * (1 - fraction) / 2)
    return image[dy:h - dy, dx:w - dx]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)).astype(np.float32)
