"""The session store on SQLite and on a real PostgreSQL server: WAL + synchronous=FULL (SQLite),
sessions survive a restart and a kill -9, a gate killed mid-exit charges nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from vehiclekit.apps import NaiveTimeError, ParkingStore, SessionClosedError, Store, StoreError, TrafficEvent, TrafficStore

T0 = datetime(2026, 1, 1, 8, tzinfo=UTC)
WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timedelta, timezone
    import numpy as np
    from vehiclekit.apps.store import Store
    store = Store(sys.argv[1])
    rng = np.random.default_rng(0)
    for i in range(100000):
        session = store.add_session("car", 0.9, rng.standard_normal(256).astype(np.float32), "north",
                                    datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=i))
        print(session.id, flush=True)      # acknowledged: add_session has committed
""")


def test_sqlite_file_uses_wal_and_full_sync(tmp_path: Path):
    store = Store(tmp_path / "p.db")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2      # FULL


def test_acknowledged_sessions_survive_kill_9(store_url: str):
    db = store_url
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    acked = [int(writer.stdout.readline()) for _ in range(30)]
    os.kill(writer.pid, signal.SIGKILL)                                   # mid-way, while it keeps writing
    acked += [int(line) for line in writer.stdout.read().split()]         # acknowledged before it died
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    store = Store(db)
    stored = {s.id: s for s in store.sessions("open")}
    assert set(acked) <= set(stored), f"lost acknowledged sessions {sorted(set(acked) - set(stored))}"
    ids, vectors = store.open_embeddings(before=T0)
    assert vectors.shape == (len(ids), 256)
    assert store.add_session("motorcycle", None, np.ones(256, np.float32), "north", T0).id > max(acked)   # still writable


def test_times_come_back_aware_utc_and_naive_times_are_refused(store_url: str):
    store = Store(store_url)
    berlin = datetime(2026, 7, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    session = store.add_session("car", None, np.ones(4, np.float32), "north", berlin)
    assert session.entry_time == berlin and session.entry_time.tzinfo == UTC
    with pytest.raises(NaiveTimeError, match="no time zone"):
        store.add_session("car", None, np.ones(4, np.float32), "north", datetime(2026, 7, 1, 10))


def test_closing_twice_or_unknown_ids_are_errors(store_url: str):
    store = Store(store_url)
    session = store.add_session("car", None, np.ones(4, np.float32), "north", T0)
    store.close_session(session.id, "south", T0 + timedelta(hours=1), 0.9, 1, "EUR", "match")
    with pytest.raises(SessionClosedError, match="not open"):
        store.close_session(session.id, "south", T0 + timedelta(hours=2), 0.9, 1, "EUR", "match")
    with pytest.raises(StoreError, match="no parking session 99"):
        store.session(99)


def test_parking_and_traffic_stores_share_one_database(tmp_path: Path):
    path = tmp_path / "both.db"
    session = ParkingStore(path).add_session("car", None, np.ones(4, np.float32), "north", T0)
    event = TrafficEvent(time=T0, gate="north", direction="entry", vehicle_type="bus", type_confidence=0.9)
    TrafficStore(path).add_events([(event, np.ones(4, np.float32))])
    both = Store(path)
    assert [s.id for s in both.sessions()] == [session.id] and both.events()[0][0].vehicle_type == "bus"
    assert repr(both) == f"Store({str(path)!r})" and repr(TrafficStore(path)).startswith("TrafficStore(")


def test_unopenable_store_says_what_to_check(tmp_path: Path):
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(tmp_path / "no" / "such" / "dir" / "p.db")


EXITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timedelta, timezone
    import numpy as np
    from vehiclekit.apps import ParkingLot, Store, load_tariff
    lot = ParkingLot(load_tariff(sys.argv[2]), Store(sys.argv[1]), threshold=0.8, margin=0.05)
    for r in range(int(sys.argv[3])):
        receipt = lot.exit(None, "south", datetime(2026, 1, 1, 9, tzinfo=timezone.utc), vehicle_type="car",
                           embedding=np.eye(int(sys.argv[3]))[r])
        print(receipt.session_id, flush=True)      # acknowledged: the charge is committed
""")


@pytest.mark.slow
def test_a_gate_killed_mid_exit_loses_nothing_and_charges_nothing_twice(store_url: str):
    from vehiclekit.apps import ParkingLot, load_tariff
    from vehiclekit.paths import REPO_ROOT

    n, tariff = 300, str(REPO_ROOT / "deploy" / "tariff.example.yaml")
    store = Store(store_url)
    ids = [store.add_session("car", 0.9, np.eye(n)[r], "north", T0).id for r in range(n)]
    gate = subprocess.Popen([sys.executable, "-c", EXITER, store_url, tariff, str(n)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    acked = [int(gate.stdout.readline()) for _ in range(20)]
    os.kill(gate.pid, signal.SIGKILL)                                     # mid-way through its exits
    acked += [int(line) for line in gate.stdout.read().split()]
    gate.wait(timeout=30)
    closed = {s.id for s in store.sessions("closed")}
    assert set(acked) <= closed and len(closed - set(acked)) <= 1, "an acknowledged charge was lost"
    assert len(closed) < n, "the gate finished before it was killed: nothing was tested"
    lot = ParkingLot(load_tariff(tariff), store, threshold=0.8, margin=0.05)    # the gate restarts, every vehicle exits again
    again = [lot.exit(None, "south", T0 + timedelta(hours=1), vehicle_type="car", embedding=np.eye(n)[r]) for r in range(n)]
    assert sum(result.kind == "receipt" for result in again) == n - len(closed)          # only the still-open ones
    assert {s.id for s in store.sessions("closed")} == set(ids)
    assert all(s.fee == Decimal("2.00") for s in store.sessions("closed"))                 # each charged once
