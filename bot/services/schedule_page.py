"""The public schedule page: a guild's published meetings of the next 7 days as one HTML page.

Served at ``/feeds/{token}/`` beside the feeds, from the same token. It shows only the open
meetings anyone may join: of what the feeds publish (``FeedService.published``), never a closed
meeting, even when the guild included closed ones in its feeds, and never a family meeting
(``on_page``): a newcomer or a relative sent a link should not land in a family group. Pure
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

from bot.db.repositories.guilds import settings as guild_settings
from bot.errors import UserFacingError
from bot.i18n import N_, _, ngettext, use_locale
from bot.i18n_format import day_and_month, duration, weekday, zone_label
from bot.i18n_format import repeat_phrase as rule_words
from bot.models.feeds import FeedInvite
from bot.models.meetings import FORMATS, Access, Kind, Later, Meeting
from bot.occurrences import (
    Occurrence,
    next_occurrences,
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
    "on_page",
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
# The kinds the page shows (and offers as a filter): never family meetings (``on_page``).
KIND_LABELS = {
    Kind.NA: N_("NA-style"),
    Kind.OTHER: N_("Peer support"),
}
ACCESS_LABELS = {Access.OPEN: N_("Open: anyone is welcome"), Access.CLOSED: N_("Closed")}
# The page's words for the formats (the keys of bot.models.meetings.FORMATS, same English),
# marked here so the page's catalogue holds their Spanish (the code4recovery spec's labels).
FORMAT_WORDS = {
    "speaker": N_("Speaker"),
    "discussion": N_("Discussion"),
    "step-study": N_("Step study"),
    "literature-study": N_("Literature study"),
    "newcomer": N_("Newcomer"),
    "candlelight": N_("Candlelight"),
    "meditation": N_("Meditation"),
    "qa": N_("Q&A"),
    "other": N_("Other"),
}
LANGUAGE_NAMES = {"en": "English", "es": "Español"}  # each in its own language


# --- the request -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What the reader asked for; every value checked (unknown ones are dropped, never echoed)."""

    lang: str | None = None  # None: the guild's language
    tz: str | None = None  # None: not chosen (UTC without JS, the device's zone with it)
    day: date | None = None  # a local date in the reader's zone
    kind: Kind | None = None
    format: str | None = None  # a FORMATS key
    language: str | None = None  # the meetings' language ("en" or "es")

    def link(self, **changes: str) -> str:
        """This page's query string with some values changed (for links)."""
        values = {
            "lang": self.lang or "",
            "tz": self.tz or "",
            "day": self.day.isoformat() if self.day else "",
            "kind": self.kind.value if self.kind else "",
            "format": self.format or "",
            "language": self.language or "",
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
    language = query.get("language", "").strip().lower()
    return PageQuery(
        lang=lang if lang in LANGUAGES else None,
        tz=tz,
        day=day,
        kind=Kind(kind_text) if kind_text in {k.value for k in KIND_LABELS} else None,
        format=fmt if fmt in FORMATS else None,
        language=language if language in LANGUAGES else None,
    )


# --- the view model --------------------------------------------------------------------------


def on_page(meeting: Meeting) -> bool:
    """Whether a published meeting may be on the page: open, and not a family meeting.

    Stricter than the feeds on purpose: ``include_closed`` opens the feeds to calendars and
    finders a guild chose, while the page is for anyone with its link.
    """
    return meeting.access == Access.OPEN and meeting.kind in KIND_LABELS


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
        if q.language is not None and meeting.language != q.language:
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
    """The page's view of published meetings (``on_page`` ones): the next 7 days and the rest."""
    end = now + timedelta(days=PAGE_DAYS)
    page_zone = zone(query.tz or "UTC")
    entries: list[Entry] = []
    later: list[Later] = []
    for meeting in filter(on_page, meetings):
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


def _hm(dt: datetime) -> str:
    return f"{dt.hour:02d}:{dt.minute:02d}"


def _utc(dt: datetime) -> str:
    """An aware UTC instant as the datetime attribute of <time> (whole seconds)."""
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"
    )


def _labels(meeting: Meeting) -> str:
    parts = [
        _(KIND_LABELS[meeting.kind]),
        _(ACCESS_LABELS[meeting.access]),
        *(_(FORMAT_WORDS[f]) for f in meeting.formats if f in FORMAT_WORDS),
    ]
    return " · ".join(escape(p) for p in parts)


def _meeting_html(view: ScheduleView, m: Meeting) -> tuple[str, str, str]:
    """The parts of an item that are the same for every occurrence of a meeting."""
    minutes = m.duration_minutes
    attrs = (
        f'class="m" data-kind="{m.kind.value}" data-formats="{escape(" ".join(m.formats))}" '
        f'data-lang="{escape(m.language)}"'
    )
    rule = (
        f" ({escape(zone_label(m.timezone))}) · {escape(rule_words(m.repeat, m.first_date))} · "
        f"{escape(duration(minutes))}"
        f'</p><p><span class="tag">{_labels(m)}</span></p>'
    )
    return attrs, escape(m.title), rule


def _entry_html(view: ScheduleView, entry: Entry, parts: tuple[str, str, str]) -> str:
    m, occ = entry.meeting, entry.occurrence
    attrs, title, rule = parts
    ident = f"m{m.id}-{occ.key.isoformat()}"
    home = occ.local_start
    notes = []
    if occ.start <= view.now:
        notes.append(_("In progress now."))
    if occ.moved:
        notes.append(_("Moved from its usual time."))
    hidden = "" if view.shows(m, entry.day) else " hidden"
    join_text, own_time = _("Join on Discord"), _("Its own time:")
    join = (
        f'<a class="join" href="{escape(entry.invite)}" rel="noreferrer" '
        f'aria-describedby="{ident}">{escape(join_text)}</a>'
        if entry.invite
        else escape(_("Held on Discord; the link is not public yet."))
    )
    return (
        f'<li {attrs} data-day="{entry.day.isoformat()}"{hidden}><h3 id="{ident}">{title}</h3>'
        f'<p class="when"><time datetime="{_utc(occ.start)}">{_hm(entry.start)}</time>'
        f'–<time datetime="{_utc(occ.end)}">{_hm(entry.end)}</time> '
        f'<span class="zn">{escape(zone_label(view.zone))}</span></p>'
        f'<p class="sub">{escape(own_time)} '
        f"{escape(weekday(home.isoweekday()))} {_hm(home)}{rule}"
        + (f'<p class="tag">{escape(" ".join(notes))}</p>' if notes else "")
        + f"<p>{join}</p></li>"
    )


def _later_html(view: ScheduleView, item: Later) -> str:
    m = item.meeting
    hidden = "" if view.shows(m) else " hidden"
    if item.paused_until is not None:
        when = escape(_("Paused until {date}.").format(date=day_and_month(item.paused_until)))
    else:
        when = ""
    if item.next is not None:
        start = view.local(item.next.start)
        next_word = _("Next:")
        when += (
            f' {escape(next_word)} <time class="full" datetime="{_utc(item.next.start)}">'
            f"{escape(day_and_month(start.date()))} {_hm(start)}</time> "
            f'<span class="zn">{escape(zone_label(view.zone))}</span>'
        )
    return (
        f'<li class="l" data-kind="{m.kind.value}" data-formats="{escape(" ".join(m.formats))}"'
        f' data-lang="{escape(m.language)}"'
        f"{hidden}><h3>{escape(m.title)}</h3><p>{when.strip()}</p>"
        f'<p class="sub">{escape(rule_words(m.repeat, m.first_date))} · {_labels(m)}</p></li>'
    )


def _select(name: str, label: str, options: list[tuple[str, str]], chosen: str) -> str:
    opts = "".join(
        f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{escape(text)}</option>'
        for v, text in options
    )
    return (
        f'<div><label for="f-{name}">{escape(label)}</label>'
        f'<select id="f-{name}" name="{name}">{opts}</select></div>'
    )


def _form(view: ScheduleView) -> str:
    q = view.query
    days = [("", _("Any day"))] + [(d.isoformat(), day_and_month(d)) for d in view.days()]
    kinds = [("", _("Any kind"))] + [(k.value, _(label)) for k, label in KIND_LABELS.items()]
    formats = [("", _("Any format"))] + [(k, _(v)) for k, v in FORMAT_WORDS.items()]
    # Named by their city in the page's language ("Ciudad de México"); the value is the IANA id.
    zones = sorted(
        (
            (z, zone_label(z))
            for z in {*PICKER_ZONES, view.zone, *(e.meeting.timezone for e in view.entries)}
        ),
        key=lambda pair: (pair[0] != "UTC", pair[1], pair[0]),
    )
    show = _("Show meetings")
    languages = [("", _("Any language"))] + list(LANGUAGE_NAMES.items())
    hidden_lang = f'<input type="hidden" name="lang" value="{q.lang}">' if q.lang else ""
    return (
        '<form id="filters" method="get">'
        + _select("day", _("Day"), days, q.day.isoformat() if q.day else "")
        + _select("kind", _("Kind"), kinds, q.kind.value if q.kind else "")
        + _select("format", _("Format"), formats, q.format or "")
        + _select("language", _("Language"), languages, q.language or "")
        + _select("tz", _("Time zone"), zones, view.zone)
        + hidden_lang
        + f'<button type="submit">{escape(show)}</button></form>'
    )


def render_page(view: ScheduleView) -> str:
    """The whole page as HTML in the view's language (every user-typed value escaped)."""
    with use_locale(view.lang):
        return _page_html(view)


def _page_html(view: ScheduleView) -> str:
    lang = view.lang
    visible = sum(1 for e in view.entries if view.shows(e.meeting, e.day))
    count_texts = {
        "data-none": _("No meetings match these filters."),
        "data-one": ngettext("{count} meeting", "{count} meetings", 1),
        "data-other": ngettext("{count} meeting", "{count} meetings", 2),
    }
    count = (
        ngettext("{count} meeting", "{count} meetings", visible).format(count=visible)
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
            f'<h2 id="h-{key}">{escape(day_and_month(day))}</h2><ul>'
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
    words = {
        "later": _("Not meeting in the next 7 days"),
        "skip": _("Skip to the meetings"),
        "intro": _(
            "Open online meetings in the next 7 days. Anyone is welcome at an open meeting."
        ),
        "note": _("Times are shown in {zone}."),
        "ics": _("calendar feed"),
        "json": _("Meeting Guide feed"),
    }
    later_shown = view.query.day is None and any(view.shows(x.meeting) for x in view.later)
    later = (
        f'<section id="later" aria-labelledby="h-later"{"" if later_shown else " hidden"}>'
        f'<h2 id="h-later">{escape(words["later"])}</h2><ul>'
        + "".join(_later_html(view, x) for x in view.later)
        + "</ul></section>"
        if view.later
        else ""
    )
    title = _("{name}: meetings").format(name=view.name) if view.name else _("Meetings")
    chosen = view.query.tz is not None
    zone_note = (
        _("Times are shown in {zone}.").format(zone=zone_label(view.zone))
        if chosen
        else _("Times are shown in UTC. Choose your time zone below.")
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
        f'<a class="skip" href="#days">{escape(words["skip"])}</a>'
        f"<header><h1>{escape(title)}</h1>"
        f"<p>{escape(words['intro'])}</p>"
        f"<p>{switch}</p></header>"
        f'<main id="meetings" data-from="{int(min([view.now, *(e.occurrence.start for e in view.entries[:1])]).timestamp() * 1000)}" '
        f'data-to="{int(view.end.timestamp() * 1000)}"'
        + (f' data-tz="{escape(view.zone)}"' if chosen else "")
        + ">"
        f'<p id="zone-note" data-text="{escape(words["note"])}">'
        f"{escape(zone_note)}</p>"
        + _form(view)
        + f'<p id="count" role="status" {counts}>{escape(count)}</p>'
        f'<div id="days" tabindex="-1">{"".join(sections)}</div>'
        + later
        + "</main><footer><p>"
        + escape(_("Add these meetings to your calendar:"))
        + f' <a href="meetings.ics">{escape(words["ics"])}</a> · '
        f'<a href="meetings.json">{escape(words["json"])}</a></p></footer>'
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
    """The page a feeds token opens, or None (unknown, rotated or disabled: the feeds' 404).

    In the guild's language unless the reader asks for another (``?lang=``).
    """
    config = await feeds.lookup(token)
    if config is None:
        return None
    settings = await guild_settings(feeds.db, config.guild_id)
    if settings is not None:
        lang = settings.language
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
