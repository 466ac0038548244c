"""Feeds: the ICS feed round-trips through icalendar + recurring-ical-events to Haven's own
occurrence engine over a DST year; the Meeting Guide JSON follows the spec's rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import discord
import icalendar
import pytest
import recurring_ical_events

from bot.clock import FakeClock
from bot.db import Database
from bot.errors import UserFacingError
from bot.i18n import use_locale
from bot.occurrences import OccurrenceException, Repeat, occurrences_between
from bot.services.feeds import (
    FeedInvite,
    FeedService,
    build_ics,
    build_meeting_guide,
    fold_line,
    hash_token,
    vtimezone_lines,
)
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import FORMATS, Access, Kind, Meeting, MeetingStore
from bot.services.privacy import PrivacyService
from tests.meeting_guide_spec import SPEC_TYPES

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

GUILD = 4242
WINDOW = (datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
ZONES = ("America/New_York", "Europe/London", "Australia/Sydney")

# The Meeting Guide spec's type codes (code4recovery/spec README, "Meeting Types").


@dataclass
class Env:
    db: Database
    clock: FakeClock
    store: MeetingStore
    feeds: FeedService


@pytest.fixture
def start() -> datetime:
    """When `clock` (tests/unit/conftest.py) starts."""
    return datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def env(db: Database, clock: FakeClock) -> Env:
    store = MeetingStore(db, clock, PrivacyService(db))
    return Env(db, clock, store, FeedService(db, clock, store))


async def add(
    env: Env,
    title: str,
    tz: str,
    first: date,
    at: time,
    repeat: Repeat,
    *,
    access: Access = Access.OPEN,
    kind: Kind = Kind.NA,
    formats: tuple[str, ...] = ("discussion",),
    duration: int = 60,
    room: int | None = None,
) -> int:
    async with env.db.transaction() as tx:
        mid = await env.store.create(
            tx,
            guild_id=GUILD,
            title=title,
            kind=kind,
            access=access,
            formats=formats,
            timezone=tz,
            first_date=first,
            start_time=at,
            duration_minutes=duration,
            repeat=repeat,
            facilitator_id=777,
        )
        if room is not None:
            await env.store.update(tx, mid, room_text_channel_id=room)
    return mid


async def exception(env: Env, mid: int, key: date, exc: OccurrenceException) -> None:
    async with env.db.transaction() as tx:
        await env.store.set_exception(tx, mid, key, exc)


async def populate(env: Env) -> None:
    """Every rule in three zones, with DST-edge wall times, cancellations, moves and a pause."""
    for tz in ZONES:
        wk = await add(env, f"Weekly {tz}", tz, date(2026, 12, 1), time(19, 0), Repeat.WEEKLY)
        await exception(env, wk, date(2027, 3, 16), OccurrenceException(cancelled=True))
        await exception(
            env,
            wk,
            date(2027, 4, 6),
            OccurrenceException(cancelled=False, moved_to=datetime(2027, 4, 7, 12, 15)),
        )
        bi = await add(env, f"Biweekly {tz}", tz, date(2027, 1, 9), time(10, 0), Repeat.BIWEEKLY)
        await exception(env, bi, date(2027, 10, 2), OccurrenceException(cancelled=True))
        mo = await add(env, f"Monthly {tz}", tz, date(2026, 6, 9), time(18, 30), Repeat.MONTHLY)
        await exception(
            env,
            mo,
            date(2027, 3, 9),
            OccurrenceException(cancelled=False, moved_to=datetime(2027, 3, 30, 9, 0)),
        )
        fifth = await add(env, f"Fifth {tz}", tz, date(2027, 1, 29), time(7, 0), Repeat.MONTHLY)
        await exception(env, fifth, date(2027, 4, 30), OccurrenceException(cancelled=True))
        # First date is not the last Friday: the first occurrence is that month's last Friday.
        last = await add(
            env, f"Last Friday {tz}", tz, date(2027, 1, 8), time(20, 0), Repeat.MONTHLY_LAST
        )
        await exception(env, last, date(2027, 7, 30), OccurrenceException(cancelled=True))
        await add(env, f"Once {tz}", tz, date(2027, 6, 15), time(17, 45), Repeat.ONCE)
        once_moved = await add(
            env, f"Moved once {tz}", tz, date(2027, 8, 3), time(9, 0), Repeat.ONCE
        )
        await exception(
            env,
            once_moved,
            date(2027, 8, 3),
            OccurrenceException(cancelled=False, moved_to=datetime(2027, 8, 4, 21, 0)),
        )
        once_cancelled = await add(
            env, f"Cancelled once {tz}", tz, date(2027, 5, 5), time(9, 0), Repeat.ONCE
        )
        await exception(env, once_cancelled, date(2027, 5, 5), OccurrenceException(cancelled=True))
        paused = await add(env, f"Paused {tz}", tz, date(2026, 10, 4), time(8, 0), Repeat.WEEKLY)
        async with env.db.transaction() as tx:
            await env.store.update(tx, paused, paused_until=date(2027, 2, 14))
    # Wall times inside DST gaps and overlaps (moved forward / first instance, as the engine does).
    await add(env, "NY gap", "America/New_York", date(2027, 1, 3), time(2, 30), Repeat.WEEKLY)
    await add(env, "NY overlap", "America/New_York", date(2027, 1, 3), time(1, 30), Repeat.WEEKLY)
    await add(env, "London gap", "Europe/London", date(2027, 3, 28), time(1, 30), Repeat.WEEKLY)
    await add(
        env, "Sydney overlap", "Australia/Sydney", date(2027, 3, 7), time(2, 30), Repeat.WEEKLY
    )
    await add(env, "Sydney gap", "Australia/Sydney", date(2027, 9, 5), time(2, 15), Repeat.WEEKLY)
    await add(
        env, "NY gap monthly", "America/New_York", date(2027, 3, 14), time(2, 0), Repeat.MONTHLY
    )
    moved_into_gap = await add(
        env, "Moved into a gap", "Europe/London", date(2027, 3, 20), time(11, 0), Repeat.WEEKLY
    )
    await exception(
        env,
        moved_into_gap,
        date(2027, 3, 27),
        OccurrenceException(cancelled=False, moved_to=datetime(2027, 3, 28, 1, 30)),
    )


def expand(ics: str) -> dict[str, list[tuple[datetime, datetime]]]:
    cal = icalendar.Calendar.from_ical(ics)
    # DURATION in hours/minutes is exact (RFC 5545 3.3.6). recurring-ical-events adds it in wall
    # time, which is off by the gap for an instance that straddles a DST change, so the exact end
    # is computed here from the feed's own DURATION.
    durations = {str(ev["UID"]): ev.decoded("DURATION") for ev in cal.walk("VEVENT")}
    found: dict[str, list[tuple[datetime, datetime]]] = {}
    for ev in recurring_ical_events.of(cal).between(*WINDOW):
        start = ev.decoded("DTSTART").astimezone(UTC)
        uid = str(ev["UID"])
        found.setdefault(uid, []).append((start, start + durations[uid]))
    return {uid: sorted(v) for uid, v in found.items()}


def engine(meetings: list[Meeting]) -> dict[str, list[tuple[datetime, datetime]]]:
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for m in meetings:
        occs = occurrences_between(m.schedule, *WINDOW)
        if occs:
            out[f"meeting-{m.id}@haven"] = sorted((o.start, o.end) for o in occs)
    return out


async def test_ics_round_trip_equals_the_engine_over_a_dst_year(env: Env) -> None:
    await populate(env)
    meetings = await env.store.list_guild(GUILD)
    ics = build_ics(meetings, {}, env.clock.now(), horizon=date(2033, 1, 1))
    expected = engine(meetings)
    got = expand(ics)
    assert set(got) == set(expected)
    for uid, instants in expected.items():
        assert got[uid] == instants, uid
    # Sanity: the year really crosses DST in every zone, and exceptions were exercised.
    assert len(expected) >= 30


async def test_ics_shape(env: Env) -> None:
    await populate(env)
    meetings = await env.store.list_guild(GUILD)
    by_title = {m.title: m for m in meetings}
    invites = {
        by_title["Weekly America/New_York"].id: FeedInvite(
            by_title["Weekly America/New_York"].id, 1, "abcDEF"
        )
    }
    stamp = datetime(2026, 11, 20, 12, 0, 5, tzinfo=UTC)
    ics = build_ics(meetings, invites, stamp, horizon=date(2033, 1, 1))
    raw = ics.encode("utf-8")
    assert raw.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    assert raw.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    unfolded = ics.replace("\r\n ", "")
    lines = unfolded.split("\r\n")
    assert "DTSTAMP:20261120T120005Z" in lines
    assert sorted({ln for ln in lines if ln.startswith("TZID:")}) == [
        f"TZID:{z}" for z in sorted(ZONES)
    ]
    wk = by_title["Weekly America/New_York"]
    bi = by_title["Biweekly Europe/London"]
    mo = by_title["Monthly Australia/Sydney"]
    last = by_title["Last Friday Europe/London"]
    once = by_title["Once America/New_York"]
    cal = icalendar.Calendar.from_ical(ics)
    events = {}
    for ev in cal.walk("VEVENT"):
        if "RECURRENCE-ID" not in ev:
            events[str(ev["UID"])] = ev
    assert events[f"meeting-{wk.id}@haven"]["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=TU"
    assert events[f"meeting-{bi.id}@haven"]["RRULE"].to_ical() == b"FREQ=WEEKLY;INTERVAL=2;BYDAY=SA"
    assert events[f"meeting-{mo.id}@haven"]["RRULE"].to_ical() == b"FREQ=MONTHLY;BYDAY=2TU"
    assert events[f"meeting-{last.id}@haven"]["RRULE"].to_ical() == b"FREQ=MONTHLY;BYDAY=-1FR"
    # DTSTART of a monthly-last meeting is its first real occurrence (RFC 5545 counts DTSTART).
    assert events[f"meeting-{last.id}@haven"].decoded("DTSTART").date() == date(2027, 1, 29)
    assert "RRULE" not in events[f"meeting-{once.id}@haven"]
    wk_ev = events[f"meeting-{wk.id}@haven"]
    assert "TZID=America/New_York:20261201T190000" in unfolded
    assert "EXDATE;TZID=America/New_York:20270316T190000" in unfolded
    assert wk_ev["URL"] == "https://discord.gg/abcDEF"
    assert wk_ev["LOCATION"] == "https://discord.gg/abcDEF"
    overrides = [
        ev
        for ev in cal.walk("VEVENT")
        if "RECURRENCE-ID" in ev and str(ev["UID"]) == f"meeting-{wk.id}@haven"
    ]
    assert len(overrides) == 1
    assert overrides[0].decoded("RECURRENCE-ID") == datetime(
        2027, 4, 6, 19, 0, tzinfo=ZoneInfo("America/New_York")
    )
    # Nothing about people: no facilitator id, no description field from the store.
    assert "777" not in ics
    # Cancelled one-off meetings have no event at all.
    assert not any(ev["SUMMARY"].startswith("Cancelled once") for ev in cal.walk("VEVENT"))


@pytest.mark.parametrize("tzid", [*ZONES, "Asia/Tokyo", "America/St_Johns", "Asia/Kolkata"])
def test_vtimezone_matches_zoneinfo(tzid: str) -> None:
    text = "".join(
        fold_line(x)
        for x in (
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//t//t//EN",
            *vtimezone_lines(tzid, date(2025, 12, 31), date(2031, 1, 1)),
            "END:VCALENDAR",
        )
    )
    vtz = icalendar.Calendar.from_ical(text).walk("VTIMEZONE")[0]
    generated = vtz.to_tz(lookup_tzid=False)  # built from our VTIMEZONE, not by name
    real = ZoneInfo(tzid)
    probe = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    while probe < datetime(2031, 1, 1, tzinfo=UTC):
        assert probe.astimezone(generated).utcoffset() == probe.astimezone(real).utcoffset(), probe
        probe += timedelta(hours=5)


def test_fold_line_never_splits_a_character() -> None:
    line = "SUMMARY:" + "é" * 100 + "🙂" * 20
    folded = fold_line(line)
    parts = folded.encode("utf-8").split(b"\r\n")
    assert parts[-1] == b""
    assert all(len(p) <= 75 for p in parts)
    assert all(p.startswith(b" ") for p in parts[1:-1])
    for p in parts:
        p.decode("utf-8")  # each physical line is valid UTF-8
    assert folded.replace("\r\n ", "").removesuffix("\r\n") == line


async def test_meeting_guide_json_follows_the_spec(env: Env) -> None:
    await populate(env)
    meetings = await env.store.list_guild(GUILD)
    by_title = {m.title: m for m in meetings}
    speaker = await add(
        env,
        "Saturday Speaker",
        "America/New_York",
        date(2027, 1, 2),
        time(23, 30),
        Repeat.WEEKLY,
        formats=("speaker", "newcomer", "qa", "candlelight", "step-study"),
        duration=90,
    )
    closed = await add(
        env,
        "Closed family",
        "Europe/London",
        date(2027, 1, 4),
        time(20, 0),
        Repeat.WEEKLY,
        access=Access.CLOSED,
        kind=Kind.FAMILY,
    )
    meetings = await env.store.list_guild(GUILD)
    invites = {speaker: FeedInvite(speaker, 5, "spk123")}
    updated = {m.id: datetime(2026, 11, 20, 12, tzinfo=UTC) for m in meetings}
    entries = build_meeting_guide(meetings, invites, updated, env.clock.now())
    slugs = [e["slug"] for e in entries]
    assert len(slugs) == len(set(slugs))
    for e in entries:
        # Required by the spec: name and slug; day and time for weekly meetings.
        assert isinstance(e["name"], str) and 0 < len(e["name"]) <= 255
        assert isinstance(e["slug"], str) and len(e["slug"]) <= 64
        assert all(c.isalnum() or c == "-" for c in e["slug"])
        assert isinstance(e["day"], int) and 0 <= e["day"] <= 6
        for field in ("time", "end_time"):
            datetime.strptime(e[field], "%H:%M")  # noqa: DTZ007 - HH:MM only
            assert len(e[field]) == 5
        ZoneInfo(e["timezone"])
        assert set(e["types"]) <= SPEC_TYPES
        assert ("O" in e["types"]) != ("C" in e["types"])
        datetime.strptime(e["updated"], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - spec format
        assert "<" not in e["notes"]
        assert set(e) <= {
            "name",
            "slug",
            "day",
            "time",
            "end_time",
            "timezone",
            "types",
            "conference_url",
            "notes",
            "updated",
        }
    titles = {e["name"] for e in entries}
    # Weekly only; paused weekly meetings are left out while paused.
    assert all(by_title[t].repeat == Repeat.WEEKLY for t in titles if t in by_title)
    assert "Biweekly America/New_York" not in titles
    assert "Monthly Europe/London" not in titles
    assert "Once Australia/Sydney" not in titles
    assert "Paused America/New_York" not in titles
    sp = next(e for e in entries if e["name"] == "Saturday Speaker")
    assert sp["day"] == 6  # Saturday (ISO 6) -> Meeting Guide 6; Sunday would be 0
    assert sp["time"] == "23:30" and sp["end_time"] == "01:00"
    assert sp["types"] == ["O", "SP", "BE", "CAN", "ST"]  # Q&A has no spec code
    assert sp["conference_url"] == "https://discord.gg/spk123"
    assert sp["timezone"] == "America/New_York"
    sunday = next(e for e in entries if e["name"] == "NY gap")
    assert sunday["day"] == 0
    fam = next(e for e in entries if e["name"] == "Closed family")
    assert fam["types"] == ["C", "D"]
    assert closed in {m.id for m in meetings}
    # Every code Haven maps formats to is a real spec code.
    assert {c for _, c in FORMATS.values() if c} <= SPEC_TYPES


async def test_tokens_are_stored_hashed_and_rotation_invalidates(env: Env) -> None:
    token, changed = await env.feeds.enable(GUILD)
    assert token is not None and changed
    stored = await env.db.fetchval(
        "SELECT token_hash FROM guild_feeds WHERE guild_id = ?", (GUILD,)
    )
    assert stored == hash_token(token) and token not in stored
    assert (await env.feeds.lookup(token)) is not None
    assert await env.feeds.enable(GUILD) == (None, False)
    assert await env.feeds.enable(GUILD, include_closed=True) == (None, True)
    new = await env.feeds.rotate(GUILD)
    assert new != token
    assert await env.feeds.lookup(token) is None
    assert (await env.feeds.lookup(new)) is not None
    assert await env.feeds.lookup("x" * 43) is None
    assert await env.feeds.lookup("../../etc") is None
    was_on, _ = await env.feeds.disable(GUILD)
    assert was_on
    assert await env.feeds.lookup(new) is None


async def test_closed_meetings_only_when_included(env: Env) -> None:
    await add(env, "Open one", "UTC", date(2027, 1, 4), time(20, 0), Repeat.WEEKLY)
    await add(
        env, "Closed one", "UTC", date(2027, 1, 5), time(20, 0), Repeat.WEEKLY, access=Access.CLOSED
    )
    token, _ = await env.feeds.enable(GUILD)
    assert token is not None
    for kind in ("ics", "json"):
        rendered = await env.feeds.render(token, kind)  # type: ignore[arg-type]
        assert rendered is not None
        assert b"Open one" in rendered.body and b"Closed one" not in rendered.body
    await env.feeds.enable(GUILD, include_closed=True)
    for kind in ("ics", "json"):
        rendered = await env.feeds.render(token, kind)  # type: ignore[arg-type]
        assert rendered is not None
        assert b"Closed one" in rendered.body


async def test_unchanged_content_keeps_its_validators(env: Env) -> None:
    mid = await add(env, "Steady", "UTC", date(2027, 1, 4), time(20, 0), Repeat.WEEKLY)
    token, _ = await env.feeds.enable(GUILD)
    assert token is not None
    first = await env.feeds.render(token, "ics")
    env.clock.advance(timedelta(hours=3))
    again = await env.feeds.render(token, "ics")
    assert first is not None and again is not None
    assert again.etag == first.etag and again.last_modified == first.last_modified
    await exception(env, mid, date(2027, 1, 11), OccurrenceException(cancelled=True))
    changed = await env.feeds.render(token, "ics")
    assert changed is not None
    assert changed.etag != first.etag
    assert changed.last_modified == env.clock.now().replace(microsecond=0)
    assert b"DTSTAMP:20261120T150000Z" in changed.body


class _Channel:
    def __init__(self, log: list[str], refuse: bool = False) -> None:
        self.log = log
        self.refuse = refuse
        self.made = 0

    async def create_invite(self, **options: object) -> SimpleNamespace:
        assert options["max_age"] == 0 and options["max_uses"] == 0 and options["unique"]
        if self.refuse:
            raise discord.Forbidden(SimpleNamespace(status=403, reason="Forbidden"), "no")
        self.made += 1
        code = f"inv{len(self.log)}x{self.made}"
        self.log.append(f"+{code}")
        return SimpleNamespace(code=code)


def _stub_bot(channels: dict[int, _Channel], log: list[str]) -> SimpleNamespace:
    async def delete_invite(code: str, *, reason: str | None = None) -> None:
        log.append(f"-{code}")

    return SimpleNamespace(get_channel=channels.get, delete_invite=delete_invite)


async def test_invite_sync_follows_meetings_rotation_and_deletion(env: Env) -> None:
    from cogs.feeds import DiscordInviteMaker

    log: list[str] = []
    channels = {501: _Channel(log), 502: _Channel(log), 503: _Channel(log, refuse=True)}
    env.feeds.install(DiscordInviteMaker(_stub_bot(channels, log)))  # type: ignore[arg-type]
    a = await add(env, "A", "UTC", date(2027, 1, 4), time(20, 0), Repeat.WEEKLY, room=501)
    b = await add(env, "B", "UTC", date(2027, 1, 5), time(20, 0), Repeat.WEEKLY, room=502)
    await add(env, "C", "UTC", date(2027, 1, 6), time(20, 0), Repeat.WEEKLY, room=503)
    await add(
        env,
        "Closed",
        "UTC",
        date(2027, 1, 7),
        time(20, 0),
        Repeat.WEEKLY,
        access=Access.CLOSED,
        room=502,
    )
    await add(env, "No room", "UTC", date(2027, 1, 8), time(20, 0), Repeat.WEEKLY)
    assert (await env.feeds.sync_invites(GUILD)).created == 0  # feeds off: nothing
    await env.feeds.enable(GUILD)
    first = await env.feeds.sync_invites(GUILD)
    assert (first.created, first.failed) == (2, 1)
    invites = await env.feeds.invites(GUILD)
    assert set(invites) == {a, b}
    again = await env.feeds.sync_invites(GUILD)
    assert (again.created, again.removed) == (0, 0)  # idempotent
    # Rotation renews every invite and deletes the old ones on Discord.
    await env.feeds.rotate(GUILD)
    renewed = await env.feeds.sync_invites(GUILD, renew=True)
    assert renewed.created == 2 and not renewed.undeleted
    new = await env.feeds.invites(GUILD)
    assert {f"-{i.code}" for i in invites.values()} <= set(log)
    assert {i.code for i in new.values()}.isdisjoint({i.code for i in invites.values()})
    # A deleted meeting's invite is deleted on Discord at the next sync.
    async with env.db.transaction() as tx:
        await env.store.delete(tx, b)
    gone = await env.feeds.sync_invites(GUILD)
    assert gone.removed == 1 and f"-{new[b].code}" in log
    assert set(await env.feeds.invites(GUILD)) == {a}
    # Turning feeds off hands back every invite to delete.
    _, left = await env.feeds.disable(GUILD)
    assert [i.meeting_id for i in left] == [a]


async def test_calendar_is_named_after_the_server(env: Env) -> None:
    await add(env, "Open one", "UTC", date(2027, 1, 4), time(20, 0), Repeat.WEEKLY)
    token, _ = await env.feeds.enable(GUILD, calendar_name="Recovery Haven")
    assert token is not None
    rendered = await env.feeds.render(token, "ics")
    assert rendered is not None and b"\r\nNAME:Recovery Haven: meetings\r\n" in rendered.body
    assert await env.feeds.set_calendar_name(GUILD, "Haven, renamed")
    assert not await env.feeds.set_calendar_name(GUILD, "Haven, renamed")
    rendered = await env.feeds.render(token, "ics")
    assert rendered is not None and b"X-WR-CALNAME:Haven\\, renamed: meetings" in rendered.body


# -- validators shared by every feed server and kept across restarts ---------------------------


def _server(env: Env, clock: FakeClock) -> FeedService:
    """Another feed server on the same store, with its own memory."""
    return FeedService(env.db, clock, MeetingStore(env.db, clock, PrivacyService(env.db)))


async def test_two_servers_and_a_restart_give_the_same_validators(env: Env) -> None:
    mid = await add(env, "Shared", "UTC", date(2027, 1, 4), time(20, 0), Repeat.WEEKLY)
    token, _ = await env.feeds.enable(GUILD)
    assert token is not None
    first = {kind: await env.feeds.render(token, kind) for kind in ("ics", "json")}
    # A second process an hour later, and the first one restarted (nothing kept in memory).
    second = _server(env, FakeClock(env.clock.now() + timedelta(hours=1)))
    restarted = _server(env, FakeClock(env.clock.now() + timedelta(days=2)))
    for other in (second, restarted):
        for kind, mine in first.items():
            theirs = await other.render(token, kind)  # type: ignore[arg-type]
            assert mine is not None and theirs is not None
            assert (theirs.etag, theirs.last_modified, theirs.body) == (
                mine.etag,
                mine.last_modified,
                mine.body,
            ), kind
    # New content: a new ETag, and every server agrees on it and on its Last-Modified.
    await exception(env, mid, date(2027, 1, 11), OccurrenceException(cancelled=True))
    changed = await second.render(token, "ics")
    assert changed is not None and first["ics"] is not None
    assert changed.etag != first["ics"].etag
    assert changed.last_modified == second.clock.now().replace(microsecond=0)
    for other in (env.feeds, restarted):
        seen = await other.render(token, "ics")
        assert seen is not None
        assert (seen.etag, seen.last_modified, seen.body) == (
            changed.etag,
            changed.last_modified,
            changed.body,
        )


async def test_content_that_comes_back_is_newer_than_what_replaced_it(env: Env) -> None:
    """A -> B -> A (a meeting renamed and back) across two servers: Last-Modified never goes
    backwards, or a client that only sends If-Modified-Since would keep B."""
    mid = await add(env, "Before", "UTC", date(2027, 1, 4), time(20, 0), Repeat.WEEKLY)
    token, _ = await env.feeds.enable(GUILD)
    assert token is not None
    other = _server(env, env.clock)
    before = await env.feeds.render(token, "ics")
    env.clock.advance(timedelta(minutes=5))
    async with env.db.transaction() as tx:
        await env.store.update(tx, mid, title="After")
    after = await other.render(token, "ics")  # only the other server sees B
    env.clock.advance(timedelta(minutes=5))
    async with env.db.transaction() as tx:
        await env.store.update(tx, mid, title="Before")
    back = await env.feeds.render(token, "ics")
    again = await other.render(token, "ics")
    assert before is not None and after is not None and back is not None and again is not None
    assert back.digest == before.digest != after.digest  # the same content as at first
    assert before.last_modified < after.last_modified < back.last_modified
    assert (again.etag, again.last_modified) == (back.etag, back.last_modified)


# -- the people-readable text follows the guild's language ------------------------------------


async def test_feed_notes_follow_the_guilds_language_and_keep_stable_bytes(env: Env) -> None:
    await add(
        env,
        "Esperanza",
        "America/Mexico_City",
        date(2027, 1, 4),
        time(20, 0),
        Repeat.WEEKLY,
        formats=("speaker", "newcomer"),
    )
    await add(
        env,
        "Familias",
        "America/Mexico_City",
        date(2027, 1, 5),
        time(20, 0),
        Repeat.WEEKLY,
        kind=Kind.FAMILY,
        access=Access.CLOSED,
    )
    token, _ = await env.feeds.enable(GUILD, include_closed=True, calendar_name="Haven")
    assert token is not None
    # The reader of a feed has no locale: a Spanish context around the render changes nothing.
    with use_locale("es"):
        english = {kind: await env.feeds.render(token, kind) for kind in ("ics", "json")}
    ics_en = english["ics"]
    json_en = english["json"]
    assert ics_en is not None and json_en is not None
    assert b"NA-style peer meeting." in ics_en.body and b"NAME:Haven: meetings" in ics_en.body
    await GuildSettingsService(env.db, env.clock).update(GUILD, language="es")
    env.clock.advance(timedelta(minutes=1))
    ics = await env.feeds.render(token, "ics")
    mg = await env.feeds.render(token, "json")
    assert ics is not None and mg is not None
    text = ics.body.decode().replace("\r\n ", "")
    assert "NAME:Haven: reuniones" in text
    assert "DESCRIPTION:Reunión de apoyo entre pares de estilo NA.\\n" in text
    assert "Abierta: cualquier persona es bienvenida." in text
    assert "Formato: Con orador\\, Para recién llegados." in text
    assert "Cerrada: para familiares y amistades." in text
    assert "CATEGORIES:Estilo NA,Con orador,Para recién llegados" in text
    assert "LOCATION:Discord" in text  # the place is a name, not a word to translate
    entries = json.loads(mg.body)
    assert [e["types"] for e in entries] == [["O", "SP", "BE"], ["C", "D"]]  # the spec's codes
    assert entries[0]["notes"].startswith("Reunión de apoyo entre pares de estilo NA.\n")
    assert "Se reúne en Discord." in entries[1]["notes"]
    # New bytes, new validators; the same Spanish content again gives the same bytes.
    assert ics.etag != ics_en.etag and mg.etag != json_en.etag
    again = await _server(env, FakeClock(env.clock.now() + timedelta(hours=2))).render(token, "ics")
    assert again is not None and (again.body, again.etag) == (ics.body, ics.etag)
    # Back to English: the first English bytes exactly.
    await GuildSettingsService(env.db, env.clock).update(GUILD, language="en")
    back = await env.feeds.render(token, "json")
    assert back is not None and back.body == json_en.body


async def test_rotating_without_feeds_is_refused_in_the_readers_language(env: Env) -> None:
    with pytest.raises(UserFacingError) as refused:
        await env.feeds.rotate(GUILD)
    assert "nothing to rotate" in refused.value.message
    with use_locale("es"):
        assert "`/setup feeds action:enable`" in refused.value.message
        assert "no hay nada que renovar" in refused.value.message
