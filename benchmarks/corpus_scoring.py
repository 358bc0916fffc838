"""Scoring an unlabelled corpus on Ray Data: 1 vs 2 ONNX Runtime actors in one run (issue 32 items 4-5).

A synthetic corpus of ``--crops`` crops is made once by repeating the real crops of
``vehicle-types`` (each with its own key) into WebDataset shards under ``runs/`` (git-ignored);
then, on one local Ray cluster, ``train-vehicle score``'s pipeline scores all of it with each
``--workers`` count (one core per actor: softmax, features, ``--mc-passes`` MC-dropout passes), and
the local engine (the in-process reference) scores the first ``--check`` crops. Reported: images/s,
images/s per core, the speedup of the largest worker count over one (the issue's target: 2 workers
>= 1.7x one on 100,000 crops), and whether every worker count gives the same probabilities and MC
passes (all crops) and the reference's probabilities, features and MC passes (the first ``--check``)::

    nice -n 0 .venv/bin/python benchmarks/corpus_scoring.py --crops 100000 --json docs/perf/corpus_scoring.json 2>runs/corpus_scoring.err

Trust a run only when the load average printed first is well below the CPU count (nothing else running).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from vehiclekit.paths import REPO_ROOT, data_root
from vehiclekit.training.corpus.score import load_scores, read_parts, score
from vehiclekit.training.corpus.shards import MANIFEST, ShardWriter, write_manifest

SHARD_SIZE = 1000


def make_corpus(crops: int, out: Path) -> Path:
    """``crops`` samples repeating the real crops of vehicle-types, in shards of :data:`SHARD_SIZE` (made once)."""
    if (out / MANIFEST).is_file() and json.loads((out / MANIFEST).read_text()).get("samples") == crops:
        return out
    shutil.rmtree(out, ignore_errors=True)
    real = sorted((data_root() / "vehicle-types").rglob("*.jpg"))
    writer = ShardWriter(out, SHARD_SIZE)
    for i in range(crops):
        writer.write(f"{i:09d}", real[i % len(real)].read_bytes(), {"source": real[i % len(real)].name})
    write_manifest(out, {"shards": writer.close(), "samples": crops, "repeats_of": len(real)})
    return out


def compare(a: Path, b: Path, columns: tuple[str, ...]) -> dict[str, float]:
    """Largest absolute difference per column between two score folders on a's keys (rows matched by key)."""
    import pyarrow.compute as pc

    ta = read_parts(a, ["key", *columns]).sort_by("key")
    tb = read_parts(b, ["key", *columns])
    tb = tb.filter(pc.is_in(tb["key"], value_set=ta["key"].combine_chunks())).sort_by("key")
    if tb["key"].to_pylist() != ta["key"].to_pylist():
        return {"missing_keys": ta.num_rows - tb.num_rows}

    def matrix(table, column: str) -> np.ndarray:
        return table[column].combine_chunks().flatten().to_numpy().reshape(table.num_rows, -1)

    return {c: float(np.abs(matrix(ta, c) - matrix(tb, c)).max()) if ta.num_rows else 0.0 for c in columns}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--crops", type=int, default=100_000, help="corpus size (default: %(default)s)")
    p.add_argument("--corpus", type=Path, help="shard folder (default: runs/corpus-scoring/crops-N)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray actor counts (default: 1 2)")
    p.add_argument("--check", type=int, default=2000, help="crops also scored by the local engine (default: %(default)s)")
    p.add_argument("--model", default="vehicle-type")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--mc-passes", type=int, default=10)
    p.add_argument("--json", type=Path, help="also write the numbers here (e.g. docs/perf/corpus_scoring.json)")
    args = p.parse_args(argv)
    import ray

    load = os.getloadavg()[0]
    print(f"cpus {os.cpu_count()}, load average {load:.2f} (trust the numbers when it is well below the cpu count)")
    corpus = make_corpus(args.crops, args.corpus or REPO_ROOT / "runs" / "corpus-scoring" / f"crops-{args.crops}")
    shards = sorted(corpus.glob("*.tar"))
    check_shards = shards[:max(1, -(-args.check // SHARD_SIZE))]
    rows = []
    (REPO_ROOT / "runs").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=REPO_ROOT / "runs") as tmp:
        ray.init(num_cpus=max(args.workers) + 1, include_dashboard=False, log_to_driver=False)
        try:
            for w in args.workers:
                m = score(str(corpus), args.model, Path(tmp) / f"ray-{w}", "ray", w, batch_size=args.batch_size,
                          mc_passes=args.mc_passes)
                rows.append({"engine": "ray", "workers": w, "images": m["images"], "seconds": m["seconds"],
                             "images_per_s": m["images_per_s"], "images_per_s_per_core": m["images_per_s"] / w})
                print(rows[-1])
        finally:
            ray.shutdown()
        spec = check_shards[0] if len(check_shards) == 1 else \
            f"{corpus}/crops-{{{check_shards[0].stem[6:]}..{check_shards[-1].stem[6:]}}}.tar"
        m = score(str(spec), args.model, Path(tmp) / "local", "local", batch_size=args.batch_size,
                  mc_passes=args.mc_passes)
        rows.append({"engine": "local", "workers": 1, "images": m["images"], "seconds": m["seconds"],
                     "images_per_s": m["images_per_s"], "images_per_s_per_core": m["images_per_s"]})
        print(rows[-1])
        first, last = args.workers[0], args.workers[-1]
        same_across_workers = compare(Path(tmp) / f"ray-{first}", Path(tmp) / f"ray-{last}", ("probs", "mc_probs"))
        same_as_local = compare(Path(tmp) / "local", Path(tmp) / f"ray-{last}", ("probs", "features", "mc_probs"))
        reference = load_scores(Path(tmp) / "local")
    speedup = rows[len(args.workers) - 1]["images_per_s"] / rows[0]["images_per_s"]
    result = {"crops": args.crops, "model": args.model, "batch_size": args.batch_size, "mc_passes": args.mc_passes,
              "cpus": os.cpu_count(), "load_average_before": round(load, 2), "rows": rows,
              f"speedup_{last}_vs_{first}_workers": round(speedup, 3),
              "target": "2 workers >= 1.7x one worker on 100,000 crops", "meets_target": bool(speedup >= 1.7),
              "max_abs_diff_across_workers": same_across_workers, "max_abs_diff_vs_local_engine": same_as_local,
              "checked_crops": len(reference.keys), "command": "benchmarks/corpus_scoring.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    ok = all(v <= 1e-5 for d in (same_across_workers, same_as_local) for k, v in d.items() if k != "missing_keys") \
        and "missing_keys" not in same_across_workers and "missing_keys" not in same_as_local
    result["same_results"] = ok
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
