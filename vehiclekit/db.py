"""SQLAlchemy engines for vehiclekit's small databases (the parking/statistics store, the label store).

A plain path is a SQLite file opened in WAL mode with ``synchronous=FULL`` (a committed write
survives a crash or ``kill -9``) and a 10 s busy timeout (a second process waits instead of failing);
anything with ``://`` is a SQLAlchemy URL (``postgresql+psycopg://user@host/db``); ``"sqlite://"`` is
in memory (one connection shared by threads).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def store_engine(target: str | os.PathLike) -> Engine:
    """An engine for a SQLAlchemy URL, or for a SQLite file path (WAL + synchronous=FULL)."""
    text = os.fspath(target)
    url = text if "://" in text else f"sqlite:///{Path(text).expanduser()}"
    kwargs: dict[str, Any] = {}
    if url in ("sqlite://", "sqlite:///:memory:"):
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine
