"""ReminderService without Discord: materialising, the ledger, grace, retries, changes, notices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import bot.jobs as jobs_module
from bot.bus import EventBus
from bot.clock import FakeClock
from bot.cluster import Shards
from bot.config import Settings, load_settings
from bot.db import Database
from bot.db.repositories import reminders as reminders_repo
from bot.jobs import JobEngine
from bot.models.reminders import MeetingTiming
from bot.permissions import Level
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import Actor, Meeting, MeetingEdit, MeetingService, MeetingStore
from bot.services.privacy import PrivacyService
from bot.services.reminders import (
    CHANNEL,
    MAX_SEND_ATTEMPTS,
    NOTICE,
    REMINDER,
    Message,
    NoticeMessage,
    Outcome,
    Pacer,
    ReminderMessage,
    ReminderService,
    SendResult,
    nonce_for,
    offsets_for,
    plan,
)
from bot.services.reminders import delivery as delivery_module

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

GUILD = 5001
ANNOUNCE = 7001
MODLOG = 7002
FAC = Actor(11, Level.FACILITATOR)
PEER_A = 21
PEER_B = 22
SNOWFLAKE = 1_234_567_890_123_456_789  # a real user id: beyond a double's exact integers
# Thursday 2027-01-07 12:00 New York; the meeting below is Thursday 19:00 New York (00:00 UTC).
NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)
START = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)


@dataclass
class Sent:
    where: str  # "channel" or "dm"
    target: int
    message: Message


@dataclass
class FakeSender:
    """Records every send; `script` gives the outcomes of the next sends in order."""

    sent: list[Sent] = field(default_factory=list)
    script: list[SendResult] = field(default_factory=list)
    alerts: list[tuple[int, int, str]] = field(default_factory=list)

    def _next(self) -> SendResult:
        return self.script.pop(0) if self.script else SendResult(Outcome.SENT)

    async def to_channel(self, guild_id: int, channel_id: int, message: Message) -> SendResult:
        result = self._next()
        self.sent.append(Sent("channel", channel_id, message))
        return result

    async def to_user(self, guild_id: int, user_id: int, message: Message) -> SendResult:
        result = self._next()
        self.sent.append(Sent("dm", user_id, message))
        return result

    async def alert(self, guild_id: int, channel_id: int, reason: str) -> None:
        self.alerts.append((guild_id, channel_id, reason))

    def reminders(self) -> list[Sent]:
        return [s for s in self.sent if isinstance(s.message, ReminderMessage)]

    def notices(self) -> list[Sent]:
        return [s for s in self.sent if isinstance(s.message, NoticeMessage)]


@dataclass
class World:
    db: Database
    clock: FakeClock
    jobs: JobEngine
    meetings: MeetingService
    reminders: ReminderService
    guilds: GuildSettingsService
    privacy: PrivacyService
    sender: FakeSender

    async def run(self) -> int:
        """Claim what is due and wait for the handlers (as the e2e tests do)."""
        total = 0
        while True:
            count = await self.jobs.run_due()
            await self.jobs.drain()
            total += count
            if count == 0:
                return total

    async def at(self, when: datetime) -> int:
        """Jump the clock and run what is due."""
        self.clock.set(when)
        return await self.run()

    async def ledger(self) -> list[tuple[str, int, int, str, str]]:
        rows = await self.db.fetchall(
            "SELECT occurrence, offset_minutes, target_user_id, status, reason "
            "FROM reminder_deliveries ORDER BY id"
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    async def schedule(self, **kw: object) -> Meeting:
        args: dict[str, object] = {
            "title": "Thursday *Hope*",
            "start": "2027-01-07 19:00",
            "timezone": "America/New_York",
            "repeat": "weekly",
        }
        args.update(kw)
        return await self.meetings.schedule(GUILD, FAC, **args)  # type: ignore[arg-type]


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"_env_file": None, "discord_token": "x", "dm_rate_per_second": 50}
    values.update(overrides)
    return load_settings(**values)


async def _world(db: Database, clock: FakeClock, cfg: Settings) -> World:
    events = EventBus()
    privacy = PrivacyService(db)
    guilds = GuildSettingsService(db, clock)
    jobs = JobEngine(db, clock)
    store = MeetingStore(db, clock, privacy)
    service = MeetingService(db, clock, store, guilds, events, jobs)
    reminders = ReminderService(db, clock, cfg, jobs, store, guilds, privacy, events)
    sender = FakeSender()
    reminders.sender = sender
    await guilds.update(GUILD, announce_channel_id=ANNOUNCE, modlog_channel_id=MODLOG)
    return World(db, clock, jobs, service, reminders, guilds, privacy, sender)


@pytest.fixture
def start() -> datetime:
    """When `clock` (tests/unit/conftest.py) starts."""
    return NOW


@pytest.fixture
async def world(db: Database, clock: FakeClock) -> World:
    return await _world(db, clock, _settings())


def _fire_times(jobs: list) -> list[tuple[str, str, datetime]]:  # type: ignore[type-arg]
    return [(j.occurrence, j.slot, j.fire_at) for j in jobs]


# -- planning -------------------------------------------------------------------------------


async def test_a_new_meeting_gets_its_next_occurrence_at_the_guild_offsets(world: World) -> None:
    meeting = await world.schedule()
    pending = await world.reminders.pending_reminders(meeting.id)
    assert (
        _fire_times(pending)
        == [
            ("2027-01-07", "1440", START - timedelta(days=1)),
            ("2027-01-07", "15", START - timedelta(minutes=15)),
        ][1:]
    )  # the 24 h reminder of today's 19:00 meeting is already past: not created
    assert offsets_for(meeting, await world.guilds.get(GUILD)) == (1440, 15)


async def test_plan_reaches_further_when_an_offset_is_longer_than_a_week(world: World) -> None:
    meeting = await world.schedule()
    jobs = plan(meeting, [10 * 1440, 60], after=NOW, floor=NOW)
    occurrences = sorted({j.occurrence for j in jobs})
    # The 14th's 10-day reminder reaches back before the 7th's start: planned now (the 21st's
    # comes after it, so rolling forward will be in time for it).
    assert occurrences == ["2027-01-07", "2027-01-14"]
    assert all(j.fire_at > NOW for j in jobs)


async def test_reconcile_is_idempotent_and_restores_lost_jobs(world: World) -> None:
    meeting = await world.schedule()
    before = _fire_times(await world.reminders.pending_reminders(meeting.id))
    await world.db.execute("DELETE FROM jobs")
    await world.reminders.reconcile()
    await world.reminders.reconcile()
    assert _fire_times(await world.reminders.pending_reminders(meeting.id)) == before


async def test_reconcile_in_the_grace_window_restores_only_undelivered_due_reminders(
    world: World,
) -> None:
    sent = await world.schedule()
    unsent = await world.schedule(title="Second")
    await world.at(START - timedelta(minutes=15))
    await world.db.execute("DELETE FROM reminder_deliveries WHERE meeting_id = ?", (unsent.id,))
    await world.db.execute("DELETE FROM jobs")  # the table was lost while the bot was down
    world.clock.set(START - timedelta(minutes=14))
    await world.reminders.reconcile()
    # Due a minute ago: restored only where the ledger holds no channel delivery.
    assert _fire_times(await world.reminders.pending_reminders(sent.id)) == []
    assert _fire_times(await world.reminders.pending_reminders(unsent.id)) == [
        ("2027-01-07", "15", START - timedelta(minutes=15))
    ]


def _spy_reconcile_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Ids of the meetings the reconcile reads from now on (to plan their reminders)."""
    read: list[int] = []
    real = reminders_repo.meetings_without_pending

    async def spy(*args: Any, **kwargs: Any) -> list[MeetingTiming]:
        timings = await real(*args, **kwargs)
        read.extend(t.id for t in timings)
        return timings

    monkeypatch.setattr(reminders_repo, "meetings_without_pending", spy)
    return read


async def test_the_reconcile_reads_no_meeting_that_is_over(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart reconciles a store whose meetings are all scheduled: it should read nothing.

    A one-off meeting that is over keeps no pending reminder, so every reconcile (each start and
    every 5 minutes) read it again and planned nothing (7,591 of 100,000 in bench/scale.py).
    """
    weekly = await world.schedule()
    over = await world.schedule(title="Once", repeat="once")
    moved = await world.schedule(title="Once, moved", repeat="once")
    await world.at(START - timedelta(minutes=15))  # both one-offs' last reminders went out
    assert await world.reminders.pending_reminders(over.id) == []
    await world.db.execute(
        "INSERT INTO meeting_exceptions (meeting_id, occurrence, cancelled, moved_to) "
        "VALUES (?, '2027-01-07', 0, '2027-01-21 19:00')",
        (moved.id,),
    )
    world.clock.set(START + timedelta(days=3))
    read = _spy_reconcile_reads(monkeypatch)
    await world.reminders.reconcile()
    assert weekly.id not in read and over.id not in read
    assert moved.id in read  # moved to a later date: it may need reminders again


async def test_a_sharded_reconcile_reads_only_its_own_guilds_meetings(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, theirs = 3 << 22, 2 << 22  # shards 1 and 0 of 2
    for guild_id in (mine, theirs):
        await world.meetings.schedule(
            guild_id,
            FAC,
            title=f"in {guild_id}",
            start="2027-01-07 19:00",
            timezone="UTC",
            repeat="weekly",
        )
    await world.db.execute("DELETE FROM jobs")
    world.jobs.shards = Shards(2, (1,))
    read = _spy_reconcile_reads(monkeypatch)
    await world.reminders.reconcile()
    # Filtered where the meetings are read: the other processes' guilds never leave the store.
    assert read and {m.guild_id for m in (await world.meetings.store.get_many(read)).values()} == {
        mine
    }
    assert {j.guild_id for j in await world.reminders.pending_reminders()} == {mine}


# -- delivery -------------------------------------------------------------------------------


async def test_delivers_to_channel_and_subscribers_once_and_rolls_forward(world: World) -> None:
    meeting = await world.schedule()
    await world.reminders.subscribe(GUILD, PEER_A, meeting.id)
    assert await world.at(START - timedelta(minutes=16)) == 0
    await world.at(START - timedelta(minutes=15))
    sent = world.sender.reminders()
    assert [(s.where, s.target) for s in sent] == [("channel", ANNOUNCE), ("dm", PEER_A)]
    first = sent[0].message
    assert isinstance(first, ReminderMessage)
    assert first.occurrence.start == START and first.offset_minutes == 15 and not first.late
    assert first.nonce == nonce_for(meeting.id, "2027-01-07", 15, CHANNEL)
    assert len(first.nonce) <= 25
    assert await world.ledger() == [
        ("2027-01-07", 15, PEER_A, "delivered", ""),
        ("2027-01-07", 15, CHANNEL, "delivered", ""),
    ]
    # Rolled forward in the same transaction: next week's reminders are pending.
    assert _fire_times(await world.reminders.pending_reminders(meeting.id)) == [
        ("2027-01-14", "1440", START + timedelta(days=6)),
        ("2027-01-14", "15", START + timedelta(days=7, minutes=-15)),
    ]
    await world.at(START + timedelta(days=6))
    assert len(world.sender.reminders()) == 4  # next week's 24 h: channel and DM


class _TxSpy:
    """A transaction that notes each statement it runs (the spy of ``_spy_transactions``)."""

    def __init__(self, tx: object, statements: list[str]) -> None:
        self._tx = tx
        self._statements = statements

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._tx, name)
        if name not in ("execute", "executemany", "fetchall", "fetchone", "fetchval", "insert"):
            return attr

        async def call(sql: str, *args: object) -> object:
            self._statements.append(sql)
            return await attr(sql, *args)  # type: ignore[operator]

        return call


def _spy_transactions(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Each write transaction opened from now on, as the statements it ran."""
    opened: list[list[str]] = []
    real = db.transaction

    @asynccontextmanager
    async def spy() -> AsyncIterator[object]:
        statements: list[str] = []
        opened.append(statements)
        async with real() as tx:
            yield _TxSpy(tx, statements)

    monkeypatch.setattr(db, "transaction", spy)
    return opened


async def test_a_batch_of_due_reminders_finishes_in_one_transaction(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    meetings = [await world.schedule(title=f"Meeting {i}") for i in range(6)]
    world.clock.set(START - timedelta(minutes=15))
    opened = _spy_transactions(world.db, monkeypatch)
    await world.run()
    assert len(world.sender.reminders()) == 6
    # Group commit: the six ledger rows, completions and next weeks' jobs in one transaction.
    finishing = [t for t in opened if any("reminder_deliveries" in sql for sql in t)]
    assert len(finishing) == 1
    assert len(await world.ledger()) == 6
    for meeting in meetings:
        assert _fire_times(await world.reminders.pending_reminders(meeting.id)) == [
            ("2027-01-14", "1440", START + timedelta(days=6)),
            ("2027-01-14", "15", START + timedelta(days=7, minutes=-15)),
        ]
    # The ledger rows go in by one statement, each value exact (a snowflake beyond a double's).
    await world.reminders.subscribe(GUILD, SNOWFLAKE, meetings[0].id)
    world.sender.script = [SendResult(Outcome.SENT)] * 6 + [SendResult(Outcome.DM_CLOSED)]
    await world.at(START + timedelta(days=6))
    assert ("2027-01-14", 1440, SNOWFLAKE, "failed", "DMs closed; unsubscribed") in (
        await world.ledger()
    )


async def test_a_burst_finishes_after_a_linger_and_a_few_reminders_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst's bookkeeping (planning the next reminders, the ledger's commit) waits a moment:
    across 3 processes on 2 cores it delayed the others' hand-offs (bench/scale.py)."""
    monkeypatch.setattr(delivery_module, "BURST", 3)
    monkeypatch.setattr(delivery_module, "BURST_LINGER", 0.001)
    lingers: list[float] = []
    finishing = world.reminders.delivery._finishing
    real = finishing.submit

    async def spy(item: Any, *, linger: float = 0.0) -> None:
        lingers.append(linger)
        await real(item, linger=linger)

    monkeypatch.setattr(finishing, "submit", spy)
    for i in range(3):
        await world.schedule(title=f"Meeting {i}")
    await world.schedule(title="Later", start="2027-01-07 19:30")
    await world.at(START - timedelta(minutes=15))  # a burst of three
    await world.at(START + timedelta(minutes=15))  # one
    assert lingers == [0.001] * 3 + [0.0]
    assert len(await world.ledger()) == 4


async def test_a_reminder_claimed_ahead_is_handed_off_at_its_due_instant(world: World) -> None:
    """The timer claims reminders a moment early: everything is read before the due instant,
    and nothing is sent before it (bench/scale.py's p95 was the claim and the reads)."""
    await world.schedule()
    due = START - timedelta(minutes=15)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        assert world.sender.sent == []  # read, not sent
        waits.append(seconds)
        world.clock.advance(timedelta(seconds=seconds))

    world.reminders.delivery.sleep = sleep
    world.clock.set(due - timedelta(seconds=0.6))
    assert await world.jobs.run_due(ahead=True) == 1
    await world.jobs.drain()
    assert len(waits) == 1 and 0.6 <= waits[0] < 0.61  # never a clock tick early
    assert due <= world.clock.now() < due + timedelta(seconds=0.01)
    sent = world.sender.reminders()
    assert len(sent) == 1 and isinstance(sent[0].message, ReminderMessage)
    assert not sent[0].message.late
    assert (await world.ledger())[0][3] == "delivered"


async def test_an_edit_while_a_reminder_waits_for_its_instant_is_honoured(world: World) -> None:
    meeting = await world.schedule()
    due = START - timedelta(minutes=15)

    async def sleep(seconds: float) -> None:  # moved an hour later between the read and the send
        await world.meetings.edit(GUILD, meeting.id, FAC, MeetingEdit(start="2027-01-07 20:00"))
        world.clock.advance(timedelta(seconds=seconds))

    world.reminders.delivery.sleep = sleep
    world.clock.set(due - timedelta(seconds=0.5))
    await world.jobs.run_due(ahead=True)
    await world.jobs.drain()
    assert world.sender.sent == []
    assert _fire_times(await world.reminders.pending_reminders(meeting.id)) == [
        ("2027-01-07", "15", START + timedelta(minutes=45)),
    ]


async def test_a_subscriber_added_while_a_reminder_waits_for_its_instant_gets_it(
    world: World,
) -> None:
    meeting = await world.schedule()

    async def sleep(seconds: float) -> None:
        await world.reminders.subscribe(GUILD, PEER_A, meeting.id)
        world.clock.advance(timedelta(seconds=seconds))

    world.reminders.delivery.sleep = sleep
    world.clock.set(START - timedelta(minutes=15, seconds=0.5))
    await world.jobs.run_due(ahead=True)
    await world.jobs.drain()
    assert [(s.where, s.target) for s in world.sender.reminders()] == [
        ("channel", ANNOUNCE),
        ("dm", PEER_A),
    ]


async def test_a_recovered_job_skips_targets_the_ledger_holds(world: World) -> None:
    meeting = await world.schedule()
    await world.reminders.subscribe(GUILD, PEER_A, meeting.id)
    await world.reminders.subscribe(GUILD, PEER_B, meeting.id)
    world.clock.set(START - timedelta(minutes=15))
    # A crash after the channel post and one DM were recorded, before the job was completed:
    await world.db.execute(
        "INSERT INTO reminder_deliveries (meeting_id, guild_id, occurrence, offset_minutes, "
        "target_user_id, status, recorded_at) VALUES (?, ?, '2027-01-07', 15, ?, 'delivered', ?)",
        (meeting.id, GUILD, CHANNEL, int(NOW.timestamp())),
    )
    await world.db.execute(
        "INSERT INTO reminder_deliveries (meeting_id, guild_id, occurrence, offset_minutes, "
        "target_user_id, status, recorded_at) VALUES (?, ?, '2027-01-07', 15, ?, 'delivered', ?)",
        (meeting.id, GUILD, PEER_A, int(NOW.timestamp())),
    )
    await world.db.execute("UPDATE jobs SET status = 'claimed' WHERE slot = '15'")
    restarted = JobEngine(world.db, world.clock)
    # The process died; a new engine and service start on the same database.
    reminders = ReminderService(
        world.db,
        world.clock,
        load_settings(_env_file=None, discord_token="x"),
        restarted,
        world.reminders.meetings,
        world.guilds,
        world.privacy,
        EventBus(),
        dm_rate_per_second=0,
    )
    reminders.sender = world.sender
    assert await restarted.start() == 1
    await restarted.run_due()
    await restarted.drain()
    await restarted.stop()
    assert [(s.where, s.target) for s in world.sender.reminders()] == [("dm", PEER_B)]


async def test_late_within_grace_is_marked_late_and_older_is_skipped(world: World) -> None:
    meeting = await world.schedule()
    # Down from 18:40 to 18:54 New York: the 18:45 reminder is 9 minutes late (within 10).
    await world.at(START - timedelta(minutes=6))
    sent = world.sender.reminders()
    assert len(sent) == 1 and isinstance(sent[0].message, ReminderMessage)
    assert sent[0].message.late and sent[0].message.meeting.id == meeting.id
    assert (await world.ledger())[0][3:] == ("delivered", "sent late")

    # The next week: down across the 24 h reminder for 11 minutes: skipped and counted.
    world.sender.sent.clear()
    await world.at(START + timedelta(days=6, minutes=11))
    assert world.sender.reminders() == []
    assert world.reminders.skipped_total == 1
    assert (await world.ledger())[-1] == (
        "2027-01-14",
        1440,
        CHANNEL,
        "skipped",
        "past the grace window",
    )


async def test_never_sent_after_the_meeting_started(db: Database, clock: FakeClock) -> None:
    world = await _world(db, clock, _settings(reminder_grace_minutes=60))
    await world.schedule()
    await world.at(START + timedelta(minutes=1))
    assert world.sender.reminders() == []
    assert (await world.ledger())[0][3:] == ("skipped", "meeting had started")


async def test_a_5xx_is_retried_with_backoff_then_delivered_once(world: World) -> None:
    await world.schedule()
    world.sender.script = [SendResult(Outcome.RETRY, "HTTP 503")]
    await world.at(START - timedelta(minutes=15))
    assert await world.ledger() == []
    retry = [j for j in await world.reminders.pending_reminders() if j.slot == "15"]
    assert retry and retry[0].fire_at == START - timedelta(minutes=15) + timedelta(seconds=30)
    await world.at(START - timedelta(minutes=15) + timedelta(seconds=30))
    assert [s.target for s in world.sender.reminders()] == [ANNOUNCE, ANNOUNCE]
    assert [r[3] for r in await world.ledger()] == ["delivered"]


async def test_a_5xx_that_persists_is_recorded_failed_after_bounded_attempts(world: World) -> None:
    await world.schedule()
    world.sender.script = [SendResult(Outcome.RETRY, "timeout")] * MAX_SEND_ATTEMPTS
    when = START - timedelta(minutes=15)
    await world.at(when)
    for step in (30, 60, 120):
        when += timedelta(seconds=step)
        await world.at(when)
    assert len(world.sender.reminders()) == MAX_SEND_ATTEMPTS
    assert (await world.ledger())[0][3:] == (
        "failed",
        f"gave up after {MAX_SEND_ATTEMPTS}: timeout",
    )
    assert [j.occurrence for j in await world.reminders.pending_reminders()] == ["2027-01-14"] * 2


async def test_closed_dms_unsubscribe_quietly(world: World) -> None:
    meeting = await world.schedule()
    other = await world.schedule(title="Other", start="2027-01-08 19:00")
    await world.reminders.subscribe(GUILD, PEER_A, meeting.id)
    await world.reminders.subscribe(GUILD, PEER_A, other.id)
    world.sender.script = [SendResult(Outcome.SENT), SendResult(Outcome.DM_CLOSED, "HTTP 403")]
    await world.at(START - timedelta(minutes=15))
    assert await world.reminders.subscriptions(GUILD, PEER_A) == []
    assert (await world.ledger())[0][2:4] == (PEER_A, "failed")


async def test_a_lost_channel_alerts_the_mod_log_once_until_a_post_succeeds(world: World) -> None:
    await world.schedule()
    await world.schedule(title="Other", start="2027-01-07 19:30")
    no_access = SendResult(Outcome.NO_ACCESS, "HTTP 403 (50013)")
    world.sender.script = [no_access, no_access]
    await world.at(START - timedelta(minutes=15))
    await world.at(START + timedelta(minutes=15))
    assert len(world.sender.reminders()) == 2
    assert world.sender.alerts == [(GUILD, ANNOUNCE, "HTTP 403 (50013)")]
    assert [r[3:] for r in await world.ledger()] == [("failed", "HTTP 403 (50013)")] * 2
    # A later success clears the alert, so a new failure is reported again.
    await world.at(START + timedelta(days=6))
    world.sender.script = [no_access]
    await world.at(START + timedelta(days=6, minutes=30))
    assert len(world.sender.alerts) == 2


async def test_no_announcement_channel_records_a_skip(world: World) -> None:
    await world.guilds.update(GUILD, announce_channel_id=None)
    await world.schedule()
    await world.at(START - timedelta(minutes=15))
    assert world.sender.sent == []
    assert (await world.ledger())[0][3:] == ("skipped", "no announcement channel")


# -- meeting changes ---------------------------------------------------------------------------


async def test_an_edit_moves_pending_reminders_at_once(world: World) -> None:
    meeting = await world.schedule()
    await world.meetings.edit(GUILD, meeting.id, FAC, MeetingEdit(start="2027-01-07 20:00"))
    assert _fire_times(await world.reminders.pending_reminders(meeting.id)) == [
        ("2027-01-07", "15", START + timedelta(minutes=45)),
    ]
    await world.at(START - timedelta(minutes=15))
    assert world.sender.sent == []
    await world.at(START + timedelta(minutes=45))
    assert len(world.sender.reminders()) == 1


async def test_custom_offsets_of_a_meeting_win_over_the_guild_default(world: World) -> None:
    meeting = await world.schedule()
    await world.meetings.edit(GUILD, meeting.id, FAC, MeetingEdit(reminder_offsets="2h,30m"))
    slots = [j.slot for j in await world.reminders.pending_reminders(meeting.id)]
    assert slots == ["120", "30"]


async def test_a_cancelled_occurrence_gets_a_notice_instead_of_reminders(world: World) -> None:
    meeting = await world.schedule()
    await world.reminders.subscribe(GUILD, PEER_A, meeting.id)
    await world.meetings.cancel(GUILD, meeting.id, FAC, "2027-01-14")
    # This week's reminder is unaffected; next week's are gone; the notice waits for its day.
    await world.at(START - timedelta(minutes=15))
    assert [s.where for s in world.sender.reminders()] == ["channel", "dm"]
    assert world.sender.notices() == []
    world.sender.sent.clear()
    await world.at(START + timedelta(days=6))
    notices = world.sender.notices()
    assert [(n.where, n.target) for n in notices] == [("channel", ANNOUNCE), ("dm", PEER_A)]
    assert isinstance(notices[0].message, NoticeMessage)
    assert notices[0].message.change == "cancelled"
    assert notices[0].message.next_start == START + timedelta(days=14)
    assert world.sender.reminders() == []
    await world.at(START + timedelta(days=14, minutes=-15))
    assert [s.message.occurrence.key.isoformat() for s in world.sender.reminders()] == [  # type: ignore[union-attr]
        "2027-01-21",
        "2027-01-21",
    ]


async def test_a_restored_occurrence_gets_no_cancel_notice(world: World) -> None:
    meeting = await world.schedule()
    await world.meetings.cancel(GUILD, meeting.id, FAC, "2027-01-14")
    await world.meetings.cancel(GUILD, meeting.id, FAC, "2027-01-14", restore=True)
    await world.at(START - timedelta(minutes=15))
    await world.at(START + timedelta(days=6))
    assert world.sender.notices() == []
    assert len(world.sender.reminders()) == 2  # this week's 15 min, next week's 24 h


async def test_cancel_notices_can_be_turned_off(world: World) -> None:
    await world.guilds.update(GUILD, cancel_notices=False)
    meeting = await world.schedule()
    await world.meetings.cancel(GUILD, meeting.id, FAC, "2027-01-07")
    await world.run()
    assert world.sender.sent == []
    assert await world.reminders.pending_reminders(meeting.id) != []


async def test_subscribers_hear_of_moves_pauses_and_deletion(world: World) -> None:
    meeting = await world.schedule()
    await world.reminders.subscribe(GUILD, PEER_A, meeting.id)
    await world.meetings.move(GUILD, meeting.id, FAC, "2027-01-14", "2027-01-15 19:00")
    await world.run()
    await world.meetings.pause(GUILD, meeting.id, FAC, "2027-02-01")
    await world.run()
    assert await world.reminders.pending_reminders(meeting.id) != []
    await world.meetings.delete(GUILD, meeting.id, FAC, delete_room=False)
    await world.run()
    changes = [
        (n.where, n.target, n.message.change)  # type: ignore[union-attr]
        for n in world.sender.notices()
    ]
    assert changes == [("dm", PEER_A, "moved"), ("dm", PEER_A, "paused"), ("dm", PEER_A, "deleted")]
    moved = world.sender.notices()[0].message
    assert isinstance(moved, NoticeMessage)
    assert moved.next_start == START + timedelta(days=8)
    deleted = world.sender.notices()[2].message
    assert isinstance(deleted, NoticeMessage) and deleted.title == "Thursday *Hope*"
    assert await world.reminders.pending_reminders(meeting.id) == []
    assert await world.db.fetchval("SELECT COUNT(*) FROM reminder_notices") == 0
    assert await world.jobs.pending(kind=NOTICE) == []


async def test_a_deleted_meeting_sends_nothing_even_if_a_job_lingers(world: World) -> None:
    meeting = await world.schedule()
    async with world.db.transaction() as tx:  # straight to the table, past the service
        await tx.execute("DELETE FROM meetings WHERE id = ?", (meeting.id,))
    await world.at(START - timedelta(minutes=15))
    assert world.sender.sent == []
    assert await world.jobs.pending(kind=REMINDER) == []


# -- subscriptions and privacy ------------------------------------------------------------------


async def test_subscriptions_list_stop_and_forget(world: World) -> None:
    meeting = await world.schedule()
    later = await world.schedule(title="Later", start="2027-01-09 10:00")
    assert (await world.reminders.subscribe(GUILD, PEER_A, later.id))[1] is True
    assert (await world.reminders.subscribe(GUILD, PEER_A, meeting.id))[1] is True
    assert (await world.reminders.subscribe(GUILD, PEER_A, meeting.id))[1] is False
    subs = await world.reminders.subscriptions(GUILD, PEER_A)
    assert [s.meeting.id for s in subs] == [meeting.id, later.id]  # soonest first
    assert await world.reminders.unsubscribe(GUILD, PEER_A, later.id) is True
    assert await world.reminders.unsubscribe(GUILD, PEER_A, later.id) is False
    await world.at(START - timedelta(minutes=15))
    assert await world.privacy.forget_user(PEER_A, GUILD) >= 2  # subscription + ledger row
    assert await world.reminders.subscriptions(GUILD, PEER_A) == []
    users = await world.db.fetchval(
        "SELECT COUNT(*) FROM reminder_deliveries WHERE target_user_id = ?", (PEER_A,)
    )
    assert users == 0


async def test_subscribing_to_a_meeting_of_another_guild_is_refused(world: World) -> None:
    meeting = await world.schedule()
    from bot.errors import NotFoundError

    with pytest.raises(NotFoundError):
        await world.reminders.subscribe(GUILD + 1, PEER_A, meeting.id)


async def test_pacer_spaces_sends_without_sleeping_in_real_time() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    pacer = Pacer(2.0, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await pacer.wait()
    assert slept == [0.5, 0.5]
    off = Pacer(None, monotonic=lambda: now[0], sleep=sleep)
    await off.wait()
    assert slept == [0.5, 0.5]


async def test_a_reconcile_that_writes_many_reminders_refreshes_the_planner_statistics(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL planned the next reconcile's read on the statistics of an empty jobs table
    after the first one had written 265,738 rows: a nested loop that ran past the 60 s timeout
    (bench/scale.py's restart). A reconcile that writes many rows analyzes the table."""
    if world.db.dialect != "postgres":
        pytest.skip("PostgreSQL only: SQLite plans without statistics")
    monkeypatch.setattr(jobs_module, "ANALYZE_AFTER_ROWS", 3)
    for i in range(3):
        await world.schedule(title=f"Meeting {i}")
    await world.db.execute("ANALYZE jobs")  # as on a store analyzed before its jobs were written
    await world.db.execute("DELETE FROM jobs")
    await world.db.execute("ANALYZE jobs")
    await world.reminders.reconcile()
    assert len(await world.reminders.pending_reminders()) == 3  # each meeting's 15-minute one
    # ANALYZE counts the rows into the catalogue (it read 0 before the reconcile).
    assert await world.db.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'jobs'") == 3


async def test_a_reconcile_writing_no_more_than_the_statistics_count_does_not_analyze(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three processes finishing their first reconcile one after another each analyzed the
    table (0.2 s each, the last one's on bench/scale.py's schedule time): once the catalogue
    counts at least the rows a reconcile wrote, its statistics are recent enough."""
    if world.db.dialect != "postgres":
        pytest.skip("PostgreSQL only: SQLite plans without statistics")
    monkeypatch.setattr(jobs_module, "ANALYZE_AFTER_ROWS", 3)
    for i in range(3):
        await world.schedule(title=f"Meeting {i}")
    await world.db.execute("DELETE FROM jobs")
    await world.db.execute("ANALYZE jobs")
    analyzed: list[str] = []
    real = world.db.execute

    async def spy(sql: str, params: Any = ()) -> int:
        if sql.startswith("ANALYZE"):
            analyzed.append(sql)
        return await real(sql, params)

    monkeypatch.setattr(world.db, "execute", spy)
    await world.reminders.reconcile()  # the first: the catalogue counted none
    await world.db.execute("DELETE FROM jobs")
    await world.reminders.reconcile()  # as many rows as the catalogue counts now
    assert len(analyzed) == 1
