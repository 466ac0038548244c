"""After a change: the notice in the announcement channel and the entry in the mod log.

Both are read by everyone, so neither follows the person who made the change: the notice is
written in the meeting's language and the mod-log entry in the server's. Each is passed as a
function that builds its text, called inside ``use_locale``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord

from bot.services.meetings import Meeting
from cogs._kit import bot_of, escape, modlog_embed, truncate
from cogs._kit.i18n import _, use_locale
from cogs.meetings.render import why

log = logging.getLogger(__name__)


async def announce(
    interaction: discord.Interaction, meeting: Meeting, text: Callable[[], str]
) -> None:
    """Post to the guild's announcement channel in the meeting's language (never pings)."""
    assert interaction.guild_id is not None
    bot = bot_of(interaction)
    settings = await bot.services.guilds.get(interaction.guild_id)
    if settings.announce_channel_id is None:
        return
    channel = bot.get_channel(settings.announce_channel_id)
    if not isinstance(channel, discord.abc.Messageable):
        log.warning("announcement channel of a guild is missing")
        return
    with use_locale(meeting.language):
        content = text()
    try:
        await channel.send(content)
    except Exception as exc:  # the change is saved; a failed notice must not say otherwise
        log.warning("could not post an announcement (%s)", why(exc))


async def modlog(
    interaction: discord.Interaction,
    title: str,
    meeting: Meeting,
    details: Callable[[], dict[str, str]] | None = None,
) -> None:
    """One mod-log entry for a change, in the server's language (``title``: an N_ constant)."""
    bot = bot_of(interaction)
    settings = await bot.services.guilds.get(meeting.guild_id)
    with use_locale(settings.language):
        embed = modlog_embed(
            _(title),
            interaction.user,
            bot.clock.now(),
            meeting=f"{escape(truncate(meeting.title, 200))} (#{meeting.id})",
            **(details() if details is not None else {}),
        )
    try:
        await bot.post_modlog(meeting.guild_id, embed)
    except Exception as exc:  # the change is saved; a failed entry must not say otherwise
        log.warning("could not write a meeting change to the mod log (%s)", why(exc))
