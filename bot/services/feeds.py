"""Public feeds of a guild's meetings: iCalendar (RFC 5545) and Meeting Guide JSON. No Discord.

A guild opts in; it then has one secret URL token (only its SHA-256 hash is stored) and, per
published meeting, a discord.gg invite code made for the meeting's room through the InviteMaker
port the glue installs. Published:
open meetings (closed ones only when the guild explicitly includes them), with their titles, times,
kind, access and formats, and the invite link. Never descriptions, opening texts, facilitators or
anything else about people.

The ICS feed carries every repeat rule (RRULE with TZID and a generated VTIMEZONE per zone, EXDATE
for cancelled and paused occurrences, RECURRENCE-ID overrides for moved ones). The Meeting Guide
JSON feed is for weekly meetings only, as its spec says; other rules are left out of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from bot.bus import MEETING_CHANGED, EventBus
from bot.clock import Clock, iso, utc_from_iso
from bot.db import Database
from bot.errors import UserFacingError
from bot.jobs import JobEngine
from bot.occurrences import (
    Repeat,
    is_scheduled_date,
    nth_weekday_of,
    scheduled_dates,
    to_meeting_guide_day,
    zone,
)
from bot.services.meetings import FORMATS, Access, Kind, Meeting, MeetingStore

log = logging.getLogger(__name__)

__all__ = [
    "FeedConfig",
    "FeedInvite",
    "FeedKind",
    "FeedService",
    "InviteMaker",
    "InviteSync",
    "RenderedFeed",
    "build_ics",
    "build_meeting_guide",
    "fold_line",
    "hash_token",
    "invite_url",
    "is_token_shaped",
    "meeting_guide_types",
    "new_token",
    "vtimezone_lines",
]

FeedKind = Literal["ics", "json"]

PRODID = "-//Haven//Meeting feeds 1.0//EN"
CRLF = "\r\n"
TOKEN_BYTES = 32  # 256 bits: unguessable, so a plain hash is enough to look it up
# VTIMEZONE observances are listed from the earliest event to this many years past "now";
# calendar clients refetch the feed long before that.
HORIZON_YEARS = 6
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ICS_STAMP = "%Y%m%dT%H%M%SZ"
_ICS_LOCAL = "%Y%m%dT%H%M%S"
_BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # index = ISO weekday - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_KIND_NOTE = {
    Kind.NA: "NA-style peer meeting.",
    Kind.FAMILY: "Family and friends meeting, for people who love someone who uses drugs.",
    Kind.OTHER: "Peer-support meeting.",
}
_CLOSED_NOTE = {
    Kind.NA: "Closed: for people who identify as addicts.",
    Kind.FAMILY: "Closed: for family and friends.",
    Kind.OTHER: "Closed: for members of the community.",
}


# --- tokens and invites --------------------------------------------------------------------


def new_token() -> str:
    """A fresh, unguessable URL token (43 URL-safe characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def is_token_shaped(token: str) -> bool:
    """Whether a string could be a token at all (cheap rejection before any lookup)."""
    return bool(_TOKEN_SHAPE.match(token))


def invite_url(code: str) -> str:
    """The public link of a Discord invite code."""
    return f"https://discord.gg/{code}"


# --- data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """A guild's feed settings (the token itself is never stored)."""

    guild_id: int
    include_closed: bool
    calendar_name: str
    created_at: datetime
    rotated_at: datetime


@dataclass(frozen=True, slots=True)
class FeedInvite:
    """The discord.gg invite published for one meeting's room."""

    meeting_id: int
    channel_id: int
    code: str


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    """A feed body with its validators."""

    body: bytes
    content_type: str
    etag: str  # quoted strong entity tag
    last_modified: datetime  # aware UTC, whole seconds
    digest: str  # hash of the content apart from its stamp


@dataclass
class InviteSync:
    """What one invite sync did."""

    created: int = 0
    failed: int = 0
    removed: int = 0
    undeleted: list[str] = field(default_factory=list)  # codes Discord refused to delete


# --- text helpers --------------------------------------------------------------------------


def _clean(text: str) -> str:
    """User text without control characters (newlines kept)."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def _ics_text(text: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11)."""
    text = _clean(text).replace("\r\n", "\n").replace("\r", "\n")
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


def meeting_guide_types(meeting: Meeting) -> list[str]:
    """Meeting Guide type codes: O or C for access, then each format's code where one exists."""
    codes = ["C" if meeting.access == Access.CLOSED else "O"]
    for fmt in meeting.formats:
        code = FORMATS.get(fmt, ("", None))[1]
        if code and code not in codes:
            codes.append(code)
    return codes


def _notes(meeting: Meeting, invite: FeedInvite | None) -> str:
    """Generated public notes: kind, access, formats, where. Never user-written text."""
    lines = [_KIND_NOTE.get(meeting.kind, _KIND_NOTE[Kind.OTHER])]
    if meeting.access == Access.CLOSED:
        lines.append(_CLOSED_NOTE.get(meeting.kind, _CLOSED_NOTE[Kind.OTHER]))
    else:
        lines.append("Open: anyone is welcome.")
    if meeting.format_labels:
        lines.append("Format: " + ", ".join(meeting.format_labels) + ".")
    if invite is not None:
        lines.append(f"Held on Discord: {invite_url(invite.code)}")
    else:
        lines.append("Held on Discord.")
    return "\n".join(lines)


def _first_rule_date(meeting: Meeting) -> date | None:
    """The first date the rule produces (DTSTART must be a real occurrence)."""
    return next(iter(scheduled_dates(meeting.schedule, meeting.first_date)), None)


def _wall(d: date, t: time) -> datetime:
    return datetime.combine(d, t)


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
        start = _wall(key, meeting.start_time)
        if exc is not None and exc.moved_to is not None:
            start = _naive_in(exc.moved_to, meeting.timezone)
        return _EventPlan(meeting, start, None, (), ())
    first = _first_rule_date(meeting)
    if first is None:
        return None
    rrule = _rrule(meeting, first)
    exdates: set[datetime] = set()
    if paused is not None and paused > first:
        exdates.update(_wall(d, meeting.start_time) for d in _dates_between(meeting, first, paused))
    overrides: list[tuple[datetime, datetime]] = []
    for key, exc in excs.items():
        if key < first or not is_scheduled_date(schedule, key):
            continue
        original = _wall(key, meeting.start_time)
        if paused is not None and key < paused:
            continue  # already excluded above
        if exc.cancelled:
            exdates.add(original)
        elif exc.moved_to is not None:
            overrides.append((original, _naive_in(exc.moved_to, meeting.timezone)))
    return _EventPlan(
        meeting,
        _wall(first, meeting.start_time),
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
    lines.append(f"DESCRIPTION:{_ics_text(_notes(m, invite))}")
    categories = [_KIND_CATEGORY.get(m.kind, "Peer support"), *m.format_labels]
    lines.append("CATEGORIES:" + ",".join(_ics_text(c) for c in categories))
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


_KIND_CATEGORY = {Kind.NA: "NA-style", Kind.FAMILY: "Family", Kind.OTHER: "Peer support"}


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


# --- Meeting Guide JSON --------------------------------------------------------------------


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
        first = _first_rule_date(m)
        if first is None:
            continue
        day = to_meeting_guide_day(first.isoweekday())
        end = (_wall(first, m.start_time) + timedelta(minutes=m.duration_minutes)).time()
        entry: dict[str, Any] = {
            "name": _clean(m.title).replace("\n", " ")[:255],
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
        entry["notes"] = _notes(m, invite)
        stamp = updated.get(m.id)
        if stamp is not None:
            entry["updated"] = stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        out.append(((day, entry["time"], m.id), entry))
    out.sort(key=lambda pair: pair[0])
    return [entry for _, entry in out]


# --- the service ---------------------------------------------------------------------------


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class InviteMaker(Protocol):
    """What the Discord glue provides: permanent room invites, and a guild's current name."""

    async def create(self, channel_id: int) -> str | None:
        """A permanent, unlimited invite's code for a channel, or None when Discord refuses."""
        ...

    async def delete(self, code: str) -> bool:
        """Delete an invite; False when Discord refused (one already gone counts as deleted)."""
        ...

    def guild_name(self, guild_id: int) -> str | None:
        """The guild's name, or None while the bot does not see the guild."""
        ...


class FeedService:
    """Per-guild feed settings, invites, and the rendered feeds (cached per content version).

    build_services gives it the bus and the job engine: it then follows meeting changes once the
    glue installs an InviteMaker, and reconciles invites at start and periodically.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        meetings: MeetingStore,
        *,
        events: EventBus | None = None,
        jobs: JobEngine | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.meetings = meetings
        self.events = events
        self.invite_maker: InviteMaker | None = None
        # (guild, kind) -> the last rendering; Last-Modified is when its content first appeared.
        self._cache: dict[tuple[int, str], RenderedFeed] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        if jobs is not None:
            jobs.add_reconciler(self.reconcile)

    def install(self, maker: InviteMaker) -> None:
        """Plug the Discord glue in and start following meeting changes."""
        self.invite_maker = maker
        if self.events is not None:
            self.events.subscribe(MEETING_CHANGED, self.on_meeting_changed)

    def uninstall(self) -> None:
        """Unplug the Discord glue; stored invites are left as they are."""
        if self.events is not None:
            self.events.unsubscribe(MEETING_CHANGED, self.on_meeting_changed)
        self.invite_maker = None

    def _require_maker(self) -> InviteMaker:
        if self.invite_maker is None:
            raise RuntimeError("no invite maker is installed (cogs.feeds not loaded)")
        return self.invite_maker

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())

    # -- settings ----------------------------------------------------------------------------

    async def get(self, guild_id: int) -> FeedConfig | None:
        """The guild's feed settings, or None when its feeds are off."""
        row = await self.db.fetchone(
            "SELECT guild_id, include_closed, calendar_name, created_at, rotated_at FROM guild_feeds "
            "WHERE guild_id = ?",
            (guild_id,),
        )
        return None if row is None else _config(row)

    async def lookup(self, token: str) -> FeedConfig | None:
        """The feed a URL token opens, or None (unknown, rotated, or not token-shaped)."""
        if not is_token_shaped(token):
            return None
        row = await self.db.fetchone(
            "SELECT guild_id, include_closed, calendar_name, created_at, rotated_at FROM guild_feeds "
            "WHERE token_hash = ?",
            (hash_token(token),),
        )
        return None if row is None else _config(row)

    async def enable(
        self, guild_id: int, include_closed: bool = False, calendar_name: str = ""
    ) -> tuple[str | None, bool]:
        """Turn feeds on; return (new token or None if already on, whether anything changed)."""
        now = iso(self.clock.now())
        calendar_name = _clean(calendar_name).replace("\n", " ")[:100]
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT include_closed FROM guild_feeds WHERE guild_id = ?", (guild_id,)
            )
            if row is not None:
                if bool(row[0]) == include_closed:
                    return None, False
                await tx.execute(
                    "UPDATE guild_feeds SET include_closed = ? WHERE guild_id = ?",
                    (int(include_closed), guild_id),
                )
                return None, True
            token = new_token()
            await tx.execute(
                "INSERT INTO guild_feeds (guild_id, token_hash, include_closed, calendar_name, "
                "created_at, rotated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (guild_id, hash_token(token), int(include_closed), calendar_name, now, now),
            )
        return token, True

    async def rotate(self, guild_id: int) -> str:
        """Replace the token (old URLs stop working at once); return the new one."""
        token = new_token()
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE guild_feeds SET token_hash = ?, rotated_at = ? WHERE guild_id = ?",
                (hash_token(token), iso(self.clock.now()), guild_id),
            )
        if not changed:
            raise UserFacingError(
                "Feeds are off in this server, so there is nothing to rotate. "
                "Use `/setup feeds action:enable` first."
            )
        return token

    async def set_calendar_name(self, guild_id: int, name: str) -> bool:
        """Title the guild's calendar (its server's name); True when it changed."""
        name = _clean(name).replace("\n", " ")[:100]
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE guild_feeds SET calendar_name = ? WHERE guild_id = ? AND calendar_name != ?",
                (name, guild_id, name),
            )
        return bool(changed)

    async def disable(self, guild_id: int) -> tuple[bool, list[FeedInvite]]:
        """Turn feeds off and forget their invites; return (was on, invites to delete on Discord)."""
        async with self._lock(guild_id), self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT meeting_id, channel_id, code FROM feed_invites WHERE guild_id = ?",
                (guild_id,),
            )
            await tx.execute("DELETE FROM feed_invites WHERE guild_id = ?", (guild_id,))
            was_on = await tx.execute("DELETE FROM guild_feeds WHERE guild_id = ?", (guild_id,))
        self._cache.pop((guild_id, "ics"), None)
        self._cache.pop((guild_id, "json"), None)
        return bool(was_on), [FeedInvite(r[0], r[1], r[2]) for r in rows]

    # -- invites -----------------------------------------------------------------------------

    async def invites(self, guild_id: int) -> dict[int, FeedInvite]:
        """The stored invites of a guild's published meetings, by meeting id."""
        rows = await self.db.fetchall(
            "SELECT meeting_id, channel_id, code FROM feed_invites WHERE guild_id = ?",
            (guild_id,),
        )
        return {r[0]: FeedInvite(r[0], r[1], r[2]) for r in rows}

    async def set_invite(self, guild_id: int, invite: FeedInvite) -> FeedInvite | None:
        """Store a meeting's invite; return the one it replaces (to delete on Discord).

        Raises LookupError when the meeting or the guild's feeds no longer exist.
        """
        async with self.db.transaction() as tx:
            old = await tx.fetchone(
                "SELECT meeting_id, channel_id, code FROM feed_invites WHERE meeting_id = ?",
                (invite.meeting_id,),
            )
            exists = await tx.fetchone(
                "SELECT 1 FROM meetings WHERE id = ? AND guild_id = ?",
                (invite.meeting_id, guild_id),
            )
            feeds_on = await tx.fetchone(
                "SELECT 1 FROM guild_feeds WHERE guild_id = ?", (guild_id,)
            )
            if exists is None or feeds_on is None:
                raise LookupError("meeting or feeds gone")
            await tx.execute(
                "INSERT INTO feed_invites (meeting_id, guild_id, channel_id, code, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (meeting_id) DO UPDATE SET "
                "channel_id = excluded.channel_id, code = excluded.code, "
                "created_at = excluded.created_at",
                (
                    invite.meeting_id,
                    guild_id,
                    invite.channel_id,
                    invite.code,
                    iso(self.clock.now()),
                ),
            )
        if old is None or old[2] == invite.code:
            return None
        return FeedInvite(old[0], old[1], old[2])

    async def drop_invite(self, meeting_id: int) -> FeedInvite | None:
        """Forget a meeting's invite; return it (to delete on Discord)."""
        async with self.db.transaction() as tx:
            old = await tx.fetchone(
                "SELECT meeting_id, channel_id, code FROM feed_invites WHERE meeting_id = ?",
                (meeting_id,),
            )
            await tx.execute("DELETE FROM feed_invites WHERE meeting_id = ?", (meeting_id,))
        return None if old is None else FeedInvite(old[0], old[1], old[2])

    async def published(self, config: FeedConfig) -> list[Meeting]:
        """The meetings a guild's feeds publish: open ones, and closed ones only if included."""
        meetings = await self.meetings.list_guild(config.guild_id)
        return [m for m in meetings if m.access == Access.OPEN or config.include_closed]

    @staticmethod
    def wanted_invites(meetings: Iterable[Meeting]) -> dict[int, int]:
        """Meeting id -> room text channel id for published meetings that have a room."""
        return {m.id: m.room_text_channel_id for m in meetings if m.room_text_channel_id}

    async def sync_invites(self, guild_id: int, *, renew: bool = False) -> InviteSync:
        """Give each published meeting with a room one invite; drop the others (renew: all new)."""
        maker = self._require_maker()
        result = InviteSync()
        async with self._lock(guild_id):
            config = await self.get(guild_id)
            if config is None:
                return result
            wanted = self.wanted_invites(await self.published(config))
            have = await self.invites(guild_id)
            stale: list[FeedInvite] = []
            for meeting_id, invite in have.items():
                if wanted.get(meeting_id) != invite.channel_id:
                    dropped = await self.drop_invite(meeting_id)
                    if dropped is not None:
                        stale.append(dropped)
                        result.removed += 1
            for meeting_id, channel_id in wanted.items():
                current = have.get(meeting_id)
                if not renew and current is not None and current.channel_id == channel_id:
                    continue
                code = await maker.create(channel_id)
                if code is None:
                    result.failed += 1
                    continue
                try:
                    replaced = await self.set_invite(
                        guild_id, FeedInvite(meeting_id, channel_id, code)
                    )
                except LookupError:  # the meeting was deleted meanwhile
                    stale.append(FeedInvite(meeting_id, channel_id, code))
                    continue
                result.created += 1
                if replaced is not None:
                    stale.append(replaced)
            for invite in stale:
                if not await maker.delete(invite.code):
                    result.undeleted.append(invite.code)
        return result

    async def delete_invites(self, invites: list[FeedInvite]) -> list[str]:
        """Delete invites on Discord; return the codes that could not be deleted."""
        maker = self._require_maker()
        return [i.code for i in invites if not await maker.delete(i.code)]

    async def on_meeting_changed(
        self, *, meeting_id: int, guild_id: int, change: str, detail: str = ""
    ) -> None:
        """Keep invites in step when a meeting of a guild with feeds is created or edited."""
        # Deleted meetings keep their invite row (no cascade) until this sync deletes the invite.
        if change in ("created", "edited", "deleted") and await self.get(guild_id):
            await self.sync_invites(guild_id)

    async def reconcile(self) -> None:
        """At start and every few minutes: rooms created since give their meeting an invite."""
        maker = self.invite_maker
        if maker is None:
            return
        for guild_id in await self.enabled_guilds():
            name = maker.guild_name(guild_id)
            if name is None:
                continue
            try:
                await self.set_calendar_name(guild_id, name)
                await self.sync_invites(guild_id)
            except Exception:
                log.exception("feed invite sync failed")

    # -- rendering ---------------------------------------------------------------------------

    async def render(self, token: str, kind: FeedKind) -> RenderedFeed | None:
        """The feed a token opens, or None for an unknown or rotated token."""
        config = await self.lookup(token)
        if config is None:
            return None
        return await self.render_guild(config, kind)

    async def render_guild(self, config: FeedConfig, kind: FeedKind) -> RenderedFeed:
        """Render a guild's feed; unchanged content keeps its stamp, ETag and Last-Modified."""
        meetings = await self.published(config)
        invites = await self.invites(config.guild_id)
        now = self.clock.now()
        name = f"{config.calendar_name}: meetings" if config.calendar_name else "Meetings"
        key = (config.guild_id, kind)
        cached = self._cache.get(key)
        if kind == "ics":
            horizon = date(now.year + HORIZON_YEARS, 1, 1)
            probe = build_ics(meetings, invites, _EPOCH, horizon=horizon, name=name).encode("utf-8")
            digest = hashlib.sha256(probe).hexdigest()
            if cached is not None and cached.digest == digest:
                return cached
            stamp = now.replace(microsecond=0)
            body = build_ics(meetings, invites, stamp, horizon=horizon, name=name).encode("utf-8")
            content_type = "text/calendar; charset=utf-8"
        else:
            updated = await self._updated(config.guild_id)
            entries = build_meeting_guide(meetings, invites, updated, now)
            body = json.dumps(entries, ensure_ascii=False, indent=1).encode("utf-8")
            digest = hashlib.sha256(body).hexdigest()
            if cached is not None and cached.digest == digest:
                return cached
            stamp = now.replace(microsecond=0)
            content_type = "application/json"
        rendered = RenderedFeed(body, content_type, _etag(body), stamp, digest)
        self._cache[key] = rendered
        return rendered

    async def _updated(self, guild_id: int) -> dict[int, datetime]:
        rows = await self.db.fetchall(
            "SELECT id, updated_at FROM meetings WHERE guild_id = ?", (guild_id,)
        )
        return {r[0]: utc_from_iso(r[1]) for r in rows}

    async def enabled_guilds(self) -> list[int]:
        """Every guild whose feeds are on."""
        rows = await self.db.fetchall("SELECT guild_id FROM guild_feeds ORDER BY guild_id")
        return [r[0] for r in rows]


def _config(row: Any) -> FeedConfig:
    return FeedConfig(
        guild_id=row[0],
        include_closed=bool(row[1]),
        calendar_name=row[2],
        created_at=utc_from_iso(row[3]),
        rotated_at=utc_from_iso(row[4]),
    )
