"""A real Triton server for the serving tests: the pip ``tritonserver`` on a cpu-flavor repository
built from the zoo, started once per session on free loopback ports and always stopped.

The server's log goes to ``triton.log`` in the session's temporary folder; a failed start shows its
last lines.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vehiclekit.errors import VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.sdk import RecognizedVehicle, VehicleClassifier, VehicleRecognizer
from vehiclekit.sdk.remote import TritonClient
from vehiclekit.serving.launcher import TritonServer, free_ports
from vehiclekit.serving.repository import build_repository


@pytest.fixture(scope="session")
def classifier_onnx() -> Path:
    """The zoo's classifier ONNX, which the repository serves."""
    try:
        return zoo.get("vehicle-type").path
    except VehiclekitError as e:
        pytest.fail(f"the serving tests need the classifier: {e}", pytrace=False)


@pytest.fixture(scope="session")
def detector_onnx() -> Path:
    try:
        return zoo.get("yolox-nano").path
    except VehiclekitError as e:
        pytest.fail(f"the serving tests need the detector: {e}", pytrace=False)


@pytest.fixture(scope="session")
def cpu_repo(tmp_path_factory, classifier_onnx: Path, detector_onnx: Path) -> Path:
    return build_repository(tmp_path_factory.mktemp("repos") / "cpu", "cpu", classifier_onnx, detector_onnx)


@pytest.fixture(scope="session")
def server(cpu_repo: Path, tmp_path_factory) -> Iterator[TritonServer]:
    """The running server; stopped at the end of the session whatever happens."""
    http_port, grpc_port, metrics_port = free_ports(3)
    log_path = tmp_path_factory.mktemp("logs") / "triton.log"
    with open(log_path, "w") as log:
        # Short exit timeout: clients' idle keep-alive connections would hold the shutdown for the default 10 s.
        triton = TritonServer(cpu_repo, http_port, grpc_port, metrics_port, log=log, exit_timeout=2)
        try:
            triton.start()
            yield triton
        finally:
            triton.stop()


@pytest.fixture(scope="session", params=["http", "grpc"])
def client(request, server: TritonServer) -> TritonClient:
    """A remote client of the server, once per protocol."""
    return TritonClient(server.http_url if request.param == "http" else server.grpc_url, timeout=60)


@pytest.fixture(scope="session")
def street_jpeg(coco_dir: Path) -> bytes:
    """A COCO street scene with 2 buses and 5 cars, as JPEG bytes."""
    return (coco_dir / "images" / "000000423617.jpg").read_bytes()


@pytest.fixture(scope="session")
def vehicle_images(coco_dir: Path, coco_vehicle_boxes) -> list[Path]:
    """The COCO images with at least one ground-truth vehicle."""
    return [coco_dir / "images" / name for name, boxes in sorted(coco_vehicle_boxes.items()) if boxes]


@pytest.fixture(scope="session")
def embedded_classifier(classifier_onnx: Path) -> VehicleClassifier:
    """The served classifier, run in-process."""
    return VehicleClassifier(model_path=classifier_onnx)


@pytest.fixture(scope="session")
def embedded_recognitions(embedded_classifier, detector, vehicle_images) -> dict[str, list[RecognizedVehicle]]:
    """Image name -> what the embedded SDK recognizes in it, for the parity tests."""
    recognizer = VehicleRecognizer(embedded_classifier, detector)
    return {path.name: recognizer.recognize(path) for path in vehicle_images}


def metric(server: TritonServer, name: str, model: str) -> float:
    """Prometheus metric ``name`` of ``model`` (version 1) on ``server``, summed over its other labels
    (failures come per ``reason``)."""
    text = urllib.request.urlopen(server.metrics_url, timeout=5).read().decode()
    values = [
        float(value)
        for labels, value in re.findall(rf"^{name}{{(.*)}} (\S+)$", text, re.MULTILINE)
        if f'model="{model}"' in labels and 'version="1"' in labels
    ]
    assert values, f"metric {name} for {model} missing from {server.metrics_url}"
    return sum(values)


@pytest.fixture(scope="session")
def read_metric():
    """:func:`metric`, as a fixture so test modules need not import conftest."""
    return metric
