"""The database under the parking and traffic stores: one engine, its tables, and one-row reads and
writes (SQLAlchemy Core).

A plain path is a SQLite file in WAL mode with ``synchronous=FULL`` (every write is its own committed
transaction, so anything a call has returned survives a crash or ``kill -9``); a SQLAlchemy URL
(``postgresql+psycopg://user@host/db``) runs the same code on PostgreSQL; ``"sqlite://"`` is in
memory. Opening creates the tables of :mod:`vehiclekit.apps.schema` and adds the columns a store of
an older release lacks.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sqlalchemy import Column, Table, insert, select
from sqlalchemy.exc import SQLAlchemyError

from vehiclekit.apps.errors import StoreError
from vehiclekit.apps.schema import add_missing_columns, metadata
from vehiclekit.db import store_engine


def vectors(rows: list[Any]) -> np.ndarray:
    """The rows' float32 ``embedding`` columns as an [N, D] array ([0, 0] for no rows)."""
    return np.stack([np.frombuffer(row.embedding, dtype=np.float32) for row in rows]) if rows else np.zeros((0, 0), np.float32)


class Database:
    """One store database, opened (and its tables created) at ``target``: a path or a SQLAlchemy URL."""

    def __init__(self, target: str | os.PathLike = "parking.db"):
        self.target = os.fspath(target)
        try:
            self.engine = store_engine(target)
            metadata.create_all(self.engine)
            add_missing_columns(self.engine)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open the store {self.target}: {e.__class__.__name__}: {e.orig or e}; "
                             "check the path/URL and that its folder exists and is writable") from None

    def _insert(self, table: Table, values: dict[str, Any]) -> int:
        """Insert one row, committed; its id."""
        with self.engine.begin() as conn:
            return conn.execute(insert(table).values(**values)).inserted_primary_key[0]

    def _row(self, table: Table, row_id: int, what: str, listing: str) -> Any:
        """One row by id; :class:`StoreError` naming ``what`` and where to list them when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.id == row_id)).first()
        if row is None:
            raise StoreError(f"no {what} {row_id} in {self.target}: list them with {listing}")
        return row

    def _rows(self, table: Table, time: Column, status: str | None) -> list[Any]:
        """Every row (or those with ``status``), by ``time`` then id."""
        query = select(table).order_by(time, table.c.id)
        if status is not None:
            query = query.where(table.c.status == status)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"
