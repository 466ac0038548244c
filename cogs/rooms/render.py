"""What a room says: its opening card, the closing line and the channel names."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import discord

from bot.runtime.tree import HavenView
from bot.services.meetings import Meeting
from bot.services.rooms import RoomWindow
from cogs._kit import COLOR, escape, fit_embed, safe_title, truncate, ts, ts_pair

ANONYMITY = "Who you see here and what you hear here stays here."
DISCORD_SHOWS = (
    "Discord shows who is in this room to everyone in it; Haven never records who attends."
)
CHECKIN_ID = "haven:checkin:{meeting_id}:{occurrence}"
REOPENED = "The room is open again."


def room_name(title: str) -> str:
    """The room category's name: the meeting's title, within Discord's limit."""
    return truncate(title.strip() or "Meeting", 100)


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
        else "Welcome. Take a seat; the meeting starts soon."
    )
    embed = discord.Embed(
        title=truncate(f"{safe_title(meeting.title)}: the room is open", 256),
        description=description,
        colour=COLOR,
    )
    if meeting.format_labels:
        embed.add_field(name="Format", value=", ".join(meeting.format_labels), inline=False)
    embed.add_field(name="Starts", value=ts_pair(window.occurrence.start), inline=True)
    embed.add_field(name="Room closes", value=ts(window.closes_at, "t"), inline=True)
    embed.add_field(
        name="What happens here stays here", value=f"{ANONYMITY}\n{DISCORD_SHOWS}", inline=False
    )
    embed.add_field(
        name="Check in",
        value="Press **Check in** to be counted. It is anonymous: only the number is kept.",
        inline=False,
    )
    embed.add_field(
        name="Need help now?",
        value="Use `/crisis` at any time: it answers only you, with crisis lines for your region.",
        inline=False,
    )
    view = HavenView(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Check in",
            style=discord.ButtonStyle.success,
            custom_id=CHECKIN_ID.format(meeting_id=meeting.id, occurrence=window.key),
        )
    )
    # Only rendered here: the attendance feature's DynamicItem answers the button.
    view.stop()
    return fit_embed(embed), view


def closing_line(next_start: datetime | None, cleared: bool) -> str:
    """The line posted when the room closes: the next meeting, and whether chat was cleared."""
    line = "The room is closed. Thank you for being here."
    if next_start is not None:
        line += f" Next meeting: {ts_pair(next_start)}."
    if cleared:
        line += " Messages from this meeting were cleared for confidentiality."
    return line


def opens_when(is_open: bool, window: RoomWindow | None) -> str:
    """When a newly created room opens, for the creator's reply."""
    if is_open:
        return "It is open now."
    if window is not None:
        return f"It opens {ts(window.opens_at, 'R')}, before the next meeting."
    return "The meeting has no upcoming occurrence."


def removed_dm(meeting: Meeting, guild_name: str, until: datetime, contact: str) -> str:
    """The private message to someone removed from a room."""
    return (
        f"A facilitator or moderator removed you from the room of "
        f"**{safe_title(meeting.title)}** in **{escape(guild_name)}** until "
        f"{ts(until, 'f')}. You can take part again after that. If you have "
        f"questions or need support, contact the moderators: {contact}."
    )
