"""Evaluate settlement (joint exit matching) on the vehicle-reid images, and calibrate its cut.

``python -m benchmarks.parking.evaluate_settlement [--split test] [--calibrate-on val] [--inside N]``

Protocols, each direction (cam1 = entry and cam2 = exit, and the reverse), through a real
:class:`~vehiclekit.apps.ParkingLot` (``record_exit`` + ``settle``) on an in-memory store:

* ``all-open``: every vehicle enters, then all leave in a shuffled order; one settlement after
  the last exit (the hardest matching case).
* ``day``: a synthetic day (:mod:`benchmarks.parking.synthetic`); a settlement every ``--every``
  minutes over the exits recorded so far.

After each settlement an attendant resolves the review cases as a careful person would (the true
session, or no match if a wrong charge closed it), through :meth:`ParkingLot.resolve`, so the
next settlement sees what a real lot would. ``--inside N`` also lets vehicles of the other splits
enter (and stay) until N vehicles are inside: distractors for the scored exits (for test, from
train and val; ``--unseen-distractors``: from val only, vehicles the re-ID model never trained
on — train images are ones it learnt to embed, and pull unseen vehicles' exits towards them).

``--calibrate-on val`` first runs the same protocol and lot size on val review-first (every exit
to a person: each case is the settlement's proposed pair and its confidence, labelled by the
truth; distractors from train only), chooses the cut from those cases
(:mod:`vehiclekit.apps.calibration`), then evaluates ``--split`` with it: a car park calibrates
on its own resolved cases, at its own size and settlement rhythm. Per exit: *correct* (charged to its own session), *wrong* (charged to another: a wrong
charge), *review* (a person decided).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.parking.evaluate_parking import EXAMPLE_TARIFF, Recognised, recognise
from benchmarks.parking.synthetic import SPLITS, Visit, distractor_visits, reid_pairs, synthetic_visits
from vehiclekit.apps.calibration import DEFAULT_ALPHA, DEFAULT_DELTA, calibrate
from vehiclekit.apps.observer import Observer
from vehiclekit.apps.parking import ParkingLot
from vehiclekit.apps.parking_store import ParkingStore
from vehiclekit.apps.settlement import DEFAULT_CUT, DEFAULT_FLOOR
from vehiclekit.apps.tariff import Tariff, load_tariff
from vehiclekit.paths import data_root


@dataclass
class Outcome:
    """Counts over the scored exits of one run, and the labelled cases (confidence, correct) of its proposals."""

    exits: int = 0
    correct: int = 0
    wrong: int = 0
    review: int = 0
    settle_seconds: list[float] = field(default_factory=list)
    cases: list[tuple[float | None, bool]] = field(default_factory=list)

    def row(self) -> str:
        n = max(self.exits, 1)
        return (f"{self.exits} | {self.correct} ({100 * self.correct / n:.1f} %) | {self.wrong} | "
                f"{self.review} ({100 * self.review / n:.1f} %)")


def simulate(visits: list[Visit], distractors: list[Visit], seen: Recognised, tariff: Tariff, entry_cam: int,
             cut: float | None, floor: float, every: timedelta | None) -> Outcome:
    """Enter every vehicle and record the scored exits in time order, settling every ``every``
    (None: once after the last exit); resolve each review case by the truth."""
    lot = ParkingLot(tariff, ParkingStore("sqlite://"), floor=floor, cut=cut)
    everyone = visits + distractors
    events = sorted([(v.entry_time, 0, i) for i, v in enumerate(everyone)] +
                    [(v.exit_time, 1, i) for i, v in enumerate(visits)])
    owner, session_of, exit_of, outcome = {}, {}, {}, Outcome()

    def image(i: int, is_exit: bool) -> dict:
        path = everyone[i].images[3 - entry_cam if is_exit else entry_cam]
        make, confidence = seen.makes.get(path, (None, None))
        return {"vehicle_type": seen.types[path], "embedding": seen.embeddings[path], "make": make,
                "make_confidence": confidence}

    def settle(until: datetime) -> None:
        started = datetime.now()
        result = lot.settle(until)
        outcome.settle_seconds.append((datetime.now() - started).total_seconds())
        for receipt in result.receipts:
            i = exit_of[receipt.exit_id]
            outcome.correct += owner[receipt.session_id] == i
            outcome.wrong += owner[receipt.session_id] != i
        for case in result.review:
            i = exit_of[case.exit_id]
            outcome.review += 1
            proposal = lot.store.recorded_exit(case.exit_id)
            outcome.cases.append((proposal.confidence if case.kind == "ambiguous" else None,
                                  case.kind == "ambiguous" and owner[case.candidates[0].session_id] == i))
            own = session_of[i]
            still_open = lot.store.session(own).status == "open"
            lot.resolve(case.review_id, own if still_open else None, by="evaluation", time=until)

    next_settlement = events[0][0] + every if every else None
    for time, is_exit, i in events:
        while next_settlement is not None and time > next_settlement:
            settle(next_settlement)
            next_settlement += every
        if is_exit:
            exit_of[lot.record_exit(None, "exit", time, **image(i, True)).id] = i
            outcome.exits += 1
        else:
            session_of[i] = lot.enter(None, "entry", time, **image(i, False)).id
            owner[session_of[i]] = i
    settle(events[-1][0])
    return outcome


def run(root: Path, split: str, seen: Recognised, tariff: Tariff, protocol: str, inside: int, cut: float | None,
        floor: float, every: timedelta, seed: int, unseen: bool = False) -> dict[int, Outcome]:
    """Both directions of one protocol on ``split``."""
    visits = synthetic_visits(reid_pairs(root, split), seed, all_open=protocol == "all-open")
    distractors = distractor_visits(root, split, inside, visits, seed, unseen)
    return {cam: simulate(visits, distractors, seen, tariff, cam, cut, floor, every if protocol == "day" else None)
            for cam in (1, 2)}


def nearest_entries(root: Path, split: str, seen: Recognised, inside: int, seed: int, unseen: bool = False) -> list[str]:
    """Per direction: how many scored exits have another vehicle's entry more similar than their own,
    and the split that vehicle comes from (the re-ID errors no cut can undo)."""
    visits = synthetic_visits(reid_pairs(root, split), seed, all_open=True)
    crowd = distractor_visits(root, split, inside, visits, seed, unseen)
    split_of = {identity: s for s in SPLITS for identity, _, _ in reid_pairs(root, s)}
    lines = []
    for cam in (1, 2):
        entries = np.stack([seen.embeddings[v.images[cam]] for v in visits + crowd])
        for_exits = np.stack([seen.embeddings[v.images[3 - cam]] for v in visits])
        nearest = (for_exits @ entries.T).argmax(axis=1)
        wrong = Counter(split_of[(visits + crowd)[j].identity] for i, j in enumerate(nearest) if j != i)
        lines.append(f"cam{cam} -> cam{3 - cam}: {sum(wrong.values())} of {len(visits)} exits have another entry more "
                     f"similar than their own ({', '.join(f'{n} {s}' for s, n in sorted(wrong.items()))})")
    return lines


def recognise_splits(root: Path, splits: list[str], observer: Observer) -> Recognised:
    """Types, embeddings and makes of every image of ``splits`` (one pass)."""
    visits = [Visit(i, k, images, datetime.now(), datetime.now()) for s in splits for i, k, images in reid_pairs(root, s)]
    return recognise(visits, observer, makes=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parking.evaluate_settlement", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=("test", "val"), help="split scored (default: test)")
    parser.add_argument("--calibrate-on", choices=("val",), help="choose the cut on this split first (review-first run)")
    parser.add_argument("--cut", type=float, default=DEFAULT_CUT, help="without --calibrate-on (default: %(default)s)")
    parser.add_argument("--floor", type=float, default=DEFAULT_FLOOR, help="lowest similarity paired (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="wrong-charge rate bounded (default: %(default)s)")
    parser.add_argument("--delta", type=float, default=DEFAULT_DELTA, help="1 - confidence of the bound (default: %(default)s)")
    parser.add_argument("--protocol", choices=("all-open", "day"), nargs="+", default=["all-open", "day"])
    parser.add_argument("--every", type=int, default=60, metavar="MINUTES", help="day protocol: settle this often (default: 60)")
    parser.add_argument("--inside", type=int, nargs="+", default=[0], metavar="N",
                        help="vehicles inside, distractors from the other splits filling up to N (default: only the split's)")
    parser.add_argument("--unseen-distractors", action="store_true",
                        help="test's distractors only from val (never trained on; at most 162 inside), not also train")
    parser.add_argument("--nearest", action="store_true",
                        help="also count, per lot size, the exits whose most similar entry is another vehicle's")
    parser.add_argument("--seed", type=int, default=0, help="synthetic timeline seed (default: 0)")
    parser.add_argument("--tariff", type=Path, default=EXAMPLE_TARIFF, help="tariff YAML (default: the example)")
    parser.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA, else ../shared/data)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    root, tariff = data_root(args.data), load_tariff(args.tariff)
    splits = sorted({args.split, args.calibrate_on or args.split} | (set(SPLITS) if max(args.inside) > 0 else set()))
    seen = recognise_splits(root, splits, Observer(makes=True))
    every, report = timedelta(minutes=args.every), {"floor": args.floor, "split": args.split, "runs": []}
    rows = []
    for protocol in args.protocol:
        for inside in args.inside:
            cut, note = args.cut, "given"
            if args.calibrate_on:
                tuned = run(root, args.calibrate_on, seen, tariff, protocol, inside, None, args.floor, every, args.seed)
                calibration = calibrate([c for o in tuned.values() for c in o.cases], args.alpha, args.delta)
                cut, note = calibration.cut, calibration.summary()
                print(f"calibrated on {args.calibrate_on}, {protocol}, {inside or 'its own'} inside: {note}")
            scored = run(root, args.split, seen, tariff, protocol, inside, cut, args.floor, every, args.seed,
                         args.unseen_distractors)
            for cam, o in scored.items():
                n_inside = max(inside, o.exits)
                rows.append(f"| {protocol} | {n_inside} | {'review-first' if cut is None else f'{cut:.3f}'} | "
                            f"cam{cam} → cam{3 - cam} | {o.row()} | {max(o.settle_seconds):.2f} |")
                report["runs"].append({"protocol": protocol, "inside": n_inside, "entry_cam": cam, "cut": cut,
                                       "calibration": note, **{k: v for k, v in asdict(o).items() if k != "cases"}})
    for inside in args.inside if args.nearest else ():
        for line in nearest_entries(root, args.split, seen, inside, args.seed, args.unseen_distractors):
            print(f"{args.split}, {inside or 'its own'} inside, {line}")
    print(f"\n{args.split}, floor {args.floor}:\n")
    print("| protocol | vehicles inside | cut | entry → exit | exits | charged right | wrong charges | to review | settle s (max) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
