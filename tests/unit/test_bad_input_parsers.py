"""Bad input everywhere (issue 10, item 2): every parser and validator, driven by hypothesis.

Each parser either accepts and returns a normalised value within its limits, or refuses with a
specific, short message that echoes at most a bounded slice of what was typed. Nothing else may
escape: no ValueError, OverflowError, KeyError or TypeError from deep inside.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import discord
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.bus import EventBus
from bot.clock import FakeClock
from bot.db import Database
from bot.errors import UserFacingError
from bot.jobs import JobEngine
from bot.occurrences import Repeat
from bot.parsing import (
    MAX_OFFSET_MINUTES,
    MAX_OFFSETS,
    REGIONS,
    all_timezones,
    clean_text,
    contains_mention,
    neutralize,
    parse_date,
    parse_local_datetime,
    parse_offsets,
    parse_region,
    parse_timezone,
)
from bot.permissions import Level
from bot.services import card_drafts as resources
from bot.services import feeds, ics
from bot.services import shipped_cards as cards
from bot.services.attendance import (
    PROOF_NAME_MAX,
    PROOF_TITLE_MAX,
    SHARE_MAX,
    sign_slip,
    verify_slip,
)
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import (
    DESCRIPTION_MAX,
    DURATION_MAX,
    DURATION_MIN,
    FORMATS,
    OPENING_TEXT_MAX,
    TITLE_MAX,
    Access,
    Actor,
    Kind,
    Meeting,
    MeetingEdit,
    MeetingService,
    MeetingStore,
    format_suggestions,
    parse_access,
    parse_description,
    parse_duration,
    parse_formats,
    parse_kind,
    parse_repeat,
    parse_title,
)
from bot.services.modline import MESSAGE_MAX, ModLineService
from bot.services.privacy import PrivacyService
from cogs._kit import (
    EMBED_DESCRIPTION,
    EMBED_FIELD_NAME,
    EMBED_FIELD_VALUE,
    EMBED_FIELDS,
    EMBED_FOOTER,
    EMBED_TITLE,
    EMBED_TOTAL,
    escape,
    fit_embed,
    safe_title,
)
from tests import hostile
from tests.hostile import (
    CONTROL,
    INVISIBLE,
    NASTY_TEXT,
    NUMBERS,
    PING,
    SPICED,
    URLS,
    assert_specific_message,
)

T = TypeVar("T")


def attempt(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call a parser: its value, or None after checking its UserFacingError. Anything else fails."""
    try:
        return fn(*args, **kwargs)
    except UserFacingError as exc:
        assert_specific_message(exc.message, *args, *kwargs.values())
        return None


def attempt_card(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Like attempt, for the card validators, which raise CardError (shipped files use them too)."""
    try:
        return fn(*args, **kwargs)
    except cards.CardError as exc:
        assert_specific_message(exc.reason, *args, *kwargs.values())
        # The resource service turns it into the user-facing form; that must hold too.
        assert_specific_message(resources._user_error(exc).message, *args, *kwargs.values())
        return None


def assert_clean(value: str, max_len: int, *, multiline: bool = False) -> None:
    """A normalised text value: stripped, NFC, within the limit, nothing invisible or control."""
    assert value == value.strip()
    assert value == unicodedata.normalize("NFC", value)
    assert len(value) <= max_len
    for ch in value:
        if multiline and ch in "\n\t":
            continue
        assert ch not in INVISIBLE, f"U+{ord(ch):04X} got through"
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp"), (
            f"U+{ord(ch):04X} got through"
        )


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- bot/parsing.py -----------------------------------------------------------------------------


@FAST
@given(hostile.zones())
def test_parse_timezone(text: str) -> None:
    name = attempt(parse_timezone, text)
    if name is not None:
        assert name in all_timezones()


@FAST
@given(hostile.offsets())
def test_parse_offsets(text: str) -> None:
    value = attempt(parse_offsets, text)
    if value is not None:
        assert 1 <= len(value) <= MAX_OFFSETS
        assert value == sorted(set(value), reverse=True)
        assert all(1 <= m <= MAX_OFFSET_MINUTES for m in value)


@FAST
@given(hostile.times())
def test_parse_local_datetime(text: str) -> None:
    value = attempt(parse_local_datetime, text)
    if value is not None:
        assert value.tzinfo is None and value.second == 0


@FAST
@given(hostile.dates())
def test_parse_date(text: str) -> None:
    value = attempt(parse_date, text, "date to resume on")
    if value is not None:
        assert isinstance(value, date)


@FAST
@given(st.one_of(st.sampled_from(["us", "UK", " gb ", "intl", "Other", "usa", "XX"]), NASTY_TEXT))
def test_parse_region(text: str) -> None:
    value = attempt(parse_region, text)
    if value is not None:
        assert value in REGIONS


@FAST
@given(
    st.one_of(NASTY_TEXT, SPICED),
    st.sampled_from([1, 60, 100, 1000, 1500]),
    st.booleans(),
)
def test_clean_text(text: str, max_len: int, multiline: bool) -> None:
    value = attempt(clean_text, text, field="title", max_len=max_len, multiline=multiline)
    if value is not None:
        assert value
        assert_clean(value, max_len, multiline=multiline)


@pytest.mark.parametrize("piece", sorted(INVISIBLE | set(CONTROL) - {"\n", "\t", " "}))
def test_clean_text_refuses_every_invisible_character(piece: str) -> None:
    with pytest.raises(UserFacingError, match="invisible or control characters"):
        clean_text(f"Hope{piece}Group", field="title", max_len=100)


@FAST
@given(NASTY_TEXT)
def test_contains_mention_never_raises(text: str) -> None:
    assert contains_mention(text) in (True, False)


def test_contains_mention_finds_each_kind() -> None:
    for mention in ("@everyone", "@here", "<@&1>", "<@!1>", "<@1>", "<#1>"):
        assert contains_mention(f"hi {mention}!"), mention


# --- meetings: pure validators --------------------------------------------------------------------


@FAST
@given(st.one_of(NASTY_TEXT, SPICED))
def test_meeting_title(text: str) -> None:
    value = attempt(parse_title, text)
    if value is not None:
        assert value
        assert_clean(value, TITLE_MAX)


@FAST
@given(st.one_of(NASTY_TEXT, SPICED), st.booleans())
def test_meeting_description_and_opening_text(text: str, opening: bool) -> None:
    limit = OPENING_TEXT_MAX if opening else DESCRIPTION_MAX
    field = "opening text" if opening else "description"
    value = attempt(parse_description, text, field=field, max_len=limit)
    if value is not None:
        assert_clean(value, limit, multiline=True)


@FAST
@given(NUMBERS)
def test_meeting_duration(minutes: int) -> None:
    value = attempt(parse_duration, minutes)
    assert (value is not None) == (DURATION_MIN <= minutes <= DURATION_MAX)


@FAST
@given(NASTY_TEXT, st.sampled_from([parse_kind, parse_access, parse_repeat]))
def test_meeting_choices(text: str, parser: Callable[[str], Any]) -> None:
    attempt(parser, text)


@FAST
@given(
    st.one_of(
        NASTY_TEXT,
        st.lists(
            st.sampled_from(
                [*FORMATS, *(label for label, _ in FORMATS.values()), "SP", "d", "karaoke", ""]
            ),
            max_size=12,
        ).map(", ".join),
    )
)
def test_meeting_formats(text: str) -> None:
    value = attempt(parse_formats, text)
    if value is not None:
        assert len(value) == len(set(value)) and set(value) <= set(FORMATS)
    for name, choice in format_suggestions(text):
        assert len(name) <= 100 and len(choice) <= 100


# --- meetings: the service's validation, against a real database ----------------------------------

NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)
GUILD = 1001
FAC = Actor(11, Level.FACILITATOR)


@dataclass
class MeetingWorld:
    loop: asyncio.AbstractEventLoop
    db: Database
    service: MeetingService
    meeting_id: int

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        async def take() -> dict[str, list[tuple[Any, ...]]]:
            out = {}
            for table in ("meetings", "meeting_exceptions", "meeting_facilitators", "jobs"):
                rows = await self.db.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608
                out[table] = [tuple(r) for r in rows]
            return out

        return self.run(take())


@pytest.fixture(scope="module")
def meeting_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeetingWorld]:
    """One database for every example (hypothesis runs many); refusals must leave it unchanged."""
    loop = asyncio.new_event_loop()
    path: Path = tmp_path_factory.mktemp("bad-input") / "h.db"

    async def build() -> tuple[Database, MeetingService, int]:
        db = await Database.open(path)
        await db.migrate()
        clock = FakeClock(NOW)
        privacy = PrivacyService(db)
        guilds = GuildSettingsService(db, clock)
        await guilds.update(GUILD, timezone="America/New_York")
        store = MeetingStore(db, clock, privacy)
        service = MeetingService(db, clock, store, guilds, EventBus(), JobEngine(db, clock))
        meeting = await service.schedule(
            GUILD,
            FAC,
            title="Tuesday Hope",
            start="2027-01-12 19:00",
            timezone="America/New_York",
            repeat="weekly",
        )
        return db, service, meeting.id

    db, service, meeting_id = loop.run_until_complete(build())
    try:
        yield MeetingWorld(loop, db, service, meeting_id)
    finally:
        loop.run_until_complete(db.close())
        loop.close()


def _refused_unchanged(world: MeetingWorld, make: Callable[[], Any], *typed: object) -> Any:
    """Run a service call; a refusal must be specific and leave every table as it was."""
    before = world.snapshot()
    try:
        return world.run(make())
    except UserFacingError as exc:
        assert_specific_message(exc.message, *typed)
        assert world.snapshot() == before
        return None


SLOW = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(
    title=NASTY_TEXT,
    start=hostile.times(),
    zone=hostile.zones(),
    duration=NUMBERS,
    formats=NASTY_TEXT,
)
def test_meeting_schedule_validation(
    meeting_world: MeetingWorld, title: str, start: str, zone: str, duration: int, formats: str
) -> None:
    w = meeting_world
    made = _refused_unchanged(
        w,
        lambda: w.service.schedule(
            GUILD,
            FAC,
            title=title,
            start=start,
            timezone=zone,
            repeat="weekly",
            duration=duration,
            formats=formats,
            description=title,
        ),
        title,
        start,
        zone,
        formats,
    )
    if made is not None:
        assert_clean(made.title, TITLE_MAX)
        w.run(_delete(w, made.id))


async def _delete(w: MeetingWorld, meeting_id: int) -> None:
    async with w.db.transaction() as tx:
        await w.service.store.delete(tx, meeting_id)


@SLOW
@given(
    field=st.sampled_from(
        ["title", "start", "timezone", "description", "opening_text", "reminder_offsets", "formats"]
    ),
    text=st.one_of(NASTY_TEXT, hostile.times(), hostile.offsets()),
)
def test_meeting_edit_text_validation(meeting_world: MeetingWorld, field: str, text: str) -> None:
    w = meeting_world
    assume(not (field == "start" and text.strip() == ""))
    before = w.snapshot()
    result = _refused_unchanged(
        w, lambda: w.service.edit(GUILD, w.meeting_id, FAC, MeetingEdit(**{field: text})), text
    )
    if result is not None:  # put the meeting back as it was for the next example
        _restore(w, before)


@SLOW
@given(
    minutes=st.tuples(
        st.sampled_from(["duration", "room_open_minutes", "room_close_minutes"]), NUMBERS
    )
)
def test_meeting_edit_number_validation(
    meeting_world: MeetingWorld, minutes: tuple[str, int]
) -> None:
    field, value = minutes
    w = meeting_world
    before = w.snapshot()
    result = _refused_unchanged(
        w, lambda: w.service.edit(GUILD, w.meeting_id, FAC, MeetingEdit(**{field: value}))
    )
    if result is not None:
        _restore(w, before)


def _restore(w: MeetingWorld, before: dict[str, list[tuple[Any, ...]]]) -> None:
    """Put every table back as it was (a successful example must not affect the next one)."""

    async def restore() -> None:
        async with w.db.transaction() as tx:
            for table, rows in before.items():
                await tx.execute(f"DELETE FROM {table}")  # noqa: S608
                for row in rows:
                    marks = ", ".join("?" * len(row))
                    await tx.execute(f"INSERT INTO {table} VALUES ({marks})", row)  # noqa: S608

    w.run(restore())
    assert w.snapshot() == before


@SLOW
@given(
    day=hostile.dates(),
    new_start=hostile.times(),
    which=st.sampled_from(["cancel", "move", "pause"]),
)
def test_meeting_occurrence_dates(
    meeting_world: MeetingWorld, day: str, new_start: str, which: str
) -> None:
    w = meeting_world
    before = w.snapshot()

    def call() -> Any:
        if which == "cancel":
            return w.service.cancel(GUILD, w.meeting_id, FAC, day)
        if which == "move":
            return w.service.move(GUILD, w.meeting_id, FAC, day, new_start)
        return w.service.pause(GUILD, w.meeting_id, FAC, day)

    if _refused_unchanged(w, call, day, new_start) is not None:
        _restore(w, before)


@SLOW
@given(NASTY_TEXT)
def test_meeting_resolve_by_title_or_id(meeting_world: MeetingWorld, text: str) -> None:
    w = meeting_world
    _refused_unchanged(w, lambda: w.service.resolve(GUILD, text), text)


# --- resource cards: bot/services/shipped_cards.py -------------------------------------------------


@FAST
@given(
    st.one_of(st.sampled_from(URLS), NASTY_TEXT, SPICED.map(lambda s: f"https://example.org/{s}"))
)
def test_validate_url(text: str) -> None:
    url = attempt_card(cards.validate_url, text)
    if url is not None:
        assert url.lower().startswith("https://") and len(url) <= cards.MAX_URL_LEN
        assert "javascript:" not in url.lower()
        assert not any(ch.isspace() or ch in INVISIBLE for ch in url)
        assert not PING.search(url)


@pytest.mark.parametrize(
    "bad",
    [u for u in URLS if not u.startswith("https://") or "@" in u or ":8443" in u or len(u) > 512],
)
def test_validate_url_refuses_unsafe_links(bad: str) -> None:
    with pytest.raises(cards.CardError):
        cards.validate_url(bad)


@FAST
@given(
    st.one_of(NASTY_TEXT, SPICED, st.integers(), st.none(), st.lists(st.text(max_size=3))),
    st.sampled_from([100, 400, 600]),
    st.booleans(),
)
def test_card_clean_text(text: object, max_len: int, multiline: bool) -> None:
    value = attempt_card(cards.clean_text, text, max_len, "title", multiline=multiline)
    if value is not None:
        assert_clean(value, max_len, multiline=multiline)
        assert not PING.search(value)


@FAST
@given(NASTY_TEXT)
def test_card_normalize_region(text: str) -> None:
    value = attempt_card(cards.normalize_region, text)
    if value is not None:
        assert value in cards.KNOWN_REGIONS


ANY_VALUE = st.one_of(
    NASTY_TEXT,
    st.integers(),
    st.booleans(),
    st.none(),
    st.dates(),
    st.datetimes(),
    st.lists(st.one_of(st.text(max_size=10), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
GOOD_CARD: dict[str, Any] = {
    "id": "test-card",
    "title": "Riverside naloxone",
    "summary": "Free naloxone kits. Call 911 if someone may be dying.",
    "contacts": [{"kind": "phone", "value": "+1 555 0100", "label": "Desk"}],
    "region": "US",
    "tags": ["naloxone"],
    "source_url": "https://example.org/naloxone",
    "verified_on": date(2026, 11, 1),
    "review_days": 180,
    "enabled_by_default": True,
}


@FAST
@given(
    key=st.sampled_from([*GOOD_CARD, "notes", "disclaimer", "unknown"]),
    value=ANY_VALUE,
    contact=st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"kind": st.sampled_from([*cards.CONTACT_KINDS, "fax", 3]), "value": ANY_VALUE},
            optional={"label": ANY_VALUE, "extra": st.integers()},
        ),
    ),
)
def test_parse_card(key: str, value: Any, contact: dict[str, Any] | None) -> None:
    data = dict(GOOD_CARD)
    data[key] = value
    if contact is not None:
        data["contacts"] = [contact]
    card = attempt_card(cards.parse_card, data, today=date(2026, 11, 25))
    if card is not None:
        assert_clean(card.title, cards.MAX_TITLE_LEN)
        assert card.source_url.lower().startswith("https://")


# --- resources service parsers ---------------------------------------------------------------------


@FAST
@given(
    st.one_of(
        NASTY_TEXT,
        st.lists(st.sampled_from([*cards.KNOWN_TAGS, "NALOXONE", "bogus", ""]), max_size=6).map(
            ", ".join
        ),
    )
)
def test_resource_tags(text: str) -> None:
    tags = attempt(resources.parse_tags, text)
    if tags is not None:
        assert tags and tags <= cards.KNOWN_TAGS


@FAST
@given(NASTY_TEXT)
def test_resource_region_and_tags(text: str) -> None:
    attempt(resources.parse_region, text)
    attempt(resources.parse_region_and_tags, text)


CONTACT_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "phone: 988 | Call 988",
                "text: 741741",
                "https://example.org",
                "chat: https://example.org/chat",
                "email: help@example.org",
                "tty: 711",
                "javascript:alert(1)",
                "url: data:text/html,x",
                "phone: <@&1>",
                "a@b",
            ]
        ),
        NASTY_TEXT,
    ),
    max_size=10,
).map("\n".join)


@SLOW
@given(
    title=st.one_of(NASTY_TEXT, SPICED),
    summary=st.one_of(NASTY_TEXT, SPICED),
    url=st.one_of(st.sampled_from(URLS), NASTY_TEXT),
    contacts=st.one_of(CONTACT_LINES, NASTY_TEXT),
    region_tags=st.one_of(st.sampled_from(["US: naloxone", "uk crisis", "intl"]), NASTY_TEXT),
)
def test_resource_draft_validation(
    title: str, summary: str, url: str, contacts: str, region_tags: str
) -> None:
    region, _, tags = region_tags.partition(" ")
    draft = resources.Draft(title, summary, url, contacts, region, tags)
    card = attempt(resources.validate, draft, today=date(2026, 11, 25))
    if card is not None:
        assert_clean(card.title, cards.MAX_TITLE_LEN)
        assert card.source_url.lower().startswith("https://") and len(card.source_url) <= 512
        for c in card.contacts:
            if c.kind in ("url", "chat"):
                assert c.value.lower().startswith("https://")
        assert not any(contains_mention(t) for t in (card.title, card.summary))


@FAST
@given(CONTACT_LINES, st.one_of(st.none(), st.sampled_from(URLS)))
def test_resource_contacts(text: str, fallback: str | None) -> None:
    contacts = attempt(resources.parse_contacts, text, fallback)
    if contacts is not None:
        assert 1 <= len(contacts) <= cards.MAX_CONTACTS


# --- attendance: proof codes, shares, names ------------------------------------------------------

KEY = b"k" * 32


@FAST
@given(NASTY_TEXT)
def test_verify_slip_never_raises(code: str) -> None:
    assert verify_slip(KEY, code) is None


@FAST
@given(
    title=st.one_of(NASTY_TEXT, SPICED),
    name=st.one_of(NASTY_TEXT, SPICED),
    meeting_id=st.integers(1, 2**62),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2179, 6, 1)),
    flip=st.integers(0, 400),
    insert=st.sampled_from(["", " ", "\n", "\u200b", "=", "A"]),
)
def test_slips_round_trip_and_tampering_fails(
    title: str, name: str, meeting_id: int, day: date, flip: int, insert: str
) -> None:
    code = sign_slip(KEY, meeting_id, title, day, name)
    slip = verify_slip(KEY, code)
    assert slip is not None and slip.meeting_id == meeting_id and slip.occurrence == day
    assert len(slip.title) <= PROOF_TITLE_MAX and title.startswith(slip.title)
    assert len(slip.name) <= PROOF_NAME_MAX and name.startswith(slip.name)
    assert verify_slip(b"x" * 32, code) is None
    at = 5 + flip % max(1, len(code) - 5)
    tampered = code[:at] + insert + code[at:]
    other = verify_slip(KEY, tampered)  # never raises; whitespace is ignored by design
    assert other is None or other.meeting_id == meeting_id
    swapped = code[:at] + ("B" if code[at] != "B" else "C") + code[at + 1 :]
    same = verify_slip(KEY, swapped)  # a changed character breaks the signature (or is padding)
    assert same is None or (same.meeting_id, same.title, same.name) == (
        slip.meeting_id,
        slip.title,
        slip.name,
    )


@FAST
@given(st.one_of(NASTY_TEXT, SPICED))
def test_share_and_proof_name_text(text: str) -> None:
    body = attempt(clean_text, text, field="share", max_len=SHARE_MAX, multiline=True)
    if body is not None:
        shown = neutralize(body)
        assert not re.search(r"https?://", shown, re.IGNORECASE)  # no clickable link
        assert not PING.search(shown)
        assert all(shown[i + 1] == "\u200b" for i, ch in enumerate(shown) if ch == "@")
    name = attempt(clean_text, text, field="name", max_len=PROOF_NAME_MAX)
    if name is not None:
        assert_clean(name, PROOF_NAME_MAX)


# --- modline, feeds ------------------------------------------------------------------------------


@FAST
@given(st.one_of(NASTY_TEXT, SPICED))
def test_modline_message_text(text: str) -> None:
    value = attempt(ModLineService.clean_message, text)
    if value is not None:
        assert_clean(value, MESSAGE_MAX, multiline=True)


@FAST
@given(st.one_of(NASTY_TEXT, st.text(alphabet="ABCabc019_-", min_size=40, max_size=46)))
def test_feed_tokens(text: str) -> None:
    shaped = feeds.is_token_shaped(text)
    assert shaped == (
        len(text) == 43 and all(c.isascii() and (c.isalnum() or c in "_-") for c in text)
    )
    digest = feeds.hash_token(text)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert feeds.is_token_shaped(feeds.new_token())


@FAST
@given(st.one_of(NASTY_TEXT, SPICED))
def test_feed_text_is_escaped_and_folded(text: str) -> None:
    value = ics._ics_text(text)
    assert "\n" not in value and "\r" not in value
    assert not any((ch < " " and ch != "\t") or ch == "\x7f" for ch in value)  # RFC 5545
    folded = feeds.fold_line(f"SUMMARY:{value}")
    for line in folded.split("\r\n")[:-1]:
        assert len(line.encode("utf-8")) <= 75


# --- rendering: escaping and Discord's embed limits ----------------------------------------------


@FAST
@given(st.one_of(NASTY_TEXT, SPICED))
def test_escape_neutralises_mentions_and_markdown(text: str) -> None:
    shown = escape(text)
    assert "@everyone" not in shown and "@here" not in shown  # Discord's are lower case only
    assert not re.search(r"<@[!&]?\d{17,20}>", shown)  # real ids render as pills; these don't
    title = safe_title(text)
    assert len(title) <= EMBED_TITLE


def _embed_sizes(embed: discord.Embed) -> None:
    data = embed.to_dict()
    assert len(data.get("title", "")) <= EMBED_TITLE
    assert len(data.get("description", "")) <= EMBED_DESCRIPTION
    fields = data.get("fields", [])
    assert len(fields) <= EMBED_FIELDS
    for f in fields:
        assert 1 <= len(f["name"]) <= EMBED_FIELD_NAME
        assert 1 <= len(f["value"]) <= EMBED_FIELD_VALUE
    assert len(data.get("footer", {}).get("text", "")) <= EMBED_FOOTER
    assert len(embed) <= EMBED_TOTAL


@FAST
@given(
    title=st.text(max_size=400),
    description=st.text(max_size=6000),
    fields=st.lists(st.tuples(st.text(max_size=300), st.text(max_size=1200)), max_size=30),
    footer=st.text(max_size=100),
)
def test_fit_embed_always_fits(
    title: str, description: str, fields: list[tuple[str, str]], footer: str
) -> None:
    embed = discord.Embed(title=title or None, description=description or None)
    for name, value in fields:
        embed.add_field(name=name, value=value)
    if footer:
        embed.set_footer(text=footer)
    _embed_sizes(fit_embed(embed))


@FAST
@given(
    title=st.one_of(NASTY_TEXT, SPICED).filter(lambda t: 0 < len(t) <= 100),
    description=st.one_of(NASTY_TEXT, SPICED).map(lambda t: t[:1000]),
    name=st.one_of(NASTY_TEXT, SPICED).map(lambda t: t[:100]),
)
def test_feeds_carry_hostile_text_safely(title: str, description: str, name: str) -> None:
    """What a facilitator typed reaches calendars escaped, folded and intact in meaning."""
    meeting = Meeting(
        id=7,
        guild_id=GUILD,
        title=title,
        kind=Kind.NA,
        access=Access.OPEN,
        formats=("speaker",),
        timezone="America/New_York",
        first_date=date(2027, 1, 12),
        start_time=time(19, 0),
        duration_minutes=60,
        repeat=Repeat.WEEKLY,
        description=description,
    )
    ics = feeds.build_ics([meeting], {}, NOW, horizon=date(2027, 6, 1), name=name)
    assert ics.endswith("\r\n")
    for line in ics.split("\r\n")[:-1]:
        assert len(line.encode("utf-8")) <= 75
        assert "\n" not in line and "\r" not in line
    (entry,) = feeds.build_meeting_guide([meeting], {}, {}, NOW)
    json.dumps(entry)  # serialisable, whatever was typed
