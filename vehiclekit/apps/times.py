"""Timezone-aware timestamps: the applications refuse naive datetimes instead of guessing a zone."""

from __future__ import annotations

from datetime import UTC, datetime

from vehiclekit.apps.errors import NaiveTimeError

_EXAMPLE = "e.g. 2026-05-01T08:30:00+02:00 or 2026-05-01T06:30:00Z"


def require_aware(time: datetime, what: str = "time") -> datetime:
    """Return ``time`` unchanged if it carries a UTC offset; raise :class:`NaiveTimeError` otherwise."""
    if not isinstance(time, datetime):
        raise NaiveTimeError(f"{what} must be a datetime, got {type(time).__name__}")
    if time.tzinfo is None or time.utcoffset() is None:
        raise NaiveTimeError(
            f"{what} {time.isoformat()} has no time zone: give a UTC offset, {_EXAMPLE} "
            "(in Python: an aware datetime, tzinfo=UTC or a ZoneInfo)"
        )
    return time


def parse_time(text: str, what: str = "time") -> datetime:
    """Parse an ISO-8601 timestamp that has an offset (``Z`` allowed); naive text is refused."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise NaiveTimeError(f"{what} {text!r} is not an ISO-8601 timestamp, {_EXAMPLE}") from None
    return require_aware(parsed, what)


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
