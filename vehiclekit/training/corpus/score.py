"""``train-vehicle score``: score an unlabelled pool on a distributed batch engine (issue 32 item 4).

Each image gets what the labelling queue and UPS need (:mod:`~vehiclekit.training.corpus.score_model`):
softmax, backbone features and MC-dropout softmax passes, written as Parquet that ``train-vehicle
select --scores`` turns into a queue. The engine is Ray Data: ``map_batches`` over a pool of ONNX
Runtime actors (``--workers``, one core each). Why Ray Data rather than Triton behind many clients:
scoring a pool is a batch job with no latency target, where throughput, not a request's latency,
is what counts; Ray Data streams samples from shards in object stores with backpressure (memory
stays flat however large the corpus), schedules actors on whatever cluster ``--address`` reaches
and retries failed tasks, where Triton would need clients that list, read, retry and balance
themselves. Triton stays the online path (the SDK's ``url=``, one image at low latency).
``--engine local`` is the same per-batch function in this process: the reference the cluster matches.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from vehiclekit.errors import DatasetError, VehiclekitError
from vehiclekit.sdk.image import IMAGE_SUFFIXES
from vehiclekit.training.corpus.shards import URL_SCHEMES, is_shard_spec, read_samples, shard_urls
from vehiclekit.training.ssl.data import folder_images

if TYPE_CHECKING:
    import pyarrow as pa

ENGINES = ("local", "ray")
MANIFEST = "scores.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("examples:\n"
                "  train-vehicle score cameras/ --model vehicle-type --out runs/scores          # in this process\n"
                "  train-vehicle score 'shards/crops-{000000..000099}.tar' --model vehicle-type --out runs/scores \\\n"
                "      --engine ray --workers 2                          # a local Ray cluster of 2 actors\n"
                "  train-vehicle score 's3://bucket/crops/crops-{000000..009999}.tar' --out /shared/scores \\\n"
                "      --engine ray --workers 64 --address ray://head:10001   # a running cluster (vehiclekit[scale] on every node)\n"
                "then: train-vehicle select --scores runs/scores --budget 200 --strategy entropy -o queue.json\n"
                "Output: OUT/*.parquet (key, probs, features, mc_probs, error) and OUT/scores.json.")
    p.add_argument("source", help="a folder of images (recursive), a folder of WebDataset *.tar shards, "
                                  "a brace pattern ('crops-{000..099}.tar') or shard URLs")
    p.add_argument("--model", default="vehicle-type", help="zoo classifier name or exported .onnx (default: %(default)s)")
    p.add_argument("--out", required=True, type=Path, help="output folder (on a cluster: one every node can write)")
    p.add_argument("--engine", choices=ENGINES, default="local", help="local: this process; ray: Ray Data actors")
    p.add_argument("--workers", type=int, default=2, help="ray: ONNX Runtime actors, one core each (default: %(default)s)")
    p.add_argument("--address", help="ray: a running cluster (auto, or ray://HEAD:10001); default: start a local one")
    p.add_argument("--batch-size", type=int, default=64, help="images per ONNX Runtime call (default: %(default)s)")
    p.add_argument("--mc-passes", type=int, default=10, help="MC-dropout passes of the head (0: none; bald/ups need >= 2)")
    p.add_argument("--mc-dropout", type=float, default=0.3, help="dropout on the features for the MC passes")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-image dropout masks")


def scale_extra():
    """The ``vehiclekit[scale]`` modules scoring needs (imported here so `train-vehicle` starts without them)."""
    try:
        import pyarrow.compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401

        from vehiclekit.training.corpus import score_model
    except ImportError as e:
        raise VehiclekitError(f"scoring needs the scale extra ({e.name} is missing): pip install 'vehiclekit[scale]'") from None
    return score_model


def shards_of(source: str) -> list[str] | None:
    """The shards ``source`` names (local ones as absolute paths, so both engines key a sample alike),
    or None when it is a folder of images."""
    if not is_shard_spec(source):
        if not Path(source).is_dir():
            raise DatasetError(f"{source} does not exist: give a folder of images, a folder of WebDataset *.tar "
                               "shards, a pattern (crops-{000000..000009}.tar) or shard URLs")
        return None
    return [u if u.startswith(URL_SCHEMES) else str(Path(u).resolve()) for u in shard_urls(source)]


def folder_batches(paths: list[Path], batch_size: int):
    """``{"path", "bytes"}`` batches of image files (the columns of Ray's ``read_binary_files``)."""
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        yield {"path": [str(p) for p in chunk], "bytes": [_read(p) for p in chunk]}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""                      # reported per image as unreadable by the scorer


def shard_batches(urls: list[str], batch_size: int):
    """The shards' samples in order (:func:`~vehiclekit.training.corpus.shards.read_samples`), in
    ``batch_size`` batches with the columns Ray's ``read_webdataset`` gives."""
    samples = iter(read_samples(urls))
    while chunk := list(itertools.islice(samples, batch_size)):
        yield {"__key__": [x.key for x in chunk], "__url__": [x.url for x in chunk], "jpg": [x.jpg for x in chunk]}


def _score_local(batches, scorer, out: Path, total: int | None) -> None:
    import pyarrow.parquet as pq

    with pq.ParquetWriter(out / "part-local.parquet", scale_extra().SCHEMA) as writer:
        with tqdm(total=total, desc="scoring", unit="img", mininterval=1) as bar:
            for batch in batches:
                table = scorer(batch)
                writer.write_table(table)
                bar.update(table.num_rows)


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` / ``ray://HOST:PORT`` nobody answers at (``ray.init`` would wait minutes)."""
    if not address or address == "auto":
        return
    host, _, port = address.split("://")[-1].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as e:
        raise VehiclekitError(f"cannot reach the Ray cluster at --address {address} ({e}): check the head's "
                              "address (HOST:6379 for `ray start --head`, ray://HOST:10001 for Ray Client), or "
                              "leave --address out for a local cluster") from None


def _score_ray(shards: list[str] | None, images: list[Path] | None, scorer_args: dict, out: Path,
               workers: int, address: str | None, batch_size: int) -> None:
    try:
        import ray
        import ray.data
    except ImportError:
        raise VehiclekitError("--engine ray needs Ray Data: pip install 'vehiclekit[scale]'") from None
    started = not ray.is_initialized()
    if started:
        _check_reachable(address)
        try:
            ray.init(address=address, num_cpus=None if address else workers + 1, include_dashboard=False,
                     log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise VehiclekitError(f"cannot reach the Ray cluster at --address {address}: {str(e).rstrip('.')}. Start one with "
                                  "`ray start --head`, give its address (auto, ray://HEAD:10001), or leave "
                                  "--address out for a local cluster") from None
    try:
        if shards is not None:
            ds = ray.data.read_webdataset(shards, decoder=None)
        else:
            ds = ray.data.read_binary_files([str(p) for p in images], include_paths=True)
        ds = ds.map_batches(scale_extra().BatchScorer, fn_constructor_kwargs=scorer_args, num_cpus=1,
                            compute=ray.data.ActorPoolStrategy(size=workers), batch_size=batch_size,
                            batch_format="numpy")
        ds.write_parquet(str(out))
    finally:
        if started:
            ray.shutdown()


def score(source: str, model: str = "vehicle-type", out: Path | str = "scores", engine: str = "local",
          workers: int = 2, address: str | None = None, batch_size: int = 64, mc_passes: int = 10,
          mc_dropout: float = 0.3, seed: int = 0) -> dict:
    """Score every image of ``source`` into ``out`` (Parquet + ``scores.json``); returns the manifest."""
    import pyarrow.compute as pc

    score_model = scale_extra()
    if engine not in ENGINES:
        raise VehiclekitError(f"--engine {engine}: one of {', '.join(ENGINES)}")
    if workers < 1 or batch_size < 1 or mc_passes < 0 or not 0.0 <= mc_dropout < 1.0:
        raise VehiclekitError("--workers and --batch-size must be >= 1, --mc-passes >= 0, --mc-dropout in [0, 1)")
    out = Path(out)
    if out.is_dir() and any(out.glob("*.parquet")):
        raise VehiclekitError(f"--out {out} already holds scores: remove it or give another folder")
    path = score_model.model_path(model)
    head = score_model.split_head(path)
    shards = shards_of(str(source))
    images = None if shards else [p.resolve() for p in folder_images(Path(source)).paths]
    out.mkdir(parents=True, exist_ok=True)
    scorer_args = dict(head=head, passes=mc_passes, dropout=mc_dropout, seed=seed)
    start = time.perf_counter()
    if engine == "ray":
        _score_ray(shards, images, scorer_args, out, workers, address, batch_size)
    else:
        batches = shard_batches(shards, batch_size) if shards else folder_batches(images, batch_size)
        _score_local(batches, score_model.BatchScorer(**scorer_args), out, None if shards else len(images))
    seconds = time.perf_counter() - start
    done = read_parts(out, ["key", "error"])
    if not done.num_rows:
        raise DatasetError(f"{source}: no samples found (images {'/'.join(sorted(IMAGE_SUFFIXES))} or shards)")
    bad = done.filter(pc.is_valid(done["error"]))["key"].to_pylist()
    manifest = dict(model=head.meta.name, version=head.meta.version, model_file=str(path), labels=list(head.meta.labels),
                    mc_passes=mc_passes, mc_dropout=mc_dropout, seed=seed, engine=engine,
                    workers=workers if engine == "ray" else 1, source=str(source), images=done.num_rows - len(bad),
                    unreadable=len(bad), seconds=round(seconds, 3),
                    images_per_s=round(done.num_rows / seconds, 2) if seconds else None)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


@dataclass
class Scores:
    """A ``train-vehicle score`` output in pool order: images sorted as a folder listing sorts them."""
    keys: list[str]
    probs: np.ndarray        # [N, C]
    mc_probs: np.ndarray     # [T, N, C]
    features: np.ndarray     # [N, D]
    unreadable: list[str]
    manifest: dict


def read_parts(folder: Path, columns: list[str] | None = None) -> pa.Table:
    """Every Parquet part of a scores folder, as one table (parts in name order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    SCHEMA = scale_extra().SCHEMA
    parts = sorted(Path(folder).glob("*.parquet"))
    if not parts:
        return SCHEMA.empty_table().select(columns or SCHEMA.names)
    return pa.concat_tables(pq.read_table(p, columns=columns, schema=SCHEMA) for p in parts)


def _matrix(column, n: int) -> np.ndarray:
    import pyarrow as pa

    flat = pa.concat_arrays(column.chunks).flatten().to_numpy() if n else np.zeros(0, np.float32)
    return flat.reshape(n, -1) if n else flat.reshape(0, 0)


def load_scores(folder: Path) -> Scores:
    """Read what :func:`score` wrote (any engine, any number of workers: rows are put in pool order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise DatasetError(f"--scores {folder} has no {MANIFEST}: give a folder written by `train-vehicle score`")
    manifest = json.loads((folder / MANIFEST).read_text())
    table = read_parts(folder)
    keys = table["key"].to_pylist()
    order = sorted(range(len(keys)), key=lambda i: Path(keys[i]).parts)
    table = table.take(pa.array(order, pa.int64()))
    ok = table.filter(pc.is_null(table["error"]))
    n, c = ok.num_rows, len(manifest["labels"])
    mc = _matrix(ok["mc_probs"], n).reshape(n, manifest["mc_passes"], c).transpose(1, 0, 2) if n else \
        np.zeros((manifest["mc_passes"], 0, c), np.float32)
    return Scores(ok["key"].to_pylist(), _matrix(ok["probs"], n), np.ascontiguousarray(mc), _matrix(ok["features"], n),
                  table.filter(pc.is_valid(table["error"]))["key"].to_pylist(), manifest)


def run(args: argparse.Namespace) -> int:
    manifest = score(args.source, args.model, args.out, args.engine, args.workers, args.address, args.batch_size,
                     args.mc_passes, args.mc_dropout, args.seed)
    print(f"scored {manifest['images']} images ({manifest['unreadable']} unreadable) with {manifest['model']} "
          f"v{manifest['version']} on {args.engine} ({manifest['workers']} worker(s)) in {manifest['seconds']:.1f} s, "
          f"{manifest['images_per_s']:.1f} img/s -> {args.out}")
    return 0
