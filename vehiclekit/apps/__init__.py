"""Applications on the SDK: parking fees by vehicle type (:mod:`~vehiclekit.apps.parking`) and
entry/exit traffic statistics (:mod:`~vehiclekit.apps.stats`). See docs/apps.md.

>>> from vehiclekit.apps import ParkingLot, Store, load_tariff      # doctest: +SKIP

Names are imported on first use (PEP 562), so ``vehiclekit --help`` does not pay for SQLAlchemy.
Like the SDK, the applications never import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "vehiclekit.apps.errors": ("NaiveTimeError", "NoVehicleError", "SegmentError", "SessionClosedError", "SettlementConflict",
                               "StoreError", "TariffError"),
    "vehiclekit.apps.parking": ("ParkingLot",),
    "vehiclekit.apps.results": ("AmbiguousExit", "Candidate", "ExitResult", "ParkingSession", "Receipt", "RecordedExit",
                                "Review", "Settlement", "TrafficEvent", "UnmatchedExit"),
    "vehiclekit.apps.segments": ("SegmentTable", "load_segments"),
    "vehiclekit.apps.parking_store": ("ParkingStore",),
    "vehiclekit.apps.store": ("Store",),
    "vehiclekit.apps.tariff": ("VEHICLE_TYPES", "ClassTariff", "Tariff", "load_tariff"),
    "vehiclekit.apps.traffic_store": ("TrafficStore",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'vehiclekit.apps' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
