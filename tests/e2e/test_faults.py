"""Faults: Discord answers 429 (route and global), 5xx, slowly or not at all, and the gateway asks
for a reconnect or drops the session, during a reminder burst, a room opening and slash commands;
another process holds the database's write lock during a command (SQLite) or a backup's snapshot
holds every table (PostgreSQL).

Nothing is lost or doubled (messages counted per channel and DM, ledger rows), and the same bot
keeps working afterwards. discord.py sleeps 1 s before retrying a 5xx, and 5 s before
re-identifying after a non-resumable op 9, so those faults are used sparingly.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.occurrences import Repeat
from bot.runtime.app import HavenBot
from bot.services.meetings import Access, Kind
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import ChannelType, FakeDiscord, Member
from tests.support.clock import haven_clock_at
from tests.support.meetings import make_meeting

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Wednesday 2027-01-06 23:40 UTC; meetings start at 00:00 UTC on Thursday the 7th.
NOW = datetime(2027, 1, 6, 23, 40, tzinfo=UTC)
START = datetime(2027, 1, 7, 0, 0, tzinfo=UTC)
AT_15 = START - timedelta(minutes=15)
OPENS = START - timedelta(minutes=10)
MESSAGES = "/channels/{channel_id}/messages"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
FOLLOWUP = "/webhooks/{webhook_id}/{webhook_token}"
OVERWRITE = "/channels/{channel_id}/permissions/{overwrite_id}"
EXTENSIONS = ("cogs.setup", "cogs.meetings", "cogs.reminders", "cogs.rooms", "cogs.attendance")
BURST = 16
SUBSCRIBERS = 4


haven_clock = haven_clock_at(NOW)


@pytest.fixture
async def haven(haven_runner: HavenRunner, community: Community) -> AsyncIterator[HavenRunner]:
    await haven_runner.start(extensions=EXTENSIONS, dm_rate_per_second=50)
    await haven_runner.running.services.guilds.update(
        community.guild.id,
        moderator_role_id=community.moderators_role.id,
        facilitator_role_id=community.facilitators_role.id,
        member_role_id=community.members_role.id,
        announce_channel_id=community.announcements.id,
        modlog_channel_id=community.modlog.id,
        reminder_offsets="15",
        timezone="UTC",
    )
    try:
        yield haven_runner
    finally:
        await haven_runner.stop()


async def add_meetings(bot: HavenBot, community: Community, count: int) -> list[int]:
    """`count` one-off meetings at START, their reminders materialised."""
    services = bot.services
    ids = []
    async with services.db.transaction() as tx:
        for i in range(count):
            ids.append(
                await services.meetings.create(
                    tx,
                    guild_id=community.guild.id,
                    title=f"Burst meeting {i}",
                    kind=Kind.NA,
                    access=Access.OPEN,
                    formats=(),
                    timezone="UTC",
                    first_date=START.date(),
                    start_time=START.time(),
                    duration_minutes=60,
                    repeat=Repeat.ONCE,
                    facilitator_id=community.facilitator.user.id,
                )
            )
    await services.reminders.reconcile()
    return ids


async def run_until_idle(bot: HavenBot, clock: FakeClock, first: datetime, kind: str) -> None:
    """Deliver what is due at `first`, then step the clock a minute at a time through retries."""
    assert first + timedelta(minutes=8) < START  # rooms would close, reminders expire
    jobs = bot.services.jobs
    clock.set(first)
    for step in range(8):
        if step:
            clock.set(clock.now() + timedelta(minutes=1))
        while await jobs.run_due():
            await jobs.drain()
        await jobs.drain()
    left = [j for j in await jobs.pending(kind=kind) if j.fire_at <= clock.now()]
    assert not left, f"{kind} jobs still due: {left}"


async def during(gateway_fault: Awaitable[Any], work: Awaitable[Any]) -> Any:
    """Run `work` and fire a gateway fault while it is in flight."""
    task = asyncio.ensure_future(work)
    await asyncio.sleep(0)  # let the work start before the gateway misbehaves
    await gateway_fault
    return await task


async def command_still_works(server: FakeDiscord, community: Community) -> None:
    """A later command is answered by the same bot (no restart)."""
    shown = await server.invoke(community.guild, community.peer, "meeting list")
    assert shown.ephemeral or shown.text, shown


async def test_reminder_burst_through_429s_5xx_slow_answers_and_a_gateway_reconnect(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    haven_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, bot = discord_server, haven.running
    # A send that takes longer than this is abandoned and retried later with the same nonce.
    monkeypatch.setattr(sys.modules["cogs.reminders"], "SEND_TIMEOUT", 0.5)
    subscribers = [
        server.create_member(community.guild, f"sub-{i}", [community.members_role])
        for i in range(SUBSCRIBERS)
    ]
    await server.flush()
    ids = await add_meetings(bot, community, BURST)
    for member, meeting_id in zip(subscribers, ids, strict=False):
        await bot.services.reminders.subscribe(community.guild.id, member.user.id, meeting_id)

    # Five in a row: discord.py gives up and raises; the reminder is retried later, not failed.
    server.inject("POST", MESSAGES, 429, count=5, retry_after=0.01, global_=True)
    server.inject("POST", MESSAGES, 429, count=3, retry_after=0.05)
    server.inject("POST", MESSAGES, 429, count=1, retry_after=0.05, global_=True)
    server.inject("POST", MESSAGES, 500, count=1)
    server.inject("POST", MESSAGES, 503, count=1)
    # Stored by Discord only after the bot gave up waiting: the retry must not post it again.
    slow = server.inject("POST", MESSAGES, "timeout", count=1, delay=1.0)
    server.inject("POST", "/users/@me/channels", 429, count=1, retry_after=0.05)
    await during(server.gateway_reconnect(), run_until_idle(bot, haven_clock, AT_15, "reminder"))
    # The abandoned post lands on the server after the bot's timeout: wait for it to settle.
    await server.wait_for(lambda: not server.faults.pending())

    titles = [m.embeds[0]["title"] for m in server.messages_in(community.announcements)]
    assert sorted(titles) == sorted({f"Reminder: Burst meeting {i}" for i in range(BURST)})
    assert [len(server.dms_to(m)) for m in subscribers] == [1] * SUBSCRIBERS
    assert slow.fired == 1 and not server.faults.pending()
    rows = await haven.store.query(
        "SELECT status, COUNT(*) FROM reminder_deliveries GROUP BY status"
    )
    assert rows == [("delivered", BURST + SUBSCRIBERS)]
    assert server.gateway.resumes >= 1
    await command_still_works(server, community)


async def test_room_opening_through_faults_and_an_invalid_session(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    haven_clock: FakeClock,
) -> None:
    server, bot = discord_server, haven.running
    services = bot.services
    mid = await make_meeting(
        services,
        community.guild.id,
        title="Room under fire",
        timezone="UTC",
        first_date=date(2027, 1, 7),
        start_time=time(0, 0),
        facilitator_id=community.facilitator.user.id,
    )
    created = await server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(mid)
    )
    assert "Created the room" in created.all_text, created.all_text
    link = await services.rooms.link(mid)
    assert link is not None
    text = server.state.channels[link.text_channel_id]
    assert text.type == ChannelType.TEXT
    before = len(server.messages_in(community.modlog))

    server.inject("PUT", OVERWRITE, 429, count=2, retry_after=0.05)
    server.inject("PUT", OVERWRITE, 429, count=1, retry_after=0.05, global_=True)
    server.inject("PUT", OVERWRITE, 503, count=1)
    server.inject("POST", MESSAGES, "timeout", count=1, delay=0.3)
    await during(
        server.gateway_invalid_session(resumable=True),
        run_until_idle(bot, haven_clock, OPENS, "room_open"),
    )

    assert not server.faults.pending(), server.faults.pending()
    cards = [m for m in server.messages_in(text) if m.embeds]
    assert len(cards) == 1, "the opening card was lost or doubled"
    assert cards[0].custom_ids() == [f"haven:checkin:{mid}:2027-01-07"]
    everyone = community.guild.id
    assert server.permissions_for(everyone, text.id, community.peer.user.id) & (1 << 11)
    entry = await services.rooms.ledger(mid, "2027-01-07")
    assert entry is not None and entry.opened_at is not None
    opened = [
        m
        for m in server.messages_in(community.modlog)[before:]
        if any(e.get("title") == "Room opened" for e in m.embeds)
    ]
    assert len(opened) == 1
    await command_still_works(server, community)


async def test_slash_command_through_faults_and_a_new_session(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, bot = discord_server, haven.running
    g = community.guild

    async def schedule(title: str) -> Any:
        return await server.invoke(
            g,
            community.facilitator,
            "meeting schedule",
            title=title,
            start="2027-01-12 19:00",
            repeat="weekly",
            kind="na",
        )

    server.inject("POST", CALLBACK, 429, count=1, retry_after=0.05)
    # 500 first: discord.py waits 1 + 2 * attempt seconds before retrying a 5xx.
    server.inject("POST", FOLLOWUP, 500, count=1)
    server.inject("POST", FOLLOWUP, 429, count=1, retry_after=0.05, global_=True)
    done = await during(server.gateway_reconnect(), schedule("Faulty Tuesday"))
    assert "Scheduled." in done.all_text, done.all_text
    assert not server.faults.pending()
    answered = [c for c in server.find_calls("POST", FOLLOWUP) if c.status == 200]
    assert len(answered) == 1, "the answer was lost or doubled"

    # A session Discord will not resume: the bot identifies again (after discord.py's 5 s).
    identifies = server.gateway.identifies
    await server.gateway_invalid_session(resumable=False)
    await server.wait_for(lambda: server.gateway.identifies > identifies, timeout=10)
    await bot.wait_until_ready()
    again = await schedule("Fresh Session Tuesday")
    assert "Scheduled." in again.all_text, again.all_text

    titles = [m.title for m in await bot.services.meetings.list_guild(g.id)]
    assert sorted(titles) == ["Faulty Tuesday", "Fresh Session Tuesday"]


@pytest.mark.sqlite_only(
    "PostgreSQL has no database-wide write lock; "
    "test_a_backup_snapshot_on_postgres_does_not_hold_up_commands is its case"
)
async def test_a_locked_database_during_a_command_is_retried_then_explained(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, bot = discord_server, haven.running
    (mid,) = await add_meetings(bot, community, 1)
    peer: Member = community.peer
    jobs_before = await haven.store.query("SELECT COUNT(*) FROM jobs")
    caplog.set_level(logging.WARNING, logger="bot.db")

    other = sqlite3.connect(haven.database_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # a backup or the sqlite3 shell holds the write lock
        refused = await server.invoke(community.guild, peer, "remind me", meeting=str(mid))
        assert refused.ephemeral
        assert "database is busy" in refused.content and "Nothing was changed" in refused.content
        # Nothing half-written: no subscription and no job for it.
        assert await bot.services.reminders.subscriber_ids(mid) == []
        scheduled = await server.invoke(
            community.guild,
            community.facilitator,
            "meeting schedule",
            title="Locked Tuesday",
            start="2027-01-12 19:00",
            repeat="weekly",
            kind="na",
        )
        assert "database is busy" in scheduled.all_text, scheduled.all_text
    finally:
        other.execute("ROLLBACK")
        other.close()
    retried = [r for r in caplog.records if "locked by another process; retrying" in r.message]
    assert retried, "the write was not retried before giving up"
    assert [m.title for m in await bot.services.meetings.list_guild(community.guild.id)] == [
        "Burst meeting 0"
    ]
    assert await haven.store.query("SELECT COUNT(*) FROM jobs") == jobs_before

    # The lock is gone: the same command works.
    ok = await server.invoke(community.guild, peer, "remind me", meeting=str(mid))
    assert "database is busy" not in ok.content
    assert await bot.services.reminders.subscriber_ids(mid) == [peer.user.id]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_backup_snapshot_on_postgres_does_not_hold_up_commands(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    """pg_dump's session (one REPEATABLE READ snapshot, ACCESS SHARE on every table) blocks no
    write: commands during a backup are answered and stored, and the backup sees none of them."""
    import asyncpg

    server, bot = discord_server, haven.running
    (mid,) = await add_meetings(bot, community, 1)
    url = haven.store.url
    assert url is not None
    backup = await asyncpg.connect(url)
    try:
        await backup.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for (table,) in await backup.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ):
            await backup.execute(f'LOCK TABLE "{table}" IN ACCESS SHARE MODE')
        subscribed = await server.invoke(
            community.guild, community.peer, "remind me", meeting=str(mid)
        )
        assert "You'll get DM reminders" in subscribed.content, subscribed.content
        scheduled = await server.invoke(
            community.guild,
            community.facilitator,
            "meeting schedule",
            title="Backup Tuesday",
            start="2027-01-12 19:00",
            repeat="weekly",
            kind="na",
        )
        assert "Scheduled." in scheduled.all_text, scheduled.all_text
        # The backup's snapshot predates both writes.
        assert await backup.fetchval("SELECT COUNT(*) FROM meetings") == 1
        assert await backup.fetchval("SELECT COUNT(*) FROM reminder_subscriptions") == 0
    finally:
        await backup.execute("ROLLBACK")
        await backup.close()
    titles = sorted(m.title for m in await bot.services.meetings.list_guild(community.guild.id))
    assert titles == ["Backup Tuesday", "Burst meeting 0"]
    assert await bot.services.reminders.subscriber_ids(mid) == [community.peer.user.id]


async def test_command_answers_do_not_wait_for_the_processs_rest_share(
    discord_server: FakeDiscord, community: Community, haven_runner: HavenRunner
) -> None:
    """Discord does not count interaction answers against the bot's global limit, so a process
    held to 1 request/s (its share of a large fleet) still answers six commands at once in time."""
    await haven_runner.start(extensions=EXTENSIONS, rest_rate_per_second=1)
    try:
        answers = await asyncio.gather(
            *(
                discord_server.invoke(community.guild, community.peer, "meeting list")
                for _ in range(6)
            )
        )
    finally:
        await haven_runner.stop()
    assert all(a.ephemeral for a in answers)
