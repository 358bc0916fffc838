"""Durable storage of a car park: parking sessions, exits recorded for settlement and exits awaiting
review, with the transactions that close sessions, settle exits and resolve reviews.

``ParkingStore("parking.db")`` opens the database as :class:`~vehiclekit.apps.database.Database`
does. Times are stored as UTC and returned timezone-aware (UTC); naive datetimes are refused.
Embeddings are float32 bytes; money is stored as decimal text (exact). The tables:
:mod:`vehiclekit.apps.schema`.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import insert, select, update

from vehiclekit.apps.database import Database, vectors
from vehiclekit.apps.errors import SessionClosedError, SettlementConflict, StoreError
from vehiclekit.apps.results import ParkingSession, RecordedExit, Review
from vehiclekit.apps.schema import exits, reviews, sessions
from vehiclekit.apps.times import require_aware


def _review(row: Any) -> Review:
    return Review(**{**row._mapping, "candidates": json.loads(row.candidates)})


def _observed(vehicle_type: str, type_confidence: float | None, embedding: np.ndarray, make: str | None,
              make_confidence: float | None) -> dict[str, Any]:
    """The columns of what was recognised of a vehicle at a gate (sessions and recorded exits alike)."""
    return {"vehicle_type": vehicle_type, "type_confidence": type_confidence, "make": make,
            "make_confidence": make_confidence, "embedding": np.asarray(embedding, np.float32).tobytes()}


def _recorded_exit(row: Any) -> RecordedExit:
    return RecordedExit(**{k: v for k, v in row._mapping.items() if k != "embedding"})


def _session(row: Any) -> ParkingSession:
    fields = dict(row._mapping)
    fields.pop("embedding", None)
    fields["fee"] = Decimal(fields["fee"]) if fields["fee"] is not None else None
    return ParkingSession(**fields)


class ParkingStore(Database):
    """Sessions, recorded exits and reviews in one database (see the module docstring)."""

    # --- parking sessions -------------------------------------------------------------------
    def add_session(self, vehicle_type: str, type_confidence: float | None, embedding: np.ndarray,
                    gate: str, time: datetime, image: str | None = None, make: str | None = None,
                    make_confidence: float | None = None) -> ParkingSession:
        """Open a session; returns once it is committed (durable)."""
        values = {"status": "open", "entry_gate": gate, "entry_time": require_aware(time, "entry time"),
                  "entry_image": image, **_observed(vehicle_type, type_confidence, embedding, make, make_confidence)}
        return self.session(self._insert(sessions, values))

    def session(self, session_id: int) -> ParkingSession:
        """One session by id; :class:`StoreError` when there is none."""
        return _session(self._row(sessions, session_id, "parking session", "`vehiclekit parking sessions`"))

    def sessions(self, status: str | None = None) -> list[ParkingSession]:
        """All sessions (or those with ``status`` open/closed), oldest entry first."""
        return [_session(row) for row in self._rows(sessions, sessions.c.entry_time, status)]

    def open_embeddings(self, before: datetime) -> tuple[list[ParkingSession], np.ndarray]:
        """Open sessions that entered at or before ``before`` and their embeddings [N, D]."""
        query = (select(sessions).where(sessions.c.status == "open", sessions.c.entry_time <= require_aware(before))
                 .order_by(sessions.c.id))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
        return [_session(row) for row in rows], vectors(rows)

    def close_session(self, session_id: int, gate: str, time: datetime, similarity: float | None,
                      fee: Decimal, currency: str, closed_by: str) -> ParkingSession:
        """Close an open session, atomically: one ``UPDATE ... WHERE status = 'open'``, so of two gates
        closing the same session at once exactly one succeeds (the database's row lock orders them);
        the other gets :class:`SessionClosedError`."""
        values = {"status": "closed", "exit_gate": gate, "exit_time": require_aware(time, "exit time"),
                      "similarity": similarity, "fee": str(fee), "currency": currency, "closed_by": closed_by}
        with self.engine.begin() as conn:
            changed = conn.execute(update(sessions).where(sessions.c.id == session_id, sessions.c.status == "open")
                                   .values(**values)).rowcount
        if changed != 1:
            self.session(session_id)       # raises StoreError for an unknown id
            raise SessionClosedError(f"parking session {session_id} is not open: it was already closed; list the "
                                     "open ones with `vehiclekit parking sessions`")
        return self.session(session_id)

    # --- exits awaiting a human ---------------------------------------------------------------
    def add_review(self, kind: str, gate: str, time: datetime, vehicle_type: str,
                   candidates: list[tuple[int, float]], image: str | None = None) -> int:
        """Record an exit that was not charged; returns its review id."""
        values = {"kind": kind, "gate": gate, "time": require_aware(time, "exit time"), "vehicle_type": vehicle_type,
                      "image": image, "candidates": json.dumps(candidates)}
        with self.engine.begin() as conn:
            return conn.execute(insert(reviews).values(**values)).inserted_primary_key[0]

    def reviews(self, status: str | None = None) -> list[Review]:
        """Every exit recorded for review (or those ``open`` / ``resolved``), oldest first."""
        query = select(reviews).order_by(reviews.c.time, reviews.c.id)
        if status is not None:
            query = query.where(reviews.c.resolution.is_(None) if status == "open" else reviews.c.resolution.is_not(None))
        with self.engine.connect() as conn:
            return [_review(row) for row in conn.execute(query)]

    def review(self, review_id: int) -> Review:
        """One review by id; :class:`StoreError` when there is none."""
        with self.engine.connect() as conn:
            return self._review(conn, review_id)

    def _review(self, conn: Any, review_id: int) -> Review:
        row = conn.execute(select(reviews).where(reviews.c.id == review_id)).first()
        if row is None:
            raise StoreError(f"no review {review_id} in {self.target}: list the open ones with `vehiclekit parking review`")
        return _review(row)

    def resolve_review(self, review_id: int, by: str, at: datetime, session_id: int | None = None,
                       close: dict[str, Any] | None = None) -> Review:
        """Record a human's decision on review ``review_id`` and, with ``session_id``, close that
        session with the ``close`` values — in one transaction: a review already resolved or a
        session no longer open raises :class:`StoreError` and changes nothing (so a stay is charged
        at most once, whoever resolves first)."""
        decision = {"resolution": "no-match" if session_id is None else "match", "resolved_session": session_id,
                    "resolved_by": by, "resolved_at": require_aware(at, "resolution time")}
        with self.engine.begin() as conn:
            changed = conn.execute(update(reviews).where(reviews.c.id == review_id, reviews.c.resolution.is_(None))
                                   .values(**decision)).rowcount
            if changed != 1:
                done = self._review(conn, review_id)       # inside the transaction; raises for an unknown id
                raise StoreError(f"review {review_id} was already resolved ({done.resolution}"
                                 f"{f' session {done.resolved_session}' if done.resolved_session else ''}) by "
                                 f"{done.resolved_by} at {done.resolved_at.isoformat()}: nothing changed")
            exit_id = conn.execute(select(reviews.c.exit_id).where(reviews.c.id == review_id)).scalar()
            if session_id is not None:
                changed = conn.execute(update(sessions).where(sessions.c.id == session_id, sessions.c.status == "open")
                                       .values(status="closed", exit_id=exit_id, **(close or {}))).rowcount
                if changed != 1:
                    raise SessionClosedError(f"parking session {session_id} is not open (already closed, or no such "
                                             f"id): review {review_id} left open; pick an open session from "
                                             "`vehiclekit parking review`")
            if exit_id is not None:        # a settlement's exit: it leaves the next settlement's problem
                conn.execute(update(exits).where(exits.c.id == exit_id, exits.c.status == "review")
                             .values(status="no-match" if session_id is None else "charged", session_id=session_id))
        return self.review(review_id)

    # --- exits recorded for settlement ----------------------------------------------------------
    def add_exit(self, vehicle_type: str, type_confidence: float | None, embedding: np.ndarray, gate: str,
                 time: datetime, image: str | None = None, make: str | None = None,
                 make_confidence: float | None = None) -> RecordedExit:
        """Store an exit to be charged by a later settlement (status ``pending``); returns once committed."""
        values = {"status": "pending", "gate": gate, "time": require_aware(time, "exit time"), "image": image,
                  **_observed(vehicle_type, type_confidence, embedding, make, make_confidence)}
        return self.recorded_exit(self._insert(exits, values))

    def recorded_exit(self, exit_id: int) -> RecordedExit:
        """One recorded exit by id; :class:`StoreError` when there is none."""
        return _recorded_exit(self._row(exits, exit_id, "recorded exit", "`vehiclekit parking sessions --exits`"))

    def recorded_exits(self, status: str | None = None) -> list[RecordedExit]:
        """Every recorded exit (or those with ``status``), in time order."""
        return [_recorded_exit(row) for row in self._rows(exits, exits.c.time, status)]

    def settlement_problem(self, until: datetime) -> tuple[list[RecordedExit], np.ndarray, list[ParkingSession], np.ndarray]:
        """What a settlement up to ``until`` decides over, read in one transaction: the exits not yet
        charged (``pending``, and those awaiting a person, who are somebody too) and the sessions open
        then, each with its embeddings [N, D]."""
        until = require_aware(until, "settlement time")
        with self.engine.begin() as conn:
            exit_rows = list(conn.execute(select(exits).where(exits.c.status.in_(("pending", "review")),
                                                             exits.c.time <= until).order_by(exits.c.time, exits.c.id)))
            session_rows = list(conn.execute(select(sessions).where(sessions.c.status == "open",
                                                                   sessions.c.entry_time <= until).order_by(sessions.c.id)))
        return ([_recorded_exit(r) for r in exit_rows], vectors(exit_rows),
                [_session(r) for r in session_rows], vectors(session_rows))

    def apply_settlement(self, charges: list[dict[str, Any]], to_review: list[dict[str, Any]]) -> list[int]:
        """Charge and send to review in one transaction. ``charges``: ``exit_id``, ``session_id``,
        ``similarity``, ``confidence`` and the session's ``close`` values; ``to_review``: ``exit_id``,
        the ``review`` row and the ``proposed_session`` / ``similarity`` / ``confidence`` (or None).
        Every exit must still be pending and every session open: otherwise another settler or gate
        came first, nothing is written and :class:`SettlementConflict` is raised (settle again).
        Returns the new review ids, in order."""
        with self.engine.begin() as conn:
            for c in charges:
                pair = {"session_id": c["session_id"], "proposed_session": c["session_id"],
                        "similarity": c["similarity"], "confidence": c["confidence"]}
                charged = conn.execute(update(exits).where(exits.c.id == c["exit_id"], exits.c.status == "pending")
                                       .values(status="charged", **pair)).rowcount
                closed = charged and conn.execute(
                    update(sessions).where(sessions.c.id == c["session_id"], sessions.c.status == "open")
                    .values(status="closed", exit_id=c["exit_id"], **c["close"])).rowcount
                if not closed:
                    raise SettlementConflict(f"exit {c['exit_id']} or session {c['session_id']} was settled meanwhile")
            review_ids = []
            for r in to_review:
                row = {**r["review"], "candidates": json.dumps(r["review"]["candidates"]), "exit_id": r["exit_id"]}
                review_id = conn.execute(insert(reviews).values(**row)).inserted_primary_key[0]
                proposal = {"proposed_session": r["proposed_session"], "similarity": r["similarity"],
                            "confidence": r["confidence"], "review_id": review_id}
                if conn.execute(update(exits).where(exits.c.id == r["exit_id"], exits.c.status == "pending")
                                .values(status="review", **proposal)).rowcount != 1:
                    raise SettlementConflict(f"exit {r['exit_id']} was settled meanwhile")
                review_ids.append(review_id)
        return review_ids

    def labelled_pairs(self) -> list[tuple[float | None, bool]]:
        """The car park's own labelled cases for calibration: every recorded exit a person resolved,
        as (the settlement's pair confidence, or None when it proposed no session; whether the
        person charged the proposed session)."""
        query = (select(exits.c.confidence, exits.c.proposed_session, exits.c.session_id)
                 .where(exits.c.review_id.is_not(None), exits.c.status.in_(("charged", "no-match"))))
        with self.engine.connect() as conn:
            return [(None if r.proposed_session is None else r.confidence,
                     r.proposed_session is not None and r.proposed_session == r.session_id) for r in conn.execute(query)]
