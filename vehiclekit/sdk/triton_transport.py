"""The wire under :class:`~vehiclekit.sdk.remote.TritonClient`: one tritonclient connection per
thread to a Triton server over HTTP or gRPC, every call retried while the server cannot be reached,
and tritonclient's failures turned into vehiclekit errors that name the server and the model.

A server that cannot be reached (connection refused or reset, gRPC ``UNAVAILABLE``, HTTP 503) is
retried ``retries`` times with exponential backoff. Failures raise
:class:`~vehiclekit.errors.ServerError` saying what to do, except an image the server rejects, which
raises :class:`~vehiclekit.errors.InvalidImageError` as the embedded SDK does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from http.client import HTTPException
from typing import Any, TypeVar
from urllib.parse import urlsplit

import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf.json_format import MessageToDict
from tritonclient.utils import InferenceServerException

from vehiclekit.errors import InvalidImageError, ServerError
from vehiclekit.models.serving_contract import INVALID_IMAGE

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


class TritonTransport:
    """Connections to the server at ``url`` (see :class:`~vehiclekit.sdk.remote.TritonClient` for
    the arguments), shared by threads: each thread gets its own."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 backoff: float = DEFAULT_BACKOFF, api_key: str | None = None, tls_ca: str | os.PathLike | None = None):
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
        self.headers = {header: key} if key else None
        self.tls_ca = tls_ca if tls_ca is not None else os.environ.get("VEHICLEKIT_TLS_CA")
        #: tritonclient's module for the protocol (its ``InferInput`` and ``InferRequestedOutput``).
        self.module = httpclient if self.protocol == "http" else grpcclient
        self._local = threading.local()

    @property
    def options(self) -> dict[str, Any]:
        """Keyword arguments of every request: the key header, and the timeout for gRPC (which takes
        it per call; the HTTP client was given it when created)."""
        return {"headers": self.headers, **({"client_timeout": self.timeout} if self.protocol == "grpc" else {})}

    def is_ready(self, model: str | None = None) -> bool:
        """True when the server (or ``model`` on it) is ready; False when it is not or cannot be reached."""
        try:
            client = self._client()
            return bool(client.is_model_ready(model, headers=self.headers) if model
                        else client.is_server_ready(headers=self.headers))
        except (InferenceServerException, OSError):
            return False

    def call(self, model: str, operation: Callable[[Any], T]) -> T:
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

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
            self._local.client = None

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

    def _error(self, model: str, e: InferenceServerException) -> Exception:
        message = e.message() or str(e)
        if RESTRICTED in message:
            return ServerError(
                f"the Triton server at {self.url} refused model {model!r}: it requires an API key "
                f"({'the one sent is wrong' if self.headers else 'none was sent'}). Pass api_key= to "
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


def as_dict(answer: Any) -> dict:
    """A model-metadata or -config answer as a dict: gRPC answers are protobuf messages, HTTP
    answers are already JSON dicts."""
    return answer if isinstance(answer, dict) else MessageToDict(answer, preserving_proto_field_name=True)


def _describe(error: Exception) -> str:
    if isinstance(error, InferenceServerException):
        return f"{error.status()}: {error.message()}"
    return f"{type(error).__name__}: {error}"
