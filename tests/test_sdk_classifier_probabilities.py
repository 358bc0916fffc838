"""Classifier probabilities against numbers computed another way: softmax written with math.exp,
the shipped model's raw ONNX logits run here, and label groups summed by hand."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from vehiclekit.models import zoo
from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.paths import REPO_ROOT
from vehiclekit.sdk.classifier import group_matrix, softmax

SPLIT = REPO_ROOT / "vehiclekit" / "training" / "core" / "splits" / "vehicle-types.json"


def softmax_by_hand(logits: list[float]) -> list[float]:
    exps = [math.exp(v) for v in logits]
    return [e / sum(exps) for e in exps]


def test_softmax_equals_the_formula_row_by_row():
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 999.0], [-5.0, 0.0, 5.0]])
    np.testing.assert_allclose(softmax(logits)[0], softmax_by_hand([1, 2, 3]), rtol=1e-12)
    np.testing.assert_allclose(softmax(logits)[1], softmax_by_hand([1, 1, 0]), rtol=1e-12)   # stable: shift per row
    np.testing.assert_allclose(softmax(logits)[2], softmax_by_hand([-5, 0, 5]), rtol=1e-12)
    assert softmax(np.array([[0.0, math.log(3)]]))[0].tolist() == pytest.approx([0.25, 0.75])


def test_the_shipped_model_reports_the_softmax_of_its_own_logits(classifier, data_dir):
    """Real crops: the SDK's probabilities are softmax (math.exp) of the ONNX logits, computed here."""
    paths = [data_dir / "vehicle-types" / rel for rel in json.loads(SPLIT.read_text())["test"][::100][:5]]
    meta = classifier.metadata
    batch = classifier_input([cv2.imread(str(p)) for p in paths], tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
    session = ort.InferenceSession(str(zoo.get("vehicle-type").path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {session.get_inputs()[0].name: batch})
    for path, row, prediction in zip(paths, logits, classifier.predict_batch(paths)):
        expected = softmax_by_hand([float(v) for v in row])
        assert list(prediction.probabilities.values()) == pytest.approx(expected, abs=1e-5), path
        assert prediction.confidence == pytest.approx(max(expected), abs=1e-5)
        assert prediction.label == classifier.labels[int(np.argmax(row))]


def test_group_probabilities_are_sums_of_their_classes():
    meta = ClassifierMetadata("m", "1", ("a1", "b1", "a2", "c1"), (8, 8), (0, 0, 0), (1, 1, 1),
                              groups={"make": ("a", "b", "a", "c")})
    labels, matrix = group_matrix(meta, "make")
    assert labels == ("a", "b", "c")
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]]
    assert (np.array([0.1, 0.2, 0.3, 0.4]) @ matrix).tolist() == pytest.approx([0.4, 0.2, 0.4])
