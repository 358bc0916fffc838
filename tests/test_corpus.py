"""The corpus room (issue 32): `train-vehicle harvest` on real frames and video -> WebDataset shards
with a few crops per track and dHash dedup; the shard reader (round trip, specs, disjoint rank and
worker split, seeded shuffle); `pretrain --shards` under torchrun, `finetune --unlabeled SHARDS`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest

from vehiclekit.paths import data_root
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.corpus.dhash import DuplicateIndex, dhash, hamming
from vehiclekit.training.corpus.shards import (
    ShardWriter, folder_samples, is_shard_spec, manifest_counts, read_samples, shard_urls, write_manifest,
)
from vehiclekit.training.corpus.stream import ShardImages, shard_loader, steps_per_epoch, unpack
from vehiclekit.training.corpus.track_crops import BINS_PER_CROP, Candidate, TrackCrops
from vehiclekit.video.source import VideoSource, VideoSourceError

SHARED = data_root()        # ../shared/data or $VEHICLEKIT_DATA (the mutation runner's copy sets it)
CCTV = SHARED / "traffic-cctv" / "images"
VIDEO = SHARED / "videos" / "parking-lot-top-down.mp4"
FIELDS = {"camera", "session", "frame", "seconds", "track", "track_frames", "box", "score", "label", "quality",
          "sharpness", "dhash"}


def _frames(folder: Path, n: int, as_session: str | None = None) -> Path:
    """Links to the first ``n`` frames of the noon session (every 4th frame of the video), optionally renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    for src in sorted(CCTV.glob("siang_15112021_1_mp4-*.jpg"))[:n]:
        name = src.name if as_session is None else f"{as_session}-{src.name.rsplit('-', 1)[1]}"
        (folder / name).symlink_to(src)
    return folder


def _harvest(out: Path, *sources, extra=()) -> dict:
    args = ["harvest", *map(str, sources), "--out", str(out), "--detector", "yolox", "--threads", "1", *extra]
    assert train_vehicle(args) == 0
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    base = tmp_path_factory.mktemp("harvest")
    frames = _frames(base / "frames", 40)
    return frames, _harvest(base / "shards", frames, extra=["--shard-size", "20"]), base / "shards"


def test_harvest_keeps_a_few_crops_per_track_with_their_metadata(session):
    frames, manifest, shards = session
    samples = list(read_samples(shards))
    assert len(samples) == manifest["samples"] > 30
    assert [s["samples"] for s in manifest["shards"]][:-1] == [20] * (len(manifest["shards"]) - 1)
    assert sorted(p.name for p in shards.glob("*.tar")) == [f"crops-{i:06d}.tar" for i in range(len(manifest["shards"]))]
    per_track = Counter(s.meta["track"] for s in samples)
    assert max(per_track.values()) <= 3 and manifest["crops_per_track"]["max"] == 3
    assert sum(per_track.values()) == len(samples) and len(per_track) == manifest["tracks_kept"]
    assert manifest["frames"] == 40 and manifest["sources"][0]["tracks"] > manifest["tracks_kept"]    # one-frame tracks dropped
    numbers = {int(p.stem.rsplit("-", 1)[1]) for p in frames.iterdir()}
    for s in samples:
        assert FIELDS <= set(s.meta) and s.meta["camera"] == str(frames) and s.meta["session"] == "siang_15112021_1_mp4"
        assert s.meta["frame"] in numbers and s.meta["track_frames"] >= 2 and s.meta["score"] >= 0.3
        x1, y1, x2, y2 = s.meta["box"]
        image = cv2.imdecode(np.frombuffer(s.jpg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape[:2] == (y2 - y1, x2 - x1) and min(image.shape[:2]) >= 24 and x2 <= 640 and y2 <= 640
        assert hamming(dhash(image), int(s.meta["dhash"], 16)) <= 6        # the hash of the crop before JPEG
    frames_of = {}
    for s in samples:        # a track's crops come from different frames
        frames_of.setdefault(s.meta["track"], []).append(s.meta["frame"])
    assert all(len(set(f)) == len(f) for f in frames_of.values())


def test_dedup_removes_a_recording_given_twice(session, tmp_path):
    frames, manifest, _ = session
    _frames(frames.parent / "twice", 40)
    copy = _frames(frames.parent / "twice", 40, as_session="copy_mp4")
    twice = _harvest(tmp_path / "twice", copy)
    assert twice["dedup"]["candidates"] == 2 * manifest["dedup"]["candidates"]
    assert twice["samples"] == manifest["samples"], "every crop of the copied session is a duplicate"
    assert twice["dedup"]["rate"] == pytest.approx(0.5 + manifest["dedup"]["rate"] / 2, abs=1e-3)


def test_dedup_against_an_earlier_corpus_writes_only_what_it_lacks(session, tmp_path):
    """The same recording harvested again (another session name) against the first harvest's shards:
    every crop is already in the corpus, so nothing is written, and the manifest says why."""
    frames, manifest, shards = session
    again = _frames(tmp_path / "again", 40, as_session="again_mp4")
    second = _harvest(tmp_path / "second", again, extra=["--dedup-against", str(shards)])
    d = second["dedup"]
    assert second["samples"] == 0 and d["against_crops"] == manifest["samples"] > 0
    assert d["candidates"] == manifest["dedup"]["candidates"] and d["duplicates"] == d["candidates"]
    assert d["corpus_duplicates"] >= manifest["samples"] and d["against"] == [str(shards)]


@pytest.mark.parametrize("max_distance", [0, 3, 6, 11])
def test_multi_index_hashing_finds_what_a_full_scan_finds(max_distance, monkeypatch):
    """Against a brute-force scan over every stored hash, with merges of the unsorted tier on the way:
    the same duplicate decisions, each at the smallest distance."""
    monkeypatch.setattr(DuplicateIndex, "MERGE_AT", 64)
    rng = np.random.default_rng(max_distance)
    known = rng.integers(0, 2**63, 300, dtype=np.uint64) << np.uint64(1)
    index, stored = DuplicateIndex(max_distance, known), [int(h) for h in known]
    for j in range(1200):
        h = int(rng.integers(0, 2**63)) << 1
        if j % 2:      # a variant of a stored hash, up to 2 bits past the threshold
            h = stored[rng.integers(len(stored))]
            for bit in rng.choice(64, int(rng.integers(0, max_distance + 3)), replace=False):
                h ^= 1 << int(bit)
        distances = [hamming(h, s) for s in stored]
        found = index.add(h)
        if min(distances) <= max_distance:
            assert found is not None and distances[found] == min(distances)
        else:
            assert found is None
            stored.append(h)
    assert len(index) == len(stored) > 300 + 64      # some merged into the sorted tier
    with pytest.raises(ValueError, match="0..63"):
        DuplicateIndex(64)


def test_harvest_a_few_seconds_of_video(tmp_path):
    manifest = _harvest(tmp_path / "v", VIDEO, extra=["--max-frames", "150", "--detector", "auto"])
    samples = list(read_samples(tmp_path / "v"))
    assert manifest["frames"] == 150 and samples
    assert max(Counter(s.meta["track"] for s in samples).values()) <= 3
    for s in samples:
        assert s.meta["camera"] == str(VIDEO) and s.meta["seconds"] == pytest.approx(s.meta["frame"] / 12.5, abs=1e-3)


def test_a_missing_source_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(VideoSourceError, match="neither a video file"):
        VideoSource.sessions(tmp_path / "nope.mp4")
    assert train_vehicle(["harvest", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.mp4 is neither a video file" in capsys.readouterr().err


def test_folder_sessions_keep_their_frame_numbers(tmp_path):
    _frames(tmp_path, 5)
    _frames(tmp_path, 3, as_session="other_mp4")
    parts = VideoSource.sessions(tmp_path)
    assert [Path(p.name).name for p in parts] == ["other_mp4", "siang_15112021_1_mp4"]
    indices = [f.index for f in parts[1]]
    assert indices == sorted(indices) and len(indices) == 5 and indices[1] - indices[0] == 4    # every 4th frame


def test_dhash_near_duplicates_and_distinct_vehicles():
    image = cv2.imread(str(sorted(CCTV.glob("*.jpg"))[0]))
    crop = image[300:500, 200:400]
    _, jpg = cv2.imencode(".jpg", cv2.convertScaleAbs(crop, alpha=1.1, beta=10), [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert hamming(dhash(crop), dhash(cv2.imdecode(jpg, cv2.IMREAD_COLOR))) <= 6     # re-encoded, brighter
    assert hamming(dhash(crop), dhash(cv2.resize(crop, (77, 91)))) <= 6
    assert hamming(dhash(crop), dhash(image[0:200, 0:200])) > 6
    index = DuplicateIndex(6)
    assert index.add(dhash(crop)) is None and index.add(dhash(crop)) == 0 and index.add(dhash(image[0:200, 0:200])) is None
    assert len(index) == 2


def test_dhash_is_krawetz_difference_hash_of_area_means():
    """Against a reference written out by hand: grey, 9x8 block means (area shrink), bit = left
    neighbour strictly brighter, row-major, first bit the highest. The blocks hide a bright centre
    in a darker ring with the same mean, so a shrink that samples centres gives other bits."""
    rng = np.random.default_rng(0)
    means = rng.permutation(np.arange(60, 204, 2))[:72].reshape(8, 9)             # distinct block means
    means[3, 4:7] = means[3, 4]                                                    # equal neighbours: bit 0
    amplitude = rng.integers(0, 15, (8, 9))
    block = np.full((4, 4), -1)
    block[1:3, 1:3] = 3                                                            # ring -a, centre +3a: mean 0
    grey = (means[:, None, :, None] + amplitude[:, None, :, None] * block[None, :, None, :]).reshape(32, 36)
    grey = grey.astype(np.uint8)
    bits = (means[:, :-1] > means[:, 1:]).ravel()
    reference = int("".join("1" if b else "0" for b in bits), 2)
    assert dhash(grey) == reference
    assert dhash(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)) == reference                 # BGR goes through grey
    centres = grey[1::4, 1::4].astype(int)
    assert int("".join("1" if b else "0" for b in (centres[:, :-1] > centres[:, 1:]).ravel()), 2) != reference
    colour = np.dstack([grey, np.roll(grey, 5, 1), grey[::-1]])
    assert dhash(colour) == dhash(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY))
    assert dhash(np.full((20, 20), 7, np.uint8)) == 0 and dhash(np.tile(np.arange(90, 0, -10, dtype=np.uint8), (8, 1))) == 2**64 - 1


def test_track_crops_spread_over_a_long_track_in_bounded_memory():
    keeper = TrackCrops(first_frame=100, per_track=3)
    for f in range(100, 10_100):
        keeper.offer(Candidate(f, f / 25, (0, 0, 1, 1), 0.9, "car", quality=float((f * 7919) % 1000), sharpness=1.0,
                               crop=np.zeros((1, 1, 3), np.uint8)))
        assert len(keeper.bins) <= 3 * BINS_PER_CROP
    chosen = keeper.choose(last_frame=10_099)
    assert len(chosen) == 3
    assert [int((c.frame - 100) // (10_000 / 3)) for c in chosen] == [0, 1, 2]    # one per third of the track's life


def _tiny_shards(folder: Path, n: int = 25, size: int = 4) -> list[tuple[str, bytes]]:
    writer, written = ShardWriter(folder, size), []
    for i in range(n):
        image = np.full((8 + i, 10, 3), i * 9 % 256, np.uint8)
        jpg = cv2.imencode(".png", image)[1].tobytes()
        writer.write(f"k{i:04d}", jpg, {"i": i})
        written.append((f"k{i:04d}", jpg))
    write_manifest(folder, {"shards": writer.close()})
    return written


def test_shard_round_trip_and_specs(tmp_path):
    written = _tiny_shards(tmp_path / "s")
    assert len(shard_urls(tmp_path / "s")) == 7 and is_shard_spec(tmp_path / "s") and not is_shard_spec(CCTV)
    got = [(s.key, s.jpg) for s in read_samples(tmp_path / "s")]
    assert got == written and [s.meta["i"] for s in read_samples(tmp_path / "s")] == list(range(25))
    brace = f"{tmp_path}/s/crops-{{000000..000006}}.tar"
    assert [s.key for s in read_samples(brace)] == [k for k, _ in written]
    assert [s.key for s in read_samples(f"file://{tmp_path}/s/crops-{{000000..000001}}.tar")] == [k for k, _ in written[:8]]
    assert sum(manifest_counts(brace).values()) == 25
    with tarfile.open(tmp_path / "s" / "crops-000000.tar") as tar:
        assert tar.getnames()[:2] == ["k0000.png", "k0000.json"] or tar.getnames()[:2] == ["k0000.jpg", "k0000.json"]
    assert sorted(p.name for p in unpack(str(tmp_path / "s"), tmp_path / "u").glob("*.jpg")) == [f"{k}.jpg" for k, _ in written]
    with pytest.raises(Exception, match="missing"):
        shard_urls(f"{tmp_path}/s/crops-{{000000..000009}}.tar")


def test_shards_stream_from_a_web_server_by_url_pattern(tmp_path):
    """An object store seen over HTTP (a real server on localhost; WebDataset's gopen reads with curl):
    the brace pattern of URLs, the manifest beside them, and the training steps it gives."""
    import functools
    import http.server
    import threading

    written = _tiny_shards(tmp_path / "s")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "s"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = f"http://127.0.0.1:{server.server_port}/crops-{{000000..000006}}.tar"
        assert [(s.key, s.jpg) for s in read_samples(spec)] == written
        assert sum(manifest_counts(spec).values()) == 25
        assert steps_per_epoch(spec, shard_urls(spec), batch=2, world=2, workers=1) == 6
        assert sorted(s.key for slot in range(2) for s in read_samples(spec, slot, 2, buffer=4)) == [k for k, _ in written]
    finally:
        server.shutdown()


@pytest.mark.parametrize("slots", [2, 4, 10])      # 10 > 7 shards: every slot reads all, keeps every 10th sample
def test_slots_read_disjoint_shares_that_cover_the_corpus(tmp_path, slots):
    _tiny_shards(tmp_path / "s")
    shares = [[s.key for s in read_samples(tmp_path / "s", slot, slots, seed=3, epoch=1, buffer=5)] for slot in range(slots)]
    assert all(not set(a) & set(b) for a, b in combinations(shares, 2))
    assert sorted(k for share in shares for k in share) == [f"k{i:04d}" for i in range(25)]


def test_shuffle_is_seeded_per_epoch_and_skip_resumes(tmp_path):
    _tiny_shards(tmp_path / "s")
    order = [s.key for s in read_samples(tmp_path / "s", buffer=8, seed=0, epoch=0)]
    assert order == [s.key for s in read_samples(tmp_path / "s", buffer=8, seed=0, epoch=0)]
    assert order != [s.key for s in read_samples(tmp_path / "s", buffer=8, seed=0, epoch=1)]
    assert sorted(order) == [f"k{i:04d}" for i in range(25)] and order != sorted(order)
    assert [s.key for s in read_samples(tmp_path / "s", buffer=8, seed=0, epoch=0, skip=10)] == order[10:]


def test_steps_per_epoch_and_loader_workers_split_by_rank(tmp_path):
    import torch
    from torch.utils.data import DataLoader

    _tiny_shards(tmp_path / "s")
    urls = shard_urls(tmp_path / "s")       # 7 shards: 4,4,4,4,4,4,1 samples
    assert steps_per_epoch(str(tmp_path / "s"), urls, batch=2, world=2, workers=1) == 6   # rank 1: shards 1,3,5 = 12 samples
    assert steps_per_epoch(str(tmp_path / "s"), urls, batch=4, world=2, workers=2) == 2
    seen = []
    for rank in range(2):
        dataset = ShardImages(urls, lambda image: torch.tensor(image.shape[0]), rank=rank, world=2, buffer=0)
        loader = DataLoader(dataset, batch_size=None, num_workers=2)
        seen.append([int(x) for x, _ in loader])
    assert not set(seen[0]) & set(seen[1]) and sorted(seen[0] + seen[1]) == list(range(8, 33))   # heights 8 + i


def test_a_resumed_epoch_yields_the_same_batches_and_augmentations(tmp_path):
    """Skipping 2 batches of 2 loader workers before decoding gives exactly the full epoch's batches 2..,
    random augmentation included (each image's draw is seeded by its place in the stream)."""
    import torch
    from torchvision.transforms import v2

    _tiny_shards(tmp_path / "s")
    augment = v2.Compose([v2.ToImage(), v2.RandomResizedCrop(6, antialias=True), v2.ToDtype(torch.float32, scale=True)])

    def batches(skip: int) -> list:
        return [x for x, _ in shard_loader(str(tmp_path / "s"), augment, 2, epoch=1, seed=5, rank=0, world=1, workers=2,
                                           buffer=4, max_side=None, steps=6, skip=skip)]

    full, resumed = batches(0), batches(2)
    assert len(full) == 6 and len(resumed) == 4
    assert all(torch.equal(a, b) for a, b in zip(full[2:], resumed))
    assert torch.equal(full[0], batches(0)[0])
    with pytest.raises(ValueError, match="multiple"):
        batches(1)


def test_pretrain_on_shards_resumes_mid_epoch(session, tmp_path, killed_at_first_checkpoint):
    """Killed after the first mid-epoch checkpoint (step 2 of 2 workers), `--resume` ends with the
    same step losses and weights as the run that was never stopped."""
    import torch

    from vehiclekit.training.core.checkpoint import load_checkpoint

    shards = session[2]
    args = ["pretrain", "--method", "simsiam", "--shards", str(shards), "--epochs", "1", "--img-size", "32", "--batch-size", "8",
            "--workers", "2", "--threads", "1", "--eval-every", "0", "--shuffle-buffer", "16", "--checkpoint-every", "1"]
    assert train_vehicle([*args, "--out", str(tmp_path / "full")]) == 0
    killed_at_first_checkpoint([*args, "--out", str(tmp_path / "killed")])
    assert load_checkpoint(tmp_path / "killed" / "last.pt")["progress"]["steps"] == 2   # 1 rounded up to the 2 workers
    assert train_vehicle(["pretrain", "--resume", "--out", str(tmp_path / "killed")]) == 0
    full, resumed = (load_checkpoint(tmp_path / run / "last.pt") for run in ("full", "killed"))
    assert len(full["history"][0]["loss_steps"]) > 2
    assert resumed["history"][0]["loss_steps"] == full["history"][0]["loss_steps"]
    for key, value in full["model"].items():
        assert torch.equal(value, resumed["model"][key]), key


@pytest.mark.slow
def test_ssl_study_pretrains_on_shards(session, tmp_path):
    """`study ssl --shards`: the methods pretrain on the harvested crops, then kNN on both test splits."""
    shards = session[2]
    results = tmp_path / "ssl_results"
    assert train_vehicle(["study", "ssl", "--shards", str(shards), "--methods", "simsiam", "--epochs", "1", "--img-size", "32",
                          "--batch-size", "16", "--eval-every", "0", "--protocols", "knn", "--workers", "0",
                          "--out", str(tmp_path / "runs"), "--results", str(results)]) == 0
    report = json.loads(results.with_suffix(".json").read_text())
    assert report["budget"]["corpus"] == f"shards {shards}"
    assert f"--shards {shards}" in report["pretrain_commands"]["simsiam"]
    assert [r["backbone"] for r in report["rows"]] == ["random-init", "simsiam"]
    assert json.loads((tmp_path / "runs" / "simsiam" / "history.json").read_text())[0]["loss_steps"]
    for row in report["rows"]:
        assert 1 / 6 < row["results"]["vehicle-types/knn"]["test_acc"] <= 1    # better than chance over 6 types
    assert f"shards {shards}" in results.with_suffix(".md").read_text()


def test_folder_samples_split_like_shards():
    first = [s.key for s in folder_samples(SHARED / "vehicle-types" / "bike", 0, 3)][:5]
    second = [s.key for s in folder_samples(SHARED / "vehicle-types" / "bike", 1, 3)][:5]
    assert first and not set(first) & set(second)


@pytest.mark.slow
def test_pretrain_on_shards_under_torchrun_and_finetune_unlabeled(session, tmp_path):
    _, manifest, shards = session
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "vehiclekit.training.cli", "pretrain", "--method", "simsiam", "--shards", str(shards), "--epochs", "2",
           "--img-size", "32", "--batch-size", "16", "--workers", "1", "--threads", "1", "--eval-every", "0",
           "--shuffle-buffer", "16", "--checkpoint-every", "2", "--out", str(out)]   # mid-epoch saves: all ranks meet
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((out / "history.json").read_text())
    counts = [s["samples"] for s in manifest["shards"]]
    per_rank = [sum(counts[r::2]) for r in range(2)]
    assert len(history) == 2 and len(history[0]["loss_steps"]) == min(per_rank) // 8 > 2   # > 2: a mid-epoch save
    assert (out / "backbone.pt").is_file()
    ft = tmp_path / "ft"
    assert train_vehicle(["finetune", "--method", "ups", "--unlabeled", str(shards), "--labels-fraction", "0.05",
                          "--iterations", "2", "--epochs-per-iteration", "1", "--min-samples-per-epoch", "64", "--mc-passes", "2",
                          "--img-size", "32", "--batch-size", "32", "--out", str(ft), "--workers", "0"]) == 0
    assert len(list((ft / "unlabeled-shards").glob("*.jpg"))) == manifest["samples"]
    assert json.loads((ft / "metrics.json").read_text())["pool"] > manifest["samples"]
