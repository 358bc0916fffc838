"""Tiny end-to-end 2-iteration `train-vehicle finetune` runs (UPS, and the confidence-only
pseudo-label baseline): history fields, resume, the user's own folders."""

import json
from pathlib import Path

import pytest

from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.ups import finetune

TINY = ["--method", "ups", "--iterations", "2", "--labels-fraction", "0.02", "--img-size", "32",
        "--epochs-per-iteration", "1", "--min-samples-per-epoch", "64", "--batch-size", "16", "--mc-passes", "3", "--threads", "1", "--workers", "0",
        "--tau-p", "0.3", "--kappa-p", "0.5", "--tau-n", "0.3", "--kappa-n", "0.5"]  # loose: selects something


@pytest.fixture(scope="module")
def ups_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ups") / "run"
    assert train_vehicle(["finetune", "--out", str(out), *TINY]) == 0
    return out


@pytest.mark.slow
def test_two_iteration_ups_run(ups_run):
    history = json.loads((ups_run / "history.json").read_text())
    assert [h["iteration"] for h in history] == [0, 1]
    first = history[0]
    for key in ("trained_on", "val_acc", "test_acc", "selection", "epochs", "seconds"):
        assert key in first
    sel = first["selection"]
    for key in ("positive", "positive_precision", "negative", "negative_precision", "class_histogram", "pool",
                "confidence_top_n_precision"):
        assert key in sel
    assert sum(sel["class_histogram"]) == sel["positive"]
    assert first["trained_on"]["positive"] == 0
    assert history[1]["trained_on"]["positive"] == sel["positive"]
    assert history[1]["trained_on"]["negative_only"] == sel["negative_samples"]
    assert sel["positive"] + sel["negative"] > 0
    metrics = json.loads((ups_run / "metrics.json").read_text())
    assert metrics["method"] == "ups" and 0 <= metrics["test"]["accuracy"] <= 1
    assert metrics["pool"] == sel["pool"] and metrics["labeled"] > 0


@pytest.mark.slow
def test_resume_after_interrupted_iteration_matches(ups_run, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real, calls = finetune.train_one_epoch, []

    def dies_in_iteration_1(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(finetune, "train_one_epoch", dies_in_iteration_1)
    with pytest.raises(KeyboardInterrupt):
        train_vehicle(["finetune", "--out", str(out), *TINY])
    monkeypatch.setattr(finetune, "train_one_epoch", real)
    assert len(json.loads((out / "history.json").read_text())) == 1
    assert train_vehicle(["finetune", "--resume", "--out", str(out)]) == 0
    resumed, full = (json.loads((d / "history.json").read_text()) for d in (out, ups_run))
    assert [h["test_acc"] for h in resumed] == [h["test_acc"] for h in full]
    assert resumed[0]["selection"] == full[0]["selection"]
    assert [e["loss"] for e in resumed[1]["epochs"]] == [e["loss"] for e in full[1]["epochs"]]


@pytest.mark.slow
def test_first_iteration_is_the_supervised_only_model(ups_run, tmp_path):
    """What `study label-efficiency` relies on to read the supervised-only row from a UPS run."""
    out = tmp_path / "supervised"
    argv = [a if a != "ups" else "supervised" for a in TINY]
    assert train_vehicle(["finetune", "--out", str(out), *argv]) == 0
    supervised, ups = (json.loads((d / "history.json").read_text()) for d in (out, ups_run))
    assert len(supervised) == 1
    assert [e["loss"] for e in supervised[0]["epochs"]] == [e["loss"] for e in ups[0]["epochs"]]
    assert supervised[0]["test_acc"] == ups[0]["test_acc"] and supervised[0]["val_acc"] == ups[0]["val_acc"]


def own_images(tmp_path: Path, data_dir: Path, labelled_per_class: int, unlabelled_per_class: int) -> tuple[Path, Path]:
    """A user's labelled folder (car, truck, bike subfolders) and unlabelled camera folder, from
    vehicle-types images: the first ``labelled_per_class`` of each class, then the next ones."""
    labelled, unlabeled = tmp_path / "mine", tmp_path / "cameras"
    unlabeled.mkdir()
    for name in ("car", "truck", "bike"):
        files = sorted((data_dir / "vehicle-types" / name).glob("*.jpg"))
        (labelled / name).mkdir(parents=True)
        for f in files[:labelled_per_class]:
            (labelled / name / f.name).write_bytes(f.read_bytes())
        for f in files[labelled_per_class:labelled_per_class + unlabelled_per_class]:
            (unlabeled / f"{name}-{f.name}").write_bytes(f.read_bytes())
    return labelled, unlabeled


def test_ups_on_your_own_labelled_folder_and_unlabelled_images(tmp_path, data_dir):
    """`finetune --images DIR --unlabeled DIR`: all of the user's labels are kept (split into
    split.json), the pool is the unlabelled folder, its pseudo-labels are counted but have no
    precision (nobody knows their truth), and the next iteration trains on them."""
    labelled, unlabeled = own_images(tmp_path, data_dir, labelled_per_class=8, unlabelled_per_class=6)
    (unlabeled / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "run"
    args = ["finetune", "--images", str(labelled), "--unlabeled", str(unlabeled), "--out", str(out),
            "--max-bad-share", "0.1", *[a for a in TINY if a not in ("--labels-fraction", "0.02")]]
    assert train_vehicle(args) == 0
    history = json.loads((out / "history.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    split = json.loads((out / "split.json").read_text())
    assert metrics["labeled"] == len(split["train"]) == 18 and metrics["pool"] == 18      # all labels kept; 3 x 6, broken skipped
    sel = history[0]["selection"]
    assert sel["pool"] == 18 and sel["pool_with_known_labels"] == 0 and sel["positive_precision"] is None
    assert history[1]["trained_on"]["positive"] == sel["positive"] > 0


def test_pseudo_label_with_threshold_zero_selects_the_whole_pool_and_no_negatives(tmp_path, data_dir):
    """`--method pseudo-label`: every max probability is >= 0, so the confidence rule takes every
    pool image (the user's unlabelled folder) as a positive, and the baseline never gives negative
    labels; the next iteration trains on exactly those."""
    labelled, unlabeled = own_images(tmp_path, data_dir, labelled_per_class=6, unlabelled_per_class=4)
    out = tmp_path / "run"
    assert train_vehicle(["finetune", "--out", str(out), "--method", "pseudo-label", "--confidence-threshold", "0",
                          "--images", str(labelled), "--unlabeled", str(unlabeled), "--iterations", "2",
                          "--epochs-per-iteration", "1", "--min-samples-per-epoch", "16", "--batch-size", "16",
                          "--img-size", "32", "--threads", "1", "--workers", "0"]) == 0
    first, second = json.loads((out / "history.json").read_text())
    selection = first["selection"]
    assert selection["pool"] == 12 and selection["pool_with_known_labels"] == 0
    assert selection["positive"] == 12 == sum(selection["class_histogram"])
    assert selection["negative"] == 0 and selection["negative_precision"] is None
    assert second["trained_on"] == {"labeled": first["trained_on"]["labeled"], "positive": 12, "negative_only": 0}
    assert json.loads((out / "metrics.json").read_text())["method"] == "pseudo-label"
