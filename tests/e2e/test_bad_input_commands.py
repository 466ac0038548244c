"""Bad input through every command option (issue 10, item 2), end to end through the fake Discord.

Every free-text or number option gets a curated table of hostile values plus a bounded hypothesis
sample. Each answer must be an ephemeral, specific message (or a legitimate success): never an
error ID (that means an unexpected exception), never a traceback, never silence (the harness fails
on "The application did not respond"). A refusal leaves every table exactly as it was. Whatever
the bot posted must fit Discord's embed limits and ping nobody; long content is cut or paginated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import FakeClock
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.services import resources
from bot.services.meetings import Actor
from cogs._kit import escape
from cogs.resources import NO_ADVICE
from tests import hostile
from tests.e2e.harness import Community, HavenRunner, moderators_channel
from tests.fakediscord import Channel, FakeDiscord, Member, Message
from tests.fakediscord.interactions import InteractionResult, InvocationError
from tests.hostile import NASTY_TEXT, NUMBERS, SPICED, assert_specific_message
from tests.support.clock import haven_clock_at
from tests.support.community import configure_guild
from tests.support.meetings import make_meeting

# Thursday 2027-01-07 12:00 in New York; the meeting below is on Tuesdays at 19:00 there.
NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)
OPENS = datetime(2027, 1, 12, 23, 51, tzinfo=UTC)  # its room opens 10 minutes before
ERROR_ID = "give this error ID"
#: What Discord would render as a mention: @everyone, @here, or a snowflake-sized user/role id.
LIVE_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d{17,20}>")

#: Values every text option must survive, whatever it means.
CURATED: list[str] = [
    "",
    " ",
    "\u200b",
    "\u202eevil",
    "a\u200eb",
    "x\x00y",
    "line\nbreak",
    "\\n",
    "**bold** __u__ ~~s~~ `c` ||sp|| > q",
    "# Heading",
    "@everyone",
    "@here",
    "<@&1>",
    "<@!1>",
    "<#1>",
    "javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "http://example.org",
    "https://exämple.org/" + "a" * 600,
    "²",
    "١٢",
    "9" * 30,
    "-1",
    "0",
    "x" * 4000,
    "é" * 4000,
    "@everyone " * 400,
    "🙂" * 1500,
]
NUMBERS_CURATED = [-(2**53) + 1, -1, 0, 1, 4, 5, 31, 32, 600, 601, 2**31, 2**53 - 1]

HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # a bounded, repeatable sample: the curated tables carry the known cases
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


haven_clock = haven_clock_at(NOW)
T = TypeVar("T")

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends


@dataclass
class Bench:
    """The guild, the running bot and one weekly meeting with a room, to aim options at."""

    server: FakeDiscord
    c: Community
    haven: HavenRunner
    meeting_id: int
    mods_channel: Channel
    caplog: pytest.LogCaptureFixture
    stride: int = 1  # PostgreSQL: every third value of the large tables (see `sample`)
    judged: int = 0  # answers checked
    unsent: int = 0  # values Discord's client would refuse to send (outside an option's limits)
    _snapshot_sql: str | None = None

    _samples: int = 0

    @property
    def bot(self) -> HavenBot:
        return self.haven.running

    def sample(self, values: Iterable[T]) -> list[T]:
        """All of a large table's values on SQLite; on PostgreSQL every `stride`-th, from an
        offset that moves on with each table, so each value still meets the store on some option.

        Whether a value is refused is decided before the store; what PostgreSQL must show is
        that a refusal leaves its rows as they were and a success writes, which a third of the
        values shows for every option at a third of the time (the five table tests: 50 s -> 16 s
        on PostgreSQL, measured on a shared 2-core box)."""
        self._samples += 1
        return list(values)[self._samples % self.stride :: self.stride]

    async def settle(self) -> None:
        """Let work a previous success started finish: what its handler does after answering
        (e.g. posting an edited card for review, then storing where) and jobs due now (e.g.
        closing a paused room). A snapshot taken earlier would race those writes."""
        await self.haven.idle()
        await self.bot.services.jobs.run_due()
        await self.bot.services.jobs.drain()

    async def snapshot(self) -> dict[str, str]:
        """Every row of every table, order-independent, read in one query (this runs often)."""
        db = self.bot.services.db
        if self._snapshot_sql is None:
            parts = []
            postgres = db.dialect == "postgres"
            joined = (
                "string_agg(r, chr(10) ORDER BY r)" if postgres else "group_concat(r, char(10))"
            )
            for name in await db.tables():
                if postgres:
                    row = "CAST(t AS TEXT)"  # the row's own text form: every column, quoted
                else:
                    row = " || ',' || ".join(f'quote("{c}")' for c in await db.columns(name))
                parts.append(
                    f"SELECT '{name}', (SELECT {joined} FROM "  # noqa: S608
                    f'(SELECT {row} AS r FROM "{name}" AS t ORDER BY r) AS s)'
                )
            self._snapshot_sql = " UNION ALL ".join(parts)
        return {r[0]: r[1] or "" for r in await db.fetchall(self._snapshot_sql)}

    async def drive(
        self,
        who: Member,
        command: str,
        ok: tuple[str, ...],
        *,
        _channel: Channel | None = None,
        **options: Any,
    ) -> InteractionResult | None:
        """Invoke; a success must say one of `ok`, anything else is a specific, harmless refusal."""
        await self.settle()
        before = await self.snapshot()
        try:
            res = await self.server.invoke(self.c.guild, who, command, _channel=_channel, **options)
        except InvocationError:
            self.unsent += (
                1  # Discord's own client would not send this (outside the option's range)
            )
            return None
        return await self.judge(res, command, ok, before, options)

    async def judge(
        self,
        res: InteractionResult,
        what: str,
        ok: tuple[str, ...],
        before: dict[str, str],
        typed: dict[str, Any],
    ) -> InteractionResult:
        """The checks every answer passes."""
        self.judged += 1
        answer = [m for m in [res.message, *res.followups] if m is not None]
        text = res.all_text
        where = f"{what} {short(typed)}"
        if res.modal is not None:
            return res  # the command opened its form; what is typed there is judged on submit
        assert answer, f"no answer to {where}"
        assert ERROR_ID not in text and "Traceback" not in text, f"{where}: {text[:300]}"
        if any(marker in text for marker in ok):
            return res
        assert all(m.ephemeral for m in answer), f"a public refusal to {where}: {text[:200]}"
        assert_specific_message("\n".join(m.content for m in answer), *typed.values())
        await self.haven.idle()  # nor afterwards: a refused handler may not write on
        assert await self.snapshot() == before, f"a refusal of {where} changed stored data"
        return res

    def assert_sane_output(self) -> None:
        """Everything the bot posted fits Discord's limits, pings nobody, and no error was logged."""
        bot_id = self.server.state.bot_user.id
        sent = [m for m in self.server.state.messages.values() if m.author_id == bot_id]
        sent += [m for m in self.server.state.messages.values() if m.webhook_id is not None]
        for msg in sent:
            assert_embeds_fit(msg)
            assert not msg.mention_everyone, msg.content[:200]
            assert msg.mention_roles == [], msg.content[:200]
            assert msg.mentions == [], msg.content[:200]
            # Sent explicitly on every message that carries text (absent would mean "ping all").
            if msg.content or msg.embeds:
                assert msg.allowed_mentions is not None, msg.content[:100]
                assert msg.allowed_mentions.get("parse") == [], msg.allowed_mentions
                assert not msg.allowed_mentions.get("roles") and not msg.allowed_mentions.get(
                    "users"
                )
        # caplog.records holds only the current phase (teardown here): read the test's own.
        records = [*self.caplog.get_records("setup"), *self.caplog.get_records("call")]
        unexpected = [r for r in records if r.levelno >= logging.ERROR and r.name.startswith("bot")]
        assert not unexpected, [r.getMessage()[:200] for r in unexpected]


def short(values: dict[str, Any]) -> str:
    """Options for a failure message, each cut short."""
    return ", ".join(f"{k}={str(v)[:40]!r}" for k, v in values.items())


def assert_embeds_fit(msg: Message) -> None:
    """Discord's embed limits: title 256, description 4096, 25 fields of 256/1024, footer 2048,
    author 256, 6000 in all, 10 embeds; content 2000."""
    assert len(msg.content) <= 2000
    assert len(msg.embeds) <= 10
    total = 0
    for e in msg.embeds:
        title, desc = e.get("title") or "", e.get("description") or ""
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        fields = e.get("fields") or []
        assert len(title) <= 256 and len(desc) <= 4096 and len(footer) <= 2048
        assert len(author) <= 256 and len(fields) <= 25
        for f in fields:
            assert 1 <= len(f["name"]) <= 256 and 1 <= len(f["value"]) <= 1024
        total += len(title) + len(desc) + len(footer) + len(author)
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
    assert total <= 6000


async def _meeting(bot: HavenBot, c: Community, title: str, **kw: Any) -> int:
    """A weekly Tuesday 19:00 New York meeting, stored directly (fast for many meetings)."""
    opening = kw.pop("opening_text", None)
    return await make_meeting(
        bot.services,
        c.guild.id,
        title=title,
        first_date=date(2027, 1, 12),
        facilitator_id=c.facilitator.user.id,
        update=None if opening is None else {"opening_text": opening},
        **kw,
    )


@pytest.fixture
async def bench(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Bench]:
    """Roles and channels set up, one meeting with a room; checks every post at the end."""
    caplog.set_level(logging.ERROR)  # unexpected errors are what the checks look for
    c = community
    mods = moderators_channel(discord_server, c)
    await discord_server.flush()
    bot = haven.running
    await configure_guild(
        bot.services,
        c,
        announce_channel_id=c.announcements.id,
        moderators_channel_id=mods.id,
        timezone="America/New_York",
    )
    meeting_id = await _meeting(bot, c, "Tuesday Hope")
    created = await discord_server.invoke(
        c.guild, c.facilitator, "room create", meeting=str(meeting_id)
    )
    assert "Created the room" in created.all_text, created.all_text
    stride = 3 if haven.running.services.db.dialect == "postgres" else 1
    b = Bench(discord_server, c, haven, meeting_id, mods, caplog, stride=stride)
    yield b
    b.assert_sane_output()


# --- curated tables: every text and number option -----------------------------------------------

SCHEDULE_OK = ("Scheduled.",)
EDIT_OK = ("Saved:", "Moved the meeting")


async def test_meeting_schedule_options(bench: Bench) -> None:
    b, c = bench, bench.c
    base = {"title": "Hope", "start": "2027-01-12 19:00", "repeat": "weekly", "kind": "na"}
    for option in ("title", "start", "timezone", "format", "description"):
        for value in b.sample([*CURATED, *hostile.TIMES, *hostile.ZONES[:8]]):
            await b.drive(c.facilitator, "meeting schedule", SCHEDULE_OK, **{**base, option: value})
    for value in b.sample(NUMBERS_CURATED):
        await b.drive(c.facilitator, "meeting schedule", SCHEDULE_OK, **{**base, "duration": value})


async def test_meeting_edit_options(bench: Bench) -> None:
    b, c = bench, bench.c
    meeting = str(b.meeting_id)
    texts = ("title", "start", "timezone", "format", "description", "opening_text")
    for option in (*texts, "reminder_offsets", "occurrence"):
        for value in b.sample([*CURATED, *hostile.TIMES[:8], "24h,15m", "0m", "15d", "default"]):
            await b.drive(
                c.facilitator, "meeting edit", EDIT_OK, meeting=meeting, **{option: value}
            )
    for value in b.sample([*CURATED, *hostile.TIMES]):
        await b.drive(
            c.facilitator,
            "meeting edit",
            EDIT_OK,
            meeting=meeting,
            occurrence="2027-01-19",
            move_to=value,
        )
    for option in ("duration", "room_open_minutes", "room_close_minutes"):
        for number in b.sample(NUMBERS_CURATED):
            await b.drive(
                c.facilitator, "meeting edit", EDIT_OK, meeting=meeting, **{option: number}
            )


async def test_meeting_valued_options(bench: Bench) -> None:
    """Every `meeting:` option takes free text (autocomplete only suggests): ids, titles, junk."""
    b, c = bench, bench.c
    other = str(b.meeting_id + 1000)
    values = [*CURATED, other, "tuesday hope", "Tuesday Hope "]
    commands = [
        ("meeting info", c.peer, ("Meeting #",)),
        ("meeting resume", c.facilitator, ("Resumed.",)),
        ("meeting delete", c.facilitator, ("cannot be undone",)),
        ("remind me", c.peer, ("You'll get DM reminders",)),
        ("remind stop", c.peer, ("Done: no more DM reminders",)),
        ("attendance counts", c.facilitator, ("Attendance:",)),
        ("room open", c.facilitator, ("Opened the room",)),
        ("room lock", c.facilitator, ("Locked:",)),
        ("room create", c.facilitator, ("Created the room",)),
    ]
    for command, who, ok in commands:
        for value in b.sample(values):
            await b.drive(who, command, ok, meeting=value)
    for value in b.sample(
        [
            *CURATED,
            *hostile.TIMES[:6],
            "2027-01-19",
            "2027-1-19",
            "9999-12-31",
            "0001-01-01",
        ]
    ):
        await b.drive(
            c.facilitator,
            "meeting cancel",
            ("Cancelled the meeting",),
            meeting=str(b.meeting_id),
            date=value,
        )
        await b.drive(
            c.facilitator,
            "meeting pause",
            ("Paused until",),
            meeting=str(b.meeting_id),
            until=value,
        )
    for number in b.sample(NUMBERS_CURATED):
        await b.drive(c.peer, "meeting list", ("Meetings in the next",), days=number)
    for number in (0, 1, 21600):
        await b.drive(
            c.facilitator,
            "room slowmode",
            ("Slowmode is now", "turned off", "Slowmode is off"),
            seconds=number,
            meeting="Tuesday Hope",
        )


async def test_setup_defaults_options(bench: Bench) -> None:
    b, c = bench, bench.c
    for option in ("timezone", "region", "reminder_offsets"):
        for value in [*CURATED, *hostile.ZONES, "24h,15m", "1m,2m,3m,4m,5m,6m", "uk", "us"]:
            await b.drive(c.moderator, "setup defaults", ("Saved.", "already"), **{option: value})
    for option in ("room_open_minutes", "room_close_minutes"):
        for number in NUMBERS_CURATED:
            await b.drive(c.moderator, "setup defaults", ("Saved.", "already"), **{option: number})


async def test_attendance_and_moderator_line_text(bench: Bench) -> None:
    b, c = bench, bench.c
    role = f"<@&{c.moderators_role.id}>"
    clock = b.bot.services.clock
    assert isinstance(clock, FakeClock)
    for value in [*CURATED, f"{role} @everyone **help**"]:
        await b.drive(c.peer, "attendance proof", ("Keep this slip",), name=value)
        await b.drive(c.peer, "attendance verify", ("Genuine",), code=value)
        await b.drive(c.peer, "attendance verify", ("Genuine",), code="HVN1-" + value)
        # Under the line's pace limit (6 messages in 10 minutes), so each value is relayed.
        clock.advance(timedelta(minutes=2))
        await b.drive(c.peer, "moderators message", ("Sent to the moderators",), text=value)
    thread = next(
        ch for ch in b.server.state.channels.values() if ch.parent_id == b.mods_channel.id
    )
    for value in [*CURATED, f"{role} @here __ok__"]:
        await b.drive(c.moderator, "moderators reply", ("Delivered",), _channel=thread, text=value)
    relayed = b.server.messages_in(thread) + b.server.dms_to(c.peer)
    assert any("\\*\\*help\\*\\*" in m.content for m in relayed)  # literal, not bold
    for msg in relayed:
        assert not LIVE_MENTION.search(msg.content), msg.content[:200]


async def test_share_text_in_an_open_room(bench: Bench) -> None:
    b, c = bench, bench.c
    clock = b.bot.services.clock
    assert isinstance(clock, FakeClock)
    clock.set(OPENS)
    await b.bot.services.jobs.run_due()
    await b.bot.services.jobs.drain()
    link = await b.bot.services.rooms.link(b.meeting_id)
    assert link is not None
    room = b.server.state.channels[link.text_channel_id]
    for value in [*CURATED, "0http://evil.example/x", "A0://HTTP://evil.example"]:
        # Past the one-share-per-30-seconds limit, so each value reaches the text checks.
        clock.advance(timedelta(seconds=31))
        await b.drive(c.peer, "share", ("Shared as",), _channel=room, text=value)
    for post in (m for m in b.server.messages_in(room) if m.webhook_id is not None):
        assert "http://" not in post.content.lower() and "https://" not in post.content.lower()
        assert "@everyone" not in post.content and "@here" not in post.content


async def test_resource_options_and_forms(bench: Bench) -> None:
    b, c = bench, bench.c
    for command in ("resource show", "resource share", "resource enable", "resource verify"):
        who = c.moderator if command in ("resource enable", "resource verify") else c.peer
        for value in b.sample([*CURATED, "g-1", "g-²", "g-" + "9" * 30, "fel-na-meetings"]):
            await b.drive(who, command, ("Turned on", "Marked `", NO_ADVICE), card=value)
    for value in b.sample([*CURATED, "2027-01-07", "2027-01-08", "2027-02-30"]):
        await b.drive(c.moderator, "resource add", (), region="US", verified_on=value)
    fields = {
        "title": "Riverside naloxone",
        "summary": "Free naloxone kits at the library desk.",
        "link": "https://riverside.example.org/naloxone",
        "contact": "555-0100",
        "region_tags": "US: naloxone",
    }
    for field in fields:
        for value in b.sample([*CURATED, *hostile.URLS]):
            await suggest(b, {**fields, field: value})


async def test_resource_moderator_forms(bench: Bench) -> None:
    """The add, edit and approve forms: every field a moderator types."""
    b, c = bench, bench.c
    lib = b.bot.services.resources
    good = {
        "title": "Riverside naloxone",
        "summary": "Free naloxone kits at the library desk.",
        "contacts": "phone: 555-0100 | Front desk",
        "source": "https://riverside.example.org/naloxone",
        "tags": "naloxone, overdose",
    }
    values = [*CURATED, *hostile.URLS, "phone: <@&1>", "url: javascript:alert(1)", "fax: 1"]
    for field in good:
        for value in b.sample(values):
            await submit_form(b, "resource add", {"region": "US"}, {**good, field: value})
    added = await lib.add(
        c.guild.id,
        c.moderator.user.id,
        resources.Draft(good["title"], good["summary"], good["source"], tags="naloxone"),
        region="US",
    )
    for field in good:
        for value in b.sample(values[::3]):
            await submit_form(b, "resource edit", {"card": added.id}, {**good, field: value})
    for i, value in enumerate(b.sample([*CURATED, *hostile.URLS, *hostile.TIMES[:6]])):
        async with b.bot.services.db.transaction() as tx:  # one card waiting: its buttons show
            await tx.execute("DELETE FROM resource_cards WHERE status = 'pending'")
        draft = resources.Draft(
            good["title"], good["summary"], good["source"], region="US naloxone"
        )
        pending = await lib.suggest(c.guild.id, 5000 + i, draft)
        listed = await b.server.invoke(c.guild, c.moderator, "resource review")
        approve = f"haven:res:approve:{pending.id}:{pending.revision}"
        for field in ("source", "verified_on"):
            opened = await b.server.click(listed, approve, c.moderator)
            if opened.modal is None:
                break  # approved by the previous field's value
            await b.settle()
            before = await b.snapshot()
            try:
                res = await b.server.submit_modal(opened, c.moderator, {field: value})
            except InvocationError:
                b.unsent += 1  # longer than the form allows: Discord's client would not send it
                continue
            await b.judge(res, "resource approve", ("Approved `",), before, {field: value})


async def submit_form(
    b: Bench, command: str, options: dict[str, Any], fields: dict[str, str]
) -> None:
    """Open a command's form and submit it (Discord enforces each field's max_length)."""
    opened = await b.server.invoke(b.c.guild, b.c.moderator, command, **options)
    assert opened.modal is not None, opened.all_text
    await b.settle()
    before = await b.snapshot()
    try:
        res = await b.server.submit_modal(opened, b.c.moderator, fields)
    except InvocationError:
        b.unsent += 1
        return
    await b.judge(res, command, ("Added `", "Saved. `"), before, fields)


async def suggest(b: Bench, fields: dict[str, str]) -> None:
    """Open /resource suggest and submit the form (Discord enforces each field's max_length)."""
    opened = await b.server.invoke(b.c.guild, b.c.family, "resource suggest")
    assert opened.modal is not None
    await b.settle()
    before = await b.snapshot()
    try:
        res = await b.server.submit_modal(opened, b.c.family, fields)
    except InvocationError:
        b.unsent += 1
        return
    ok = ("Thank you",)
    await b.judge(res, "resource suggest", ok, before, fields)
    if ok[0] in res.all_text:  # keep the per-person queue limit out of the way
        async with b.bot.services.db.transaction() as tx:
            await tx.execute("DELETE FROM resource_cards")


# --- a bounded hypothesis sample over the same options --------------------------------------------

OPTION_VALUES = st.one_of(
    st.tuples(st.just("title"), st.one_of(NASTY_TEXT, SPICED)),
    st.tuples(st.just("start"), hostile.times()),
    st.tuples(st.just("timezone"), hostile.zones()),
    st.tuples(st.just("format"), NASTY_TEXT),
    st.tuples(st.just("description"), st.one_of(NASTY_TEXT, SPICED)),
    st.tuples(st.just("opening_text"), st.one_of(NASTY_TEXT, SPICED)),
    st.tuples(st.just("reminder_offsets"), hostile.offsets()),
    st.tuples(st.just("duration"), NUMBERS),
    st.tuples(st.just("room_open_minutes"), NUMBERS),
)


@HYPOTHESIS
@given(option=OPTION_VALUES)
async def test_meeting_edit_hypothesis(bench: Bench, option: tuple[str, Any]) -> None:
    name, value = option
    await bench.drive(
        bench.c.facilitator, "meeting edit", EDIT_OK, meeting=str(bench.meeting_id), **{name: value}
    )


@HYPOTHESIS
@given(
    meeting=NASTY_TEXT,
    day=hostile.dates(),
    text=st.one_of(NASTY_TEXT, SPICED),
    zone=hostile.zones(),
    offsets=hostile.offsets(),
)
async def test_other_options_hypothesis(
    bench: Bench, meeting: str, day: str, text: str, zone: str, offsets: str
) -> None:
    b, c = bench, bench.c
    await b.drive(c.peer, "meeting info", ("Meeting #",), meeting=meeting)
    await b.drive(
        c.facilitator, "meeting pause", ("Paused until",), meeting=str(b.meeting_id), until=day
    )
    await b.drive(c.peer, "attendance verify", ("Genuine",), code=text)
    await b.drive(c.peer, "moderators message", ("Sent to the moderators",), text=text)
    await b.drive(c.peer, "resource show", (NO_ADVICE,), card=text)
    await b.drive(
        c.moderator,
        "setup defaults",
        ("Saved.", "already"),
        timezone=zone,
        reminder_offsets=offsets,
    )


# --- rendering: literal, never pinging, always within Discord's limits ----------------------------


async def test_markdown_and_mentions_render_literally(bench: Bench) -> None:
    b, c = bench, bench.c
    role = c.members_role.id
    title = f"@everyone **Hope** <@&{role}> __now__ <@{c.peer.user.id}>"
    res = await b.drive(
        c.facilitator,
        "meeting schedule",
        SCHEDULE_OK,
        title=title,
        start="2027-01-12 20:00",
        repeat="weekly",
        kind="na",
        description="*Bring tea* @here `code` [link](https://x.example)",
    )
    assert res is not None and "Scheduled." in res.all_text
    (m,) = [m for m in await b.bot.services.meetings.list_guild(c.guild.id) if m.title == title]
    info = await b.server.invoke(c.guild, c.peer, "meeting info", meeting=str(m.id))
    card = info.embeds[0]
    assert card["title"] == escape(title)
    assert "\\*\\*Hope\\*\\*" in card["title"] and "@\u200beveryone" in card["title"]
    assert "\\*Bring tea\\*" in card["description"] and "@\u200bhere" in card["description"]
    listing = await b.server.invoke(c.guild, c.peer, "meeting list")
    assert escape(title) in listing.all_text
    await b.server.wait_for(lambda: len(b.server.messages_in(c.modlog)) >= 2)
    assert any("\\*\\*Hope\\*\\*" in msg.text for msg in b.server.messages_in(c.modlog))


async def test_many_long_meetings_are_paginated_within_limits(bench: Bench) -> None:
    b, c = bench, bench.c
    for i in range(40):
        title = f"{i:02d} " + "**Hope** <@&1> @everyone " * 4
        await _meeting(
            b.bot,
            c,
            title[:100],
            description="D" * 1000,
            opening_text="O" * 1500,
            start_time=time(7 + i % 12, i % 60),
        )
    listing = await b.server.invoke(c.guild, c.peer, "meeting list", days=31)
    assert listing.ephemeral and listing.embeds
    assert "Page 1/" in listing.all_text
    pages = int(listing.embeds[0]["footer"]["text"].split("/")[1].split(" ")[0])
    assert pages >= 2
    seen = [listing.embeds[0]["description"]]
    for _ in range(pages - 1):
        turned = await b.server.click(listing, "meeting-list:next", c.peer)
        seen.append(turned.embeds[0]["description"])
    assert len(set(seen)) == pages  # every page is different: nothing was dropped to fit
    for meeting in await b.bot.services.meetings.list_guild(c.guild.id):
        res = await b.server.invoke(c.guild, c.peer, "meeting info", meeting=str(meeting.id))
        assert res.embeds and ERROR_ID not in res.all_text
        await b.server.invoke(c.guild, c.peer, "remind me", meeting=str(meeting.id))
    mine = await b.server.invoke(c.guild, c.peer, "remind mine")
    assert mine.ephemeral and mine.embeds and ERROR_ID not in mine.all_text  # cut to fit


async def test_long_opening_text_fits_the_opening_card(bench: Bench) -> None:
    b, c = bench, bench.c
    opening = (f"**Welcome** @everyone <@&{c.members_role.id}> " * 60)[:1499] + "!"
    res = await b.drive(
        c.facilitator,
        "meeting edit",
        EDIT_OK,
        meeting=str(b.meeting_id),
        opening_text=opening,
        description="D" * 1000,
    )
    assert res is not None and ERROR_ID not in res.all_text
    clock = b.bot.services.clock
    assert isinstance(clock, FakeClock)
    clock.set(OPENS)
    await b.bot.services.jobs.run_due()
    await b.bot.services.jobs.drain()
    link = await b.bot.services.rooms.link(b.meeting_id)
    assert link is not None
    room = b.server.state.channels[link.text_channel_id]
    cards = [m for m in b.server.messages_in(room) if m.embeds]
    assert cards, "the opening card was posted"
    text = cards[-1].text
    # The facilitator's own format keeps its markdown by design; mentions never work.
    assert "**Welcome**" in text and "@\u200beveryone" in text and "@everyone" not in text
    assert f"<@&{c.members_role.id}>" not in text


async def test_many_resource_cards_are_paginated_within_limits(bench: Bench) -> None:
    b, c = bench, bench.c
    lib = b.bot.services.resources
    for i in range(30):
        await lib.add(
            c.guild.id,
            c.moderator.user.id,
            resources.Draft(
                title=f"{i:02d} " + "Naloxone **kits** " * 5,
                summary=("Free kits at the desk, no questions asked " * 10)[:399] + ".",
                source_url=f"https://example.org/{'x' * 400}/{i}",
                contacts="\n".join(f"phone: 555-01{j:02d} | {'Desk ' * 18}" for j in range(8)),
                tags="naloxone",
            ),
            region="US",
        )
    listing = await b.server.invoke(c.guild, c.peer, "resource list")
    assert listing.ephemeral and listing.embeds
    for card in await lib.list_cards(c.guild.id):
        shown = await b.server.invoke(c.guild, c.peer, "resource show", card=card.id)
        assert shown.embeds and ERROR_ID not in shown.all_text
    for i in range(30):  # a long review queue: its one embed is cut to fit
        draft = resources.Draft(
            f"{i:02d} " + "**Pending** " * 8,
            "Waiting.",
            "https://example.org/x",
            region="US naloxone",
        )
        await lib.suggest(c.guild.id, 6000 + i, draft)
    review = await b.server.invoke(c.guild, c.moderator, "resource review")
    assert review.ephemeral and review.embeds and ERROR_ID not in review.all_text


AUTOCOMPLETED = [
    ("meeting schedule", "timezone", {}),
    ("meeting schedule", "format", {}),
    ("meeting info", "meeting", {}),
    ("meeting edit", "occurrence", {"meeting": "1"}),
    ("meeting edit", "occurrence", {"meeting": "²"}),
    ("meeting edit", "occurrence", {"meeting": "9" * 30}),
    ("meeting cancel", "date", {"meeting": "1"}),
    ("meeting cancel", "date", {"meeting": "@everyone"}),
    ("remind stop", "meeting", {}),
    ("room open", "meeting", {}),
    ("attendance counts", "meeting", {}),
    ("resource show", "card", {}),
    ("resource enable", "card", {}),
    ("setup defaults", "timezone", {}),
]


async def test_autocomplete_survives_hostile_text(bench: Bench) -> None:
    """Suggestions for whatever was typed: at most 25, names 1-100 characters (Discord's rules)."""
    b, c = bench, bench.c
    await _meeting(b.bot, c, "🙂" * 100)
    await _meeting(b.bot, c, "**x** @everyone " * 6 + "<@&1>")
    for command, option, extra in AUTOCOMPLETED:
        who = c.moderator
        for value in [*CURATED, "tue", "🙂", "america", "sp, di", "2027"]:
            choices = await b.server.autocomplete(
                c.guild, who, command, focused=option, **{**extra, option: value}
            )
            assert len(choices) <= 25
            for choice in choices:
                assert 1 <= len(choice["name"]) <= 100 and len(str(choice["value"])) <= 100


async def test_long_hostile_titles_in_reminders_welcomes_and_notices(bench: Bench) -> None:
    """Reminders (channel and DM), the newcomer welcome and change notices, with 100-char titles."""
    b, c = bench, bench.c
    welcome = b.server.create_channel(c.guild, "welcome")
    await b.server.flush()
    await b.bot.services.guilds.update(
        c.guild.id, welcome_mode="channel", welcome_channel_id=welcome.id
    )
    actor = Actor(c.facilitator.user.id, Level.FACILITATOR)
    ids = []
    for i, base in enumerate(
        ["**Hope** @everyone ", f"<@&{c.members_role.id}> __now__ ", "🙂" * 3, "`x` > q "]
    ):
        meeting = await b.bot.services.meeting_service.schedule(
            c.guild.id,
            actor,
            title=(f"{i} " + base * 40)[:100],
            start="2027-01-08 19:00",
            timezone="America/New_York",
            repeat="weekly",
            description="D" * 1000,
        )
        ids.append(meeting.id)
        await b.drive(c.peer, "remind me", ("You'll get DM reminders",), meeting=str(meeting.id))
    await b.server.add_member(c.guild, "newcomer-nia")
    await b.server.wait_for(lambda: len(b.server.messages_in(welcome)) == 1)
    clock = b.bot.services.clock
    assert isinstance(clock, FakeClock)
    for when in (datetime(2027, 1, 8, 23, 45, tzinfo=UTC), datetime(2027, 1, 9, 0, 0, tzinfo=UTC)):
        clock.set(when)
        while await b.bot.services.jobs.run_due():
            await b.bot.services.jobs.drain()
    assert len(b.server.dms_to(c.peer)) >= len(ids)
    assert any("Reminder" in m.text for m in b.server.messages_in(c.announcements))
    await b.drive(
        c.facilitator, "meeting pause", ("Paused until",), meeting=str(ids[0]), until="2027-03-01"
    )
    await b.drive(c.facilitator, "meeting delete", ("cannot be undone",), meeting=str(ids[1]))
    role = f"<@&{c.members_role.id}>"
    for msg in [*b.server.dms_to(c.peer), *b.server.messages_in(welcome)]:
        assert "@everyone" not in msg.text, msg.text[:300]
        assert role not in msg.text, msg.text[:300]
