"""Evaluate parking entry/exit matching and fees on the vehicle-reid images.

``python -m vehiclekit.apps.evaluate_parking [--split test] [--tune-on val] [--types family|exact|off]``

For each direction (cam1 = entry / cam2 = exit, and the reverse) a synthetic day of visits (see
:mod:`vehiclekit.apps.synthetic`) runs through a real :class:`ParkingLot` on an in-memory store, in
time order: an exit is matched only against the sessions open at that moment, and a wrong match
closes someone else's session, as it would in the car park. An exit sent to review is resolved
as a careful attendant would, through :meth:`ParkingLot.resolve`: matched to the vehicle's true
session (or ``no-match`` if a wrong match has closed it already), so the open set stays realistic.
Candidates are the open sessions whose recognised type agrees with the exit's (``--types``). Images are recognised once with the
shipped models and passed to the lot as precomputed types and embeddings.

Per exit: *correct* (charged to its own session; the fee is then compared with the fee that
session should pay), *wrong* (charged to another session: a wrong charge), *ambiguous* or
*unmatched* (not charged; a human decides). ``--tune-on val`` picks the threshold and margin on the
validation split (0 wrong charges there in both directions, then most correct) and reports the
evaluation split with them, plus a sweep table that is *not* used for choosing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD, TypeRule
from vehiclekit.apps.observer import Observer
from vehiclekit.apps.parking import ParkingLot
from vehiclekit.apps.store import Store
from vehiclekit.apps.synthetic import Visit, reid_pairs, synthetic_visits
from vehiclekit.apps.tariff import Tariff, load_tariff
from vehiclekit.paths import REPO_ROOT, data_root

THRESHOLDS = [round(t, 2) for t in np.arange(0.20, 0.951, 0.05)]
MARGINS = [0.0, 0.02, 0.05, 0.1]
EXAMPLE_TARIFF = REPO_ROOT / "deploy" / "tariff.example.yaml"


@dataclass(frozen=True)
class Recognised:
    """Types and embeddings of every image, by path."""

    types: dict[Path, str]
    embeddings: dict[Path, np.ndarray]


@dataclass
class Outcome:
    """Counts over the exits of one run."""

    exits: int = 0
    correct: int = 0
    fee_correct: int = 0
    wrong: int = 0
    wrong_fee_error: Decimal = Decimal(0)
    ambiguous: int = 0
    unmatched: int = 0
    mean_open: float = 0.0

    def rates(self) -> dict[str, float]:
        n = max(self.exits, 1)
        return {"correct": self.correct / n, "wrong": self.wrong / n,
                "review": (self.ambiguous + self.unmatched) / n}


def recognise(visits: list[Visit], observer: Observer) -> Recognised:
    """Classify and embed every image of the visits once (batched)."""
    paths = sorted({p for v in visits for p in v.images.values()})
    types, embeddings = {}, {}
    for start in tqdm(range(0, len(paths), 32), desc="recognising", unit="batch", file=sys.stderr):
        chunk = paths[start:start + 32]
        for path, prediction, vector in zip(chunk, observer.classifier.predict_batch(chunk), observer.reid.embed(chunk)):
            types[path], embeddings[path] = prediction.label, vector
    return Recognised(types, embeddings)


def simulate(visits: list[Visit], seen: Recognised, tariff: Tariff, entry_cam: int, threshold: float,
             margin: float, types: TypeRule = "family") -> Outcome:
    """Run the visits through a :class:`ParkingLot` in time order; count the exit outcomes."""
    lot = ParkingLot(tariff, Store("sqlite://"), threshold=threshold, margin=margin, types=types)
    events = sorted([(v.entry_time, 0, i) for i, v in enumerate(visits)] + [(v.exit_time, 1, i) for i, v in enumerate(visits)])
    owner: dict[int, int] = {}          # session id -> visit index
    session_of: dict[int, int] = {}     # visit index -> session id
    entered: dict[int, str] = {}        # visit index -> recognised entry type
    outcome, open_sizes = Outcome(), []
    for time, is_exit, i in events:
        image = visits[i].images[entry_cam if not is_exit else 3 - entry_cam]
        if not is_exit:
            session = lot.enter(None, "entry", time, vehicle_type=seen.types[image], embedding=seen.embeddings[image])
            owner[session.id], session_of[i], entered[i] = i, session.id, session.vehicle_type
            continue
        open_sizes.append(len(lot.store.sessions("open")))
        result = lot.exit(None, "exit", time, vehicle_type=seen.types[image], embedding=seen.embeddings[image])
        outcome.exits += 1
        truth = tariff.fee(entered[i], visits[i].exit_time - visits[i].entry_time)
        if result.kind != "receipt":
            outcome.ambiguous += result.kind == "ambiguous"
            outcome.unmatched += result.kind == "unmatched"
            still_open = lot.store.session(session_of[i]).status == "open"
            lot.resolve(result.review_id, session_of[i] if still_open else None, by="evaluation", time=time)
        elif owner[result.session_id] == i:
            outcome.correct += 1
            outcome.fee_correct += result.fee == truth
        else:
            outcome.wrong += 1
            outcome.wrong_fee_error += abs(result.fee - truth)
    outcome.mean_open = float(np.mean(open_sizes)) if open_sizes else 0.0
    return outcome


def sweep(visits: list[Visit], seen: Recognised, tariff: Tariff, types: TypeRule) -> dict[tuple[int, float, float], Outcome]:
    """Outcomes for every direction x threshold x margin."""
    grid = [(cam, t, m) for cam in (1, 2) for t in THRESHOLDS for m in MARGINS]
    return {key: simulate(visits, seen, tariff, *key, types) for key in tqdm(grid, desc="sweeping", file=sys.stderr)}


def choose(outcomes: dict[tuple[int, float, float], Outcome]) -> tuple[float, float]:
    """The (threshold, margin) with no wrong charge in either direction and the most correct exits
    (ties: the higher threshold, then the larger margin)."""
    totals: dict[tuple[float, float], tuple[bool, int]] = {}
    for (_cam, t, m), o in outcomes.items():
        safe, correct = totals.get((t, m), (True, 0))
        totals[(t, m)] = (safe and o.wrong == 0, correct + o.correct)
    valid = {key: correct for key, (safe, correct) in totals.items() if safe}
    if not valid:
        raise RuntimeError("no threshold/margin gives zero wrong charges on the tuning split")
    return max(valid, key=lambda key: (valid[key], key))


def sweep_table(outcomes: dict[tuple[int, float, float], Outcome], margin: float) -> list[str]:
    """Markdown rows: threshold | per direction correct / wrong / review %."""
    lines = ["| threshold | cam1→cam2 correct / wrong / review | cam2→cam1 correct / wrong / review |", "|---|---|---|"]
    for t in THRESHOLDS:
        cells = []
        for cam in (1, 2):
            r = outcomes[(cam, t, margin)].rates()
            cells.append(f"{100 * r['correct']:.1f} / {100 * r['wrong']:.1f} / {100 * r['review']:.1f} %")
        lines.append(f"| {t:.2f} | " + " | ".join(cells) + " |")
    return lines


def result_table(outcomes: dict[int, Outcome]) -> list[str]:
    lines = [("| entry → exit | exits | correct | fee correct | wrong charges (fee error) | ambiguous | unmatched "
             "| mean open sessions |"), "|---|---|---|---|---|---|---|---|"]
    for cam, o in outcomes.items():
        lines.append(f"| cam{cam} → cam{3 - cam} | {o.exits} | {o.correct} ({100 * o.correct / o.exits:.1f} %) | "
                     f"{o.fee_correct}/{o.correct} | {o.wrong} ({o.wrong_fee_error}) | {o.ambiguous} | {o.unmatched} | {o.mean_open:.1f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vehiclekit.apps.evaluate_parking", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=("test", "val"), help="split evaluated (default: test)")
    parser.add_argument("--tune-on", choices=("val",), help="choose threshold and margin on this split first")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="without --tune-on (default: %(default)s)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="without --tune-on (default: %(default)s)")
    parser.add_argument("--all-open", action="store_true", help="every vehicle enters before the first exit")
    parser.add_argument("--types", choices=("family", "exact", "off"), default="family",
                        help="how entry and exit types must agree to be candidates (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic timeline seed (default: 0)")
    parser.add_argument("--tariff", type=Path, default=EXAMPLE_TARIFF, help="tariff YAML (default: the example)")
    parser.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA, else ../shared/data)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    root, tariff, observer = data_root(args.data), load_tariff(args.tariff), Observer()
    threshold, margin, report = args.threshold, args.margin, {}
    if args.tune_on:
        tune_visits = synthetic_visits(reid_pairs(root, args.tune_on), args.seed, all_open=args.all_open)
        tuned = sweep(tune_visits, recognise(tune_visits, observer), tariff, args.types)
        threshold, margin = choose(tuned)
        print(f"chosen on {args.tune_on} ({len(tune_visits)} visits): threshold {threshold:.2f}, margin {margin:.2f}")
        print("\n".join(result_table({cam: tuned[(cam, threshold, margin)] for cam in (1, 2)})) + "\n")
    visits = synthetic_visits(reid_pairs(root, args.split), args.seed, all_open=args.all_open)
    seen = recognise(visits, observer)
    results = {cam: simulate(visits, seen, tariff, cam, threshold, margin, args.types) for cam in (1, 2)}
    print(f"{args.split} split, {len(visits)} visits, threshold {threshold:.2f}, margin {margin:.2f}, types {args.types}"
          f"{', all sessions open' if args.all_open else ''}:")
    print("\n".join(result_table(results)))
    outcomes = sweep(visits, seen, tariff, args.types)
    print(f"\nsweep on {args.split} (margin {margin:.2f}; for information, not used for choosing):")
    print("\n".join(sweep_table(outcomes, margin)))
    if args.json:
        report = {"split": args.split, "threshold": threshold, "margin": margin, "types": args.types,
                  "reid_model": observer.reid.metadata.version, "all_open": args.all_open,
                  "seed": args.seed, "results": {f"cam{c}": asdict(o) for c, o in results.items()},
                  "sweep": [dict(entry_cam=c, threshold=t, margin=m, **asdict(o)) for (c, t, m), o in outcomes.items()]}
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
