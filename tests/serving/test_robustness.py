"""Bad inputs get an error response each and never take a model down; thousands of requests at
high concurrency all succeed, and Triton's metrics count them."""

from __future__ import annotations

import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from vehiclekit.errors import InvalidImageError, VehiclekitError
from vehiclekit.sdk import VehicleClassifier
from vehiclekit.sdk.remote import TritonClient
from vehiclekit.models.serving_contract import CLASSIFIER, DETECTOR, DETECTOR_NETWORK, IMAGE, MODELS, PIPELINE, REID

#: The served classifier's input side, from the zoo model's metadata.
SIDE = VehicleClassifier().metadata.input_size[0]
LOAD_REQUESTS = 3000
LOAD_CONCURRENCY = 24


def png(width: int, height: int, corrupt_crc: bool = False) -> bytes:
    """A black RGB PNG of any size, small however large (rows of zeros compress to almost nothing)."""
    def chunk(kind: bytes, data: bytes, crc_offset: int = 0) -> bytes:
        crc = (zlib.crc32(kind + data) + crc_offset) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    packer = zlib.compressobj(9)
    row = b"\x00" * (width * 3 + 1)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header, int(corrupt_crc)) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bad_images(street_jpeg) -> dict[str, tuple[bytes, str]]:
    """Name -> (bytes, what the error says)."""
    undecodable = "not a decodable image"
    return {
        "zero-byte": (b"", "are empty"),
        "non-image": (b"%PDF-1.7\nthis is a document, not a picture\n" * 20, undecodable),
        "truncated": (street_jpeg[:600], undecodable),
        "corrupt": (png(64, 64, corrupt_crc=True), undecodable),
        "huge-side": (png(20_001, 2), "larger than the SDK accepts"),  # decodes; the SDK refuses the side
        "huge-pixels": (png(12_000, 12_000), "12000x12000 pixels, larger than"),  # 420 kB: refused by its header
    }


def raw_request(server, protocol: str, model: str, name: str, array: np.ndarray, datatype: str):
    """A request built by hand with tritonclient, bypassing vehiclekit's client-side checks."""
    module = httpclient if protocol == "http" else grpcclient
    client = module.InferenceServerClient(f"127.0.0.1:{server.http_port if protocol == 'http' else server.grpc_port}")
    tensor = module.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return client.infer(model, [tensor])


def assert_still_serving(client: TritonClient, good_image: bytes) -> None:
    assert client.is_ready() and all(client.is_ready(model) for model in MODELS)
    assert client.classify(np.zeros((2, 3, SIDE, SIDE), np.float32)).shape[0] == 2
    assert len(client.detect(good_image)) > 0
    assert len(client.recognize(good_image)) > 0


@pytest.mark.parametrize("model", [DETECTOR, PIPELINE])
def test_bad_images_get_an_error_each(client, model, bad_images, street_jpeg):
    call = client.detect if model == DETECTOR else client.recognize
    for name, (data, message) in bad_images.items():
        with pytest.raises(InvalidImageError, match=message):
            call(data)
    assert_still_serving(client, street_jpeg)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_wrong_tensors_get_an_error_each(server, protocol, street_jpeg):
    wrong = [
        (CLASSIFIER, "images", np.zeros((1, 3, SIDE, SIDE), np.float64), "FP64"),  # dtype
        (CLASSIFIER, "images", np.zeros((1, SIDE, SIDE, 3), np.float32), "FP32"),  # shape
        (CLASSIFIER, "images", np.zeros((1, 3, SIDE, SIDE, 1), np.float32), "FP32"),  # rank
        (CLASSIFIER, "images", np.zeros((0, 3, SIDE, SIDE), np.float32), "FP32"),  # empty batch
        (CLASSIFIER, "images", np.zeros((33, 3, SIDE, SIDE), np.float32), "FP32"),  # over max_batch_size
        (REID, "images", np.zeros((1, 3, 64, 64), np.float32), "FP32"),  # not the embedder's input size
        (REID, "images", np.zeros((0, 3, 128, 128), np.float32), "FP32"),  # empty batch
        (DETECTOR_NETWORK, "images", np.zeros((1, 3, 320, 320), np.float32), "FP32"),
        (PIPELINE, IMAGE, np.zeros(1, np.float32), "FP32"),  # numbers, not bytes
        (PIPELINE, IMAGE, np.array([b"a", b"b"], dtype=np.object_), "BYTES"),  # two images
        (PIPELINE, IMAGE, np.array([], dtype=np.object_), "BYTES"),  # none
        (DETECTOR, IMAGE, np.zeros((1, 8, 8, 3), np.uint8), "UINT8"),  # raw pixels
    ]
    for model, name, array, datatype in wrong:
        with pytest.raises(InferenceServerException):
            raw_request(server, protocol, model, name, array, datatype)
    assert_still_serving(TritonClient(getattr(server, f"{protocol}_url")), street_jpeg)


def test_bad_request_parameters_get_an_error(client, street_jpeg):
    with pytest.raises(VehiclekitError, match="score_threshold"):
        client.detect(street_jpeg, score_threshold=1.5)
    with pytest.raises(VehiclekitError, match="min_box_size"):
        client.recognize(street_jpeg, min_box_size=0)
    assert len(client.detect(street_jpeg)) > 0


@pytest.mark.slow
def test_thousands_of_requests_at_high_concurrency(server, read_metric):
    client = TritonClient(server.grpc_url, timeout=60)
    crops = np.random.default_rng(0).normal(size=(LOAD_REQUESTS, 1, 3, SIDE, SIDE)).astype(np.float32)
    success_before = read_metric(server, "nv_inference_request_success", CLASSIFIER)
    failure_before = read_metric(server, "nv_inference_request_failure", CLASSIFIER)
    with ThreadPoolExecutor(LOAD_CONCURRENCY) as pool:
        logits = list(pool.map(client.classify, crops))
    assert all(len(out) == 1 and np.isfinite(out).all() for out in logits)
    deadline = time.monotonic() + 10  # Triton records a request's statistics just after answering it
    while read_metric(server, "nv_inference_request_success", CLASSIFIER) - success_before < LOAD_REQUESTS:
        assert time.monotonic() < deadline, "the metrics endpoint never counted every request"
        time.sleep(0.1)
    assert read_metric(server, "nv_inference_request_success", CLASSIFIER) - success_before == LOAD_REQUESTS
    assert read_metric(server, "nv_inference_request_failure", CLASSIFIER) == failure_before
    executions = read_metric(server, "nv_inference_exec_count", CLASSIFIER)
    assert executions < read_metric(server, "nv_inference_count", CLASSIFIER)  # dynamic batching merged requests
