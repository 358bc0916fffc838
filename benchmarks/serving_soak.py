"""Soak: NVIDIA's perf_analyzer keeps ``--concurrency`` requests in flight against one served model for
``--minutes``, in back-to-back windows; every ``--sample-s`` seconds the resident memory of the
Triton server and its python-backend stubs is read from ``/proc``. Reports Triton's own request
counters (success / failure, from its metrics endpoint), windows in which perf_analyzer saw an error
(it exits non-zero on any failed request) and the RSS curve, and plots it.

    bash benchmarks/setup_perf_analyzer.sh          # once
    .venv/bin/python benchmarks/serving_soak.py --minutes 10 --concurrency 32 --json docs/studies/soak.json --plot docs/studies/soak.png
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from perf_analyzer import input_file, run_perf_analyzer, served_zoo, workloads  # noqa: E402 (benchmarks/ sibling)
from vehiclekit.models.serving_contract import CLASSIFIER  # noqa: E402

PAGE_KB = 4


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=CLASSIFIER, help="served model to load (default vehicle_type)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--minutes", type=float, default=10, help="soak length (default 10)")
    parser.add_argument("--window-s", type=int, default=30, help="length of one perf_analyzer run (default 30)")
    parser.add_argument("--sample-s", type=float, default=5, help="seconds between RSS samples (default 5)")
    parser.add_argument("--json", type=Path, help="write windows and RSS samples to this JSON file")
    parser.add_argument("--plot", type=Path, help="write the RSS and throughput curve to this PNG")
    return parser.parse_args(argv)


def tree_rss_mb(root: int) -> float:
    """Resident memory (MB) of process ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
        except OSError:
            pass
        todo += children.get(pid, [])
    return total / 1024


def request_counts(metrics_url: str, model: str) -> dict[str, int]:
    """Triton's own request counters for ``model`` (Prometheus ``nv_inference_request_success`` /
    ``_failure``), summed over versions."""
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:  # noqa: S310 - the local server's metrics
        text = reply.read().decode()
    counts = {"requests_succeeded": 0, "requests_failed": 0}
    for line in text.splitlines():
        for metric, key in (("nv_inference_request_success", "requests_succeeded"), ("nv_inference_request_failure", "requests_failed")):
            if line.startswith(metric + "{") and f'model="{model}"' in line:
                counts[key] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    windows, samples = [], []
    with tempfile.TemporaryDirectory(prefix="vehiclekit-soak-") as scratch_dir:
        scratch = Path(scratch_dir)
        inputs, _ = workloads("fp32", 16)[args.model]
        data = input_file(scratch, args.model, inputs)
        with served_zoo("fp32", scratch) as server:
            url = server.grpc_url.removeprefix("grpc://")
            done = threading.Event()
            began = time.monotonic()

            def sample() -> None:
                while not done.wait(args.sample_s):
                    samples.append({"t_s": time.monotonic() - began, "rss_mb": tree_rss_mb(server.process.pid)})

            sampler = threading.Thread(target=sample, daemon=True)
            samples.append({"t_s": 0.0, "rss_mb": tree_rss_mb(server.process.pid)})
            sampler.start()
            while time.monotonic() - began < args.minutes * 60:
                start = time.monotonic() - began
                try:
                    result, error = run_perf_analyzer(args.model, url, data, args.concurrency, args.window_s * 1000,
                                                      ["--stability-percentage", "1000", "--max-trials", "3"]), None
                except RuntimeError as e:
                    result, error = {}, str(e)
                windows.append({"start_s": start, "end_s": time.monotonic() - began, **result, "error": error})
                print(f"{start:7.0f} s  {result.get('per_s', 0):8.1f} infer/s  p99 {result.get('p99_ms', 0):7.1f} ms  "
                      f"rss {samples[-1]['rss_mb']:7.0f} MB  {'ERROR ' + error.splitlines()[0] if error else 'ok'}",
                      flush=True)
            done.set()
            sampler.join()
            counts = request_counts(server.metrics_url, args.model)
    errors = sum(w["error"] is not None for w in windows)
    rss = [s["rss_mb"] for s in samples]
    later = [s["rss_mb"] for s in samples if s["t_s"] >= samples[-1]["t_s"] / 2]
    summary = {"model": args.model, "concurrency": args.concurrency, "minutes": args.minutes, "windows": len(windows),
               "failed_windows": errors, **counts, "rss_mb_start": rss[0], "rss_mb_max": max(rss), "rss_mb_end": rss[-1],
               "rss_mb_second_half_range": max(later) - min(later),
               "mean_infer_per_s": sum(w.get("per_s", 0) for w in windows) / len(windows)}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "windows": windows, "rss": samples}, indent=2) + "\n")
    if args.plot:
        plot(windows, samples, summary, args.plot)


def plot(windows: list[dict], samples: list[dict], summary: dict, path: Path) -> None:
    fig, memory = plt.subplots(figsize=(8, 3.5))
    memory.plot([s["t_s"] / 60 for s in samples], [s["rss_mb"] for s in samples], color="tab:blue")
    memory.set_xlabel("minutes under load")
    memory.set_ylabel("server + stubs RSS (MB)", color="tab:blue")
    memory.set_ylim(0, max(s["rss_mb"] for s in samples) * 1.2)
    rate = memory.twinx()
    rate.step([w["start_s"] / 60 for w in windows], [w.get("per_s", 0) for w in windows], where="post", color="tab:orange")
    rate.set_ylabel("infer/s (perf_analyzer)", color="tab:orange")
    rate.set_ylim(0, max(w.get("per_s", 0) for w in windows) * 1.2)
    memory.set_title(f"{summary['model']} at concurrency {summary['concurrency']}: {summary['requests_succeeded']:,} "
                     f"requests, {summary['requests_failed']} failed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
