"""The SDK's url= backend: VehicleClassifier, VehicleDetector and VehicleRecognizer against the
server over HTTP and gRPC return what they return embedded (same labels, probabilities within
1e-4, boxes within 0.5 px), and fail with errors that name the server and the model."""

from __future__ import annotations

import re
import time

import cv2
import numpy as np
import pytest

from vehiclekit.errors import InvalidImageError, ServerError
from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleRecognizer, VehicleReID
from vehiclekit.sdk.remote import TritonClient
from vehiclekit.serving.launcher import free_ports

BOX_TOLERANCE = 0.5  # pixels
PROBABILITY_TOLERANCE = 1e-4


def assert_same_prediction(got, expected) -> None:
    assert got.label == expected.label
    assert (got.model, got.model_version) == (expected.model, expected.model_version)
    assert got.probabilities.keys() == expected.probabilities.keys()
    for label, p in expected.probabilities.items():
        assert got.probabilities[label] == pytest.approx(p, abs=PROBABILITY_TOLERANCE)


def assert_same_detection(got, expected) -> None:
    assert got.label == expected.label
    assert got.score == pytest.approx(expected.score, abs=PROBABILITY_TOLERANCE)
    np.testing.assert_allclose(got.bbox, expected.bbox, atol=BOX_TOLERANCE)


def test_recognizer_parity(client, vehicle_images, embedded_recognitions):
    remote = VehicleRecognizer(url=client)
    compared = 0
    for path in vehicle_images:
        got, expected = remote.recognize(path), embedded_recognitions[path.name]
        assert len(got) == len(expected), path.name
        for g, e in zip(got, expected):
            assert_same_detection(g.detection, e.detection)
            assert_same_prediction(g.classification, e.classification)
        compared += len(expected)
    assert compared >= 20


def test_detector_parity_on_arrays_bytes_and_paths(client, vehicle_images, detector):
    remote = VehicleDetector(url=client.url)
    for path in vehicle_images[:6]:
        expected = detector.detect(path)
        for image in (path, path.read_bytes(), cv2.imread(str(path))):
            got = remote.detect(image)
            assert len(got) == len(expected), path.name
            for g, e in zip(got, expected):
                assert_same_detection(g, e)


def test_classifier_parity_in_batches(client, vehicle_images, embedded_classifier):
    crops = [cv2.imread(str(p))[50:230, 80:300] for p in vehicle_images] * 2  # > 32: two requests
    remote = VehicleClassifier(url=client)
    assert remote.labels == embedded_classifier.labels
    for got, expected in zip(remote.predict_batch(crops), embedded_classifier.predict_batch(crops), strict=True):
        assert_same_prediction(got, expected)
    assert_same_prediction(remote.predict(crops[0]), embedded_classifier.predict(crops[0]))


def test_reid_parity_single_and_batched(client, data_dir):
    images = sorted((data_dir / "vehicle-reid" / "images" / "test").glob("*.jpg"))[:40]  # > 32: two requests
    local, remote = VehicleReID(), VehicleReID(url=client)
    assert remote.dim == local.dim and remote.metadata == local.metadata
    expected = local.embed(images)
    np.testing.assert_allclose(remote.embed(images), expected, atol=1e-5)
    np.testing.assert_allclose(remote.embed(images[0]), expected[0], atol=1e-5)


def test_recognizer_embeds_on_the_server_in_the_same_round_trip(client, vehicle_images, embedded_classifier, detector):
    local = VehicleRecognizer(embedded_classifier, detector, reid=True)
    remote = VehicleRecognizer(url=client, reid=True)
    assert remote.reid is None and "on the server" in repr(remote)
    compared = 0
    for path in vehicle_images[:5]:
        got, expected = remote.recognize(path), local.recognize(path)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same_prediction(g.classification, e.classification)
            np.testing.assert_allclose(g.embedding, e.embedding, atol=1e-4)
        compared += len(got)
    assert compared >= 5
    assert all(v.embedding is None for v in VehicleRecognizer(url=client).recognize(vehicle_images[0]))


def test_attributes_come_from_the_server_in_the_same_round_trip(client, vehicle_images, embedded_classifier, detector):
    """Make, model and body type of each car/SUV/van/pickup: remote = embedded; none for other types."""
    attributes = ("make", "model", "body")
    local = VehicleRecognizer(embedded_classifier, detector, attributes=attributes)
    remote = VehicleRecognizer(url=client, attributes=attributes)
    with_attributes = without = 0
    for path in vehicle_images[:8]:
        got, expected = remote.recognize(path), local.recognize(path)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.attributes.keys() == e.attributes.keys()
            for name in e.attributes:
                assert_same_prediction(g.attributes[name], e.attributes[name])
            with_attributes += bool(e.attributes)
            without += not e.attributes
    assert with_attributes >= 5 and without >= 1
    makes = VehicleClassifier(model="vehicle-make", url=client)
    assert makes.labels == VehicleClassifier(model="vehicle-make").labels and makes.metadata.name == "vehicle-model:make"


def test_bad_images_raise_invalid_image_error(client):
    with pytest.raises(InvalidImageError, match="not a decodable image"):
        VehicleDetector(url=client).detect(b"certainly not a JPEG")
    with pytest.raises(InvalidImageError, match="does not exist|cannot read"):
        VehicleRecognizer(url=client).recognize("/no/such/street.jpg")
    with pytest.raises(InvalidImageError, match="dtype"):
        VehicleClassifier(url=client).predict(np.zeros((8, 8, 3), np.float32))


def test_unreachable_server_error_names_server_and_model():
    (port,) = free_ports(1)
    started = time.monotonic()
    with pytest.raises(ServerError) as error:
        VehicleClassifier(url=TritonClient(f"grpc://127.0.0.1:{port}", retries=2, backoff=0.05))
    message = str(error.value)
    assert f"127.0.0.1:{port}" in message and "vehicle_type" in message and "vehiclekit serve" in message
    assert "3 attempts" in message and time.monotonic() - started < 10


def test_timeouts_and_unknown_models_name_the_server(client, street_jpeg):
    street = cv2.imdecode(np.frombuffer(street_jpeg, np.uint8), cv2.IMREAD_COLOR)
    _, large = cv2.imencode(".jpg", cv2.resize(street, (3200, 2400)))  # well over 20 ms to decode and detect
    with pytest.raises(ServerError, match=rf"'vehicle_pipeline' .*{re.escape(client.url)} did not answer within"):
        TritonClient(client.url, timeout=0.02).recognize(large.tobytes())
    with pytest.raises(ServerError, match=rf"{re.escape(client.url)} does not serve model 'vehicle_make'"):
        client.infer("vehicle_make", {"images": np.zeros((1, 3, 96, 96), np.float32)}, ["logits"])
    assert len(client.recognize(street_jpeg)) > 0


def test_bad_urls_are_refused():
    for url in ("127.0.0.1:8000", "ftp://host:21", "http://"):
        with pytest.raises(ValueError, match="http://host:8000, grpc://host:8001 or grpcs://host:8001"):
            TritonClient(url)
