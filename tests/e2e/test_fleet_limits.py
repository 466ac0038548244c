"""Discord's per-bot limits across a fleet: the IDENTIFY queue and the shared REST budget.

Discord (Gateway docs, sharding): shards start by bucket `shard_id % max_concurrency`, one
IDENTIFY per bucket per 5 s, and a too-early IDENTIFY is answered with op 9. The 50 requests/s
global REST limit is per bot, not per process. The fake enforces both with scaled windows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import discord_py_endpoints, point_discord_py_at
from tests.fakediscord import FakeDiscord

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
