"""Discord's per-bot limits across a fleet: the IDENTIFY queue and the shared REST budget.

Discord (Gateway docs, sharding): shards start by bucket `shard_id % max_concurrency`, one
IDENTIFY per bucket per 5 s, and a too-early IDENTIFY is answered with op 9. The 50 requests/s
global REST limit is per bot, not per process. The fake enforces both with scaled windows.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import SystemClock
from bot.config import Settings, load_settings
from bot.db import Database
from bot.runtime.app import ShardedHavenBot
from bot.services import build_services
from tests.e2e.harness import TEST_SECRET_KEY, discord_py_endpoints, point_discord_py_at
from tests.fakediscord import FakeDiscord
from tests.support.postgres import PostgresServer

JSON = dict[str, Any]
WINDOW = 0.2  # the fake's IDENTIFY window, scaled down from Discord's 5 s


@pytest.fixture
async def server() -> AsyncIterator[FakeDiscord]:
    """A FakeDiscord with 6 shards that enforces the IDENTIFY window."""
    with discord_py_endpoints():
        fake = await FakeDiscord(shards=6, max_concurrency=1).start()
        fake.gateway.identify_window = WINDOW
        point_discord_py_at(fake)
        try:
            yield fake
        finally:
            await fake.stop()
    assert not fake.unmodelled, fake.unmodelled


async def _identify(session: aiohttp.ClientSession, server: FakeDiscord, shard: int) -> JSON:
    """Open a socket, IDENTIFY as `[shard, shards]` and return the first answer after HELLO."""
    ws = await session.ws_connect(server.gateway_url)
    hello = json.loads((await ws.receive()).data)
    assert hello["op"] == 10
    payload = {"token": server.token, "intents": 1, "properties": {}, "shard": [shard, 6]}
    await ws.send_str(json.dumps({"op": 2, "d": payload}))
    answer: JSON = json.loads((await ws.receive()).data)
    await ws.close()
    return answer


async def test_a_too_early_identify_in_the_same_bucket_gets_op_9(server: FakeDiscord) -> None:
    now = [100.0]
    server.gateway.identify_clock = lambda: now[0]
    async with aiohttp.ClientSession() as session:
        assert (await _identify(session, server, 0))["t"] == "READY"
        # max_concurrency 1: every shard is in bucket 0, so shard 3 must wait for the window.
        now[0] += WINDOW / 2
        assert await _identify(session, server, 3) == {"op": 9, "d": False, "s": None, "t": None}
        now[0] = 100.0 + WINDOW
        assert (await _identify(session, server, 3))["t"] == "READY"
        assert server.gateway.identify_rejections == 1
        # max_concurrency 2: shard 1 is bucket 1, which has not identified yet: no wait.
        server.max_concurrency = 2
        assert (await _identify(session, server, 1))["t"] == "READY"
        assert await _identify(session, server, 5) == {"op": 9, "d": False, "s": None, "t": None}
    assert server.gateway.identify_rejections == 2
    assert server.gateway.identifies == 3
    log = [(a.shard[0], a.bucket, a.accepted) for a in server.gateway.identify_log]
    assert log == [(0, 0, True), (3, 0, False), (3, 0, True), (1, 1, True), (5, 1, False)]


# --- three processes x two shards on one PostgreSQL ------------------------------------------------


@pytest.fixture
async def fleet_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for one fleet."""
    name = await postgres_server.fresh_database()
    try:
        yield postgres_server.url(name)
    finally:
        await postgres_server.drop_database(name)


ROOT = Path(__file__).resolve().parents[2]


async def _spawn(
    server: FakeDiscord, url: str, shard_ids: str, log: Path
) -> asyncio.subprocess.Process:
    """One fleet process (tests/e2e/fleet_limits_child.py), logged in and waiting to connect."""
    inherited = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env = {
        **inherited,
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": server.token,
        "DATABASE_URL": url,
        "HAVEN_SECRET_KEY": TEST_SECRET_KEY,
        "DISCORD_API_BASE": server.api_base,
        "DISCORD_GATEWAY_URL": server.gateway_url,
        "SHARD_COUNT": "6",
        "SHARD_IDS": shard_ids,
        "IDENTIFY_WINDOW_S": str(WINDOW),
        "HTTP_PORT": "",
    }
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.fleet_limits_child",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    return proc


async def _say(proc: asyncio.subprocess.Process, expected: str, log: Path) -> list[str]:
    """The child's next line, which must start with `expected`."""
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
    assert line and line[0] == expected, f"child said {line}: see {log}"
    return line


@pytest.mark.parametrize("max_concurrency", [1, 2])
async def test_three_processes_identify_in_turn_without_a_rejection(
    server: FakeDiscord, fleet_url: str, tmp_path: Path, max_concurrency: int
) -> None:
    server.max_concurrency = max_concurrency
    guilds = {shard: server.create_guild(f"shard {shard}", shard=shard) for shard in range(6)}
    log = tmp_path / "fleet.log"
    shares = ("0-1", "2-3", "4-5")
    procs = [await _spawn(server, fleet_url, ids, log) for ids in shares]
    try:
        for proc in procs:
            await _say(proc, "set", log)
        for proc in procs:  # every process connects at once, from an idle start
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        readies = [await _say(proc, "ready", log) for proc in procs]
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    attempts = server.gateway.identify_log
    first = min(a.at for a in attempts)
    seen = [(a.shard[0], a.bucket, a.accepted, round(a.at - first, 3)) for a in attempts]
    assert server.gateway.identify_rejections == 0, seen
    assert sorted(a.shard[0] for a in attempts) == list(range(6))
    for ready, ids in zip(readies, ((0, 1), (2, 3), (4, 5)), strict=True):
        assert " ".join(ready[2:]) == str(sorted(guilds[s].id for s in ids))
    # One bucket: six turns a window (and the queue's slack) apart, so the last READY about six
    # windows after the first IDENTIFY; one more window covers READY and a busy test machine.
    # Two buckets: three turns each, side by side, so half of that.
    turns = 6 // max_concurrency
    ready_at = max(float(r[1]) for r in readies)
    assert ready_at - first <= (turns + 1) * WINDOW, (round(ready_at - first, 3), seen)
    if max_concurrency == 2:
        by_bucket = [sorted(a.at for a in attempts if a.bucket == b) for b in (0, 1)]
        assert all(abs(x - y) < WINDOW for x, y in zip(*by_bucket, strict=True)), seen


# --- the REST budget ------------------------------------------------------------------------------


async def test_three_processes_share_the_global_rest_limit_without_a_429(
    server: FakeDiscord, fleet_url: str, tmp_path: Path
) -> None:
    server.global_limit_per_second = 50  # Discord's, per bot, over a sliding second
    bots = []
    for shard_ids in ("0-1", "2-3", "4-5"):
        settings = load_settings(
            _env_file=None,
            discord_token=server.token,
            database_url=fleet_url,
            database_path=tmp_path / "unused.db",
            haven_secret_key=TEST_SECRET_KEY,
            shard_count=6,
            shard_ids=shard_ids,
        )
        db = await Database.open(fleet_url)
        services = build_services(settings, db, SystemClock(), TEST_SECRET_KEY.encode())
        bots.append(ShardedHavenBot(services, extensions=(), shard_count=6, shard_ids=[]))
    try:
        for bot in bots:
            await bot.login(server.token)
        user = server.owner_user.id
        # Each process bursts 30 requests at once: 90 in all, more than a second's worth.
        await asyncio.gather(*(bot.http.get_user(user) for bot in bots for _ in range(30)))
    finally:
        for bot in bots:
            await bot.close()
    calls = server.find_calls("GET", "/users/{user_id}")
    assert [c.status for c in calls] == [200] * 90, "a process went over its share"
    assert not server.find_calls(status=429)
    # 90 requests at the fleet's 48/s (16 per process) take more than one second.
    assert calls[-1].at - calls[0].at >= 1.0
