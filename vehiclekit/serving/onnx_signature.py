"""Read an ONNX model's :class:`~vehiclekit.models.serving_contract.Signature`: the single source of every
input/output name, dtype and shape the Triton repository writes."""

from __future__ import annotations

import os

from vehiclekit.sdk.session import create_session
from vehiclekit.models.serving_contract import Signature, TensorSpec

#: ONNX Runtime element types -> Triton ``DataType`` names.
ORT_TO_TRITON = {
    "tensor(float)": "TYPE_FP32",
    "tensor(float16)": "TYPE_FP16",
    "tensor(double)": "TYPE_FP64",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(int8)": "TYPE_INT8",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64",
    "tensor(bool)": "TYPE_BOOL",
    "tensor(string)": "TYPE_STRING",
}


def read_signature(path: str | os.PathLike) -> Signature:
    """The signature of the ONNX model at ``path`` (opened once with ONNX Runtime, one thread)."""
    session = create_session(path, ["CPUExecutionProvider"], threads=1)

    def spec(arg) -> TensorSpec:
        if arg.type not in ORT_TO_TRITON:
            raise ValueError(f"{path}: tensor {arg.name!r} has type {arg.type}, which Triton cannot serve")
        return TensorSpec(arg.name, ORT_TO_TRITON[arg.type], tuple(d if isinstance(d, int) else -1 for d in arg.shape))

    return Signature(
        inputs=tuple(spec(a) for a in session.get_inputs()),
        outputs=tuple(spec(a) for a in session.get_outputs()),
        metadata=dict(session.get_modelmeta().custom_metadata_map),
    )
