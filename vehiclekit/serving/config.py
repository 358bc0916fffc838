"""``config.pbtxt`` files, built as Triton's own ``ModelConfig`` protobuf (the schema tritonclient ships)
and written with protobuf's text format, so every file the builder writes is one Triton can parse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from vehiclekit.models.serving_contract import TensorSpec


@dataclass(frozen=True)
class Batching:
    """Server-side dynamic batching: requests queue up to ``max_queue_delay_us`` to form a batch of
    a preferred size, never more than ``max_batch_size`` items."""

    max_batch_size: int
    preferred_batch_sizes: tuple[int, ...]
    max_queue_delay_us: int


@dataclass(frozen=True)
class Instances:
    """How many copies of a model run, and where (``KIND_CPU`` or ``KIND_GPU``)."""

    count: int
    kind: str = "KIND_CPU"


def model_config(
    name: str,
    backend: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    instances: Instances,
    batching: Batching | None = None,
    parameters: Mapping[str, str] | None = None,
) -> pb.ModelConfig:
    """A complete model configuration. ``inputs``/``outputs`` hold full shapes; with ``batching``
    their first (batch) axis becomes Triton's implicit batch dimension. Only the newest version is
    served."""
    config = pb.ModelConfig(name=name, backend=backend, max_batch_size=batching.max_batch_size if batching else 0)
    config.version_policy.latest.num_versions = 1
    for spec in inputs:
        config.input.add(name=spec.name, data_type=pb.DataType.Value(spec.data_type), dims=_dims(spec, batching))
    for spec in outputs:
        config.output.add(name=spec.name, data_type=pb.DataType.Value(spec.data_type), dims=_dims(spec, batching))
    if batching:
        config.dynamic_batching.preferred_batch_size.extend(batching.preferred_batch_sizes)
        config.dynamic_batching.max_queue_delay_microseconds = batching.max_queue_delay_us
    config.instance_group.add(count=instances.count, kind=pb.ModelInstanceGroup.Kind.Value(instances.kind))
    for key, value in (parameters or {}).items():
        config.parameters[key].string_value = value
    return config


def add_tensorrt(config: pb.ModelConfig, inputs: Sequence[TensorSpec], cache_dir: str, precision: str = "FP16") -> None:
    """Let the onnxruntime backend run ``config``'s model through TensorRT (``precision``), with an
    engine cache in ``cache_dir`` and, for a batched model, one optimisation profile spanning batch 1
    to ``max_batch_size`` (optimised for the largest preferred batch)."""
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
    settings = {
        "precision_mode": precision,
        "max_workspace_size_bytes": str(1 << 30),
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": cache_dir,
    }
    if config.max_batch_size:
        preferred = max(config.dynamic_batching.preferred_batch_size, default=config.max_batch_size)
        for key, batch in (("min", 1), ("opt", preferred), ("max", config.max_batch_size)):
            settings[f"trt_profile_{key}_shapes"] = ",".join(
                f"{spec.name}:" + "x".join(str(d) for d in (batch, *spec.dims[1:])) for spec in inputs
            )
    for key, value in settings.items():
        accelerator.parameters[key] = value


def add_warmup(config: pb.ModelConfig) -> None:
    """One zero-filled request at load time (batch 1), so a TensorRT engine is built before the model
    reports ready rather than on the first client request."""
    warmup = config.model_warmup.add(name="zeros", batch_size=1 if config.max_batch_size else 0)
    for tensor in config.input:
        warmup.inputs[tensor.name].data_type = tensor.data_type
        warmup.inputs[tensor.name].dims.extend(tensor.dims)
        warmup.inputs[tensor.name].zero_data = True


def render(config: pb.ModelConfig) -> str:
    """The ``config.pbtxt`` text of ``config``."""
    return "# Written by `vehiclekit serving build-repo`; rebuild rather than edit.\n" + text_format.MessageToString(config)


def parse(text: str) -> pb.ModelConfig:
    """Parse ``config.pbtxt`` text with Triton's schema (raises ``text_format.ParseError`` on any
    unknown field or bad value)."""
    return text_format.Parse(text, pb.ModelConfig())


def _dims(spec: TensorSpec, batching: Batching | None) -> tuple[int, ...]:
    return spec.dims[1:] if batching else spec.dims
