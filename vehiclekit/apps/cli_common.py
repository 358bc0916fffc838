"""What the parking command lines share: the lot their options describe, and how a result is printed.

Used by :mod:`vehiclekit.apps.cli` (``vehiclekit parking ...``) and :mod:`vehiclekit.apps.video_commands`
(``vehiclekit parking watch``), so neither imports the other's internals.
"""

from __future__ import annotations

import argparse

from vehiclekit.apps.errors import TariffError
from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD


def lot_from_args(args: argparse.Namespace, **settlement):
    """The :class:`~vehiclekit.apps.ParkingLot` of ``--tariff``, ``--db``, ``--crop`` (and ``--threshold`` /
    ``--margin`` where the command has them); ``settlement``: its ``floor`` / ``cut``."""
    from vehiclekit.apps.observer import Observer
    from vehiclekit.apps.parking import ParkingLot
    from vehiclekit.apps.store import Store
    from vehiclekit.apps.tariff import load_tariff

    if args.tariff is None:
        raise TariffError("no tariff: pass --tariff FILE or set VEHICLEKIT_TARIFF (example: deploy/tariff.example.yaml)")
    return ParkingLot(load_tariff(args.tariff), Store(args.db), threshold=getattr(args, "threshold", DEFAULT_THRESHOLD),
                      margin=getattr(args, "margin", DEFAULT_MARGIN), observer=Observer(args.crop, makes=True),
                      **settlement)


def show(result, as_json: bool) -> None:
    """One result per line: its text, or its JSON."""
    print(result.model_dump_json() if as_json else str(result))
