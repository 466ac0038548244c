"""Which reminder jobs a meeting needs: pure planning from its schedule and offsets, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from functools import lru_cache

from bot.clock import from_unix, to_unix
from bot.jobs import NewJob
from bot.models.guilds import GuildSettings
from bot.models.meetings import Meeting
from bot.models.reminders import MeetingTiming, StoredException
from bot.occurrences import OccurrenceException, Repeat, Schedule, next_starts

REMINDER = "reminder"
NOTICE = "reminder-notice"
_MIN_GAP_S = 6 * 86400  # seconds: rules never repeat faster than weekly
_HORIZON_OCCURRENCES = 4
_NO_EXCEPTIONS: dict[date, OccurrenceException] = {}

Row = tuple[int, int, str, str, int]  # guild, meeting, occurrence, slot, fire_at (Unix seconds)


def offsets_for(meeting: Meeting, settings: GuildSettings) -> tuple[int, ...]:
    """The meeting's reminder offsets in minutes (its own, else the guild default)."""
    if meeting.reminder_offsets is not None:
        return _own_offsets(meeting.reminder_offsets)
    return _guild_offsets(settings.reminder_offsets)


@lru_cache(maxsize=256)
def _own_offsets(offsets: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(set(offsets), reverse=True))


@lru_cache(maxsize=256)
def _guild_offsets(text: str) -> tuple[int, ...]:
    return tuple(GuildSettings(0, reminder_offsets=text).offsets_minutes)


@lru_cache(maxsize=256)
def _slots(offsets: tuple[int, ...]) -> tuple[tuple[tuple[int, str], ...], int]:
    """((seconds before the start, slot), ...) of some offsets in minutes, and the longest."""
    return tuple((m * 60, str(m)) for m in offsets), max(offsets) * 60


def plan_rows(
    meeting_id: int,
    guild_id: int,
    schedule: Schedule,
    offsets: tuple[int, ...],
    *,
    after: datetime,
    floor: int,
    now: int,
    future: list[Row],
    due: list[Row],
) -> None:
    """Append the reminders of the occurrences following `after` that fire later than `floor`.

    Always the next occurrence; later ones too when an offset reaches back before the next start
    (so rolling forward after the next occurrence never comes too late for them). Rows firing
    later than `now` go to `future`, the others to `due`. Each occurrence is computed once and
    every offset derived from its start in whole seconds (no per-reminder objects).
    """
    if not offsets:
        return
    slots, longest = _slots(offsets)
    wide = longest >= _MIN_GAP_S or bool(schedule.exceptions)
    occurrences = next_starts(schedule, after, _HORIZON_OCCURRENCES if wide else 1)
    limit: int | None = None  # later occurrences only while an offset reaches before the first
    for day, start in occurrences:
        if limit is None:
            limit = start + longest
        elif start > limit:
            break
        key = day.isoformat()
        for seconds, slot in slots:
            fire = start - seconds
            if fire > floor:
                (future if fire > now else due).append((guild_id, meeting_id, key, slot, fire))


def new_jobs(rows: Iterable[Row]) -> list[NewJob]:
    """Reminder jobs of planned rows."""
    return [NewJob(REMINDER, g, from_unix(f), m, occ, slot) for g, m, occ, slot, f in rows]


def plan_schedule(
    meeting_id: int,
    guild_id: int,
    schedule: Schedule,
    offsets: Sequence[int],
    *,
    after: datetime,
    floor: datetime,
) -> list[NewJob]:
    """Reminder jobs for the occurrences following `after` whose fire time is later than `floor`.

    See :func:`plan_rows`.
    """
    rows: list[Row] = []
    floor_s = to_unix(floor)
    plan_rows(
        meeting_id,
        guild_id,
        schedule,
        tuple(offsets),
        after=after,
        floor=floor_s,
        now=floor_s,
        future=rows,
        due=rows,
    )
    return new_jobs(rows)


def plan(
    meeting: Meeting, offsets: Sequence[int], *, after: datetime, floor: datetime
) -> list[NewJob]:
    """Reminder jobs of a meeting (see :func:`plan_schedule`)."""
    return plan_schedule(
        meeting.id, meeting.guild_id, meeting.schedule, offsets, after=after, floor=floor
    )


def earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two optional instants."""
    if a is None:
        return b
    return a if b is None or a <= b else b


def exceptions_by_meeting(
    stored: Iterable[StoredException],
) -> dict[int, dict[date, OccurrenceException]]:
    """Stored exceptions as each meeting's schedule takes them."""
    out: dict[int, dict[date, OccurrenceException]] = defaultdict(dict)
    for e in stored:
        moved = datetime.strptime(e.moved_to, "%Y-%m-%d %H:%M") if e.moved_to else None  # noqa: DTZ007 - local wall time
        out[e.meeting_id][_date(e.occurrence)] = OccurrenceException(
            cancelled=e.cancelled, moved_to=moved
        )
    return out


def schedule_of(
    timing: MeetingTiming, exceptions: dict[int, dict[date, OccurrenceException]]
) -> Schedule:
    """A meeting's schedule from its stored timing (parsed through small caches: many repeat)."""
    return Schedule(
        timezone=timing.timezone,
        first_date=_date(timing.first_date),
        start_time=_time_of(timing.start_time),
        repeat=_repeat(timing.repeat),
        duration_minutes=timing.duration_minutes,
        paused_until=_date(timing.paused_until) if timing.paused_until else None,
        exceptions=exceptions.get(timing.id, _NO_EXCEPTIONS),
    )


def stored_offsets(timing: MeetingTiming, default: tuple[int, ...]) -> tuple[int, ...]:
    """A meeting's own stored offsets ("1440,15"), else the guild default; longest first."""
    if timing.reminder_offsets is None:
        return default
    return _parse_offsets(timing.reminder_offsets)


@lru_cache(maxsize=4096)
def _date(text: str) -> date:
    return date.fromisoformat(text)


@lru_cache(maxsize=2048)
def _time_of(text: str) -> time:
    return time.fromisoformat(text)


@lru_cache(maxsize=16)
def _repeat(text: str) -> Repeat:
    return Repeat(text)


@lru_cache(maxsize=256)
def _parse_offsets(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(m) for m in text.split(",") if m}, reverse=True))
