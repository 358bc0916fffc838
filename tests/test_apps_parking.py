"""ParkingLot: receipts, unmatched and ambiguous exits (never charged), restart, real images and models."""

from __future__ import annotations

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
    Store,
    StoreError,
    UnmatchedExit,
    load_tariff,
)
from vehiclekit.paths import REPO_ROOT

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TARIFF = load_tariff(REPO_ROOT / "deploy" / "tariff.example.yaml")


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def lot() -> ParkingLot:
    return ParkingLot(TARIFF, Store("sqlite://"), threshold=0.8, margin=0.05)


@pytest.fixture(scope="module")
def reid_test(data_dir: Path) -> Path:
    return data_dir / "vehicle-reid" / "images" / "test"


def test_clear_match_is_charged_by_the_entry_type(lot: ParkingLot):
    lot.enter(None, "north", T0, vehicle_type="truck", embedding=unit(1, 0, 0))
    car = lot.enter(None, "north", T0, vehicle_type="car", embedding=unit(0, 1, 0))
    receipt = lot.exit(None, "south", T0 + timedelta(hours=2, minutes=5), vehicle_type="truck", embedding=unit(0.1, 1, 0))
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
    b = lot.enter(None, "north", T0 + timedelta(minutes=5), vehicle_type="pickup", embedding=unit(1, -0.02, 0))
    result = lot.exit(None, "south", T0 + timedelta(hours=3), vehicle_type="car", embedding=unit(1, 0, 0))
    assert isinstance(result, AmbiguousExit) and result.needs_review
    assert {c.session_id for c in result.candidates} == {a.id, b.id}
    assert len(lot.store.sessions("open")) == 2                                # nobody charged
    receipt = lot.close(b.id, "south", result.exit_time)                      # the reviewer's decision
    assert receipt.similarity is None and receipt.fee == TARIFF.fee("pickup", timedelta(hours=2, minutes=55))
    assert lot.store.session(b.id).closed_by == "manual"
    with pytest.raises(StoreError, match="not open"):
        lot.close(b.id, "south", result.exit_time)


def test_sessions_that_entered_after_the_exit_are_not_candidates(lot: ParkingLot):
    lot.enter(None, "north", T0 + timedelta(hours=5), vehicle_type="car", embedding=unit(1, 0))
    assert isinstance(lot.exit(None, "south", T0, vehicle_type="car", embedding=unit(1, 0)), UnmatchedExit)


def test_naive_times_are_refused(lot: ParkingLot):
    with pytest.raises(NaiveTimeError, match="no time zone"):
        lot.enter(None, "north", datetime(2026, 5, 1, 8), vehicle_type="car", embedding=unit(1, 0))


def test_open_sessions_survive_a_restart(tmp_path: Path):
    ParkingLot(TARIFF, Store(tmp_path / "p.db")).enter(None, "north", T0, vehicle_type="motorcycle", embedding=unit(0, 1))
    reopened = ParkingLot(TARIFF, Store(tmp_path / "p.db"))
    receipt = reopened.exit(None, "south", T0 + timedelta(minutes=90), vehicle_type="motorcycle", embedding=unit(0, 1))
    assert isinstance(receipt, Receipt) and receipt.fee == Decimal("1.00")


def test_real_images_recognised_with_the_shipped_models(reid_test: Path):
    """bus 0002 seen by the two cameras (similarity ~0.75 with the shipped re-ID model), car 0001 also parked."""
    lot = ParkingLot(TARIFF, Store("sqlite://"), threshold=0.7, margin=0.1)
    bus = lot.enter(reid_test / "bus_0002_cam1.jpg", "north", T0)
    lot.enter(reid_test / "car_0001_cam1.jpg", "north", T0 + timedelta(minutes=1))
    assert bus.vehicle_type in TARIFF.classes and 0 < bus.type_confidence <= 1
    assert bus.entry_image.endswith("bus_0002_cam1.jpg")
    receipt = lot.exit(reid_test / "bus_0002_cam2.jpg", "south", T0 + timedelta(hours=1))
    assert isinstance(receipt, Receipt) and receipt.session_id == bus.id and receipt.similarity > 0.7
    strict = lot.exit(reid_test / "car_0001_cam2.jpg", "south", T0 + timedelta(hours=2))   # ~0.48 < 0.7
    assert isinstance(strict, UnmatchedExit) and strict.candidates[0].similarity < 0.7
