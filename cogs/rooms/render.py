"""What a room says: its opening card, the closing line and the channel names."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import discord

from bot.i18n_format import format_list
from bot.runtime.tree import HavenView
from bot.services.meetings import Meeting
from bot.services.rooms import RoomWindow
from cogs._kit import COLOR, escape, fit_embed, safe_title, truncate, ts, ts_pair
from cogs._kit.i18n import N_, _

ANONYMITY = N_("Who you see here and what you hear here stays here.")
DISCORD_SHOWS = N_(
    "Discord shows who is in this room to everyone in it; Haven never records who attends."
)
CHECKIN_ID = "haven:checkin:{meeting_id}:{occurrence}"
REOPENED = N_("The room is open again.")


def room_name(title: str) -> str:
    """The room category's name: the meeting's title, within Discord's limit."""
    return truncate(title.strip() or "Meeting", 100)  # i18n: keep (a channel name, not a reply)


def occurrence_nonce(key: str) -> str:
    """A Discord message nonce (at most 25 characters) derived from a job's key."""
    return hashlib.sha256(key.encode()).hexdigest()[:25]


def nonce(key: str | None) -> dict[str, Any]:
    """The send() keyword that makes a job's message idempotent (none without a key)."""
    return {"nonce": occurrence_nonce(key)} if key else {}


def opening_card(meeting: Meeting, window: RoomWindow) -> tuple[discord.Embed, HavenView]:
    """The opening card: format text, anonymity statement, check-in button, crisis pointer."""
    opening = meeting.opening_text.strip()
    description = (
        discord.utils.escape_mentions(opening)
        if opening
        else _("Welcome. Take a seat; the meeting starts soon.")
    )
    embed = discord.Embed(
        title=truncate(_("{title}: the room is open").format(title=safe_title(meeting.title)), 256),
        description=description,
        colour=COLOR,
    )
    if meeting.format_labels:
        embed.add_field(
            name=_("Format"),
            value=format_list(_(label) for label in meeting.format_labels),
            inline=False,
        )
    embed.add_field(name=_("Starts"), value=ts_pair(window.occurrence.start), inline=True)
    closes = ts(window.closes_at, "t")  # i18n: keep
    embed.add_field(name=_("Room closes"), value=closes, inline=True)
    embed.add_field(
        name=_("What happens here stays here"),
        value=f"{_(ANONYMITY)}\n{_(DISCORD_SHOWS)}",
        inline=False,
    )
    embed.add_field(
        name=_("Check in"),
        value=_("Press **Check in** to be counted. It is anonymous: only the number is kept."),
        inline=False,
    )
    embed.add_field(
        name=_("Need help now?"),
        value=_(
            "Use `/crisis` at any time: it answers only you, with crisis lines for your region."
        ),
        inline=False,
    )
    view = HavenView(timeout=None)
    view.add_item(
        discord.ui.Button(
            label=_("Check in"),
            style=discord.ButtonStyle.success,
            custom_id=CHECKIN_ID.format(meeting_id=meeting.id, occurrence=window.key),
        )
    )
    # Only rendered here: the attendance feature's DynamicItem answers the button.
    view.stop()
    return fit_embed(embed), view


def closing_line(next_start: datetime | None, cleared: bool) -> str:
    """The line posted when the room closes: the next meeting, and whether chat was cleared."""
    line = _("The room is closed. Thank you for being here.")
    if next_start is not None:
        line += " " + _("Next meeting: {when}.").format(when=ts_pair(next_start))
    if cleared:
        line += " " + _("Messages from this meeting were cleared for confidentiality.")
    return line


def opens_when(is_open: bool, window: RoomWindow | None) -> str:
    """When a newly created room opens, for the creator's reply."""
    if is_open:
        return _("It is open now.")
    if window is not None:
        return _("It opens {when}, before the next meeting.").format(when=ts(window.opens_at, "R"))
    return _("The meeting has no upcoming occurrence.")


def removed_dm(meeting: Meeting, guild_name: str, until: datetime, contact: str) -> str:
    """The private message to someone removed from a room."""
    return _(
        "A facilitator or moderator removed you from the room of **{title}** in **{server}** "
        "until {until}. You can take part again after that. If you have questions or need "
        "support, contact the moderators: {contact}."
    ).format(
        title=safe_title(meeting.title),
        server=escape(guild_name),
        until=ts(until, "f"),
        contact=contact,
    )
