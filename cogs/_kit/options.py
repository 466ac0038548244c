"""Slash-command options shared by several cogs: meetings and time zones, with autocomplete."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n_format import zone_label
from bot.models.meetings import Meeting
from bot.parsing import all_timezones
from bot.services.meeting_options import home_time_words
from cogs._kit.checks import services_of
from cogs._kit.format import truncate


async def timezone_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """IANA zone names matching what was typed; the guild default first."""
    default = None
    if interaction.guild_id is not None:
        default = (await services_of(interaction).guilds.get(interaction.guild_id)).timezone
    needle = current.strip().lower().replace(" ", "_")
    names = [n for n in all_timezones() if needle in n.lower()] if needle else []
    if not needle:
        names = [
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Los_Angeles",
            "Europe/London",
            "Europe/Dublin",
            "America/Toronto",
            "Australia/Sydney",
            "UTC",
        ]
    names.sort(key=lambda n: (not n.lower().startswith(needle), n))
    if default and (not needle or needle in default.lower()):
        names = [default] + [n for n in names if n != default]
    return [app_commands.Choice(name=zone_choice_name(n), value=n) for n in names[:25]]


def zone_choice_name(zone: str) -> str:
    """A zone as offered: its IANA id, and its city in the reader's language when that differs."""
    city = zone_label(zone)
    return zone if city == zone or city in zone.replace("_", " ") else f"{zone} ({city})"


def _meeting_choice_name(meeting: Meeting) -> str:
    """Title, marks for closed and family meetings, and the home time."""
    marks = ("🔒" if meeting.access.value == "closed" else "") + (
        "👪" if meeting.kind.value == "family" else ""
    )
    return f"{meeting.title}{' ' + marks if marks else ''} · {home_time_words(meeting)}"


async def meeting_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Meetings of this guild whose title contains what was typed (value = meeting id)."""
    if interaction.guild_id is None:
        return []
    hits = await services_of(interaction).meeting_service.search(interaction.guild_id, current)
    return [
        app_commands.Choice(name=truncate(_meeting_choice_name(m), 100), value=str(m.id))
        for m in hits
    ]


async def resolve_meeting(interaction: discord.Interaction, value: str) -> Meeting:
    """The meeting named by an autocomplete value (its id) or its exact title, in this guild."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return await services_of(interaction).meeting_service.resolve(interaction.guild_id, value)


class MeetingOption(app_commands.Transformer):
    """A `meeting:` option: autocompletes this guild's meetings, resolves to the Meeting.

    Use as ``meeting: app_commands.Transform[Meeting, MeetingOption]``; an unknown meeting is a
    UserFacingError, which the tree answers privately like any other.
    """

    async def transform(self, interaction: discord.Interaction, value: str) -> Meeting:
        """The meeting named by the autocomplete value (its id) or its exact title."""
        return await resolve_meeting(interaction, value)

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction, value: str
    ) -> list[app_commands.Choice[str]]:
        """This guild's meetings whose title contains what was typed."""
        return await meeting_autocomplete(interaction, value)


# The type of every `meeting:` option: autocompleted, resolved to a Meeting of this guild.
MeetingArg = app_commands.Transform[Meeting, MeetingOption]
