"""Rendering helpers: colours, safe user text, timestamps, embed limits, mod-log entries."""

from __future__ import annotations

from datetime import datetime

import discord

from bot.clock import to_unix
from bot.i18n import N_, _

COLOR = discord.Colour(0x4E8F7A)
COLOR_WARN = discord.Colour(0xC98A2B)
COLOR_ALERT = discord.Colour(0xB5473A)

EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_TOTAL = 6000


def escape(text: str) -> str:
    """User text made literal: markdown escaped and mentions neutralised."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def truncate(text: str, limit: int) -> str:
    """Cut text to a length, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_title(text: str) -> str:
    """User text for an embed title: escaped and within Discord's limit."""
    return truncate(escape(text), EMBED_TITLE)


def ts(dt: datetime, style: str = "F") -> str:
    """A Discord timestamp that each reader sees in their own zone."""
    return f"<t:{to_unix(dt)}:{style}>"


def ts_pair(dt: datetime) -> str:
    """Full date and relative time, e.g. 'Tuesday, 5 January 2027 19:00 (in 3 days)'."""
    return f"{ts(dt, 'F')} ({ts(dt, 'R')})"


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Trim an embed so it never exceeds Discord's limits."""
    if embed.title:
        embed.title = truncate(embed.title, EMBED_TITLE)
    if embed.description:
        embed.description = truncate(embed.description, EMBED_DESCRIPTION)
    fields = embed.fields[:EMBED_FIELDS]
    embed.clear_fields()
    for f in fields:
        embed.add_field(
            name=truncate(f.name or "\u200b", EMBED_FIELD_NAME),
            value=truncate(f.value or "\u200b", EMBED_FIELD_VALUE),
            inline=f.inline,
        )
    while len(embed) > EMBED_TOTAL and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > EMBED_TOTAL and embed.description:
        over = len(embed) - EMBED_TOTAL
        embed.description = truncate(embed.description, max(1, len(embed.description) - over - 1))
    return embed


# Mod-log field names, by the keyword a caller passes (others are shown as the keyword reads).
FIELD_NAMES: dict[str, str] = {
    "action": N_("Action"),
    "card": N_("Card"),
    "changed": N_("Changed"),
    "changes": N_("Changes"),
    "channel": N_("Channel"),
    "closed_meetings": N_("Closed meetings"),
    "content": N_("Content"),
    "details": N_("Details"),
    "facilitator": N_("Facilitator"),
    "fix": N_("Fix"),
    "invites_deleted": N_("Invites deleted"),
    "meeting": N_("Meeting"),
    "member": N_("Member"),
    "moderator": N_("Moderator"),
    "moved_to": N_("Moved to"),
    "name": N_("Name"),
    "note": N_("Note"),
    "occurrence": N_("Occurrence"),
    "panel": N_("Panel"),
    "problem": N_("Problem"),
    "pseudonym": N_("Pseudonym"),
    "reason": N_("Reason"),
    "role": N_("Role"),
    "room": N_("Room"),
    "room_invites": N_("Room invites"),
    "schedule": N_("Schedule"),
    "to_fix": N_("To fix"),
    "until": N_("Until"),
    "verified_on": N_("Verified on"),
    "who": N_("Who"),
}


def modlog_embed(
    title: str, actor: discord.abc.User | None, when: datetime | None = None, **fields: str
) -> discord.Embed:
    """A compact mod-log entry: what happened, by whom, when, and details (in the current locale).

    ``title`` is already translated by the caller; field names are translated here.
    """
    embed = discord.Embed(title=truncate(title, EMBED_TITLE), colour=COLOR_WARN)
    if actor is not None:
        embed.add_field(name=_("By"), value=f"{actor.mention} (`{actor.id}`)", inline=True)
    for name, value in fields.items():
        label = FIELD_NAMES.get(name)
        embed.add_field(
            name=_(label) if label else name.replace("_", " ").capitalize(),
            value=truncate(value or "—", 1024),
        )
    embed.timestamp = when or discord.utils.utcnow()
    return fit_embed(embed)
