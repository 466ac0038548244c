"""Time source. Code asks a Clock for the time so tests can inject one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current instant as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current instant (aware, UTC)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current instant (aware, UTC)."""
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to; used by tests and benchmarks."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """Return the current fake instant."""
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to an instant."""
        if when.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by a duration."""
        self._now += delta


def to_unix(dt: datetime) -> int:
    """Whole seconds since the epoch of an aware datetime."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return int(dt.timestamp())


def from_unix(ts: float) -> datetime:
    """An aware UTC datetime from seconds since the epoch."""
    return datetime.fromtimestamp(ts, UTC)


def utc_from_iso(text: str) -> datetime:
    """Parse an ISO timestamp stored by Haven (always with an offset)."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"stored timestamp without offset: {text!r}")
    return dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """Canonical storage form of an instant: UTC, seconds precision, with offset."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


__all__ = [
    "Clock",
    "FakeClock",
    "SystemClock",
    "from_unix",
    "iso",
    "timedelta",
    "to_unix",
    "utc_from_iso",
]
