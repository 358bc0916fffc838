"""ParkingLot: receipts, unmatched and ambiguous exits (never charged), type / make / time constraints,
review resolution charged exactly once, restart and migration, real images and models."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from vehiclekit.apps import (
    AmbiguousExit,
    NaiveTimeError,
    ParkingLot,
    Receipt,
    Review,
    Store,
    StoreError,
    UnmatchedExit,
    load_tariff,
)
from vehiclekit.apps.matching import MAKE_CONFIDENCE, compatible
from vehiclekit.paths import REPO_ROOT

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TARIFF = load_tariff(REPO_ROOT / "deploy" / "tariff.example.yaml")


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def lot(store_url: str) -> ParkingLot:
    """A lot on a fresh SQLite file or PostgreSQL database (every test using it runs on both)."""
    return ParkingLot(TARIFF, Store(store_url), threshold=0.8, margin=0.05)


@pytest.fixture(scope="module")
def reid_test(data_dir: Path) -> Path:
    return data_dir / "vehicle-reid" / "images" / "test"


def test_clear_match_is_charged_by_the_entry_type(lot: ParkingLot):
    lot.enter(None, "north", T0, vehicle_type="truck", embedding=unit(1, 0, 0))
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(0, 1, 0))
    receipt = lot.exit(None, "south", T0 + timedelta(hours=2, minutes=5), vehicle_type="suv", embedding=unit(0.1, 1, 0))
    assert isinstance(receipt, Receipt) and not receipt.needs_review
    assert receipt.session_id == car.id and receipt.vehicle_type == "car"     # priced by the entry type
    assert receipt.fee == Decimal("5.00") and receipt.currency == "EUR"       # 3 started hours: 2.00 + 2 x 1.50
    assert receipt.duration == timedelta(hours=2, minutes=5) and receipt.similarity == pytest.approx(0.995, abs=1e-3)
    assert [s.id for s in lot.store.sessions("open")] == [car.id - 1]


def test_no_similar_session_is_unmatched_and_not_charged(lot: ParkingLot):
    lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(1, 0, 0))
    result = lot.exit(None, "south", T0 + timedelta(hours=1), vehicle_type="car", embedding=unit(0.5, 1, 0))
    assert isinstance(result, UnmatchedExit) and result.needs_review
    assert result.candidates[0].similarity < 0.8
    assert len(lot.store.sessions("open")) == 1 and not lot.store.sessions("closed")
    assert lot.store.reviews()[0].kind == "unmatched"
    assert isinstance(ParkingLot(TARIFF, Store("sqlite://")).exit(None, "s", T0, vehicle_type="car",
                                                                   embedding=unit(1, 0)), UnmatchedExit)


def test_two_close_candidates_are_ambiguous_then_a_human_closes_one(lot: ParkingLot):
    a = lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(1, 0.02, 0))
    b = lot.enter(None, "north", T0 + timedelta(minutes=5), vehicle_type="suv", embedding=unit(1, -0.02, 0))
    result = lot.exit(None, "south", T0 + timedelta(hours=3), vehicle_type="car", embedding=unit(1, 0, 0))
    assert isinstance(result, AmbiguousExit) and result.needs_review
    assert {c.session_id for c in result.candidates} == {a.id, b.id}
    assert len(lot.store.sessions("open")) == 2                                # nobody charged
    receipt = lot.close(b.id, "south", result.exit_time)                      # the reviewer's decision
    assert receipt.similarity is None and receipt.fee == TARIFF.fee("suv", timedelta(hours=2, minutes=55))
    assert lot.store.session(b.id).closed_by == "manual"
    with pytest.raises(StoreError, match="not open"):
        lot.close(b.id, "south", result.exit_time)


def test_sessions_that_entered_after_the_exit_are_not_candidates(lot: ParkingLot):
    lot.enter(None, "north", T0 + timedelta(hours=5), vehicle_type="car", embedding=unit(1, 0))
    assert isinstance(lot.exit(None, "south", T0, vehicle_type="car", embedding=unit(1, 0)), UnmatchedExit)


@pytest.mark.parametrize("rule, exit_type, matched", [
    ("family", "truck", False), ("family", "suv", True), ("exact", "suv", False), ("exact", "car", True),
    ("off", "truck", True)])
def test_the_exit_type_must_agree_with_the_entry_type(rule: str, exit_type: str, matched: bool, store_url: str):
    lot = ParkingLot(TARIFF, Store(store_url), threshold=0.8, margin=0.05, types=rule)
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(1, 0))
    result = lot.exit(None, "south", T0 + timedelta(hours=1), vehicle_type=exit_type, embedding=unit(1, 0))
    assert isinstance(result, Receipt if matched else UnmatchedExit)
    if not matched:                     # the look-alike of another type is not even offered to the reviewer
        assert result.candidates == [] and lot.store.session(car.id).status == "open"


def test_a_different_type_does_not_make_an_exit_ambiguous(lot: ParkingLot):
    lot.enter(None, "north", T0, vehicle_type="motorcycle", embedding=unit(1, 0.01))
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(1, -0.01))
    receipt = lot.exit(None, "south", T0 + timedelta(hours=1), vehicle_type="car", embedding=unit(1, 0))
    assert isinstance(receipt, Receipt) and receipt.session_id == car.id


def test_confident_makes_must_agree_unsure_ones_are_ignored(store_url: str):
    assert not compatible("car", "car", "family", ("BMW", 0.9), ("Audi", 0.95))
    assert compatible("car", "car", "family", ("BMW", 0.9), ("BMW", 0.85))
    assert compatible("car", "car", "family", ("BMW", 0.9), ("Audi", MAKE_CONFIDENCE - 0.01))
    assert compatible("car", "suv", "family", ("BMW", 0.9), (None, None))
    lot = ParkingLot(TARIFF, Store(store_url), threshold=0.8, margin=0.05)
    audi = lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(1, 0), make="Audi", make_confidence=0.97)
    assert lot.store.session(audi.id).make == "Audi"
    bmw = dict(vehicle_type="car", embedding=unit(1, 0), make="BMW")
    assert isinstance(lot.exit(None, "south", T0 + timedelta(hours=1), **bmw, make_confidence=0.93), UnmatchedExit)
    assert isinstance(lot.exit(None, "south", T0 + timedelta(hours=1), **bmw, make_confidence=0.3), Receipt)


def test_resolving_a_review_charges_the_chosen_session_once(store_url: str):
    lot = ParkingLot(TARIFF, Store(store_url), threshold=0.9, margin=0.05)
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(1, 0))
    uncharged = lot.exit(None, "south", T0 + timedelta(hours=2, minutes=5), vehicle_type="car", embedding=unit(1, 0.6))
    assert isinstance(uncharged, UnmatchedExit) and [r.id for r in lot.store.reviews("open")] == [uncharged.review_id]
    at = T0 + timedelta(days=1)             # resolved the next day: charged up to the recorded exit, not to now
    receipt = lot.resolve(uncharged.review_id, car.id, by="alice", time=at)
    assert receipt.fee == Decimal("5.00") and receipt.duration == timedelta(hours=2, minutes=5)
    assert receipt.exit_gate == "south" and receipt.similarity is None
    case = lot.store.review(uncharged.review_id)
    assert (case.status, case.resolution, case.resolved_session, case.resolved_by, case.resolved_at) == (
        "resolved", "match", car.id, "alice", at)
    other_gate = ParkingLot(TARIFF, Store(store_url))                  # a second process on the same database
    for attempt in (lambda: lot.resolve(uncharged.review_id, car.id, by="alice"),
                    lambda: other_gate.resolve(uncharged.review_id, None, by="bob")):
        with pytest.raises(StoreError, match=r"already resolved \(match session \d+\) by alice"):
            attempt()
    closed = lot.store.sessions("closed")
    assert len(closed) == 1 and closed[0].fee == Decimal("5.00") and lot.store.reviews("open") == []
    assert lot.store.review(uncharged.review_id).resolved_by == "alice"


def test_a_review_cannot_charge_a_closed_session_and_stays_open(lot: ParkingLot):
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(1, 0))
    later = lot.enter(None, "north", T0 + timedelta(hours=3), vehicle_type="car", embedding=unit(0, 1))
    case = lot.exit(None, "south", T0 + timedelta(hours=1), vehicle_type="car", embedding=unit(1, 1.5))
    lot.close(car.id, "south", T0 + timedelta(hours=1))                 # closed at the gate meanwhile
    with pytest.raises(StoreError, match="not open"):
        lot.resolve(case.review_id, car.id, by="alice")
    with pytest.raises(ValueError, match="before session"):             # entered after the exit
        lot.resolve(case.review_id, later.id, by="alice")
    assert lot.store.review(case.review_id).status == "open" and lot.store.session(later.id).status == "open"
    resolved = lot.resolve(case.review_id, None, by="alice")
    assert isinstance(resolved, Review) and resolved.resolution == "no-match" and resolved.resolved_session is None
    assert [s.id for s in lot.store.sessions("closed")] == [car.id]


def test_a_parking_store_from_before_reviews_were_resolved_gets_the_columns(tmp_path: Path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:         # the tables as the first release created them
        conn.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, status VARCHAR(8) NOT NULL, vehicle_type "
                     "VARCHAR(32) NOT NULL, type_confidence FLOAT, embedding BLOB NOT NULL, entry_gate VARCHAR(64) NOT NULL, "
                     "entry_time DATETIME NOT NULL, entry_image TEXT, exit_gate VARCHAR(64), exit_time DATETIME, "
                     "similarity FLOAT, fee VARCHAR(32), currency VARCHAR(3), closed_by VARCHAR(8))")
        conn.execute("CREATE TABLE reviews (id INTEGER PRIMARY KEY, kind VARCHAR(10) NOT NULL, gate VARCHAR(64) NOT NULL, "
                     "time DATETIME NOT NULL, vehicle_type VARCHAR(32) NOT NULL, image TEXT, candidates TEXT NOT NULL)")
        conn.execute("INSERT INTO sessions (status, vehicle_type, embedding, entry_gate, entry_time) VALUES "
                     "('open', 'car', ?, 'north', '2026-05-01 08:00:00.000000')", (unit(1, 0).tobytes(),))
        conn.execute("INSERT INTO reviews (kind, gate, time, vehicle_type, candidates) VALUES "
                     "('unmatched', 'south', '2026-05-01 09:30:00.000000', 'car', '[[1, 0.5]]')")
    lot = ParkingLot(TARIFF, Store(path))
    assert lot.store.reviews("open")[0].status == "open" and lot.store.session(1).make is None
    assert lot.resolve(1, 1, by="carol").fee == TARIFF.fee("car", timedelta(hours=1, minutes=30))


def test_naive_times_are_refused(lot: ParkingLot):
    with pytest.raises(NaiveTimeError, match="no time zone"):
        lot.enter(None, "north", datetime(2026, 5, 1, 8), vehicle_type="car", embedding=unit(1, 0))


def test_open_sessions_survive_a_restart(store_url: str):
    ParkingLot(TARIFF, Store(store_url)).enter(None, "north", T0, vehicle_type="motorcycle", embedding=unit(0, 1))
    reopened = ParkingLot(TARIFF, Store(store_url))
    receipt = reopened.exit(None, "south", T0 + timedelta(minutes=90), vehicle_type="motorcycle", embedding=unit(0, 1))
    assert isinstance(receipt, Receipt) and receipt.fee == Decimal("1.00")


def test_real_images_recognised_with_the_shipped_models(reid_test: Path):
    """bus 0002 seen by the two cameras (similarity 0.75 with the shipped re-ID model), car 0001 also parked."""
    lot = ParkingLot(TARIFF, Store("sqlite://"), threshold=0.7, margin=0.1)
    bus = lot.enter(reid_test / "bus_0002_cam1.jpg", "north", T0)
    lot.enter(reid_test / "car_0001_cam1.jpg", "north", T0 + timedelta(minutes=1))
    assert bus.vehicle_type in TARIFF.classes and 0 < bus.type_confidence <= 1
    assert bus.entry_image.endswith("bus_0002_cam1.jpg")
    receipt = lot.exit(reid_test / "bus_0002_cam2.jpg", "south", T0 + timedelta(hours=1))
    assert isinstance(receipt, Receipt) and receipt.session_id == bus.id and receipt.similarity > 0.7
    strict = lot.exit(reid_test / "car_0001_cam2.jpg", "south", T0 + timedelta(hours=2))   # 0.50 < 0.7
    assert isinstance(strict, UnmatchedExit) and strict.candidates[0].similarity < 0.7


def _exit_gate(url: str, gate: str, rounds: int, barrier, results) -> None:
    """One exit gate in its own process: at each round, exits vehicle ``round`` together with the other gate."""
    lot = ParkingLot(TARIFF, Store(url), threshold=0.8, margin=0.05)
    for r in range(rounds):
        barrier.wait(timeout=60)
        result = lot.exit(None, gate, T0 + timedelta(hours=1), vehicle_type="car", embedding=np.eye(ROUNDS)[r])
        results.put((r, gate, result.kind, getattr(result, "session_id", None)))


ROUNDS = 20


def test_two_gates_exiting_one_vehicle_at_once_charge_it_once(store_url: str):
    """Real concurrency: two processes exit the same vehicle at the same moment, 20 times; each
    vehicle is charged exactly once and the other gate's exit becomes a review case."""
    import multiprocessing

    store = Store(store_url)
    sessions = [store.add_session("car", 0.9, np.eye(ROUNDS)[r], "north", T0) for r in range(ROUNDS)]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    gates = [context.Process(target=_exit_gate, args=(store_url, gate, ROUNDS, barrier, results)) for gate in "AB"]
    for gate in gates:
        gate.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * ROUNDS)]
    for gate in gates:
        gate.join(timeout=60)
        assert gate.exitcode == 0
    for r in range(ROUNDS):
        kinds = sorted(kind for round_, _, kind, _ in outcomes if round_ == r)
        assert kinds == ["receipt", "unmatched"], (r, kinds)
        assert {sid for round_, _, kind, sid in outcomes if round_ == r and kind == "receipt"} == {sessions[r].id}
    closed = store.sessions("closed")
    assert len(closed) == ROUNDS and all(s.fee == Decimal("2.00") for s in closed)
    assert len(store.reviews("open")) == ROUNDS
