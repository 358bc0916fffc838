"""Tariff rules as properties (Hypothesis) and hand-computed fees for periods that do not divide
24 h, cap windows crossing days and an uncapped class over more than a day."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from vehiclekit.apps.tariff import ClassTariff, Tariff

DAY = 24 * 3600


def reference_fee(tariff: ClassTariff, seconds: float) -> Decimal:
    """The rule written out period by period: every period starting before the end of the stay is
    paid, and the periods starting in one 24 h window from entry cost at most the cap together."""
    if seconds <= tariff.grace_minutes * 60:
        return Decimal(0)
    period = tariff.period_minutes * 60
    per_window: dict[int, Decimal] = {}
    start, index = 0, 0
    while start < seconds:
        price = tariff.first_period_price if index == 0 else tariff.period_price
        per_window[start // DAY] = per_window.get(start // DAY, Decimal(0)) + price
        start, index = start + period, index + 1
    cap = tariff.daily_cap
    return sum((v if cap is None else min(v, cap) for v in per_window.values()), Decimal(0))


prices = st.decimals(min_value=0, max_value=20, places=2)
tariffs = st.builds(ClassTariff, first_period_price=prices, period_price=prices,
                    period_minutes=st.integers(1, 24 * 60), grace_minutes=st.integers(0, 120),
                    daily_cap=st.none() | st.decimals(min_value=0, max_value=60, places=2))
durations = st.integers(0, 4 * DAY)


@settings(max_examples=150, deadline=None)
@given(tariffs, durations)
def test_fee_is_the_rule_applied_period_by_period(tariff: ClassTariff, seconds: int):
    assert tariff.raw_fee(timedelta(seconds=seconds)) == reference_fee(tariff, seconds)


@settings(max_examples=150, deadline=None)
@given(tariffs, durations, st.integers(0, 2 * DAY))
def test_fee_never_decreases_with_the_stay(tariff: ClassTariff, seconds: int, longer_by: int):
    assert tariff.raw_fee(timedelta(seconds=seconds + longer_by)) >= tariff.raw_fee(timedelta(seconds=seconds))


@settings(max_examples=150, deadline=None)
@given(tariffs, durations)
def test_no_24_hour_window_costs_more_than_the_cap(tariff: ClassTariff, seconds: int):
    if tariff.daily_cap is None:
        return
    windows = -(-seconds // DAY)                      # windows the stay touches
    assert tariff.raw_fee(timedelta(seconds=seconds)) <= windows * tariff.daily_cap


@settings(max_examples=200, deadline=None)
@given(tariffs.filter(lambda t: t.grace_minutes > 0 and t.first_period_price > 0 and t.daily_cap != 0))
def test_grace_is_free_to_the_second_and_not_beyond(tariff: ClassTariff):
    grace = timedelta(minutes=tariff.grace_minutes)
    assert tariff.raw_fee(grace) == tariff.raw_fee(timedelta(0)) == tariff.raw_fee(timedelta(milliseconds=500)) == 0
    cap = tariff.first_period_price if tariff.daily_cap is None else tariff.daily_cap
    assert tariff.raw_fee(grace + timedelta(seconds=1)) >= min(tariff.first_period_price, cap) > 0


def cls(first: str, later: str, minutes: int, cap: str | None = None, grace: int = 0) -> ClassTariff:
    return ClassTariff(first_period_price=Decimal(first), period_price=Decimal(later), period_minutes=minutes,
                       grace_minutes=grace, daily_cap=None if cap is None else Decimal(cap))


def test_without_grace_any_started_period_is_paid_and_an_empty_stay_is_free():
    tariff = cls("2.00", "1.50", 60)
    assert tariff.raw_fee(timedelta(0)) == 0
    assert tariff.raw_fee(timedelta(milliseconds=500)) == Decimal("2.00")


def test_an_uncapped_class_over_a_day_pays_every_period_once():
    # 30 h of 1 h periods: 2.00 + 29 x 1.50 = 45.50 (not the first 24 h counted twice)
    assert cls("2.00", "1.50", 60).raw_fee(timedelta(hours=30)) == Decimal("45.50")


def test_periods_that_do_not_divide_a_day_start_in_the_window_they_start_in():
    # 7 h periods start at 0, 7, 14, 21 | 28, 35 h: four in the first window, two in the second
    seven = cls("4.00", "3.00", 7 * 60, cap="10.00")
    assert seven.raw_fee(timedelta(hours=21, seconds=1)) == Decimal("10.00")     # 4 + 3 x 3 = 13, capped
    assert seven.raw_fee(timedelta(hours=28)) == Decimal("10.00")                # the 21 h period runs to 28 h
    assert seven.raw_fee(timedelta(hours=28, seconds=1)) == Decimal("13.00")     # period at 28 h: 2nd window
    assert seven.raw_fee(timedelta(hours=36)) == Decimal("16.00")                # 28 h and 35 h periods
    # 50 min periods: 1440 / 50 = 28.8, so the 29th period (index 28, at 23:20) is in the first window
    fifty = cls("1.00", "0.50", 50, cap="12.00")
    assert fifty.raw_fee(timedelta(hours=23, minutes=20, seconds=1)) == Decimal("12.00")   # 1 + 28 x 0.5 = 15
    assert fifty.raw_fee(timedelta(hours=24, minutes=10)) == Decimal("12.00")              # 23:20 runs to 24:10
    assert fifty.raw_fee(timedelta(hours=24, minutes=10, seconds=1)) == Decimal("12.50")   # index 29 at 24:10


def test_a_cap_window_is_24_hours_from_entry_and_the_first_period_price_is_paid_once():
    # 90 min periods, cap 9: a stay of 2 days 3 h = 34 periods (0..33); windows: 16 | 16 | 2 periods
    tariff = cls("5.00", "1.00", 90, cap="9.00")
    assert tariff.raw_fee(timedelta(days=2, hours=3)) == Decimal("9.00") + Decimal("9.00") + Decimal("2.00")
    assert tariff.raw_fee(timedelta(hours=3)) == Decimal("6.00")                 # 5 + 1, under the cap
    assert cls("5.00", "1.00", 90, cap="5.50").raw_fee(timedelta(hours=3)) == Decimal("5.50")


def test_rounding_modes_round_to_the_step_once():
    def fee(mode: str, amount: str, step: str = "0.05") -> Decimal:
        tariff = Tariff.model_validate({"currency": "EUR", "rounding": {"step": step, "mode": mode},
                                        "default": {"first_period_price": amount, "period_price": "0", "period_minutes": 60}})
        return tariff.fee("car", timedelta(minutes=30))
    assert [fee("half_up", a) for a in ("1.025", "1.075", "1.024")] == [Decimal("1.05"), Decimal("1.10"), Decimal("1.00")]
    assert [fee("half_even", a) for a in ("1.025", "1.075")] == [Decimal("1.00"), Decimal("1.10")]
    assert [fee("up", a) for a in ("1.001", "1.00")] == [Decimal("1.05"), Decimal("1.00")]
    assert [fee("down", a) for a in ("1.049", "1.05")] == [Decimal("1.00"), Decimal("1.05")]
    assert fee("half_up", "2.5", step="1") == Decimal("3") and fee("half_up", "2.5", step="1").as_tuple().exponent == 0
