"""The /meeting options: choices, descriptions, the meeting argument and the autocompletes."""

from __future__ import annotations

from datetime import date
from typing import Literal

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.occurrences import next_occurrences, zone
from bot.permissions import Level, level_for
from bot.services import Services
from bot.services.meetings import format_suggestions
from cogs._kit import resolve_meeting, services_of, truncate
from cogs._kit.i18n import _T

RepeatChoice = Literal["once", "weekly", "biweekly", "monthly", "monthly-last"]
KindChoice = Literal["na", "family", "other"]
AccessChoice = Literal["open", "closed"]


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
    choices: list[tuple[date, str]] = []
    for occ in next_occurrences(meeting.schedule, now, 12):
        moved = " (moved)" if occ.moved else ""
        choices.append(
            (occ.key, f"{occ.key:%a %Y-%m-%d} · {occ.local_start:%H:%M} {meeting.timezone}{moved}")
        )
    today = now.astimezone(zone(meeting.timezone)).date()
    for key, exc in meeting.exceptions.items():
        if exc.cancelled and key >= today:
            choices.append((key, f"{key:%a %Y-%m-%d} (cancelled)"))
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
    "title": "What the meeting is called (up to 100 characters)",
    "start": "First meeting, local time: YYYY-MM-DD HH:MM, e.g. 2027-01-05 19:00",
    "repeat": "How it repeats: once, weekly, biweekly, monthly (nth weekday), monthly-last",
    "kind": "na (NA-style), family (family and friends), other (general peer support)",
    "timezone": "The meeting's IANA time zone (default: the server's)",
    "duration": "Minutes, 5 to 600 (default 60)",
    "access": "open (anyone) or closed (members; family role for family meetings)",
    "formats": "Comma-separated: speaker, discussion, step study, newcomer, …",
    "description": "What to expect (up to 1000 characters; \\n starts a new line)",
    "language": _T("Language of its reminders, room cards and notices (default: the server's)"),
}

EDIT_OPTIONS: dict[str, str | _T] = {
    "meeting": "Start typing the meeting's title",
    "title": "New title",
    "start": "New first meeting, local time: YYYY-MM-DD HH:MM (re-anchors the repeat)",
    "timezone": "New IANA time zone (the local time stays the same)",
    "repeat": "New repeat rule",
    "duration": "Minutes, 5 to 600",
    "kind": "na, family or other",
    "access": "open or closed",
    "formats": "Comma-separated formats, or - for none",
    "description": "New description, or - to clear",
    "opening_text": "The opening format posted when the room opens (\\n = new line), or - to clear",
    "reminder_offsets": "Reminders before each meeting, e.g. 24h,15m; 'default' = the server's",
    "room_open_minutes": "Minutes before the start the room opens (0-120)",
    "room_close_minutes": "Minutes after the end the room closes (0-240)",
    "clear_chat": "Clear the room's chat after each meeting",
    "add_facilitator": "Someone with the facilitator role to co-facilitate",
    "remove_facilitator": "A facilitator to remove from this meeting",
    "occurrence": "Move one occurrence: its date (YYYY-MM-DD)",
    "move_to": "Move that occurrence to: local YYYY-MM-DD HH:MM",
    "language": _T("Language of its reminders, room cards and notices"),
}
