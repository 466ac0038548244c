"""What /meeting shows: the meeting card, list pages and the names in notices."""

from __future__ import annotations

import discord

from bot.occurrences import Occurrence
from bot.parsing import format_offset
from bot.services.meetings import Later, Meeting, Upcoming, access_label, describe_repeat
from cogs._kit import COLOR, escape, fit_embed, safe_title, truncate, ts_pair

PAGE_SIZE = 8


def occurrence_line(meeting: Meeting, occ: Occurrence) -> str:
    """One occurrence: Discord timestamps for the reader, and the home wall time beside them."""
    home = f"{occ.local_start:%a %H:%M} {meeting.timezone}"
    moved = " · **moved**" if occ.moved else ""
    return f"{ts_pair(occ.start)} · {home}{moved}"


def meeting_name(meeting: Meeting) -> str:
    """The meeting's title in bold with who it is for, as notices and answers name it."""
    return f"**{escape(meeting.title)}** ({access_label(meeting)})"


def meeting_card(meeting: Meeting, upcoming: list[Occurrence]) -> discord.Embed:
    """The meeting's card: title, who it is for, when, the next occurrences and the home zone."""
    embed = discord.Embed(
        title=safe_title(meeting.title),
        description=escape(meeting.description) if meeting.description else None,
        colour=COLOR,
    )
    embed.add_field(name="For", value=access_label(meeting), inline=False)
    embed.add_field(
        name="When",
        value=f"{describe_repeat(meeting)} · {meeting.duration_minutes} minutes",
        inline=False,
    )
    if meeting.paused_until is not None:
        embed.add_field(
            name="Paused",
            value=f"No meetings before {meeting.paused_until.isoformat()}.",
            inline=False,
        )
    lines = [occurrence_line(meeting, o) for o in upcoming] or ["No upcoming meetings."]
    embed.add_field(name="Next", value="\n".join(lines), inline=False)
    embed.add_field(name="Formats", value=", ".join(meeting.format_labels) or "—", inline=True)
    facilitators = " ".join(f"<@{u}>" for u in sorted(meeting.facilitator_ids)) or "—"
    embed.add_field(name="Facilitators", value=facilitators, inline=True)
    reminders = (
        ", ".join(format_offset(m) for m in meeting.reminder_offsets) + " before"
        if meeting.reminder_offsets is not None
        else "server default"
    )
    embed.add_field(name="Reminders", value=reminders or "none", inline=True)
    embed.set_footer(
        text=f"Meeting #{meeting.id} · times in Discord show in your own time zone; "
        f"the meeting keeps {meeting.home_time} local time"
    )
    return fit_embed(embed)


def later_line(item: Later) -> str:
    """A meeting outside the window: when it meets next, why (a pause), or that no date is left."""
    m = item.meeting
    if item.next is None:
        when = "No upcoming date."
    elif item.paused_until is not None:
        when = (
            f"Paused until {item.paused_until.isoformat()} · next: {occurrence_line(m, item.next)}"
        )
    else:
        when = f"Next: {occurrence_line(m, item.next)}"
    return f"**{escape(truncate(m.title, 100))}** · {access_label(m)}\n{when} · `#{m.id}`"


def list_pages(
    items: list[Upcoming], later: list[Later], days: int, mine: bool
) -> list[discord.Embed]:
    """Occurrences in the window, then every other meeting's next date, PAGE_SIZE per page."""
    span = f"{days} day{'s' if days != 1 else ''}"
    scope = " you can join" if mine else ""
    title = f"Meetings{scope} in the next {span}"
    entries = [
        (
            False,
            f"**{escape(truncate(u.meeting.title, 100))}** · {access_label(u.meeting)}\n"
            f"{occurrence_line(u.meeting, u.occurrence)} · `#{u.meeting.id}`",
        )
        for u in items
    ]
    entries += [(True, later_line(x)) for x in later]
    chunks = [entries[i : i + PAGE_SIZE] for i in range(0, len(entries), PAGE_SIZE)]
    pages: list[discord.Embed] = []
    for number, chunk in enumerate(chunks, start=1):
        lines = []
        if number == 1 and not items:
            lines.append(f"Nothing in the next {span}.")
        for n, (is_later, line) in enumerate(chunk):
            # Head the later part wherever it starts, and on each page it continues onto.
            if is_later and (n == 0 or not chunk[n - 1][0]):
                lines.append(f"__**Beyond the next {span}**__")
            lines.append(line)
        embed = discord.Embed(title=title, description="\n\n".join(lines), colour=COLOR)
        embed.set_footer(
            text=f"Page {number}/{len(chunks)} · /meeting info for details · "
            "times show in your own time zone"
        )
        pages.append(fit_embed(embed))
    return pages


def why(exc: Exception) -> str:
    """An exception's type and HTTP status, never its message (it may echo user text)."""
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__
