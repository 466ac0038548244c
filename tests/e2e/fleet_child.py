"""One Haven process of the fleet test: `python -m bot` with an injected clock, until killed.

Run as ``python -m tests.e2e.fleet_child`` by ``tests/e2e/fleet.py: Fleet``. Its settings come
from the environment exactly as ``python -m bot`` reads them (DATABASE_URL, SHARD_COUNT,
SHARD_IDS, DISCORD_API_BASE, ...); two test-only variables add what production does not have:

- ``HAVEN_FLEET_SHIFT``: seconds added to the wall clock. Every process of the fleet gets the same
  shift, so they share one clock (the burst falls due at the same instant in each of them).
- ``HAVEN_FLEET_READY``: a file the process appends ``<pid> <phase> <monotonic>`` to as it starts:
  ``created`` (create_bot returned: migrated, shard locks held), ``connected`` (every shard
  READY), ``jobs`` (its job engine runs). The parent times restarts by it (CLOCK_MONOTONIC is
  system-wide on Linux).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from bot.config import load_settings
from bot.logging_setup import setup_logging
from bot.runtime.app import HavenBot, create_bot
from tests.e2e.reminders_crash_child import ShiftedClock

EXTENSIONS = ("cogs.setup", "cogs.meetings", "cogs.reminders", "cogs.rooms")


def _mark(phase: str) -> None:
    with Path(os.environ["HAVEN_FLEET_READY"]).open("a") as out:
        out.write(f"{os.getpid()} {phase} {time.monotonic():.6f}\n")


async def _mark_phases(bot: HavenBot) -> None:
    await bot.wait_until_ready()
    _mark("connected")
    await bot.jobs_started.wait()
    _mark("jobs")


async def main() -> None:
    """Start the bot (syncing commands when asked) and run until SIGTERM or SIGKILL."""
    settings = load_settings(_env_file=None)
    setup_logging(settings.log_level, [])
    bot = await create_bot(
        settings,
        clock=ShiftedClock(float(os.environ["HAVEN_FLEET_SHIFT"])),
        extensions=EXTENSIONS,
        sync_on_start=os.environ.get("HAVEN_FLEET_SYNC") == "1",
        guild_ready_timeout=0.05,
    )
    _mark("created")
    tasks = {asyncio.create_task(_mark_phases(bot))}
    # SIGTERM is the clean stop (as in bot.runtime.app.run); SIGKILL is the crash under test.
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, lambda: tasks.add(asyncio.create_task(bot.close()))
    )
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
