"""The public schedule page without a browser: the window equals the occurrence engine, times in
the reader's zone across DST changes, server-side filters, escaping, headers, the feeds' token."""

from __future__ import annotations

import gzip
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import FakeClock
from bot.db import Database
from bot.models.feeds import FeedInvite
from bot.models.meetings import Access, Kind, Meeting
from bot.occurrences import OccurrenceException, Repeat, occurrences_between
from bot.runtime.feeds_http import create_app
from bot.services.feeds import FeedService
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import MeetingStore
from bot.services.privacy import PrivacyService
from bot.services.schedule_assets import CSP, SCRIPT, STYLE, csp_hash
from bot.services.schedule_page import (
    PageQuery,
    build_schedule,
    parse_query,
    render_page,
    schedule_page,
)

GUILD = 77


def meeting(mid: int, title: str, tz: str, first: date, at: time, **fields: object) -> Meeting:
    values: dict[str, object] = {
        "id": mid,
        "guild_id": GUILD,
        "title": title,
        "kind": Kind.NA,
        "access": Access.OPEN,
        "formats": ("discussion",),
        "timezone": tz,
        "first_date": first,
        "start_time": at,
        "duration_minutes": 60,
        "repeat": Repeat.WEEKLY,
    }
    values.update(fields)
    return Meeting(**values)  # type: ignore[arg-type]


class _Items(HTMLParser):
    """Each meeting item on the page: its title, text, and whether it is hidden."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, object]] = []
        self.headings: list[str] = []
        self._depth = 0
        self._h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "li" and a.get("class") in ("m", "l"):
            self.items.append({"attrs": a, "text": "", "hidden": "hidden" in a})
            self._depth = 1
        elif tag == "li" and self._depth:
            self._depth += 1
        if tag == "h2":
            self._h2 = True
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._depth:
            self._depth -= 1
        if tag == "h2":
            self._h2 = False

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.items[-1]["text"] = str(self.items[-1]["text"]) + data
        if self._h2:
            self.headings[-1] += data


def items(html: str) -> _Items:
    parser = _Items()
    parser.feed(html)
    return parser


def visible_texts(html: str) -> list[str]:
    return [str(i["text"]) for i in items(html).items if not i["hidden"]]


def page(meetings: list[Meeting], now: datetime, **query: str) -> str:
    return render_page(build_schedule(meetings, {}, now, parse_query(query)))


# --- the window ------------------------------------------------------------------------------


def test_window_is_the_engines_occurrences_with_cancelled_dropped_and_moved_marked() -> None:
    now = datetime(2027, 3, 9, 15, tzinfo=UTC)
    weekly = meeting(
        1,
        "Weekly",
        "America/New_York",
        date(2027, 1, 5),
        time(19),
        exceptions={date(2027, 3, 9): OccurrenceException(cancelled=True)},
    )
    biweekly = meeting(
        2, "Biweekly", "Europe/London", date(2027, 3, 6), time(10), repeat=Repeat.BIWEEKLY
    )
    second = meeting(
        3, "Second Thursday", "Asia/Tokyo", date(2027, 1, 14), time(7), repeat=Repeat.MONTHLY
    )
    last = meeting(
        4,
        "Last Friday",
        "Australia/Sydney",
        date(2027, 1, 29),
        time(20),
        repeat=Repeat.MONTHLY_LAST,
    )
    moved = meeting(
        5,
        "Moved",
        "Europe/Madrid",
        date(2027, 1, 4),
        time(18),
        exceptions={
            date(2027, 3, 15): OccurrenceException(False, datetime(2027, 3, 14, 9, 30)),
        },
    )
    started = meeting(6, "Started", "UTC", date(2027, 3, 2), time(14, 30), duration_minutes=90)
    meetings = [weekly, biweekly, second, last, moved, started]
    view = build_schedule(meetings, {}, now, PageQuery())
    expected = sorted(
        (o.start, m.id)
        for m in meetings
        for o in occurrences_between(m.schedule, now, now + timedelta(days=7))
        if o.end > now
    )
    assert [(e.occurrence.start, e.meeting.id) for e in view.entries] == expected
    keys = {(e.meeting.id, e.occurrence.key) for e in view.entries}
    assert (1, date(2027, 3, 9)) not in keys  # cancelled
    assert (1, date(2027, 3, 16)) not in keys  # 23:00 UTC on 16 March: past the window
    assert (2, date(2027, 3, 6)) not in keys and (2, date(2027, 3, 20)) not in keys
    assert (3, date(2027, 3, 11)) in keys and (4, date(2027, 3, 26)) not in keys
    html = render_page(view)
    texts = visible_texts(html)
    moved_text = next(t for t in texts if t.startswith("Moved"))
    assert "Moved from its usual time." in moved_text and "Sunday 09:30" in moved_text
    assert "In progress now." in next(t for t in texts if t.startswith("Started"))
    assert "Every Tuesday" in texts[0] or any("Every Tuesday" in t for t in texts)
    assert any("The second Thursday of every month" in t for t in texts)


def test_paused_and_far_meetings_are_listed_with_their_next_date() -> None:
    now = datetime(2027, 3, 9, 15, tzinfo=UTC)
    paused = meeting(
        1, "Paused", "Europe/London", date(2027, 1, 6), time(18), paused_until=date(2027, 4, 1)
    )
    monthly = meeting(
        2, "Monthly", "Europe/London", date(2027, 1, 26), time(18), repeat=Repeat.MONTHLY
    )
    parsed = items(page([paused, monthly], now))
    texts = [str(i["text"]) for i in parsed.items]
    assert texts[0].startswith("Monthly") and "Next: Tuesday, March 23 18:00" in texts[0]
    assert (
        "Paused until Thursday, April 1." in texts[1]
        and "Next: Wednesday, April 7 17:00 UTC" in texts[1]
    )
    assert "Not meeting in the next 7 days" in parsed.headings


# --- the reader's zone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "shown", "heading"),
    [
        # New York is on daylight time from 14 March 2027, Madrid only from 28 March.
        (datetime(2027, 3, 9, 12, tzinfo=UTC), "01:00", "Wednesday, March 10"),
        (datetime(2027, 3, 16, 12, tzinfo=UTC), "00:00", "Wednesday, March 17"),
        (datetime(2027, 3, 23, 12, tzinfo=UTC), "00:00", "Wednesday, March 24"),
        (datetime(2027, 3, 30, 12, tzinfo=UTC), "01:00", "Wednesday, March 31"),
    ],
)
def test_a_new_york_meeting_in_madrid_across_the_dst_weeks(
    now: datetime, shown: str, heading: str
) -> None:
    ny = meeting(1, "Evening", "America/New_York", date(2027, 1, 5), time(19))
    html = page([ny], now, tz="Europe/Madrid")
    parsed = items(html)
    assert parsed.headings[0] == heading
    text = str(parsed.items[0]["text"])
    assert text.startswith(f"Evening{shown}–") and "Madrid" in text  # zones by their city
    assert "Its own time: Tuesday 19:00 (New York)" in text


def test_a_los_angeles_tuesday_is_a_wednesday_in_tokyo_and_utc_without_a_zone() -> None:
    now = datetime(2026, 12, 1, 0, tzinfo=UTC)
    la = meeting(1, "LA", "America/Los_Angeles", date(2026, 12, 1), time(19))
    tokyo = items(page([la], now, tz="asia/tokyo"))  # zones are matched case-insensitively
    assert tokyo.headings[0] == "Wednesday, December 2"
    assert str(tokyo.items[0]["text"]).startswith("LA12:00–13:00 Tokyo")
    plain = page([la], now)
    assert items(plain).headings[0] == "Wednesday, December 2"  # 03:00 UTC
    assert "Times are shown in UTC. Choose your time zone below." in plain
    assert 'data-tz="' not in plain  # the script uses the device's zone


# --- filters and input -----------------------------------------------------------------------


def test_filters_hide_on_the_server_and_count() -> None:
    now = datetime(2027, 3, 9, 12, tzinfo=UTC)
    ms = [
        meeting(1, "NA speaker", "UTC", date(2027, 3, 9), time(18), formats=("speaker",)),
        meeting(2, "NA talk", "UTC", date(2027, 3, 10), time(18)),
        meeting(3, "Other", "UTC", date(2027, 3, 11), time(18), kind=Kind.OTHER),
    ]

    def shown(**q: str) -> list[str]:
        return [t.split("\n")[0][:6] for t in visible_texts(page(ms, now, **q))]

    assert len(shown()) == 3
    assert shown(kind="other") == ["Other1"]
    assert shown(format="speaker") == ["NA spe"]
    assert shown(day="2027-03-11") == ["Other1"]
    assert shown(day="2027-03-11", kind="na") == []
    html = page(ms, now, day="2027-03-11", kind="na")
    assert 'role="status"' in html and ">No meetings match these filters.<" in html
    assert ">2 meetings<" in page(ms, now, format="discussion")
    assert 'value="na" selected' in html and 'value="2027-03-11" selected' in html
    assert 'value="family"' not in html  # family meetings are never on the page


def test_unknown_query_values_are_ignored_and_never_echoed() -> None:
    q = parse_query(
        {"tz": "Mars/Olympus<script>", "day": "tomorrow", "kind": "x", "format": "y", "lang": "fr"}
    )
    assert q == PageQuery()
    now = datetime(2027, 3, 9, 12, tzinfo=UTC)
    html = page([], now, tz="Mars/Olympus<script>", kind="<b>")
    assert "Olympus" not in html and "<b>" not in html
    assert parse_query({"tz": "Europe/Madrid", "day": "2027-03-10", "format": "speaker"}) == (
        PageQuery(tz="Europe/Madrid", day=date(2027, 3, 10), format="speaker")
    )


def test_titles_are_text_never_markup() -> None:
    now = datetime(2027, 3, 9, 12, tzinfo=UTC)
    evil = meeting(1, '<img src=x onerror=alert(1)> "&', "UTC", date(2027, 3, 9), time(18))
    html = page([evil], now)
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &quot;&amp;" in html


def test_invite_links_leak_no_referrer() -> None:
    now = datetime(2027, 3, 9, 12, tzinfo=UTC)
    m = meeting(1, "Room", "UTC", date(2027, 3, 9), time(18))
    view = build_schedule([m], {1: FeedInvite(1, 55, "abcDEF")}, now, PageQuery())
    html = render_page(view)
    assert re.search(r'<a class="join" href="https://discord.gg/abcDEF" rel="noreferrer"', html)
    assert "Join on Discord" in html


def test_csp_allows_exactly_the_inline_script_and_style() -> None:
    now = datetime(2027, 3, 9, 12, tzinfo=UTC)
    html = page([meeting(1, "A", "UTC", date(2027, 3, 9), time(18))], now)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert scripts == [SCRIPT] and styles == [STYLE]
    assert f"script-src {csp_hash(scripts[0])};" in CSP
    assert f"style-src {csp_hash(styles[0])};" in CSP
    assert CSP.startswith("default-src 'none';") and "unsafe-inline" not in CSP
    outside = re.sub(r"<(script|style)>.*?</\1>", "", html, flags=re.S)
    assert not re.search(r"\s(style|on\w+)=", outside)  # no inline style or handler attributes
    assert '<meta name="robots" content="noindex">' in html


# --- served from the feeds' token, through the feeds' HTTP app ------------------------------


@pytest.fixture
async def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = await Database.open(tmp_path / "page.db")
    await db.migrate()
    clock = FakeClock(datetime(2027, 3, 9, 12, tzinfo=UTC))
    store = MeetingStore(db, clock, PrivacyService(db))
    feeds = FeedService(db, clock, store)
    client = TestClient(TestServer(create_app(feeds, clock, per_minute=6, burst=8)))
    await client.start_server()
    try:
        yield db, store, feeds, clock, client
    finally:
        await client.close()
        await db.close()


async def add(db: Database, store: MeetingStore, title: str, kind: Kind, access: Access) -> int:
    async with db.transaction() as tx:
        return await store.create(
            tx,
            guild_id=GUILD,
            title=title,
            kind=kind,
            access=access,
            formats=("speaker",),
            timezone="Europe/London",
            first_date=date(2027, 3, 10),
            start_time=time(19),
            duration_minutes=60,
            repeat=Repeat.WEEKLY,
            description="A description that must never be published",
        )


async def test_page_shows_open_meetings_the_feeds_publish_and_never_closed_ones(site) -> None:  # type: ignore[no-untyped-def]
    db, store, feeds, _clock, _client = site
    await add(db, store, "Open NA", Kind.NA, Access.OPEN)
    await add(db, store, "Open other", Kind.OTHER, Access.OPEN)
    await add(db, store, "Closed family", Kind.FAMILY, Access.CLOSED)
    await add(db, store, "Closed NA", Kind.NA, Access.CLOSED)
    token, _ = await feeds.enable(GUILD, calendar_name="Haven Test")
    assert token is not None
    rendered = await schedule_page(feeds, token, {})
    assert rendered is not None
    html = rendered.body.decode()
    assert len(items(html).items) == 2
    assert "Closed family" not in html and "Closed NA" not in html
    assert "Open other" in html and "Open NA" in html
    assert "never be published" not in html
    assert "<title>Haven Test: meetings</title>" in html
    assert await schedule_page(feeds, "A" * 43, {}) is None


async def test_page_never_shows_closed_or_family_meetings_even_when_the_feeds_do(site) -> None:  # type: ignore[no-untyped-def]
    """The page is for the open meetings anyone may join: include_closed is the feeds' choice."""
    db, store, feeds, _clock, _client = site
    await add(db, store, "Open NA", Kind.NA, Access.OPEN)
    await add(db, store, "Open other", Kind.OTHER, Access.OPEN)
    await add(db, store, "Open family", Kind.FAMILY, Access.OPEN)
    await add(db, store, "Closed NA", Kind.NA, Access.CLOSED)
    token, _ = await feeds.enable(GUILD, include_closed=True)
    assert token is not None
    config = await feeds.get(GUILD)
    assert config is not None
    published = {m.title for m in await feeds.published(config)}
    assert published == {"Open NA", "Open other", "Open family", "Closed NA"}  # the feeds' rule
    for query in ({}, {"kind": "family"}, {"kind": "na"}, {"lang": "es"}):
        rendered = await schedule_page(feeds, token, query)
        assert rendered is not None
        html = rendered.body.decode()
        assert "Open family" not in html and "Closed NA" not in html, query
        assert "Open NA" in html, query
    assert parse_query({"kind": "family"}).kind is None  # no family filter to ask for
    rendered = await schedule_page(feeds, token, {})
    assert rendered is not None
    html = rendered.body.decode()
    assert 'value="family"' not in html and 'value="na"' in html and 'value="other"' in html
    assert "Family and friends" not in html


async def test_route_headers_token_and_rate_limit(site) -> None:  # type: ignore[no-untyped-def]
    db, store, feeds, clock, client = site
    await add(db, store, "Open NA", Kind.NA, Access.OPEN)
    token, _ = await feeds.enable(GUILD)
    resp = await client.get(f"/feeds/{token}/")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Robots-Tag"] == "noindex"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in resp.headers
    assert resp.headers["Cache-Control"] == "no-cache"  # a cancelled meeting shows at once
    assert "Open NA" in await resp.text()
    etag = resp.headers["ETag"]
    again = await client.get(f"/feeds/{token}/", headers={"If-None-Match": etag})
    assert again.status == 304
    assert (await client.head(f"/feeds/{token}/")).status == 200
    # Unknown, rotated and disabled tokens: the feeds' own uniform 404.
    feed_404 = await client.get(f"/feeds/{'B' * 43}/meetings.ics")
    old = token
    new = await feeds.rotate(GUILD)
    for url in (f"/feeds/{'B' * 43}/", f"/feeds/{old}/", "/feeds/short/"):
        r = await client.get(url)
        assert (r.status, await r.text()) == (feed_404.status, await feed_404.text())
        assert r.headers["Cache-Control"] == feed_404.headers["Cache-Control"]
    await feeds.disable(GUILD)
    assert (await client.get(f"/feeds/{new}/")).status == 404
    # The page spends from the feeds' bucket: 8 requests so far, the 9th is refused.
    limited = await client.get(f"/feeds/{new}/")
    assert limited.status == 429
    clock.advance(timedelta(seconds=10))
    assert (await client.get(f"/feeds/{new}/")).status == 404


def test_the_page_stays_small() -> None:
    now = datetime(2027, 3, 9, 12, tzinfo=UTC)
    zones = ("America/New_York", "Europe/London", "Asia/Tokyo", "America/Mexico_City", "UTC")
    ms = [
        replace(
            meeting(i, f"Meeting number {i}", zones[i % 5], date(2027, 3, 9), time(7 + i % 12)),
            first_date=date(2027, 3, 9) + timedelta(days=i % 7),
            formats=("speaker", "discussion"),
        )
        for i in range(50)
    ]
    size = len(page(ms, now).encode())
    assert size <= 40_000, size
    assert len(gzip.compress(page(ms, now).encode())) <= 8_000
    assert len(gzip.compress(SCRIPT.encode())) <= 1_500


# --- Spanish ---------------------------------------------------------------------------------


def test_spanish_with_lang_es_and_a_language_filter() -> None:
    now = datetime(2027, 3, 16, 12, tzinfo=UTC)
    ms = [
        meeting(1, "Esperanza", "America/Mexico_City", date(2027, 3, 16), time(19)),
        replace(
            meeting(2, "Hope", "America/New_York", date(2027, 3, 17), time(19)),
            formats=("speaker",),
            language="en",
        ),
    ]
    ms[0] = replace(ms[0], language="es", formats=("step-study", "newcomer"))
    html = page(ms, now, lang="es", tz="Europe/Madrid")
    parsed = items(html)
    assert html.startswith('<!DOCTYPE html>\n<html lang="es">')
    assert parsed.headings[:2] == ["miércoles 17 de marzo", "jueves 18 de marzo"]
    first = str(parsed.items[0]["text"])
    assert first.startswith("Esperanza02:00–03:00 Madrid")
    assert "Su propio horario: martes 19:00 (Ciudad de México)" in first
    assert "Estudio de los Pasos · Para recién llegados" in first
    assert "Abierta: cualquier persona es bienvenida" in first and "Cada martes · 1 hora" in first
    assert ">2 reuniones<" in html and 'data-one="{count} reunión"' in html
    assert "Los horarios se muestran en Madrid." in html
    # The picker names each zone by its city in the page's language; its value is the IANA id.
    assert '<option value="America/Mexico_City">Ciudad de México</option>' in html
    assert '<input type="hidden" name="lang" value="es">' in html
    assert 'hreflang="en"' in html and "In English" in html
    only_spanish = page(ms, now, lang="es", language="es")
    assert [t[:9] for t in visible_texts(only_spanish)] == ["Esperanza"]
    assert ">1 reunión<" in only_spanish


async def test_the_guilds_language_unless_the_reader_asks(site) -> None:  # type: ignore[no-untyped-def]
    db, store, feeds, _clock, _client = site
    await add(db, store, "Open NA", Kind.NA, Access.OPEN)
    token, _ = await feeds.enable(GUILD)
    english = await schedule_page(feeds, token, {})
    assert english is not None and b'<html lang="en">' in english.body
    await GuildSettingsService(db, feeds.clock).update(GUILD, language="es")
    spanish = await schedule_page(feeds, token, {})
    assert spanish is not None and b'<html lang="es">' in spanish.body
    assert "Reuniones abiertas en línea" in spanish.body.decode()
    asked = await schedule_page(feeds, token, {"lang": "en"})
    assert asked is not None and b'<html lang="en">' in asked.body
