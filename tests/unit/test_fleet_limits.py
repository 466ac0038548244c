"""Discord's per-bot limits shared by every process: the IDENTIFY queue, DM pacing, REST share.

Discord counts IDENTIFYs per bucket (`shard_id % max_concurrency`, one per 5 s) and REST requests
(50/s) per bot, not per process, so a fleet on one PostgreSQL shares them; one process on SQLite
keeps them in memory.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import discord
import pytest

from bot.clock import FakeClock
from bot.config import Settings, load_settings
from bot.db import Database
from bot.errors import ConfigError
from bot.runtime.app import apply_endpoints
from bot.runtime.fleet import IDENTIFY_SLACK, IdentifyQueue, RestLimiter, rest_share
from bot.services import build_services
from bot.services.reminders import Pacer
from tests.support.postgres import PostgresServer

KEY = "k" * 32


def _recorder(
    now: list[float] | None = None,
) -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    """A sleep that records how long it was asked to wait (and moves `now` on, when given)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        if now is not None:
            now[0] += seconds

    return slept, sleep


@pytest.fixture
async def fleet_dbs(postgres_server: PostgresServer) -> AsyncIterator[list[Database]]:
    """Three processes' pools on one PostgreSQL database."""
    name = await postgres_server.fresh_database()
    dbs = [await Database.open(postgres_server.url(name)) for _ in range(3)]
    try:
        yield dbs
    finally:
        for db in dbs:
            await db.close()
        await postgres_server.drop_database(name)


# --- the IDENTIFY queue ---------------------------------------------------------------------------


async def test_one_process_identifies_once_per_bucket_per_window() -> None:
    now = [100.0]
    _, sleep = _recorder(now)
    queue = IdentifyQueue(5.0, monotonic=lambda: now[0], sleep=sleep)
    spacing = 5.0 * (1 + IDENTIFY_SLACK)
    # max_concurrency 2: shards 0 and 1 are buckets 0 and 1 and go at once; shard 2 waits for
    # bucket 0's window, after which bucket 1 is free again for shard 3.
    waits = [await queue.wait(shard, 2) for shard in range(5)]
    assert waits == pytest.approx([0, 0, spacing, 0, spacing])
    # Unsharded (shard None) is bucket 0; a turn taken late leaves the next one a full window.
    now[0] += 2 * spacing
    assert await queue.wait(None, 1) == 0
    assert await queue.wait(0, 1) == pytest.approx(spacing)


async def test_identify_queue_paces_this_process_when_the_database_is_down() -> None:
    class Unreachable:
        dialect = "postgres"

        def transaction(self) -> None:
            raise OSError("connection refused")

    now = [0.0]
    _, sleep = _recorder(now)
    queue = IdentifyQueue(1.0, Unreachable(), monotonic=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]
    assert await queue.wait(0, 1) == 0
    assert await queue.wait(1, 1) == pytest.approx(1.0 * (1 + IDENTIFY_SLACK))


async def test_identify_turns_are_one_queue_across_processes_on_postgres(
    fleet_dbs: list[Database],
) -> None:
    window = 0.2
    queues = [IdentifyQueue(window, db) for db in fleet_dbs]
    turns: list[tuple[float, int]] = []

    async def identify(queue: IdentifyQueue, shard: int, max_concurrency: int) -> None:
        await queue.wait(shard, max_concurrency)
        turns.append((time.monotonic(), shard))

    # 3 processes x 2 shards, max_concurrency 1: one bucket, six turns at least a window apart.
    await asyncio.gather(*(identify(q, 2 * i + s, 1) for i, q in enumerate(queues) for s in (0, 1)))
    times = sorted(t for t, _ in turns)
    assert sorted(shard for _, shard in turns) == list(range(6))
    # Turns are stamped a window plus slack apart on the database's clock; these times are taken
    # when each waiter's event loop runs again after its commit, so on a loaded machine one late
    # wake-up brings it closer to the next (seen: 46 ms with three test workers on two cores).
    jitter = 0.06
    assert min(b - a for a, b in itertools.pairwise(times)) >= window - jitter
    assert 5 * window - jitter <= times[-1] - times[0] <= 7 * window
    # max_concurrency 2: bucket 1 has a row of its own, so shards 1 and 3 need not wait for
    # bucket 0's last turn, just taken.
    turns.clear()
    await asyncio.gather(identify(queues[0], 1, 2), identify(queues[1], 3, 2))
    (first, _), (second, _) = sorted(turns)
    assert first - times[-1] < window and second - first >= window
    rows = await fleet_dbs[0].fetchall("SELECT bucket FROM global_gateway_identify ORDER BY bucket")
    assert [r[0] for r in rows] == [0, 1]


# --- DM pacing: one shared token bucket on PostgreSQL --------------------------------------------


async def test_two_processes_dm_pacing_never_exceeds_the_rate_together(
    postgres_server: PostgresServer, fleet_dbs: list[Database], tmp_path: Path
) -> None:
    rate = 5.0  # DMs per second for the whole bot
    url = postgres_server.url(await fleet_dbs[0].fetchval("SELECT current_database()"))
    settings = load_settings(
        _env_file=None,
        discord_token="t",
        database_url=url,
        database_path=tmp_path / "unused.db",
        haven_secret_key=KEY,
        dm_rate_per_second=rate,
    )
    clock = FakeClock(datetime(2027, 1, 1, tzinfo=UTC))
    pacers = [
        build_services(settings, db, clock, KEY.encode()).reminders.delivery.pacer
        for db in fleet_dbs[:2]
    ]
    sends: list[float] = []

    async def dm_burst(pacer: Pacer) -> None:
        owed = [0.0]

        async def sleep(seconds: float) -> None:  # not slept: the send time is noted instead
            owed[0] = seconds

        pacer._sleep = sleep
        for _ in range(8):
            owed[0] = 0.0
            await pacer.wait()
            sends.append(time.monotonic() + owed[0])

    await asyncio.gather(*(dm_burst(p) for p in pacers))
    sends.sort()
    interval = 1 / rate
    for k, when in enumerate(sends):
        assert when >= sends[0] + k * interval - 0.05, (k, [round(s - sends[0], 3) for s in sends])
    assert sends[-1] - sends[0] <= (len(sends) - 1) * interval + 0.5


async def test_dm_pacing_on_sqlite_stays_in_memory(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "h.db")
    await db.migrate()
    try:
        settings = load_settings(_env_file=None, discord_token="t", database_path=tmp_path / "h.db")
        clock = FakeClock(datetime(2027, 1, 1, tzinfo=UTC))
        pacer = build_services(settings, db, clock, KEY.encode()).reminders.delivery.pacer
        slept, sleep = _recorder()
        pacer._sleep = sleep
        await pacer.wait()
        await pacer.wait()
        assert len(slept) == 1 and 0 < slept[0] <= 1.0
        assert await db.fetchval("SELECT count(*) FROM global_rate_buckets") == 0
    finally:
        await db.close()


# --- the REST budget: each process its share of the bot's 50/s -------------------------------------


def _settings(**values: object) -> Settings:
    return load_settings(_env_file=None, discord_token="t", **values)


def test_a_process_gets_its_shards_share_of_the_rest_budget() -> None:
    url = {"database_url": "postgresql://h@127.0.0.1/haven", "haven_secret_key": KEY}
    assert rest_share(_settings()) == 50  # one process, every shard
    assert rest_share(_settings(shard_count=6, **url)) == 50
    assert rest_share(_settings(shard_count=6, shard_ids="0-1", **url)) == 16  # 3 processes
    assert rest_share(_settings(shard_count=6, shard_ids="5", **url)) == 8
    assert (
        rest_share(_settings(shard_count=6, shard_ids="0-1", rest_rate_per_second=30, **url)) == 10
    )
    assert rest_share(_settings(shard_count=200, shard_ids="7", **url)) == 1  # never 0


async def test_rest_limiter_keeps_a_process_at_its_share_in_any_second() -> None:
    now = [0.0]
    _, sleep = _recorder(now)
    limiter = RestLimiter(16, monotonic=lambda: now[0], sleep=sleep)
    times = []
    for _ in range(50):  # each answered at once
        limiter.release(await limiter.acquire())
        times.append(now[0])
    busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert busiest == 16
    assert times[15] == 0.0 and times[16] == pytest.approx(1.0)  # a burst, then its next second
    assert times[-1] == pytest.approx(3.0)


async def test_a_slow_answer_keeps_its_rest_slot_a_period_after_it() -> None:
    """Discord counts a request when it arrives, which may be any time before the answer."""
    now = [0.0]
    _, sleep = _recorder(now)
    limiter = RestLimiter(2, monotonic=lambda: now[0], sleep=sleep)
    slow, quick = await limiter.acquire(), await limiter.acquire()
    limiter.release(quick)
    now[0] = 0.5
    limiter.release(slow)  # answered half a second after it started
    await limiter.acquire()
    assert now[0] == pytest.approx(1.0)  # the quick one's slot, a period after its answer
    await limiter.acquire()
    assert now[0] == pytest.approx(1.5)  # the slow one's: a period after its answer, not its start


def test_identify_window_and_rest_rate_settings() -> None:
    settings = load_settings(_env_file=None, discord_token="t")
    assert settings.identify_window_s == 5.0 and settings.rest_rate_per_second == 50
    assert (
        load_settings(_env_file=None, discord_token="t", identify_window_s="0.2").identify_window_s
        == 0.2
    )
    with pytest.raises(ConfigError, match="IDENTIFY_WINDOW_S"):
        load_settings(_env_file=None, discord_token="t", identify_window_s="0")
    with pytest.raises(ConfigError, match="REST_RATE_PER_SECOND"):
        load_settings(_env_file=None, discord_token="t", rest_rate_per_second="-1")


# --- a REST proxy for large fleets ---------------------------------------------------------------


def test_discord_api_base_can_name_an_http_proxy() -> None:
    """nirn-proxy and the like take Discord's paths under their own base URL."""
    before = discord.http.Route.BASE
    try:
        apply_endpoints(_settings(discord_api_base="http://proxy:8080/api/v10/"))
        assert discord.http.Route.BASE == "http://proxy:8080/api/v10"
        route = discord.http.Route("GET", "/gateway/bot")
        assert route.url == "http://proxy:8080/api/v10/gateway/bot"
    finally:
        discord.http.Route.BASE = before
