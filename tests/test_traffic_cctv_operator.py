"""The issue-31 task: the toll-road camera's boxes as the operator's classes, split by recording session."""

from collections import Counter
from pathlib import Path

import pytest

from vehiclekit.training.classifier import traffic_cctv_operator as task
from vehiclekit.training.core.box_crops import read_class_map



def _session(path: Path) -> str:
    return path.stem.rsplit("-", 1)[0]


def test_train_and_test_never_share_a_frame_and_the_night_test_comes_after_its_training_block(data_dir):
    train, test = task.load(data_dir, "train"), task.load(data_dir, "test")
    assert not set(train.paths) & set(test.paths)
    assert train.classes == test.classes == tuple(sorted({c for c in read_class_map(task.CLASS_MAP).values() if c}))
    assert {_session(p) for p in train.paths} == {"adit_mp4", "malam_04112021_mp4"}
    night_train = max(int(p.stem.rsplit("-", 1)[1]) for p in train.paths if _session(p) == "malam_04112021_mp4")
    night_test = min(int(p.stem.rsplit("-", 1)[1]) for p in test.paths if _session(p) == "malam_04112021_mp4")
    assert night_train < night_test
    domains = Counter(task.test_domain(p) for p in test.paths)
    assert set(domains) == {"day", "noon", "night"} and domains["day"] > domains["night"] > 0
    assert all(min(x2 - x1, y2 - y1) >= task.MIN_SIDE - 1 for x1, y1, x2, y2 in test.boxes)
    assert set(train.labels) == set(test.labels) == set(range(len(train.classes)))


def test_an_unknown_split_is_refused(data_dir):
    with pytest.raises(ValueError, match="train and a test split"):
        task.load(data_dir, "val")
