"""Partial labels (a set of classes, one of them right): the loss, the report, the datasets, and the
vehicle-type-v3 mapping of the CCTV and Open Images classes."""

from pathlib import Path

import pytest
import torch
from torch import nn

from vehiclekit.models.zoo import VEHICLE_CLASSES
from vehiclekit.training.classifier import vehicle_type_v3 as v3
from vehiclekit.training.core.datasets import LabeledImages
from vehiclekit.training.core.metrics import classification_report
from vehiclekit.training.core.partial_labels import PartialLabelCrossEntropy, fits, target_masks
from vehiclekit.training.detection.frames import COARSE_CLASS

SETS = ((0, 1), (1, 2, 3))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_single_class_targets_give_plain_cross_entropy(smoothing):
    logits, targets = torch.randn(16, 5, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 5
    loss = PartialLabelCrossEntropy(5, SETS, smoothing)(logits, targets)
    assert loss.item() == pytest.approx(nn.CrossEntropyLoss(label_smoothing=smoothing)(logits, targets).item(), abs=1e-6)


def test_set_target_is_minus_log_of_the_sets_probability():
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0, 1.0]])
    p = logits.softmax(1)[0]
    loss = PartialLabelCrossEntropy(5, SETS)(logits, torch.tensor([6]))   # 5 + 1: classes 1, 2, 3
    assert loss.item() == pytest.approx(-torch.log(p[1] + p[2] + p[3]).item(), abs=1e-6)


def test_training_on_a_set_moves_probability_into_it_and_leaves_the_choice_inside_open():
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    layer = nn.Linear(8, 5)
    loss_fn, optimizer = PartialLabelCrossEntropy(5, SETS), torch.optim.SGD(layer.parameters(), lr=0.5)
    target = torch.full((64,), 6)
    for _ in range(100):
        optimizer.zero_grad()
        loss_fn(layer(x), target).backward()
        optimizer.step()
    p = layer(x).softmax(1).mean(0)
    assert p[[1, 2, 3]].sum() > 0.95
    assert p[[1, 2, 3]].max() < 0.9   # no single class of the set is forced


def test_bad_sets_are_refused():
    with pytest.raises(ValueError, match="class indices"):
        target_masks(3, ((0, 3),))
    with pytest.raises(ValueError, match="class indices"):
        target_masks(3, ((),))


def test_report_counts_a_set_target_right_when_the_prediction_is_inside():
    report = classification_report([0, 1, 3, 0], [0, 5, 6, 6], 5, SETS, classes=list("abcde"))
    assert report["accuracy"] == pytest.approx(3 / 4)
    assert report["partial"] == {"a|b": [1, 1], "b|c|d": [1, 2]}
    assert sum(map(sum, report["confusion"])) == 1   # only the exact label
    assert fits(2, 6, 5, SETS) and not fits(4, 6, 5, SETS)


def test_datasets_keep_their_sets_and_refuse_to_mix_others():
    one = LabeledImages((Path("a.jpg"),), (3,), ("x", "y", "z"), None, ((0, 1),))
    plain = LabeledImages((Path("b.jpg"),), (2,), ("x", "y", "z"))
    joined = plain + one
    assert joined.label_sets == ((0, 1),) and joined.named_labels() == ["z", "x|y"]
    assert joined.subset([1]).label_sets == ((0, 1),)
    with pytest.raises(ValueError, match="label sets"):
        one + LabeledImages((Path("c.jpg"),), (3,), ("x", "y", "z"), None, ((1, 2),))


def test_every_cctv_class_has_types_that_fit_its_coarse_class(data_dir):
    classes = (data_dir / "traffic-cctv" / "classes.txt").read_text().split("\n")
    classes = [c.strip() for c in classes if c.strip()]
    assert set(classes) == set(v3.CCTV_TYPES)
    for name, types in v3.CCTV_TYPES.items():
        coarse = COARSE_CLASS[name]
        outside = set(types) - set(VEHICLE_CLASSES[coarse])
        # a minibus may be called van (v2's mapping of vehicle-types' "minibus"); nothing else leaves its class
        assert outside <= ({"van"} if name in ("small bus", "bus-s-") else set()), name


def test_v3_crops_are_the_labelled_boxes_of_the_session_split(data_dir):
    val = v3.load_source(data_dir, "traffic-cctv", "val")
    assert len(val) > 400 and val.label_sets == v3.LABEL_SETS
    assert {p.name.rsplit("-", 1)[0] for p in val.paths} == {"siang_15112021_1_mp4"}
    assert all(min(x2 - x1, y2 - y1) >= v3.MIN_SIDE for x1, y1, x2, y2 in val.boxes)
    assert v3.load_source(data_dir, "openimages-vehicles", "test").paths == ()


def test_the_prior_pull_makes_the_majority_class_the_answer_where_nothing_decides():
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    answers = {}
    for weight in (0.0, 0.5):
        layer = nn.Linear(8, 5)
        with torch.no_grad():
            layer.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 3.0, 0.0]))   # starts out preferring class 3 of the set
        loss_fn = PartialLabelCrossEntropy(5, SETS, class_prior=[0.1, 0.6, 0.1, 0.1, 0.1], prior_weight=weight)
        optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
        for _ in range(200):
            optimizer.zero_grad()
            loss_fn(layer(x), torch.full((64,), 6)).backward()
            optimizer.step()
        answers[weight] = layer(x).argmax(1).bincount(minlength=5)
    assert answers[0.0][3] == 64            # the set likelihood alone keeps whatever it started with
    assert answers[0.5][1] == 64            # the pull makes class 1, the set's most frequent, the answer


def test_the_prior_pull_leaves_exact_labels_alone():
    logits, targets = torch.randn(8, 5, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 5
    pulled = PartialLabelCrossEntropy(5, SETS, 0.1, class_prior=[0.2] * 5, prior_weight=1.0)(logits, targets)
    assert pulled.item() == pytest.approx(nn.CrossEntropyLoss(label_smoothing=0.1)(logits, targets).item(), abs=1e-6)
