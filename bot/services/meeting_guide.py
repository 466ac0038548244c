"""The Meeting Guide JSON feed of a guild's meetings (code4recovery spec): pure, no I/O.

The spec describes weekly meetings only, so other repeat rules are left out, and so is a meeting
while it is paused. Notes are the calendar feed's generated public text (bot/services/ics.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot.models.feeds import FeedInvite
from bot.models.meetings import FORMATS, Access, Meeting
from bot.occurrences import Repeat, to_meeting_guide_day, zone
from bot.services.ics import clean, first_rule_date, invite_url, public_notes, wall

__all__ = ["build_meeting_guide", "is_paused_now", "meeting_guide_types"]


def meeting_guide_types(meeting: Meeting) -> list[str]:
    """Meeting Guide type codes: O or C for access, each format's code, and S when Spanish."""
    codes = ["C" if meeting.access == Access.CLOSED else "O"]
    for fmt in meeting.formats:
        code = FORMATS.get(fmt, ("", None))[1]
        if code and code not in codes:
            codes.append(code)
    if meeting.language == "es":
        codes.append("S")  # the spec's "Spanish" ("En español"); TSML UI filters on it
    return codes


def _mg_time(t: time) -> str:
    return t.strftime("%H:%M")


def is_paused_now(meeting: Meeting, now: datetime) -> bool:
    """Whether the meeting is paused on today's date in its own zone."""
    if meeting.paused_until is None:
        return False
    today = now.astimezone(zone(meeting.timezone)).date()
    return today < meeting.paused_until


def build_meeting_guide(
    meetings: Iterable[Meeting],
    invites: dict[int, FeedInvite],
    updated: dict[int, datetime],
    now: datetime,
) -> list[dict[str, Any]]:
    """Meeting Guide feed entries: weekly meetings only, not while paused, sorted by day and time."""
    out: list[tuple[tuple[int, str, int], dict[str, Any]]] = []
    for m in meetings:
        if m.repeat != Repeat.WEEKLY or is_paused_now(m, now):
            continue
        first = first_rule_date(m)
        if first is None:
            continue
        day = to_meeting_guide_day(first.isoweekday())
        end = (wall(first, m.start_time) + timedelta(minutes=m.duration_minutes)).time()
        entry: dict[str, Any] = {
            "name": clean(m.title).replace("\n", " ")[:255],
            "slug": f"meeting-{m.id}",
            "day": day,
            "time": _mg_time(m.start_time),
            "end_time": _mg_time(end),
            "timezone": m.timezone,
            "types": meeting_guide_types(m),
        }
        invite = invites.get(m.id)
        if invite is not None:
            entry["conference_url"] = invite_url(invite.code)
        entry["notes"] = public_notes(m, invite)
        stamp = updated.get(m.id)
        if stamp is not None:
            entry["updated"] = stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        out.append(((day, entry["time"], m.id), entry))
    out.sort(key=lambda pair: pair[0])
    return [entry for _, entry in out]
