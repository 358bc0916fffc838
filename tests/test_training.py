"""`train-vehicle supervised` and `export` on tiny real runs: run directory, kill + resume, parity."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.training.cli import main as train_vehicle

TINY = ["--labels-fraction", "0.03", "--img-size", "32", "--batch-size", "16", "--workers", "0", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    assert train_vehicle(["supervised", "--epochs", "2", "--out", str(out), *TINY]) == 0
    return out


@pytest.mark.slow
def test_run_directory_contents(tiny_run):
    for name in ("config.json", "history.json", "metrics.json", "confusion.png", "best.pt", "last.pt"):
        assert (tiny_run / name).is_file(), name
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["classes"] == ["bike", "car", "juggernaut", "minibus", "pickup", "truck"]
    assert metrics["test"]["n"] == 612 and len(metrics["test"]["per_class_accuracy"]) == 6
    assert sum(map(sum, metrics["test"]["confusion"])) == 612
    assert json.loads((tiny_run / "config.json").read_text())["img_size"] == 32
    assert [h["epoch"] for h in json.loads((tiny_run / "history.json").read_text())] == [1, 2]


@pytest.mark.slow
def test_refuses_to_overwrite_a_run(tiny_run):
    with pytest.raises(SystemExit, match="--resume"):
        train_vehicle(["supervised", "--epochs", "2", "--out", str(tiny_run), *TINY])


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_run(tiny_run, tmp_path):
    """Kill -9 after the first epoch's checkpoint, resume, and get the uninterrupted run's history."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vehiclekit.training.cli", "supervised", "--epochs", "2", "--out", str(out), *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "history.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(json.loads((out / "history.json").read_text())) == 1, "killed after epoch 1"
    assert train_vehicle(["supervised", "--resume", "--out", str(out)]) == 0
    resumed = json.loads((out / "history.json").read_text())
    full = json.loads((tiny_run / "history.json").read_text())
    assert [h["epoch"] for h in resumed] == [1, 2]
    np.testing.assert_allclose([h["train_loss"] for h in resumed], [h["train_loss"] for h in full], rtol=1e-5)


@pytest.mark.slow
def test_export_writes_metadata_and_dynamic_batch(tiny_run, tmp_path):
    path = tmp_path / "m.onnx"
    assert train_vehicle(["export", str(tiny_run), "-o", str(path), "--model-version", "7", "--parity-images", "16"]) == 0
    proto = onnx.load(str(path))
    meta = ClassifierMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert meta.labels[0] == "bike" and meta.input_size == (32, 32) and meta.version == "7"
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


@pytest.mark.slow
def test_export_refuses_on_parity_failure(tiny_run, tmp_path, monkeypatch, capsys):
    """Fails loudly and writes nothing when ONNX Runtime and PyTorch disagree beyond the limit."""
    from vehiclekit.training.classifier import export

    monkeypatch.setattr(export, "MAX_ABS_DIFF", -1.0)  # any real difference (even 0) now exceeds the limit
    path = tmp_path / "bad.onnx"
    assert train_vehicle(["export", str(tiny_run), "-o", str(path), "--parity-images", "8"]) == 2
    assert not path.exists()
    assert "disagrees with PyTorch" in capsys.readouterr().err


def test_sqrt_sampling_draws_classes_in_proportion_to_the_root_of_their_size():
    from vehiclekit.training.classifier.train import sqrt_balanced_weights

    weights = sqrt_balanced_weights([0] * 100 + [1] * 4 + [2] * 25)
    per_class = [weights[:100].sum().item(), weights[100:104].sum().item(), weights[104:].sum().item()]
    np.testing.assert_allclose(np.array(per_class) / sum(per_class), np.array([10, 2, 5]) / 17)


@pytest.mark.slow
def test_imagenet_run_on_stanford_models_exports_label_groups_and_its_normalisation(tmp_path):
    """A pretrained EfficientNet run (frozen early blocks) on the 196 make-model-years: the export
    carries the checkpoint's normalisation and each class's make and body type."""
    out = tmp_path / "models"
    assert train_vehicle(["supervised", "--dataset", "stanford-cars-model", "--arch", "efficientnet-lite0", "--init", "imagenet",
                          "--frozen-blocks", "6", "--epochs", "1", "--optimizer", "adamw", "--lr", "1e-3", "--out", str(out),
                          *TINY]) == 0
    path = tmp_path / "m.onnx"
    assert train_vehicle(["export", str(out), "-o", str(path), "--name", "vehicle-model", "--parity-images", "8"]) == 0
    meta = ClassifierMetadata.from_props({p.key: p.value for p in onnx.load(str(path)).metadata_props})
    assert len(meta.labels) == 196 and meta.mean == (127 / 255,) * 3 and meta.std == (128 / 255,) * 3
    assert meta.arch == "efficientnet-lite0" and set(meta.groups) == {"make", "body"}
    assert meta.groups["make"][meta.labels.index("BMW M3 Coupe 2012")] == "BMW"
    assert meta.groups["body"][meta.labels.index("BMW M3 Coupe 2012")] == "coupe"
    assert len(set(meta.groups["make"])) == 49 and len(set(meta.groups["body"])) == 8


@pytest.mark.slow
def test_vehicle_type_v2_run_scores_each_source(tmp_path):
    out = tmp_path / "v2"
    assert train_vehicle(["supervised", "--dataset", "vehicle-type-v2", "--arch", "efficientnet-lite0", "--init", "imagenet",
                          "--frozen-blocks", "6", "--balance", "sqrt", "--epochs", "1", "--out", str(out), *TINY]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["motorcycle", "car", "suv", "van", "pickup", "bus", "truck", "heavy-truck"]
    assert {k: metrics[k]["n"] for k in metrics if k.startswith("test/")} == {
        "test/vehicle-types": 612, "test/stanford-cars": 976, "test/vehicle-reid": 120}
    assert metrics["test"]["n"] == 612 + 976 + 120
