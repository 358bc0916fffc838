"""Durable storage of traffic events (a vehicle passing a gate) with their re-ID embeddings.

``TrafficStore("stats.db")`` opens the database as :class:`~vehiclekit.apps.database.Database`
does; times go in aware and come back aware (UTC).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import insert, select

from vehiclekit.apps.database import Database, vectors
from vehiclekit.apps.results import TrafficEvent
from vehiclekit.apps.schema import events
from vehiclekit.apps.times import require_aware


class TrafficStore(Database):
    """Traffic events and their embeddings in one database."""

    def add_events(self, items: list[tuple[TrafficEvent, np.ndarray]]) -> None:
        """Append traffic events with their embeddings, in one transaction."""
        rows = [dict(e.model_dump(exclude={"id"}), embedding=np.asarray(v, np.float32).tobytes()) for e, v in items]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(events), rows)

    def events(self, start: datetime | None = None, end: datetime | None = None) -> tuple[list[TrafficEvent], np.ndarray]:
        """Events with ``start <= time < end`` in time order, and their embeddings [N, D]."""
        query = select(events).order_by(events.c.time, events.c.id)
        if start is not None:
            query = query.where(events.c.time >= require_aware(start, "start"))
        if end is not None:
            query = query.where(events.c.time < require_aware(end, "end"))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
        return [TrafficEvent(**{k: v for k, v in row._mapping.items() if k != "embedding"}) for row in rows], vectors(rows)
