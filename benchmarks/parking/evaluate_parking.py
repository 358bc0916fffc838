"""Evaluate parking entry/exit matching and fees on the vehicle-reid images.

``python -m benchmarks.parking.evaluate_parking [--split test] [--tune-on val] [--types family|exact|off]``

For each direction (cam1 = entry / cam2 = exit, and the reverse) a synthetic day of visits (see
:mod:`benchmarks.parking.synthetic`) runs through a real :class:`ParkingLot` on an in-memory store, in
time order: an exit is matched only against the sessions open at that moment, and a wrong match
closes someone else's session, as it would in the car park. An exit sent to review is resolved
as a careful attendant would, through :meth:`ParkingLot.resolve`: matched to the vehicle's true
session (or ``no-match`` if a wrong match has closed it already), so the open set stays realistic.
Candidates are the open sessions whose recognised type agrees with the exit's (``--types``). Images are recognised once with the
shipped models and passed to the lot as precomputed types and embeddings.

Per exit: *correct* (charged to its own session; the fee is then compared with the fee that
session should pay), *wrong* (charged to another session: a wrong charge), *ambiguous* or
*unmatched* (not charged; a human decides). ``--tune-on val`` picks the threshold and margin on the
validation split (0 wrong charges there in both directions of both protocols, the day and all-open,
then most correct) and reports the
evaluation split with them, plus a sweep table that is *not* used for choosing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.parking.synthetic import Visit, distractor_visits, reid_pairs, synthetic_visits
from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD, TypeRule
from vehiclekit.apps.observer import Observer
from vehiclekit.apps.parking import ParkingLot
from vehiclekit.apps.parking_store import ParkingStore
from vehiclekit.apps.tariff import Tariff, load_tariff
from vehiclekit.paths import REPO_ROOT, data_root
from vehiclekit.sdk.recognizer import ATTRIBUTE_TYPES

THRESHOLDS = [round(t, 2) for t in np.arange(0.20, 0.951, 0.05)]
MARGINS = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2]
EXAMPLE_TARIFF = REPO_ROOT / "deploy" / "tariff.example.yaml"


@dataclass(frozen=True)
class Recognised:
    """Types, embeddings and (for cars, SUVs, vans and pickups, when asked for) makes of every image, by path."""

    types: dict[Path, str]
    embeddings: dict[Path, np.ndarray]
    makes: dict[Path, tuple[str, float]] = field(default_factory=dict)


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


def recognise(visits: list[Visit], observer: Observer, makes: bool = False) -> Recognised:
    """Classify and embed every image of the visits once (batched); with ``makes``, also recognise
    the make of those typed car, SUV, van or pickup."""
    paths = sorted({p for v in visits for p in v.images.values()})
    seen = Recognised({}, {})
    for start in tqdm(range(0, len(paths), 32), desc="recognising", unit="batch", file=sys.stderr):
        chunk = paths[start:start + 32]
        for path, prediction, vector in zip(chunk, observer.classifier.predict_batch(chunk), observer.reid.embed(chunk)):
            seen.types[path], seen.embeddings[path] = prediction.label, vector
        cars = [p for p in chunk if seen.types[p] in ATTRIBUTE_TYPES] if makes else []
        for path, make in zip(cars, observer.make_classifier.predict_batch(cars) if cars else []):
            seen.makes[path] = (make.label, make.confidence)
    return seen


def simulate(visits: list[Visit], seen: Recognised, tariff: Tariff, entry_cam: int, threshold: float,
             margin: float, types: TypeRule = "family", distractors: tuple[Visit, ...] = ()) -> Outcome:
    """Run the visits (and the entries of ``distractors``, who stay) through a :class:`ParkingLot`
    in time order; count the exit outcomes."""
    lot = ParkingLot(tariff, ParkingStore("sqlite://"), threshold=threshold, margin=margin, types=types)
    everyone = [*visits, *distractors]
    events = sorted([(v.entry_time, 0, i) for i, v in enumerate(everyone)] + [(v.exit_time, 1, i) for i, v in enumerate(visits)])
    owner: dict[int, int] = {}          # session id -> visit index
    session_of: dict[int, int] = {}     # visit index -> session id
    entered: dict[int, str] = {}        # visit index -> recognised entry type
    outcome, open_sizes = Outcome(), []
    for time, is_exit, i in events:
        image = everyone[i].images[entry_cam if not is_exit else 3 - entry_cam]
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


def sweep(visits: list[Visit], seen: Recognised, tariff: Tariff, types: TypeRule,
          distractors: tuple[Visit, ...] = ()) -> dict[tuple[int, float, float], Outcome]:
    """Outcomes for every direction x threshold x margin."""
    grid = [(cam, t, m) for cam in (1, 2) for t in THRESHOLDS for m in MARGINS]
    return {key: simulate(visits, seen, tariff, *key, types, distractors)
            for key in tqdm(grid, desc="sweeping", file=sys.stderr)}


def choose(outcomes: dict[tuple, Outcome]) -> tuple[float, float]:
    """The (threshold, margin) with no wrong charge in any run (keys end with threshold, margin: every
    direction and protocol) and the most correct exits (ties: the higher threshold, then the larger margin)."""
    totals: dict[tuple[float, float], tuple[bool, int]] = {}
    for (*_run, t, m), o in outcomes.items():
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parking.evaluate_parking", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=("test", "val"), help="split evaluated (default: test)")
    parser.add_argument("--tune-on", choices=("val",), help="choose threshold and margin on this split first")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="without --tune-on (default: %(default)s)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="without --tune-on (default: %(default)s)")
    parser.add_argument("--all-open", action="store_true", help="every vehicle enters before the first exit")
    parser.add_argument("--types", choices=("family", "exact", "off"), default="family",
                        help="how entry and exit types must agree to be candidates (default: %(default)s)")
    parser.add_argument("--inside", type=int, default=0, metavar="N",
                        help="distractors of the other splits enter and stay until N vehicles are inside "
                        "(tuning and evaluation; default: only the split's own)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic timeline seed (default: 0)")
    parser.add_argument("--tariff", type=Path, default=EXAMPLE_TARIFF, help="tariff YAML (default: the example)")
    parser.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA, else ../shared/data)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    root, tariff, observer = data_root(args.data), load_tariff(args.tariff), Observer()
    threshold, margin, report = args.threshold, args.margin, {}
    if args.tune_on:
        pairs = reid_pairs(root, args.tune_on)
        protocols = {name: synthetic_visits(pairs, args.seed, all_open=name == "all open") for name in ("day", "all open")}
        crowd = {name: tuple(distractor_visits(root, args.tune_on, args.inside, v, args.seed)) for name, v in protocols.items()}
        seen_tune = recognise(protocols["day"] + list(crowd["day"]) + list(crowd["all open"]), observer)
        tuned = {name: sweep(visits, seen_tune, tariff, args.types, crowd[name]) for name, visits in protocols.items()}
        threshold, margin = choose({(name, *key): o for name, t in tuned.items() for key, o in t.items()})
        print(f"chosen on {args.tune_on} ({len(pairs)} visits, day and all-open protocols): threshold {threshold:.2f}, "
              f"margin {margin:.2f}")
        for name, t in tuned.items():
            print(f"{name}:\n" + "\n".join(result_table({cam: t[(cam, threshold, margin)] for cam in (1, 2)})) + "\n")
    visits = synthetic_visits(reid_pairs(root, args.split), args.seed, all_open=args.all_open)
    crowd = tuple(distractor_visits(root, args.split, args.inside, visits, args.seed))
    seen = recognise(visits + list(crowd), observer)
    results = {cam: simulate(visits, seen, tariff, cam, threshold, margin, args.types, crowd) for cam in (1, 2)}
    print(f"{args.split} split, {len(visits)} visits{f', {len(visits) + len(crowd)} inside' if crowd else ''}, threshold {threshold:.2f}, margin {margin:.2f}, types {args.types}"
          f"{', all sessions open' if args.all_open else ''}:")
    print("\n".join(result_table(results)))
    outcomes = sweep(visits, seen, tariff, args.types, crowd)
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
