"""An ONNX file run with ONNX Runtime inside the python backend (the ``cpu`` flavor's ``vehicle_type``
and ``yolox_nano``): inputs and outputs as the model's config declares them; with batching, the
requests of one ``execute`` call run as one batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from vehiclekit.sdk.session import create_session
from vehiclekit.serving.backend.responses import Outcome, response


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        self.batched = config["max_batch_size"] > 0
        self.input_names = [tensor["name"] for tensor in config["input"]]
        self.output_names = [tensor["name"] for tensor in config["output"]]
        # No busy-waiting threads: Triton, the other stubs and local clients need those cores.
        self.session = create_session(Path(args["model_repository"]) / args["model_version"] / "model.onnx", spin=False)

    def execute(self, requests: list[Any]) -> list[pb_utils.InferenceResponse]:
        outcomes: list[Outcome | None] = [None] * len(requests)
        feeds: dict[int, dict[str, np.ndarray]] = {}
        for index, request in enumerate(requests):
            try:
                feeds[index] = self._feeds(request)
            except Exception as e:  # noqa: BLE001 - a bad request fails alone
                outcomes[index] = e
        try:
            for index, outputs in zip(feeds, self._run(list(feeds.values()))):
                outcomes[index] = outputs
        except Exception as e:  # noqa: BLE001
            for index in feeds:
                outcomes[index] = e
        return [response(outcome) for outcome in outcomes]

    def _feeds(self, request: Any) -> dict[str, np.ndarray]:
        feeds = {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.input_names}
        if self.batched and any(len(array) == 0 for array in feeds.values()):
            raise ValueError("empty batch: send at least one item")
        return feeds

    def _run(self, feeds: list[dict[str, np.ndarray]]) -> list[list[pb_utils.Tensor]]:
        """Each request's outputs; batched models run all requests in one ONNX Runtime call."""
        if not feeds:
            return []
        if not self.batched:
            return [self._tensors(self.session.run(self.output_names, feed)) for feed in feeds]
        merged = {name: np.concatenate([feed[name] for feed in feeds]) for name in self.input_names}
        outputs = self.session.run(self.output_names, merged)
        bounds = np.cumsum([len(feed[self.input_names[0]]) for feed in feeds])[:-1]
        per_request = zip(*(np.split(output, bounds) for output in outputs))
        return [self._tensors(arrays) for arrays in per_request]

    def _tensors(self, arrays: list[np.ndarray]) -> list[pb_utils.Tensor]:
        return [pb_utils.Tensor(name, np.ascontiguousarray(a)) for name, a in zip(self.output_names, arrays)]
