"""What /meeting shows: the meeting card, list pages and the names in notices.

Everything renders in the current locale: the reader's for replies, the meeting's for notices.
"""

from __future__ import annotations

import discord

from bot.i18n_format import duration, format_list, full_date
from bot.occurrences import Occurrence
from bot.parsing import format_offset
from bot.services.meetings import (
    Later,
    Meeting,
    Upcoming,
    access_label,
    describe_repeat,
    format_labels,
    home_time_words,
    local_start_words,
)
from cogs._kit import COLOR, escape, fit_embed, safe_title, truncate, ts_pair
from cogs._kit.i18n import LANGUAGE_CHOICES, _, ngettext

PAGE_SIZE = 8
# Each language named in itself, as the `language:` option names it.
LANGUAGE_NAMES = {str(choice.value): choice.name for choice in LANGUAGE_CHOICES}


def occurrence_line(meeting: Meeting, occ: Occurrence) -> str:
    """One occurrence: Discord timestamps for the reader, and the home wall time beside them."""
    parts = [ts_pair(occ.start), local_start_words(meeting, occ.local_start)]
    if occ.moved:
        parts.append(_("**moved**"))
    return " · ".join(parts)


def meeting_name(meeting: Meeting) -> str:
    """The meeting's title in bold with who it is for, as notices and answers name it."""
    return f"**{escape(meeting.title)}** ({access_label(meeting)})"


def _reminders(meeting: Meeting) -> str:
    if meeting.reminder_offsets is None:
        return _("server default")
    if not meeting.reminder_offsets:
        return _("none")
    # The offsets as /meeting edit takes them ("24h, 15m"): short, and the same in every language.
    offsets = ", ".join(format_offset(m) for m in meeting.reminder_offsets)
    return _("{offsets} before").format(offsets=offsets)


def meeting_card(meeting: Meeting, upcoming: list[Occurrence]) -> discord.Embed:
    """The meeting's card: title, who it is for, when, the next occurrences and the home zone."""
    embed = discord.Embed(
        title=safe_title(meeting.title),
        description=escape(meeting.description) if meeting.description else None,
        colour=COLOR,
    )
    embed.add_field(name=_("For"), value=access_label(meeting), inline=False)
    embed.add_field(
        name=_("When"),
        value=f"{describe_repeat(meeting)} · {duration(meeting.duration_minutes)}",
        inline=False,
    )
    if meeting.paused_until is not None:
        embed.add_field(
            name=_("Paused"),
            value=_("No meetings before {date}.").format(date=full_date(meeting.paused_until)),
            inline=False,
        )
    lines = [occurrence_line(meeting, o) for o in upcoming] or [_("No upcoming meetings.")]
    embed.add_field(name=_("Next dates"), value="\n".join(lines), inline=False)
    embed.add_field(
        name=_("Formats"), value=format_list(format_labels(meeting)) or "—", inline=True
    )
    facilitators = " ".join(f"<@{u}>" for u in sorted(meeting.facilitator_ids)) or "—"
    embed.add_field(name=_("Facilitators"), value=facilitators, inline=True)
    embed.add_field(name=_("Reminders"), value=_reminders(meeting), inline=True)
    embed.add_field(
        name=_("Language"),
        value=LANGUAGE_NAMES.get(meeting.language, meeting.language),
        inline=True,
    )
    # A plural on the hour, as in bot.i18n_format: Spanish says "la 1:00" but "las 19:00".
    footer = ngettext(
        "Meeting #{id} · times in Discord show in your own time zone; the meeting keeps "
        "{time} local time",
        "Meeting #{id} · times in Discord show in your own time zone; the meeting keeps "
        "{time} local time",
        meeting.start_time.hour,
    )
    embed.set_footer(text=footer.format(id=meeting.id, time=home_time_words(meeting)))
    return fit_embed(embed)


def later_line(item: Later) -> str:
    """A meeting outside the window: when it meets next, why (a pause), or that no date is left."""
    m = item.meeting
    if item.next is None:
        when = _("No upcoming date.")
    elif item.paused_until is not None:
        when = _("Paused until {date} · next: {when}").format(
            date=full_date(item.paused_until), when=occurrence_line(m, item.next)
        )
    else:
        when = _("Next: {when}").format(when=occurrence_line(m, item.next))
    return f"**{escape(truncate(m.title, 100))}** · {access_label(m)}\n{when} · `#{m.id}`"


def _title(days: int, mine: bool) -> str:
    if mine:
        text = ngettext(
            "Meetings you can join in the next {count} day",
            "Meetings you can join in the next {count} days",
            days,
        )
    else:
        text = ngettext(
            "Meetings in the next {count} day", "Meetings in the next {count} days", days
        )
    return text.format(count=days)


def list_pages(
    items: list[Upcoming], later: list[Later], days: int, mine: bool
) -> list[discord.Embed]:
    """Occurrences in the window, then every other meeting's next date, PAGE_SIZE per page."""
    title = _title(days, mine)
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
    nothing = ngettext(
        "Nothing in the next {count} day.", "Nothing in the next {count} days.", days
    )
    beyond = ngettext(
        "__**Beyond the next {count} day**__", "__**Beyond the next {count} days**__", days
    )
    pages: list[discord.Embed] = []
    for number, chunk in enumerate(chunks, start=1):
        lines = []
        if number == 1 and not items:
            lines.append(nothing.format(count=days))
        for n, (is_later, line) in enumerate(chunk):
            # Head the later part wherever it starts, and on each page it continues onto.
            if is_later and (n == 0 or not chunk[n - 1][0]):
                lines.append(beyond.format(count=days))
            lines.append(line)
        embed = discord.Embed(title=title, description="\n\n".join(lines), colour=COLOR)
        embed.set_footer(
            text=_(
                "Page {number}/{total} · /meeting info for details · times show in your own "
                "time zone"
            ).format(number=number, total=len(chunks))
        )
        pages.append(fit_embed(embed))
    return pages


def why(exc: Exception) -> str:
    """An exception's type and HTTP status, never its message (it may echo user text)."""
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__
