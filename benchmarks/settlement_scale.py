"""How long one settlement takes as the car park grows: N exits against N open sessions.

    .venv/bin/python benchmarks/settlement_scale.py [--sizes 60 200 567 1000] [--json runs/settlement_scale.json]

Synthetic embeddings, so any size can be built: N random unit vectors for the entries, drawn in a
48-d subspace of the shipped re-ID model's 1280-d space so that strangers' cosines spread about as
widely as real ones (standard deviation ~0.14, the best stranger of 1,000 near 0.45), and for each
exit its entry plus noise so that true pairs have a cosine near 0.5, as on the vehicle-reid test
split. Many strangers come close to a true pair: a hard, not an easy, matching. All vehicles are cars (one type family: the matching cannot split, the worst case). Timed,
in one run: the joint matching with every pair's confidence alone
(:func:`vehiclekit.apps.assignment.match`), and a whole :meth:`ParkingLot.settle` on a SQLite file
(reading the problem, matching, writing every charge in one transaction).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from vehiclekit.apps import ParkingLot, Store, load_tariff
from vehiclekit.apps.assignment import match
from vehiclekit.apps.settlement import DEFAULT_FLOOR
from vehiclekit.paths import REPO_ROOT

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


def embeddings(n: int, seed: int, dim: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    entries = rng.standard_normal((n, dim))
    entries /= np.linalg.norm(entries, axis=1, keepdims=True)
    exits = entries + rng.standard_normal((n, dim)) / np.sqrt(dim) * 1.7
    exits /= np.linalg.norm(exits, axis=1, keepdims=True)
    pad = np.zeros((n, 1280 - dim))
    return np.hstack([entries, pad]), np.hstack([exits, pad])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[60, 200, 567, 1000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    print("| exits x open sessions | true-pair cosine (median) | match + confidences s | whole settle s | charged right / wrong |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        entries, exits = embeddings(n, args.seed)
        similarity = exits @ entries.T
        started = time.perf_counter()
        match(similarity, np.ones((n, n), bool), floor=DEFAULT_FLOOR)
        matching = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as folder:
            lot = ParkingLot(load_tariff(REPO_ROOT / "deploy" / "tariff.example.yaml"), Store(Path(folder) / "p.db"))
            ids = [lot.enter(None, "north", T0, vehicle_type="car", embedding=v).id for v in entries]
            for v in exits:
                lot.record_exit(None, "south", T0 + timedelta(hours=2), vehicle_type="car", embedding=v)
            started = time.perf_counter()
            result = lot.settle(until=T0 + timedelta(hours=3))
            settling = time.perf_counter() - started
        right = sum(r.session_id == ids[r.exit_id - 1] for r in result.receipts)
        row = {"n": n, "true_cosine": float(np.median(np.diag(similarity))), "match_s": matching, "settle_s": settling,
               "charged_right": right, "charged_wrong": len(result.receipts) - right}
        rows.append(row)
        print(f"| {n} x {n} | {row['true_cosine']:.2f} | {matching:.2f} | {settling:.2f} | {right} / {row['charged_wrong']} |",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
