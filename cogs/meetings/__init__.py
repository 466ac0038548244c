"""/meeting: find, schedule and change meetings.

``cog`` holds the commands, ``options`` their choices and autocompletes, ``render`` the card and
list pages, ``views`` the list pager and delete dialog, ``words`` the answers and notices after a
change, ``notices`` posts the announcement (in the meeting's language) and mod-log entry (in the
server's), ``event_mirror`` the Discord side of the native event mirror that
``bot.services.meetings.MeetingService`` plans.
"""

from __future__ import annotations

from bot.runtime.app import HavenBot
from cogs.meetings.cog import MeetingsCog


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(MeetingsCog(bot))
