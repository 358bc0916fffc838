"""VehicleClassifier: the mechanics on a tiny hand-built ONNX, the accuracy on the shipped model."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from pydantic import ValidationError

from vehiclekit import InvalidImageError, ModelNotFoundError, Prediction, VehicleClassifier, VehiclekitError
from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.models.zoo import VEHICLE_TYPES
from vehiclekit.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from vehiclekit.paths import REPO_ROOT

COLOURS = ("red", "green", "blue")
RED, GREEN, BLUE = ((0, 0, 255), (0, 255, 0), (255, 0, 0))  # BGR
V1_TYPES = ("bike", "car", "juggernaut", "minibus", "pickup", "truck")
TO_V2 = {"bike": "motorcycle", "car": "car", "juggernaut": "heavy-truck", "minibus": "van", "pickup": "pickup", "truck": "truck"}
SPLIT = REPO_ROOT / "vehiclekit" / "training" / "core" / "splits" / "vehicle-types.json"


def save_model(path: Path, props: dict[str, str], output: str = "logits") -> Path:
    """An ONNX whose logits are the mean of each input channel (R, G, B after preprocessing)."""
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], [output], axis=1),
        ],
        "channel_means",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    helper.set_model_props(model, props)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory) -> Path:
    meta = ClassifierMetadata("colours", "1.2", COLOURS, (8, 8), IMAGENET_MEAN, IMAGENET_STD, arch="mean")
    return save_model(tmp_path_factory.mktemp("models") / "colours.onnx", meta.to_props())


@pytest.fixture(scope="module")
def colour_classifier(colour_model) -> VehicleClassifier:
    return VehicleClassifier(model_path=colour_model)


def solid(bgr: tuple[int, int, int], h: int = 20, w: int = 30) -> np.ndarray:
    return np.full((h, w, 3), bgr, np.uint8)


def test_prediction_is_softmax_of_logits_with_metadata_labels(colour_classifier):
    prediction = colour_classifier.predict(solid(RED))
    logits = [(v - m) / s for v, m, s in zip((1.0, 0.0, 0.0), IMAGENET_MEAN, IMAGENET_STD)]   # channel means
    expected = [math.exp(v) / sum(math.exp(w) for w in logits) for v in logits]
    assert prediction.label == "red" and prediction.confidence == pytest.approx(expected[0], abs=1e-5)
    assert list(prediction.probabilities) == list(COLOURS)
    np.testing.assert_allclose(list(prediction.probabilities.values()), expected, atol=1e-5)
    assert (prediction.model, prediction.model_version) == ("colours", "1.2")
    assert str(prediction) == f"red {expected[0]:.2f} (colours 1.2)"


def test_batch_matches_single_predictions_in_order(colour_classifier, monkeypatch):
    images = [solid(BLUE, 5, 50), solid(RED), solid(GREEN, 200, 90), solid(RED, 1, 1), solid(BLUE)]
    singles = [colour_classifier.predict(image) for image in images]
    assert [p.label for p in singles] == ["blue", "red", "green", "red", "blue"]
    assert colour_classifier.predict_batch(images) == singles
    monkeypatch.setattr(colour_classifier, "batch_size", 2)  # 3 ONNX runs
    assert colour_classifier.predict_batch(iter(images)) == singles
    assert colour_classifier.predict_batch([]) == []


@pytest.fixture(scope="module")
def grouped_model(tmp_path_factory) -> Path:
    """The colour model with two label groups, as a make-model-year classifier has make and body."""
    groups = {"warmth": ("warm", "cold", "cold"), "primary": ("r", "g", "b")}
    meta = ClassifierMetadata("colours", "3", COLOURS, (8, 8), IMAGENET_MEAN, IMAGENET_STD, groups=groups)
    return save_model(tmp_path_factory.mktemp("models") / "grouped.onnx", meta.to_props())


def test_a_group_sums_its_classes_probabilities(grouped_model, colour_classifier):
    image = solid((40, 200, 90))                       # mostly green: cold wins only as a group
    classes = colour_classifier.predict(image).probabilities
    warmth = VehicleClassifier(model_path=grouped_model, group="warmth")
    assert warmth.labels == ("cold", "warm")           # sorted group labels
    p = warmth.predict(image)
    assert p.probabilities["warm"] == pytest.approx(classes["red"], abs=1e-6)
    assert p.probabilities["cold"] == pytest.approx(classes["green"] + classes["blue"], abs=1e-6)
    assert p.label == "cold" and (p.model, p.model_version) == ("colours:warmth", "3")


def test_predict_groups_answers_every_group_from_one_run(grouped_model, monkeypatch):
    clf = VehicleClassifier(model_path=grouped_model)
    runs = []
    original = clf.session.run
    monkeypatch.setattr(clf.session, "run", lambda *a: runs.append(1) or original(*a))
    images = [solid(RED), solid(BLUE), solid(GREEN)]
    answers = clf.predict_groups(images, [None, "warmth", "primary"])
    assert len(runs) == 1
    assert [a[0] for a in answers] == clf.predict_batch(images)
    assert [a[1].label for a in answers] == ["warm", "cold", "cold"]
    assert [a[2].label for a in answers] == ["r", "b", "g"]
    assert [a[1] for a in answers] == VehicleClassifier(model_path=grouped_model, group="warmth").predict_batch(images)


def test_an_unknown_group_names_the_known_ones(grouped_model, colour_model):
    with pytest.raises(VehiclekitError, match=r"no label group 'make'; it has \['primary', 'warmth'\]"):
        VehicleClassifier(model_path=grouped_model, group="make")
    with pytest.raises(VehiclekitError, match="no label group 'make'; it has none"):
        VehicleClassifier(model_path=colour_model, group="make")
    with pytest.raises(ValueError, match="3 entries for 2 labels"):
        ClassifierMetadata("x", "1", ("a", "b"), (8, 8), IMAGENET_MEAN, IMAGENET_STD, groups={"g": ("1", "2", "3")})


def test_every_input_form(colour_classifier, tmp_path):
    path = tmp_path / "green.png"
    cv2.imwrite(str(path), solid(GREEN))
    for source in (path, str(path), path.read_bytes(), solid(GREEN), cv2.cvtColor(solid(GREEN), cv2.COLOR_BGR2BGRA)):
        assert colour_classifier.predict(source).label == "green"


def test_bad_images_raise_invalid_image_error(colour_classifier, tmp_path):
    with pytest.raises(InvalidImageError, match="does not exist"):
        colour_classifier.predict(tmp_path / "missing.jpg")
    with pytest.raises(InvalidImageError, match="not a decodable image"):
        colour_classifier.predict(b"\x89PNG broken")
    with pytest.raises(InvalidImageError, match=r"image 1 of the batch: .*shape \(3, 8, 8\)"):
        colour_classifier.predict_batch([solid(RED), np.zeros((3, 8, 8), np.uint8)])
    with pytest.raises(InvalidImageError, match="batch must be a list"):
        colour_classifier.predict_batch(solid(RED))


def test_models_without_the_vehiclekit_contract_are_refused(tmp_path, colour_model):
    with pytest.raises(VehiclekitError, match=r"lacks vehiclekit metadata .*train-vehicle export"):
        VehicleClassifier(model_path=save_model(tmp_path / "bare.onnx", {}))
    props = ClassifierMetadata("x", "1", COLOURS, (8, 8), IMAGENET_MEAN, IMAGENET_STD).to_props()
    with pytest.raises(VehiclekitError, match=r"outputs \['scores'\].*returns 'logits'"):
        VehicleClassifier(model_path=save_model(tmp_path / "renamed.onnx", props, output="scores"))
    props["vehiclekit.labels"] = json.dumps(["a", "b"])
    with pytest.raises(VehiclekitError, match="outputs 3 logits but its metadata lists 2 labels"):
        VehicleClassifier(model_path=save_model(tmp_path / "two_labels.onnx", props))
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    with pytest.raises(VehiclekitError, match="cannot load ONNX model"):
        VehicleClassifier(model_path=junk)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        VehicleClassifier(model_path=tmp_path / "missing.onnx")


def test_zoo_names_are_checked():
    with pytest.raises(ModelNotFoundError, match="known models"):
        VehicleClassifier(model="no-such-model")
    with pytest.raises(VehiclekitError, match="detection model, not a classification model"):
        VehicleClassifier(model="yolox-nano")


# --- the shipped vehicle-type models (v2 by default, v1 by version) ----------------------------


@pytest.fixture(scope="module")
def test_split_sample(data_dir) -> list[tuple[Path, str]]:
    """The first 15 images of each class in the committed vehicle-types test split (90 in all),
    with their folder (v1) label."""
    test_split = json.loads(SPLIT.read_text())["test"]
    sample = [rel for label in V1_TYPES for rel in [r for r in test_split if r.startswith(label + "/")][:15]]
    assert len(sample) == 90
    return [(data_dir / "vehicle-types" / rel, rel.split("/")[0]) for rel in sample]


def test_shipped_model_metadata(classifier):
    assert classifier.labels == VEHICLE_TYPES
    assert (classifier.metadata.name, classifier.metadata.version) == ("vehicle-type", "3")
    assert tuple(classifier.metadata.input_size) == (160, 160)
    assert classifier.metadata.arch == "efficientnet-lite0"


def test_shipped_model_accuracy_on_held_out_images(classifier, test_split_sample):
    """The shipped model on traffic-camera crops, their labels mapped to v2 (bike -> motorcycle, juggernaut ->
    heavy-truck, minibus -> van): at least 87/90 and 13/15 of every class."""
    predictions = classifier.predict_batch([path for path, _ in test_split_sample])
    truth = [TO_V2[label] for _, label in test_split_sample]
    correct = [p.label == t for p, t in zip(predictions, truth)]
    confusions = Counter(f"{t}->{p.label}" for p, t, ok in zip(predictions, truth, correct) if not ok)
    assert sum(correct) >= 87, confusions
    for label in set(truth):  # no class left behind
        assert sum(ok for ok, t in zip(correct, truth) if t == label) >= 13, (label, confusions)


def test_version_1_stays_loadable(test_split_sample):
    """``vehicle-type@1``: the six traffic-camera labels, 87/90 as when it shipped."""
    v1 = VehicleClassifier(model="vehicle-type@1")
    assert v1.labels == V1_TYPES and v1.metadata.version == "1" and tuple(v1.metadata.input_size) == (96, 96)
    predictions = v1.predict_batch([path for path, _ in test_split_sample])
    assert sum(p.label == t for p, (_, t) in zip(predictions, test_split_sample)) >= 85


def test_unknown_version_lists_the_known_ones():
    with pytest.raises(ModelNotFoundError, match="vehicle-type@1"):
        VehicleClassifier(model="vehicle-type@9")


def test_shipped_model_batch_matches_single(classifier, test_split_sample):
    paths = [path for path, _ in test_split_sample[::15]]
    batch = classifier.predict_batch(paths)
    for path, from_batch in zip(paths, batch):
        single = classifier.predict(path)
        assert single.label == from_batch.label
        for label in VEHICLE_TYPES:
            assert single.probabilities[label] == pytest.approx(from_batch.probabilities[label], abs=1e-5)


def test_prediction_is_a_frozen_json_model(classifier, test_split_sample):
    prediction = classifier.predict(test_split_sample[0][0])
    assert isinstance(prediction, Prediction)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert prediction.confidence == max(prediction.probabilities.values())
    assert Prediction.model_validate_json(prediction.model_dump_json()) == prediction
    with pytest.raises(ValidationError, match="frozen"):
        prediction.label = "car"


def test_the_metadata_normalisation_and_the_logits_output_are_used(tmp_path):
    """Mean 0 and std 0.5: the logits are twice the RGB channel means; a model with another output
    listed first still answers from ``logits``."""
    meta = ClassifierMetadata("halves", "1", COLOURS, (8, 8), (0.0, 0.0, 0.0), (0.5, 0.5, 0.5))
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["logits"], axis=1),
         helper.make_node("Neg", ["logits"], ["features"])],
        "two_outputs", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 3]) for name in ("features", "logits")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    helper.set_model_props(model, meta.to_props())
    onnx.save(model, tmp_path / "halves.onnx")
    prediction = VehicleClassifier(model_path=tmp_path / "halves.onnx").predict(solid((0, 255, 255)))  # yellow
    exps = [math.exp(2.0), math.exp(2.0), math.exp(0.0)]                       # logits (2, 2, 0)
    assert list(prediction.probabilities.values()) == pytest.approx([e / sum(exps) for e in exps], abs=1e-6)


def test_group_predictions_of_probabilities_computed_elsewhere(grouped_model):
    clf = VehicleClassifier(model_path=grouped_model)
    classes, warmth = clf.group_predictions(np.array([0.5, 0.2, 0.3], np.float32), [None, "warmth"])
    assert classes.label == "red" and classes.probabilities == pytest.approx({"red": 0.5, "green": 0.2, "blue": 0.3})
    assert warmth.label == "cold" and warmth.probabilities == pytest.approx({"cold": 0.5, "warm": 0.5})
    assert (warmth.model, classes.model) == ("colours:warmth", "colours")


def test_predict_groups_over_several_batches(grouped_model, monkeypatch):
    clf = VehicleClassifier(model_path=grouped_model)
    monkeypatch.setattr(clf, "batch_size", 2)
    answers = clf.predict_groups([solid(RED), solid(BLUE), solid(GREEN)], ["primary"])
    assert [a[0].label for a in answers] == ["r", "b", "g"]
