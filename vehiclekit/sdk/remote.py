"""Run the vehiclekit models on a Triton server (``vehiclekit serve``, or NVIDIA's image from
``deploy/``) over HTTP or gRPC, with tritonclient.

>>> client = TritonClient("grpc://127.0.0.1:8001")          # or "http://127.0.0.1:8000"
>>> [v.classification.label for v in client.recognize("street.jpg")]   # doctest: +SKIP
['minibus', 'car']

The protocol comes from the URL's scheme. Every call has a ``timeout``; a server that cannot be
reached is retried ``retries`` times with exponential backoff, and failures raise
:class:`~vehiclekit.errors.ServerError` naming the server and the model and saying what to do
(:mod:`~vehiclekit.sdk.triton_transport`). One client may be shared by threads (each thread gets
its own connection). Requests are encoded by :mod:`~vehiclekit.sdk.remote_requests`; answers come
back as the SDK's result types (:mod:`~vehiclekit.sdk.remote_results`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.models.serving_contract import (
    BOXES,
    CLASSIFIER,
    DETECTOR,
    DETECTOR_OUTPUTS,
    DETECTOR_TYPE_SCORE,
    DUPLICATE_IOU,
    EMBEDDINGS,
    IMAGE,
    IOU_THRESHOLD,
    LABELS,
    MIN_BOX_SIZE,
    MODEL_PROBABILITIES,
    PIPELINE,
    SCORE_THRESHOLD,
    SCORES,
    TYPE_CONFIDENCES,
    TYPE_LABELS,
    TYPE_PROBABILITIES,
    Signature,
    SignatureSession,
)
from vehiclekit.sdk.image import ImageInput
from vehiclekit.sdk.remote_requests import image_tensor, input_tensors
from vehiclekit.sdk.remote_results import served_signature, to_detections, to_recognized_vehicles
from vehiclekit.sdk.triton_transport import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, TritonTransport, as_dict
from vehiclekit.sdk.types import Detection, RecognizedVehicle


class TritonClient:
    """A connection to one Triton server serving a vehiclekit model repository.

    ``url``: ``http://host[:port]``, ``grpc://host[:port]`` or ``grpcs://host[:port]`` (gRPC over
    TLS; ports default to 8000 and 8001). ``api_key`` (default: ``$VEHICLEKIT_API_KEY``) is sent with
    every request, for a server started with ``vehiclekit serve --api-key-file``; ``tls_ca`` (default:
    ``$VEHICLEKIT_TLS_CA``) is the PEM certificate a ``grpcs://`` server's certificate must chain to
    (default: the system's trusted roots).
    """

    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        api_key: str | None = None,
        tls_ca: str | os.PathLike | None = None,
    ):
        self.transport = TritonTransport(url, timeout, retries, backoff, api_key, tls_ca)
        self.url, self.timeout = self.transport.url, timeout
        self._signatures: dict[str, tuple[Signature, int]] = {}

    # -- the models --------------------------------------------------------------------------

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """``vehicle_type`` logits ``[N, C]`` for a preprocessed batch ``[N, 3, H, W]`` float32 (from
        :func:`~vehiclekit.models.preprocess.classifier_input`); split into requests of at most the
        server's ``max_batch_size``."""
        session = self.session(CLASSIFIER)
        (images,), (logits,) = session.get_inputs(), session.get_outputs()
        if batch.ndim != len(images.dims) or len(batch) == 0:
            raise ValueError(f"classify takes a non-empty batch shaped {images.shape}, got {batch.shape}")
        return session.run([logits.name], {images.name: batch})[0]

    def detect(
        self, image: ImageInput, score_threshold: float | None = None, iou_threshold: float | None = None
    ) -> list[Detection]:
        """``vehicle_detector`` on one image (encoded bytes, a file or a BGR array), best score
        first; thresholds default to the SDK's."""
        parameters = {SCORE_THRESHOLD: score_threshold, IOU_THRESHOLD: iou_threshold}
        outputs = self.infer(DETECTOR, {IMAGE: image_tensor(image)}, [t.name for t in DETECTOR_OUTPUTS], parameters)
        return to_detections(outputs)

    def recognize(self, image: ImageInput, score_threshold: float | None = None, iou_threshold: float | None = None,
                  min_box_size: int | None = None, embed: bool = False, duplicate_iou: float | None = None,
                  detector_type_score: float | None = None) -> list[RecognizedVehicle]:
        """``vehicle_pipeline`` on one image: detect, crop and classify on the server (and compute
        each vehicle's re-ID embedding there when ``embed``); the vehicles as the embedded
        :class:`~vehiclekit.sdk.VehicleRecognizer` returns them, typed by the served classifier."""
        outputs = self.pipeline_outputs(image, score_threshold, iou_threshold, min_box_size, embed, duplicate_iou,
                                        detector_type_score=detector_type_score)
        return to_recognized_vehicles(outputs, self.classifier_metadata())

    def pipeline_outputs(
        self,
        image: ImageInput,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        min_box_size: int | None = None,
        embed: bool = False,
        duplicate_iou: float | None = None,
        models: bool = False,
        detector_type_score: float | None = None,
    ) -> dict[str, np.ndarray]:
        """``vehicle_pipeline``'s output arrays for one image (:meth:`recognize` reads them), with
        each vehicle's make-model-year probabilities when ``models``."""
        parameters = {SCORE_THRESHOLD: score_threshold, IOU_THRESHOLD: iou_threshold, MIN_BOX_SIZE: min_box_size,
                      DUPLICATE_IOU: duplicate_iou, DETECTOR_TYPE_SCORE: detector_type_score}
        names = ([BOXES, LABELS, SCORES, TYPE_LABELS, TYPE_CONFIDENCES, TYPE_PROBABILITIES] + ([EMBEDDINGS] if embed else [])
                 + ([MODEL_PROBABILITIES] if models else []))
        return self.infer(PIPELINE, {IMAGE: image_tensor(image)}, names, parameters)

    def classifier_metadata(self) -> ClassifierMetadata:
        """The served classifier's metadata (labels in probability-column order, name, version)."""
        return ClassifierMetadata.from_props(self.signature(CLASSIFIER)[0].metadata)

    def session(self, model: str = CLASSIFIER) -> "RemoteSession":
        """``model`` behind the part of ONNX Runtime's ``InferenceSession`` the SDK uses, so
        :class:`~vehiclekit.sdk.VehicleClassifier` runs it exactly as it runs a local ONNX file."""
        return RemoteSession(self, model)

    # -- the server ----------------------------------------------------------------------------

    def is_ready(self, model: str | None = None) -> bool:
        """True when the server (or ``model`` on it) is ready; False when it is not or cannot be reached."""
        return self.transport.is_ready(model)

    def signature(self, model: str) -> tuple[Signature, int]:
        """``model``'s inputs and outputs (full shapes, ``-1`` batch axis when it batches), the
        vehiclekit metadata in its config parameters, and its ``max_batch_size``; fetched once."""
        if model not in self._signatures:
            options = self.transport.options
            metadata = self.transport.call(model, lambda c: as_dict(c.get_model_metadata(model, **options)))
            config = self.transport.call(model, lambda c: as_dict(c.get_model_config(model, **options)))
            self._signatures[model] = served_signature(metadata, config)
        return self._signatures[model]

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, float | int | None] | None = None,
    ) -> dict[str, np.ndarray]:
        """One inference request; ``parameters`` set to None are left out."""
        module = self.transport.module
        sent = {k: v for k, v in (parameters or {}).items() if v is not None}

        def request(client: Any) -> dict[str, np.ndarray]:
            wanted = [module.InferRequestedOutput(name) for name in outputs]
            reply = client.infer(model, input_tensors(module, inputs), outputs=wanted, parameters=sent or None,
                                 **self.transport.options)
            return {name: reply.as_numpy(name) for name in outputs}

        return self.transport.call(model, request)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self.transport.close()

    def __repr__(self) -> str:
        return f"TritonClient({self.url!r}, timeout={self.timeout})"


class RemoteSession(SignatureSession):
    """``get_inputs()``, ``get_outputs()``, ``get_modelmeta()`` and ``run()`` of a model served by
    Triton, as ONNX Runtime's ``InferenceSession`` offers them."""

    def __init__(self, client: TritonClient, model: str):
        self.client = client
        self.model = model
        self.signature, self.max_batch_size = client.signature(model)

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The outputs in ``output_names`` order (all when None); a batch larger than the server's
        ``max_batch_size`` goes in several requests."""
        names = list(output_names or (o.name for o in self.signature.outputs))
        if not self.max_batch_size:
            outputs = self.client.infer(self.model, feeds, names)
            return [outputs[name] for name in names]
        size, step = len(next(iter(feeds.values()))), self.max_batch_size
        replies = [
            self.client.infer(self.model, {k: v[start : start + step] for k, v in feeds.items()}, names)
            for start in range(0, size, step) or [0]  # an empty batch still goes (the server refuses it)
        ]
        return [np.concatenate([reply[name] for reply in replies]) for name in names]

    def __repr__(self) -> str:
        return f"RemoteSession({self.model!r} at {self.client.url})"


def remote_client(url: "str | TritonClient") -> TritonClient:
    """``url`` as a client: a URL gets one with the default timeout and retries."""
    return url if isinstance(url, TritonClient) else TritonClient(url)
