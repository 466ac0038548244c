"""The /meeting options: choices, descriptions, the meeting argument and the autocompletes."""

from __future__ import annotations

from datetime import date

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.i18n_format import time_of_day, weekday, zone_label
from bot.occurrences import next_occurrences, zone
from bot.permissions import Level, level_for
from bot.services import Services
from bot.services.meetings import format_suggestions
from cogs._kit import resolve_meeting, services_of, truncate
from cogs._kit.i18n import _T, _

# The values are what the service parses (and what the docs quote); the names are what people read.
REPEAT_CHOICES: list[app_commands.Choice[str]] = [
    app_commands.Choice(name=_T("once"), value="once"),
    app_commands.Choice(name=_T("weekly"), value="weekly"),
    app_commands.Choice(name=_T("biweekly"), value="biweekly"),
    app_commands.Choice(name=_T("monthly"), value="monthly"),
    app_commands.Choice(name=_T("monthly-last"), value="monthly-last"),
]
KIND_CHOICES: list[app_commands.Choice[str]] = [
    app_commands.Choice(name=_T("NA-style"), value="na"),
    app_commands.Choice(name=_T("Family and friends"), value="family"),
    app_commands.Choice(name=_T("Peer support"), value="other"),
]
ACCESS_CHOICES: list[app_commands.Choice[str]] = [
    app_commands.Choice(name=_T("open (anyone)"), value="open"),
    app_commands.Choice(name=_T("closed (the member or family role)"), value="closed"),
]


def multiline(text: str | None) -> str | None:
    """Slash options are one line: a typed `\\n` starts a new one in long texts."""
    return None if text is None else text.replace("\\n", "\n")


async def format_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Complete the last item of a comma-separated format list."""
    return [app_commands.Choice(name=n, value=v) for n, v in format_suggestions(current)]


async def occurrence_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The chosen meeting's next dates (and its cancelled ones, to restore)."""
    value = getattr(interaction.namespace, "meeting", None)
    if not value or interaction.guild_id is None:
        return []
    try:
        meeting = await resolve_meeting(interaction, str(value))
    except UserFacingError:
        return []
    now = services_of(interaction).clock.now()
    where = zone_label(meeting.timezone)
    choices: list[tuple[date, str]] = []
    for occ in next_occurrences(meeting.schedule, now, 12):
        # The date as typed (YYYY-MM-DD) after its weekday, then the wall time at home.
        name = _("{weekday} {date} · {time} ({zone})").format(
            weekday=weekday(occ.key.isoweekday()),
            date=occ.key.isoformat(),
            time=time_of_day(occ.local_start),
            zone=where,
        )
        if occ.moved:
            name = _("{occurrence} (moved)").format(occurrence=name)
        choices.append((occ.key, name))
    today = now.astimezone(zone(meeting.timezone)).date()
    for key, exc in meeting.exceptions.items():
        if exc.cancelled and key >= today:
            name = _("{weekday} {date} (cancelled)").format(
                weekday=weekday(key.isoweekday()), date=key.isoformat()
            )
            choices.append((key, name))
    choices.sort()
    needle = current.strip().lower()
    return [
        app_commands.Choice(name=truncate(name, 100), value=key.isoformat())
        for key, name in choices
        if needle in name.lower()
    ][:25]


async def can_facilitate(services: Services, member: discord.Member | None) -> bool:
    """Whether the `add_facilitator` member holds the facilitator role (or more), bots never."""
    if not isinstance(member, discord.Member) or member.bot:
        return False
    settings = await services.guilds.get(member.guild.id)
    level = level_for(
        {r.id for r in member.roles},
        manage_guild=member.guild_permissions.manage_guild,
        moderator_role_id=settings.moderator_role_id,
        facilitator_role_id=settings.facilitator_role_id,
    )
    return level >= Level.FACILITATOR


SCHEDULE_OPTIONS: dict[str, str | _T] = {
    "title": _T("What the meeting is called (up to 100 characters)"),
    "start": _T("First meeting, local time: YYYY-MM-DD HH:MM, e.g. 2027-01-05 19:00"),
    "repeat": _T("How it repeats: once, weekly, biweekly, monthly (nth weekday), monthly-last"),
    "kind": _T("NA-style, family and friends, or other (general peer support)"),
    "timezone": _T("The meeting's IANA time zone (default: the server's)"),
    "duration": _T("Minutes, 5 to 600 (default 60)"),
    "access": _T("open (anyone) or closed (members; family role for family meetings)"),
    "formats": _T("Comma-separated: speaker, discussion, step study, newcomer, …"),
    "description": _T("What to expect (up to 1000 characters; \\n starts a new line)"),
    "language": _T("Language of its reminders, room cards and notices (default: the server's)"),
}

EDIT_OPTIONS: dict[str, str | _T] = {
    "meeting": _T("Start typing the meeting's title"),
    "title": _T("New title"),
    "start": _T("New first meeting, local time: YYYY-MM-DD HH:MM (re-anchors the repeat)"),
    "timezone": _T("New IANA time zone (the local time stays the same)"),
    "repeat": _T("New repeat rule"),
    "duration": _T("Minutes, 5 to 600"),
    "kind": _T("NA-style, family and friends, or other"),
    "access": _T("open or closed"),
    "formats": _T("Comma-separated formats, or - for none"),
    "description": _T("New description, or - to clear"),
    "opening_text": _T(
        "The opening format posted when the room opens (\\n = new line), or - to clear"
    ),
    "reminder_offsets": _T("Reminders before each meeting, e.g. 24h,15m; 'default' = the server's"),
    "room_open_minutes": _T("Minutes before the start the room opens (0-120)"),
    "room_close_minutes": _T("Minutes after the end the room closes (0-240)"),
    "clear_chat": _T("Clear the room's chat after each meeting"),
    "add_facilitator": _T("Someone with the facilitator role to co-facilitate"),
    "remove_facilitator": _T("A facilitator to remove from this meeting"),
    "occurrence": _T("Move one occurrence: its date (YYYY-MM-DD)"),
    "move_to": _T("Move that occurrence to: local YYYY-MM-DD HH:MM"),
    "language": _T("Language of its reminders, room cards and notices"),
}
