"""The session store: WAL + synchronous=FULL, sessions survive a restart and a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from vehiclekit.apps import NaiveTimeError, Store, StoreError

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


def test_acknowledged_sessions_survive_kill_9(tmp_path: Path):
    db = tmp_path / "parking.db"
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


def test_times_come_back_aware_utc_and_naive_times_are_refused(tmp_path: Path):
    store = Store(tmp_path / "p.db")
    berlin = datetime(2026, 7, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    session = store.add_session("car", None, np.ones(4, np.float32), "north", berlin)
    assert session.entry_time == berlin and session.entry_time.tzinfo == UTC
    with pytest.raises(NaiveTimeError, match="no time zone"):
        store.add_session("car", None, np.ones(4, np.float32), "north", datetime(2026, 7, 1, 10))


def test_closing_twice_or_unknown_ids_are_errors(tmp_path: Path):
    store = Store(tmp_path / "p.db")
    session = store.add_session("car", None, np.ones(4, np.float32), "north", T0)
    store.close_session(session.id, "south", T0 + timedelta(hours=1), 0.9, 1, "EUR", "match")
    with pytest.raises(StoreError, match="not open"):
        store.close_session(session.id, "south", T0 + timedelta(hours=2), 0.9, 1, "EUR", "match")
    with pytest.raises(StoreError, match="no parking session 99"):
        store.session(99)


def test_unopenable_store_says_what_to_check(tmp_path: Path):
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(tmp_path / "no" / "such" / "dir" / "p.db")
