"""Parking tariffs: a YAML file validated by pydantic, fees computed exactly with :class:`~decimal.Decimal`.

Fee of a stay of duration ``d`` for one vehicle class (``ClassTariff``):

* ``d <= grace_minutes`` -> free. Past the grace period the whole stay is charged from entry
  (the grace is not deducted).
* The stay is cut into periods of ``period_minutes`` counted from the entry time; every started
  period is paid: the first one ``first_period_price``, each later one ``period_price``.
* Daily cap, per 24 h from entry (not per calendar day): the periods that *start* in the same
  24-hour window ``[entry + k*24h, entry + (k+1)*24h)`` cost at most ``daily_cap`` together.
  A stay from 23:00 to 01:00 is one window; a stay of 30 h is two (24 h capped + 6 h).
* The sum is rounded once, at the end, to a multiple of ``rounding.step`` by ``rounding.mode``.

Vehicle types are the labels of the shipped ``vehicle-type`` classifier (:data:`VEHICLE_TYPES`);
a type without its own entry (or an unknown one) pays the ``default`` class.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vehiclekit.apps.errors import TariffError
from vehiclekit.apps.yaml_config import load_yaml_model
from vehiclekit.models.zoo import VEHICLE_TYPES  # the shipped vehicle-type classifier's labels

DAY_SECONDS = 24 * 3600
_ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "up": ROUND_CEILING, "down": ROUND_FLOOR}

Money = Decimal


class ClassTariff(BaseModel):
    """Prices of one vehicle class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_period_price: Money = Field(ge=0, description="price of the first started period")
    period_price: Money = Field(ge=0, description="price of each later started period")
    period_minutes: int = Field(gt=0, le=24 * 60, description="period length, minutes (1..1440)")
    grace_minutes: int = Field(default=0, ge=0, description="stays up to this long are free")
    daily_cap: Money | None = Field(default=None, ge=0, description="most charged per 24 h from entry")

    def raw_fee(self, duration: timedelta) -> Decimal:
        """The unrounded fee of a stay of ``duration`` (see the module docstring)."""
        seconds = duration.total_seconds()
        if seconds < 0:
            raise ValueError(f"a stay cannot last a negative time ({duration})")
        if seconds <= self.grace_minutes * 60:
            return Decimal(0)
        period = self.period_minutes * 60
        periods = math.ceil(seconds / period)
        total = Decimal(0)
        for window in range(math.ceil(seconds / DAY_SECONDS)):
            # Periods i with window*24h <= i*period < (window+1)*24h, and i < periods.
            first = math.ceil(window * DAY_SECONDS / period)
            stop = min(math.ceil((window + 1) * DAY_SECONDS / period), periods)
            if stop <= first:
                continue
            charge = (stop - first) * self.period_price
            if first == 0:
                charge += self.first_period_price - self.period_price
            total += charge if self.daily_cap is None else min(charge, self.daily_cap)
        return total


class Rounding(BaseModel):
    """Round the final fee to a multiple of ``step`` (e.g. 0.05) with ``mode``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: Decimal = Field(default=Decimal("0.01"), gt=0)
    mode: Literal["half_up", "half_even", "up", "down"] = "half_up"

    def apply(self, amount: Decimal) -> Decimal:
        steps = (amount / self.step).to_integral_value(rounding=_ROUNDING_MODES[self.mode])
        return (steps * self.step).quantize(self.step)


class Tariff(BaseModel):
    """A whole tariff: currency, rounding, a default class and per-type classes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code, e.g. EUR")
    rounding: Rounding = Field(default_factory=Rounding)
    default: ClassTariff = Field(description="prices for types without their own entry")
    classes: dict[str, ClassTariff] = Field(default_factory=dict)

    @field_validator("classes")
    @classmethod
    def _known_types(cls, classes: dict[str, ClassTariff]) -> dict[str, ClassTariff]:
        unknown = sorted(set(classes) - set(VEHICLE_TYPES))
        if unknown:
            raise ValueError(f"unknown vehicle type(s) {unknown}; the classifier's types are {list(VEHICLE_TYPES)}")
        return classes

    def for_type(self, vehicle_type: str) -> ClassTariff:
        """The class tariff of ``vehicle_type`` (the default one for a type without an entry)."""
        return self.classes.get(vehicle_type, self.default)

    def fee(self, vehicle_type: str, duration: timedelta) -> Decimal:
        """The rounded fee of a stay of ``duration`` by a vehicle of ``vehicle_type``."""
        return self.rounding.apply(self.for_type(vehicle_type).raw_fee(duration))


def load_tariff(path: str | os.PathLike) -> Tariff:
    """Read and validate a tariff YAML file; :class:`TariffError` names the file and each bad field."""
    return load_yaml_model(path, Tariff, TariffError, "tariff file",
                           "currency, default and classes (see deploy/tariff.example.yaml)")
