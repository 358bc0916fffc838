"""Typed errors of the applications; each message says what went wrong and what to do."""

from vehiclekit.errors import VehiclekitError


class TariffError(VehiclekitError, ValueError):
    """A tariff file is missing, not YAML, or fails validation (the message names the file and field)."""


class NaiveTimeError(VehiclekitError, ValueError):
    """A timestamp without a time zone: parking and statistics need timezone-aware times."""


class StoreError(VehiclekitError):
    """The session/event store cannot be opened or refused an operation."""


class SessionClosedError(StoreError):
    """A parking session is no longer open: another exit, gate or person closed it first."""


class SettlementConflict(StoreError):
    """Another settler or gate charged an exit or closed a session while a settlement was deciding;
    nothing of that settlement was written (:meth:`~vehiclekit.apps.ParkingLot.settle` decides again)."""


class NoVehicleError(VehiclekitError):
    """No vehicle was found in an image (``crop="largest"`` mode)."""


class SegmentError(VehiclekitError, ValueError):
    """A segment table is missing, not YAML, or names an unknown make (the message names file and key)."""
