"""`train-vehicle score --engine ray` on a real local Ray cluster (2 ONNX Runtime actors) gives what
the local engine gives on 200 real crops, as a folder and as WebDataset shards (issue 32 item 4)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vehiclekit.errors import VehiclekitError
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.corpus.score import load_scores, score
from vehiclekit.training.corpus.shards import ShardWriter

pytestmark = pytest.mark.slow
CLASSES = ("car", "bike", "truck", "juggernaut", "pickup", "minibus")


@pytest.fixture(scope="module")
def crops(tmp_path_factory, data_dir):
    """200 real crops of vehicle-types in 6 folders, and the same crops in 4 shards."""
    root = tmp_path_factory.mktemp("pool")
    files = [p for c in CLASSES for p in sorted((data_dir / "vehicle-types" / c).glob("*.jpg"))[:34]][:200]
    writer = ShardWriter(root / "shards", shard_size=50)
    for i, src in enumerate(files):
        (root / "pool" / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / "pool" / src.parent.name / src.name)
        writer.write(f"{i:06d}", src.read_bytes(), {})
    writer.close()
    return root


@pytest.fixture(scope="module")
def cluster():
    """A real local Ray cluster: 2 logical CPUs for the 2 actors, one for the read tasks."""
    import ray

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("source", ["pool", "shards"])
def test_two_ray_actors_score_exactly_like_the_local_engine(source, crops, cluster, tmp_path):
    score(str(crops / source), "vehicle-type", tmp_path / "local", batch_size=32, mc_passes=10)
    manifest = score(str(crops / source), "vehicle-type", tmp_path / "ray", engine="ray", workers=2, batch_size=16,
                     mc_passes=10)
    assert manifest["images"] == 200 and manifest["workers"] == 2
    assert len(list((tmp_path / "ray").glob("*.parquet"))) >= 2          # written by the actors, in parts
    local, ray_scores = load_scores(tmp_path / "local"), load_scores(tmp_path / "ray")
    assert ray_scores.keys == local.keys and len(set(local.keys)) == 200
    np.testing.assert_allclose(ray_scores.probs, local.probs, atol=1e-5)
    np.testing.assert_allclose(ray_scores.features, local.features, atol=1e-5)
    np.testing.assert_allclose(ray_scores.mc_probs, local.mc_probs, atol=1e-5)   # the same MC passes, per image
    assert np.abs(local.mc_probs - local.probs).max() > 0.01                      # ... and they are not the softmax


def test_the_command_starts_a_local_cluster_and_refuses_an_unreachable_one(crops, tmp_path, capsys):
    import ray

    if ray.is_initialized():        # the module's cluster: the command must start its own
        ray.shutdown()
    out = tmp_path / "cli"
    assert train_vehicle(["score", str(crops / "pool" / "bike"), "--out", str(out), "--engine", "ray",
                          "--workers", "2", "--mc-passes", "0"]) == 0
    assert "on ray (2 worker(s))" in capsys.readouterr().out and not ray.is_initialized()
    assert len(load_scores(out).keys) == 34
    with pytest.raises(VehiclekitError, match="cannot reach the Ray cluster"):
        score(str(crops / "pool"), "vehicle-type", tmp_path / "x", engine="ray", address="ray://127.0.0.1:1")
