"""docs/retrain.md end to end on a small real folder: the tutorial's own commands train and export,
the SDK predicts embedded, a real Triton serves the model beside the zoo's and predicts the same
remotely. Plus every bad-folder case gets a clear error or a listed skip."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vehiclekit.errors import DatasetError, VehiclekitError
from vehiclekit.paths import REPO_ROOT
from vehiclekit.sdk import VehicleClassifier
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.core import user_images

#: Tutorial class -> vehicle-types folder it is taken from (renamed: the model must learn the user's names).
CLASSES = {"car": "car", "lorry": "truck", "two-wheeler": "bike"}
PER_CLASS = 24


def tutorial_commands() -> list[list[str]]:
    """The commands between the tutorial markers of docs/retrain.md, as argument lists."""
    text = (REPO_ROOT / "docs" / "retrain.md").read_text()
    block = text.split("<!-- tutorial -->", 1)[1].split("<!-- /tutorial -->", 1)[0]
    lines = block.replace("\\\n", " ").strip().strip("`").removeprefix("bash").strip().splitlines()
    return [shlex.split(line) for line in lines if line.strip()]


def make_folder(data_dir: Path, folder: Path, per_class: int = PER_CLASS) -> Path:
    for name, source in CLASSES.items():
        (folder / name).mkdir(parents=True)
        for image in sorted((data_dir / "vehicle-types" / source).glob("*.jpg"))[:per_class]:
            shutil.copy(image, folder / name / image.name)
    return folder


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory, data_dir) -> dict:
    """Runs the tutorial in a fresh folder (as a user would: cwd = that folder)."""
    work = tmp_path_factory.mktemp("tutorial")
    make_folder(data_dir, work / "my-images")
    (work / "my-images" / "car" / "broken.jpg").write_text("not an image")     # skipped and listed
    commands = tutorial_commands()
    assert [c[:2] for c in commands] == [["train-vehicle", "supervised"], ["train-vehicle", "export"]]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for command in commands:
            assert train_vehicle(command[1:]) == 0, command
    run = work / "runs" / "my-types"
    return {"work": work, "run": run, "onnx": run / "my-car-park-types.onnx",
            "test": user_images.load_split(run / user_images.SPLIT_FILE)["test"]}


@pytest.mark.slow
def test_tutorial_trains_and_exports_the_users_classes(tutorial):
    split = json.loads((tutorial["run"] / "split.json").read_text())
    assert split["classes"] == sorted(CLASSES)
    every = [path for part in ("train", "val", "test") for path, _ in split[part]]
    assert len(every) == len(set(every)) == PER_CLASS * len(CLASSES)              # the broken file skipped
    assert all(sum(1 for _, c in split[part] if c == name) >= 1 for part in ("train", "val", "test") for name in CLASSES)
    metrics = json.loads((tutorial["run"] / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.6, metrics["test"]                   # 3 classes: chance is 0.33


@pytest.mark.slow
def test_exported_model_predicts_embedded_with_its_name_and_labels(tutorial):
    classifier = VehicleClassifier(model_path=tutorial["onnx"])
    assert classifier.metadata.name == "my-car-park-types" and classifier.metadata.version == "3"
    assert classifier.labels == tuple(sorted(CLASSES))
    predictions = classifier.predict_batch([str(p) for p in tutorial["test"].paths])
    correct = sum(p.label == tutorial["test"].classes[y] for p, y in zip(predictions, tutorial["test"].labels))
    metrics = json.loads((tutorial["run"] / "metrics.json").read_text())
    assert correct == round(metrics["test"]["accuracy"] * len(predictions))       # the SDK = the training's test


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_served_beside_the_zoo_and_reached_by_name(tutorial, tmp_path):
    from vehiclekit.serving.launcher import TritonServer, free_ports
    from vehiclekit.serving.repository import build_repository

    repo = build_repository(tmp_path / "repo", "cpu", models={"my-car-park-types": tutorial["onnx"]})
    images = [cv2.imread(str(p)) for p in tutorial["test"].paths]
    embedded = VehicleClassifier(model_path=tutorial["onnx"]).predict_batch(images)
    with open(tmp_path / "triton.log", "w") as log, TritonServer(repo, *free_ports(3), log=log, exit_timeout=2) as server:
        remote = VehicleClassifier(model="my-car-park-types", url=server.grpc_url)
        assert remote.labels == tuple(sorted(CLASSES)) and remote.metadata.version == "3"
        served = remote.predict_batch(images)
        assert VehicleClassifier(url=server.http_url).labels[0] == "motorcycle"       # the zoo's still served
    assert [p.label for p in served] == [p.label for p in embedded]
    np.testing.assert_allclose([p.confidence for p in served], [p.confidence for p in embedded], atol=1e-5)


@pytest.mark.slow
def test_bad_names_and_files_for_serving_are_refused(tutorial, tmp_path):
    from vehiclekit.serving.repository import build_repository

    for models, message in (({"vehicle_type": tutorial["onnx"]}, "built-in names"),
                            ({"my types!": tutorial["onnx"]}, "letters, digits"),
                            ({"mine": tmp_path / "missing.onnx"}, "does not exist")):
        with pytest.raises(VehiclekitError, match=message):
            build_repository(tmp_path / "repo", "cpu", models=models)


# ------------------------------------------------------------------ starting from a trained model
@pytest.mark.slow
def test_zoo_models_rebuild_exactly_and_same_labels_continue():
    from vehiclekit.models import zoo
    from vehiclekit.models.factory import Classifier
    from vehiclekit.training.classifier.warm_start import from_onnx, warm_start

    for name in ("vehicle-type", "vehicle-type@1"):        # EfficientNet-Lite0 and resnet18-half, BN folded
        model, labels = from_onnx(zoo.get(name).path)     # raises unless PyTorch = ONNX Runtime within 1e-4
        assert len(labels) == (8 if name == "vehicle-type" else 6)
    fresh = Classifier("efficientnet-lite0", len(zoo.VEHICLE_TYPES)).eval()
    assert warm_start(fresh, "vehicle-type", zoo.VEHICLE_TYPES).startswith("continuing")
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), from_onnx(zoo.get("vehicle-type").path)[0](x), atol=1e-5, rtol=0)
    fresh.train()                         # folded BatchNorm stays in eval mode: batch statistics would undo the folding
    assert not any(m.training for m in fresh.modules() if isinstance(m, torch.nn.BatchNorm2d)) and fresh.head.training
    with pytest.raises(VehiclekitError, match="pass --arch efficientnet-lite0"):
        warm_start(Classifier("resnet18-half", 3), "vehicle-type", ("a", "b", "c"))


@pytest.mark.slow
def test_init_from_the_zoo_model_with_new_labels(tmp_path, data_dir, capsys):
    from vehiclekit.models import zoo
    from vehiclekit.training.classifier.warm_start import from_onnx

    folder = make_folder(data_dir, tmp_path / "imgs", per_class=12)
    run = tmp_path / "run"
    assert train_vehicle(["supervised", "--images", str(folder), "--init", "vehicle-type", "--arch", "efficientnet-lite0",
                          "--frozen-blocks", "6", "--img-size", "64", "--epochs", "1", "--batch-size", "8",
                          "--workers", "0", "--out", str(run)]) == 0
    assert "backbone of vehicle-type (8 labels), new head for 3 labels" in capsys.readouterr().out
    trained = torch.load(run / "best.pt", weights_only=False)["model"]
    zoo_model = from_onnx(zoo.get("vehicle-type").path)[0].state_dict()
    name = "backbone.net.blocks.3.0.conv_pw.weight"                           # a frozen stage: as shipped
    torch.testing.assert_close(trained[name], zoo_model[name])
    assert trained["head.weight"].shape == (3, 1280)


# ------------------------------------------------------------------ bad folders and label files
def test_folder_errors_name_the_problem(tmp_path, data_dir):
    with pytest.raises(DatasetError, match="not a folder"):
        user_images.from_folder(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="no class sub-folders"):
        user_images.from_folder(tmp_path / "flat")
    folder = make_folder(data_dir, tmp_path / "imgs", per_class=3)
    (folder / "van").mkdir()
    with pytest.raises(DatasetError, match="van .*hold no images"):
        user_images.from_folder(folder)
    shutil.rmtree(folder / "van")
    items = user_images.from_folder(folder)
    with pytest.raises(DatasetError, match="only one class"):
        user_images.split_user_images([i for i in items if i[1] == "car"])
    with pytest.raises(DatasetError, match=r"\{'lorry': 2\} have fewer than 3"):
        user_images.split_user_images([i for i in items if i[0].name != sorted(folder.glob("lorry/*"))[0].name])


def test_unreadable_images_are_listed_and_too_many_stop_the_run(tmp_path, data_dir, capsys):
    folder = make_folder(data_dir, tmp_path / "imgs", per_class=10)
    (folder / "car" / "truncated.jpg").write_bytes((folder / "car").glob("*.jpg").__next__().read_bytes()[:50])
    items = user_images.from_folder(folder)
    kept = user_images.check_readable(items, max_bad_share=0.05)
    assert len(kept) == len(items) - 1 and "truncated.jpg: not a decodable image" in capsys.readouterr().out
    with pytest.raises(DatasetError, match="1 of 31 images are missing or unreadable"):
        user_images.check_readable(items, max_bad_share=0.0)


def test_label_files_csv_and_label_studio(tmp_path, data_dir):
    folder = make_folder(data_dir, tmp_path / "imgs", per_class=3)
    rows = [(p.relative_to(tmp_path), p.parent.name) for p in sorted(folder.glob("*/*.jpg"))]
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in rows))
    assert user_images.from_label_file(csv_file) == [(tmp_path / p, label) for p, label in rows]
    (tmp_path / "bad.csv").write_text("imgs/car/a.jpg\n")
    with pytest.raises(DatasetError, match=r"rows \[1\] are not `path,label`"):
        user_images.from_label_file(tmp_path / "bad.csv")
    # Label Studio JSON export: local files, an upload with its hash prefix, a cancelled and an unlabeled task
    first, second = rows[0], rows[1]
    shutil.copy(tmp_path / second[0], tmp_path / second[0].name)
    tasks = [
        {"id": 1, "data": {"image": f"/data/local-files/?d={first[0]}"},
         "annotations": [{"was_cancelled": True, "result": [{"value": {"choices": ["wrong"]}}]},
                         {"result": [{"type": "choices", "value": {"choices": [first[1]]}}]}]},
        {"id": 2, "data": {"image": f"/data/upload/7/1a2b3c4d-{second[0].name}"},
         "annotations": [{"result": [{"value": {"choices": [second[1]]}}]}]},
        {"id": 3, "data": {"image": "/data/upload/7/ffffffff-x.jpg"}, "annotations": []},
    ]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    assert user_images.from_label_file(tmp_path / "export.json") == [
        (tmp_path / first[0], first[1]), (tmp_path / second[0].name, second[1])]
    (tmp_path / "min.json").write_text(json.dumps([{"image": f"/data/local-files/?d={first[0]}", "choice": first[1]}]))
    assert user_images.from_label_file(tmp_path / "min.json") == [(tmp_path / first[0], first[1])]
    # a label file naming a missing image: listed, and stops the run when it is more than the allowed share
    missing = tmp_path / "missing.csv"
    missing.write_text(csv_file.read_text() + "imgs/car/gone.jpg,car\n")
    with pytest.raises(DatasetError, match="gone.jpg, missing"):
        user_images.check_readable(user_images.from_label_file(missing), max_bad_share=0.0)
