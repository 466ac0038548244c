"""Crash safety: SIGKILL at random points of a mixed load, restart, check the invariants.

The fake Discord runs in the test process; Haven (tests/e2e/crash_safety_child.py) runs as a
subprocess on the test's store (a SQLite file or a PostgreSQL database). While a burst of reminders falls due, the test schedules meetings
and subscribes people by slash command and checks people in to an open room with the card's
button. A seeded RNG picks each kill point as "after N more server-side events" (reminders
delivered plus commands answered). After the last, clean run:

- every reminder reached its channel or DM exactly once, and the ledger says so;
- every meeting and subscription the bot answered OK for is stored, none twice;
- the room's opening card exists once, and the stored check-in count covers every check-in the
  bot confirmed before its clean stop (and no more than were attempted). Check-ins are counted in
  memory between coarse saves so no write times them (docs/privacy.md): a kill loses those since
  the last save, by design, and the count is then short but never over;
- the store passes its own checks (SQLite's ``integrity_check`` and ``foreign_key_check``;
  on PostgreSQL, which checks keys on every write, no constraint left unvalidated).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.db import Transaction
from bot.occurrences import Repeat
from bot.services import build_services
from bot.services.meetings import Access, Kind
from cogs.attendance import CHECKED_IN
from tests.e2e.bursts import child_environment, store_settings
from tests.e2e.harness import TEST_SECRET_KEY, Community
from tests.fakediscord import FakeDiscord, Member, Message
from tests.support.store import HavenStore

pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parents[2]
SEED = 10
KILLS = 4
MEETINGS = 120  # the burst: one channel reminder each
SUBSCRIBERS = 6  # DM subscribers of the first burst meetings
TARGETS = 4  # later meetings people subscribe to by command
PEOPLE = 24
START = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)
FIRE = START - timedelta(minutes=15)  # the burst's reminders fall due here
ROOM_START = START - timedelta(minutes=5)  # its room opens 10 minutes before: at FIRE
ROOM_KEY = ROOM_START.date().isoformat()


@dataclass
class Prepared:
    room_meeting: int
    targets: list[int]


@dataclass
class Confirmed:
    """What the bot answered OK for (the test's side of the contract), and what was tried."""

    titles: set[str] = field(default_factory=set)
    subscriptions: set[tuple[int, int]] = field(default_factory=set)
    checkins: set[int] = field(default_factory=set)
    checkins_tried: set[int] = field(default_factory=set)

    @property
    def answered(self) -> int:
        return len(self.titles) + len(self.subscriptions) + len(self.checkins)


async def _prepare(store: HavenStore, community: Community, subscribers: list[Member]) -> Prepared:
    settings = store_settings(store)
    db = await store.open()
    try:
        await db.migrate()
        services = build_services(settings, db, FakeClock(FIRE - timedelta(seconds=1)), b"k" * 32)
        c = community
        await services.guilds.update(
            c.guild.id,
            moderator_role_id=c.moderators_role.id,
            facilitator_role_id=c.facilitators_role.id,
            member_role_id=c.members_role.id,
            announce_channel_id=c.announcements.id,
            modlog_channel_id=c.modlog.id,
            reminder_offsets="15",
            timezone="UTC",
        )

        async def create(tx: Transaction, title: str, when: datetime, repeat: Repeat) -> int:
            return await services.meetings.create(
                tx,
                guild_id=c.guild.id,
                title=title,
                kind=Kind.NA,
                access=Access.OPEN,
                formats=(),
                timezone="UTC",
                first_date=when.date(),
                start_time=when.time(),
                duration_minutes=60,
                repeat=repeat,
                facilitator_id=c.facilitator.user.id,
            )

        async with db.transaction() as tx:
            burst = [await create(tx, f"Burst {i}", START, Repeat.ONCE) for i in range(MEETINGS)]
            room = await create(tx, "Room night", ROOM_START, Repeat.WEEKLY)
            later = START + timedelta(days=30)
            targets = [await create(tx, f"Later {i}", later, Repeat.WEEKLY) for i in range(TARGETS)]
        for member, meeting_id in zip(subscribers, burst, strict=False):
            await services.reminders.subscribe(c.guild.id, member.user.id, meeting_id)
        await services.reminders.reconcile()
        return Prepared(room, targets)
    finally:
        await db.close()


async def _spawn(
    server: FakeDiscord, store: HavenStore, shift: float, log: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        **child_environment(store, "HAVEN_MIXED_"),
        "HAVEN_MIXED_TOKEN": server.token,
        "HAVEN_MIXED_API": server.api_base,
        "HAVEN_MIXED_GATEWAY": server.gateway_url,
        "HAVEN_MIXED_KEY": TEST_SECRET_KEY,
        "HAVEN_MIXED_SHIFT": repr(shift),
        "PYTHONPATH": str(ROOT),
    }
    identifies = server.gateway.identifies
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.crash_safety_child",
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    await server.wait_for(
        lambda: server.gateway.identifies > identifies and len(server.gateway.live_sessions()) == 1,
        timeout=20,
        message=f"the child did not connect: see {log}",
    )
    return proc


async def _kill(server: FakeDiscord, proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    await server.wait_for(lambda: not server.gateway.live_sessions(), timeout=5)


async def _due_reminder_jobs_left(store: HavenStore) -> int:
    """The burst's reminder jobs still stored (later meetings' reminders stay pending)."""
    sql = "SELECT COUNT(*) FROM jobs WHERE kind = 'reminder' AND fire_at <= ?"
    return await store.count_while_running(sql, (int(START.timestamp()),))


async def test_sigkill_under_mixed_load_keeps_every_invariant(
    discord_server: FakeDiscord, community: Community, tmp_path: Path, store: HavenStore
) -> None:
    server, c = discord_server, community
    subscribers = [
        server.create_member(c.guild, f"sub-{i}", [c.members_role]) for i in range(SUBSCRIBERS)
    ]
    people = [server.create_member(c.guild, f"peer-{i}", [c.members_role]) for i in range(PEOPLE)]
    prepared = await _prepare(store, c, subscribers)
    shift = (FIRE - datetime.now(UTC)).total_seconds()
    log = tmp_path / "child.log"
    rng = random.Random(SEED)
    done = Confirmed()
    final_checkins: set[int] = set()
    expected_reminders = MEETINGS + 1 + SUBSCRIBERS  # the room meeting's reminder is due too
    pairs = [(p.user.id, t) for p in people for t in prepared.targets]
    rng.shuffle(pairs)
    members = {p.user.id: p for p in people}
    queue = list(members)
    rng.shuffle(queue)

    def delivered() -> int:
        dms = sum(len(server.dms_to(m)) for m in subscribers)
        return len(server.messages_in(c.announcements)) + dms

    button = f"haven:checkin:{prepared.room_meeting}:{ROOM_KEY}"

    def room_cards() -> list[Message]:
        """Opening cards of the room, found on the server (never a blocking read of the file)."""
        return [
            m
            for m in server.state.messages.values()
            if not m.deleted and m.embeds and button in m.custom_ids()
        ]

    async def one_command(run: int, n: int) -> None:
        choice = rng.choice(("schedule", "remind", "checkin"))
        if choice == "schedule":
            title = f"Crash {run}-{n}"
            res = await server.invoke(
                c.guild,
                c.facilitator,
                "meeting schedule",
                title=title,
                start="2027-03-02 19:00",
                repeat="weekly",
                kind="na",
            )
            if "Scheduled." in res.all_text:
                done.titles.add(title)
        elif choice == "remind" and pairs:
            user_id, meeting_id = pairs.pop()
            res = await server.invoke(
                c.guild, members[user_id], "remind me", meeting=str(meeting_id)
            )
            if "You'll get DM reminders" in res.content:
                done.subscriptions.add((user_id, meeting_id))
        elif choice == "checkin" and queue:
            cards = room_cards()
            if not cards:
                return
            user_id = queue.pop()
            done.checkins_tried.add(user_id)
            res = await server.click(cards[0], "Check in", members[user_id])
            if res.content == CHECKED_IN:
                done.checkins.add(user_id)

    async def drive(run: int, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            # A command cut off by the kill gets no answer: it is simply not counted as confirmed.
            with contextlib.suppress(Exception):
                await one_command(run, n)

    def opened_entries() -> int:
        return sum(
            e.get("title") == "Room opened" for m in server.messages_in(c.modlog) for e in m.embeds
        )

    def progress() -> int:
        return delivered() + done.answered

    # First run: the room is created while it should be open; its card is the check-in target.
    proc = await _spawn(server, store, shift, log)
    try:
        made = await server.invoke(
            c.guild, c.facilitator, "room create", meeting=str(prepared.room_meeting)
        )
        assert "Created the room" in made.all_text, made.all_text
        # Open for check-ins once the bot has remembered it (its mod-log entry follows that).
        await server.wait_for(lambda: bool(room_cards()) and opened_entries() >= 1, timeout=10)
    except BaseException:
        await _kill(server, proc)
        raise

    kills = 0
    for run in range(KILLS):
        if run:
            proc = await _spawn(server, store, shift, log)
        target = progress() + rng.randint(3, 25)
        stop = asyncio.Event()
        driver = asyncio.create_task(drive(run, stop))
        try:
            await server.wait_for(lambda t=target: progress() >= t, timeout=20)
        finally:
            await _kill(server, proc)
            stop.set()  # the command in flight ends unanswered within the server's 3 s
            await asyncio.wait_for(driver, timeout=10)
        kills += 1

    async def finished() -> bool:
        return delivered() >= expected_reminders and await _due_reminder_jobs_left(store) == 0

    # Last run: nothing is killed; it must finish what the crashes left.
    proc = await _spawn(server, store, shift, log)
    try:
        await server.wait_for(
            finished,
            timeout=30,
            message=f"not every reminder was delivered: see {log}",
        )
        ok = await server.invoke(c.guild, c.peer, "meeting list")  # the bot still answers
        assert ok.ephemeral or ok.text
        # Check-ins confirmed before a clean stop are all kept: SIGTERM saves the count.
        (card,) = room_cards()
        for user_id in queue[:3]:
            done.checkins_tried.add(user_id)
            res = await server.click(card, "Check in", members[user_id])
            if res.content == CHECKED_IN:
                final_checkins.add(user_id)
        assert final_checkins, "no check-in was confirmed in the last run"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    assert kills == KILLS
    assert done.titles and done.subscriptions and done.checkins, done  # the load was mixed
    # Reminders: once each, server-side and in the ledger.
    titles = [m.embeds[0]["title"] for m in server.messages_in(c.announcements)]
    assert len(titles) == len(set(titles)) == MEETINGS + 1, "a channel reminder lost or doubled"
    assert [len(server.dms_to(m)) for m in subscribers] == [1] * SUBSCRIBERS
    assert await store.query(
        "SELECT status, COUNT(*) FROM reminder_deliveries GROUP BY status"
    ) == [("delivered", expected_reminders)]
    # Meetings and subscriptions: everything confirmed is stored, nothing twice.
    stored = [str(r[0]) for r in await store.query("SELECT title FROM meetings")]
    assert len(stored) == len(set(stored)), "a meeting was stored twice"
    assert done.titles <= set(stored), done.titles - set(stored)
    subs = {
        (int(str(u)), int(str(m)))
        for u, m in await store.query("SELECT user_id, meeting_id FROM reminder_subscriptions")
    }
    assert done.subscriptions <= subs, done.subscriptions - subs
    # The room: one opening card; the count covers every check-in confirmed in the clean last run,
    # and no more than were tried (a kill loses only those since the last coarse save).
    (card,) = room_cards()
    replays = [m.content for m in server.messages_in(card.channel_id) if not m.embeds]
    assert replays == [], "a replayed open job announced the room again"
    ((count,),) = await store.query(
        f"SELECT checkins FROM attendance_counts WHERE meeting_id = {prepared.room_meeting} "  # noqa: S608
        f"AND occurrence = '{ROOM_KEY}'",
    )
    assert len(final_checkins) <= int(str(count)) <= len(done.checkins_tried)
    # The store itself.
    assert await store.integrity_problems() == []
