"""`train-vehicle reid` (2 steps), resume, ONNX export parity, `evaluate-reid`, and the SDK
(`VehicleReID` + `Gallery`) on real vehicle-reid test images with that tiny, barely trained model."""

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest
import torch

from vehiclekit.models import efficientnet_lite, zoo
from vehiclekit.models.metadata import EMBEDDING_OUTPUT, ClassifierMetadata
from vehiclekit.paths import data_root
from vehiclekit.sdk import Gallery, VehicleReID
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.core.datasets import load_vehicle_reid
from vehiclekit.training.reid import train
from vehiclekit.training.reid.evaluate import cross_camera_report, embed, eval_dataset, load_run_embedder

# 4 identities, P=4 x K=2: one step per epoch, 2 epochs = 2 steps.
TINY = ["--limit-ids", "4", "--p", "4", "--k", "2", "--img-size", "32", "--epochs", "2", "--warmup-epochs", "1",
        "--workers", "0", "--threads", "1", "--gem"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("reid") / "tiny"
    assert train_vehicle(["reid", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def test_images():
    return load_vehicle_reid(data_root(), "test")


@pytest.mark.slow
def test_run_directory_and_metrics(tiny_run):
    for name in ("config.json", "history.json", "metrics.json", "best.pt", "last.pt", "vehicle_reid.onnx"):
        assert (tiny_run / name).is_file(), name
    history = json.loads((tiny_run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and "val_mAP" in history[-1]
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["train_splits"] == ["train"] and metrics["train_identities"] == 4
    test = metrics["test"]
    assert test["images"] == 120 and test["identities"] == 60
    assert set(test["directions"]) == {"cam1->cam2", "cam2->cam1"}
    for direction in test["directions"].values():
        assert direction["plain"]["queries"] == 60 and set(direction) == {"plain", "rerank"}
        assert 0 <= direction["plain"]["mAP"] <= 1


@pytest.mark.slow
def test_refuses_to_overwrite_a_run(tiny_run):
    with pytest.raises(SystemExit, match="--resume"):
        train_vehicle(["reid", "--out", str(tiny_run), *TINY])


@pytest.mark.slow
def test_resume_after_a_crash_matches_uninterrupted_run(tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "crashed"
    original, calls = train.train_one_epoch, []

    def crash_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")
        return original(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_vehicle(["reid", "--out", str(out), "--no-export", *TINY])
    assert len(json.loads((out / "history.json").read_text())) == 1
    monkeypatch.setattr(train, "train_one_epoch", original)
    assert train_vehicle(["reid", "--resume", "--out", str(out)]) == 0
    resumed = json.loads((out / "history.json").read_text())
    full = json.loads((tiny_run / "history.json").read_text())
    assert [h["epoch"] for h in resumed] == [1, 2]
    for key in ("loss", "ce", "triplet", "val_mAP"):
        np.testing.assert_allclose([h.get(key, 0) for h in resumed], [h.get(key, 0) for h in full], rtol=1e-5)


@pytest.mark.slow
def test_export_parity_and_metadata(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["onnx_parity"]["max_abs_diff"] <= 1e-4 and metrics["onnx_parity"]["min_cosine"] > 0.9999
    proto = onnx.load(str(tiny_run / "vehicle_reid.onnx"))
    meta = ClassifierMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert meta.task == "reid" and meta.labels == () and meta.input_size == (32, 32) and meta.name == "vehicle-reid"
    assert [o.name for o in proto.graph.output] == [EMBEDDING_OUTPUT]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


@pytest.mark.slow
def test_sdk_embeddings_match_torch(tiny_run, test_images):
    reid = VehicleReID(model_path=tiny_run / "vehicle_reid.onnx", threads=1)
    paths = [str(im.path) for im in test_images[:5]]
    batch = reid.embed(paths)
    assert batch.shape == (5, 256) and batch.dtype == np.float32 and reid.dim == 256
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(reid.embed(paths[0]), batch[0], atol=1e-5)
    embedder, size = load_run_embedder(tiny_run)
    np.testing.assert_allclose(batch, embed(embedder, eval_dataset(test_images[:5], size, embedder.model.arch)), atol=1e-4)


@pytest.mark.slow
def test_evaluate_reid_on_onnx_equals_run(tiny_run, tmp_path):
    assert train_vehicle(["evaluate-reid", str(tiny_run), "--threads", "1", "--out", str(tmp_path / "run.json")]) == 0
    assert train_vehicle(["evaluate-reid", str(tiny_run / "vehicle_reid.onnx"), "--threads", "1",
                          "--out", str(tmp_path / "onnx.json")]) == 0
    run, exported = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("run", "onnx"))
    for direction in ("cam1->cam2", "cam2->cam1"):
        for metric in ("rank-1", "rank-5", "mAP", "mINP"):
            assert run["directions"][direction]["plain"][metric] == pytest.approx(
                exported["directions"][direction]["plain"][metric], abs=1e-9)


@pytest.mark.slow
def test_gallery_search_finds_the_right_vehicle_in_real_images(tiny_run, test_images, tmp_path):
    """Gallery: the 60 cam2 test images. Query: one of those very images (the same file), so the
    right id must come first with similarity 1 even with this barely trained model; a cam1 query's
    ranking must equal brute-force cosine over the same embeddings."""
    reid = VehicleReID(model_path=tiny_run / "vehicle_reid.onnx", threads=1)
    cam2 = [im for im in test_images if im.camera == 2]
    gallery = Gallery(reid)
    vectors = reid.embed([str(im.path) for im in cam2])
    for im, v in zip(cam2, vectors):
        gallery.add(im.identity, v, {"file": im.path.name})
    target = cam2[7]
    best = gallery.search(str(target.path), k=3)[0]
    assert best.id == target.identity and best.similarity == pytest.approx(1.0, abs=1e-5)
    assert best.meta == {"file": target.path.name}
    query = next(im for im in test_images if im.camera == 1)
    expected = np.argsort(-(vectors @ reid.embed(str(query.path))), kind="stable")[:5]
    assert [m.id for m in gallery.search(str(query.path), k=5)] == [cam2[i].identity for i in expected]
    loaded = Gallery.load(gallery.save(tmp_path / "g.npz"), reid)
    assert loaded.search(str(target.path), k=1)[0].id == target.identity


@pytest.mark.slow
def test_sdk_reid_runs_with_torch_unimportable(tiny_run, test_images):
    code = f"""
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(name + " is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from vehiclekit.sdk import Gallery, VehicleReID
g = Gallery(VehicleReID(model_path={str(tiny_run / 'vehicle_reid.onnx')!r}, threads=1))
g.add("a", {str(test_images[0].path)!r})
assert g.search({str(test_images[0].path)!r}, k=1)[0].id == "a"
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_tiny_efficientnet_run_exports_its_normalisation_and_flip(tmp_path, test_images):
    out = tmp_path / "tiny-effnet"
    assert train_vehicle(["reid", "--out", str(out), *TINY, "--arch", "efficientnet-lite0", "--init", "imagenet",
                          "--frozen-blocks", "3", "--flip-test", "--color-jitter", "0.3", "--epochs", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["onnx_parity"]["max_abs_diff"] <= 1e-4
    reid = VehicleReID(model_path=out / "vehicle_reid.onnx", threads=1)
    assert reid.metadata.mean == efficientnet_lite.MEAN and reid.metadata.arch == "efficientnet-lite0"
    image = cv2.imread(str(test_images[0].path))
    np.testing.assert_allclose(reid.embed(image), reid.embed(image[:, ::-1].copy()), atol=1e-5)   # flip inside the model


def test_both_shipped_versions_load():
    assert zoo.get("vehicle-reid").version == "2" and zoo.get("vehicle-reid").filename == "vehicle_reid_v2.onnx"
    v1, v2 = VehicleReID("vehicle-reid@1"), VehicleReID()
    assert (v1.dim, v1.metadata.version, v1.metadata.arch) == (256, "1", "resnet18-half")
    assert (v2.dim, v2.metadata.version, v2.metadata.arch) == (1280, "2", "efficientnet-lite0")


#: The shipped v2's weaker direction measured 83.3 % Rank-1 and 88.1 % mAP (model card); v1 had 30 / 44 %.
RANK1_FLOOR, MAP_FLOOR = 0.80, 0.85


def test_shipped_v2_on_the_test_split(test_images):
    """What the model card reports, through the SDK; both directions must stay far above v1 (50 / 30 %)."""
    images = test_images
    features = VehicleReID().embed([str(im.path) for im in images])
    report = cross_camera_report(features, images)
    for direction, metrics in report["directions"].items():
        assert metrics["plain"]["rank-1"] >= RANK1_FLOOR and metrics["plain"]["mAP"] >= MAP_FLOOR, (direction, metrics)


@pytest.mark.slow
def test_reid_on_your_own_identities(tmp_path, test_images):
    """`train-vehicle reid --images DIR` with {identity}_{camera}_*.jpg files: split by identity into
    split.json, trained, scored cross-camera on its own test identities, exported."""
    folder = tmp_path / "my-cameras"
    folder.mkdir()
    for im in test_images:                                   # car_0001_cam1.jpg -> car0001_cam1_0.jpg
        kind, number, cam = im.path.stem.split("_")
        shutil.copy(im.path, folder / f"{kind}{number}_{cam}_0.jpg")
    out = tmp_path / "run"
    assert train_vehicle(["reid", "--images", str(folder), "--out", str(out), "--img-size", "32", "--epochs", "1",
                          "--warmup-epochs", "0", "--p", "4", "--k", "2", "--workers", "0", "--threads", "1"]) == 0
    split = json.loads((out / "split.json").read_text())
    identities = {name: {i for _, i, _ in rows} for name, rows in split.items()}
    assert not (identities["train"] & identities["val"]) and not (identities["train"] & identities["test"])
    assert sum(len(v) for v in identities.values()) == 60 and len(identities["test"]) == 9
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["identities"] == 9 and metrics["onnx_parity"]["max_abs_diff"] <= 1e-4
    assert set(metrics["test"]["directions"]) == {"camcam1->camcam2", "camcam2->camcam1"}


def test_own_identities_need_two_cameras_and_names(tmp_path, test_images):
    from vehiclekit.errors import DatasetError
    from vehiclekit.training.core.user_images import reid_items, split_reid_items

    (tmp_path / "bad").mkdir()
    shutil.copy(test_images[0].path, tmp_path / "bad" / "nounderscore.jpg")
    with pytest.raises(DatasetError, match="not named"):
        reid_items(tmp_path / "bad")
    one_camera = [(im.path, im.identity, "cam1") for im in test_images]
    with pytest.raises(DatasetError, match="only 0 identities are seen by two or more cameras"):
        split_reid_items(one_camera)
