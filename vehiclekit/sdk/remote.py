"""Run the vehiclekit models on a Triton server (``vehiclekit serve``, or NVIDIA's image from
``deploy/``) over HTTP or gRPC, with tritonclient.

>>> client = TritonClient("grpc://127.0.0.1:8001")          # or "http://127.0.0.1:8000"
>>> client.recognize(open("street.jpg", "rb").read()).type_labels   # doctest: +SKIP
array(['minibus', 'car'], dtype=object)

The protocol comes from the URL's scheme. Every call has a ``timeout``; a server that cannot be
reached (connection refused or reset, gRPC ``UNAVAILABLE``, HTTP 503) is retried ``retries`` times
with exponential backoff. Failures raise :class:`~vehiclekit.errors.ServerError` naming the server
and the model and saying what to do, except an image the server rejects, which raises
:class:`~vehiclekit.errors.InvalidImageError` as the embedded SDK does. One client may be shared by
threads (each thread gets its own connection).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.client import HTTPException
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import cv2
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf.json_format import MessageToDict
from tritonclient.utils import InferenceServerException

from vehiclekit.errors import InvalidImageError, ServerError
from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.sdk.image import ImageInput, load_image
from vehiclekit.sdk.types import Detection, Prediction, RecognizedVehicle
from vehiclekit.models.serving_contract import (
    BOXES,
    CLASSIFIER,
    DETECTOR,
    EMBEDDINGS,
    DETECTOR_OUTPUTS,
    IMAGE,
    INVALID_IMAGE,
    IOU_THRESHOLD,
    LABELS,
    MIN_BOX_SIZE,
    DUPLICATE_IOU,
    DETECTOR_TYPE_SCORE,
    MODEL_PROBABILITIES,
    PIPELINE,
    SCORE_THRESHOLD,
    SCORES,
    SignatureSession,
    TYPE_CONFIDENCES,
    TYPE_LABELS,
    TYPE_PROBABILITIES,
    Signature,
    TensorSpec,
)

#: Seconds one call may take, connection included.
DEFAULT_TIMEOUT = 30.0
#: Extra attempts when the server is unreachable or unavailable.
DEFAULT_RETRIES = 3
#: First wait before a retry, in seconds; doubled after each attempt.
DEFAULT_BACKOFF = 0.2
DEFAULT_PORTS = {"http": 8000, "grpc": 8001, "grpcs": 8001}
#: Request header carrying the API key when the server restricts its APIs (``vehiclekit serve --api-key-file``).
API_KEY_HEADER = "vehiclekit-api-key"
#: Triton looks for a restricted gRPC protocol's key under this prefix in the request metadata.
GRPC_RESTRICTED_PREFIX = "triton-grpc-protocol-"
#: Status strings of retryable failures (gRPC status code, HTTP status).
UNAVAILABLE = {"StatusCode.UNAVAILABLE", "503"}
TIMED_OUT = {"StatusCode.DEADLINE_EXCEEDED", "504"}
#: What Triton says when a restricted API is called without the right key header.
RESTRICTED = "restricted"

T = TypeVar("T")


class Detections(NamedTuple):
    """``vehicle_detector``'s answer for one image: K vehicles, best score first."""

    boxes: np.ndarray  # [K, 4] float32, xyxy image pixels
    labels: np.ndarray  # [K] str (car, bus, truck, motorcycle, bicycle)
    scores: np.ndarray  # [K] float32


class Recognitions(NamedTuple):
    """``vehicle_pipeline``'s answer for one image: the detections and each vehicle's type."""

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    type_labels: np.ndarray  # [K] str
    type_confidences: np.ndarray  # [K] float32
    type_probabilities: np.ndarray  # [K, C] float32, columns in the classifier's label order
    embeddings: np.ndarray | None = None  # [K, D] float32 unit vectors, when asked for
    model_probabilities: np.ndarray | None = None  # [K, M] float32, zero rows for non-car types, when asked for


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
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"server url {url!r} must look like http://host:8000, grpc://host:8001 or grpcs://host:8001")
        self.tls = parts.scheme == "grpcs"
        self.protocol = "grpc" if self.tls else parts.scheme
        self.address = f"{parts.hostname}:{parts.port or DEFAULT_PORTS[parts.scheme]}"
        self.url = f"{parts.scheme}://{self.address}"
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        key = api_key if api_key is not None else os.environ.get("VEHICLEKIT_API_KEY")
        header = API_KEY_HEADER if self.protocol == "http" else GRPC_RESTRICTED_PREFIX + API_KEY_HEADER
        self._headers = {header: key} if key else None
        self.tls_ca = tls_ca if tls_ca is not None else os.environ.get("VEHICLEKIT_TLS_CA")
        self._module = httpclient if self.protocol == "http" else grpcclient
        self._local = threading.local()
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
        self, image: bytes, score_threshold: float | None = None, iou_threshold: float | None = None
    ) -> Detections:
        """``vehicle_detector`` on one encoded image (JPEG, PNG, ... bytes); thresholds default to
        the SDK's."""
        parameters = {SCORE_THRESHOLD: score_threshold, IOU_THRESHOLD: iou_threshold}
        outputs = self.infer(DETECTOR, {IMAGE: _bytes_tensor(image)}, [t.name for t in DETECTOR_OUTPUTS], parameters)
        return Detections(outputs[BOXES], _strings(outputs[LABELS]), outputs[SCORES])

    def recognize(
        self,
        image: bytes,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        min_box_size: int | None = None,
        embed: bool = False,
        duplicate_iou: float | None = None,
        models: bool = False,
        detector_type_score: float | None = None,
    ) -> Recognitions:
        """``vehicle_pipeline`` on one encoded image: detect, crop and classify on the server (and
        compute each vehicle's re-ID embedding there when ``embed``, its make-model-year
        probabilities when ``models``)."""
        parameters = {SCORE_THRESHOLD: score_threshold, IOU_THRESHOLD: iou_threshold, MIN_BOX_SIZE: min_box_size,
                      DUPLICATE_IOU: duplicate_iou, DETECTOR_TYPE_SCORE: detector_type_score}
        names = ([BOXES, LABELS, SCORES, TYPE_LABELS, TYPE_CONFIDENCES, TYPE_PROBABILITIES] + ([EMBEDDINGS] if embed else [])
                 + ([MODEL_PROBABILITIES] if models else []))
        outputs = self.infer(PIPELINE, {IMAGE: _bytes_tensor(image)}, names, parameters)
        return Recognitions(
            outputs[BOXES], _strings(outputs[LABELS]), outputs[SCORES], _strings(outputs[TYPE_LABELS]),
            outputs[TYPE_CONFIDENCES], outputs[TYPE_PROBABILITIES], outputs.get(EMBEDDINGS),
            outputs.get(MODEL_PROBABILITIES),
        )

    def session(self, model: str = CLASSIFIER) -> "RemoteSession":
        """``model`` behind the part of ONNX Runtime's ``InferenceSession`` the SDK uses, so
        :class:`~vehiclekit.sdk.VehicleClassifier` runs it exactly as it runs a local ONNX file."""
        return RemoteSession(self, model)

    # -- the server ----------------------------------------------------------------------------

    def is_ready(self, model: str | None = None) -> bool:
        """True when the server (or ``model`` on it) is ready; False when it is not or cannot be reached."""
        try:
            client = self._client()
            return bool(client.is_model_ready(model, headers=self._headers) if model
                        else client.is_server_ready(headers=self._headers))
        except (InferenceServerException, OSError):
            return False

    def signature(self, model: str) -> tuple[Signature, int]:
        """``model``'s inputs and outputs (full shapes, ``-1`` batch axis when it batches), the
        vehiclekit metadata in its config parameters, and its ``max_batch_size``; fetched once."""
        if model not in self._signatures:
            metadata = self._call(model, lambda c: self._json(c.get_model_metadata(model, headers=self._headers,
                                                                                    **self._timeout_option)))
            config = self._call(model, lambda c: self._json(c.get_model_config(model, headers=self._headers,
                                                                                **self._timeout_option)))
            config = config.get("config", config)  # gRPC wraps it
            signature = Signature(
                inputs=tuple(_spec(t) for t in metadata["inputs"]),
                outputs=tuple(_spec(t) for t in metadata["outputs"]),
                metadata={k: v["string_value"] for k, v in config.get("parameters", {}).items()},
            )
            self._signatures[model] = (signature, int(config.get("max_batch_size", 0)))
        return self._signatures[model]

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, float | int | None] | None = None,
    ) -> dict[str, np.ndarray]:
        """One inference request; ``parameters`` set to None are left out."""
        def request(client: Any) -> dict[str, np.ndarray]:
            tensors = []
            for name, array in inputs.items():
                tensor = self._module.InferInput(name, list(array.shape), _triton_dtype(array))
                tensor.set_data_from_numpy(array)
                tensors.append(tensor)
            wanted = [self._module.InferRequestedOutput(name) for name in outputs]
            sent = {k: v for k, v in (parameters or {}).items() if v is not None}
            reply = client.infer(model, tensors, outputs=wanted, parameters=sent or None, headers=self._headers,
                                 **self._timeout_option)
            return {name: reply.as_numpy(name) for name in outputs}

        return self._call(model, request)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
            self._local.client = None

    def __repr__(self) -> str:
        return f"TritonClient({self.url!r}, timeout={self.timeout})"

    # -- plumbing ------------------------------------------------------------------------------

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            if self.protocol == "http":
                client = httpclient.InferenceServerClient(
                    self.address, connection_timeout=self.timeout, network_timeout=self.timeout
                )
            else:
                root = str(self.tls_ca) if self.tls and self.tls_ca else None   # a PEM file path
                client = grpcclient.InferenceServerClient(self.address, ssl=self.tls, root_certificates=root)
            self._local.client = client
        return client

    @property
    def _timeout_option(self) -> dict[str, float]:
        """gRPC takes the timeout per call; the HTTP client was given it when created."""
        return {"client_timeout": self.timeout} if self.protocol == "grpc" else {}

    def _json(self, answer: Any) -> dict:
        """gRPC answers are protobuf messages; HTTP answers are already JSON dicts."""
        if isinstance(answer, dict):
            return answer
        return MessageToDict(answer, preserving_proto_field_name=True)

    def _call(self, model: str, operation: Callable[[Any], T]) -> T:
        """``operation(client)``, retried with backoff while the server is unreachable; tritonclient
        and socket errors become vehiclekit errors naming the server and the model."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return operation(self._client())
            except InferenceServerException as e:
                if e.status() not in UNAVAILABLE or RESTRICTED in (e.message() or ""):
                    raise self._error(model, e) from None
                failure: Exception = e
                self.close()   # a fresh gRPC channel connects at once; the old one waits out its reconnect backoff
            except TimeoutError:
                raise self._timed_out(model) from None
            except (OSError, HTTPException) as e:  # HTTP: refused / reset / broken pipe / closed mid-answer
                failure = e
                self.close()
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        raise ServerError(
            f"cannot reach the Triton server at {self.url} for model {model!r} after {self.retries + 1} attempts "
            f"({_describe(failure)}). Is it running? Start one with `vehiclekit serve`, or check the url "
            "(HTTP listens on port 8000 and gRPC on 8001 by default)."
        ) from None

    def _error(self, model: str, e: InferenceServerException) -> Exception:
        message = e.message() or str(e)
        if RESTRICTED in message:
            return ServerError(
                f"the Triton server at {self.url} refused model {model!r}: it requires an API key "
                f"({'the one sent is wrong' if self._headers else 'none was sent'}). Pass api_key= to "
                "TritonClient or set VEHICLEKIT_API_KEY to the key the server was started with."
            )
        if INVALID_IMAGE in message:
            return InvalidImageError(message.split(INVALID_IMAGE, 1)[1])
        if e.status() in TIMED_OUT:
            return self._timed_out(model)
        if "unknown model" in message or "is not found" in message:
            return ServerError(
                f"the Triton server at {self.url} does not serve model {model!r} ({message}); serve a repository "
                "built with `vehiclekit serving build-repo`"
            )
        return ServerError(f"model {model!r} on the Triton server at {self.url} refused the request: {message}")

    def _timed_out(self, model: str) -> ServerError:
        return ServerError(
            f"model {model!r} on the Triton server at {self.url} did not answer within {self.timeout:g} s; "
            "pass a larger timeout or check the server's load"
        )


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


def encoded_image(image: ImageInput) -> bytes:
    """What to send the server for ``image``: encoded bytes as they are and a file's bytes (the
    server decodes and validates them with the SDK's :func:`~vehiclekit.sdk.image.load_image`, so
    the pixels are the ones the embedded SDK would see); an array, validated here, as lossless PNG."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        try:
            return path.read_bytes()
        except OSError as e:
            raise InvalidImageError(f"cannot read image file {path}: {e.strerror or e}") from None
    ok, png = cv2.imencode(".png", load_image(image), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise InvalidImageError("cannot encode the image array as PNG to send it to the server")
    return png.tobytes()


def to_detections(found: Detections | Recognitions) -> list[Detection]:
    """The server's arrays as the SDK's :class:`Detection` list (same order)."""
    return [
        Detection(bbox=tuple(float(v) for v in box), label=str(label), score=float(score))
        for box, label, score in zip(found.boxes, found.labels, found.scores)
    ]


def to_recognized_vehicles(found: Recognitions, metadata: ClassifierMetadata) -> list[RecognizedVehicle]:
    """The pipeline's arrays as the SDK's :class:`RecognizedVehicle` list; ``metadata`` is the
    served classifier's (labels in probability-column order, name, version)."""
    embeddings = [None] * len(found.boxes) if found.embeddings is None else [e.tolist() for e in found.embeddings]
    return [
        RecognizedVehicle(
            detection=detection,
            classification=Prediction(
                label=str(label),
                confidence=float(confidence),
                probabilities={name: float(p) for name, p in zip(metadata.labels, probabilities)},
                model=metadata.name,
                model_version=metadata.version,
            ),
            embedding=embedding,
        )
        for detection, label, confidence, probabilities, embedding in zip(
            to_detections(found), found.type_labels, found.type_confidences, found.type_probabilities, embeddings
        )
    ]


def _spec(tensor: dict) -> TensorSpec:
    """A model-metadata tensor (``{"name", "datatype", "shape"}``) as a :class:`TensorSpec`."""
    datatype = "TYPE_STRING" if tensor["datatype"] == "BYTES" else f"TYPE_{tensor['datatype']}"
    return TensorSpec(tensor["name"], datatype, tuple(int(d) for d in tensor["shape"]))


def _triton_dtype(array: np.ndarray) -> str:
    return "BYTES" if array.dtype == np.object_ else httpclient.np_to_triton_dtype(array.dtype)


def _bytes_tensor(image: bytes) -> np.ndarray:
    return np.array([bytes(image)], dtype=np.object_)


def _strings(array: np.ndarray) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)], dtype=np.object_)


def _describe(error: Exception) -> str:
    if isinstance(error, InferenceServerException):
        return f"{error.status()}: {error.message()}"
    return f"{type(error).__name__}: {error}"
