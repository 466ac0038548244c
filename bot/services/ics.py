"""The iCalendar (RFC 5545) feed of a guild's meetings, written by hand: pure, no I/O.

Every repeat rule is carried (RRULE with TZID and a generated VTIMEZONE per zone, EXDATE for
cancelled and paused occurrences, RECURRENCE-ID overrides for moved ones). Only generated text is
published besides the titles: kind, access, formats and the room's invite, never anything about
people. The Meeting Guide feed shares this module's public text (bot/services/meeting_guide.py).
That text is in the current locale: FeedService renders a guild's feeds in the guild's language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.i18n import N_, _
from bot.models.feeds import FeedInvite
from bot.models.meetings import Access, Kind, Meeting
from bot.occurrences import Repeat, is_scheduled_date, nth_weekday_of, scheduled_dates, zone

__all__ = [
    "build_ics",
    "categories",
    "clean",
    "first_rule_date",
    "fold_line",
    "invite_url",
    "public_notes",
    "vtimezone_lines",
    "wall",
]

PRODID = "-//Haven//Meeting feeds 1.0//EN"
CRLF = "\r\n"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ICS_STAMP = "%Y%m%dT%H%M%SZ"
_ICS_LOCAL = "%Y%m%dT%H%M%S"
_BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # index = ISO weekday - 1

_KIND_NOTE = {
    Kind.NA: N_("NA-style peer meeting."),
    Kind.FAMILY: N_("Family and friends meeting, for people who love someone who uses drugs."),
    Kind.OTHER: N_("Peer-support meeting."),
}
_CLOSED_NOTE = {
    Kind.NA: N_("Closed: for people who identify as addicts."),
    Kind.FAMILY: N_("Closed: for family and friends."),
    Kind.OTHER: N_("Closed: for members of the community."),
}
_KIND_CATEGORY = {
    Kind.NA: N_("NA-style"),
    Kind.FAMILY: N_("Family"),
    Kind.OTHER: N_("Peer support"),
}


# --- the public text both feeds share ------------------------------------------------------


def invite_url(code: str) -> str:
    """The public link of a Discord invite code."""
    return f"https://discord.gg/{code}"


def clean(text: str) -> str:
    """User text without control characters (newlines kept)."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def public_notes(meeting: Meeting, invite: FeedInvite | None) -> str:
    """Generated public notes (current locale): kind, access, formats, where. No user text."""
    lines = [_(_KIND_NOTE[meeting.kind])]
    if meeting.access == Access.CLOSED:
        lines.append(_(_CLOSED_NOTE[meeting.kind]))
    else:
        lines.append(_("Open: anyone is welcome."))
    if meeting.format_labels:
        # Joined with commas in every language, so the English feed keeps its bytes.
        formats = ", ".join(_(label) for label in meeting.format_labels)
        lines.append(_("Format: {formats}.").format(formats=formats))
    if invite is not None:
        lines.append(_("Held on Discord: {link}").format(link=invite_url(invite.code)))
    else:
        lines.append(_("Held on Discord."))
    return "\n".join(lines)


def categories(meeting: Meeting) -> list[str]:
    """The event's categories in the current locale: its kind, then its formats."""
    return [_(_KIND_CATEGORY[meeting.kind]), *(_(label) for label in meeting.format_labels)]


def first_rule_date(meeting: Meeting) -> date | None:
    """The first date the rule produces (DTSTART must be a real occurrence)."""
    return next(iter(scheduled_dates(meeting.schedule, meeting.first_date)), None)


def wall(d: date, t: time) -> datetime:
    """A naive wall time: a date at a time of day."""
    return datetime.combine(d, t)


# --- text and values -----------------------------------------------------------------------


def _ics_text(text: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11)."""
    text = clean(text).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold_line(line: str) -> str:
    """One content line folded at 75 octets (never inside a UTF-8 character), CRLF-terminated."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line + CRLF
    parts: list[str] = []
    limit = 75
    current = ""
    size = 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size, limit = "", 0, 74  # continuation lines start with one space
        current += ch
        size += width
    parts.append(current)
    return (CRLF + " ").join(parts) + CRLF


def _offset(delta: timedelta) -> str:
    """A UTC offset as ±HHMM (±HHMMSS when it has seconds)."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{seconds:02d}" if seconds else "")


def _local(dt: datetime) -> str:
    return dt.strftime(_ICS_LOCAL)


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime(_ICS_STAMP)


# --- VTIMEZONE -----------------------------------------------------------------------------


_State = tuple[timedelta, str, bool]


def _state(tz: ZoneInfo, ts: int) -> _State:
    local = datetime.fromtimestamp(ts, UTC).astimezone(tz)
    return (local.utcoffset() or timedelta(0), local.tzname() or "", bool(local.dst()))


def _transitions(tz: ZoneInfo, start: int, end: int) -> Iterator[tuple[int, _State, _State]]:
    """(UTC second, state before, state after) of each change in [start, end]."""
    step = 6 * 3600  # no zone has changed twice within six hours since 1970
    prev_ts, prev = start, _state(tz, start)
    ts = start
    while ts < end:
        ts = min(ts + step, end)
        cur = _state(tz, ts)
        if cur != prev:
            lo, hi = prev_ts, ts  # state(lo) == prev, state(hi) != prev
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _state(tz, mid) == prev:
                    lo = mid
                else:
                    hi = mid
            after = _state(tz, hi)
            yield hi, prev, after
            prev = after
            # Re-scan from the transition in case of a second change inside the same step.
            prev_ts = hi
            ts = hi
            continue
        prev_ts, prev = ts, cur


@lru_cache(maxsize=256)
def vtimezone_lines(tzid: str, start: date, end: date) -> tuple[str, ...]:
    """A VTIMEZONE for an IANA zone from zoneinfo's transitions between two dates (unfolded)."""
    tz = zone(tzid)
    start_ts = int(datetime.combine(start, time(), UTC).timestamp())
    end_ts = int(datetime.combine(end, time(), UTC).timestamp())
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]

    def observance(at_local: datetime, before: _State, after: _State) -> None:
        kind = "DAYLIGHT" if after[2] else "STANDARD"
        lines.extend(
            [
                f"BEGIN:{kind}",
                f"DTSTART:{_local(at_local)}",
                f"TZOFFSETFROM:{_offset(before[0])}",
                f"TZOFFSETTO:{_offset(after[0])}",
            ]
        )
        if after[1]:
            lines.append(f"TZNAME:{_ics_text(after[1])}")
        lines.append(f"END:{kind}")

    first = _state(tz, start_ts)
    # The opening observance: what applies from the span's start (offset unchanged).
    observance(datetime.fromtimestamp(start_ts, UTC).replace(tzinfo=None) + first[0], first, first)
    for ts, before, after in _transitions(tz, start_ts, end_ts):
        # DTSTART of an observance is the local time *before* the change (RFC 5545 3.6.5).
        at = datetime.fromtimestamp(ts, UTC).replace(tzinfo=None) + before[0]
        observance(at, before, after)
    lines.append("END:VTIMEZONE")
    return tuple(lines)


# --- what each meeting contributes ---------------------------------------------------------


def _rrule(meeting: Meeting, first: date) -> str | None:
    """The RRULE value of a meeting's repeat rule, or None for a one-off."""
    byday = _BYDAY[first.isoweekday() - 1]
    if meeting.repeat == Repeat.WEEKLY:
        return f"FREQ=WEEKLY;BYDAY={byday}"
    if meeting.repeat == Repeat.BIWEEKLY:
        return f"FREQ=WEEKLY;INTERVAL=2;BYDAY={byday}"
    if meeting.repeat == Repeat.MONTHLY:
        return f"FREQ=MONTHLY;BYDAY={nth_weekday_of(first)}{byday}"
    if meeting.repeat == Repeat.MONTHLY_LAST:
        return f"FREQ=MONTHLY;BYDAY=-1{byday}"
    return None


def _dates_between(meeting: Meeting, start: date, stop: date) -> Iterator[date]:
    for d in scheduled_dates(meeting.schedule, start):
        if d >= stop:
            return
        yield d


@dataclass(frozen=True, slots=True)
class _EventPlan:
    """One meeting as calendar data: a master event and its overrides."""

    meeting: Meeting
    start: datetime  # naive local DTSTART
    rrule: str | None
    exdates: tuple[datetime, ...]  # naive local
    overrides: tuple[tuple[datetime, datetime], ...]  # (recurrence id, new start), naive local

    def span(self) -> tuple[date, date]:
        """First and last dates this plan names explicitly."""
        dates = [self.start.date(), *(o[1].date() for o in self.overrides)]
        return min(dates), max(dates)


def _plan(meeting: Meeting) -> _EventPlan | None:
    """How a meeting maps onto iCalendar, or None when it has no occurrence at all."""
    schedule = meeting.schedule
    excs = schedule.exceptions
    paused = schedule.paused_until
    if meeting.repeat == Repeat.ONCE:
        key = meeting.first_date
        if paused is not None and key < paused:
            return None
        exc = excs.get(key)
        if exc is not None and exc.cancelled:
            return None
        start = wall(key, meeting.start_time)
        if exc is not None and exc.moved_to is not None:
            start = _naive_in(exc.moved_to, meeting.timezone)
        return _EventPlan(meeting, start, None, (), ())
    first = first_rule_date(meeting)
    if first is None:
        return None
    rrule = _rrule(meeting, first)
    exdates: set[datetime] = set()
    if paused is not None and paused > first:
        exdates.update(wall(d, meeting.start_time) for d in _dates_between(meeting, first, paused))
    overrides: list[tuple[datetime, datetime]] = []
    for key, exc in excs.items():
        if key < first or not is_scheduled_date(schedule, key):
            continue
        original = wall(key, meeting.start_time)
        if paused is not None and key < paused:
            continue  # already excluded above
        if exc.cancelled:
            exdates.add(original)
        elif exc.moved_to is not None:
            overrides.append((original, _naive_in(exc.moved_to, meeting.timezone)))
    return _EventPlan(
        meeting,
        wall(first, meeting.start_time),
        rrule,
        tuple(sorted(exdates)),
        tuple(sorted(overrides)),
    )


def _naive_in(value: datetime, tzid: str) -> datetime:
    """A stored wall time (tolerating an aware one) as naive local time in the zone."""
    if value.tzinfo is not None:
        return value.astimezone(zone(tzid)).replace(tzinfo=None)
    return value


def _event_lines(
    plan: _EventPlan,
    invite: FeedInvite | None,
    stamp: datetime,
    start: datetime,
    recurrence_id: datetime | None,
) -> list[str]:
    m = plan.meeting
    tzid = m.timezone
    lines = [
        "BEGIN:VEVENT",
        f"UID:meeting-{m.id}@haven",
        f"DTSTAMP:{_stamp(stamp)}",
    ]
    if recurrence_id is not None:
        lines.append(f"RECURRENCE-ID;TZID={tzid}:{_local(recurrence_id)}")
    lines.append(f"DTSTART;TZID={tzid}:{_local(start)}")
    lines.append(f"DURATION:PT{m.duration_minutes}M")
    if recurrence_id is None:
        if plan.rrule:
            lines.append(f"RRULE:{plan.rrule}")
        if plan.exdates:
            lines.append(f"EXDATE;TZID={tzid}:" + ",".join(_local(d) for d in plan.exdates))
    lines.append(f"SUMMARY:{_ics_text(m.title)}")
    lines.append(f"DESCRIPTION:{_ics_text(public_notes(m, invite))}")
    lines.append("CATEGORIES:" + ",".join(_ics_text(c) for c in categories(m)))
    if invite is not None:
        link = invite_url(invite.code)
        lines.append(f"URL:{link}")
        lines.append(f"LOCATION:{_ics_text(link)}")
        lines.append(f"CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO,CHAT;LABEL=Discord:{link}")
    else:
        lines.append("LOCATION:Discord")
    lines.append("CLASS:PUBLIC")
    lines.append("TRANSP:OPAQUE")
    lines.append("END:VEVENT")
    return lines


def build_ics(
    meetings: Iterable[Meeting],
    invites: dict[int, FeedInvite],
    stamp: datetime,
    *,
    horizon: date,
    name: str = "Meetings",
) -> str:
    """The iCalendar text of these meetings (CRLF line endings, folded at 75 octets)."""
    plans = [p for p in (_plan(m) for m in meetings) if p is not None]
    plans.sort(key=lambda p: p.meeting.id)
    spans: dict[str, tuple[date, date]] = {}
    for p in plans:
        lo, hi = p.span()
        known = spans.get(p.meeting.timezone)
        if known is not None:
            lo, hi = min(lo, known[0]), max(hi, known[1])
        spans[p.meeting.timezone] = (lo, hi)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"NAME:{_ics_text(name)}",
        f"X-WR-CALNAME:{_ics_text(name)}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT6H",
        "X-PUBLISHED-TTL:PT6H",
    ]
    for tzid in sorted(spans):
        lo, hi = spans[tzid]
        begin = date(lo.year, 1, 1) - timedelta(days=1)
        end = date(max(hi.year + 1, horizon.year), 1, 1)
        lines.extend(vtimezone_lines(tzid, begin, end))
    for p in plans:
        invite = invites.get(p.meeting.id)
        lines.extend(_event_lines(p, invite, stamp, p.start, None))
        for recurrence_id, new_start in p.overrides:
            lines.extend(_event_lines(p, invite, stamp, new_start, recurrence_id))
    lines.append("END:VCALENDAR")
    return "".join(fold_line(line) for line in lines)
