"""Onboarding glue: the role panel, moderator approval of role requests, and the welcome.

``cog`` answers the buttons and welcomes newcomers, ``views`` holds the buttons and what a press
does, ``panel`` posts the panel for /setup panel, and ``render`` has the words and embeds.
"""

from __future__ import annotations

from bot.runtime.app import HavenBot
from cogs.onboarding.cog import OnboardingCog
from cogs.onboarding.render import jump_url

__all__ = ["OnboardingCog", "jump_url", "setup"]


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(OnboardingCog(bot))
