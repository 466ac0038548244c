"""The public schedule page: a guild's published meetings of the next 7 days as one HTML page.

Served at ``/feeds/{token}/`` beside the feeds, from the same token and the same published set
(``FeedService.published``: open meetings, closed ones only when the guild included them). Pure
rendering from plain data, no Discord: every occurrence is an exact UTC instant from the
occurrence engine, written as ``<time datetime="…Z">`` in the zone the reader chose with ``?tz=``
(UTC until they do) and beside it the meeting's own local time; the inline script
(bot/services/schedule_assets.py) then rewrites the times into the device's zone. Filters are a
plain GET form; the server marks what does not match ``hidden`` so the page works without JS.
Never shown: descriptions, opening texts, facilitators, counts (docs/feeds.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from itertools import groupby
from urllib.parse import urlencode

from bot.errors import UserFacingError
from bot.models.feeds import FeedInvite
from bot.models.meetings import FORMATS, Access, Kind, Later, Meeting
from bot.occurrences import (
    Occurrence,
    Repeat,
    next_occurrences,
    nth_weekday_of,
    occurrences_between,
    zone,
)
from bot.parsing import parse_timezone
from bot.services.feeds import FeedService
from bot.services.ics import invite_url
from bot.services.schedule_assets import PAGE_HEADERS, SCRIPT, STYLE

__all__ = [
    "PAGE_DAYS",
    "PAGE_HEADERS",
    "Entry",
    "PageQuery",
    "ScheduleView",
    "SchedulePage",
    "build_schedule",
    "parse_query",
    "render_page",
    "schedule_page",
]

PAGE_DAYS = 7
LANGUAGES = ("en", "es")
# The zone picker offers these, the meetings' own zones and the reader's current one.
PICKER_ZONES = (
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Mexico_City",
    "America/Bogota",
    "America/Lima",
    "America/Santiago",
    "America/Argentina/Buenos_Aires",
    "America/Sao_Paulo",
    "America/Halifax",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Madrid",
    "Europe/Paris",
    "Europe/Berlin",
    "Africa/Johannesburg",
    "Asia/Kolkata",
    "Asia/Manila",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
)
KIND_LABELS = {Kind.NA: "NA-style", Kind.FAMILY: "Family and friends", Kind.OTHER: "Peer support"}
ACCESS_LABELS = {Access.OPEN: "Open: anyone is welcome", Access.CLOSED: "Closed"}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_NTH = {
    1: "Monthly, on the first {weekday}",
    2: "Monthly, on the second {weekday}",
    3: "Monthly, on the third {weekday}",
    4: "Monthly, on the fourth {weekday}",
    5: "Monthly, on the fifth {weekday}",
}


# --- words (English is the source; Spanish comes from the catalogue) -------------------------


def _t(lang: str, message: str) -> str:
    """``message`` in the page's language."""
    return message


def _tn(lang: str, singular: str, plural: str, n: int) -> str:
    """The plural form of a message for ``n`` in the page's language."""
    return singular if n == 1 else plural


# --- the request -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What the reader asked for; every value checked (unknown ones are dropped, never echoed)."""

    lang: str | None = None  # None: the guild's language
    tz: str | None = None  # None: not chosen (UTC without JS, the device's zone with it)
    day: date | None = None  # a local date in the reader's zone
    kind: Kind | None = None
    format: str | None = None  # a FORMATS key

    def link(self, **changes: str) -> str:
        """This page's query string with some values changed (for links)."""
        values = {
            "lang": self.lang or "",
            "tz": self.tz or "",
            "day": self.day.isoformat() if self.day else "",
            "kind": self.kind.value if self.kind else "",
            "format": self.format or "",
        }
        values.update(changes)
        return "?" + urlencode({k: v for k, v in values.items() if v})


def parse_query(query: Mapping[str, str]) -> PageQuery:
    """The reader's query string as checked values."""
    lang = query.get("lang", "").strip().lower()
    tz: str | None = None
    raw_tz = query.get("tz", "").strip()
    if raw_tz and len(raw_tz) <= 64:
        try:
            tz = parse_timezone(raw_tz)
        except UserFacingError:
            tz = None
    day: date | None = None
    try:
        day = date.fromisoformat(query.get("day", "").strip())
    except ValueError:
        day = None
    kind_text = query.get("kind", "").strip().lower()
    fmt = query.get("format", "").strip().lower()
    return PageQuery(
        lang=lang if lang in LANGUAGES else None,
        tz=tz,
        day=day,
        kind=Kind(kind_text) if kind_text in {k.value for k in Kind} else None,
        format=fmt if fmt in FORMATS else None,
    )


# --- the view model --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One occurrence in the window, with its meeting and its public invite link."""

    meeting: Meeting
    occurrence: Occurrence
    invite: str | None
    start: datetime  # in the page's zone
    end: datetime  # in the page's zone

    @property
    def day(self) -> date:
        """The reader's local date of the start."""
        return self.start.date()


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """Everything the page shows, computed once from plain data."""

    name: str
    lang: str
    query: PageQuery
    now: datetime
    end: datetime
    zone: str  # the zone the server writes times in
    entries: tuple[Entry, ...]  # every occurrence in the window, by start
    later: tuple[Later, ...]  # published meetings with none in the window
    invites: Mapping[int, str] = field(default_factory=dict)

    def local(self, instant: datetime) -> datetime:
        """An instant in the page's zone."""
        return instant.astimezone(zone(self.zone))

    def days(self) -> list[date]:
        """Every local date the window touches (in-progress meetings included), in order."""
        first = min([self.now, *(e.occurrence.start for e in self.entries[:1])])
        current = self.local(first).date()
        last = self.local(self.end - timedelta(microseconds=1)).date()
        out = []
        while current <= last:
            out.append(current)
            current += timedelta(days=1)
        return out

    def shows(self, meeting: Meeting, day: date | None = None) -> bool:
        """Whether the reader's filters keep a meeting (on a local date, for occurrences)."""
        q = self.query
        if q.kind is not None and meeting.kind is not q.kind:
            return False
        if q.format is not None and q.format not in meeting.formats:
            return False
        return q.day is None or day == q.day


def build_schedule(
    meetings: Iterable[Meeting],
    invites: Mapping[int, FeedInvite],
    now: datetime,
    query: PageQuery,
    *,
    name: str = "",
    lang: str = "en",
) -> ScheduleView:
    """The page's view of published meetings: occurrences in [now, now + 7 days) and the rest."""
    end = now + timedelta(days=PAGE_DAYS)
    page_zone = zone(query.tz or "UTC")
    entries: list[Entry] = []
    later: list[Later] = []
    for meeting in meetings:
        code = invites.get(meeting.id)
        link = invite_url(code.code) if code is not None else None
        window = [o for o in occurrences_between(meeting.schedule, now, end) if o.end > now]
        if window:
            entries.extend(
                Entry(
                    meeting,
                    occ,
                    link,
                    occ.start.astimezone(page_zone),
                    occ.end.astimezone(page_zone),
                )
                for occ in window
            )
            continue
        following = next_occurrences(meeting.schedule, now, 1)
        today = now.astimezone(zone(meeting.timezone)).date()
        paused = (
            meeting.paused_until if meeting.paused_until and meeting.paused_until > today else None
        )
        if following or paused:
            later.append(Later(meeting, following[0] if following else None, paused))
    entries.sort(key=lambda e: (e.occurrence.start, e.meeting.title.casefold(), e.meeting.id))
    later.sort(key=lambda x: (x.next.start if x.next else end, x.meeting.title.casefold()))
    return ScheduleView(
        name=name,
        lang=query.lang or lang,
        query=query,
        now=now,
        end=end,
        zone=query.tz or "UTC",
        entries=tuple(entries),
        later=tuple(later),
    )


# --- words for dates, rules and meetings ------------------------------------------------------


def day_heading(lang: str, d: date) -> str:
    """A local date as a heading, e.g. 'Wednesday 17 March' (as the script writes it too)."""
    return _t(lang, "{weekday} {day} {month}").format(
        weekday=_t(lang, _WEEKDAYS[d.weekday()]),
        day=d.day,
        month=_t(lang, _MONTHS[d.month - 1]),
    )


def repeat_phrase(lang: str, meeting: Meeting) -> str:
    """How a meeting repeats, in words."""
    weekday = _t(lang, _WEEKDAYS[meeting.first_date.weekday()])
    if meeting.repeat is Repeat.WEEKLY:
        return _t(lang, "Every {weekday}").format(weekday=weekday)
    if meeting.repeat is Repeat.BIWEEKLY:
        return _t(lang, "Every other {weekday}").format(weekday=weekday)
    if meeting.repeat is Repeat.MONTHLY:
        return _t(lang, _NTH[nth_weekday_of(meeting.first_date)]).format(weekday=weekday)
    if meeting.repeat is Repeat.MONTHLY_LAST:
        return _t(lang, "Monthly, on the last {weekday}").format(weekday=weekday)
    return _t(lang, "Once")


def _hm(dt: datetime) -> str:
    return f"{dt.hour:02d}:{dt.minute:02d}"


def _utc(dt: datetime) -> str:
    """An aware UTC instant as the datetime attribute of <time> (whole seconds)."""
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"
    )


def _labels(lang: str, meeting: Meeting) -> str:
    parts = [
        _t(lang, KIND_LABELS[meeting.kind]),
        _t(lang, ACCESS_LABELS[meeting.access]),
        *(_t(lang, FORMATS[f][0]) for f in meeting.formats if f in FORMATS),
    ]
    return " · ".join(escape(p) for p in parts)


def _meeting_html(view: ScheduleView, m: Meeting) -> tuple[str, str, str]:
    """The parts of an item that are the same for every occurrence of a meeting."""
    lang, minutes = view.lang, m.duration_minutes
    attrs = f'class="m" data-kind="{m.kind.value}" data-formats="{escape(" ".join(m.formats))}"'
    rule = (
        f" ({escape(m.timezone)}) · {escape(repeat_phrase(lang, m))} · "
        f"{escape(_tn(lang, '{count} minute', '{count} minutes', minutes).format(count=minutes))}"
        f'</p><p><span class="tag">{_labels(lang, m)}</span></p>'
    )
    return attrs, escape(m.title), rule


def _entry_html(view: ScheduleView, entry: Entry, parts: tuple[str, str, str]) -> str:
    lang, m, occ = view.lang, entry.meeting, entry.occurrence
    attrs, title, rule = parts
    ident = f"m{m.id}-{occ.key.isoformat()}"
    home = occ.local_start
    notes = []
    if occ.start <= view.now:
        notes.append(_t(lang, "In progress now."))
    if occ.moved:
        notes.append(_t(lang, "Moved from its usual time."))
    hidden = "" if view.shows(m, entry.day) else " hidden"
    join = (
        f'<a class="join" href="{escape(entry.invite)}" rel="noreferrer" '
        f'aria-describedby="{ident}">{escape(_t(lang, "Join on Discord"))}</a>'
        if entry.invite
        else escape(_t(lang, "Held on Discord; the link is not public yet."))
    )
    return (
        f'<li {attrs} data-day="{entry.day.isoformat()}"{hidden}><h3 id="{ident}">{title}</h3>'
        f'<p class="when"><time datetime="{_utc(occ.start)}">{_hm(entry.start)}</time>'
        f'–<time datetime="{_utc(occ.end)}">{_hm(entry.end)}</time> '
        f'<span class="zn">{escape(view.zone)}</span></p>'
        f'<p class="sub">{escape(_t(lang, "Its own time:"))} '
        f"{escape(_t(lang, _WEEKDAYS[home.weekday()]))} {_hm(home)}{rule}"
        + (f'<p class="tag">{escape(" ".join(notes))}</p>' if notes else "")
        + f"<p>{join}</p></li>"
    )


def _later_html(view: ScheduleView, item: Later) -> str:
    lang, m = view.lang, item.meeting
    hidden = "" if view.shows(m) else " hidden"
    if item.paused_until is not None:
        when = escape(
            _t(lang, "Paused until {date}.").format(date=day_heading(lang, item.paused_until))
        )
    else:
        when = ""
    if item.next is not None:
        start = view.local(item.next.start)
        when += (
            f' {escape(_t(lang, "Next:"))} <time class="full" datetime="{_utc(item.next.start)}">'
            f"{escape(day_heading(lang, start.date()))} {_hm(start)}</time> "
            f'<span class="zn">{escape(view.zone)}</span>'
        )
    return (
        f'<li class="l" data-kind="{m.kind.value}" data-formats="{escape(" ".join(m.formats))}"'
        f"{hidden}><h3>{escape(m.title)}</h3><p>{when.strip()}</p>"
        f'<p class="sub">{escape(repeat_phrase(lang, m))} · {_labels(lang, m)}</p></li>'
    )


def _select(lang: str, name: str, label: str, options: list[tuple[str, str]], chosen: str) -> str:
    opts = "".join(
        f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{escape(text)}</option>'
        for v, text in options
    )
    return (
        f'<div><label for="f-{name}">{escape(_t(lang, label))}</label>'
        f'<select id="f-{name}" name="{name}">{opts}</select></div>'
    )


def _form(view: ScheduleView) -> str:
    lang, q = view.lang, view.query
    days = [("", _t(lang, "Any day"))] + [
        (d.isoformat(), day_heading(lang, d)) for d in view.days()
    ]
    kinds = [("", _t(lang, "Any kind"))] + [(k.value, _t(lang, KIND_LABELS[k])) for k in Kind]
    formats = [("", _t(lang, "Any format"))] + [(k, _t(lang, v[0])) for k, v in FORMATS.items()]
    zones = sorted(
        {*PICKER_ZONES, view.zone, *(e.meeting.timezone for e in view.entries)},
        key=lambda z: (z != "UTC", z),
    )
    hidden_lang = f'<input type="hidden" name="lang" value="{q.lang}">' if q.lang else ""
    return (
        '<form id="filters" method="get">'
        + _select(lang, "day", "Day", days, q.day.isoformat() if q.day else "")
        + _select(lang, "kind", "Kind", kinds, q.kind.value if q.kind else "")
        + _select(lang, "format", "Format", formats, q.format or "")
        + _select(lang, "tz", "Time zone", [(z, z) for z in zones], view.zone)
        + hidden_lang
        + f'<button type="submit">{escape(_t(lang, "Show meetings"))}</button></form>'
    )


def render_page(view: ScheduleView) -> str:
    """The whole page as HTML (every user-typed value escaped)."""
    lang = view.lang
    visible = sum(1 for e in view.entries if view.shows(e.meeting, e.day))
    count_texts = {
        "data-none": _t(lang, "No meetings match these filters."),
        "data-one": _tn(lang, "{count} meeting", "{count} meetings", 1),
        "data-other": _tn(lang, "{count} meeting", "{count} meetings", 2),
    }
    count = (
        _tn(lang, "{count} meeting", "{count} meetings", visible).format(count=visible)
        if visible
        else count_texts["data-none"]
    )
    parts: dict[int, tuple[str, str, str]] = {}
    sections = []
    for day, group in groupby(view.entries, key=lambda e: e.day):
        items = list(group)
        shown = any(view.shows(e.meeting, day) for e in items)
        key = day.isoformat()
        sections.append(
            f'<section aria-labelledby="h-{key}"{"" if shown else " hidden"}>'
            f'<h2 id="h-{key}">{escape(day_heading(lang, day))}</h2><ul>'
            + "".join(
                _entry_html(
                    view,
                    e,
                    parts.get(e.meeting.id)
                    or parts.setdefault(e.meeting.id, _meeting_html(view, e.meeting)),
                )
                for e in items
            )
            + "</ul></section>"
        )
    later_shown = view.query.day is None and any(view.shows(x.meeting) for x in view.later)
    later = (
        f'<section id="later" aria-labelledby="h-later"{"" if later_shown else " hidden"}>'
        f'<h2 id="h-later">{escape(_t(lang, "Not meeting in the next 7 days"))}</h2><ul>'
        + "".join(_later_html(view, x) for x in view.later)
        + "</ul></section>"
        if view.later
        else ""
    )
    title = (
        _t(lang, "{name}: meetings").format(name=view.name) if view.name else _t(lang, "Meetings")
    )
    chosen = view.query.tz is not None
    zone_note = (
        _t(lang, "Times are shown in {zone}.").format(zone=view.zone)
        if chosen
        else _t(lang, "Times are shown in UTC. Choose your time zone below.")
    )
    other = "es" if lang == "en" else "en"
    switch = (
        f'<a href="{escape(view.query.link(lang=other))}" lang="{other}" hreflang="{other}">'
        f"{'En español' if other == 'es' else 'In English'}</a>"
    )
    counts = " ".join(f'{k}="{escape(v)}"' for k, v in count_texts.items())
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<a class="skip" href="#days">{escape(_t(lang, "Skip to the meetings"))}</a>'
        f"<header><h1>{escape(title)}</h1>"
        f"<p>{escape(_t(lang, 'Open online meetings in the next 7 days. Anyone is welcome at an open meeting.'))}</p>"
        f"<p>{switch}</p></header>"
        f'<main id="meetings" data-from="{int(min([view.now, *(e.occurrence.start for e in view.entries[:1])]).timestamp() * 1000)}" '
        f'data-to="{int(view.end.timestamp() * 1000)}"'
        + (f' data-tz="{escape(view.zone)}"' if chosen else "")
        + ">"
        f'<p id="zone-note" data-text="{escape(_t(lang, "Times are shown in {zone}."))}">'
        f"{escape(zone_note)}</p>"
        + _form(view)
        + f'<p id="count" role="status" {counts}>{escape(count)}</p>'
        f'<div id="days" tabindex="-1">{"".join(sections)}</div>'
        + later
        + "</main><footer><p>"
        + escape(_t(lang, "Add these meetings to your calendar:"))
        + f' <a href="meetings.ics">{escape(_t(lang, "calendar feed"))}</a> · '
        f'<a href="meetings.json">{escape(_t(lang, "Meeting Guide feed"))}</a></p></footer>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


# --- serving ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchedulePage:
    """A rendered page with its entity tag."""

    body: bytes
    etag: str


async def schedule_page(
    feeds: FeedService, token: str, query: Mapping[str, str], *, lang: str = "en"
) -> SchedulePage | None:
    """The page a feeds token opens, or None (unknown, rotated or disabled: the feeds' 404)."""
    config = await feeds.lookup(token)
    if config is None:
        return None
    meetings = await feeds.published(config)
    invites = await feeds.invites(config.guild_id)
    view = build_schedule(
        meetings,
        invites,
        feeds.clock.now(),
        parse_query(query),
        name=config.calendar_name,
        lang=lang,
    )
    body = render_page(view).encode("utf-8")
    return SchedulePage(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
