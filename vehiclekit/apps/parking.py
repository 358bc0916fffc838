"""Parking fees by vehicle type, with entry/exit matching by re-identification.

>>> from vehiclekit.apps import ParkingLot, Store, load_tariff
>>> lot = ParkingLot(load_tariff("deploy/tariff.example.yaml"), Store("parking.db"))   # doctest: +SKIP
>>> lot.enter("entry_cam.jpg", gate="north", time=datetime(2026, 5, 1, 8, 0, tzinfo=UTC))   # doctest: +SKIP
>>> lot.exit("exit_cam.jpg", gate="south", time=datetime(2026, 5, 1, 10, 5, tzinfo=UTC))    # doctest: +SKIP
Receipt(session_id=1, vehicle_type='car', ..., fee=Decimal('4.50'), similarity=0.83)

Two ways to charge. **Settlement** (for car parks that bill after the stay: ticketless, pay within
48 hours or by account): ``record_exit`` stores each exit, ``settle(until=...)`` matches all the
exits of a period jointly with the open sessions and charges the confident pairs
(:mod:`vehiclekit.apps.settlement`). **Pay at the barrier**: ``exit`` decides each exit alone, at
once, with stricter defaults. docs/apps.md says which to run and what each guarantees.

``exit`` compares the exit image with the *open* sessions that entered before it and whose vehicle
type (and confidently recognised make) agree with the exit's (see :mod:`vehiclekit.apps.matching`):
a clear match is closed and charged (:class:`Receipt`); no match (:class:`UnmatchedExit`) or two
close candidates (:class:`AmbiguousExit`) are never charged but recorded in the store as a review.
Two gates exiting the same vehicle at the same moment charge it once: the session is closed by a
conditional update, and the gate that loses the race decides again without that session.
A human settles a review with :meth:`ParkingLot.resolve` (``vehiclekit parking resolve``): the
chosen session is charged for the stay up to the recorded exit, or the exit is marked as no
match; the decision is stored with who and when, and a review (like a session) is settled once.
The store, not this object, holds the open sessions, so several gates (processes) can share one
database and a restart loses nothing.

The vehicle type (which prices the stay) is recognised at entry. ``vehicle_type`` /
``embedding`` (and ``make`` / ``make_confidence``) may be passed instead of recognising an image
(tests, evaluation, an external recogniser); the models load only when an image must be recognised.
"""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal

import numpy as np

from vehiclekit.apps.errors import SessionClosedError
from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD, TypeRule, compatible, decide, unit
from vehiclekit.apps.observer import Observation, Observer
from vehiclekit.apps.results import (
    AmbiguousExit,
    Candidate,
    ExitResult,
    ParkingSession,
    Receipt,
    RecordedExit,
    Review,
    Settlement,
    UnmatchedExit,
)
from vehiclekit.apps.settlement import DEFAULT_CUT, DEFAULT_FLOOR, settle
from vehiclekit.apps.parking_store import ParkingStore
from vehiclekit.apps.tariff import Tariff
from vehiclekit.apps.times import now, require_aware
from vehiclekit.sdk.image import ImageInput


def observe(observer: Observer, image: ImageInput | None, vehicle_type: str | None,
            embedding: np.ndarray | None, make: str | None = None, make_confidence: float | None = None) -> Observation:
    """Recognise ``image``, except for what the caller passed precomputed."""
    if vehicle_type is not None and embedding is not None:
        return Observation(vehicle_type, None, np.asarray(embedding, np.float32), make, make_confidence)
    if image is None:
        raise ValueError("pass an image, or both vehicle_type and embedding")
    seen = observer.observe(image)
    return Observation(vehicle_type or seen.vehicle_type, None if vehicle_type else seen.type_confidence,
                       seen.embedding if embedding is None else np.asarray(embedding, np.float32),
                       seen.make, seen.make_confidence)


def _image_name(image: ImageInput | None) -> str | None:
    """The path of an image given by path (kept with the session for a human), else None."""
    return os.fspath(image) if isinstance(image, (str, os.PathLike)) else None


class ParkingLot:
    """A car park: ``enter`` opens sessions, ``exit`` matches and charges them (see the module docstring).

    ``threshold`` is the lowest re-ID similarity charged; ``margin`` sends an exit to review when the
    two best candidate sessions are closer than it; ``types`` says how the exit's vehicle type must
    agree with a session's to be a candidate (``family``, ``exact`` or ``off``). ``floor`` is the
    lowest similarity a settlement pairs, ``cut`` the lowest pair confidence it charges (``None``:
    review-first, a person decides every exit). ``observer`` recognises images (default: the
    shipped classifier, make classifier and re-ID model on the whole image).
    """

    def __init__(self, tariff: Tariff, store: ParkingStore | None = None, threshold: float = DEFAULT_THRESHOLD,
                 margin: float = DEFAULT_MARGIN, observer: Observer | None = None, types: TypeRule = "family",
                 floor: float = DEFAULT_FLOOR, cut: float | None = DEFAULT_CUT):
        if not -1.0 <= threshold <= 1.0 or margin < 0:
            raise ValueError(f"threshold must be in [-1, 1] and margin >= 0, got {threshold} and {margin}")
        if not -1.0 <= floor <= 1.0 or (cut is not None and cut < 0):
            raise ValueError(f"floor must be in [-1, 1] and cut >= 0 (or None), got {floor} and {cut}")
        if types not in ("exact", "family", "off"):
            raise ValueError(f"types must be 'exact', 'family' or 'off', got {types!r}")
        self.tariff = tariff
        self.store = store if store is not None else ParkingStore()
        self.threshold, self.margin, self.types = threshold, margin, types
        self.floor, self.cut = floor, cut
        self.observer = observer or Observer(makes=True)

    def enter(self, image: ImageInput | None, gate: str, time: datetime, *, vehicle_type: str | None = None,
              embedding: np.ndarray | None = None, make: str | None = None,
              make_confidence: float | None = None) -> ParkingSession:
        """Open a session for the vehicle in ``image``; returned once durably stored."""
        require_aware(time, "entry time")
        seen = observe(self.observer, image, vehicle_type, embedding, make, make_confidence)
        return self.store.add_session(seen.vehicle_type, seen.type_confidence, unit(seen.embedding), gate, time,
                                      _image_name(image), seen.make, seen.make_confidence)

    def exit(self, image: ImageInput | None, gate: str, time: datetime, *, vehicle_type: str | None = None,
             embedding: np.ndarray | None = None, make: str | None = None,
             make_confidence: float | None = None) -> ExitResult:
        """Match the exiting vehicle to an open session: a :class:`Receipt`, or an
        :class:`UnmatchedExit` / :class:`AmbiguousExit` (not charged, recorded for review)."""
        require_aware(time, "exit time")
        seen = observe(self.observer, image, vehicle_type, embedding, make, make_confidence)
        while True:   # each lost race removes one open session, so this ends
            open_sessions, vectors = self.store.open_embeddings(before=time)
            keep = [i for i, s in enumerate(open_sessions)
                    if compatible(seen.vehicle_type, s.vehicle_type, self.types, (seen.make, seen.make_confidence),
                                  (s.make, s.make_confidence))]
            open_sessions, vectors = [open_sessions[i] for i in keep], vectors[keep]
            decision = decide(unit(seen.embedding), vectors, self.threshold, self.margin)
            if decision.kind != "matched":
                break
            try:
                return self.close(open_sessions[decision.best].id, gate, time, similarity=decision.ranked[0][1])
            except SessionClosedError:
                continue   # another gate closed that session after we read it: decide again without it
        candidates = [Candidate(session_id=open_sessions[i].id, similarity=s, vehicle_type=open_sessions[i].vehicle_type,
                                entry_time=open_sessions[i].entry_time) for i, s in decision.ranked]
        review_id = self.store.add_review(decision.kind, gate, time, seen.vehicle_type,
                                          [(c.session_id, c.similarity) for c in candidates], _image_name(image))
        kind = UnmatchedExit if decision.kind == "unmatched" else AmbiguousExit
        return kind(review_id=review_id, exit_gate=gate, exit_time=time, vehicle_type=seen.vehicle_type,
                    candidates=candidates)

    def record_exit(self, image: ImageInput | None, gate: str, time: datetime, *, vehicle_type: str | None = None,
                    embedding: np.ndarray | None = None, make: str | None = None,
                    make_confidence: float | None = None) -> RecordedExit:
        """Store the exiting vehicle without charging it (a later :meth:`settle` does); returned, with
        its ``id``, once durably stored."""
        require_aware(time, "exit time")
        seen = observe(self.observer, image, vehicle_type, embedding, make, make_confidence)
        return self.store.add_exit(seen.vehicle_type, seen.type_confidence, unit(seen.embedding), gate, time,
                                   _image_name(image), seen.make, seen.make_confidence)

    def settle(self, until: datetime | None = None) -> Settlement:
        """Charge the exits recorded up to ``until`` (default now) jointly with the open sessions: the
        confident pairs get a :class:`Receipt` (with ``session_id`` and ``exit_id``), the others go to
        review (the result's ``review``). Safe to run again, or from two places at once: an exit is
        charged once and a session closed once (:mod:`vehiclekit.apps.settlement`)."""
        until = require_aware(until, "settlement time") if until is not None else now()
        return settle(self.store, until, self._fee, self.tariff.currency, self.floor, self.cut, self.types)

    def close(self, session_id: int, gate: str, time: datetime, similarity: float | None = None) -> Receipt:
        """Close and charge session ``session_id`` (``similarity=None``: closed by hand at the gate)."""
        session = self.store.session(session_id)
        fee = self._fee(session, time)
        closed = self.store.close_session(session_id, gate, time, similarity, fee, self.tariff.currency,
                                          "manual" if similarity is None else "match")
        return Receipt.of(closed, similarity)

    def resolve(self, review_id: int, session_id: int | None, by: str, time: datetime | None = None) -> Receipt | Review:
        """Settle review ``review_id`` as person ``by`` at ``time`` (default now): ``session_id`` is the
        session the exit belongs to, charged for the stay up to the review's exit time (a
        :class:`Receipt`), or ``None`` for no match (the resolved :class:`Review`, nothing charged).
        A review already resolved, or a session already closed, raises
        :class:`~vehiclekit.apps.errors.StoreError` and nothing is charged."""
        if not by.strip():
            raise ValueError("say who resolves the review (a name or staff id)")
        review, at = self.store.review(review_id), require_aware(time, "resolution time") if time else now()
        if session_id is None:
            return self.store.resolve_review(review_id, by, at)
        session = self.store.session(session_id)
        fee = self._fee(session, review.time)
        self.store.resolve_review(review_id, by, at, session_id, {
            "exit_gate": review.gate, "exit_time": review.time, "similarity": None, "fee": str(fee),
            "currency": self.tariff.currency, "closed_by": "manual"})
        return Receipt.of(self.store.session(session_id), None)

    def _fee(self, session: ParkingSession, exit_time: datetime) -> Decimal:
        if require_aware(exit_time, "exit time") < session.entry_time:
            raise ValueError(f"exit time {exit_time.isoformat()} is before session #{session.id}'s entry "
                             f"{session.entry_time.isoformat()}")
        return self.tariff.fee(session.vehicle_type, exit_time - session.entry_time)

    def __repr__(self) -> str:
        return (f"ParkingLot({self.store!r}, threshold={self.threshold}, margin={self.margin}, types={self.types!r}, "
                f"floor={self.floor}, cut={self.cut})")
