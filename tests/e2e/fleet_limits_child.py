"""One process of the IDENTIFY-queue fleet test: a sharded Haven client, started on a signal.

Run as ``python -m tests.e2e.fleet_limits_child`` by ``tests/e2e/test_fleet_limits.py``. Its
settings come from the environment as ``python -m bot`` reads them (DATABASE_URL, SHARD_COUNT,
SHARD_IDS, DISCORD_API_BASE, IDENTIFY_WINDOW_S, ...). It loads no cogs: only the gateway is under
test. It prints ``set`` once logged in, connects when a line arrives on stdin (so every process
identifies from an idle start), prints ``ready <monotonic>`` when all its shards are READY and
stops at end of input. CLOCK_MONOTONIC is system-wide on Linux, so the parent can compare it
with the fake gateway's clock.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bot.clock import SystemClock
from bot.config import load_settings
from bot.db import Database
from bot.runtime.app import ShardedHavenBot, apply_endpoints
from bot.services import build_services


async def _line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main() -> None:
    """Log in, wait for the go line, connect, report readiness, stop at end of input."""
    settings = load_settings(_env_file=None)
    assert settings.database_url is not None and settings.shard_count is not None
    apply_endpoints(settings)
    db = await Database.open(settings.database_url.get_secret_value())
    services = build_services(settings, db, SystemClock(), b"k" * 32)
    bot = ShardedHavenBot(
        services,
        extensions=(),
        shard_count=settings.shard_count,
        shard_ids=list(settings.shard_ids or range(settings.shard_count)),
        guild_ready_timeout=0.05,
    )
    async with bot:
        await bot.login(settings.discord_token.get_secret_value())
        print("set", flush=True)
        await _line()
        connect = asyncio.create_task(bot.connect())
        await bot.wait_until_ready()
        print(f"ready {time.monotonic():.6f} {sorted(g.id for g in bot.guilds)}", flush=True)
        await _line()
        await bot.close()
        await asyncio.gather(connect, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
