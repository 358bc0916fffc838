"""``vehiclekit parking ...`` and ``vehiclekit stats ...``: the applications' subcommands.

``vehiclekit.cli`` registers them with :func:`add_parking_parser` / :func:`add_stats_parser`; the
heavy imports happen only when a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from vehiclekit.apps.errors import TariffError
from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD

#: Exit status of ``parking exit`` when the exit was not charged but sent to review.
REVIEW_EXIT_STATUS = 3

PARKING_EPILOG = f"""\
times: ISO-8601 with an offset, e.g. 2026-05-01T08:30:00+02:00 or 2026-05-01T06:30:00Z
  (default: now). Times without a zone are refused. Stored and printed in UTC.

examples:
  vehiclekit parking enter entry.jpg --gate north --tariff deploy/tariff.example.yaml
  vehiclekit parking exit exit.jpg --gate south --time 2026-05-01T10:05:00+02:00 --tariff deploy/tariff.example.yaml
  vehiclekit parking exit --session 17 --gate south --tariff deploy/tariff.example.yaml   (after a review)
  vehiclekit parking sessions --status open
  vehiclekit parking report --json

`parking exit` exits with status 0 and prints a receipt when the vehicle matched one open session;
with status {REVIEW_EXIT_STATUS} when it was NOT charged (no session similar enough, or two about equally
similar): the exit is stored for review (`parking sessions --reviews`), and an attendant closes the
right session with `parking exit --session ID`. The re-ID model is weak (see docs/apps.md):
expect most exits to go to review with the default threshold {DEFAULT_THRESHOLD} / margin {DEFAULT_MARGIN}.
"""


def _db_argument(parser: argparse.ArgumentParser, env: str, default: str) -> None:
    parser.add_argument("--db", default=os.environ.get(env, default),
                        help=f"SQLite file or SQLAlchemy URL (default: ${env}, else {default})")


def _parking_command(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", epilog=PARKING_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    _db_argument(parser, "VEHICLEKIT_PARKING_DB", "parking.db")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gate", required=True, help="name of the gate/camera")
    parser.add_argument("--time", help="ISO-8601 time with an offset (default: now)")
    parser.add_argument("--tariff", default=os.environ.get("VEHICLEKIT_TARIFF"), type=Path,
                        help="tariff YAML (default: $VEHICLEKIT_TARIFF; example: deploy/tariff.example.yaml)")
    parser.add_argument("--crop", choices=("whole", "largest"), default="whole",
                        help="recognise the whole image as one vehicle (default) or the largest detected vehicle")


def add_parking_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``parking enter|exit|sessions|report``."""
    parking = commands.add_parser("parking", help="parking fees by vehicle type with entry/exit re-ID matching",
                                  description="Parking: open a session per entering vehicle, match exits by re-ID, "
                                  "charge by the tariff (docs/apps.md).")
    sub = parking.add_subparsers(dest="parking_command", metavar="COMMAND", required=True)
    enter = _parking_command(sub, "enter", "open a session for the vehicle in IMAGE")
    enter.add_argument("image", metavar="IMAGE", help="entry camera image")
    _gate_arguments(enter)
    enter.set_defaults(run=run_enter)
    leave = _parking_command(sub, "exit", "match the vehicle in IMAGE to an open session and charge it")
    leave.add_argument("image", metavar="IMAGE", nargs="?", help="exit camera image (not with --session)")
    _gate_arguments(leave)
    leave.add_argument("--session", type=int, metavar="ID", help="close this session by hand (after a review)")
    leave.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                       help="lowest re-ID similarity charged (default: %(default)s)")
    leave.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                       help="review when the two best sessions are closer than this (default: %(default)s)")
    leave.set_defaults(run=run_exit)
    sessions = _parking_command(sub, "sessions", "list sessions (or exits awaiting review)")
    sessions.add_argument("--status", choices=("open", "closed", "all"), default="open", help="default: open")
    sessions.add_argument("--reviews", action="store_true", help="list the uncharged exits awaiting review instead")
    sessions.set_defaults(run=run_sessions)
    report = _parking_command(sub, "report", "revenue and counts per vehicle type")
    report.set_defaults(run=run_report)


def _lot(args: argparse.Namespace):
    from vehiclekit.apps.observer import Observer
    from vehiclekit.apps.parking import ParkingLot
    from vehiclekit.apps.store import Store
    from vehiclekit.apps.tariff import load_tariff

    if args.tariff is None:
        raise TariffError("no tariff: pass --tariff FILE or set VEHICLEKIT_TARIFF (example: deploy/tariff.example.yaml)")
    return ParkingLot(load_tariff(args.tariff), Store(args.db), threshold=getattr(args, "threshold", DEFAULT_THRESHOLD),
                      margin=getattr(args, "margin", DEFAULT_MARGIN), observer=Observer(args.crop))


def _time(args: argparse.Namespace):
    from vehiclekit.apps.times import now, parse_time

    return parse_time(args.time, "--time") if args.time else now()


def _show(result, as_json: bool) -> None:
    print(result.model_dump_json() if as_json else str(result))


def run_enter(args: argparse.Namespace) -> int:
    _show(_lot(args).enter(args.image, args.gate, _time(args)), args.json)
    return 0


def run_exit(args: argparse.Namespace) -> int:
    if (args.image is None) == (args.session is None):
        raise ValueError("give the exit IMAGE, or --session ID to close a session by hand (not both)")
    lot = _lot(args)
    if args.session is not None:
        result = lot.close(args.session, args.gate, _time(args))
    else:
        result = lot.exit(args.image, args.gate, _time(args))
    _show(result, args.json)
    return REVIEW_EXIT_STATUS if result.needs_review else 0


def run_sessions(args: argparse.Namespace) -> int:
    from vehiclekit.apps.store import Store

    store = Store(args.db)
    rows = store.reviews() if args.reviews else store.sessions(None if args.status == "all" else args.status)
    for row in rows:
        _show(row, args.json)
    if not rows and not args.json:
        print("no reviews" if args.reviews else f"no {'' if args.status == 'all' else args.status + ' '}sessions")
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
