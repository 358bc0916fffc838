"""Tariff: fee rules (grace, periods, 24-hour cap windows, rounding, default class) and bad files."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from vehiclekit.apps import VEHICLE_TYPES, Tariff, TariffError, load_tariff
from vehiclekit.paths import REPO_ROOT

CAR = {"first_period_price": "2.00", "period_price": "1.50", "period_minutes": 60, "grace_minutes": 15, "daily_cap": "15.00"}
TARIFF = Tariff.model_validate({
    "currency": "EUR",
    "default": {"first_period_price": "3.00", "period_price": "3.00", "period_minutes": 60},
    "classes": {"car": CAR, "motorcycle": {"first_period_price": "0.10", "period_price": "0.10", "period_minutes": 20}},
})


def fee(vehicle_type: str, **duration: float) -> Decimal:
    return TARIFF.fee(vehicle_type, timedelta(**duration))


def test_grace_period_is_free_then_the_whole_stay_counts():
    assert fee("car", minutes=15) == Decimal("0.00")
    assert fee("car", minutes=15, seconds=1) == Decimal("2.00")      # the grace is not deducted
    assert fee("car", minutes=60) == Decimal("2.00")
    assert fee("car", minutes=60, seconds=1) == Decimal("3.50")      # every started period is paid


def test_daily_cap_applies_per_24_hours_from_entry_not_per_calendar_day():
    assert fee("car", hours=2) == Decimal("3.50")                    # 23:00 -> 01:00 would be the same: one window
    assert fee("car", hours=12) == Decimal("15.00")                  # 2 + 11 x 1.5 = 18.50, capped
    assert fee("car", hours=24) == Decimal("15.00")
    assert fee("car", hours=30) == Decimal("24.00")                  # 15 (capped window) + 6 x 1.5 (no first-period price again)
    assert fee("car", hours=24, seconds=1) == Decimal("16.50")       # a started period in the second window
    assert fee("car", days=3) == Decimal("45.00")


def test_unknown_or_unlisted_type_pays_the_default_class():
    assert TARIFF.for_type("spaceship") is TARIFF.default
    assert fee("truck", minutes=90) == fee("spaceship", minutes=90) == Decimal("6.00")
    assert fee("truck", minutes=1) == Decimal("3.00")                # default has no grace


def test_money_is_exact_decimal_and_rounded_once_at_the_end():
    assert fee("motorcycle", minutes=60) == Decimal("0.30")                # 3 x 0.10, not 0.30000000000000004
    odd = TARIFF.model_copy(update={"rounding": TARIFF.rounding.model_copy(update={"step": Decimal("0.05")})})
    third = odd.model_copy(update={"default": odd.default.model_copy(update={"first_period_price": Decimal("1.0749")})})
    assert third.fee("x", timedelta(minutes=30)) == Decimal("1.05")
    up = third.model_copy(update={"rounding": third.rounding.model_copy(update={"mode": "up"})})
    assert up.fee("x", timedelta(minutes=30)) == Decimal("1.10")
    assert up.fee("x", timedelta(minutes=30)).as_tuple().exponent == -2


def test_negative_duration_is_an_error():
    with pytest.raises(ValueError, match="negative"):
        fee("car", minutes=-1)


def test_the_example_tariff_loads_and_covers_the_classifier_types(classifier):
    tariff = load_tariff(REPO_ROOT / "deploy" / "tariff.example.yaml")
    assert tuple(classifier.labels) == VEHICLE_TYPES
    assert set(tariff.classes) == set(VEHICLE_TYPES)
    assert tariff.fee("truck", timedelta(hours=1)) > tariff.fee("car", timedelta(hours=1)) > tariff.fee("motorcycle", timedelta(hours=1))


@pytest.mark.parametrize("text, field", [
    ("currency: EUR\nclasses: {}\n", "default"),
    ("currency: EUR\ndefault: {first_period_price: -1, period_price: 1, period_minutes: 60}\n", "default.first_period_price"),
    ("currency: EUR\ndefault: {first_period_price: 1, period_price: 1, period_minutes: 0}\n", "default.period_minutes"),
    ("currency: EUR\ndefault: {first_period_price: 1, period_price: 1, period_minutes: 60, grace: 5}\n", "default.grace"),
    (("currency: EUR\ndefault: {first_period_price: 1, period_price: 1, period_minutes: 60}\n"
     "classes: {tuck: {first_period_price: 1, period_price: 1, period_minutes: 60}}\n"), "classes"),
    ("currency: EUR\ndefault: {first_period_price: 1, period_price: 1, period_minutes: 60}\nrounding: {mode: sideways}\n",
     "rounding.mode"),
    ("- just\n- a list\n", "mapping"),
    ("currency: [unclosed\n", "not valid YAML"),
])
def test_bad_tariff_files_name_the_file_and_the_field(tmp_path: Path, text: str, field: str):
    path = tmp_path / "tariff.yaml"
    path.write_text(text)
    with pytest.raises(TariffError) as error:
        load_tariff(path)
    assert str(path) in str(error.value) and field in str(error.value)


def test_missing_tariff_file(tmp_path: Path):
    with pytest.raises(TariffError, match="cannot read tariff file"):
        load_tariff(tmp_path / "nope.yaml")
