"""Meeting occurrence engine: pure recurrence maths over zoneinfo (no Discord).

A meeting is stored as local wall time + IANA zone + a rule. Occurrences are expanded in *naive
local* time (dates and wall times only) and only then turned into instants with one DST policy
(:func:`localize`): a wall time in a spring-forward gap moves forward by the size of the gap
(02:30 -> 03:30), an ambiguous wall time at fall-back means its first instance (``fold=0``).
All comparisons happen on UTC instants (see design/scheduling.md, pitfall 6).

Rules (all anchored on ``Schedule.first_date``; no occurrence is ever before it):

- ``once``: ``first_date`` only.
- ``weekly`` / ``biweekly``: every 7 / 14 days counted from ``first_date`` (not ISO-week parity).
- ``monthly``: the n-th <weekday> of each month, n and weekday taken from ``first_date``; months
  without a 5th such weekday are skipped when n = 5.
- ``monthly-last``: the last <weekday> (``first_date``'s weekday) of each month, starting with
  ``first_date``'s month, keeping only dates >= ``first_date``. If ``first_date`` is not itself the
  last such weekday, the first occurrence is the last one of that same month.

An occurrence's identity (``key``) is its scheduled local date; it stays the same when the
occurrence is moved. ``paused_until`` and exceptions are looked up by that key.

Weekdays are ISO everywhere inside (Monday = 1 … Sunday = 7); convert at the boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "Occurrence",
    "OccurrenceException",
    "Repeat",
    "Schedule",
    "current_or_next",
    "from_meeting_guide_day",
    "is_scheduled_date",
    "iso_weekday",
    "localize",
    "next_occurrences",
    "next_starts",
    "nth_weekday_of",
    "occurrence_for_key",
    "occurrences_between",
    "scheduled_dates",
    "to_meeting_guide_day",
    "zone",
]


class Repeat(StrEnum):
    """How a meeting recurs."""

    ONCE = "once"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    MONTHLY_LAST = "monthly-last"


@dataclass(frozen=True, slots=True)
class OccurrenceException:
    """A change to one occurrence: cancelled, or moved to another local wall time."""

    cancelled: bool
    moved_to: datetime | None = None  # naive local wall time in the meeting's zone


@dataclass(frozen=True, slots=True)
class Schedule:
    """A meeting's recurrence: local wall time + IANA zone + rule + pause and exceptions."""

    timezone: str
    first_date: date
    start_time: time
    repeat: Repeat
    duration_minutes: int
    paused_until: date | None = None
    exceptions: Mapping[date, OccurrenceException] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject values the engine cannot expand."""
        if self.duration_minutes < 0:
            raise ValueError("duration_minutes must not be negative")
        if self.start_time.tzinfo is not None:
            raise ValueError("start_time must be a naive local wall time")
        if self.repeat not in _REPEATS:
            raise ValueError(f"unknown repeat rule: {self.repeat!r}")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One concrete occurrence of a meeting."""

    key: date  # scheduled local date: the occurrence's identity, stable when moved
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC (start + duration)
    local_start: datetime  # aware, in the meeting's zone
    moved: bool


_REPEATS = frozenset(r.value for r in Repeat)
_WEEK = timedelta(days=7)
_FORTNIGHT = timedelta(days=14)
_ONE_DAY = timedelta(days=1)
# How far an instant's local wall clock can run "behind" the expansion's wall clock: offset
# changes (fall-back, historical date-line moves of a whole day) plus gap shifts. Candidates are
# searched from this far before ``after``'s local wall time, then filtered exactly in UTC.
_SLACK = timedelta(hours=26)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


# --- weekdays -------------------------------------------------------------------------------


def iso_weekday(d: date) -> int:
    """ISO weekday of a date (Monday = 1 … Sunday = 7), the one encoding used inside."""
    return d.isoweekday()


def to_meeting_guide_day(iso: int) -> int:
    """Convert an ISO weekday (Monday = 1) to the Meeting Guide encoding (Sunday = 0)."""
    if not 1 <= iso <= 7:
        raise ValueError(f"ISO weekday out of range: {iso}")
    return iso % 7


def from_meeting_guide_day(day: int) -> int:
    """Convert a Meeting Guide weekday (Sunday = 0 … Saturday = 6) to ISO (Monday = 1)."""
    if not 0 <= day <= 6:
        raise ValueError(f"Meeting Guide weekday out of range: {day}")
    return day or 7


def nth_weekday_of(d: date) -> int:
    """Which occurrence (1..5) of its weekday ``d`` is within its month."""
    return (d.day - 1) // 7 + 1


# --- zones and the DST policy ---------------------------------------------------------------


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The (cached) ZoneInfo for an IANA name; raises ZoneInfoNotFoundError if unknown."""
    return ZoneInfo(name)


def _localize_utc(naive_local: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Apply the DST policy; return (aware local, aware UTC) for the same instant."""
    # With fold=0, zoneinfo reads a gap time with the offset from *before* the transition, so
    # converting to UTC and back moves it forward by the gap; an ambiguous time is the first one.
    utc = naive_local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return utc.astimezone(tz), utc


def localize(naive_local: datetime, tz: ZoneInfo) -> datetime:
    """Naive local wall time -> aware datetime in ``tz`` (gap: moved forward; ambiguous: first)."""
    if naive_local.tzinfo is not None:
        raise ValueError("localize() needs a naive local wall time")
    return _localize_utc(naive_local, tz)[0]


# --- raw rule dates -------------------------------------------------------------------------


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def _nth_weekday_in(year: int, month: int, iso_wd: int, n: int) -> date | None:
    """The n-th ``iso_wd`` of a month, or None if the month has no such day."""
    first_wd = date(year, month, 1).isoweekday()
    day = 1 + (iso_wd - first_wd) % 7 + 7 * (n - 1)
    if day > _days_in_month(year, month):
        return None
    return date(year, month, day)


def _last_weekday_in(year: int, month: int, iso_wd: int) -> date:
    """The last ``iso_wd`` of a month."""
    last = date(year, month, _days_in_month(year, month))
    return date(year, month, last.day - (last.isoweekday() - iso_wd) % 7)


def _stepped_dates(first: date, step: timedelta, from_date: date) -> Iterator[date]:
    if from_date <= first:
        d = first
    else:
        step_days = step.days
        k = -((first - from_date).days // step_days)  # ceil((from - first) / step)
        try:
            d = first + timedelta(days=k * step_days)
        except OverflowError:
            return
    try:
        while True:
            yield d
            d += step
    except OverflowError:
        return


def _monthly_dates(first: date, from_date: date, last: bool) -> Iterator[date]:
    iso_wd = first.isoweekday()
    n = nth_weekday_of(first)
    lower = max(first, from_date)
    year, month = lower.year, lower.month
    while year <= 9999:
        if last:
            d: date | None = _last_weekday_in(year, month, iso_wd)
        else:
            d = _nth_weekday_in(year, month, iso_wd, n)
        if d is not None and d >= lower:
            yield d
        month += 1
        if month == 13:
            year, month = year + 1, 1


def scheduled_dates(schedule: Schedule, from_date: date) -> Iterator[date]:
    """Raw rule dates >= ``from_date`` in order, ignoring pause and exceptions."""
    rule = schedule.repeat
    first = schedule.first_date
    if rule == Repeat.WEEKLY:
        return _stepped_dates(first, _WEEK, from_date)
    if rule == Repeat.BIWEEKLY:
        return _stepped_dates(first, _FORTNIGHT, from_date)
    if rule == Repeat.MONTHLY:
        return _monthly_dates(first, from_date, last=False)
    if rule == Repeat.MONTHLY_LAST:
        return _monthly_dates(first, from_date, last=True)
    return iter((first,) if first >= from_date else ())


def is_scheduled_date(schedule: Schedule, d: date) -> bool:
    """Whether the rule produces ``d`` (ignoring pause and exceptions)."""
    first = schedule.first_date
    if d < first:
        return False
    rule = schedule.repeat
    if rule == Repeat.WEEKLY:
        return (d - first).days % 7 == 0
    if rule == Repeat.BIWEEKLY:
        return (d - first).days % 14 == 0
    if rule == Repeat.MONTHLY:
        return d.isoweekday() == first.isoweekday() and nth_weekday_of(d) == nth_weekday_of(first)
    if rule == Repeat.MONTHLY_LAST:
        return d == _last_weekday_in(d.year, d.month, first.isoweekday())
    return d == first


# --- occurrences ----------------------------------------------------------------------------


def _make(schedule: Schedule, tz: ZoneInfo, key: date, naive: datetime, moved: bool) -> Occurrence:
    local, utc = _localize_utc(naive, tz)
    return Occurrence(
        key=key,
        start=utc,
        end=utc + timedelta(minutes=schedule.duration_minutes),
        local_start=local,
        moved=moved,
    )


def _regular(schedule: Schedule, tz: ZoneInfo, from_date: date) -> Iterator[Occurrence]:
    """Occurrences at their scheduled time, keys >= from_date, not paused, without exceptions.

    Their starts increase with their keys: keys are at least 7 days apart and no zone's wall clock
    ever jumps by that much.
    """
    paused = schedule.paused_until
    if paused is not None and paused > from_date:
        from_date = paused
    exceptions = schedule.exceptions
    start_time = schedule.start_time
    combine = datetime.combine
    for d in scheduled_dates(schedule, from_date):
        if exceptions and d in exceptions:
            exc = exceptions[d]
            if exc.cancelled or exc.moved_to is not None:
                continue
        try:
            yield _make(schedule, tz, d, combine(d, start_time), False)
        except OverflowError:
            return


def _moved(schedule: Schedule, tz: ZoneInfo) -> list[Occurrence]:
    """All moved (and not cancelled, not paused) occurrences, at their new time."""
    out: list[Occurrence] = []
    paused = schedule.paused_until
    for key, exc in schedule.exceptions.items():
        if exc.cancelled or exc.moved_to is None:
            continue
        if paused is not None and key < paused:
            continue
        if not is_scheduled_date(schedule, key):
            continue
        moved_to = exc.moved_to
        if moved_to.tzinfo is not None:  # tolerate an aware value: use its wall time in the zone
            moved_to = moved_to.astimezone(tz).replace(tzinfo=None)
        try:
            out.append(_make(schedule, tz, key, moved_to, True))
        except OverflowError:
            continue
    return out


def _sort_key(o: Occurrence) -> tuple[datetime, date]:
    return (o.start, o.key)


def _search_from(instant: datetime, tz: ZoneInfo, start_time: time) -> date:
    """Earliest key whose scheduled start could be after ``instant`` (a safe lower bound)."""
    # In UTC, so the cache's key is the instant itself: same-zone datetimes compare equal across
    # a fall-back fold, UTC ones never do.
    return _search_from_utc(instant.astimezone(UTC), tz, start_time)


@lru_cache(maxsize=4096)  # planning every meeting asks it of a few hundred zone and time pairs
def _search_from_utc(instant: datetime, tz: ZoneInfo, start_time: time) -> date:
    wall = instant.astimezone(tz).replace(tzinfo=None)
    try:
        bound = wall - _SLACK - timedelta(hours=start_time.hour, minutes=start_time.minute)
    except OverflowError:
        return date.min
    return bound.date()


def _require_aware(name: str, dt: datetime) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


def next_occurrences(schedule: Schedule, after: datetime, n: int) -> list[Occurrence]:
    """The next ``n`` occurrences starting strictly after ``after`` (aware), ordered by start."""
    _require_aware("after", after)
    if n <= 0:
        return []
    tz = zone(schedule.timezone)
    out: list[Occurrence] = []
    for occ in _regular(schedule, tz, _search_from(after, tz, schedule.start_time)):
        if occ.start > after:
            out.append(occ)
            if len(out) == n:
                break
    if schedule.exceptions:
        moved = [o for o in _moved(schedule, tz) if o.start > after]
        if moved:
            out.extend(moved)
            out.sort(key=_sort_key)
            del out[n:]
    return out


def next_starts(schedule: Schedule, after: datetime, n: int) -> list[tuple[date, int]]:
    """(key, start in Unix seconds) of :func:`next_occurrences`, for planning many meetings.

    The same occurrences by the same DST policy, without building an :class:`Occurrence` (its
    local and end instants) for each: an aware local wall time's ``timestamp()`` is the instant
    ``_localize_utc`` gives (both read the zone's offset with ``fold=0``). Schedules with
    exceptions take :func:`next_occurrences` itself (moved occurrences sort among the others).
    """
    _require_aware("after", after)
    if n <= 0:
        return []
    if schedule.exceptions:
        return [(o.key, int(o.start.timestamp())) for o in next_occurrences(schedule, after, n)]
    tz = zone(schedule.timezone)
    start_time = schedule.start_time
    if start_time.fold:  # the policy reads the offset before a fall-back: fold 0
        start_time = start_time.replace(fold=0)
    from_date = _search_from(after, tz, start_time)
    paused = schedule.paused_until
    if paused is not None and paused > from_date:
        from_date = paused
    after_s = after.timestamp()
    combine = datetime.combine
    out: list[tuple[date, int]] = []
    try:
        for d in scheduled_dates(schedule, from_date):
            start = combine(d, start_time, tz).timestamp()
            if start > after_s:
                out.append((d, int(start)))
                if len(out) == n:
                    break
    except OverflowError:
        pass
    return out


def occurrences_between(schedule: Schedule, start: datetime, end: datetime) -> list[Occurrence]:
    """All occurrences overlapping ``[start, end)`` (occ.start < end, occ.end > start), ordered."""
    _require_aware("start", start)
    _require_aware("end", end)
    if end <= start:
        return []
    tz = zone(schedule.timezone)
    duration = timedelta(minutes=schedule.duration_minutes)
    try:
        earliest = start - duration
    except OverflowError:
        earliest = start
    out: list[Occurrence] = []
    for occ in _regular(schedule, tz, _search_from(earliest, tz, schedule.start_time)):
        if occ.start >= end:
            break
        if occ.end > start:
            out.append(occ)
    if schedule.exceptions:
        out.extend(o for o in _moved(schedule, tz) if o.start < end and o.end > start)
        out.sort(key=_sort_key)
    return out


def current_or_next(schedule: Schedule, now: datetime) -> Occurrence | None:
    """The occurrence in progress at ``now`` (start <= now < end), else the next one, else None."""
    _require_aware("now", now)
    window = occurrences_between(schedule, now, now + timedelta(microseconds=1))
    in_progress = [o for o in window if o.start <= now]
    if in_progress:
        return in_progress[0]
    following = next_occurrences(schedule, now, 1)
    return following[0] if following else None


def occurrence_for_key(schedule: Schedule, key: date) -> Occurrence | None:
    """The occurrence keyed by this scheduled date (moved: at its new time), or None."""
    if not is_scheduled_date(schedule, key):
        return None
    paused = schedule.paused_until
    if paused is not None and key < paused:
        return None
    tz = zone(schedule.timezone)
    exc = schedule.exceptions.get(key)
    try:
        if exc is not None:
            if exc.cancelled:
                return None
            if exc.moved_to is not None:
                moved_to = exc.moved_to
                if moved_to.tzinfo is not None:
                    moved_to = moved_to.astimezone(tz).replace(tzinfo=None)
                return _make(schedule, tz, key, moved_to, True)
        return _make(schedule, tz, key, datetime.combine(key, schedule.start_time), False)
    except OverflowError:
        return None
