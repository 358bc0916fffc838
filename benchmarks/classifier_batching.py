"""How ``vehicle_type``'s dynamic-batching queue delay and instance count change its served speed.

For each setting ``INSTANCES:DELAY_US`` (alternating, ``--rounds`` times, so drifting machine load
hits every setting alike) builds the cpu-flavor repository with that classifier configuration and
runs :mod:`perf_analyzer` on ``vehicle_type`` at concurrency 1, 8 and 32 beside the in-process SDK.
The repository's own values are :data:`vehiclekit.serving.repository.CLASSIFIER_BATCHING` and
``INSTANCES``; this script overrides them for its own runs only.

    bash benchmarks/setup_perf_analyzer.sh          # once
    .venv/bin/python benchmarks/classifier_batching.py --settings 1:500 1:0 2:0 --rounds 2 --json docs/perf/classifier_batching.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import perf_analyzer
from vehiclekit.serving import config as cfg
from vehiclekit.serving import repository
from vehiclekit.models.serving_contract import CLASSIFIER


def parse_setting(text: str) -> tuple[int, int]:
    instances, sep, delay = text.partition(":")
    if not sep or not instances.isdigit() or not delay.isdigit() or int(instances) < 1:
        raise argparse.ArgumentTypeError(f"a setting is INSTANCES:DELAY_US such as 1:500, got {text!r}")
    return int(instances), int(delay)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", type=parse_setting, default=[(1, 500), (1, 0), (2, 0)],
                        metavar="INSTANCES:DELAY_US", help="classifier instance count and max queue delay in microseconds")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each setting, alternating")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--json", type=Path, help="also write every row and the per-setting means here")
    return parser.parse_args(argv)


def measure(instances: int, delay_us: int, concurrency: list[int]) -> list[dict]:
    """perf_analyzer and in-process rows for ``vehicle_type`` served with this setting."""
    repository.CLASSIFIER_BATCHING = replace(repository.CLASSIFIER_BATCHING, max_queue_delay_us=delay_us)
    repository.INSTANCES["cpu"][CLASSIFIER] = cfg.Instances(instances)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "rows.json"
        perf_analyzer.main(["--models", CLASSIFIER, "--concurrency", *map(str, concurrency), "--json", str(out)])
        return [{**row, "instances": instances, "delay_us": delay_us} for row in json.loads(out.read_text())["rows"]]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    rows = []
    for round_index in range(args.rounds):
        for instances, delay in args.settings:
            print(f"\nround {round_index + 1}: {instances} instance(s), max queue delay {delay} us", flush=True)
            rows += [{**row, "round": round_index + 1} for row in measure(instances, delay, args.concurrency)]
    means = []
    print(f"\n{'instances':>9}{'delay us':>10}{'conc':>6}{'served infer/s':>16}{'ratio':>7}   (mean of {args.rounds} rounds)")
    for instances, delay in args.settings:
        for concurrency in args.concurrency:
            served = [r for r in rows if (r["instances"], r["delay_us"], r["concurrency"], r["mode"])
                      == (instances, delay, concurrency, "perf_analyzer") and "per_s" in r]
            if not served:
                continue
            mean = {"instances": instances, "delay_us": delay, "concurrency": concurrency,
                    "per_s": statistics.mean(r["per_s"] for r in served), "ratio": statistics.mean(r["ratio"] for r in served)}
            means.append(mean)
            print(f"{instances:>9}{delay:>10}{concurrency:>6}{mean['per_s']:>16.1f}{mean['ratio']:>7.2f}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "rows": rows, "means": means}, indent=2) + "\n")


if __name__ == "__main__":
    main()
