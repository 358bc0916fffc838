"""Build a Triton model repository from the model zoo (``vehiclekit serving build-repo OUT``).

Two flavors expose the same models with the same inputs and outputs (see
:mod:`vehiclekit.models.serving_contract`); they differ only in what runs the two ONNX files:

* ``cpu`` — for the ``tritonserver`` that ``nvidia-pytriton`` installs from pip, which has only the
  python backend: ``vehicle_type`` and ``yolox_nano`` are python-backend models running the ONNX
  files with ONNX Runtime (:mod:`vehiclekit.serving.backend.onnx_model`).
* ``gpu`` — for NVIDIA's ``tritonserver`` image: the ONNX files run on the ``onnxruntime`` backend
  on the GPU, optionally through TensorRT in FP16, warmed up at load.

``vehicle_detector`` and ``vehicle_pipeline`` are python-backend models in both flavors: YOLOX's
decoding and NMS, image decoding and cropping are not ONNX graphs, so they run the SDK's own code
(:class:`~vehiclekit.sdk.VehicleDetector`, :class:`~vehiclekit.sdk.VehicleRecognizer`). The detector
reaches ``yolox_nano`` through BLS (business-logic scripting: an in-server request to another model),
so its python code is identical in both flavors. The pipeline does so in the ``gpu`` flavor, where the
networks stay on the GPU; in the ``cpu`` flavor it opens the same ONNX files itself
(:data:`PIPELINE_SESSIONS`): each BLS call copied the detector's 2 MB output through shared memory
and queued behind other requests, which held the pipeline at 0.49–0.73 of in-process speed.

Each python-backend ``model.py`` is a one-line import of a :mod:`vehiclekit.serving.backend`
module, so the server's Python must import vehiclekit (the launcher sees to it, see
:mod:`vehiclekit.serving.launcher`; the Docker image installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from vehiclekit import __version__
from vehiclekit.errors import VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.models.metadata import EMBEDDING_OUTPUT, ClassifierMetadata
from vehiclekit.sdk.classifier import VehicleClassifier
from vehiclekit.sdk.reid import VehicleReID
from vehiclekit.serving import config as cfg
from vehiclekit.models.serving_contract import (
    ATTRIBUTES,
    CLASSIFIER,
    DETECTOR,
    REID,
    DETECTOR_NETWORK,
    DETECTOR_OUTPUTS,
    IMAGE_INPUT,
    MODELS,
    PIPELINE,
    PIPELINE_SESSIONS,
    Signature,
    TensorSpec,
    pipeline_outputs,
    signature_parameter,
)
from vehiclekit.serving.onnx_signature import read_signature

FLAVORS = ("cpu", "gpu")
#: File at the repository root describing what was built (Triton ignores files there).
MANIFEST = "vehiclekit-repository.json"
#: Where the gpu flavor's TensorRT engines are cached inside the server container.
TRT_CACHE_DIR = "/var/cache/vehiclekit/tensorrt"

#: The classifier takes whole SDK batches in one request, and batches single-crop requests. No queue
#: delay: requests that arrive while the instance runs a batch form the next one anyway, and a lone
#: request should not wait. vehicle_type served +13 / +8 / +6 % requests/s at concurrency 1 / 8 / 32
#: against a 500 us delay, and a second instance added nothing (``benchmarks/classifier_batching.py``,
#: docs/results.md §17).
CLASSIFIER_BATCHING = cfg.Batching(
    max_batch_size=VehicleClassifier.batch_size, preferred_batch_sizes=(8, 16, 32), max_queue_delay_us=0
)
#: The re-ID embedder likewise (the SDK's VehicleReID sends batches of the same size).
REID_BATCHING = replace(CLASSIFIER_BATCHING, max_batch_size=VehicleReID.batch_size)
#: Instances per model and flavor. CPU: one ONNX Runtime instance per network (it uses several
#: threads), two pipeline instances so one decodes and crops while the other waits on YOLOX. GPU: the
#: fixed-batch detector network runs twice to overlap, the python models run on CPU beside it.
INSTANCES = {
    "cpu": {
        CLASSIFIER: cfg.Instances(1),
        ATTRIBUTES: cfg.Instances(1),
        REID: cfg.Instances(1),
        DETECTOR_NETWORK: cfg.Instances(1),
        DETECTOR: cfg.Instances(1),
        PIPELINE: cfg.Instances(2),
    },
    "gpu": {
        CLASSIFIER: cfg.Instances(1, "KIND_GPU"),
        ATTRIBUTES: cfg.Instances(1, "KIND_GPU"),
        REID: cfg.Instances(1, "KIND_GPU"),
        DETECTOR_NETWORK: cfg.Instances(2, "KIND_GPU"),
        DETECTOR: cfg.Instances(2),
        PIPELINE: cfg.Instances(4),
    },
}
#: How ``vehicle_pipeline`` runs the networks, per flavor (see :mod:`vehiclekit.serving.backend.pipeline`).
PIPELINE_SESSIONS_BY_FLAVOR = {"cpu": "in-process", "gpu": "bls"}
#: Backend module implementing each python-backend model.
BACKEND_MODULES = {
    "onnx": "vehiclekit.serving.backend.onnx_model",
    DETECTOR: "vehiclekit.serving.backend.detector",
    PIPELINE: "vehiclekit.serving.backend.pipeline",
}


def build_repository(
    out: str | os.PathLike,
    flavor: str = "cpu",
    classifier: str | os.PathLike | None = None,
    detector: str | os.PathLike | None = None,
    tensorrt: bool = True,
    reid: str | os.PathLike | None = None,
    attributes: str | os.PathLike | None = None,
    models: dict[str, str | os.PathLike] | None = None,
    precision: str = "fp32",
) -> Path:
    """Write a complete model repository to ``out`` and return its path.

    ``classifier`` / ``detector`` / ``reid`` / ``attributes``: ONNX files to serve (default: the
    zoo's ``vehicle-type``, ``yolox-nano``, ``vehicle-reid`` and ``vehicle-model``). ``models``: more
    classifiers (``train-vehicle export`` files, e.g. retrained on the user's images) served beside
    them under their own names, dynamically batched like ``vehicle_type``; ``VehicleClassifier(model=NAME,
    url=...)`` reaches one. ``tensorrt`` (gpu flavor only): run the ONNX models through TensorRT FP16.
    ``precision="int8"`` (cpu flavor): the zoo's INT8 variants replace the defaults (the detector,
    which has none, and files given explicitly are served as they are); on a GPU, TensorRT FP16 is
    the fast path.
    ``out`` must be missing, empty or a repository built here before (it is then replaced as a
    whole; the new one is assembled beside it first).
    """
    if flavor not in FLAVORS:
        raise ValueError(f"unknown flavor {flavor!r}; choose one of {FLAVORS}")
    if precision not in zoo.PRECISIONS or (flavor == "gpu" and precision != "fp32"):
        raise VehiclekitError(f"precision {precision!r} is not available for the {flavor} flavor: the cpu flavor serves "
                              f"{zoo.PRECISIONS}, the gpu flavor fp32 (TensorRT FP16 by default)")
    out = Path(out)
    _check_replaceable(out)
    classifier_path = Path(classifier or zoo.get("vehicle-type").path_for(precision))
    detector_path = Path(detector or zoo.get(zoo.DEFAULT_DETECTOR).path_for(zoo.available_precision(zoo.DEFAULT_DETECTOR, precision)))
    classifier_signature = read_signature(classifier_path)
    try:
        labels = ClassifierMetadata.from_props(classifier_signature.metadata).labels
    except ValueError as e:
        raise VehiclekitError(f"{classifier_path}: {e}") from None
    detector_signature = read_signature(detector_path)
    reid_path = Path(reid or zoo.get("vehicle-reid").path_for(precision))
    reid_signature = read_signature(reid_path)
    embedding_dim = next(o.dims[-1] for o in reid_signature.outputs if o.name == EMBEDDING_OUTPUT)
    attributes_path = Path(attributes or zoo.get("vehicle-model").path_for(precision))
    attributes_signature = read_signature(attributes_path)
    num_models = len(ClassifierMetadata.from_props(attributes_signature.metadata).labels)
    extra = {name: (Path(path), _custom_signature(name, Path(path))) for name, path in (models or {}).items()}

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        _write_onnx_model(staging, CLASSIFIER, classifier_path, classifier_signature, flavor, tensorrt, CLASSIFIER_BATCHING)
        _write_onnx_model(staging, DETECTOR_NETWORK, detector_path, detector_signature, flavor, tensorrt, None)
        _write_onnx_model(staging, REID, reid_path, reid_signature, flavor, tensorrt, REID_BATCHING)
        _write_onnx_model(staging, ATTRIBUTES, attributes_path, attributes_signature, flavor, tensorrt, CLASSIFIER_BATCHING)
        for name, (path, signature) in extra.items():
            _write_onnx_model(staging, name, path, signature, flavor, tensorrt, CLASSIFIER_BATCHING)
        # BLS callers get the signatures of the models they call (see backend.bls.BlsSession).
        calls_classifier = {signature_parameter(CLASSIFIER): classifier_signature.to_json()}
        calls_detector = {signature_parameter(DETECTOR_NETWORK): detector_signature.to_json()}
        calls_reid = {signature_parameter(REID): reid_signature.to_json()}
        calls_attributes = {signature_parameter(ATTRIBUTES): attributes_signature.to_json()}
        _write_python_model(
            staging, DETECTOR, (IMAGE_INPUT,), DETECTOR_OUTPUTS, INSTANCES[flavor][DETECTOR], calls_detector
        )
        _write_python_model(
            staging, PIPELINE, (IMAGE_INPUT,), pipeline_outputs(len(labels), embedding_dim, num_models),
            INSTANCES[flavor][PIPELINE], {**calls_classifier, **calls_detector, **calls_reid, **calls_attributes,
                                          PIPELINE_SESSIONS: PIPELINE_SESSIONS_BY_FLAVOR[flavor]},
        )
        manifest = {
            "flavor": flavor,
            "precision": precision,
            "vehiclekit_version": __version__,
            "tensorrt": flavor == "gpu" and tensorrt,
            "sources": {CLASSIFIER: str(classifier_path), DETECTOR_NETWORK: str(detector_path), REID: str(reid_path),
                        ATTRIBUTES: str(attributes_path), **{name: str(path) for name, (path, _) in extra.items()}},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        staging.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def repository_flavor(path: str | os.PathLike) -> str | None:
    """The flavor of the repository built at ``path``, or None when ``path`` holds none."""
    manifest = Path(path) / MANIFEST
    if not manifest.is_file() or not all((Path(path) / m / "config.pbtxt").is_file() for m in MODELS):
        return None
    return json.loads(manifest.read_text()).get("flavor")


def _check_replaceable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise VehiclekitError(f"{out} is a file; give a folder for the model repository")
    if out.is_dir() and any(out.iterdir()) and repository_flavor(out) is None:
        raise VehiclekitError(
            f"{out} is not empty and is not a repository built by vehiclekit; choose a new or empty folder"
        )


def _write_onnx_model(
    repo: Path, name: str, onnx_path: Path, signature: Signature, flavor: str, tensorrt: bool,
    batching: cfg.Batching | None,
) -> None:
    """An ONNX file as a Triton model: python backend + ONNX Runtime (cpu) or onnxruntime backend (gpu)."""
    if batching and not signature.dynamic_batch:
        raise VehiclekitError(f"{onnx_path} has a fixed batch size; {name} needs a dynamic first axis to batch")
    instances = INSTANCES[flavor].get(name, INSTANCES[flavor][CLASSIFIER])  # a user's classifier runs as vehicle_type does
    backend = "python" if flavor == "cpu" else "onnxruntime"
    config = cfg.model_config(
        name, backend, signature.inputs, signature.outputs, instances, batching, parameters=signature.metadata
    )
    if flavor == "gpu":
        if tensorrt:
            cfg.add_tensorrt(config, signature.inputs, f"{TRT_CACHE_DIR}/{name}")
        cfg.add_warmup(config)
    version_dir = _model_dir(repo, name, config)
    shutil.copyfile(onnx_path, version_dir / "model.onnx")
    if backend == "python":
        _write_entry_point(version_dir, name, BACKEND_MODULES["onnx"])


def _write_python_model(
    repo: Path, name: str, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...], instances: cfg.Instances,
    parameters: dict[str, str],
) -> None:
    config = cfg.model_config(name, "python", inputs, outputs, instances, parameters=parameters)
    _write_entry_point(_model_dir(repo, name, config), name, BACKEND_MODULES[name])


def _model_dir(repo: Path, name: str, config: cfg.pb.ModelConfig) -> Path:
    """Write ``repo/name/config.pbtxt``; return the (created) version folder ``repo/name/1``."""
    version_dir = repo / name / "1"
    version_dir.mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(cfg.render(config))
    return version_dir


def _write_entry_point(version_dir: Path, name: str, module: str) -> None:
    (version_dir / "model.py").write_text(
        f'"""Triton python-backend entry point of `{name}`, written by `vehiclekit serving build-repo`.\n\n'
        f"The model is {module}; the server's Python must import vehiclekit.\n"
        '"""\n\n'
        f"from {module} import TritonPythonModel  # noqa: F401\n"
    )


#: A served model's name: a folder name Triton accepts (letters, digits, ``-``, ``_``, ``.``).
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _custom_signature(name: str, path: Path):
    """The signature of a user's classifier served as ``name``; errors say what is wrong with it."""
    if not MODEL_NAME.fullmatch(name) or name in MODELS:
        raise VehiclekitError(f"cannot serve a model as {name!r}: use letters, digits, '-', '_' or '.', and none of "
                              f"the built-in names {sorted(MODELS)}")
    if not path.is_file():
        raise VehiclekitError(f"model file {path} for {name!r} does not exist")
    signature = read_signature(path)
    try:
        meta = ClassifierMetadata.from_props(signature.metadata)
    except ValueError as e:
        raise VehiclekitError(f"{path}: {e}; export it with `train-vehicle export`") from None
    if meta.task != "classification":
        raise VehiclekitError(f"{path} is a {meta.task} model; --model serves classifiers (`train-vehicle export`)")
    return signature
