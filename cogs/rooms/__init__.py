"""/room: a meeting's room (category, text and voice or stage channel) and its moderation.

``cog`` holds the commands, ``overwrites`` the permission model, ``effects`` the Discord side of
the lifecycle that ``bot.services.rooms.RoomService`` runs, ``render`` what a room says.
"""

from __future__ import annotations

from bot.runtime.app import HavenBot
from cogs.rooms.cog import RoomCog


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(RoomCog(bot))
