"""The shipped parking defaults, pinned: the val protocol (200 vehicles inside: the 102 val vehicles
and 98 of train that stay) run through ParkingLot with the real models, and zero wrong charges.

Settlement (``record_exit`` + ``settle``, DEFAULT_CUT / DEFAULT_FLOOR) and pay at the barrier
(``exit``, DEFAULT_THRESHOLD / DEFAULT_MARGIN), each direction, everyone-inside and day protocols.
The default cut must also be at least what calibration on the same val cases chooses, so that a
looser default (a smaller cut, a smaller margin) fails here."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from benchmarks.parking import evaluate_parking as barrier
from benchmarks.parking import evaluate_settlement as settlement
from benchmarks.parking.synthetic import distractor_visits, reid_pairs, synthetic_visits
from vehiclekit.apps import load_tariff
from vehiclekit.apps.calibration import calibrate
from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD
from vehiclekit.apps.observer import Observer
from vehiclekit.apps.settlement import DEFAULT_CUT, DEFAULT_FLOOR
from vehiclekit.paths import REPO_ROOT

pytestmark = pytest.mark.slow
INSIDE = 200
TARIFF = load_tariff(REPO_ROOT / "deploy" / "tariff.example.yaml")


@pytest.fixture(scope="module")
def protocols(data_dir: Path):
    """Per protocol: the val visits and the distractors; and every image recognised once, as the lot would."""
    pairs = reid_pairs(data_dir, "val")
    runs = {}
    for name in ("all-open", "day"):
        visits = synthetic_visits(pairs, seed=0, all_open=name == "all-open")
        runs[name] = (visits, distractor_visits(data_dir, "val", INSIDE, visits, seed=0))
    everyone = [v for visits, crowd in runs.values() for v in visits + crowd]
    return runs, barrier.recognise(everyone, Observer(makes=True), makes=True)


@pytest.mark.parametrize("protocol", ["all-open", "day"])
def test_settlement_defaults_charge_no_wrong_session_on_val(protocols, protocol: str):
    runs, seen = protocols
    visits, crowd = runs[protocol]
    every = timedelta(hours=1) if protocol == "day" else None
    for cam in (1, 2):
        outcome = settlement.simulate(visits, crowd, seen, TARIFF, cam, DEFAULT_CUT, DEFAULT_FLOOR, every)
        assert outcome.wrong == 0, f"{protocol} cam{cam}: {outcome.wrong} wrong charges with the shipped defaults"
        assert outcome.correct >= 0.5 * outcome.exits, f"{protocol} cam{cam}: only {outcome.correct} charged"
    cases = [c for cam in (1, 2) for c in settlement.simulate(visits, crowd, seen, TARIFF, cam, None, DEFAULT_FLOOR,
                                                                every).cases]
    chosen = calibrate(cases)
    assert chosen.cut is not None and DEFAULT_CUT >= chosen.cut, chosen.summary()


@pytest.mark.parametrize("protocol", ["all-open", "day"])
def test_pay_at_barrier_defaults_charge_no_wrong_session_on_val(protocols, protocol: str):
    runs, seen = protocols
    visits, crowd = runs[protocol]
    for cam in (1, 2):
        outcome = barrier.simulate(visits, seen, TARIFF, cam, DEFAULT_THRESHOLD, DEFAULT_MARGIN, "family", tuple(crowd))
        assert outcome.wrong == 0, f"{protocol} cam{cam}: {outcome.wrong} wrong charges with the shipped defaults"
        assert outcome.correct >= 0.3 * outcome.exits
