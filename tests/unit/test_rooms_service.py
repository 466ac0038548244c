"""Room state derived from the schedule (DST included), lifecycle jobs, restarts, removals."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from bot.bus import ROOM_CLOSED, ROOM_OPENED
from bot.clock import FakeClock
from bot.errors import UserFacingError
from bot.occurrences import OccurrenceException, Repeat, Schedule
from bot.services import Services
from bot.services.guilds import GuildSettings
from bot.services.meetings import Access, Kind, Meeting
from bot.services.rooms import (
    CLOSED,
    JOB_CLOSE,
    JOB_LIFT,
    JOB_OPEN,
    OPEN,
    RoomPolicy,
    derive_state,
    policy_for,
    upcoming_windows,
    validate_slowmode,
    window_at,
)
from tests.support.meetings import make_meeting

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

NY = "America/New_York"
POLICY = RoomPolicy(open_minutes=10, close_minutes=15, clear_chat=False)
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)  # Tuesday noon UTC
START = datetime(2027, 1, 6, 0, 0, tzinfo=UTC)  # 19:00 New York on Tuesday 5 January
OPENS = START - timedelta(minutes=10)
CLOSES = START + timedelta(minutes=75)


def weekly(first: date, at: time = time(19, 0), **kw: Any) -> Schedule:
    return Schedule(
        timezone=NY,
        first_date=first,
        start_time=at,
        repeat=Repeat.WEEKLY,
        duration_minutes=60,
        **kw,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- pure derivation ---------------------------------------------------------------------------


def test_open_from_start_minus_open_minutes_to_end_plus_close_minutes() -> None:
    schedule = weekly(date(2027, 1, 5))
    sec = timedelta(seconds=1)
    assert not derive_state(schedule, POLICY, OPENS - sec, {}).open
    assert derive_state(schedule, POLICY, OPENS, {}).open
    assert derive_state(schedule, POLICY, START + timedelta(minutes=30), {}).open
    assert derive_state(schedule, POLICY, CLOSES - sec, {}).open
    after = derive_state(schedule, POLICY, CLOSES, {})
    assert not after.open and not after.in_window
    assert after.key == "2027-01-12"  # about the next occurrence now
    state = derive_state(schedule, POLICY, OPENS, {})
    assert state.key == "2027-01-05" and state.window is not None
    assert (state.window.opens_at, state.window.closes_at) == (OPENS, CLOSES)


def test_windows_keep_local_time_across_both_dst_changes() -> None:
    # New York springs forward on Sunday 14 March 2027 and falls back on Sunday 7 November.
    schedule = weekly(date(2027, 3, 9))
    before = window_at(schedule, POLICY, utc(2027, 3, 10, 0, 0))
    assert before is not None and before.opens_at == utc(2027, 3, 9, 23, 50)  # EST, UTC-5
    march_16 = utc(2027, 3, 16, 22, 50)  # 18:50 EDT = 22:50 UTC (an hour earlier in UTC)
    assert derive_state(schedule, POLICY, march_16, {}).open
    assert not derive_state(schedule, POLICY, march_16 - timedelta(seconds=1), {}).open
    assert derive_state(schedule, POLICY, utc(2027, 3, 17, 0, 14), {}).open
    assert not derive_state(schedule, POLICY, utc(2027, 3, 17, 0, 15), {}).open
    november_9 = utc(2027, 11, 9, 23, 50)  # back to EST
    assert derive_state(schedule, POLICY, november_9, {}).open
    assert not derive_state(schedule, POLICY, utc(2027, 11, 9, 22, 50), {}).open


def test_a_meeting_in_the_spring_forward_gap_opens_relative_to_its_moved_start() -> None:
    schedule = Schedule(
        timezone=NY,
        first_date=date(2027, 3, 14),
        start_time=time(2, 30),  # does not exist that night: 03:30 EDT = 07:30 UTC
        repeat=Repeat.ONCE,
        duration_minutes=60,
    )
    window = window_at(schedule, POLICY, utc(2027, 3, 14, 7, 30))
    assert window is not None
    assert (window.opens_at, window.closes_at) == (utc(2027, 3, 14, 7, 20), utc(2027, 3, 14, 8, 45))


def test_overrides_close_the_current_or_open_the_next_occurrence() -> None:
    schedule = weekly(date(2027, 1, 5))
    mid = START + timedelta(minutes=20)
    closed = derive_state(schedule, POLICY, mid, {"2027-01-05": CLOSED})
    assert not closed.open and closed.in_window and closed.override == CLOSED
    early = derive_state(schedule, POLICY, T0, {"2027-01-05": OPEN})
    assert early.open and not early.in_window
    # An override is about its occurrence only: the next week follows the schedule.
    later = derive_state(schedule, POLICY, CLOSES + timedelta(days=7), {"2027-01-05": OPEN})
    assert not later.open


def test_cancelled_and_moved_occurrences() -> None:
    cancelled = weekly(
        date(2027, 1, 5), exceptions={date(2027, 1, 5): OccurrenceException(cancelled=True)}
    )
    assert not derive_state(cancelled, POLICY, START, {}).open
    assert derive_state(cancelled, POLICY, START, {}).key == "2027-01-12"
    moved = weekly(
        date(2027, 1, 5),
        exceptions={
            date(2027, 1, 5): OccurrenceException(
                cancelled=False,
                moved_to=datetime(2027, 1, 6, 20, 0),  # naive local wall time
            )
        },
    )
    assert not derive_state(moved, POLICY, START, {}).open
    state = derive_state(moved, POLICY, utc(2027, 1, 7, 0, 50), {})  # 19:50 local on the 6th
    assert state.open and state.key == "2027-01-05"


def test_upcoming_windows_start_with_the_current_one() -> None:
    schedule = weekly(date(2027, 1, 5))
    windows = upcoming_windows(schedule, POLICY, START, 3)
    assert [w.key for w in windows] == ["2027-01-05", "2027-01-12", "2027-01-19"]
    assert [w.key for w in upcoming_windows(schedule, POLICY, CLOSES, 1)] == ["2027-01-12"]


def test_policy_falls_back_to_guild_defaults() -> None:
    settings = GuildSettings(guild_id=1, room_open_minutes=5, room_close_minutes=30)
    meeting = _meeting_model(room_close_minutes=0, room_clear_chat=True)
    assert policy_for(meeting, settings) == RoomPolicy(5, 0, True)


def test_slowmode_bounds() -> None:
    assert validate_slowmode(0) == 0 and validate_slowmode(21600) == 21600
    for bad in (-1, 21601):
        with pytest.raises(UserFacingError, match="between 0"):
            validate_slowmode(bad)


def _meeting_model(**fields: Any) -> Meeting:
    return Meeting(
        id=1,
        guild_id=1,
        title="t",
        kind=Kind.NA,
        access=Access.OPEN,
        formats=(),
        timezone=NY,
        first_date=date(2027, 1, 5),
        start_time=time(19, 0),
        duration_minutes=60,
        repeat=Repeat.WEEKLY,
        **fields,
    )


# -- with the database ------------------------------------------------------------------------


@pytest.fixture
def start() -> datetime:
    """Tuesday noon UTC, before the first meeting."""
    return T0


async def _room(services: Services) -> Meeting:
    mid = await make_meeting(services, 1, title="Tuesday", formats=(), timezone=NY)
    meeting = await services.meetings.get(mid)
    assert meeting is not None
    await services.rooms.save_link(
        meeting, category_id=10, text_channel_id=11, voice_channel_id=12, stage=False
    )
    return meeting


async def _jobs(services: Services, meeting: Meeting) -> set[tuple[str, str, datetime]]:
    return {
        (j.kind, j.occurrence, j.fire_at)
        for j in await services.jobs.pending(meeting_id=meeting.id)
        if j.kind in (JOB_OPEN, JOB_CLOSE, JOB_LIFT)
    }


async def test_linking_materialises_open_and_close_for_the_next_occurrences(
    services: Services,
) -> None:
    meeting = await _room(services)
    assert await _jobs(services, meeting) == {
        (JOB_OPEN, "2027-01-05", OPENS),
        (JOB_CLOSE, "2027-01-05", CLOSES),
        (JOB_OPEN, "2027-01-12", OPENS + timedelta(days=7)),
        (JOB_CLOSE, "2027-01-12", CLOSES + timedelta(days=7)),
    }
    stored = await services.meetings.get(meeting.id)
    assert stored is not None and stored.room_text_channel_id == 11
    assert (await services.rooms.link_for_channels(1, [999, 12])) is not None
    assert (await services.rooms.link_for_channels(2, [12])) is None


async def test_restart_in_the_middle_of_an_occurrence(services: Services, clock: FakeClock) -> None:
    meeting = await _room(services)
    # Opened, then the process died; it comes back 30 minutes into the meeting.
    clock.set(OPENS)
    await services.rooms.record_opened(meeting, "2027-01-05")
    clock.set(START + timedelta(minutes=30))
    await services.rooms.schedule_all()
    assert (await services.rooms.state(meeting)).open
    jobs = await _jobs(services, meeting)
    assert (JOB_CLOSE, "2027-01-05", CLOSES) in jobs
    assert not any(k == JOB_OPEN and o == "2027-01-05" for k, o, _ in jobs)  # card not reposted


async def test_restart_after_a_missed_opening_opens_at_once(
    services: Services, clock: FakeClock
) -> None:
    meeting = await _room(services)
    clock.set(START + timedelta(minutes=30))  # down across the opening
    await services.rooms.schedule_all()
    due = [
        j
        for j in await services.jobs.pending(meeting_id=meeting.id)
        if j.fire_at <= clock.now() and j.kind in (JOB_OPEN, JOB_CLOSE)
    ]
    assert [(j.kind, j.occurrence) for j in due] == [(JOB_OPEN, "2027-01-05")]


async def test_restart_after_the_end_closes_what_was_left_open(
    services: Services, clock: FakeClock
) -> None:
    meeting = await _room(services)
    clock.set(OPENS)
    await services.rooms.record_opened(meeting, "2027-01-05")
    await services.db.execute("DELETE FROM jobs")  # the close job is lost too
    clock.set(CLOSES + timedelta(hours=3))
    await services.rooms.schedule_all()
    assert not (await services.rooms.state(meeting)).open
    due = [
        j
        for j in await services.jobs.pending(meeting_id=meeting.id)
        if j.fire_at <= clock.now() and j.kind in (JOB_OPEN, JOB_CLOSE)
    ]
    assert [(j.kind, j.occurrence) for j in due] == [(JOB_CLOSE, "2027-01-05")]


async def test_ledger_records_and_events(services: Services) -> None:
    meeting = await _room(services)
    seen: list[tuple[str, dict[str, Any]]] = []

    async def opened(**payload: Any) -> None:
        seen.append((ROOM_OPENED, payload))

    async def closed(**payload: Any) -> None:
        seen.append((ROOM_CLOSED, payload))

    services.events.subscribe(ROOM_OPENED, opened)
    services.events.subscribe(ROOM_CLOSED, closed)
    await services.rooms.record_opened(meeting, "2027-01-05")
    await services.rooms.record_closed(meeting, "2027-01-05", cleared=True)
    await services.rooms.record_closed(meeting, "2027-01-12", cleared=False, announce=False)
    payload = {"meeting_id": meeting.id, "guild_id": 1, "occurrence": "2027-01-05"}
    assert seen == [(ROOM_OPENED, payload), (ROOM_CLOSED, payload)]
    entry = await services.rooms.ledger(meeting.id, "2027-01-05")
    assert entry is not None and entry.opened_at and entry.closed_at and entry.cleared_at
    # A manual reopen resets closing and clearing, so the scheduled close runs again.
    await services.rooms.record_opened(meeting, "2027-01-05")
    entry = await services.rooms.ledger(meeting.id, "2027-01-05")
    assert entry is not None and entry.closed_at is None and entry.cleared_at is None
    assert (JOB_CLOSE, "2027-01-05", CLOSES) in await _jobs(services, meeting)


async def test_removals_are_stored_lifted_by_a_job_and_outlive_forget_me(
    services: Services,
    clock: FakeClock,
) -> None:
    meeting = await _room(services)
    clock.set(START)
    state = await services.rooms.state(meeting)
    assert state.window is not None
    removal = await services.rooms.add_removal(meeting, 4242, state.window)
    assert removal.until == CLOSES and removal.user_id == 4242
    lifts = await services.jobs.pending(kind=JOB_LIFT)
    assert [(j.meeting_id, j.occurrence, j.fire_at) for j in lifts] == [
        (meeting.id, "2027-01-05", CLOSES)
    ]
    # The lift job is re-created from the stored removal if it went missing.
    await services.db.execute("DELETE FROM jobs WHERE kind = ?", (JOB_LIFT,))
    await services.rooms.schedule_all()
    assert len(await services.jobs.pending(kind=JOB_LIFT)) == 1
    assert ("room_removals", "user_id") in {
        (s.table, s.user_column) for s in services.privacy.stores
    }
    await services.privacy.forget_user(4242, guild_id=1)
    assert await services.rooms.removals(meeting.id) == [removal]
    await services.privacy.purge_guild(1)
    assert await services.rooms.removals(meeting.id) == []


async def test_removal_after_the_window_is_refused(services: Services, clock: FakeClock) -> None:
    meeting = await _room(services)
    window = window_at(meeting.schedule, POLICY, START)
    assert window is not None
    clock.set(CLOSES)
    with pytest.raises(UserFacingError):
        await services.rooms.add_removal(meeting, 1, window)


async def test_forget_link_drops_jobs_and_clears_the_meeting_columns(services: Services) -> None:
    meeting = await _room(services)
    await services.rooms.forget_link(meeting.id)
    assert await services.rooms.link(meeting.id) is None
    assert await _jobs(services, meeting) == set()
    stored = await services.meetings.get(meeting.id)
    assert stored is not None and stored.room_category_id is None


async def test_deleting_the_meeting_keeps_the_link_for_channel_clean_up(services: Services) -> None:
    meeting = await _room(services)
    await services.rooms.record_opened(meeting, "2027-01-05")
    async with services.db.transaction() as tx:
        await services.meetings.delete(tx, meeting.id)
    link = await services.rooms.link(meeting.id)
    assert link is not None and link.channel_ids == (10, 11, 12)
    assert await services.rooms.ledger(meeting.id, "2027-01-05") is None  # cascaded
    await services.rooms.schedule_all()  # a link without a meeting schedules nothing
    assert await _jobs(services, meeting) == set()
