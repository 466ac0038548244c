"""/meeting: the commands (cog), what they show (render), their dialogs (views), the options,
the notices after a change, and the native scheduled-event mirror's Discord calls."""

from __future__ import annotations

from bot.runtime.app import HavenBot
from cogs.meetings.cog import MeetingsCog


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(MeetingsCog(bot))
