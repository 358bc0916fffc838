"""The parking charge path on SQLite with several open sessions: which session is charged, what
the receipt, the stored session and the review record say, and what is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest

from test_apps_parking import T0, TARIFF   # the lot's time origin and the example tariff
from vehiclekit.apps import (AmbiguousExit, NaiveTimeError, ParkingLot, Receipt, SessionClosedError, Store, StoreError,
                             UnmatchedExit)


def direction(similarity: float) -> np.ndarray:
    """A unit vector whose cosine with :data:`QUERY` is ``similarity`` (the rest points anywhere else)."""
    rest = RNG.normal(size=63)
    return np.concatenate([[similarity], np.sqrt(1 - similarity ** 2) * rest / np.linalg.norm(rest)]).astype(np.float32)


RNG = np.random.default_rng(0)
QUERY = np.eye(64, dtype=np.float32)[0]


@pytest.fixture
def lot(tmp_path: Path) -> ParkingLot:
    return ParkingLot(TARIFF, Store(tmp_path / "p.db"), threshold=0.5, margin=0.05)


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_the_best_of_three_compatible_sessions_is_charged_whatever_the_entry_order(tmp_path: Path, order):
    lot = ParkingLot(TARIFF, Store(tmp_path / "p.db"), threshold=0.5, margin=0.05)
    lot.enter(None, "north", T0, vehicle_type="bus", embedding=direction(0.99))      # another family: never a candidate
    sessions = {}
    for i in order:
        sessions[i] = lot.enter(None, f"gate-{i}", T0 + timedelta(minutes=i), vehicle_type=("car", "van", "suv")[i],
                                embedding=direction((0.9, 0.7, 0.6)[i]))
    receipt = lot.exit(None, "south", T0 + timedelta(hours=3), vehicle_type="car", embedding=QUERY)
    assert isinstance(receipt, Receipt) and receipt.session_id == sessions[0].id
    assert receipt.similarity == pytest.approx(0.9, abs=1e-5) and receipt.entry_gate == "gate-0"
    assert receipt.exit_gate == "south" and receipt.exit_time == T0 + timedelta(hours=3)
    assert receipt.duration == timedelta(hours=3) and receipt.vehicle_type == "car"
    assert receipt.fee == Decimal("5.00") and receipt.currency == "EUR"          # car: 2.00 + 2 x 1.50
    stored = lot.store.session(sessions[0].id)
    assert (stored.status, stored.fee, stored.similarity, stored.closed_by) == ("closed", Decimal("5.00"),
                                                                                  pytest.approx(0.9, abs=1e-5), "match")
    assert sorted(s.id for s in lot.store.sessions("open")) == sorted([1] + [s.id for i, s in sessions.items() if i])
    again = lot.exit(None, "south", T0 + timedelta(hours=4), vehicle_type="car", embedding=QUERY)   # closed: not again
    assert isinstance(again, Receipt) and again.session_id == sessions[1].id


def test_an_ambiguous_exit_lists_the_candidates_and_records_the_review(lot: ParkingLot):
    a = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.80))
    b = lot.enter(None, "west", T0 + timedelta(minutes=7), vehicle_type="suv", embedding=direction(0.77))
    lot.enter(None, "east", T0, vehicle_type="car", embedding=direction(0.1))
    at = T0 + timedelta(hours=1)
    result = lot.exit("exit.jpg", "south", at, vehicle_type="car", embedding=QUERY)
    assert isinstance(result, AmbiguousExit) and result.exit_gate == "south" and result.exit_time == at
    assert [(c.session_id, c.vehicle_type, c.entry_time) for c in result.candidates] == [
        (a.id, "car", T0), (b.id, "suv", T0 + timedelta(minutes=7)), (3, "car", T0)]
    assert [c.similarity for c in result.candidates] == pytest.approx([0.80, 0.77, 0.1], abs=1e-5)   # 0.03 < 0.05
    review = lot.store.review(result.review_id)
    assert (review.kind, review.gate, review.time, review.vehicle_type, review.image) == (
        "ambiguous", "south", at, "car", "exit.jpg")
    assert [tuple(c) for c in review.candidates] == [(c.session_id, pytest.approx(c.similarity)) for c in result.candidates]
    assert lot.store.sessions("closed") == []


def test_an_unmatched_exit_is_recorded_with_its_best_candidates(lot: ParkingLot):
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.4))
    result = lot.exit(None, "south", T0 + timedelta(hours=1), vehicle_type="car", embedding=QUERY)
    assert isinstance(result, UnmatchedExit) and [c.session_id for c in result.candidates] == [car.id]
    assert lot.store.review(result.review_id).kind == "unmatched" and lot.store.review(result.review_id).image is None


def test_closing_by_hand_charges_the_entry_type_for_the_stay(lot: ParkingLot):
    bus = lot.enter(None, "north", T0, vehicle_type="bus", embedding=direction(0.3))
    receipt = lot.close(bus.id, "south", T0 + timedelta(hours=2, minutes=30))
    assert receipt.fee == Decimal("32.00") and receipt.similarity is None       # bus: 8.00 + 4 x 6.00 (30 min periods)
    stored = lot.store.session(bus.id)
    assert (stored.closed_by, stored.exit_gate, stored.currency, stored.fee) == ("manual", "south", "EUR", Decimal("32.00"))
    entry_at_exit = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.3))
    assert lot.close(entry_at_exit.id, "south", T0).fee == Decimal("0.00")       # a zero-length stay is free
    early = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.3))
    with pytest.raises(ValueError, match="before session"):
        lot.close(early.id, "south", T0 - timedelta(seconds=1))
    assert lot.store.session(early.id).status == "open"


def test_resolving_needs_a_name_and_charges_the_stay_up_to_the_exit(lot: ParkingLot):
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.2))
    case = lot.exit(None, "south", T0 + timedelta(minutes=61), vehicle_type="car", embedding=QUERY)
    with pytest.raises(ValueError, match=r"^say who resolves the review \(a name or staff id\)$"):
        lot.resolve(case.review_id, car.id, by="  ")
    receipt = lot.resolve(case.review_id, car.id, by="alice")
    assert receipt.fee == Decimal("3.50") and receipt.duration == timedelta(minutes=61)    # 2.00 + 1.50
    stored = lot.store.session(car.id)
    assert (stored.closed_by, stored.exit_time, stored.exit_gate, stored.similarity) == (
        "manual", T0 + timedelta(minutes=61), "south", None)
    resolved = lot.store.review(case.review_id)
    assert resolved.resolved_by == "alice" and resolved.resolved_at > T0 + timedelta(days=100)   # now, not the exit


def test_a_session_entered_at_the_exit_time_is_a_candidate(lot: ParkingLot):
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.9))
    assert lot.exit(None, "south", T0, vehicle_type="car", embedding=QUERY).session_id == car.id


def test_a_no_match_resolution_records_who_and_leaves_other_reviews_open(lot: ParkingLot):
    lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.2))
    first, second = (lot.exit(None, "south", T0 + timedelta(hours=h), vehicle_type="car", embedding=QUERY) for h in (1, 2))
    at = T0 + timedelta(hours=3)
    resolved = lot.resolve(first.review_id, None, by="bob", time=at)
    assert (resolved.resolution, resolved.resolved_by, resolved.resolved_at) == ("no-match", "bob", at)
    assert [r.id for r in lot.store.reviews("open")] == [second.review_id]
    with pytest.raises(StoreError, match=rf"^review {first.review_id} was already resolved \(no-match\) by bob at "):
        lot.resolve(first.review_id, None, by="carol")


def test_closing_a_closed_session_says_so(lot: ParkingLot):
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.2))
    lot.close(car.id, "south", T0 + timedelta(hours=1))
    with pytest.raises(SessionClosedError, match=rf"^parking session {car.id} is not open: it was already closed; list "
                                                 r"the open ones with `vehiclekit parking sessions`$"):
        lot.store.close_session(car.id, "south", T0 + timedelta(hours=2), None, Decimal("1"), "EUR", "manual")
    case = lot.exit(None, "south", T0 + timedelta(hours=2), vehicle_type="car", embedding=QUERY)
    with pytest.raises(SessionClosedError, match=r"pick an open session from `vehiclekit parking review`$"):
        lot.resolve(case.review_id, car.id, by="alice")


def test_naive_times_are_refused_naming_which_time(lot: ParkingLot):
    naive = datetime(2026, 5, 1, 9, 0)
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.2))
    case = lot.exit(None, "south", T0 + timedelta(hours=1), vehicle_type="car", embedding=QUERY)
    refusals = {"exit time": [lambda: lot.exit(None, "south", naive, vehicle_type="car", embedding=QUERY),
                              lambda: lot.close(car.id, "south", naive),
                              lambda: lot.store.close_session(car.id, "south", naive, None, Decimal("1"), "EUR", "manual")],
                "resolution time": [lambda: lot.resolve(case.review_id, None, by="bob", time=naive),
                                    lambda: lot.store.resolve_review(case.review_id, "bob", naive)]}
    for what, calls in refusals.items():
        for call in calls:
            with pytest.raises(NaiveTimeError, match=f"^{what} 2026-05-01T09:00:00 has no time zone"):
                call()
    assert lot.store.session(car.id).status == "open" and lot.store.review(case.review_id).status == "open"


class RacingStore(Store):
    """A store where another gate closes the best session right after this gate read the open ones."""

    def open_embeddings(self, before: datetime):
        read = super().open_embeddings(before)
        if not self.sessions("closed"):
            Store(self.target).close_session(1, "other gate", before, 0.99, Decimal("1.00"), "EUR", "match")
        return read


def test_a_session_closed_by_another_gate_meanwhile_is_decided_again_without_it(tmp_path: Path):
    lot = ParkingLot(TARIFF, RacingStore(tmp_path / "p.db"), threshold=0.5, margin=0.05)
    first = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.95))
    second = lot.enter(None, "north", T0, vehicle_type="car", embedding=direction(0.7))
    receipt = lot.exit(None, "south", T0 + timedelta(hours=1), vehicle_type="car", embedding=QUERY)
    assert isinstance(receipt, Receipt) and receipt.session_id == second.id
    assert lot.store.session(first.id).exit_gate == "other gate"               # charged once, by the other gate
