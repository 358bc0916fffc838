"""Results of the applications: immutable pydantic models, JSON-ready with ``.model_dump(mode="json")``.

Times are timezone-aware (the store returns UTC). Money is :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ParkingSession(BaseModel):
    """One stay in the car park: open until its exit is matched (or closed by hand)."""

    model_config = ConfigDict(frozen=True)

    id: int
    status: Literal["open", "closed"]
    vehicle_type: str = Field(description="type recognised at entry (prices the stay)")
    type_confidence: float | None = None
    entry_gate: str
    entry_time: AwareDatetime
    entry_image: str | None = None
    exit_gate: str | None = None
    exit_time: AwareDatetime | None = None
    similarity: float | None = Field(default=None, description="re-ID similarity of the matched exit")
    fee: Decimal | None = None
    currency: str | None = None
    closed_by: Literal["match", "manual"] | None = None
    make: str | None = Field(default=None, description="make recognised at entry (cars, SUVs, vans, pickups)")
    make_confidence: float | None = None
    exit_id: int | None = Field(default=None, description="the recorded exit a settlement charged to this session")

    def __str__(self) -> str:
        text = f"#{self.id} {self.status} {self.vehicle_type} in {self.entry_gate} {self.entry_time.isoformat()}"
        if self.status == "closed":
            text += f" out {self.exit_gate} {self.exit_time.isoformat()} fee {self.fee} {self.currency} ({self.closed_by})"
        return text


class Receipt(BaseModel):
    """A charged exit."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["receipt"] = "receipt"
    needs_review: Literal[False] = False
    session_id: int
    vehicle_type: str
    entry_gate: str
    entry_time: AwareDatetime
    exit_gate: str
    exit_time: AwareDatetime
    duration: timedelta
    fee: Decimal
    currency: str
    similarity: float | None = Field(description="re-ID similarity of the match (None: closed by hand)")
    exit_id: int | None = Field(default=None, description="the recorded exit (settlement); None at a barrier")
    confidence: float | None = Field(default=None, description="settlement: how much the best joint matching "
                                     "loses without this pair (vehiclekit.apps.assignment)")

    @classmethod
    def of(cls, closed: ParkingSession, similarity: float | None, confidence: float | None = None) -> Receipt:
        """The receipt of session ``closed`` (as stored once closed)."""
        return cls(session_id=closed.id, vehicle_type=closed.vehicle_type, entry_gate=closed.entry_gate,
                   entry_time=closed.entry_time, exit_gate=closed.exit_gate, exit_time=closed.exit_time,
                   duration=closed.exit_time - closed.entry_time, fee=closed.fee, currency=closed.currency,
                   similarity=similarity, exit_id=closed.exit_id, confidence=confidence)

    def __str__(self) -> str:
        sim = "by hand" if self.similarity is None else f"similarity {self.similarity:.3f}"
        if self.confidence is not None:
            sim += f", confidence {self.confidence:.3f}"
        exit_ = f"exit #{self.exit_id} " if self.exit_id is not None else ""
        return (f"receipt {exit_}session #{self.session_id} {self.vehicle_type} {self.entry_time.isoformat()} -> "
                f"{self.exit_time.isoformat()} ({self.duration}) fee {self.fee} {self.currency} ({sim})")


class Candidate(BaseModel):
    """An open session an uncharged exit might belong to."""

    model_config = ConfigDict(frozen=True)

    session_id: int
    similarity: float
    vehicle_type: str
    entry_time: AwareDatetime


class UnchargedExit(BaseModel):
    """An exit that was not charged but recorded for a human (``review_id``); ``candidates`` are
    the most similar open sessions, best first."""

    model_config = ConfigDict(frozen=True)

    needs_review: Literal[True] = True
    review_id: int
    exit_gate: str
    exit_time: AwareDatetime
    vehicle_type: str
    candidates: list[Candidate]
    exit_id: int | None = Field(default=None, description="the recorded exit (settlement); None at a barrier")


class UnmatchedExit(UnchargedExit):
    """No open session is similar enough (all candidates below the threshold)."""

    kind: Literal["unmatched"] = "unmatched"

    def __str__(self) -> str:
        best = f" (best #{self.candidates[0].session_id} {self.candidates[0].similarity:.3f})" if self.candidates else ""
        return f"UNMATCHED exit {self.exit_time.isoformat()} at {self.exit_gate}{best}: not charged, review #{self.review_id}"


class AmbiguousExit(UnchargedExit):
    """Two or more open sessions match about equally well (within the margin)."""

    kind: Literal["ambiguous"] = "ambiguous"

    def __str__(self) -> str:
        options = ", ".join(f"#{c.session_id} {c.similarity:.3f}" for c in self.candidates)
        return f"AMBIGUOUS exit {self.exit_time.isoformat()} at {self.exit_gate} ({options}): not charged, review #{self.review_id}"


ExitResult = Receipt | UnmatchedExit | AmbiguousExit


class Review(BaseModel):
    """A stored uncharged exit (``candidates``: [session id, similarity] pairs)."""

    model_config = ConfigDict(frozen=True)

    id: int
    kind: Literal["unmatched", "ambiguous"]
    gate: str
    time: AwareDatetime
    vehicle_type: str
    image: str | None = None
    candidates: list[tuple[int, float]]
    resolution: Literal["match", "no-match"] | None = Field(default=None, description="None while open")
    resolved_session: int | None = Field(default=None, description="the session a human charged this exit to")
    resolved_by: str | None = None
    resolved_at: AwareDatetime | None = None
    exit_id: int | None = Field(default=None, description="the recorded exit a settlement sent here")

    @property
    def status(self) -> Literal["open", "resolved"]:
        return "open" if self.resolution is None else "resolved"

    def __str__(self) -> str:
        options = ", ".join(f"#{i} {sim:.3f}" for i, sim in self.candidates) or "no open session"
        text = f"review #{self.id} {self.kind} exit {self.time.isoformat()} at {self.gate} {self.vehicle_type} ({options}) {self.image or ''}"
        if self.resolution:
            target = f" session #{self.resolved_session}" if self.resolved_session else ""
            text += f" -> {self.resolution}{target} by {self.resolved_by} at {self.resolved_at.isoformat()}"
        return text


class RecordedExit(BaseModel):
    """An exit stored by :meth:`~vehiclekit.apps.ParkingLot.record_exit`, charged later by a settlement.

    ``status``: ``pending`` (not settled yet), ``charged`` (to ``session_id``), ``review`` (sent to a
    person: ``review_id``) or ``no-match`` (a person said it belongs to no session).
    ``proposed_session``, ``similarity`` and ``confidence`` describe the settlement's pair for it (None:
    it proposed none)."""

    model_config = ConfigDict(frozen=True)

    id: int
    status: Literal["pending", "charged", "review", "no-match"]
    gate: str
    time: AwareDatetime
    vehicle_type: str
    type_confidence: float | None = None
    image: str | None = None
    make: str | None = None
    make_confidence: float | None = None
    session_id: int | None = None
    proposed_session: int | None = None
    similarity: float | None = None
    confidence: float | None = None
    review_id: int | None = None

    def __str__(self) -> str:
        target = f" session #{self.session_id}" if self.session_id is not None else ""
        return f"exit #{self.id} {self.status}{target} {self.vehicle_type} at {self.gate} {self.time.isoformat()}"


class Settlement(BaseModel):
    """What one :meth:`~vehiclekit.apps.ParkingLot.settle` decided: the exits charged (``receipts``,
    each with ``session_id`` and ``exit_id``) and those sent to a person (``review``)."""

    model_config = ConfigDict(frozen=True)

    until: AwareDatetime
    cut: float | None = Field(description="lowest pair confidence charged (None: review-first, nothing charged)")
    receipts: list[Receipt]
    review: list[UnmatchedExit | AmbiguousExit]

    def __str__(self) -> str:
        lines = [f"settled exits up to {self.until.isoformat()}: {len(self.receipts)} charged, "
                 f"{len(self.review)} sent to review" + (" (review-first: no calibrated cut)" if self.cut is None else "")]
        return "\n".join(lines + [f"  {item}" for item in [*self.receipts, *self.review]])


class TrafficEvent(BaseModel):
    """A vehicle passing a gate (statistics)."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    time: AwareDatetime
    gate: str
    direction: Literal["entry", "exit"]
    vehicle_type: str
    type_confidence: float | None = None
    image: str | None = None
    make: str | None = Field(default=None, description="recognised make (cars, SUVs, vans, pickups), when asked for")
    make_confidence: float | None = None
