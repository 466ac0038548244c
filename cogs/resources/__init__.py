"""/resource: vetted resource cards (cog.py commands, views.py buttons and forms, render.py embeds,
review_desk.py the moderators' side in Discord)."""

from __future__ import annotations

from bot.runtime.app import HavenBot
from cogs.resources.cog import ResourcesCog
from cogs.resources.render import NO_ADVICE

__all__ = ["NO_ADVICE", "ResourcesCog", "setup"]


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(ResourcesCog(bot))
