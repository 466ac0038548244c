"""After a change: the notice in the announcement channel and the entry in the mod log."""

from __future__ import annotations

import logging

import discord

from bot.services.meetings import Meeting
from cogs._kit import bot_of, escape, modlog_embed, truncate
from cogs.meetings.render import why

log = logging.getLogger(__name__)


async def announce(interaction: discord.Interaction, text: str) -> None:
    """Post to the guild's announcement channel, if it has a usable one (never pings)."""
    assert interaction.guild_id is not None
    bot = bot_of(interaction)
    settings = await bot.services.guilds.get(interaction.guild_id)
    if settings.announce_channel_id is None:
        return
    channel = bot.get_channel(settings.announce_channel_id)
    if not isinstance(channel, discord.abc.Messageable):
        log.warning("announcement channel of a guild is missing")
        return
    try:
        await channel.send(text)
    except Exception as exc:  # the change is saved; a failed notice must not say otherwise
        log.warning("could not post an announcement (%s)", why(exc))


async def modlog(
    interaction: discord.Interaction, title: str, meeting: Meeting, **fields: str
) -> None:
    """One mod-log entry for a schedule change."""
    bot = bot_of(interaction)
    embed = modlog_embed(
        title,
        interaction.user,
        bot.clock.now(),
        meeting=f"{escape(truncate(meeting.title, 200))} (#{meeting.id})",
        **fields,
    )
    try:
        await bot.post_modlog(meeting.guild_id, embed)
    except Exception as exc:  # the change is saved; a failed entry must not say otherwise
        log.warning("could not write a meeting change to the mod log (%s)", why(exc))
