"""A full Haven process for the mixed-load crash test: runs until killed, against the parent's server.

Run as ``python -m tests.e2e.crash_safety_child`` with HAVEN_MIXED_* variables set by
``tests/e2e/test_crash_safety.py`` (HAVEN_MIXED_URL, when set, names its PostgreSQL database).
Unlike ``reminders_crash_child`` it loads the cogs a meeting night uses (meetings, reminders,
rooms, attendance) and syncs the slash commands at start, so the parent can schedule, subscribe
and check in while reminders fall due.
"""

from __future__ import annotations

import asyncio
import os
import signal

from bot.config import load_settings
from bot.runtime.app import create_bot
from tests.e2e.reminders_crash_child import ShiftedClock

EXTENSIONS = ("cogs.setup", "cogs.meetings", "cogs.reminders", "cogs.rooms", "cogs.attendance")


async def main() -> None:
    """Start the bot (syncing commands) and run until the parent kills the process."""
    env = os.environ
    settings = load_settings(
        _env_file=None,
        discord_token=env["HAVEN_MIXED_TOKEN"],
        database_path=env["HAVEN_MIXED_DB"],
        database_url=env.get("HAVEN_MIXED_URL") or None,
        discord_api_base=env["HAVEN_MIXED_API"],
        discord_gateway_url=env["HAVEN_MIXED_GATEWAY"],
        haven_secret_key=env["HAVEN_MIXED_KEY"],
        dm_rate_per_second=50,
        log_level="WARNING",
        identify_window_s=0.2,  # the fake has no IDENTIFY limit: restart at once
    )
    bot = await create_bot(
        settings,
        clock=ShiftedClock(float(env["HAVEN_MIXED_SHIFT"])),
        extensions=EXTENSIONS,
        sync_on_start=True,
        guild_ready_timeout=0.05,
    )
    # SIGTERM is the clean stop (as in bot.runtime.app.run); SIGKILL is the crash under test.
    closing: set[asyncio.Task[None]] = set()
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, lambda: closing.add(asyncio.create_task(bot.close()))
    )
    async with bot:
        await bot.start(env["HAVEN_MIXED_TOKEN"])
    await asyncio.gather(*closing)


if __name__ == "__main__":
    asyncio.run(main())
