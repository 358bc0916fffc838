"""WebDataset shards of crops: write them, find them from a spec, read them back streaming.

Format (WebDataset, https://github.com/webdataset/webdataset): plain POSIX tar files, each sample
the consecutive members ``KEY.jpg`` (the crop) and ``KEY.json`` (its metadata), at most
``shard_size`` samples per shard, named ``crops-000000.tar``, ``crops-000001.tar``... beside a
``manifest.json`` (the shards with their sample counts, the sources, the dedup statistics and the
command that made them). A shard is written under a temporary name and renamed when complete.

A *spec* names the shards: a directory (its manifest's shards, else its ``*.tar``), a brace
pattern ``crops-{000000..000009}.tar``, one ``.tar``, each a local path or a URL (``file://``,
``http(s)://``, ``pipe:``: WebDataset's ``gopen`` opens them). :func:`read_samples` streams one
shard after another, one sample at a time (never a listing of the samples), gives every
(rank, worker) *slot* its own shards — ``shards[slot::slots]``, disjoint and fixed across epochs —
or, with fewer shards than slots, every slot reads all shards and keeps every ``slots``-th sample;
and shuffles within a bounded buffer of encoded samples, seeded by (seed, epoch, slot) so an epoch
replays exactly. Torch-free (the Ray scoring and the SDK side can use it); the torch datasets are
in :mod:`.stream`.
"""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vehiclekit.errors import DatasetNotFoundError

MANIFEST = "manifest.json"
PATTERN = "crops-{:06d}.tar"
URL_SCHEMES = ("http://", "https://", "file://", "pipe:", "s3://", "gs://")


@dataclass(frozen=True)
class Sample:
    key: str
    url: str            # the shard it came from (a folder image: its path)
    jpg: bytes          # the encoded image
    meta: dict

    @property
    def name(self) -> str:
        """Where the sample lives: ``SHARD#KEY`` (a folder image: its path)."""
        return self.url if self.key == self.url else f"{self.url}#{self.key}"


class ShardWriter:
    """Write samples into ``out/crops-NNNNNN.tar``, ``shard_size`` per shard; :meth:`close` returns
    ``[{"name", "samples"}]``. Members carry mtime 0 and no owner, so the same crops give the same bytes."""

    def __init__(self, out: Path, shard_size: int):
        if shard_size < 1:
            raise ValueError(f"--shard-size must be at least 1, got {shard_size}")
        self.out, self.shard_size = Path(out), shard_size
        self.out.mkdir(parents=True, exist_ok=True)
        self.shards: list[dict] = []
        self.tar: tarfile.TarFile | None = None

    def write(self, key: str, jpg: bytes, meta: dict) -> None:
        if "." in key:
            raise ValueError(f"sample key {key!r} must not contain a dot (WebDataset splits the extension at the first one)")
        if self.tar is None or self.shards[-1]["samples"] == self.shard_size:
            self._next()
        for ext, data in (("jpg", jpg), ("json", json.dumps(meta, sort_keys=True).encode())):
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mode = len(data), 0o644
            self.tar.addfile(info, io.BytesIO(data))
        self.shards[-1]["samples"] += 1

    def _next(self) -> None:
        self._finish()
        name = PATTERN.format(len(self.shards))
        self.tar = tarfile.open(self.out / f"{name}.partial", "w", format=tarfile.USTAR_FORMAT)
        self.shards.append({"name": name, "samples": 0})

    def _finish(self) -> None:
        if self.tar is not None:
            self.tar.close()
            name = self.shards[-1]["name"]
            os.replace(self.out / f"{name}.partial", self.out / name)
            self.tar = None

    def close(self) -> list[dict]:
        self._finish()
        return self.shards


def is_shard_spec(spec: str | os.PathLike) -> bool:
    """Whether ``spec`` names shards (a URL, a brace pattern, a ``.tar``, a directory with a manifest
    or ``*.tar`` files) rather than a folder of images."""
    text = str(spec)
    if text.startswith(URL_SCHEMES) or "{" in text or text.endswith(".tar"):
        return True
    path = Path(text)
    return path.is_dir() and ((path / MANIFEST).is_file() or next(path.glob("*.tar"), None) is not None)


def shard_urls(spec: str | os.PathLike) -> list[str]:
    """The shards of ``spec``, in order (a list of shard names, not of samples)."""
    from braceexpand import braceexpand      # a webdataset dependency

    text = str(spec)
    path = Path(text)
    if not text.startswith(URL_SCHEMES) and path.is_dir():
        manifest = path / MANIFEST
        names = ([s["name"] for s in json.loads(manifest.read_text())["shards"]] if manifest.is_file()
                 else sorted(p.name for p in path.glob("*.tar")))
        urls = [str(path / n) for n in names]
    else:
        urls = [u if u.startswith(URL_SCHEMES) else str(Path(u)) for u in braceexpand(text)]
    local = [u for u in urls if not u.startswith(URL_SCHEMES)]
    missing = [u for u in local if not Path(u).is_file()]
    if not urls or missing:
        raise DatasetNotFoundError(f"shards {text}: {'no shards found' if not urls else f'{len(missing)} missing, first {missing[0]}'}"
                                   " (give a shard directory, crops-{000000..000009}.tar, or URLs)")
    return urls


def manifest_counts(spec: str | os.PathLike) -> dict[str, int] | None:
    """Shard URL -> sample count from the manifest beside the shards (None when there is none)."""
    text = str(spec)
    base = text if Path(text).is_dir() else text.rsplit("/", 1)[0] if "/" in text else "."

    def join(name: str) -> str:
        return f"{base.rstrip('/')}/{name}" if base.startswith(URL_SCHEMES) else str(Path(base) / name)

    try:
        from webdataset import gopen

        with gopen(join(MANIFEST)) as f:
            manifest = json.loads(f.read())
    except Exception:  # noqa: BLE001 - no manifest (or unreachable): counts unknown
        return None
    return {join(s["name"]): s["samples"] for s in manifest["shards"]}


def slot_shards(urls: list[str], slot: int, slots: int) -> tuple[list[str], bool]:
    """(the shards slot ``slot`` of ``slots`` reads, whether it keeps only every ``slots``-th sample)."""
    return (urls[slot::slots], False) if len(urls) >= slots else (urls, True)


def read_samples(spec: str | os.PathLike | list[str], slot: int = 0, slots: int = 1, seed: int = 0,
                 epoch: int = 0, buffer: int = 0, skip: int = 0) -> Iterator[Sample]:
    """Stream the samples of slot ``slot`` of ``slots`` (``rank * workers + worker`` of ``world *
    workers``), shuffled within ``buffer`` samples (0: in order) seeded by (seed, epoch, slot);
    ``skip`` drops the first samples of that stream (a resumed run's samples already consumed)."""
    urls = spec if isinstance(spec, list) else shard_urls(spec)
    mine, by_sample = slot_shards(urls, slot, slots)
    rng = random.Random(f"{seed}-{epoch}-{slot}")  # noqa: S311 - a seeded data order, not security
    if len(mine) > 1 and buffer:   # slots splitting by sample must agree on the order: one seed for all
        order = random.Random(f"{seed}-{epoch}") if by_sample else rng  # noqa: S311
        mine = order.sample(mine, len(mine))
    samples = _tar_samples(mine)
    if by_sample:
        samples = (s for i, s in enumerate(samples) if i % slots == slot)
    stream = _shuffled(samples, buffer, rng) if buffer else samples
    for i, sample in enumerate(stream):
        if i >= skip:
            yield sample


def _tar_samples(urls: Iterable[str]) -> Iterator[Sample]:
    from webdataset.tariterators import tarfile_samples

    for raw in tarfile_samples({"url": u} for u in urls):
        jpg = raw.get("jpg") or raw.get("jpeg") or raw.get("png")
        if jpg is None:
            raise DatasetNotFoundError(f"sample {raw['__key__']} of {raw['__url__']} has no .jpg/.png member")
        meta = json.loads(raw["json"]) if "json" in raw else {}
        yield Sample(raw["__key__"], raw["__url__"], jpg, meta)


def _shuffled(samples: Iterable[Sample], buffer: int, rng: random.Random) -> Iterator[Sample]:
    """Reservoir-style shuffle: fill ``buffer`` samples, then emit a random one for each new one."""
    held: list[Sample] = []
    for s in samples:
        if len(held) < buffer:
            held.append(s)
            continue
        i = rng.randrange(buffer)
        held[i], s = s, held[i]
        yield s
    rng.shuffle(held)
    yield from held


def folder_samples(folder: str | os.PathLike, slot: int = 0, slots: int = 1) -> Iterator[Sample]:
    """The images under ``folder`` (recursively, each directory in name order, walked lazily) as
    samples, every ``slots``-th from ``slot``: the same stream as shards give, for a folder."""
    from vehiclekit.sdk.image import IMAGE_SUFFIXES

    i = 0
    for directory, subdirs, files in os.walk(folder):
        subdirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                if i % slots == slot:
                    path = os.path.join(directory, name)
                    yield Sample(path, path, Path(path).read_bytes(), {})
                i += 1


def extract(names: Iterable[str], folder: Path) -> dict[str, Path]:
    """Write the samples named ``SHARD#KEY`` (:attr:`Sample.name`) into ``folder`` as
    ``SHARDSTEM-KEY.jpg`` files (what a person's labelling tool opens); returns name -> file. Reads
    only the shards that hold them."""
    wanted: dict[str, set[str]] = {}
    for name in names:
        shard, _, key = name.rpartition("#")
        wanted.setdefault(shard, set()).add(key)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for shard, keys in wanted.items():
        for sample in _tar_samples([shard]):
            if sample.key in keys:
                files[sample.name] = folder / f"{Path(shard).stem}-{sample.key}.jpg"
                files[sample.name].write_bytes(sample.jpg)
    missing = sorted(set(names) - set(files))
    if missing:
        raise DatasetNotFoundError(f"{len(missing)} scored crops are no longer in their shards (first: {missing[0]}): "
                                    "the shards changed since `train-vehicle score`; score them again")
    return files


def write_manifest(out: Path, manifest: dict) -> Path:
    path = Path(out) / MANIFEST
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, path)
    return path
