"""Every served model over HTTP and gRPC gives what the embedded SDK gives on the same input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vehiclekit.models.preprocess import classifier_input
from vehiclekit.sdk import VehicleDetector
from vehiclekit.sdk.detector import letterbox
from vehiclekit.models.serving_contract import CLASSIFIER, DETECTOR_NETWORK, MODELS
from vehiclekit.serving.onnx_signature import read_signature

BOX_TOLERANCE = 0.5  # pixels
PROBABILITY_TOLERANCE = 1e-4



def test_every_model_is_ready(client):
    assert client.is_ready()
    assert all(client.is_ready(model) for model in MODELS)


def test_classifier_metadata_comes_from_the_server(client, classifier_onnx):
    signature, max_batch_size = client.signature(CLASSIFIER)
    assert signature.metadata == read_signature(classifier_onnx).metadata
    assert max_batch_size == 32


def test_vehicle_type_logits_equal_onnx_runtime(client, embedded_classifier, vehicle_images):
    crops = [cv2.imread(str(p))[40:200, 60:260] for p in vehicle_images]
    meta = embedded_classifier.metadata
    batch = classifier_input(crops * 2, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
    assert len(batch) > 32  # more than one request's worth: the client splits it
    (expected,) = embedded_classifier.session.run(["logits"], {"images": batch})
    np.testing.assert_allclose(client.classify(batch), expected, atol=1e-4)


def test_yolox_nano_output_equals_onnx_runtime(client, detector, vehicle_images):
    tensor, _ = letterbox(cv2.imread(str(vehicle_images[0])), detector.input_size)
    (expected,) = detector.session.run(None, {detector.input_name: tensor[None]})
    got = client.infer(DETECTOR_NETWORK, {"images": tensor[None]}, ["output"])["output"]
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize("thresholds", [{}, {"score_threshold": 0.6, "iou_threshold": 0.3}])
def test_detector_equals_embedded(client, vehicle_images, thresholds):
    embedded = VehicleDetector(**thresholds)
    for path in vehicle_images:
        expected = embedded.detect(path)
        got = client.detect(path.read_bytes(), **thresholds)
        assert [d.label for d in got] == [d.label for d in expected], path.name
        np.testing.assert_allclose([d.bbox for d in got] or np.empty((0, 4)), [d.bbox for d in expected] or np.empty((0, 4)),
                                   atol=BOX_TOLERANCE)
        np.testing.assert_allclose([d.score for d in got], [d.score for d in expected], atol=PROBABILITY_TOLERANCE)


def test_pipeline_on_coco_images_equals_embedded(client, vehicle_images, embedded_recognitions, embedded_classifier):
    found = 0
    for path in vehicle_images:
        expected = embedded_recognitions[path.name]
        got = client.recognize(path.read_bytes())
        assert [v.detection.label for v in got] == [v.detection.label for v in expected], path.name
        assert [v.classification.label for v in got] == [v.classification.label for v in expected], path.name
        np.testing.assert_allclose([v.detection.bbox for v in got] or np.empty((0, 4)),
                                   [v.detection.bbox for v in expected] or np.empty((0, 4)), atol=BOX_TOLERANCE)
        labels = embedded_classifier.labels
        assert all(list(v.classification.probabilities) == list(labels) for v in got)   # the served classifier's order
        np.testing.assert_allclose([list(v.classification.probabilities.values()) for v in got] or np.empty((0, len(labels))),
                                   [[v.classification.probabilities[label] for label in labels] for v in expected]
                                   or np.empty((0, len(labels))), atol=PROBABILITY_TOLERANCE)
        np.testing.assert_allclose([v.classification.confidence for v in got], [v.classification.confidence for v in expected],
                                   atol=PROBABILITY_TOLERANCE)
        found += len(expected)
    assert found >= 20  # the COCO images hold dozens of vehicles: the comparison is not vacuous


def test_pipeline_min_box_size_parameter(client, street_jpeg):
    everything = client.recognize(street_jpeg, min_box_size=1)
    large_only = client.recognize(street_jpeg, min_box_size=100)
    sides = [min(v.detection.width, v.detection.height) for v in everything]
    assert 0 < len(large_only) < len(everything)
    assert len(large_only) <= sum(side >= 98 for side in sides)  # a crop is at most 2 px wider than its box
