"""Another model of the same Triton server, called through BLS, behind the part of ONNX Runtime's
``InferenceSession`` interface the SDK uses — so :class:`~vehiclekit.sdk.VehicleDetector` and
:class:`~vehiclekit.sdk.VehicleClassifier` run unchanged inside the server, on whatever backend
serves the ONNX model (python + ONNX Runtime on CPU, onnxruntime/TensorRT on GPU)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import triton_python_backend_utils as pb_utils

from vehiclekit.errors import VehiclekitError
from vehiclekit.models.serving_contract import Signature, SignatureSession, signature_parameter


class BlsSession(SignatureSession):
    """``get_inputs()``, ``get_outputs()``, ``get_modelmeta()`` and ``run()`` of the ONNX model that
    Triton serves as ``model``, described by ``signature``."""

    def __init__(self, model: str, signature: Signature):
        self.model = model
        self.signature = signature

    @classmethod
    def from_parameters(cls, model: str, parameters: Mapping[str, str]) -> "BlsSession":
        """The session for ``model`` whose signature the repository builder wrote into the calling
        model's config parameters."""
        key = signature_parameter(model)
        if key not in parameters:
            raise VehiclekitError(f"config.pbtxt lacks parameter {key!r}; rebuild the repository with `vehiclekit serving build-repo`")
        return cls(model, Signature.from_json(parameters[key]))

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """One in-server inference request; the outputs in ``output_names`` order (all when None)."""
        names = list(output_names or (o.name for o in self.signature.outputs))
        request = pb_utils.InferenceRequest(
            model_name=self.model,
            requested_output_names=names,
            inputs=[pb_utils.Tensor(name, np.ascontiguousarray(value)) for name, value in feeds.items()],
            # outputs in CPU memory even from a GPU model (gpu flavor), so as_numpy() works
            preferred_memory=pb_utils.PreferredMemory(pb_utils.TRITONSERVER_MEMORY_CPU, 0),
        )
        reply = request.exec()
        if reply.has_error():
            raise VehiclekitError(f"model {self.model!r} failed: {reply.error().message()}")
        return [pb_utils.get_output_tensor_by_name(reply, name).as_numpy() for name in names]
