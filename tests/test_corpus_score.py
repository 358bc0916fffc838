"""`train-vehicle score` (issue 32 item 4) on real crops with the shipped vehicle-type model: the ONNX
cut before the head, the local engine against the SDK and the in-process labelling queue, shards
against folders, and `select --scores` against in-process `select`. The Ray cluster is in
tests/test_corpus_score_ray.py (slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vehiclekit.errors import DatasetError, VehiclekitError
from vehiclekit.training.active.select import load_model, score_pool
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.corpus.score import load_scores, score
from vehiclekit.training.corpus.score_model import BatchScorer, dropout_masks, mc_head, model_path, split_head
from vehiclekit.training.corpus.shards import ShardWriter

CLASSES = ("car", "bike", "truck", "juggernaut", "pickup", "minibus")


def real_crops(data_dir: Path, per_class: int) -> list[Path]:
    return [p for c in CLASSES for p in sorted((data_dir / "vehicle-types" / c).glob("*.jpg"))[:per_class]]


@pytest.fixture(scope="module")
def pool(tmp_path_factory, data_dir) -> Path:
    """10 real crops of each of 6 folders of vehicle-types, plus one file that is not an image."""
    pool = tmp_path_factory.mktemp("pool")
    for src in real_crops(data_dir, 10):
        (pool / src.parent.name).mkdir(exist_ok=True)
        shutil.copy(src, pool / src.parent.name / src.name)
    (pool / "car" / "broken.jpg").write_bytes(b"not a jpeg")
    return pool


@pytest.fixture(scope="module")
def local_scores(pool, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scores") / "local"
    score(str(pool), "vehicle-type", out, batch_size=16, mc_passes=10)
    return out


@pytest.mark.parametrize("model", ["vehicle-type", "vehicle-type@1"])
def test_features_times_the_cut_head_give_the_onnx_logits(model, data_dir):
    import onnxruntime as ort

    path = model_path(model)
    head = split_head(path)
    full = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scorer = BatchScorer(head, passes=0)
    files = real_crops(data_dir, 3)
    from vehiclekit.models.preprocess import classifier_input
    from vehiclekit.sdk.image import load_image

    x = classifier_input([load_image(f) for f in files], tuple(head.meta.input_size), head.meta.mean, head.meta.std)
    logits = full.run(None, {full.get_inputs()[0].name: x})[0]
    cut_logits, feats = scorer.session.run(scorer.outputs, {scorer.input: x})
    assert feats.shape == (len(files), head.weight.shape[1]) and head.weight.shape[0] == len(head.meta.labels)
    np.testing.assert_allclose(cut_logits, logits, atol=1e-6)
    np.testing.assert_allclose(feats @ head.weight.T + head.bias, logits, atol=1e-5)


def test_dropout_masks_are_per_image_and_inverted_dropout():
    a, b = dropout_masks("/x/a.jpg", 50, 1280, 0.3), dropout_masks("/x/b.jpg", 50, 1280, 0.3)
    assert np.array_equal(a, dropout_masks("/x/a.jpg", 50, 1280, 0.3)) and not np.array_equal(a, b)
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.01
    assert not np.array_equal(a, dropout_masks("/x/a.jpg", 50, 1280, 0.3, seed=1))


def test_mc_passes_are_the_torch_head_on_the_same_masks(data_dir):
    """The numpy MC passes compute what select's torch head computes on the same dropped-out features."""
    model, *_ = load_model("vehicle-type")
    head = split_head(model_path("vehicle-type"))
    feats = np.random.default_rng(0).standard_normal((5, 1280)).astype(np.float32)
    keys = [f"k{i}" for i in range(5)]
    mc = mc_head(feats, keys, head, 8, 0.3)                                  # [N, T, C]
    masks = torch.from_numpy(np.stack([dropout_masks(k, 8, 1280, 0.3) for k in keys], 1))   # [T, N, D]
    with torch.no_grad():
        expected = torch.softmax(model.head(torch.from_numpy(feats)[None] * masks), -1).numpy()
    np.testing.assert_allclose(mc.transpose(1, 0, 2), expected, atol=1e-5)


def test_local_engine_is_the_in_process_scoring_and_the_sdk(pool, local_scores, classifier):
    scores = load_scores(local_scores)
    manifest = json.loads((local_scores / "scores.json").read_text())
    assert manifest["images"] == 60 and manifest["unreadable"] == 1 and scores.unreadable[0].endswith("broken.jpg")
    assert scores.mc_probs.shape == (10, 60, 8) and scores.features.shape == (60, 1280)
    model, _, size, mean, std = load_model("vehicle-type")
    paths = [p.resolve() for p in sorted(pool.rglob("*.jpg"))]
    kept, probs, _, feats, bad = score_pool(model, paths, size, mean, std, 0, 0.0, batch_size=64)
    assert [str(p) for p in kept] == scores.keys and len(bad) == 1             # same images, same order
    np.testing.assert_allclose(scores.probs, probs, atol=1e-5)                 # ONNX Runtime vs torch (2e-6 here)
    np.testing.assert_allclose(scores.features, feats, atol=1e-5)             # (5e-6 here, features up to 4.4)
    sdk = np.array([[p.probabilities[c] for c in classifier.labels] for p in classifier.predict_batch(scores.keys[:8])])
    np.testing.assert_allclose(scores.probs[:8], sdk, atol=1e-5)
    np.testing.assert_allclose(scores.mc_probs.mean(0), scores.probs, atol=0.25)   # passes scatter around p


def test_results_do_not_depend_on_the_batch_size(pool, local_scores, tmp_path):
    score(str(pool), "vehicle-type", tmp_path / "b7", batch_size=7, mc_passes=10)
    other = load_scores(tmp_path / "b7")
    ref = load_scores(local_scores)
    assert other.keys == ref.keys
    np.testing.assert_allclose(other.probs, ref.probs, atol=1e-6)
    np.testing.assert_allclose(other.mc_probs, ref.mc_probs, atol=1e-6)


def test_shards_score_like_the_folder_they_hold(pool, local_scores, tmp_path):
    writer = ShardWriter(tmp_path / "shards", shard_size=25)
    ref = load_scores(local_scores)
    for i, key in enumerate(ref.keys):
        writer.write(f"{i:06d}", Path(key).read_bytes(), {})
    writer.close()
    score(str(tmp_path / "shards"), "vehicle-type", tmp_path / "s", mc_passes=0)
    scores = load_scores(tmp_path / "s")
    assert scores.keys[0] == f"{(tmp_path / 'shards' / 'crops-000000.tar').resolve()}#000000"
    assert scores.mc_probs.shape == (0, 60, 8)
    np.testing.assert_allclose(scores.probs, ref.probs, atol=1e-6)
    np.testing.assert_allclose(scores.features, ref.features, atol=1e-5)


@pytest.mark.parametrize("strategy", ["entropy", "kcenter", "margin", "bald", "ups"])
def test_select_from_scores_queues_what_in_process_select_queues(strategy, pool, local_scores, tmp_path):
    a, b = tmp_path / "in-process.json", tmp_path / "scores.json"
    assert train_vehicle(["select", "--model", "vehicle-type", "--pool", str(pool), "--budget", "15",
                          "--strategy", strategy, "-o", str(a)]) == 0
    assert train_vehicle(["select", "--scores", str(local_scores), "--budget", "15", "--strategy", strategy,
                          "-o", str(b)]) == 0
    queue_a, queue_b = json.loads(a.read_text()), json.loads(b.read_text())
    assert [i["image"] for i in queue_b["items"]] == [i["image"] for i in queue_a["items"]]
    assert [i["guess"] for i in queue_b["items"]] == [i["guess"] for i in queue_a["items"]]
    assert queue_b["model"] == "vehicle-type@3"


def test_select_bald_from_scores_uses_the_scored_mc_passes(local_scores, tmp_path, capsys):
    from vehiclekit.training.active.strategies import bald_scores

    out = tmp_path / "bald.json"
    assert train_vehicle(["select", "--scores", str(local_scores), "--budget", "5", "--strategy", "bald",
                          "-o", str(out)]) == 0
    scores = load_scores(local_scores)
    expected = [scores.keys[i] for i in np.argsort(-bald_scores(scores.mc_probs), kind="stable")[:5]]
    assert [i["image"] for i in json.loads(out.read_text())["items"]] == expected


def test_errors_say_what_to_do(pool, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VehiclekitError, match="no images"):
        score(str(empty), "vehicle-type", tmp_path / "o1")
    with pytest.raises(VehiclekitError, match="export it first"):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "best.pt").write_bytes(b"")
        score(str(pool), str(tmp_path / "run"), tmp_path / "o2")
    no_mc = tmp_path / "no-mc"
    score(str(pool / "bike"), "vehicle-type", no_mc, mc_passes=0)
    with pytest.raises(VehiclekitError, match="already holds scores"):
        score(str(pool / "bike"), "vehicle-type", no_mc)
    assert train_vehicle(["select", "--scores", str(no_mc), "--budget", "3", "--strategy", "bald", "-o",
                          str(tmp_path / "q.json")]) == 2
    assert "--mc-passes 10" in capsys.readouterr().err
    assert train_vehicle(["select", "--budget", "3", "-o", str(tmp_path / "q.json")]) == 2
    assert "--scores" in capsys.readouterr().err
    with pytest.raises(DatasetError):
        load_scores(tmp_path)


def test_a_queue_from_shard_scores_names_files_a_person_can_open(pool, local_scores, tmp_path):
    ref = load_scores(local_scores)
    writer = ShardWriter(tmp_path / "shards", shard_size=25)
    for i, key in enumerate(ref.keys):
        writer.write(f"{i:06d}", Path(key).read_bytes(), {})
    writer.close()
    score(str(tmp_path / "shards"), "vehicle-type", tmp_path / "s", mc_passes=0)
    queue_file = tmp_path / "queue.json"
    assert train_vehicle(["select", "--scores", str(tmp_path / "s"), "--budget", "4", "--strategy", "entropy",
                          "-o", str(queue_file)]) == 0
    items = json.loads(queue_file.read_text())["items"]
    assert len(items) == 4
    for item in items:
        crop = Path(item["image"])
        assert crop.parent == tmp_path / "queue.crops" and crop.is_file()
        index = int(crop.stem.rsplit("-", 1)[1])           # crops-00000N-KEY.jpg: KEY is the folder image's index
        assert crop.read_bytes() == Path(ref.keys[index]).read_bytes()
