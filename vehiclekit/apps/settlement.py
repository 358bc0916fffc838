"""Settlement: charge the recorded exits of a period jointly, one-to-one with the open sessions.

A ticketless car park need not decide the charge at the barrier. :meth:`ParkingLot.record_exit
<vehiclekit.apps.ParkingLot.record_exit>` stores the exit; :func:`settle` (``ParkingLot.settle``,
``vehiclekit parking settle``) takes every exit not yet charged up to a time and every session
open then, and matches them jointly (:func:`vehiclekit.apps.assignment.match`): a pair is feasible
when the session entered no later than the exit and the types (and confident makes) agree
(:func:`vehiclekit.apps.matching.compatible`), and its re-ID similarity reaches ``floor``.
A matched pair whose confidence reaches ``cut`` is charged; every other exit goes to the review
queue (``ambiguous`` with the proposed session first, or ``unmatched``), for a person. ``cut=None``
is review-first: nothing is charged, every exit is reviewed (a lot without its own calibration).

Exits awaiting a person stay in the problem (they are somebody, and hold their session), but only
a person charges them; a resolved case leaves it (its session is closed, or the exit is marked no
match). All the charges and reviews of one settlement are written in one transaction that checks
every exit is still pending and every session still open; if another settler or a gate came
first, nothing is written and the settlement is decided again on what is left. So each exit is
charged at most once and each session closed at most once, whoever runs at the same moment, and a
settlement killed midway leaves nothing half-done.

The defaults (``DEFAULT_FLOOR``, ``DEFAULT_CUT``) come from labelled pairs of the vehicle-reid
``val`` split (``vehiclekit parking calibrate``; docs/results.md §22); a car park recalibrates on
its own resolved cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import numpy as np

from vehiclekit.apps.assignment import Pair, match
from vehiclekit.apps.errors import SettlementConflict
from vehiclekit.apps.matching import MAKE_CONFIDENCE, TYPE_FAMILIES, TypeRule
from vehiclekit.apps.results import (
    AmbiguousExit,
    Candidate,
    ParkingSession,
    Receipt,
    RecordedExit,
    Settlement,
    UnmatchedExit,
)
from vehiclekit.apps.parking_store import ParkingStore

#: Lowest re-ID similarity of a pair a settlement may propose (0.0 / 0.1 / 0.2 / 0.3 tried on val with
#: 200 vehicles inside: 0.3 charged fewer exits, the others the same within one exit; docs/results.md §22).
DEFAULT_FLOOR = 0.10
#: Lowest pair confidence charged without a person: the most cautious of the cuts that calibration
#: (alpha 2 %, delta 5 %) chose on val at 102, 200 and 507 vehicles inside, day and everyone-inside
#: protocols (0.074 to 0.127, rounded up; docs/results.md §22).
DEFAULT_CUT = 0.13


def feasible_pairs(exits: list[RecordedExit], sessions: list[ParkingSession], rule: TypeRule = "family") -> np.ndarray:
    """[exits, sessions] bool: the session entered no later than the exit, the types agree by
    ``rule`` and makes known with confidence >= ``MAKE_CONFIDENCE`` at both gates are equal."""
    def kinds(types: list[str]) -> np.ndarray:
        return np.array([TYPE_FAMILIES.get(t, t) if rule == "family" else t for t in types], dtype=object)

    def makes(items: list) -> np.ndarray:
        return np.array([i.make if i.make is not None and (i.make_confidence or 0) >= MAKE_CONFIDENCE else None
                         for i in items], dtype=object)

    exit_times = np.array([e.time.timestamp() for e in exits])[:, None]
    entry_times = np.array([s.entry_time.timestamp() for s in sessions])[None, :]
    ok = entry_times <= exit_times
    if rule != "off":
        ok &= kinds([e.vehicle_type for e in exits])[:, None] == kinds([s.vehicle_type for s in sessions])[None, :]
    exit_makes, entry_makes = makes(exits)[:, None], makes(sessions)[None, :]
    known = (exit_makes != None) & (entry_makes != None)  # noqa: E711 (elementwise on object arrays)
    return ok & ~(known & (exit_makes != entry_makes))


def settle(store: ParkingStore, until: datetime, fee: Callable[[ParkingSession, datetime], Decimal], currency: str,
           floor: float = DEFAULT_FLOOR, cut: float | None = DEFAULT_CUT, rule: TypeRule = "family") -> Settlement:
    """Settle every exit recorded up to ``until`` (see the module docstring); ``fee(session, exit
    time)`` prices a stay."""
    while True:     # each conflict means another settler or gate settled something: this ends
        exits, exit_vectors, sessions, session_vectors = store.settlement_problem(until)
        pending = [i for i, e in enumerate(exits) if e.status == "pending"]
        if not pending:
            return Settlement(until=until, cut=cut, receipts=[], review=[])
        feasible = feasible_pairs(exits, sessions, rule) if sessions else np.zeros((len(exits), 0), bool)
        similarity = exit_vectors @ session_vectors.T if sessions else np.zeros((len(exits), 0))
        pairs = {p.exit: p for p in match(similarity, feasible, floor)}
        charges, reviews = [], []
        for i in pending:
            pair = pairs.get(i)
            if pair is not None and cut is not None and pair.confidence >= cut:
                charges.append(_charge(exits[i], sessions[pair.session], pair, fee, currency))
            else:
                reviews.append(_review(exits[i], sessions, similarity[i], feasible[i], pair))
        try:
            review_ids = store.apply_settlement(charges, reviews)
        except SettlementConflict:
            continue
        by_id = {s.id: s for s in sessions}
        receipts = [_receipt(by_id[c["session_id"]], c) for c in charges]
        review = [_uncharged(r, review_id, by_id) for r, review_id in zip(reviews, review_ids)]
        return Settlement(until=until, cut=cut, receipts=receipts, review=review)


def _charge(exit_: RecordedExit, session: ParkingSession, pair: Pair,
            fee: Callable[[ParkingSession, datetime], Decimal], currency: str) -> dict:
    close = {"exit_gate": exit_.gate, "exit_time": exit_.time, "similarity": pair.similarity,
             "fee": str(fee(session, exit_.time)), "currency": currency, "closed_by": "match"}
    return {"exit_id": exit_.id, "session_id": session.id, "similarity": pair.similarity,
            "confidence": pair.confidence, "close": close}


def _review(exit_: RecordedExit, sessions: list[ParkingSession], similarity: np.ndarray, feasible: np.ndarray,
            pair: Pair | None, top: int = 3) -> dict:
    """The review row of an exit not charged: its proposed session first, then the most similar feasible ones."""
    order = [j for j in np.argsort(-similarity, kind="stable") if feasible[j]]
    if pair is not None:
        order = [pair.session] + [j for j in order if j != pair.session]
    candidates = [(sessions[j].id, float(similarity[j])) for j in order[:top]]
    row = {"kind": "unmatched" if pair is None else "ambiguous", "gate": exit_.gate, "time": exit_.time,
           "vehicle_type": exit_.vehicle_type, "image": exit_.image, "candidates": candidates}
    return {"exit_id": exit_.id, "review": row, "proposed_session": None if pair is None else sessions[pair.session].id,
            "similarity": None if pair is None else pair.similarity,
            "confidence": None if pair is None else pair.confidence}


def _receipt(session: ParkingSession, charge: dict) -> Receipt:
    """The receipt of a committed charge: the session as the charge closed it (no second read)."""
    close = charge["close"]
    closed = session.model_copy(update={**close, "status": "closed", "fee": Decimal(close["fee"]),
                                         "exit_id": charge["exit_id"]})
    return Receipt.of(closed, charge["similarity"], charge["confidence"])


def _uncharged(review: dict, review_id: int, by_id: dict[int, ParkingSession]) -> UnmatchedExit | AmbiguousExit:
    row = review["review"]
    candidates = [Candidate(session_id=i, similarity=s, vehicle_type=by_id[i].vehicle_type,
                            entry_time=by_id[i].entry_time) for i, s in row["candidates"]]
    kind = UnmatchedExit if row["kind"] == "unmatched" else AmbiguousExit
    return kind(review_id=review_id, exit_gate=row["gate"], exit_time=row["time"], vehicle_type=row["vehicle_type"],
                candidates=candidates, exit_id=review["exit_id"])
