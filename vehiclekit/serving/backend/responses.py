"""One response per request, an error response for each request that fails."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import triton_python_backend_utils as pb_utils

from vehiclekit.errors import InvalidImageError
from vehiclekit.models.serving_contract import INVALID_IMAGE

#: A request's outputs, or why it failed.
Outcome = list[Any] | BaseException  # list[pb_utils.Tensor]


def config_parameters(args: dict) -> dict[str, str]:
    """The ``parameters`` of the model's config.pbtxt, as strings."""
    config = json.loads(args["model_config"])
    return {key: value["string_value"] for key, value in config.get("parameters", {}).items()}


def response(outcome: Outcome) -> pb_utils.InferenceResponse:
    """The response for one request: its outputs, or an error whose code says whose fault it was
    (``INVALID_ARG`` for a bad input, ``INTERNAL`` otherwise) and whose message says what to do."""
    if not isinstance(outcome, BaseException):
        return pb_utils.InferenceResponse(output_tensors=outcome)
    if isinstance(outcome, InvalidImageError):
        error = pb_utils.TritonError(INVALID_IMAGE + str(outcome), pb_utils.TritonError.INVALID_ARG)
    elif isinstance(outcome, ValueError):
        error = pb_utils.TritonError(str(outcome), pb_utils.TritonError.INVALID_ARG)
    else:
        pb_utils.Logger.log_error(f"request failed: {type(outcome).__name__}: {outcome}")
        error = pb_utils.TritonError(f"{type(outcome).__name__}: {outcome}", pb_utils.TritonError.INTERNAL)
    return pb_utils.InferenceResponse(error=error)


def respond_each(requests: Sequence[Any], handle: Callable[[Any], list[Any]]) -> list[pb_utils.InferenceResponse]:
    """``handle(request)`` -> output tensors for every request; an exception answers that request
    only."""
    outcomes: list[Outcome] = []
    for request in requests:
        try:
            outcomes.append(handle(request))
        except Exception as e:  # noqa: BLE001 - any failure must stay this request's error
            outcomes.append(e)
    return [response(outcome) for outcome in outcomes]
