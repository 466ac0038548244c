"""The feeds over real HTTP (aiohttp test server on loopback): ICS round-trip against the engine,
Meeting Guide JSON, validators and 304, rotation, closed meetings, uniform 404s, per-IP 429."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from unittest import mock

import icalendar
import pytest
import recurring_ical_events
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from bot.clock import FakeClock
from bot.db import Database
from bot.occurrences import OccurrenceException, Repeat, occurrences_between
from bot.runtime.feeds_http import FeedServer, client_key, create_app
from bot.services.feeds import FeedInvite, FeedService
from bot.services.meetings import Access, Kind, MeetingStore
from bot.services.privacy import PrivacyService
from tests.meeting_guide_spec import SPEC_TYPES

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

GUILD = 9001
OTHER_GUILD = 9002
WINDOW = (datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))


@dataclass
class Site:
    db: Database
    clock: FakeClock
    store: MeetingStore
    feeds: FeedService
    client: TestClient  # type: ignore[type-arg]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    db = await Database.open(tmp_path / "http.db")
    await db.migrate()
    clock = FakeClock(datetime(2026, 12, 1, 9, tzinfo=UTC))
    store = MeetingStore(db, clock, PrivacyService(db))
    feeds = FeedService(db, clock, store)
    client = TestClient(TestServer(create_app(feeds, clock, per_minute=6, burst=10)))
    await client.start_server()
    try:
        yield Site(db, clock, store, feeds, client)
    finally:
        await client.close()
        await db.close()


async def meeting(
    site: Site,
    title: str,
    tz: str,
    first: date,
    at: time,
    repeat: Repeat,
    *,
    access: Access = Access.OPEN,
    guild: int = GUILD,
    formats: tuple[str, ...] = ("speaker",),
) -> int:
    async with site.db.transaction() as tx:
        return await site.store.create(
            tx,
            guild_id=guild,
            title=title,
            kind=Kind.NA,
            access=access,
            formats=formats,
            timezone=tz,
            first_date=first,
            start_time=at,
            duration_minutes=75,
            repeat=repeat,
            description="Led by someone whose name must never be published",
            facilitator_id=123456789,
        )


async def seed(site: Site) -> dict[str, int]:
    ids: dict[str, int] = {}
    rules = [
        (Repeat.WEEKLY, date(2027, 1, 5), time(19, 0)),
        (Repeat.BIWEEKLY, date(2026, 12, 26), time(10, 30)),
        (Repeat.MONTHLY, date(2027, 1, 12), time(18, 0)),
        (Repeat.MONTHLY_LAST, date(2027, 1, 29), time(20, 0)),
        (Repeat.ONCE, date(2027, 7, 4), time(12, 0)),
    ]
    for tz in ("America/New_York", "Europe/London", "Australia/Sydney"):
        for repeat, first, at in rules:
            name = f"{repeat.value} {tz}"
            ids[name] = await meeting(site, name, tz, first, at, repeat)
    async with site.db.transaction() as tx:
        await site.store.set_exception(
            tx, ids["weekly America/New_York"], date(2027, 3, 16), OccurrenceException(True)
        )
        await site.store.set_exception(
            tx,
            ids["weekly Europe/London"],
            date(2027, 3, 30),
            OccurrenceException(False, datetime(2027, 3, 28, 1, 15)),
        )
        await site.store.set_exception(
            tx,
            ids["monthly Australia/Sydney"],
            date(2027, 4, 13),
            OccurrenceException(False, datetime(2027, 4, 4, 2, 30)),
        )
        await site.store.set_exception(
            tx, ids["monthly-last Australia/Sydney"], date(2027, 10, 29), OccurrenceException(True)
        )
    ids["closed"] = await meeting(
        site,
        "Closed weekly",
        "Europe/London",
        date(2027, 1, 6),
        time(20, 0),
        Repeat.WEEKLY,
        access=Access.CLOSED,
    )
    ids["elsewhere"] = await meeting(
        site, "Other guild", "UTC", date(2027, 1, 6), time(20, 0), Repeat.WEEKLY, guild=OTHER_GUILD
    )
    return ids


async def enable(site: Site, include_closed: bool = False) -> str:
    token, _ = await site.feeds.enable(GUILD, include_closed)
    assert token is not None
    return token


async def test_ics_feed_round_trips_to_the_engine(site: Site) -> None:
    ids = await seed(site)
    token = await enable(site)
    resp = await site.client.get(f"/feeds/{token}/meetings.ics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    raw = await resp.read()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    cal = icalendar.Calendar.from_ical(raw)
    durations = {str(ev["UID"]): ev.decoded("DURATION") for ev in cal.walk("VEVENT")}
    got: dict[str, list[datetime]] = {}
    for ev in recurring_ical_events.of(cal).between(*WINDOW):
        got.setdefault(str(ev["UID"]), []).append(ev.decoded("DTSTART").astimezone(UTC))
    meetings = [m for m in await site.store.list_guild(GUILD) if m.access == Access.OPEN]
    assert len(meetings) == 15
    for m in meetings:
        expected = [o.start for o in occurrences_between(m.schedule, *WINDOW)]
        uid = f"meeting-{m.id}@haven"
        assert sorted(got.get(uid, [])) == expected, m.title
        assert durations[uid] == timedelta(minutes=75)
    text = raw.decode()
    assert "Closed weekly" not in text and "Other guild" not in text
    assert "123456789" not in text and "Led by" not in text
    assert f"meeting-{ids['closed']}@haven" not in text


async def test_json_feed_is_meeting_guide(site: Site) -> None:
    ids = await seed(site)
    token = await enable(site)
    await site.feeds.set_invite(GUILD, FeedInvite(ids["weekly Europe/London"], 77, "hvnLDN"))
    resp = await site.client.get(f"/feeds/{token}/meetings.json")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    entries = json.loads(await resp.read())
    assert isinstance(entries, list)
    assert {e["name"] for e in entries} == {
        "weekly America/New_York",
        "weekly Europe/London",
        "weekly Australia/Sydney",
    }
    for e in entries:
        assert e["name"] and e["slug"]
        assert e["day"] == 2  # Tuesday 5 January 2027: Sunday = 0
        assert e["time"] == "19:00" and e["end_time"] == "20:15"
        assert set(e["types"]) <= SPEC_TYPES and e["types"] == ["O", "SP"]
        assert "ONL" not in e["types"]  # online is marked by conference_url in the spec
        assert "Led by" not in e["notes"]
    london = next(e for e in entries if e["name"] == "weekly Europe/London")
    assert london["conference_url"] == "https://discord.gg/hvnLDN"
    assert london["timezone"] == "Europe/London"
    assert london["updated"] == "2026-12-01 09:00:00"
    assert "https://discord.gg/hvnLDN" in london["notes"]
    ics = await (await site.client.get(f"/feeds/{token}/meetings.ics")).text()
    assert "URL:https://discord.gg/hvnLDN" in ics.replace("\r\n ", "")


async def test_closed_meetings_only_when_included(site: Site) -> None:
    await seed(site)
    token = await enable(site)
    body = await (await site.client.get(f"/feeds/{token}/meetings.json")).text()
    assert "Closed weekly" not in body
    await site.feeds.enable(GUILD, include_closed=True)
    body = await (await site.client.get(f"/feeds/{token}/meetings.json")).text()
    entry = next(e for e in json.loads(body) if e["name"] == "Closed weekly")
    assert entry["types"][0] == "C"
    ics = await (await site.client.get(f"/feeds/{token}/meetings.ics")).text()
    assert "Closed weekly" in ics


async def test_etag_and_last_modified_give_304(site: Site) -> None:
    ids = await seed(site)
    token = await enable(site)
    for path in ("meetings.ics", "meetings.json"):
        first = await site.client.get(f"/feeds/{token}/{path}")
        etag = first.headers["ETag"]
        modified = first.headers["Last-Modified"]
        assert etag.startswith('"') and modified.endswith("GMT")
        site.clock.advance(timedelta(minutes=30))
        again = await site.client.get(f"/feeds/{token}/{path}", headers={"If-None-Match": etag})
        assert again.status == 304
        assert again.headers["ETag"] == etag
        assert await again.read() == b""
        weak = await site.client.get(
            f"/feeds/{token}/{path}", headers={"If-None-Match": f'"nope", W/{etag}'}
        )
        assert weak.status == 304
        since = await site.client.get(
            f"/feeds/{token}/{path}", headers={"If-Modified-Since": modified}
        )
        assert since.status == 304
    # A change (a cancelled occurrence) gives a new ETag and a full answer.
    old = (await site.client.get(f"/feeds/{token}/meetings.ics")).headers["ETag"]
    async with site.db.transaction() as tx:
        await site.store.set_exception(
            tx, ids["biweekly Europe/London"], date(2027, 2, 6), OccurrenceException(True)
        )
    fresh = await site.client.get(f"/feeds/{token}/meetings.ics", headers={"If-None-Match": old})
    assert fresh.status == 200 and fresh.headers["ETag"] != old


async def test_rotation_invalidates_old_urls(site: Site) -> None:
    await seed(site)
    token = await enable(site)
    assert (await site.client.get(f"/feeds/{token}/meetings.ics")).status == 200
    new = await site.feeds.rotate(GUILD)
    for path in ("meetings.ics", "meetings.json"):
        assert (await site.client.get(f"/feeds/{token}/{path}")).status == 404
        assert (await site.client.get(f"/feeds/{new}/{path}")).status == 200
    await site.feeds.disable(GUILD)
    assert (await site.client.get(f"/feeds/{new}/meetings.json")).status == 404


async def test_404s_give_no_hint(site: Site) -> None:
    await seed(site)
    token = await enable(site)
    await site.feeds.rotate(GUILD)
    rotated = await site.client.get(f"/feeds/{token}/meetings.json")
    unknown = await site.client.get(f"/feeds/{'A' * 43}/meetings.json")
    junk = await site.client.get("/feeds/not-a-token/meetings.ics")
    other = await site.client.get("/anything")
    bodies = {await r.text() for r in (rotated, unknown, junk, other)}
    assert {r.status for r in (rotated, unknown, junk, other)} == {404}
    assert len(bodies) == 1
    assert {r.headers["Content-Type"] for r in (rotated, unknown, junk, other)} == {
        "text/plain; charset=utf-8"
    }


async def test_per_ip_limit_gives_429_with_retry_after(site: Site) -> None:
    token = await enable(site)
    url = f"/feeds/{token}/meetings.json"
    a = {"X-Forwarded-For": "203.0.113.7"}
    b = {"X-Forwarded-For": "198.51.100.2"}
    for _ in range(10):  # the burst
        assert (await site.client.get(url, headers=a)).status == 200
    limited = await site.client.get(url, headers=a)
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "10"  # 6 per minute
    # Unknown tokens spend from the same bucket (no free guessing).
    assert (await site.client.get(f"/feeds/{'B' * 43}/meetings.ics", headers=a)).status == 429
    # Another client is not affected.
    assert (await site.client.get(url, headers=b)).status == 200
    # Time refills the bucket (the injected clock, no sleeping).
    site.clock.advance(timedelta(seconds=10))
    assert (await site.client.get(url, headers=a)).status == 200
    assert (await site.client.get(url, headers=a)).status == 429


async def test_server_binds_loopback_and_stops(site: Site) -> None:
    server = FeedServer(create_app(site.feeds, site.clock))
    await server.start("127.0.0.1", 0)
    try:
        assert server.running
        await server.start("127.0.0.1", 0)  # idempotent
    finally:
        await server.stop()
        await server.stop()
    assert not server.running


async def test_head_and_validator_precedence(site: Site) -> None:
    await seed(site)
    token = await enable(site)
    head = await site.client.head(f"/feeds/{token}/meetings.ics")
    assert head.status == 200 and head.headers["ETag"]
    assert head.headers["Access-Control-Allow-Origin"] == "*"
    modified = head.headers["Last-Modified"]
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    stale = await site.client.get(
        f"/feeds/{token}/meetings.ics",
        headers={"If-None-Match": '"other"', "If-Modified-Since": modified},
    )
    assert stale.status == 200
    post = await site.client.post(f"/feeds/{token}/meetings.ics")
    assert post.status == 405


def _request(peer: str, headers: dict[str, str]) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda key, default=None: (
        (peer, 40000) if key == "peername" else default
    )
    return make_mocked_request("GET", "/", headers=headers, transport=transport)


def test_forwarded_address_is_trusted_only_from_loopback() -> None:
    xff = {"X-Forwarded-For": "10.9.9.9, 203.0.113.5"}
    assert client_key(_request("127.0.0.1", xff)) == "203.0.113.5"
    assert client_key(_request("::1", {"X-Real-IP": "198.51.100.1"})) == "198.51.100.1"
    assert client_key(_request("192.0.2.44", xff)) == "192.0.2.44"
    assert client_key(_request("127.0.0.1", {})) == "127.0.0.1"
