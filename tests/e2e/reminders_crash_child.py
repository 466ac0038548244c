"""A Haven process for the crash test: runs until killed, against the parent's FakeDiscord.

Run as ``python -m tests.e2e.reminders_crash_child`` with HAVEN_CRASH_* variables set by
``tests/e2e/test_reminders_crash.py`` (HAVEN_CRASH_URL, when set, names its PostgreSQL database).
Its clock is the wall clock shifted by a fixed amount, so the burst the parent prepared is due
the moment it starts (and stays within the grace window).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

from bot.config import load_settings
from bot.runtime.app import create_bot


class ShiftedClock:
    """The wall clock moved by a fixed offset (time still flows)."""

    def __init__(self, shift_seconds: float) -> None:
        self.shift = timedelta(seconds=shift_seconds)

    def now(self) -> datetime:
        """Return the shifted instant (aware, UTC)."""
        return datetime.now(UTC) + self.shift


async def main() -> None:
    """Start the bot and run until the parent kills the process."""
    env = os.environ
    settings = load_settings(
        _env_file=None,
        discord_token=env["HAVEN_CRASH_TOKEN"],
        database_path=env["HAVEN_CRASH_DB"],
        database_url=env.get("HAVEN_CRASH_URL") or None,
        discord_api_base=env["HAVEN_CRASH_API"],
        discord_gateway_url=env["HAVEN_CRASH_GATEWAY"],
        haven_secret_key=env["HAVEN_CRASH_KEY"],
        dm_rate_per_second=50,
        log_level="WARNING",
        identify_window_s=0.2,  # the fake has no IDENTIFY limit: restart at once
    )
    bot = await create_bot(
        settings,
        clock=ShiftedClock(float(env["HAVEN_CRASH_SHIFT"])),
        extensions=("cogs.reminders",),
        guild_ready_timeout=0.05,
    )
    async with bot:
        await bot.start(env["HAVEN_CRASH_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
