"""The tables of the parking and statistics store (SQLAlchemy Core), and their migration.

Times are stored as naive UTC and come back aware (:class:`UtcDateTime`); embeddings are float32
bytes; money is decimal text. A store created by an older release gains the columns added since
(:data:`ADDED_COLUMNS`) when it is opened.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy import text as sql
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

from vehiclekit.apps.times import require_aware


class UtcDateTime(TypeDecorator):
    """Aware datetimes in, stored as naive UTC, aware UTC out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return require_aware(value).astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _recognised() -> list[Column]:
    """What was recognised of a vehicle at a gate, and its picture: new column objects for each table."""
    return [Column("vehicle_type", String(32), nullable=False), Column("type_confidence", Float),
            Column("embedding", LargeBinary, nullable=False), Column("image", Text), Column("make", String(64)),
            Column("make_confidence", Float)]


metadata = MetaData()
sessions = Table(
    "sessions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(8), nullable=False, index=True),            # open | closed
    Column("vehicle_type", String(32), nullable=False),
    Column("type_confidence", Float),
    Column("embedding", LargeBinary, nullable=False),
    Column("entry_gate", String(64), nullable=False),
    Column("entry_time", UtcDateTime, nullable=False),
    Column("entry_image", Text),
    Column("exit_gate", String(64)),
    Column("exit_time", UtcDateTime),
    Column("similarity", Float),
    Column("fee", String(32)),
    Column("currency", String(3)),
    Column("closed_by", String(8)),                                      # match | manual
    Column("make", String(64)),
    Column("make_confidence", Float),
    Column("exit_id", Integer),                                          # the recorded exit a settlement charged
)
exits = Table(
    "exits", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(8), nullable=False, index=True),            # pending | charged | review | no-match
    Column("gate", String(64), nullable=False),
    Column("time", UtcDateTime, nullable=False, index=True),
    *_recognised(),
    Column("session_id", Integer),                                       # charged to
    Column("proposed_session", Integer),                                 # the settlement's pair, if any
    Column("similarity", Float),                                         # of the proposed pair
    Column("confidence", Float),                                         # of the proposed pair (assignment)
    Column("review_id", Integer),
)
reviews = Table(
    "reviews", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(10), nullable=False),                          # unmatched | ambiguous
    Column("gate", String(64), nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("vehicle_type", String(32), nullable=False),
    Column("image", Text),
    Column("candidates", Text, nullable=False),                          # JSON [[session id, similarity], ...]
    Column("resolution", String(8)),                                     # NULL (open) | match | no-match
    Column("resolved_session", Integer),
    Column("resolved_by", String(64)),
    Column("resolved_at", UtcDateTime),
    Column("exit_id", Integer),                                          # a settlement's recorded exit
)
events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", UtcDateTime, nullable=False, index=True),
    Column("gate", String(64), nullable=False),
    Column("direction", String(5), nullable=False),                      # entry | exit
    *_recognised(),
)
#: Columns added to a table after its first release: (table, column, SQL type). A store created
#: before gets them with ALTER TABLE on open (nullable, so old rows read as None).
ADDED_COLUMNS = ((events, "make", "VARCHAR(64)"), (events, "make_confidence", "FLOAT"),
                 (sessions, "make", "VARCHAR(64)"), (sessions, "make_confidence", "FLOAT"),
                 (reviews, "resolution", "VARCHAR(8)"), (reviews, "resolved_session", "INTEGER"),
                 (reviews, "resolved_by", "VARCHAR(64)"), (reviews, "resolved_at", "TIMESTAMP"),
                 (sessions, "exit_id", "INTEGER"), (reviews, "exit_id", "INTEGER"))


def add_missing_columns(engine: Engine) -> None:
    """ALTER TABLE ... ADD COLUMN for each of :data:`ADDED_COLUMNS` the database lacks."""
    present = {t.name: {c["name"] for c in inspect(engine).get_columns(t.name)} for t, _, _ in ADDED_COLUMNS}
    with engine.begin() as conn:
        for table, column, sql_type in ADDED_COLUMNS:
            if column not in present[table.name]:
                conn.execute(sql(f"ALTER TABLE {table.name} ADD COLUMN {column} {sql_type}"))
