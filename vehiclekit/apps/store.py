"""One database for a car park and its traffic statistics: :class:`Store` is a
:class:`~vehiclekit.apps.parking_store.ParkingStore` (parking sessions, exits recorded for
settlement, exits awaiting review) and a :class:`~vehiclekit.apps.traffic_store.TrafficStore`
(traffic events) over the same engine.

``Store("parking.db")`` opens (creating if needed) a SQLite file in WAL mode with
``synchronous=FULL``: every write is its own committed transaction, so anything a call has returned
survives a crash or ``kill -9``. A SQLAlchemy URL (``postgresql+psycopg://user@host/db``) runs the
same code on PostgreSQL (driver: ``psycopg``; the store and parking tests run on a real server).
``"sqlite://"`` is an in-memory store.

Times are stored as UTC and returned timezone-aware (UTC); naive datetimes are refused. Embeddings
are float32 bytes; money is stored as decimal text (exact). The tables: :mod:`vehiclekit.apps.schema`.
"""

from __future__ import annotations

from vehiclekit.apps.parking_store import ParkingStore
from vehiclekit.apps.traffic_store import TrafficStore


class Store(ParkingStore, TrafficStore):
    """Sessions, recorded exits, reviews and events in one database (see the module docstring)."""
