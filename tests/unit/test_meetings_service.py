"""MeetingService: every rule, every bad input (specific message, nothing stored changes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.bus import MEETING_CHANGED, EventBus
from bot.clock import FakeClock
from bot.db import Database
from bot.errors import NotFoundError, PermissionDeniedError, UserFacingError
from bot.i18n import use_locale
from bot.jobs import JobEngine, NewJob
from bot.occurrences import Occurrence, Repeat
from bot.permissions import Level
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import (
    EVENT_ROLL,
    Access,
    Actor,
    Kind,
    Meeting,
    MeetingEdit,
    MeetingService,
    MeetingStore,
    access_label,
    describe_repeat,
    format_suggestions,
    home_time_words,
    parse_formats,
    visible_to,
)
from bot.services.privacy import PrivacyService

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

GUILD = 1001
OTHER_GUILD = 2002
FAC = Actor(11, Level.FACILITATOR)
FAC2 = Actor(12, Level.FACILITATOR)
MOD = Actor(13, Level.MODERATOR)
PEER = Actor(14, Level.PEER)
NY = ZoneInfo("America/New_York")
# Thursday 2027-01-07 12:00 New York.
NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)


@dataclass
class World:
    db: Database
    clock: FakeClock
    service: MeetingService
    jobs: JobEngine
    guilds: GuildSettingsService
    events: list[dict[str, Any]] = field(default_factory=list)

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        out = {}
        for table in ("meetings", "meeting_exceptions", "meeting_facilitators", "jobs"):
            rows = await self.db.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2")
            out[table] = [tuple(r) for r in rows]
        return out

    async def schedule(self, actor: Actor = FAC, **kw: Any) -> Meeting:
        args: dict[str, Any] = {
            "title": "Tuesday Night Hope",
            "start": "2027-01-12 19:00",
            "timezone": "America/New_York",
            "repeat": "weekly",
        }
        args.update(kw)
        return await self.service.schedule(GUILD, actor, **args)


@pytest.fixture
def start() -> datetime:
    """When `clock` (tests/unit/conftest.py) starts."""
    return NOW


@pytest.fixture
def world(db: Database, clock: FakeClock) -> World:
    """The meeting rules alone (no rooms or reminders listening), events recorded."""
    bus = EventBus()
    privacy = PrivacyService(db)
    guilds = GuildSettingsService(db, clock)
    jobs = JobEngine(db, clock)
    store = MeetingStore(db, clock, privacy)
    w = World(db, clock, MeetingService(db, clock, store, guilds, bus, jobs), jobs, guilds)

    async def record(**payload: Any) -> None:
        w.events.append(payload)

    bus.subscribe(MEETING_CHANGED, record)
    return w


async def assert_refused(
    w: World, call: Any, match: str, exc: type[Exception] = UserFacingError
) -> None:
    """The call fails with a specific message and changes nothing stored, emitting nothing."""
    before = await w.snapshot()
    events_before = len(w.events)
    with pytest.raises(exc, match=match):
        await call
    assert await w.snapshot() == before
    assert len(w.events) == events_before


# --- schedule ---------------------------------------------------------------------------------


async def test_schedule_stores_local_wall_time_and_the_caller_as_facilitator(world: World) -> None:
    m = await world.schedule(
        formats="speaker, Step Study, Q&A, lit", description="Bring your own tea", duration=90
    )
    assert m.guild_id == GUILD
    assert (m.first_date, m.start_time, m.timezone) == (
        date(2027, 1, 12),
        time(19, 0),
        "America/New_York",
    )
    assert m.repeat is Repeat.WEEKLY and m.duration_minutes == 90
    assert m.formats == ("speaker", "step-study", "qa", "literature-study")
    assert m.facilitator_ids == frozenset({FAC.user_id})
    assert m.kind is Kind.NA and m.access is Access.OPEN
    row = await world.db.fetchone("SELECT start_time, weekday FROM meetings WHERE id = ?", (m.id,))
    assert tuple(row) == ("19:00", 2)  # ISO Tuesday
    assert world.events == [
        {"meeting_id": m.id, "guild_id": GUILD, "change": "created", "detail": ""}
    ]


async def test_schedule_uses_the_guild_default_zone(world: World) -> None:
    await world.guilds.update(GUILD, timezone="Europe/London")
    m = await world.schedule(timezone=None)
    assert m.timezone == "Europe/London"


async def test_weekly_new_york_meeting_stays_at_19_local_across_march_dst(world: World) -> None:
    world.clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    m = await world.schedule(start="2027-03-02 19:00")
    occ = world.service.next_occurrences(m, 3)
    assert [o.local_start.hour for o in occ] == [19, 19, 19]
    assert [o.start.hour for o in occ] == [0, 0, 23]  # UTC shifts by an hour at 14 March


async def test_titles_with_mentions_and_markdown_are_stored_literally(world: World) -> None:
    m = await world.schedule(title="@everyone **Hope** <@&123> __now__")
    assert m.title == "@everyone **Hope** <@&123> __now__"


BAD_SCHEDULE: list[tuple[dict[str, Any], str]] = [
    ({"timezone": "Mars/Olympus"}, "not a time zone I know"),
    ({"start": "12/01/2027 7pm"}, "YYYY-MM-DD HH:MM"),
    ({"start": "2027-01-12"}, "YYYY-MM-DD HH:MM"),
    ({"start": "2027-01-07 11:59"}, "already passed"),
    ({"start": "2026-05-01 19:00"}, "already passed"),
    ({"duration": 4}, "from 5 to 600"),
    ({"duration": 601}, "from 5 to 600"),
    ({"duration": -30}, "from 5 to 600"),
    ({"title": "   "}, "title cannot be empty"),
    ({"title": "x" * 101}, "title is 101 characters long; the limit is 100"),
    ({"title": "Hidden\u200btext"}, "invisible or control characters"),
    ({"description": "d" * 1001}, "description is 1001 characters long; the limit is 1000"),
    ({"formats": "speaker, yoga"}, "`yoga` is not a meeting format"),
    ({"repeat": "daily"}, "not a repeat rule"),
    ({"kind": "aa"}, "not a meeting kind"),
    ({"access": "secret"}, "not a meeting access"),
]


@pytest.mark.parametrize(("kw", "match"), BAD_SCHEDULE)
async def test_schedule_refuses_bad_input_and_stores_nothing(
    world: World, kw: dict[str, Any], match: str
) -> None:
    await world.schedule()  # something stored already, to prove it is left as it was
    await assert_refused(world, world.schedule(**kw), match)


async def test_a_peer_cannot_schedule(world: World) -> None:
    await assert_refused(
        world, world.schedule(actor=PEER), "Only facilitators and moderators", PermissionDeniedError
    )


async def test_a_start_in_a_spring_forward_gap_moves_forward_by_the_gap(world: World) -> None:
    world.clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    m = await world.schedule(start="2027-03-14 02:30", repeat="once")
    (occ,) = world.service.next_occurrences(m, 3)
    assert occ.local_start.replace(tzinfo=None) == datetime(2027, 3, 14, 3, 30)


# --- reading ----------------------------------------------------------------------------------


async def test_ids_never_cross_guilds(world: World) -> None:
    m = await world.schedule()
    with pytest.raises(NotFoundError):
        await world.service.get(OTHER_GUILD, m.id)
    with pytest.raises(NotFoundError):
        await world.service.resolve(OTHER_GUILD, str(m.id))
    await assert_refused(
        world,
        world.service.edit(OTHER_GUILD, m.id, MOD, MeetingEdit(title="Mine now")),
        "can't find that meeting",
        NotFoundError,
    )
    for call in (
        world.service.cancel(OTHER_GUILD, m.id, MOD, "2027-01-19"),
        world.service.pause(OTHER_GUILD, m.id, MOD, "2027-03-01"),
        world.service.resume(OTHER_GUILD, m.id, MOD),
        world.service.delete(OTHER_GUILD, m.id, MOD, delete_room=False),
        world.service.move(OTHER_GUILD, m.id, MOD, "2027-01-19", "2027-01-20 19:00"),
    ):
        await assert_refused(world, call, "can't find that meeting", NotFoundError)


async def test_store_get_many_reads_meetings_with_exceptions_and_facilitators(
    world: World,
) -> None:
    a = await world.schedule()
    b = await world.schedule(title="Second")
    await world.service.cancel(GUILD, a.id, FAC, "2027-01-19")
    store = world.service.store
    got = await store.get_many([b.id, a.id, a.id, 999_999])  # duplicates and a missing id
    assert sorted(got) == sorted([a.id, b.id])
    assert got[a.id] == await store.get(a.id)
    assert got[b.id] == await store.get(b.id)
    assert list(got[a.id].exceptions) == [date(2027, 1, 19)]
    assert got[a.id].facilitator_ids == frozenset({FAC.user_id})
    assert got[b.id].exceptions == {} and got[b.id].exceptions is not got[a.id].exceptions
    assert await store.get_many([]) == {}


async def test_resolve_by_id_or_exact_title(world: World) -> None:
    a = await world.schedule(title="Morning Light")
    b = await world.schedule(title="Evening Calm")
    assert (await world.service.resolve(GUILD, str(b.id))).id == b.id
    assert (await world.service.resolve(GUILD, "morning light")).id == a.id
    with pytest.raises(NotFoundError, match="can't find that meeting"):
        await world.service.resolve(GUILD, "Noon")
    await world.schedule(title="Morning Light")
    with pytest.raises(UserFacingError, match="Several meetings"):
        await world.service.resolve(GUILD, "Morning Light")


async def test_search_puts_prefix_matches_first(world: World) -> None:
    await world.schedule(title="Family Hope")
    await world.schedule(title="Hope Rising")
    await world.schedule(title="Calm")
    titles = [m.title for m in await world.service.search(GUILD, "hope")]
    assert titles == ["Hope Rising", "Family Hope"]
    assert await world.service.search(OTHER_GUILD, "") == []


async def test_upcoming_lists_occurrences_in_the_window_in_order(world: World) -> None:
    a = await world.schedule(title="B weekly")
    b = await world.schedule(title="A once", start="2027-01-08 09:00", repeat="once")
    await world.schedule(title="Far", start="2027-03-01 09:00", repeat="once")
    items = await world.service.upcoming(GUILD, 7)
    assert [(u.meeting.id, u.occurrence.key) for u in items] == [
        (b.id, date(2027, 1, 8)),
        (a.id, date(2027, 1, 12)),
    ]
    items = await world.service.upcoming(GUILD, 14)
    assert [u.occurrence.key for u in items if u.meeting.id == a.id] == [
        date(2027, 1, 12),
        date(2027, 1, 19),
    ]
    for bad in (0, 32):
        with pytest.raises(UserFacingError, match="from 1 to 31"):
            await world.service.upcoming(GUILD, bad)


async def test_listing_gives_every_meeting_outside_the_window_its_next_date(world: World) -> None:
    weekly = await world.schedule(title="Weekly")
    spring = await world.schedule(title="Spring", start="2027-03-01 09:00", repeat="once")
    monthly = await world.schedule(title="Monthly", start="2027-02-01 18:00", repeat="monthly")
    paused = await world.schedule(title="Paused", start="2027-01-11 18:00")
    await world.service.pause(GUILD, paused.id, FAC, "2027-02-15")
    skipped = await world.schedule(title="Skipped", start="2027-01-13 18:00")
    await world.service.cancel(GUILD, skipped.id, FAC, "2027-01-13")
    passed = await world.schedule(title="Passed", start="2027-01-07 13:00", repeat="once")

    listing = await world.service.listing(GUILD, 7)
    assert [u.meeting.id for u in listing.upcoming] == [passed.id, weekly.id]
    later = [(x.meeting.id, x.next.key if x.next else None) for x in listing.later]
    assert later == [
        (skipped.id, date(2027, 1, 20)),
        (monthly.id, date(2027, 2, 1)),
        (paused.id, date(2027, 2, 15)),
        (spring.id, date(2027, 3, 1)),
    ]
    assert [x.paused_until for x in listing.later] == [None, None, date(2027, 2, 15), None]

    world.clock.advance(timedelta(days=2))  # the one-time meeting has now met
    listing = await world.service.listing(GUILD, 31)
    assert {u.meeting.id for u in listing.upcoming} == {weekly.id, skipped.id, monthly.id}
    later = [(x.meeting.id, x.next.key if x.next else None) for x in listing.later]
    assert later == [
        (paused.id, date(2027, 2, 15)),
        (spring.id, date(2027, 3, 1)),
        (passed.id, None),  # no date ahead: still listed, last
    ]
    with pytest.raises(UserFacingError, match="from 1 to 31"):
        await world.service.listing(GUILD, 0)


# --- edit -------------------------------------------------------------------------------------


async def test_edit_changes_fields_and_reports_them(world: World) -> None:
    m = await world.schedule()
    result = await world.service.edit(
        GUILD,
        m.id,
        FAC,
        MeetingEdit(
            title="New name",
            duration=45,
            reminder_offsets="2h, 10m",
            opening_text="Welcome, everyone.",
            room_open_minutes=5,
            room_close_minutes=20,
            clear_chat=True,
            access="closed",
            kind="family",
        ),
    )
    u = result.meeting
    assert (u.title, u.duration_minutes, u.reminder_offsets) == ("New name", 45, (120, 10))
    assert (u.room_open_minutes, u.room_close_minutes, u.room_clear_chat) == (5, 20, True)
    assert (u.kind, u.access, u.opening_text) == (Kind.FAMILY, Access.CLOSED, "Welcome, everyone.")
    assert result.timing_changed
    assert world.events[-1]["change"] == "edited"
    assert world.events[-1]["detail"].startswith("fields:")
    assert "duration_minutes" in world.events[-1]["detail"]
    back = await world.service.edit(GUILD, m.id, FAC, MeetingEdit(reminder_offsets="default"))
    assert back.meeting.reminder_offsets is None


async def test_edit_permission_is_facilitators_of_that_meeting_or_moderators(world: World) -> None:
    m = await world.schedule()
    await world.schedule(actor=FAC2, title="Someone else's")
    await assert_refused(
        world,
        world.service.edit(GUILD, m.id, FAC2, MeetingEdit(title="Hijack")),
        "Only this meeting's facilitators or a moderator",
        PermissionDeniedError,
    )
    await assert_refused(
        world,
        world.service.edit(GUILD, m.id, PEER, MeetingEdit(title="Hijack")),
        "Only this meeting's facilitators",
        PermissionDeniedError,
    )
    for call in (
        world.service.cancel(GUILD, m.id, FAC2, "2027-01-19"),
        world.service.move(GUILD, m.id, FAC2, "2027-01-19", "2027-01-20 19:00"),
        world.service.pause(GUILD, m.id, FAC2, "2027-03-01"),
        world.service.delete(GUILD, m.id, FAC2, delete_room=True),
    ):
        await assert_refused(world, call, "Only this meeting's facilitators", PermissionDeniedError)
    assert (await world.service.edit(GUILD, m.id, MOD, MeetingEdit(title="Mod"))).meeting.title == (
        "Mod"
    )


BAD_EDITS: list[tuple[MeetingEdit, str]] = [
    (MeetingEdit(), "Nothing to change"),
    (MeetingEdit(title=""), "title cannot be empty"),
    (MeetingEdit(title="t" * 101), "limit is 100"),
    (MeetingEdit(description="d" * 1001), "limit is 1000"),
    (MeetingEdit(opening_text="o" * 1501), "limit is 1500"),
    (MeetingEdit(timezone="Atlantis/Central"), "not a time zone I know"),
    (MeetingEdit(start="tomorrow"), "YYYY-MM-DD HH:MM"),
    (MeetingEdit(start="2027-01-01 19:00"), "already passed"),
    (MeetingEdit(duration=3), "from 5 to 600"),
    (MeetingEdit(duration=900), "from 5 to 600"),
    (MeetingEdit(formats="speaker,,karaoke"), "`karaoke` is not a meeting format"),
    (MeetingEdit(repeat="yearly"), "not a repeat rule"),
    (MeetingEdit(kind="party"), "not a meeting kind"),
    (MeetingEdit(access="members"), "not a meeting access"),
    (MeetingEdit(reminder_offsets="soon"), "not a reminder offset"),
    (MeetingEdit(room_open_minutes=121), "from 0 to 120"),
    (MeetingEdit(room_close_minutes=-1), "from 0 to 240"),
    (MeetingEdit(title="Tuesday Night Hope"), "already the meeting's settings"),
    (MeetingEdit(add_facilitator=77), "must hold the facilitator role"),
    (MeetingEdit(add_facilitator=FAC.user_id, add_facilitator_eligible=True), "already a facil"),
    (MeetingEdit(remove_facilitator=77), "not a facilitator of this meeting"),
    (MeetingEdit(add_facilitator=5, remove_facilitator=5, add_facilitator_eligible=True), "same"),
    # One bad field spoils the whole edit: the good one is not stored either.
    (MeetingEdit(title="Fine title", duration=1), "from 5 to 600"),
]


@pytest.mark.parametrize(("edit", "match"), BAD_EDITS)
async def test_edit_refuses_bad_input_and_changes_nothing(
    world: World, edit: MeetingEdit, match: str
) -> None:
    m = await world.schedule()
    await assert_refused(world, world.service.edit(GUILD, m.id, FAC, edit), match)


async def test_facilitators_are_added_and_removed(world: World) -> None:
    m = await world.schedule()
    r = await world.service.edit(
        GUILD, m.id, FAC, MeetingEdit(add_facilitator=FAC2.user_id, add_facilitator_eligible=True)
    )
    assert r.meeting.facilitator_ids == {FAC.user_id, FAC2.user_id}
    assert r.changed == ("facilitators",) and not r.timing_changed
    # The new facilitator may now change the meeting.
    await world.service.edit(GUILD, m.id, FAC2, MeetingEdit(description="Hello"))
    r = await world.service.edit(GUILD, m.id, FAC2, MeetingEdit(remove_facilitator=FAC.user_id))
    assert r.meeting.facilitator_ids == {FAC2.user_id}


async def test_re_anchoring_drops_exceptions_that_are_no_longer_occurrences(world: World) -> None:
    m = await world.schedule()
    await world.service.cancel(GUILD, m.id, FAC, "2027-01-19")
    await world.service.cancel(GUILD, m.id, FAC, "2027-01-26")
    r = await world.service.edit(GUILD, m.id, FAC, MeetingEdit(start="2027-01-20 18:00"))
    assert r.meeting.exceptions == {}
    assert r.meeting.weekday == 3
    r = await world.service.edit(GUILD, m.id, FAC, MeetingEdit(duration=30))
    assert r.meeting.first_date == date(2027, 1, 20)


async def test_an_edit_that_leaves_no_future_occurrence_is_refused(world: World) -> None:
    m = await world.schedule(start="2027-01-08 19:00")
    world.clock.set(datetime(2027, 1, 20, tzinfo=UTC))
    await assert_refused(
        world,
        world.service.edit(GUILD, m.id, FAC, MeetingEdit(repeat="once")),
        "would never meet again",
    )
    r = await world.service.edit(
        GUILD, m.id, FAC, MeetingEdit(repeat="once", start="2027-02-01 19:00")
    )
    assert r.meeting.repeat is Repeat.ONCE


async def test_describe_repeat_for_each_rule_in_english_and_spanish(world: World) -> None:
    # Babel's words (bot.i18n_format), the zone named by its city, in either language.
    cases = {
        ("once", "2027-01-12 19:00"): (
            "Once, on Tuesday, January 12, 2027 at 19:00 (New York)",
            "Una sola vez, el martes, 12 de enero de 2027 a las 19:00 (Nueva York)",
        ),
        ("weekly", "2027-01-12 19:00"): (
            "Every Tuesday at 19:00 (New York)",
            "Cada martes a las 19:00 (Nueva York)",
        ),
        ("biweekly", "2027-01-12 19:00"): (
            "Every other Tuesday at 19:00 (New York)",
            "Un martes sí y otro no a las 19:00 (Nueva York)",
        ),
        ("monthly", "2027-01-12 19:00"): (
            "The second Tuesday of every month at 19:00 (New York)",
            "El segundo martes de cada mes a las 19:00 (Nueva York)",
        ),
        ("monthly", "2027-03-30 19:00"): (
            "The fifth Tuesday of every month (months without one are skipped) at 19:00 (New York)",
            "El quinto martes de cada mes (los meses que no lo tienen se saltan) a las 19:00 "
            "(Nueva York)",
        ),
        ("monthly-last", "2027-01-29 13:30"): (
            "The last Friday of every month at 13:30 (New York)",
            "El último viernes de cada mes a las 13:30 (Nueva York)",
        ),
    }
    for (repeat, start), (english, spanish) in cases.items():
        m = await world.schedule(repeat=repeat, start=start)
        assert describe_repeat(m) == english
        assert describe_repeat(m, "es") == spanish
        with use_locale("es-419"):
            assert describe_repeat(m) == spanish


async def test_changing_the_zone_keeps_the_wall_time(world: World) -> None:
    m = await world.schedule()
    r = await world.service.edit(GUILD, m.id, FAC, MeetingEdit(timezone="europe/london"))
    assert r.meeting.home_time == "19:00 Europe/London"


# --- cancel, move ------------------------------------------------------------------------------


async def test_cancel_and_restore_one_occurrence(world: World) -> None:
    m = await world.schedule()
    u, key = await world.service.cancel(GUILD, m.id, FAC, "2027-01-19")
    assert key == date(2027, 1, 19)
    assert [o.key for o in world.service.next_occurrences(u, 2)] == [
        date(2027, 1, 12),
        date(2027, 1, 26),
    ]
    assert world.events[-1]["change"] == "cancelled"
    assert world.events[-1]["detail"] == "occurrence:2027-01-19"
    u, _ = await world.service.cancel(GUILD, m.id, FAC, "2027-01-19", restore=True)
    assert u.exceptions == {}
    assert world.events[-1] == {
        "meeting_id": m.id,
        "guild_id": GUILD,
        "change": "edited",
        "detail": "restored:2027-01-19",
    }


async def test_cancel_refusals(world: World) -> None:
    m = await world.schedule()
    await world.service.cancel(GUILD, m.id, FAC, "2027-01-26")
    svc = world.service
    await assert_refused(world, svc.cancel(GUILD, m.id, FAC, "2027-01-13"), "not a date this")
    await assert_refused(world, svc.cancel(GUILD, m.id, FAC, "2027-01-05"), "not a date this")
    await assert_refused(world, svc.cancel(GUILD, m.id, FAC, "19/01/2027"), "YYYY-MM-DD")
    await assert_refused(world, svc.cancel(GUILD, m.id, FAC, "2027-01-26"), "already cancelled")
    await assert_refused(
        world, svc.cancel(GUILD, m.id, FAC, "2027-02-02", restore=True), "nothing to restore"
    )
    world.clock.set(datetime(2027, 1, 13, 0, 30, tzinfo=UTC))  # 19:30 New York on the 12th
    await assert_refused(world, svc.cancel(GUILD, m.id, FAC, "2027-01-12"), "already started")


async def test_move_one_occurrence(world: World) -> None:
    m = await world.schedule()
    u, occ = await world.service.move(GUILD, m.id, FAC, "2027-01-19", "2027-01-20 20:00")
    assert occ.key == date(2027, 1, 19) and occ.moved
    assert occ.local_start.replace(tzinfo=None) == datetime(2027, 1, 20, 20, 0)
    assert world.events[-1]["change"] == "moved"
    assert world.events[-1]["detail"] == "occurrence:2027-01-19 to:2027-01-20 20:00"
    # The moved occurrence can be named by its new date.
    u, key = await world.service.cancel(GUILD, m.id, FAC, "2027-01-20")
    assert key == date(2027, 1, 19) and u.exceptions[key].cancelled


async def test_move_refusals(world: World) -> None:
    m = await world.schedule()
    svc = world.service
    await assert_refused(
        world, svc.move(GUILD, m.id, FAC, "2027-01-19", "2027-03-01 19:00"), "at most 30 days"
    )
    await assert_refused(
        world, svc.move(GUILD, m.id, FAC, "2027-01-19", "2027-01-19 19:00"), "already when"
    )
    await assert_refused(
        world, svc.move(GUILD, m.id, FAC, "2027-01-12", "2027-01-07 08:00"), "already passed"
    )
    await assert_refused(
        world, svc.move(GUILD, m.id, FAC, "2027-01-18", "2027-01-20 19:00"), "not a date this"
    )
    await assert_refused(
        world, svc.move(GUILD, m.id, FAC, "2027-01-19", "next week"), "YYYY-MM-DD HH:MM"
    )


# --- pause, resume, delete -------------------------------------------------------------------


async def test_pause_and_resume(world: World) -> None:
    m = await world.schedule()
    u = await world.service.pause(GUILD, m.id, FAC, "2027-02-01")
    assert [o.key for o in world.service.next_occurrences(u, 1)] == [date(2027, 2, 2)]
    assert world.events[-1]["change"] == "paused"
    assert world.events[-1]["detail"] == "until:2027-02-01"
    await assert_refused(
        world, world.service.cancel(GUILD, m.id, FAC, "2027-01-19"), "paused until 2027-02-01"
    )
    u = await world.service.resume(GUILD, m.id, FAC)
    assert u.paused_until is None
    assert world.events[-1]["change"] == "resumed"


async def test_pause_refusals(world: World) -> None:
    m = await world.schedule()
    once = await world.schedule(title="Once", repeat="once")
    svc = world.service
    await assert_refused(world, svc.pause(GUILD, m.id, FAC, "2027-01-07"), "after today")
    await assert_refused(world, svc.pause(GUILD, m.id, FAC, "2027-13-01"), "YYYY-MM-DD")
    await assert_refused(world, svc.pause(GUILD, m.id, FAC, "2030-01-01"), "at most two years")
    await assert_refused(world, svc.pause(GUILD, once.id, FAC, "2027-02-01"), "one-time meeting")
    await assert_refused(world, svc.resume(GUILD, m.id, FAC), "not paused")
    await svc.pause(GUILD, m.id, FAC, "2027-02-01")
    await assert_refused(world, svc.pause(GUILD, m.id, FAC, "2027-02-01"), "already paused")


async def test_delete_removes_the_meeting_and_its_event_roll_job(world: World) -> None:
    m = await world.schedule()
    keep = await world.schedule(title="Stays")
    await world.service.cancel(GUILD, m.id, FAC, "2027-01-19")
    async with world.db.transaction() as tx:
        await world.jobs.add(
            tx,
            [
                NewJob(EVENT_ROLL, GUILD, NOW + timedelta(days=1), meeting_id=m.id),
                NewJob(EVENT_ROLL, GUILD, NOW + timedelta(days=1), meeting_id=keep.id),
                NewJob("reminder", GUILD, NOW + timedelta(days=1), meeting_id=m.id, slot="a"),
            ],
        )
    gone = await world.service.delete(GUILD, m.id, FAC, delete_room=True)
    assert gone.id == m.id
    assert await world.db.fetchval("SELECT count(*) FROM meetings") == 1
    assert await world.db.fetchval("SELECT count(*) FROM meeting_exceptions") == 0
    assert [j.meeting_id for j in await world.jobs.pending(kind=EVENT_ROLL)] == [keep.id]
    # Another feature's job is left for that feature, which drops it on "deleted".
    assert [j.meeting_id for j in await world.jobs.pending(kind="reminder")] == [m.id]
    assert world.events[-1] == {
        "meeting_id": m.id,
        "guild_id": GUILD,
        "change": "deleted",
        "detail": "room:delete",
    }
    await world.service.delete(GUILD, keep.id, MOD, delete_room=False)
    assert world.events[-1]["detail"] == "room:keep"


async def test_record_native_event_arms_one_roll_job(world: World) -> None:
    m = await world.schedule()
    occ = world.service.next_occurrences(m, 2)
    await world.service.record_native_event(m.id, GUILD, 555, occ[0])
    await world.service.record_native_event(m.id, GUILD, 555, occ[1])
    (job,) = await world.jobs.pending(kind=EVENT_ROLL)
    assert job.fire_at == occ[1].end and job.occurrence == occ[1].key.isoformat()
    assert (await world.service.get(GUILD, m.id)).native_event_id == 555
    await world.service.record_native_event(m.id, GUILD, None, None)
    assert await world.jobs.pending(kind=EVENT_ROLL) == []
    await world.service.delete(GUILD, m.id, FAC, delete_room=False)
    assert not await world.service.record_native_event(m.id, GUILD, 556, occ[0])
    assert await world.jobs.pending(kind=EVENT_ROLL) == []


@dataclass
class FakeEvents:
    """NativeEvents without Discord: what was shown and removed, new ids from 900."""

    shown: list[tuple[int, datetime]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    made: int = 0

    def knows_guild(self, guild_id: int) -> bool:
        return guild_id == GUILD

    async def show(self, meeting: Meeting, occurrence: Occurrence) -> int | None:
        self.shown.append((meeting.id, occurrence.start))
        if meeting.native_event_id is not None:
            return meeting.native_event_id
        self.made += 1
        return 899 + self.made

    async def remove(self, guild_id: int, event_id: int) -> None:
        self.removed.append(event_id)


async def test_the_event_mirror_follows_its_plan_through_the_port(world: World) -> None:
    port = FakeEvents()
    world.service.native_events = port
    m = await world.schedule()
    plan = await world.service.native_event_plan(m.id)
    assert plan is not None and plan.occurrence is None  # the guild has native_events off
    assert port.shown == [] and await world.jobs.pending(kind=EVENT_ROLL) == []
    await world.guilds.update(GUILD, native_events=True)
    await world.jobs.reconcile()
    first, second = world.service.next_occurrences(m, 2)
    assert port.shown == [(m.id, first.start)]
    assert (await world.service.get(GUILD, m.id)).native_event_id == 900
    (roll,) = await world.jobs.pending(kind=EVENT_ROLL)
    assert roll.fire_at == first.end
    # The occurrence ends: its roll job moves the same event on to the next one.
    world.clock.set(first.end + timedelta(seconds=1))
    await world.jobs.run_due()
    await world.jobs.drain()
    assert port.shown[-1] == (m.id, second.start) and port.made == 1
    (roll,) = await world.jobs.pending(kind=EVENT_ROLL)
    assert roll.fire_at == second.end
    # Turned off: the reconciler takes the event down and forgets it.
    await world.guilds.update(GUILD, native_events=False)
    await world.jobs.reconcile()
    assert port.removed == [900]
    assert (await world.service.get(GUILD, m.id)).native_event_id is None
    assert await world.jobs.pending(kind=EVENT_ROLL) == []
    # Without the port (cogs.meetings not loaded) a change mirrors nothing.
    world.service.native_events = None
    await world.guilds.update(GUILD, native_events=True)
    await world.service.edit(GUILD, m.id, FAC, MeetingEdit(title="Quiet"))
    assert len(port.shown) == 2 and await world.jobs.pending(kind=EVENT_ROLL) == []


# --- pure helpers ------------------------------------------------------------------------------


def test_formats_accept_keys_labels_and_codes() -> None:
    assert parse_formats("Discussion, BE, candlelight, MED, q and a, other") == (
        "discussion",
        "newcomer",
        "candlelight",
        "meditation",
        "qa",
        "other",
    )
    assert parse_formats("speaker, Speaker") == ("speaker",)


def test_format_suggestions_complete_the_last_item() -> None:
    values = [v for v, _ in format_suggestions("Speaker, disc")]
    assert values == ["Speaker, Discussion"]
    all_first = [v for v, _ in format_suggestions("")]
    assert all_first[0] == "Speaker" and len(all_first) == 9
    assert "Speaker, Speaker" not in [v for v, _ in format_suggestions("speaker, ")]


async def test_labels_mark_family_and_closed_meetings(world: World) -> None:
    m = await world.schedule(kind="family", access="closed")
    assert "🔒 Closed" in access_label(m) and "👪 Family" in access_label(m)
    o = await world.schedule(kind="na", access="open", repeat="monthly-last")
    assert access_label(o).startswith("🟢 Open")
    assert describe_repeat(o) == "The last Tuesday of every month at 19:00 (New York)"
    with use_locale("es"):
        assert access_label(m) == (
            "🔒 Cerrada · 👪 Familias (rol de familia: para quienes quieren a alguien que consume)"
        )
        assert access_label(o) == "🟢 Abierta · Estilo NA"
        assert home_time_words(o) == "19:00 (Nueva York)"
    assert home_time_words(o) == "19:00 (New York)"


async def test_errors_render_in_the_readers_language(world: World) -> None:
    m = await world.schedule()
    with pytest.raises(UserFacingError) as caught:
        await world.service.cancel(GUILD, m.id, FAC, "2027-01-20")
    assert caught.value.text.render("en") == (
        "`2027-01-20` is not a date this meeting meets (Every Tuesday at 19:00 (New York)). "
        "Its next dates are `2027-01-12`, `2027-01-19`, `2027-01-26`."
    )
    with use_locale("es"):
        with pytest.raises(UserFacingError) as caught:
            await world.service.cancel(GUILD, m.id, FAC, "2027-01-20")
        assert str(caught.value) == (
            "`2027-01-20` no es una de las fechas de esta reunión (Cada martes a las 19:00 "
            "(Nueva York)). Sus próximas fechas son `2027-01-12`, `2027-01-19`, `2027-01-26`."
        )
    with pytest.raises(UserFacingError) as caught:
        await world.service.listing(GUILD, 40)
    assert caught.value.text.render("es") == "`days` va de 1 a 31; escribiste 40."
    assert str(caught.value) == "`days` goes from 1 to 31; you gave 40."


def test_formats_are_parsed_in_either_language_and_suggested_in_the_readers() -> None:
    assert parse_formats("Con orador, discusion, ESTUDIO DE LOS PASOS") == (
        "speaker",
        "discussion",
        "step-study",
    )
    with use_locale("es"):
        assert [v for v, _ in format_suggestions("Con orador, disc")] == ["Con orador, Discusión"]
    assert [v for v, _ in format_suggestions("speaker, disc")] == ["Speaker, Discussion"]


async def test_visibility_by_role(world: World) -> None:
    fam = await world.schedule(kind="family", access="closed")
    na = await world.schedule(kind="na", access="closed")
    opn = await world.schedule(kind="family", access="open")
    assert visible_to(fam, member=False, family=True, staff=False)
    assert not visible_to(fam, member=True, family=False, staff=False)
    assert visible_to(na, member=True, family=False, staff=False)
    assert not visible_to(na, member=False, family=True, staff=False)
    assert visible_to(opn, member=False, family=False, staff=False)
    assert visible_to(na, member=False, family=False, staff=True)
