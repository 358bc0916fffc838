"""How the corpus path grows: per-core rates of harvest, shard reading and the SSL step, 1 vs 2
processes, reader memory as the corpus grows 10x, and a projection to 10^6-10^9 crops (issue 32 item 5).

Everything is measured in one run, so the numbers share the machine's state:

(a) **shard reading**: crops/s of ``read_samples`` + the SDK's ``load_image`` over the small corpus,
    with 1 and 2 reader processes on disjoint slots (``--rounds`` alternating rounds, median);
(b) **reader memory**: peak RSS (``getrusage`` ``ru_maxrss``, a fresh subprocess per measurement) of
    a process streaming and decoding every crop of the small and the large corpus (shuffle buffer
    1000, as ``pretrain``), and of the torch ``shard_loader`` path of ``pretrain --shards`` (one
    DataLoader worker, two augmented views per crop) for ``--loader-batches`` batches of 64 (at most
    an epoch): main process and loader worker;
(c) **SSL step**: the ``images_per_s`` that ``train-vehicle pretrain --method simsiam --shards``
    writes to history.json, ``--ssl-steps`` steps of a global batch of 64 at each ``--img-sizes``,
    one process vs ``torchrun --nproc-per-node 2`` (``--threads 1``, loading in the training process:
    ``--ssl-workers 0``, so one process is one core);
(d) **harvest**: frames/s and crops/s of ``train-vehicle harvest --threads 1`` on a slice of the
    traffic-cctv frames cut into two disjoint groups of sessions: one process harvesting both vs two
    processes, one per group, at the same time (rates from the loop seconds in each manifest);
(e) a **projection** (not a measurement) of core-hours, GPU-hours, hours on N nodes / GPUs and cost
    for 10^6, 10^8 and 10^9 crops from the measured per-core rates; its assumptions are parameters
    and are printed with it (scoring's rate is read from docs/perf/corpus_scoring.json when present).

The synthetic corpora repeat the real crops of ``runs/corpus/cctv-traffic`` (else vehicle-types),
each with its own key, in shards of 1000 under ``runs/corpus-growth/`` (git-ignored; made once,
reused). Progress bars of the child commands go to ``runs/corpus-growth/logs/``::

    nice -n 0 .venv/bin/python benchmarks/corpus_growth.py --json docs/perf/corpus_growth.json > runs/corpus_growth.md
    .venv/bin/python benchmarks/corpus_growth.py --quick            # tiny sizes, a few minutes: tests the script

Trust a run only when the load average printed first is well below the CPU count.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "runs" / "corpus-growth"
BIN = Path(sys.executable).parent
SHARD_SIZE = 1000
REAL_SHARDS = REPO / "runs" / "corpus" / "cctv-traffic"
CCTV = "traffic-cctv/images"
# two disjoint groups of sessions of about equal size (435 vs 162 + 155 + 93 frames)
GROUPS = (("adit_mp4",), ("aditganteng_mp4", "malam_04112021_mp4", "siang_15112021_1_mp4"))


def _env() -> dict:
    """Child processes: one thread each, the repo importable."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO)}


# ---------------------------------------------------------------- corpora

def real_crops() -> tuple[list[bytes], str]:
    from vehiclekit.training.corpus.shards import read_samples

    if (REAL_SHARDS / "manifest.json").is_file():
        return [s.jpg for s in read_samples(str(REAL_SHARDS))], str(REAL_SHARDS.relative_to(REPO))
    from vehiclekit.paths import data_root

    files = sorted((data_root() / "vehicle-types").rglob("*.jpg"))
    return [p.read_bytes() for p in files], "vehicle-types"


def make_corpus(crops: int, out: Path, real: list[bytes], source: str, shard_size: int = SHARD_SIZE) -> Path:
    """``crops`` samples repeating the real crops, in shards of ``shard_size`` with a manifest (reused when it exists)."""
    from vehiclekit.training.corpus.shards import MANIFEST, ShardWriter, write_manifest

    manifest = out / MANIFEST
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        if m.get("samples") == crops and m.get("repeats_of") == source and m["shards"][0]["samples"] == min(shard_size, crops):
            return out
    shutil.rmtree(out, ignore_errors=True)
    writer = ShardWriter(out, shard_size)
    for i in range(crops):
        writer.write(f"{i:09d}", real[i % len(real)], {"copy_of": i % len(real)})
    write_manifest(out, {"shards": writer.close(), "samples": crops, "repeats_of": source, "distinct": len(real)})
    return out


# ---------------------------------------------------------------- (a) shard reading

def _reader(spec: str, slot: int, slots: int, barrier, results) -> None:
    import cv2

    from vehiclekit.sdk.image import load_image
    from vehiclekit.training.corpus.shards import read_samples

    cv2.setNumThreads(1)
    barrier.wait()
    started, n, pixels = time.perf_counter(), 0, 0
    for sample in read_samples(spec, slot, slots):
        pixels += load_image(sample.jpg).size // 3
        n += 1
    results.put((slot, n, time.perf_counter() - started, pixels))


def read_rate(spec: str, procs: int) -> dict:
    """Crops/s of ``procs`` processes reading disjoint slots of ``spec`` at the same time."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    workers = [ctx.Process(target=_reader, args=(spec, slot, procs, barrier, results)) for slot in range(procs)]
    for w in workers:
        w.start()
    rows = [results.get() for _ in workers]
    for w in workers:
        w.join()
    crops, seconds = sum(r[1] for r in rows), max(r[2] for r in rows)
    return {"processes": procs, "crops": crops, "seconds": round(seconds, 3), "crops_per_s": round(crops / seconds, 1),
            "crops_per_s_per_core": round(crops / seconds / procs, 1),
            "mean_pixels_per_crop": round(sum(r[3] for r in rows) / max(crops, 1))}


def shard_reading(spec: str, rounds: int) -> dict:
    runs = {1: [], 2: []}
    for _ in range(rounds):            # alternate, so drifting load hits both alike
        for procs in (1, 2):
            runs[procs].append(read_rate(spec, procs))
    rows = []
    for procs, rs in runs.items():
        rate = statistics.median(r["crops_per_s"] for r in rs)
        rows.append({**rs[0], "crops_per_s": rate, "crops_per_s_per_core": round(rate / procs, 1),
                     "rounds": [r["crops_per_s"] for r in rs], "seconds": statistics.median(r["seconds"] for r in rs)})
    return {"corpus": spec, "rows": rows, "speedup_2_vs_1": round(rows[1]["crops_per_s"] / rows[0]["crops_per_s"], 3)}


# ---------------------------------------------------------------- (b) reader memory

def _child(config: dict) -> dict:
    """Run in a fresh interpreter: stream ``config['spec']`` and report peak RSS."""
    import gc

    def rss_mib(who=resource.RUSAGE_SELF) -> float:
        return round(resource.getrusage(who).ru_maxrss / 1024, 1)     # kB on Linux

    def current_mib() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    started = time.perf_counter()
    if config["mode"] == "samples":
        import cv2

        from vehiclekit.sdk.image import load_image
        from vehiclekit.training.corpus.shards import read_samples

        cv2.setNumThreads(1)
        baseline, n = current_mib(), 0
        for sample in read_samples(config["spec"], buffer=1000):
            load_image(sample.jpg)
            n += 1
        return {"mode": "samples", "crops": n, "seconds": round(time.perf_counter() - started, 2),
                "rss_after_imports_mib": baseline, "peak_rss_mib": rss_mib()}
    import torch

    from vehiclekit.models.factory import DEFAULT_ARCH, backbone_spec
    from vehiclekit.training.core.transforms import ssl_views_transform
    from vehiclekit.training.corpus.shards import shard_urls
    from vehiclekit.training.corpus.stream import shard_loader, steps_per_epoch

    torch.set_num_threads(1)
    norm = backbone_spec(DEFAULT_ARCH)
    views = ssl_views_transform(config["img_size"], norm.mean, norm.std)
    spec, batch = config["spec"], config["batch"]
    epoch_steps = steps_per_epoch(spec, shard_urls(spec), batch, 1, 1)
    steps = min(config["batches"], epoch_steps)
    baseline = current_mib()
    loader = shard_loader(spec, views, batch, epoch=0, seed=0, rank=0, world=1, workers=1, buffer=1000,
                          max_side=2 * config["img_size"], steps=steps)
    batches = iter(loader.loader)
    for _ in range(steps):
        next(batches)
    del batches, loader       # shuts the loader worker down and joins it: its peak is in RUSAGE_CHILDREN
    gc.collect()
    return {"mode": "loader", "batches": steps, "batch": batch, "crops": steps * batch, "epoch_batches": epoch_steps,
            "seconds": round(time.perf_counter() - started, 2), "rss_after_imports_mib": baseline,
            "peak_rss_mib": rss_mib(), "peak_rss_loader_worker_mib": rss_mib(resource.RUSAGE_CHILDREN)}


def child_rss(config: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(config)], capture_output=True, text=True,
                         env=_env(), check=False)
    if out.returncode:
        raise RuntimeError(f"memory child {config} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def reader_memory(small: Path, large: Path, loader_batches: int, img_size: int) -> dict:
    rows = []
    for mode in ("samples", "loader"):
        for corpus in (small, large):
            r = child_rss({"mode": mode, "spec": str(corpus), "batches": loader_batches, "batch": 64, "img_size": img_size})
            rows.append({"corpus_crops": json.loads((corpus / "manifest.json").read_text())["samples"], **r})
    by = {(r["mode"], i % 2): r for i, r in enumerate(rows)}

    def growth(mode: str, key: str) -> float:
        return round(by[(mode, 1)][key] / by[(mode, 0)][key], 3)

    ratios = {"samples_peak": growth("samples", "peak_rss_mib"), "loader_main_peak": growth("loader", "peak_rss_mib"),
              "loader_worker_peak": growth("loader", "peak_rss_loader_worker_mib")}
    return {"rows": rows, "peak_ratio_large_vs_small": ratios, "flat": all(v <= 1.1 for v in ratios.values()),
            "flat_means": "peak RSS of the large corpus at most 1.1x the small one's, for each process"}


# ---------------------------------------------------------------- (c) SSL step

def ssl_rate(corpus: Path, img_size: int, procs: int, workers: int, log: Path) -> dict:
    out = WORK / f"ssl-{img_size}px-{procs}p"
    shutil.rmtree(out, ignore_errors=True)
    pretrain = [str(BIN / "train-vehicle"), "pretrain", "--method", "simsiam", "--shards", str(corpus), "--img-size",
                str(img_size), "--batch-size", "64", "--epochs", "1", "--eval-every", "0", "--threads", "1",
                "--workers", str(workers), "--out", str(out)]
    command = pretrain if procs == 1 else [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", str(procs), *pretrain]
    started = time.perf_counter()
    with log.open("w") as err:
        subprocess.run(command, stdout=err, stderr=subprocess.STDOUT, env=_env(), check=True, cwd=REPO)
    wall = time.perf_counter() - started
    epoch = json.loads((out / "history.json").read_text())[-1]
    rate = epoch["images_per_s"]
    return {"img_size": img_size, "processes": procs, "steps": len(epoch["loss_steps"]), "global_batch": 64,
            "images_per_s": rate, "images_per_s_per_core": round(rate / procs, 1), "epoch_seconds": epoch["seconds"],
            "data_wait": epoch["data_wait"], "wall_seconds_with_startup": round(wall, 1),
            "command": " ".join(command).replace(str(BIN) + "/", "").replace(str(REPO) + "/", "")}


def ssl_steps(steps: int, img_sizes: list[int], real: list[bytes], source: str, workers: int) -> dict:
    # 2 shards of steps * 32: one process takes `steps` batches of 64, each of 2 ranks `steps` of 32 from its own shard
    corpus = make_corpus(steps * 64, WORK / f"ssl-corpus-{steps}x64", real, source, shard_size=steps * 32)
    rows = []
    for size in img_sizes:
        for procs in (1, 2):
            rows.append(ssl_rate(corpus, size, procs, workers, WORK / "logs" / f"ssl-{size}px-{procs}p.log"))
            print(f"  ssl {size}px {procs} process(es): {rows[-1]['images_per_s']} img/s", file=sys.stderr)
    speedups = {str(s): round(rows[2 * i + 1]["images_per_s"] / rows[2 * i]["images_per_s"], 3) for i, s in enumerate(img_sizes)}
    return {"corpus": str(corpus.relative_to(REPO)), "loader_workers_per_process": workers, "rows": rows,
            "speedup_2_vs_1": speedups}


# ---------------------------------------------------------------- (d) harvest

def harvest_slice(frames_per_group: int | None) -> list[Path]:
    """Two folders of links to the first frames of disjoint session groups (about ``frames_per_group`` each)."""
    from vehiclekit.paths import data_root

    images = data_root() / CCTV
    folders = []
    for g, sessions in enumerate(GROUPS):
        folder = WORK / "harvest-slice" / f"{frames_per_group or 'all'}" / f"group{g + 1}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        per_session = math.ceil(frames_per_group / len(sessions)) if frames_per_group else None
        for session in sessions:
            frames = sorted(images.glob(f"{session}-*.jpg"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
            for path in frames[:per_session]:
                (folder / path.name).symlink_to(path)
        folders.append(folder)
    return folders


def _harvest_cmd(sources: list[Path], out: Path, detector: str) -> list[str]:
    return [str(BIN / "train-vehicle"), "harvest", *map(str, sources), "--out", str(out), "--threads", "1",
            "--detector-model", detector]


def harvest_rates(frames_per_group: int | None, detector: str) -> dict:
    groups = harvest_slice(frames_per_group)
    logs = WORK / "logs"

    def launch(sources, name):
        out = WORK / "harvest-out" / name
        shutil.rmtree(out, ignore_errors=True)
        err = (logs / f"harvest-{name}.log").open("w")
        return out, err, subprocess.Popen(_harvest_cmd(sources, out, detector), stdout=err, stderr=subprocess.STDOUT,
                                          env=_env(), cwd=REPO)

    rows = []
    for name, plan in (("1p", [groups]), ("2p", [[groups[0]], [groups[1]]])):
        started = time.perf_counter()
        running = [launch(sources, f"{name}-{i}") for i, sources in enumerate(plan)]
        for out, err, proc in running:
            if proc.wait():
                raise RuntimeError(f"harvest failed: see {err.name}")
            err.close()
        wall = time.perf_counter() - started
        manifests = [json.loads((out / "manifest.json").read_text()) for out, _, _ in running]
        frames, crops = sum(m["frames"] for m in manifests), sum(m["samples"] for m in manifests)
        loop = max(m["seconds"] for m in manifests)
        procs = len(plan)
        rows.append({"processes": procs, "frames": frames, "crops": crops, "loop_seconds": loop,
                     "wall_seconds_with_startup": round(wall, 1), "frames_per_s": round(frames / loop, 2),
                     "crops_per_s": round(crops / loop, 2), "frames_per_s_per_core": round(frames / loop / procs, 2),
                     "crops_per_s_per_core": round(crops / loop / procs, 2), "crops_per_frame": round(crops / max(frames, 1), 3),
                     "duplicate_rate": round(sum(m["dedup"]["duplicates"] for m in manifests)
                                             / max(sum(m["dedup"]["candidates"] for m in manifests), 1), 4)})
        print(f"  harvest {procs} process(es): {rows[-1]['frames_per_s']} frames/s", file=sys.stderr)
    command = " ".join(_harvest_cmd([Path("GROUP")], Path("OUT"), detector)).replace(str(BIN) + "/", "")
    return {"source": f"$VEHICLEKIT_DATA/{CCTV}", "groups": [list(g) for g in GROUPS],
            "frames_per_group": frames_per_group or "all", "detector_model": detector, "command": command, "rows": rows,
            "speedup_2_vs_1": round(rows[1]["frames_per_s"] / rows[0]["frames_per_s"], 3)}


# ---------------------------------------------------------------- (e) projection

def projection(result: dict, args) -> dict:
    """Hours and cost from the measured per-core rates: a projection, under the stated assumptions."""
    harvest = result["harvest"]["rows"][-1]           # the 2-process rates: cores sharing the machine, as on a node
    read = result["shard_reading"]["rows"][-1]
    scoring = None
    scoring_file = REPO / "docs" / "perf" / "corpus_scoring.json"
    if scoring_file.is_file():
        s = json.loads(scoring_file.read_text())
        ray = [r for r in s["rows"] if r["engine"] == "ray"]
        scoring = {"crops_per_s_per_core": round(ray[-1]["images_per_s_per_core"], 1), "from": "docs/perf/corpus_scoring.json",
                   "mc_passes": s.get("mc_passes")}
    stages = [{"stage": "harvest (detector + tracker + dHash), CPU", "unit": "core", "per_unit_crops_per_s": harvest["crops_per_s_per_core"]},
              {"stage": "shard read + decode, one pass, CPU", "unit": "core", "per_unit_crops_per_s": read["crops_per_s_per_core"]}]
    if scoring:
        stages.append({"stage": f"scoring on Ray (softmax, features, {scoring['mc_passes']} MC passes), CPU", "unit": "core",
                       "per_unit_crops_per_s": scoring["crops_per_s_per_core"]})
    for row in result["ssl_step"]["rows"]:
        if row["processes"] == 2:
            epochs = args.ssl_epochs
            stages.append({"stage": f"SSL simsiam {row['img_size']} px, {epochs} epoch(s), CPU", "unit": "core",
                           "per_unit_crops_per_s": round(row["images_per_s_per_core"] / epochs, 3)})
            gpu = row["images_per_s_per_core"] * args.gpu_speedup
            stages.append({"stage": f"SSL simsiam {row['img_size']} px, {epochs} epoch(s), GPU (assumed {args.gpu_speedup:g}x a core)",
                           "unit": "gpu", "per_unit_crops_per_s": round(gpu / epochs, 1),
                           "cpu_cores_to_feed_one_gpu": math.ceil(gpu / read["crops_per_s_per_core"])})
    table = []
    for crops in args.project_crops:
        for st in stages:
            unit_hours = crops / st["per_unit_crops_per_s"] / 3600
            price = args.gpu_hour_usd if st["unit"] == "gpu" else args.core_hour_usd
            counts = args.gpus if st["unit"] == "gpu" else args.cpu_nodes
            per = 1 if st["unit"] == "gpu" else args.cores_per_node
            table.append({"crops": crops, "stage": st["stage"], f"{st['unit']}_hours": round(unit_hours, 1),
                          "unit": st["unit"], "unit_hours": round(unit_hours, 1), "cost_usd": round(unit_hours * price, 2),
                          "hours_on": {str(n): round(unit_hours / (n * per), 2) for n in counts}})
    return {"label": "PROJECTION from rates measured on this machine, not a measurement", "stages": stages, "rows": table,
            "scoring": scoring or "not included: run benchmarks/corpus_scoring.py --json docs/perf/corpus_scoring.json first",
            "assumptions": [
                ("linear scaling: N cores (or GPUs) do N times the per-core rate measured here with 2 processes; network, "
                "object-store reads and stragglers are not modelled"),
                (f"a CPU node has {args.cores_per_node} cores; a core-hour costs {args.core_hour_usd} USD, a GPU-hour "
                f"{args.gpu_hour_usd} USD (parameters --core-hour-usd, --gpu-hour-usd; list prices differ by provider)"),
                (f"one GPU runs the SSL step {args.gpu_speedup:g}x as fast as one CPU core of this machine: an ASSUMPTION "
                "(--gpu-speedup), not measured here; the GPU's host cores must decode and augment at that rate "
                "(cpu_cores_to_feed_one_gpu counts decode only, augmentation costs more), their cost is not included"),
                f"SSL reads every crop {args.ssl_epochs} time(s) (--ssl-epochs)",
                ("harvest crops/s includes the camera's own crops-per-frame and dedup rate of the measured slice; the dHash "
                "index is per harvest process (per camera), its cost measured at this slice's size; a global index over "
                "10^8+ crops needs multi-index hashing (dhash.py) and is not modelled"),
                ("shard reading was measured from local disk (page cache warm); an object store adds latency per shard, "
                "hidden by more concurrent readers")]}


# ---------------------------------------------------------------- report

def markdown(r: dict) -> str:
    lines = [(f"## corpus growth ({'QUICK, tiny sizes: not for docs' if r['quick'] else 'full'}); cpus {r['cpus']}, "
             f"load average before {r['load_average_before']}"), "",
             "### measured (1 vs 2 processes, this machine)", "",
             "| stage | processes | rate | per core | 2 vs 1 |", "|---|---|---|---|---|"]
    for row in r["harvest"]["rows"]:
        lines.append(f"| harvest ({r['harvest']['detector_model']}, --threads 1), frames | {row['processes']} | {row['frames_per_s']} frames/s "
                     f"| {row['frames_per_s_per_core']} | {r['harvest']['speedup_2_vs_1'] if row['processes'] == 2 else ''} |")
        lines.append(f"| harvest, crops ({row['crops_per_frame']}/frame, dup {row['duplicate_rate']:.1%}) | {row['processes']} "
                     f"| {row['crops_per_s']} crops/s | {row['crops_per_s_per_core']} | |")
    for row in r["shard_reading"]["rows"]:
        lines.append(f"| shard read + load_image | {row['processes']} | {row['crops_per_s']} crops/s | {row['crops_per_s_per_core']} "
                     f"| {r['shard_reading']['speedup_2_vs_1'] if row['processes'] == 2 else ''} |")
    for row in r["ssl_step"]["rows"]:
        lines.append(f"| SSL simsiam {row['img_size']} px, {row['steps']} steps of 64 | {row['processes']} | {row['images_per_s']} img/s "
                     f"| {row['images_per_s_per_core']} | {r['ssl_step']['speedup_2_vs_1'][str(row['img_size'])] if row['processes'] == 2 else ''} |")
    lines += ["", "### reader memory (peak RSS, fresh process each)", "",
              "| path | corpus crops | crops read | peak RSS MiB | loader worker MiB |", "|---|---|---|---|---|"]
    for row in r["reader_memory"]["rows"]:
        lines.append(f"| {'read_samples + load_image' if row['mode'] == 'samples' else 'shard_loader (pretrain --shards)'} "
                     f"| {row['corpus_crops']} | {row['crops']} | {row['peak_rss_mib']} | {row.get('peak_rss_loader_worker_mib', '')} |")
    lines.append(f"\npeak ratio large/small: {r['reader_memory']['peak_ratio_large_vs_small']}; flat: {r['reader_memory']['flat']}")
    p = r["projection"]
    lines += ["", f"### {p['label']}", "", "| crops | stage | unit-hours | cost USD | hours on N (N: hours) |",
              "|---|---|---|---|---|"]
    for row in p["rows"]:
        lines.append(f"| {row['crops']:.0e} | {row['stage']} | {row['unit_hours']} {row['unit']}-h | {row['cost_usd']} | "
                     + ", ".join(f"{n}: {h}" for n, h in row["hours_on"].items()) + " |")
    feed = [f"{st['stage']}: {st['cpu_cores_to_feed_one_gpu']}" for st in p["stages"] if "cpu_cores_to_feed_one_gpu" in st]
    if feed:
        lines.append("\nCPU cores decoding for one GPU (decode only, at the measured read rate): " + "; ".join(feed))
    lines.append(f"\n'hours on N': N CPU nodes of {r['parameters']['cores_per_node']} cores for CPU stages, N GPUs for GPU stages.")
    lines += ["", "assumptions:"] + [f"- {a}" for a in p["assumptions"]]
    if isinstance(p["scoring"], str):
        lines.append(f"- scoring {p['scoring']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--crops-small", type=int, default=10_000, help="small synthetic corpus (default: %(default)s)")
    p.add_argument("--crops-large", type=int, default=100_000, help="large synthetic corpus, 10x (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="(a) alternating rounds of 1 and 2 readers (default: %(default)s)")
    p.add_argument("--loader-batches", type=int, default=400,
                   help="(b) batches of 64 the torch loader reads per corpus, at most an epoch (default: %(default)s)")
    p.add_argument("--ssl-steps", type=int, default=30, help="(c) steps of a global batch of 64 (default: %(default)s)")
    p.add_argument("--img-sizes", type=int, nargs="+", default=[64, 96], help="(c) view sizes (default: 64 96)")
    p.add_argument("--ssl-workers", type=int, default=0, help="(c) loader workers per training process (default: 0)")
    p.add_argument("--harvest-frames", type=int, default=0,
                   help="(d) frames per session group (0: all, 435 + 410; default: %(default)s)")
    p.add_argument("--detector-model", default="yolox-nano-traffic", help="(d) harvest's detector (default: %(default)s)")
    p.add_argument("--project-crops", type=float, nargs="+", default=[1e6, 1e8, 1e9], help="(e) corpus sizes")
    p.add_argument("--cpu-nodes", type=int, nargs="+", default=[1, 10, 100], help="(e) CPU node counts")
    p.add_argument("--cores-per-node", type=int, default=32, help="(e) default: %(default)s")
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64], help="(e) GPU counts")
    p.add_argument("--gpu-speedup", type=float, default=100.0,
                   help="(e) ASSUMED SSL-step speed of one GPU in CPU cores of this machine (default: %(default)s; not measured)")
    p.add_argument("--ssl-epochs", type=int, default=1, help="(e) SSL passes over the corpus (default: %(default)s)")
    p.add_argument("--core-hour-usd", type=float, default=0.04, help="(e) price of a CPU core-hour (default: %(default)s)")
    p.add_argument("--gpu-hour-usd", type=float, default=2.5, help="(e) price of a GPU-hour (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes to test the script (1000/10000 crops, 1 round, 60 batches, 4 SSL steps, 24 frames per group)")
    p.add_argument("--json", type=Path, help="write every number here (default: docs/perf/corpus_growth.json; --quick: "
                                             "runs/corpus-growth/quick.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.crops_small, args.crops_large, args.rounds, args.loader_batches = 1000, 10_000, 1, 60
        args.ssl_steps, args.harvest_frames = 4, 24
    json_out = args.json or (WORK / "quick.json" if args.quick else REPO / "docs" / "perf" / "corpus_growth.json")
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    print(f"cpus {os.cpu_count()}, load average {load:.2f} (trust the numbers when it is well below the cpu count)", file=sys.stderr)
    started = time.perf_counter()
    real, source = real_crops()
    small = make_corpus(args.crops_small, WORK / f"crops-{args.crops_small}", real, source)
    large = make_corpus(args.crops_large, WORK / f"crops-{args.crops_large}", real, source)
    timings = {"corpora": round(time.perf_counter() - started, 1)}
    result = {"quick": args.quick, "cpus": os.cpu_count(), "load_average_before": round(load, 2),
              "real_crops": {"source": source, "distinct": len(real)},
              "command": "benchmarks/corpus_growth.py " + " ".join(sys.argv[1:] if argv is None else argv)}

    def timed(name, fn, *a):
        t = time.perf_counter()
        print(f"{name}...", file=sys.stderr)
        result[name] = fn(*a)
        timings[name] = round(time.perf_counter() - t, 1)

    timed("harvest", harvest_rates, args.harvest_frames or None, args.detector_model)
    timed("shard_reading", shard_reading, str(small), args.rounds)
    timed("reader_memory", reader_memory, small, large, args.loader_batches, args.img_sizes[0])
    timed("ssl_step", ssl_steps, args.ssl_steps, args.img_sizes, real, source, args.ssl_workers)
    result["parameters"] = {k: getattr(args, k) for k in ("crops_small", "crops_large", "rounds", "loader_batches", "ssl_steps",
                                                          "img_sizes", "ssl_workers", "harvest_frames", "detector_model",
                                                          "cores_per_node", "gpu_speedup", "ssl_epochs", "core_hour_usd",
                                                          "gpu_hour_usd")}
    result["projection"] = projection(result, args)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    result["seconds"] = {**timings, "total": round(time.perf_counter() - started, 1)}
    print(markdown(result))
    print(f"\n{result['seconds']}", file=sys.stderr)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {json_out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_child(json.loads(sys.argv[2]))))
    else:
        main()
