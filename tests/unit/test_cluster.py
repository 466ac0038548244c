"""Several Haven processes on one PostgreSQL: shards own guilds, shard locks, leases, NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.cluster import Shards, shard_of
from bot.config import load_settings
from bot.db import Database
from bot.jobs import CLAIM_CHUNK, Job, JobEngine, NewJob
from bot.services.guilds import GuildSettingsService
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.both_backends

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
# A real guild snowflake: (id >> 22) is its creation time in ms since Discord's epoch.
GUILD = 1_234_567_890_123_456_789


@pytest.fixture
def start() -> datetime:
    """When `clock` (tests/unit/conftest.py) starts."""
    return T0


def test_a_guild_belongs_to_the_shard_discords_formula_names() -> None:
    """shard_id = (guild_id >> 22) % num_shards (Discord's gateway docs, sharding)."""
    shard = (GUILD >> 22) % 6
    assert Shards(6, (shard,)).owns(GUILD)
    assert not any(Shards(6, (s,)).owns(GUILD) for s in range(6) if s != shard)
    assert Shards(6, (0, 1, 2, 3, 4, 5)).owns(GUILD)
    # A guild id below 2**22 sits on shard 0 whatever the count (not guild_id % count).
    assert Shards(4, (0,)).owns(3) and not Shards(4, (3,)).owns(3)
    assert Shards.of(4).ids == (0, 1, 2, 3) and Shards.of(1).owns(GUILD)


def test_guildless_jobs_belong_to_shard_zero() -> None:
    """guild_id 0 (the weekly stale-card job) runs on shard 0, which also gets every DM."""
    assert Shards(3, (0,)).owns(0)
    assert not Shards(3, (1, 2)).owns(0)


def test_shards_come_from_the_settings() -> None:
    url, key = "postgresql://haven@db/haven", "k" * 32
    base = {"_env_file": None, "discord_token": "t", "database_url": url, "haven_secret_key": key}
    assert Shards.from_settings(load_settings(**base)) is None  # unsharded: one owns everything
    assert Shards.from_settings(load_settings(**base, shard_count=4)) == Shards(4, (0, 1, 2, 3))
    sharded = load_settings(**base, shard_count=6, shard_ids="4,1")
    assert Shards.from_settings(sharded) == Shards(6, (1, 4))


@pytest.mark.parametrize(("count", "ids"), [(0, (0,)), (2, ()), (2, (2,)), (2, (-1,)), (2, (1, 1))])
def test_impossible_shard_sets_are_refused(count: int, ids: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shards(count, ids)


async def test_the_store_records_who_claimed_a_job_and_the_workers(db: Database) -> None:
    """Migration 0010 (both twins): jobs.claimed_by / lease_until and the workers table."""
    assert {"claimed_by", "lease_until"} <= set(await db.columns("jobs"))
    assert await db.columns("global_workers") == [
        "worker_id",
        "shard_count",
        "shard_ids",
        "started_at",
        "heartbeat_at",
    ]


# --- several processes on one PostgreSQL -------------------------------------------------------


def _guild_on(shard: int, count: int, n: int = 0) -> int:
    """A guild id that Discord puts on `shard` of `count` (n picks one of many)."""
    return ((n * count + shard) << 22) | 5


@pytest.fixture
async def pg_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh migrated PostgreSQL database that the test's "processes" share."""
    name = await postgres_server.fresh_database()
    try:
        yield postgres_server.url(name)
    finally:
        await postgres_server.drop_database(name)


@contextlib.asynccontextmanager
async def _processes(url: str, n: int) -> AsyncIterator[list[Database]]:
    """n stores on one server, each with its own pool and sessions, as n processes have."""
    dbs = [await Database.open(url) for _ in range(n)]
    try:
        yield dbs
    finally:
        for db in dbs:
            await db.close()


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait (10 s at most) for what another session does; never for the clock to move."""

    async def poll() -> None:
        # Another server session's state: there is nothing local to await on.
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 10)


def _recorder(seen: list[Job], sizes: list[int] | None = None) -> Callable[..., Awaitable[None]]:
    async def handle(jobs: list[Job]) -> None:
        seen.extend(jobs)
        if sizes is not None:
            sizes.append(len(jobs))

    return handle


async def test_processes_on_different_shards_claim_disjoint_rows_and_together_all(
    pg_url: str,
) -> None:
    """2,000 due rows on 40 guilds: each process claims only its own shard's, none twice."""
    clock = FakeClock(T0)
    rows = [
        (_guild_on(m % 2, 2, m % 20), m, "2027-03-01", "0", int(T0.timestamp()))
        for m in range(2000)
    ]
    async with _processes(pg_url, 2) as dbs:
        engines = [JobEngine(db, clock, Shards(2, (shard,))) for shard, db in enumerate(dbs)]
        seen: list[list[Job]] = [[], []]
        sizes: list[int] = []
        for engine, mine in zip(engines, seen, strict=True):
            engine.register("t", _recorder(mine, sizes))
        async with dbs[0].transaction() as tx:
            await engines[0].add_bulk(tx, "t", rows)
        counts = await asyncio.gather(*(e.run_due() for e in engines))
        await asyncio.gather(*(e.drain() for e in engines))
        assert sum(await asyncio.gather(*(e.run_due() for e in engines))) == 0
        assert counts == [1000, 1000]
        for shard, mine in enumerate(seen):
            assert all(shard_of(j.guild_id, 2) == shard for j in mine)
        ids = [j.id for mine in seen for j in mine]
        assert len(ids) == len(set(ids)) == 2000
        assert max(sizes) <= CLAIM_CHUNK  # handed off a chunk at a time
        claimers = await dbs[0].fetchall("SELECT DISTINCT claimed_by FROM jobs ORDER BY 1")
        assert sorted(r[0] for r in claimers) == sorted(str(e.worker_id) for e in engines)


async def test_a_second_process_for_the_same_shard_waits_then_takes_over_and_resends(
    pg_url: str,
) -> None:
    """The shard lock: the second waits; when the first's session dies its claims come back."""
    clock = FakeClock(T0)
    release = asyncio.Event()
    async with _processes(pg_url, 2) as (db_a, db_b):
        first = JobEngine(db_a, clock, Shards(2, (0,)))
        second = JobEngine(db_b, clock, Shards(2, (0,)))
        got_first: list[Job] = []

        async def stuck(jobs: list[Job]) -> None:  # killed mid-delivery
            got_first.extend(jobs)
            await release.wait()

        first.register("t", stuck)
        got_second: list[Job] = []
        second.register("t", _recorder(got_second))
        async with db_a.transaction() as tx:
            await first.add(tx, [NewJob("t", _guild_on(0, 2, m), T0, m) for m in range(10)])
        assert await first.run_due() == 10
        join = asyncio.create_task(second.join())

        async def waiting() -> bool:
            n = await db_a.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            return bool(n)

        await _until(waiting)
        assert not join.done() and second.held_shards == ()
        holder = await db_a.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        )
        await db_b.fetchval("SELECT pg_terminate_backend(?)", (holder,))  # as SIGKILL would

        assert await asyncio.wait_for(join, 10) == 10
        assert second.held_shards == (0,)
        rows = await db_b.fetchall("SELECT status, recovered FROM jobs")
        assert {(r[0], r[1]) for r in rows} == {("pending", 1)}
        assert await second.run_due() == 10
        await second.drain()
        assert len(got_second) == 10 and all(j.recovered for j in got_second)

        async def first_lost_its_shard() -> bool:
            return first.held_shards == ()

        await _until(first_lost_its_shard)
        guild = _guild_on(0, 2)
        # Its reconcilers (reminders, rooms, notices, the event mirror) rest with its claims.
        assert not first.owns(guild) and first.shard_filter() == (2, ())
        assert second.owns(guild) and second.shard_filter() == (2, (0,))
        async with db_a.transaction() as tx:
            await first.add(tx, [NewJob("t", guild, T0, 99)])
        assert await first.run_due() == 0  # without the lock it claims nothing
        release.set()
        await first.drain()
        await second.stop()
        await first.heartbeat()  # the lock is free again: the heartbeat takes it back
        assert first.held_shards == (0,) and first.owns(guild)
        await first.stop()


async def test_an_expired_lease_gives_claims_back_and_the_heartbeat_renews_its_own(
    pg_url: str,
) -> None:
    """The lease: the backstop for a holder of another fleet (a re-shard) that hangs."""
    clock = FakeClock(T0)
    now = int(T0.timestamp())
    async with _processes(pg_url, 1) as (db,):
        engine = JobEngine(db, clock, Shards(2, (0,)))
        engine.register("t", _recorder([]))
        async with db.transaction() as tx:
            await engine.add(tx, [NewJob("t", _guild_on(0, 2, m), T0, m) for m in range(8)])
            for worker, count in (("other-fleet", 3), ("crashed", 2)):
                await tx.execute(
                    "INSERT INTO global_workers VALUES (?, ?, '0', ?, ?)", (worker, count, now, now)
                )
            # A live process of a 3-shard fleet holds 0-2; a crashed one of this fleet held 3-4.
            await tx.execute(
                "UPDATE jobs SET status = 'claimed', claimed_by = CASE WHEN meeting_id < 3 "
                "THEN 'other-fleet' ELSE 'crashed' END, lease_until = ? WHERE meeting_id < 5",
                (now + 30,),
            )
        # Taking the shard's lock gives back the crashed holder's claims only.
        assert await engine.join() == 2
        assert await engine.run_due() == 5  # 3-7: its own now
        clock.advance(timedelta(seconds=10))
        assert await engine.heartbeat() == 0
        lease = await db.fetchall(
            "SELECT DISTINCT claimed_by, lease_until FROM jobs WHERE status = 'claimed'"
        )
        assert sorted(tuple(r) for r in lease) == sorted(
            [("other-fleet", now + 30), (engine.worker_id, now + 10 + 30)]
        )
        clock.advance(timedelta(seconds=21))  # the other fleet's lease has run out
        assert await engine.heartbeat() == 3
        rows = await db.fetchall(
            "SELECT meeting_id, status, recovered FROM jobs WHERE meeting_id < 3 ORDER BY 1"
        )
        assert [tuple(r) for r in rows] == [(m, "pending", 1) for m in range(3)]
        mine = await db.fetchval(
            "SELECT count(*) FROM jobs WHERE status = 'claimed' AND claimed_by = ?",
            (engine.worker_id,),
        )
        assert mine == 5  # its own claims were renewed, not given back
        beat = await db.fetchval(
            "SELECT heartbeat_at FROM global_workers WHERE worker_id = ?", (engine.worker_id,)
        )
        assert beat == now + 31
        await engine.stop()
        assert (
            await db.fetchval(
                "SELECT count(*) FROM global_workers WHERE worker_id = ?", (engine.worker_id,)
            )
            == 0
        )


async def test_a_notify_wakes_the_process_owning_a_job_written_elsewhere(pg_url: str) -> None:
    """A DM served by shard 0's process subscribes someone to a meeting of shard 1's guild."""
    clock = FakeClock(T0)
    async with _processes(pg_url, 2) as (db_a, db_b):
        a = JobEngine(db_a, clock, Shards(2, (0,)))
        b = JobEngine(db_b, clock, Shards(2, (1,)))
        async with db_b.transaction() as tx:
            await b.add(tx, [NewJob("t", _guild_on(1, 2), T0 + timedelta(hours=1), 1)])
        await asyncio.gather(a.start(), b.start())
        try:
            assert b.armed_at == T0 + timedelta(hours=1)
            armed: list[datetime] = []
            woke = asyncio.Event()
            arm = b._arm

            def spy(fire_at: datetime) -> None:
                armed.append(fire_at)
                arm(fire_at)
                if fire_at == T0 + timedelta(minutes=3):
                    woke.set()

            b._arm = spy  # type: ignore[method-assign]
            for shard, minutes in ((0, 2), (1, 3)):
                async with db_a.transaction() as tx:
                    at = await a.add(
                        tx,
                        [
                            NewJob(
                                "t", _guild_on(shard, 2), T0 + timedelta(minutes=minutes), 2 + shard
                            )
                        ],
                    )
                a.wake_for(at)
            await asyncio.wait_for(woke.wait(), 10)
            assert b.armed_at == T0 + timedelta(minutes=3)
            assert T0 + timedelta(minutes=2) not in armed  # shard 0's job is not b's
        finally:
            await asyncio.gather(a.stop(), b.stop())


async def test_sqlite_stays_one_process_that_owns_everything(
    db: Database, clock: FakeClock, backend: str
) -> None:
    """SQLite: no locks, no workers; shards given or not, it claims every due row at once."""
    if backend != "sqlite":
        pytest.skip("the SQLite path")
    engine = JobEngine(db, clock, Shards(1, (0,)))
    seen: list[Job] = []
    engine.register("t", _recorder(seen))
    async with db.transaction() as tx:
        await engine.add(
            tx, [NewJob("t", _guild_on(s, 4, m), T0, m) for m in range(400) for s in (m % 4,)]
        )
    assert await engine.join() == 0 and engine.worker_id is None
    assert await engine.run_due() == 400
    await engine.drain()
    assert len(seen) == 400
    assert await db.fetchval("SELECT count(*) FROM global_workers") == 0
    assert await db.fetchval("SELECT count(*) FROM jobs WHERE claimed_by IS NOT NULL") == 0


async def test_a_process_preloads_and_owns_only_its_shards_guilds(
    db: Database, clock: FakeClock
) -> None:
    """Handlers and /crisis serve the guilds in this process's gateway cache: its shards'."""
    from bot.services import build_services

    settings = load_settings(
        _env_file=None,
        discord_token="t",
        database_url="postgresql://haven@db/haven",
        haven_secret_key="k" * 32,
        shard_count=2,
        shard_ids="1",
    )
    services = build_services(settings, db, clock, b"k" * 32)
    mine, theirs = _guild_on(1, 2), _guild_on(0, 2)
    for guild_id in (mine, theirs):
        await services.guilds.update(guild_id, modlog_channel_id=guild_id + 1)
        services.guilds.forget_cache(guild_id)
    await services.guilds.preload()
    assert services.guilds.cached(mine) is not None
    assert services.guilds.cached(theirs) is None
    assert services.jobs.shards == Shards(2, (1,))
    assert services.jobs.owns(mine) and not services.jobs.owns(theirs)
    assert not services.jobs.owns(0)  # guild-less jobs are shard 0's


class _RecordingEffects:
    """A room port that records which meetings' channels it was asked to set at start."""

    def __init__(self) -> None:
        self.applied: list[int] = []

    async def apply_state(self, meeting: Any, link: Any, is_open: bool, **_: Any) -> bool:
        self.applied.append(meeting.id)
        return False


async def test_the_start_sync_of_rooms_keeps_to_this_processs_guilds(
    db: Database, clock: FakeClock
) -> None:
    """Another shard's rooms are not in this process's cache: their process sets them."""
    from bot.services import build_services
    from tests.support.meetings import make_meeting

    settings = load_settings(
        _env_file=None,
        discord_token="t",
        database_url="postgresql://haven@db/haven",
        haven_secret_key="k" * 32,
        shard_count=2,
        shard_ids="1",
    )
    services = build_services(settings, db, clock, b"k" * 32)
    effects = _RecordingEffects()
    services.rooms.install(effects)  # type: ignore[arg-type]
    rooms = {}
    for shard in (0, 1):
        meeting_id = await make_meeting(services, _guild_on(shard, 2), title=f"m{shard}")
        meeting = await services.meetings.get(meeting_id)
        assert meeting is not None
        await services.rooms.save_link(
            meeting, category_id=10, text_channel_id=11, voice_channel_id=12, stage=False
        )
        rooms[shard] = meeting_id
    effects.applied.clear()
    await services.rooms.reconcile()
    assert effects.applied == [rooms[1]]


async def test_the_reminder_reconcile_writes_only_this_processs_guilds(
    db: Database, clock: FakeClock
) -> None:
    """Each process materialises its own shards' reminders; the others' processes write theirs.

    Three processes starting together on an empty jobs table each planned and wrote every guild's
    reminders, waiting on each other's rows: 65.6 s against 18.6 s for one (bench/scale.py).
    """
    from bot.services import build_services
    from tests.support.meetings import make_meeting

    settings = load_settings(
        _env_file=None,
        discord_token="t",
        database_url="postgresql://haven@db/haven",
        haven_secret_key="k" * 32,
        shard_count=2,
        shard_ids="1",
    )
    services = build_services(settings, db, clock, b"k" * 32)
    mine, theirs = _guild_on(1, 2), _guild_on(0, 2)
    for guild_id in (mine, theirs):
        await make_meeting(services, guild_id, title=f"in {guild_id}")
    await services.reminders.reconcile()
    pending = await services.reminders.pending_reminders()
    assert pending and {j.guild_id for j in pending} == {mine}


# --- a clean stop ------------------------------------------------------------------------------


def _fire_now(engine: JobEngine, job_id: str) -> None:
    """Run one of the engine's interval timers (reconcile, heartbeat) now, not in minutes."""
    scheduler = engine._scheduler
    assert scheduler is not None
    scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_stop_during_a_periodic_reconcile_ends_it_without_an_error(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """stop() ends a running reconcile (idempotent: the next start runs one) and logs no ERROR.

    APScheduler's shutdown cancelled the tick itself, and its executor logged the cancellation as
    'Job "reconcile" raised an exception' with a traceback, at ERROR.
    """
    engine = JobEngine(db, clock)
    entered, gate = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow_reconcile() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:  # not the start's own run
            entered.set()
            await gate.wait()

    engine.add_reconciler(slow_reconcile)
    await engine.start()
    with caplog.at_level(logging.INFO):
        _fire_now(engine, "reconcile")
        await asyncio.wait_for(entered.wait(), 10)
        await engine.stop(grace_s=5)
    assert not engine._ticks
    assert _errors(caplog) == []


async def test_a_heartbeat_in_flight_at_stop_finishes_and_logs_no_error(
    pg_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/scale.py at 100k: a heartbeat running when a process stopped was cancelled, and the
    scheduler logged the cancellation's traceback at ERROR. stop() now lets it finish first."""
    db = await Database.open(pg_url)
    try:
        engine = JobEngine(db, FakeClock(T0), Shards(1, (0,)))
        await engine.start()
        membership = engine._membership
        assert membership is not None
        entered, gate = asyncio.Event(), asyncio.Event()
        beats: list[int] = []
        beat = membership.heartbeat

        async def slow_heartbeat() -> int:
            entered.set()
            await gate.wait()
            returned = await beat()
            beats.append(returned)
            return returned

        monkeypatch.setattr(membership, "heartbeat", slow_heartbeat)
        with caplog.at_level(logging.INFO):
            _fire_now(engine, "heartbeat")
            await asyncio.wait_for(entered.wait(), 10)
            stopping = asyncio.create_task(engine.stop(grace_s=5))
            await asyncio.sleep(0)  # stop() runs up to its first wait: the scheduler is stopped
            gate.set()
            await stopping
        assert beats == [0]  # the beat ran to its end, then the worker left
        assert await db.fetchval("SELECT count(*) FROM global_workers") == 0
        assert _errors(caplog) == []
    finally:
        await db.close()


# --- every reconciler and loop keeps to this process's shards (design 4.5) ----------------------


def _process_on(db: Database, clock: FakeClock, shard: str = "1") -> Any:
    """The services of a process running `shard` of 2 (its gateway cache: that shard's guilds)."""
    from bot.services import build_services

    settings = load_settings(
        _env_file=None,
        discord_token="t",
        database_url="postgresql://haven@db/haven",
        haven_secret_key="k" * 32,
        shard_count=2,
        shard_ids=shard,
    )
    return build_services(settings, db, clock, b"k" * 32)


MINE, THEIRS = _guild_on(1, 2), _guild_on(0, 2)


async def test_the_guild_purge_lists_only_this_processs_departed_guilds(
    db: Database, clock: FakeClock
) -> None:
    """Another shard's guild is never in this process's cache, so the purge's 'is the bot back?'
    check (get_guild) would say no and delete the data of a guild the bot is in again."""
    services = _process_on(db, clock)
    for guild_id in (MINE, THEIRS):
        await services.guilds.mark_departed(guild_id)
    clock.advance(timedelta(days=31))
    assert await services.guilds.departed_before(timedelta(days=30)) == [MINE]
    # It asks the job engine, which follows the shard locks held once joined (see the takeover).
    assert services.guilds._owns == services.jobs.owns
    lost = GuildSettingsService(db, clock, Shards(2, (1,)), owns=lambda guild_id: False)
    assert await lost.departed_before(timedelta(days=30)) == []


class _ReadyBot:
    """What AdminCog's purge loop reads of the bot: services, the cache, readiness."""

    def __init__(self, services: Any, back_in: int) -> None:
        self.services = services
        self.ready = asyncio.Event()
        self.waiting = False
        self._back_in = back_in

    def get_guild(self, guild_id: int) -> object | None:
        # The gateway cache is empty until READY and the guilds' GUILD_CREATEs have come in.
        return object() if self.ready.is_set() and guild_id == self._back_in else None

    async def wait_until_ready(self) -> None:
        self.waiting = True
        await self.ready.wait()


async def test_the_guild_purge_loop_waits_for_the_gateway_cache(
    db: Database, clock: FakeClock
) -> None:
    """The loop's first run came at cog load, before READY: every guild looked gone, so a guild
    that had taken the bot back while it was offline (no on_guild_join) lost its data."""
    from cogs.admin import AdminCog

    services = _process_on(db, clock)
    await services.guilds.update(MINE, modlog_channel_id=7)
    await services.guilds.mark_departed(MINE)
    clock.advance(timedelta(days=services.settings.guild_purge_days + 1))
    bot = _ReadyBot(services, back_in=MINE)
    cog = AdminCog(bot)  # type: ignore[arg-type]
    await cog.cog_load()
    try:

        async def waiting_or_purged() -> bool:
            return bot.waiting or not await services.guilds.is_configured(MINE)

        async def marked_back() -> bool:
            return await services.guilds.departed_before(timedelta(0)) == []

        await _until(waiting_or_purged)
        assert await services.guilds.is_configured(MINE)
        bot.ready.set()
        await _until(marked_back)
    finally:
        await cog.cog_unload()
    assert await services.guilds.is_configured(MINE)


class _AllKnowingEvents:
    """A native-event port whose cache answers for every guild; records what it was asked."""

    def __init__(self) -> None:
        self.asked: set[int] = set()
        self.shown: list[int] = []

    def knows_guild(self, guild_id: int) -> bool:
        self.asked.add(guild_id)
        return True

    async def show(self, meeting: Any, occurrence: Any) -> int | None:
        self.shown.append(meeting.guild_id)
        return 900 + len(self.shown)

    async def remove(self, guild_id: int, event_id: int) -> None:
        """Nothing to remove."""


async def test_the_event_mirror_reconcile_reads_and_mirrors_only_this_processs_guilds(
    db: Database, clock: FakeClock
) -> None:
    """Each process mirrors its own shards' meetings (the gateway cache answered for the guilds
    until now), and reads only theirs: at 100,000 meetings every process read all of them
    every five minutes (6 s on SQLite here)."""
    from tests.support.meetings import make_meeting

    services = _process_on(db, clock)
    for guild_id in (MINE, THEIRS):
        await services.guilds.update(guild_id, native_events=True)
        await make_meeting(services, guild_id, title=f"in {guild_id}")
    port = _AllKnowingEvents()
    services.meeting_service.native_events = port
    await services.jobs.reconcile()
    assert port.shown == [MINE]
    assert port.asked <= {MINE}
    rolls = await services.jobs.pending(kind="event_roll")
    assert [j.guild_id for j in rolls] == [MINE]


class _AllKnowingInvites:
    """An invite port whose cache names every guild; records its calls."""

    def __init__(self) -> None:
        self.named: list[int] = []
        self.created: list[int] = []

    async def create(self, channel_id: int) -> str | None:
        self.created.append(channel_id)
        return f"code{channel_id}"

    async def delete(self, code: str) -> bool:
        return True

    def guild_name(self, guild_id: int) -> str | None:
        self.named.append(guild_id)
        return "A server"


async def _room_of(services: Any, guild_id: int, text_channel_id: int) -> int:
    """A meeting in the guild with a room (its text channel given); the meeting's id."""
    from tests.support.meetings import make_meeting

    meeting_id = await make_meeting(services, guild_id, title=f"in {guild_id}")
    meeting = await services.meetings.get(meeting_id)
    assert meeting is not None
    await services.rooms.save_link(
        meeting,
        category_id=text_channel_id + 1,
        text_channel_id=text_channel_id,
        voice_channel_id=text_channel_id + 2,
        stage=False,
    )
    return meeting_id


async def test_the_feed_invite_sync_keeps_to_this_processs_guilds(
    db: Database, clock: FakeClock
) -> None:
    """Invites are made by the process whose cache holds the guild: two making one each for the
    same room would leave one stored and the other an orphan on Discord."""
    services = _process_on(db, clock)
    channels = {MINE: 110, THEIRS: 220}
    for guild_id, channel_id in channels.items():
        await _room_of(services, guild_id, channel_id)
        await services.feeds.enable(guild_id)
    maker = _AllKnowingInvites()
    services.feeds.install(maker)
    await services.feeds.reconcile()
    assert maker.named == [MINE] and maker.created == [110]
    assert await services.feeds.invites(THEIRS) == {}
    assert (await services.feeds.get(THEIRS)).calendar_name == ""


async def test_change_notices_are_queued_only_by_the_process_owning_their_guild(
    db: Database, clock: FakeClock
) -> None:
    """A deleted meeting's notices (written by the database trigger) get their job from the
    guild's own process; every process inserting every notice's job contended for the rows."""
    from bot.services.reminders.planning import NOTICE
    from tests.support.meetings import make_meeting

    services = _process_on(db, clock)
    for guild_id in (MINE, THEIRS):
        meeting_id = await make_meeting(services, guild_id, title=f"in {guild_id}")
        await services.reminders.subscribe(guild_id, 42, meeting_id)
        async with db.transaction() as tx:
            await services.meetings.delete(tx, meeting_id)  # the trigger writes the notice
    await services.reminders.reconcile()
    queued = await services.jobs.pending(kind=NOTICE)
    assert [j.guild_id for j in queued] == [MINE]


async def test_room_jobs_and_lifts_are_scheduled_only_by_the_owning_process(
    db: Database, clock: FakeClock
) -> None:
    """Every process rewrote every room's open/close and lift jobs every five minutes."""
    services = _process_on(db, clock)
    for guild_id, channel in ((MINE, 110), (THEIRS, 220)):
        meeting_id = await _room_of(services, guild_id, channel)
        meeting = await services.meetings.get(meeting_id)
        window = (await services.rooms.state(meeting)).window
        assert window is not None
        await services.rooms.add_removal(meeting, 42, window)
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM jobs")  # as on a store whose jobs were lost
    await services.rooms.schedule_all()
    pending = await services.jobs.pending()
    assert {j.kind for j in pending} == {"room_open", "room_close", "room_lift"}
    assert {j.guild_id for j in pending} == {MINE}


async def test_forget_me_in_a_sharded_process_reaches_every_guilds_modline(
    db: Database, clock: FakeClock
) -> None:
    """Not partitioned, on purpose: forget-me (from any guild, or a DM on shard 0) deletes the
    person's open mod-line conversations in every guild, whichever process runs that guild."""
    services = _process_on(db, clock)
    for n, guild_id in enumerate((MINE, THEIRS)):
        opening = await services.modline.begin(guild_id, 42)
        await services.modline.register(guild_id, 42, opening.pseudonym, thread_id=500 + n)
    await services.privacy.forget_user(42)
    assert await services.modline.by_thread(500) is None
    assert await services.modline.by_thread(501) is None


async def test_forget_me_unlinks_pseudonyms_in_every_processs_open_rooms(pg_url: str) -> None:
    """Open rooms live in the memory of the process running their guild's shard: forget-me,
    asked in a guild of another shard (or a DM, on shard 0), reaches them by a fleet message."""
    from bot.bus import ROOM_OPENED
    from tests.support.meetings import make_meeting

    clock = FakeClock(T0)
    occurrence = T0.date().isoformat()

    async with _processes(pg_url, 2) as (db_a, db_b):
        asker, host = _process_on(db_a, clock, "0"), _process_on(db_b, clock)
        for services in (asker, host):
            await services.jobs.join()
        meeting_id = await make_meeting(host, MINE, title="Tuesday night")
        await host.events.emit(
            ROOM_OPENED, meeting_id=meeting_id, guild_id=MINE, occurrence=occurrence
        )
        first = host.attendance.prepare_share(meeting_id, occurrence, MINE, 42, "hello")
        live = host.attendance._live[(meeting_id, occurrence)]
        await asker.privacy.forget_user(42)

        async def unlinked() -> bool:
            return first.number in live.retired

        await _until(unlinked)
        clock.advance(timedelta(seconds=31))
        again = host.attendance.prepare_share(meeting_id, occurrence, MINE, 42, "again")
        assert again.number != first.number  # a new pseudonym: the old one names nobody now
        for services in (asker, host):
            await services.jobs.stop()
