"""Parking fees by vehicle type, with entry/exit matching by re-identification.

>>> from vehiclekit.apps import ParkingLot, Store, load_tariff
>>> lot = ParkingLot(load_tariff("deploy/tariff.example.yaml"), Store("parking.db"))   # doctest: +SKIP
>>> lot.enter("entry_cam.jpg", gate="north", time=datetime(2026, 5, 1, 8, 0, tzinfo=UTC))   # doctest: +SKIP
>>> lot.exit("exit_cam.jpg", gate="south", time=datetime(2026, 5, 1, 10, 5, tzinfo=UTC))    # doctest: +SKIP
Receipt(session_id=1, vehicle_type='car', ..., fee=Decimal('4.50'), similarity=0.83)

``exit`` compares the exit image with the *open* sessions that entered before it (see
:mod:`vehiclekit.apps.matching`): a clear match is closed and charged (:class:`Receipt`); no match
(:class:`UnmatchedExit`) or two close candidates (:class:`AmbiguousExit`) are never charged but
recorded in the store for a human, who can close the right session with :meth:`ParkingLot.close`.
The store, not this object, holds the open sessions, so several gates (processes) can share one
database and a restart loses nothing.

The vehicle type (which prices the stay) is recognised at entry. ``vehicle_type`` /
``embedding`` may be passed instead of recognising an image (tests, evaluation, an external
recogniser); the models load only when an image must be recognised.
"""

from __future__ import annotations

import os
from datetime import datetime

import numpy as np

from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD, decide, unit
from vehiclekit.apps.observer import Observation, Observer
from vehiclekit.apps.results import (
    AmbiguousExit,
    Candidate,
    ExitResult,
    ParkingSession,
    Receipt,
    UnmatchedExit,
)
from vehiclekit.apps.store import Store
from vehiclekit.apps.tariff import Tariff
from vehiclekit.apps.times import require_aware
from vehiclekit.sdk.image import ImageInput


def observe(observer: Observer, image: ImageInput | None, vehicle_type: str | None,
            embedding: np.ndarray | None) -> Observation:
    """Recognise ``image``, except for what the caller passed precomputed."""
    if vehicle_type is not None and embedding is not None:
        return Observation(vehicle_type, None, np.asarray(embedding, np.float32))
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
    two best open sessions are closer than it. ``observer`` recognises images (default: the
    shipped classifier and re-ID model on the whole image).
    """

    def __init__(self, tariff: Tariff, store: Store | None = None, threshold: float = DEFAULT_THRESHOLD,
                 margin: float = DEFAULT_MARGIN, observer: Observer | None = None):
        if not -1.0 <= threshold <= 1.0 or margin < 0:
            raise ValueError(f"threshold must be in [-1, 1] and margin >= 0, got {threshold} and {margin}")
        self.tariff = tariff
        self.store = store if store is not None else Store()
        self.threshold, self.margin = threshold, margin
        self.observer = observer or Observer()

    def enter(self, image: ImageInput | None, gate: str, time: datetime, *, vehicle_type: str | None = None,
              embedding: np.ndarray | None = None) -> ParkingSession:
        """Open a session for the vehicle in ``image``; returned once durably stored."""
        require_aware(time, "entry time")
        seen = observe(self.observer, image, vehicle_type, embedding)
        return self.store.add_session(seen.vehicle_type, seen.type_confidence, unit(seen.embedding), gate, time,
                                      _image_name(image))

    def exit(self, image: ImageInput | None, gate: str, time: datetime, *, vehicle_type: str | None = None,
             embedding: np.ndarray | None = None) -> ExitResult:
        """Match the exiting vehicle to an open session: a :class:`Receipt`, or an
        :class:`UnmatchedExit` / :class:`AmbiguousExit` (not charged, recorded for review)."""
        require_aware(time, "exit time")
        seen = observe(self.observer, image, vehicle_type, embedding)
        open_sessions, vectors = self.store.open_embeddings(before=time)
        decision = decide(unit(seen.embedding), vectors, self.threshold, self.margin)
        if decision.kind == "matched":
            return self.close(open_sessions[decision.best].id, gate, time, similarity=decision.ranked[0][1])
        candidates = [Candidate(session_id=open_sessions[i].id, similarity=s, vehicle_type=open_sessions[i].vehicle_type,
                                entry_time=open_sessions[i].entry_time) for i, s in decision.ranked]
        review_id = self.store.add_review(decision.kind, gate, time, seen.vehicle_type,
                                          [(c.session_id, c.similarity) for c in candidates], _image_name(image))
        kind = UnmatchedExit if decision.kind == "unmatched" else AmbiguousExit
        return kind(review_id=review_id, exit_gate=gate, exit_time=time, vehicle_type=seen.vehicle_type,
                    candidates=candidates)

    def close(self, session_id: int, gate: str, time: datetime, similarity: float | None = None) -> Receipt:
        """Close and charge session ``session_id`` (``similarity=None``: closed by hand after a review)."""
        session = self.store.session(session_id)
        if require_aware(time, "exit time") < session.entry_time:
            raise ValueError(f"exit time {time.isoformat()} is before session #{session_id}'s entry "
                             f"{session.entry_time.isoformat()}")
        duration = time - session.entry_time
        fee = self.tariff.fee(session.vehicle_type, duration)
        closed = self.store.close_session(session_id, gate, time, similarity, fee, self.tariff.currency,
                                          "manual" if similarity is None else "match")
        return Receipt(session_id=session_id, vehicle_type=closed.vehicle_type, entry_gate=closed.entry_gate,
                       entry_time=closed.entry_time, exit_gate=gate, exit_time=closed.exit_time, duration=duration,
                       fee=fee, currency=self.tariff.currency, similarity=similarity)

    def __repr__(self) -> str:
        return f"ParkingLot({self.store!r}, threshold={self.threshold}, margin={self.margin})"

