"""Traffic statistics: counts per vehicle type (and per make and customer segment) per time bucket,
gate and direction; dwell times.

>>> from vehiclekit.apps.stats import traffic_report                   # doctest: +SKIP
>>> from vehiclekit.apps.report_files import write_report             # doctest: +SKIP
>>> from vehiclekit.apps import TrafficStore                          # doctest: +SKIP
>>> events, vectors = TrafficStore("stats.db").events()               # doctest: +SKIP
>>> write_report(traffic_report(events, vectors, "hour", "Europe/Berlin"), "report/")   # doctest: +SKIP

Buckets are local wall-clock intervals in the report's time zone (``tz``, any IANA name): a
15-minute or hour bucket starts at a local quarter / full hour, a day bucket at local midnight.
On a daylight-saving day the local day has 23 or 25 hours and the repeated hour of the autumn
change is two distinct buckets (``02:00+02:00`` and ``02:00+01:00``). Bucket starts are written
ISO-8601 with their offset.

Dwell times come from pairing each exit with an earlier, still unpaired entry by re-ID similarity,
with the same rule as parking (:mod:`vehiclekit.apps.matching`); unmatched and ambiguous exits
are counted, not paired.

Makes are counted as recognised at ingest (``vehiclekit stats ingest`` stores each car's make and
its confidence); a make less certain than ``min_make_confidence``, or a vehicle without one (bus,
truck, motorcycle), counts as ``unknown``. With a segment table
(:func:`~vehiclekit.apps.segments.load_segments`) each vehicle also counts in its segment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD, decide, unit
from vehiclekit.apps.results import TrafficEvent
from vehiclekit.apps.segments import UNKNOWN, SegmentTable

#: Bucket name -> length in minutes.
BUCKETS = {"15min": 15, "hour": 60, "day": 24 * 60}
#: Below this make confidence a vehicle's make (and segment) is ``unknown`` rather than a guess.
DEFAULT_MIN_MAKE_CONFIDENCE = 0.5


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``UTC``, ``Europe/Berlin``, ...); a clear error when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Berlin") from None


def bucket_start(time: datetime, bucket: str, tz: ZoneInfo) -> datetime:
    """The start of the ``bucket`` holding ``time``, in UTC (local wall-clock flooring in ``tz``)."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {list(BUCKETS)}, got {bucket!r}")
    local = time.astimezone(tz)
    if bucket == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        step = BUCKETS[bucket]
        minutes = local.hour * 60 + local.minute
        start = local.replace(hour=minutes // step * step // 60, minute=minutes // step * step % 60, second=0, microsecond=0)
    return start.astimezone(UTC)      # UTC keys: the two 02:00 of an autumn change stay distinct


def bucket_range(first: datetime, last: datetime, bucket: str, tz: ZoneInfo) -> list[datetime]:
    """Every bucket start (UTC) from the bucket of ``first`` to that of ``last``, empty ones included."""
    starts, t = [], first
    while t <= last + timedelta(minutes=15):
        start = bucket_start(t, bucket, tz)
        if not starts or start != starts[-1]:
            starts.append(start)
        t += timedelta(minutes=15)    # the smallest bucket: no bucket is skipped, even across DST
    return [s for s in starts if s <= bucket_start(last, bucket, tz)]


@dataclass
class TrafficReport:
    """Counts per (bucket start UTC, gate, direction, type), the same per make and per segment
    (when a segment table was given), and matched dwell times."""

    bucket: str
    tz: ZoneInfo
    counts: Counter = field(default_factory=Counter)
    make_counts: Counter = field(default_factory=Counter)
    segment_counts: Counter = field(default_factory=Counter)
    dwell: list[dict] = field(default_factory=list)
    unmatched_exits: int = 0
    ambiguous_exits: int = 0

    def local(self, start: datetime) -> str:
        return start.astimezone(self.tz).isoformat()

    def summary(self) -> dict:
        minutes = [d["dwell_minutes"] for d in self.dwell]
        by = Counter()
        for (_, gate, direction, vehicle_type), n in self.counts.items():
            by[(gate, direction, vehicle_type)] += n
        return {
            "bucket": self.bucket, "tz": str(self.tz), "events": sum(self.counts.values()),
            "per_gate_direction_type": [{"gate": g, "direction": d, "vehicle_type": t, "count": n}
                                        for (g, d, t), n in sorted(by.items())],
            "per_make": _totals(self.make_counts), "per_segment": _totals(self.segment_counts),
            "dwell": {"matched": len(minutes), "unmatched_exits": self.unmatched_exits,
                      "ambiguous_exits": self.ambiguous_exits,
                      "median_minutes": float(np.median(minutes)) if minutes else None,
                      "p90_minutes": float(np.percentile(minutes, 90)) if minutes else None},
        }


def _totals(counts: Counter) -> dict[str, int]:
    """Category -> count over every bucket, gate and direction, largest first."""
    totals = Counter()
    for (_, _, _, category), n in counts.items():
        totals[category] += n
    return dict(totals.most_common())


def traffic_report(events: list[TrafficEvent], vectors: np.ndarray, bucket: str = "hour", tz: str = "UTC",
                   threshold: float = DEFAULT_THRESHOLD, margin: float = DEFAULT_MARGIN,
                   segments: SegmentTable | None = None,
                   min_make_confidence: float = DEFAULT_MIN_MAKE_CONFIDENCE) -> TrafficReport:
    """Count ``events`` (time-ordered, with their embeddings) and pair exits with entries for dwell times."""
    report = TrafficReport(bucket, zone(tz))
    bucket_start(datetime.now(UTC), bucket, report.tz)          # validates the bucket name early
    open_entries: list[int] = []
    for i in sorted(range(len(events)), key=lambda i: events[i].time):
        event = events[i]
        where = (bucket_start(event.time, bucket, report.tz), event.gate, event.direction)
        report.counts[(*where, event.vehicle_type)] += 1
        confident = event.make is not None and (event.make_confidence or 0.0) >= min_make_confidence
        report.make_counts[(*where, event.make if confident else UNKNOWN)] += 1
        if segments is not None:
            report.segment_counts[(*where, segments.segment(event.make, event.make_confidence, min_make_confidence))] += 1
        if event.direction == "entry":
            open_entries.append(i)
            continue
        candidates = [j for j in open_entries if events[j].time <= event.time]
        decision = decide(unit(vectors[i]), np.stack([unit(vectors[j]) for j in candidates]) if candidates
                          else np.zeros((0, 0)), threshold, margin)
        if decision.kind != "matched":
            report.unmatched_exits += decision.kind == "unmatched"
            report.ambiguous_exits += decision.kind == "ambiguous"
            continue
        entry = events[candidates[decision.best]]
        open_entries.remove(candidates[decision.best])
        report.dwell.append({"entry_time": entry.time.astimezone(report.tz).isoformat(),
                             "exit_time": event.time.astimezone(report.tz).isoformat(),
                             "vehicle_type": entry.vehicle_type, "entry_gate": entry.gate, "exit_gate": event.gate,
                             "dwell_minutes": round((event.time - entry.time).total_seconds() / 60, 2),
                             "similarity": round(decision.ranked[0][1], 4)})
    return report
