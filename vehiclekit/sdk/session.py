"""ONNX Runtime sessions for the SDK models: provider choice, threads, readable load errors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnxruntime as ort

from vehiclekit.errors import ModelNotFoundError, VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.models.metadata import ClassifierMetadata

if TYPE_CHECKING:
    from vehiclekit.sdk.remote import TritonClient

#: Providers used when none are given, best first; only the ones this onnxruntime build has are kept
#: (``onnxruntime-gpu`` adds CUDA, the plain wheel has CPU only).
PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
#: Default cap on intra-op threads: more rarely helps these small models and starves other work.
MAX_DEFAULT_THREADS = 4


def default_threads() -> int:
    """CPU cores this process may use, capped at :data:`MAX_DEFAULT_THREADS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_THREADS))


def create_session(
    path: str | os.PathLike,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    spin: bool = True,
) -> ort.InferenceSession:
    """Open the ONNX model at ``path`` once, for many ``run`` calls.

    ``providers``: ONNX Runtime execution providers, best first (default: CUDA when available,
    then CPU). ``threads``: intra-op threads (default: :func:`default_threads`). ``spin=False``
    makes idle intra-op threads sleep instead of busy-waiting for the next run: slower for a lone
    caller, much faster when other processes share the cores (the Triton server: 2.2x the
    ``vehicle_type`` throughput at 8 concurrent clients on 2 cores).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"ONNX model {path} does not exist: check the path")
    if providers is None:
        available = ort.get_available_providers()
        providers = [p for p in PREFERRED_PROVIDERS if p in available]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no warnings on stderr for a working model
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))
    except Exception as e:  # ORT raises its own exception types (InvalidProtobuf, Fail, ...)
        raise VehiclekitError(f"cannot load ONNX model {path}: {e}") from None


def check_precision(precision: str, chosen_otherwise: bool) -> None:
    """``precision`` chooses among zoo files only: anything but fp32 with a model that is
    ``chosen_otherwise`` (a model_path, session or server given) is an error saying what to do."""
    if precision not in zoo.PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {zoo.PRECISIONS}")
    if precision != "fp32" and chosen_otherwise:
        raise ValueError(f"precision={precision!r} picks a zoo model's variant: leave model_path, session and url "
                         "unset (a server's precision is chosen by `vehiclekit serve --precision`)")


def zoo_file(model: str, task: str, precision: str = "fp32", model_path: str | os.PathLike | None = None) -> Path:
    """``model_path`` when given, else the zoo's ``model`` (a ``task`` model) at ``precision``."""
    check_precision(precision, model_path is not None)
    if model_path is not None:
        return Path(model_path)
    entry = zoo.get(model)
    if entry.task != task:
        raise VehiclekitError(f"zoo model {model!r} is a {entry.task} model, not a {task} model")
    return entry.path_for(precision)


def open_model(
    model: str,
    model_path: str | os.PathLike | None,
    task: str,
    served_as: str,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    url: "str | TritonClient | None" = None,
    session: Any = None,
    precision: str = "fp32",
) -> tuple[Any, Path | None, ClassifierMetadata]:
    """The session an SDK model runs on, the ONNX file behind it (None otherwise) and the vehiclekit
    metadata it carries: Triton's ``served_as`` model at ``url``; else ``session`` as given; else
    ``model_path``; else the zoo's ``model`` at ``precision`` (see :func:`zoo_file`)."""
    path = None
    check_precision(precision, model_path is not None or url is not None or session is not None)
    if url is not None:
        from vehiclekit.sdk.remote import remote_client

        session = remote_client(url).session(served_as)
    elif session is None:
        path = zoo_file(model, task, precision, model_path)
        session = create_session(path, providers, threads)
    try:
        metadata = ClassifierMetadata.from_props(session.get_modelmeta().custom_metadata_map)
    except ValueError as e:
        raise VehiclekitError(f"{path or session}: {e}") from None
    return session, path, metadata
