"""``vehiclekit parking ...``: parking fees by vehicle type, with entry/exit re-ID matching (docs/apps.md)."""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from vehiclekit.apps.calibration import DEFAULT_ALPHA, DEFAULT_DELTA
from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD
from vehiclekit.apps.settlement import DEFAULT_CUT, DEFAULT_FLOOR
from vehiclekit.commands import parking_watch
from vehiclekit.commands.common import lot_from_args, parking_options, show

#: Exit status of ``parking exit`` when the exit was not charged but sent to review.
REVIEW_EXIT_STATUS = 3

PARKING_EPILOG = f"""\
times: ISO-8601 with an offset, e.g. 2026-05-01T08:30:00+02:00 or 2026-05-01T06:30:00Z
  (default: now). Times without a zone are refused. Stored and printed in UTC.

examples:
  vehiclekit parking enter entry.jpg --gate north --tariff deploy/tariff.example.yaml
  vehiclekit parking exit exit.jpg --gate south --time 2026-05-01T10:05:00+02:00 --tariff deploy/tariff.example.yaml
  vehiclekit parking exit --session 17 --gate south --tariff deploy/tariff.example.yaml   (by hand at the gate)
  vehiclekit parking record-exit exit.jpg --gate south --tariff deploy/tariff.example.yaml  (billed later)
  vehiclekit parking settle --until 2026-05-02T00:00:00+02:00 --tariff deploy/tariff.example.yaml
  vehiclekit parking calibrate --save calibration.json
  vehiclekit parking review --out review/
  vehiclekit parking resolve 4 --match 17 --by alice --tariff deploy/tariff.example.yaml
  vehiclekit parking resolve 5 --no-match --by alice --tariff deploy/tariff.example.yaml
  vehiclekit parking sessions --status open
  vehiclekit parking report --json

`parking exit` exits with status 0 and prints a receipt when the vehicle matched one open session;
with status {REVIEW_EXIT_STATUS} when it was NOT charged (no session of the same vehicle type similar
enough, or two about equally similar): the exit is stored as a review case. `parking review` lists
the open cases and writes one picture per case (the exit image beside its candidates' entry
images); `parking resolve CASE --match SESSION` charges that session for the stay up to the
recorded exit, `--no-match` closes the case without a charge. Who resolved and when is stored; a
case is resolved once and a session charged once. The default threshold {DEFAULT_THRESHOLD} / margin
{DEFAULT_MARGIN} were chosen on held-out images (docs/results.md §22).

Billing after the stay (ticketless car parks): `parking record-exit` stores an exit without
charging it; `parking settle` matches every exit recorded up to --until jointly with the open
sessions and charges the pairs whose confidence reaches the cut; the others become review cases.
Run it as often as you like, from several places: an exit is charged once. `parking calibrate`
chooses the cut from the lot's resolved cases with a stated bound on the wrong-charge rate (too
few cases: review-first, every exit to a person) and --save writes it for `settle --calibration`.
"""


def _parking_command(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", epilog=PARKING_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parking_options(parser)
    return parser


def _gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gate", required=True, help="name of the gate/camera")
    parser.add_argument("--time", help="ISO-8601 time with an offset (default: now)")
    parser.add_argument("--tariff", default=os.environ.get("VEHICLEKIT_TARIFF"), type=Path,
                        help="tariff YAML (default: $VEHICLEKIT_TARIFF; example: deploy/tariff.example.yaml)")
    parser.add_argument("--crop", choices=("whole", "largest"), default="whole",
                        help="recognise the whole image as one vehicle (default) or the largest detected vehicle")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``parking`` subcommands and their options."""
    parser.description = ("Parking: open a session per entering vehicle, match exits by re-ID, charge by the tariff "
                          "(docs/apps.md).")
    sub = parser.add_subparsers(dest="parking_command", metavar="COMMAND", required=True)
    enter = _parking_command(sub, "enter", "open a session for the vehicle in IMAGE")
    enter.add_argument("image", metavar="IMAGE", help="entry camera image")
    _gate_arguments(enter)
    leave = _parking_command(sub, "exit", "match the vehicle in IMAGE to an open session and charge it")
    leave.add_argument("image", metavar="IMAGE", nargs="?", help="exit camera image (not with --session)")
    _gate_arguments(leave)
    leave.add_argument("--session", type=int, metavar="ID", help="close this session by hand (after a review)")
    leave.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                       help="lowest re-ID similarity charged (default: %(default)s)")
    leave.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                       help="review when the two best sessions are closer than this (default: %(default)s)")
    record = _parking_command(sub, "record-exit", "store the vehicle in IMAGE as an exit, charged by a later `settle`")
    record.add_argument("image", metavar="IMAGE", help="exit camera image")
    _gate_arguments(record)
    settle = _parking_command(sub, "settle", "charge the recorded exits jointly; the unsure ones go to review")
    settle.add_argument("--until", help="settle the exits recorded up to this ISO-8601 time (default: now)")
    settle.add_argument("--tariff", default=os.environ.get("VEHICLEKIT_TARIFF"), type=Path,
                        help="tariff YAML (default: $VEHICLEKIT_TARIFF)")
    cut = settle.add_mutually_exclusive_group()
    cut.add_argument("--calibration", type=Path, metavar="FILE", help="the cut saved by `parking calibrate --save`")
    cut.add_argument("--cut", type=float, default=DEFAULT_CUT,
                     help="lowest pair confidence charged (default: %(default)s, calibrated on held-out images)")
    cut.add_argument("--review-first", action="store_true", help="charge nothing: every exit goes to a person")
    settle.add_argument("--floor", type=float, default=DEFAULT_FLOOR,
                        help="lowest re-ID similarity paired (default: %(default)s)")
    settle.set_defaults(crop="whole")
    calibrate = _parking_command(sub, "calibrate", "choose the settlement's cut from resolved cases, with a bound "
                                 "on the wrong-charge rate")
    calibrate.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                           help="wrong charges per exit to bound (default: %(default)s)")
    calibrate.add_argument("--delta", type=float, default=DEFAULT_DELTA,
                           help="the bound holds with probability 1 - delta (default: %(default)s)")
    calibrate.add_argument("--save", type=Path, metavar="FILE", help="write the calibration for `settle --calibration`")
    review = _parking_command(sub, "review", "list the exits awaiting a human, each beside its candidate entries")
    review.add_argument("--out", type=Path, default=Path("parking-review"),
                        help="folder for one side-by-side picture per case (default: %(default)s)")
    review.add_argument("--all", action="store_true", help="also list resolved cases (with who resolved them)")
    resolve = _parking_command(sub, "resolve", "settle review CASE: charge the session it matches, or no match")
    resolve.add_argument("case", type=int, metavar="CASE", help="review case id (from `parking review`)")
    decision = resolve.add_mutually_exclusive_group(required=True)
    decision.add_argument("--match", type=int, metavar="SESSION", help="the entry session this exit belongs to: charged")
    decision.add_argument("--no-match", action="store_true", help="the exit belongs to no open session: nothing charged")
    resolve.add_argument("--by", default=os.environ.get("USER") or None,
                         help="who decides (stored with the decision; default: $USER)")
    resolve.add_argument("--tariff", default=os.environ.get("VEHICLEKIT_TARIFF"), type=Path,
                         help="tariff YAML (default: $VEHICLEKIT_TARIFF)")
    resolve.set_defaults(crop="whole")
    sessions = _parking_command(sub, "sessions", "list sessions (or exits awaiting review)")
    sessions.add_argument("--status", choices=("open", "closed", "all"), default="open", help="default: open")
    listing = sessions.add_mutually_exclusive_group()
    listing.add_argument("--reviews", action="store_true", help="list the uncharged exits awaiting review instead")
    listing.add_argument("--exits", action="store_true", help="list the exits recorded for settlement instead")
    _parking_command(sub, "report", "revenue and counts per vehicle type")
    parking_watch.add_arguments(sub.add_parser("watch", help="run the car park from cameras: entry-line crossings "
                                               "open sessions, exit-line ones charge"))


def _time(args: argparse.Namespace):
    from vehiclekit.apps.times import now, parse_time

    return parse_time(args.time, "--time") if args.time else now()


def run_enter(args: argparse.Namespace) -> int:
    show(lot_from_args(args).enter(args.image, args.gate, _time(args)), args.json)
    return 0


def run_exit(args: argparse.Namespace) -> int:
    if (args.image is None) == (args.session is None):
        raise ValueError("give the exit IMAGE, or --session ID to close a session by hand (not both)")
    lot = lot_from_args(args)
    if args.session is not None:
        result = lot.close(args.session, args.gate, _time(args))
    else:
        result = lot.exit(args.image, args.gate, _time(args))
    show(result, args.json)
    return REVIEW_EXIT_STATUS if result.needs_review else 0


def run_record_exit(args: argparse.Namespace) -> int:
    show(lot_from_args(args).record_exit(args.image, args.gate, _time(args)), args.json)
    return 0


def run_settle(args: argparse.Namespace) -> int:
    from vehiclekit.apps.times import now, parse_time

    cut = None if args.review_first else args.cut
    if args.calibration is not None:
        try:
            cut = json.loads(args.calibration.read_text())["cut"]
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"cannot read the calibration {args.calibration} ({e}): write one with "
                             "`vehiclekit parking calibrate --save FILE`") from None
    lot = lot_from_args(args, floor=args.floor, cut=cut)
    result = lot.settle(parse_time(args.until, "--until") if args.until else now())
    show(result, args.json)
    if result.review and not args.json:
        print("resolve the review cases with `vehiclekit parking review` / `parking resolve`, or in the console")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from vehiclekit.apps.calibration import calibrate
    from vehiclekit.apps.store import Store

    result = calibrate(Store(args.db).labelled_pairs(), args.alpha, args.delta)
    if args.json:
        print(json.dumps({**asdict(result), "summary": result.summary()}))
    else:
        print(f"{result.cases} resolved cases; cuts from the most cautious down (stops at the first bound over "
              f"{args.alpha:.1%}):")
        print(f"{'cut':>8}{'charged':>9}{'wrong':>7}{'bound':>9}")
        for step in result.steps:
            mark = "  <- chosen" if step.cut == result.cut else ""
            print(f"{step.cut:>8.4f}{step.charged:>9}{step.wrong:>7}{step.bound:>8.2%}{mark}")
        print(result.summary())
    if args.save:
        args.save.write_text(json.dumps({**asdict(result), "summary": result.summary()}, indent=1))
        if not args.json:
            print(f"wrote {args.save}: `vehiclekit parking settle --calibration {args.save}`")
    return 0


def run_review(args: argparse.Namespace) -> int:
    import cv2

    from vehiclekit.apps.store import Store
    from vehiclekit.sdk.draw import side_by_side

    store = Store(args.db)
    cases = store.reviews(None if args.all else "open")
    if not cases:
        print("no review cases" if args.all else "no open review cases")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        picture = args.out / f"case-{case.id}.jpg"
        panels = [(case.image, f"exit {case.time:%Y-%m-%d %H:%M} {case.gate} ({case.vehicle_type})")]
        for session_id, similarity in case.candidates:
            entry = store.session(session_id)
            panels.append((entry.entry_image, f"session {session_id} {entry.vehicle_type} sim {similarity:.2f} "
                           f"({entry.status})"))
        cv2.imwrite(str(picture), side_by_side(panels))
        if args.json:
            print(json.dumps({**case.model_dump(mode="json"), "status": case.status, "picture": str(picture)}))
        else:
            print(f"{case}\n  picture {picture}")
    if not args.json:
        print("settle a case with `vehiclekit parking resolve CASE --match SESSION` or `--no-match`")
    return 0


def run_resolve(args: argparse.Namespace) -> int:
    if not args.by:
        raise ValueError("say who resolves the case: --by NAME (stored with the decision)")
    lot = lot_from_args(args)
    show(lot.resolve(args.case, args.match, args.by), args.json)
    return 0


def run_sessions(args: argparse.Namespace) -> int:
    from vehiclekit.apps.store import Store

    store = Store(args.db)
    if args.exits:
        rows = store.recorded_exits()
    else:
        rows = store.reviews() if args.reviews else store.sessions(None if args.status == "all" else args.status)
    for row in rows:
        show(row, args.json)
    if not rows and not args.json:
        kind = "recorded exits" if args.exits else "reviews" if args.reviews else "sessions"
        print(f"no {'' if args.status == 'all' or kind != 'sessions' else args.status + ' '}{kind}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from vehiclekit.apps.store import Store

    store = Store(args.db)
    per_type: dict[str, dict] = defaultdict(lambda: {"open": 0, "closed": 0, "revenue": Decimal(0)})
    currencies = set()
    for s in store.sessions():
        per_type[s.vehicle_type][s.status] += 1
        if s.status == "closed":
            per_type[s.vehicle_type]["revenue"] += s.fee
            currencies.add(s.currency)
    report = {"currency": ", ".join(sorted(currencies)) or None, "reviews": len(store.reviews()),
              "types": {t: {**v, "revenue": str(v["revenue"])} for t, v in sorted(per_type.items())}}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{'type':<12}{'open':>6}{'closed':>8}{'revenue':>12}")
    for vehicle_type, row in report["types"].items():
        print(f"{vehicle_type:<12}{row['open']:>6}{row['closed']:>8}{row['revenue']:>12} {report['currency'] or ''}")
    print(f"exits sent to review: {report['reviews']} (`parking sessions --reviews`)")
    return 0


#: subcommand -> the function that runs it.
RUNNERS = {"enter": run_enter, "exit": run_exit, "record-exit": run_record_exit, "settle": run_settle,
           "calibrate": run_calibrate, "review": run_review, "resolve": run_resolve, "sessions": run_sessions,
           "report": run_report, "watch": parking_watch.run}


def run(args: argparse.Namespace) -> int:
    """Run the ``parking`` subcommand; its exit status (:data:`REVIEW_EXIT_STATUS`: an exit sent to review)."""
    return RUNNERS[args.parking_command](args)
