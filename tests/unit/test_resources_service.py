"""The resource library: per-guild state over the shipped cards, vetting rules and bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.clock import FakeClock
from bot.db import Database
from bot.errors import NotFoundError, UserFacingError
from bot.permissions import Level, level_for
from bot.services.card_drafts import parse_contacts
from bot.services.privacy import PrivacyService
from bot.services.resources import (
    Card,
    Draft,
    ResourceLibrary,
    Status,
)

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

G = 1001
OTHER_G = 2002
PEER, MOD, MOD2 = 11, 22, 33
START = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)


class Env:
    """A library over a fresh database with a fake clock."""

    def __init__(self, db: Database, clock: FakeClock, privacy: PrivacyService) -> None:
        self.db = db
        self.clock = clock
        self.privacy = privacy
        self.lib = ResourceLibrary(db, clock, privacy)

    async def snapshot(self) -> list[tuple[object, ...]]:
        """Every row of the resource tables (to prove nothing was stored)."""
        rows = await self.db.fetchall("SELECT * FROM resource_cards ORDER BY id")
        rows += await self.db.fetchall("SELECT * FROM resource_overrides ORDER BY card_id")
        return [tuple(r) for r in rows]


@pytest.fixture
def start() -> datetime:
    """When `clock` (tests/unit/conftest.py) starts."""
    return START


@pytest.fixture
def env(db: Database, clock: FakeClock) -> Env:
    return Env(db, clock, PrivacyService(db))


def draft(**overrides: str) -> Draft:
    values = {
        "title": "Riverside naloxone pick-up",
        "summary": "Free naloxone kits at the Riverside library desk, no questions asked.",
        "source_url": "https://riverside.example.org/naloxone",
        "contacts": "phone: 555-0100 | Library desk",
        "region": "US",
        "tags": "naloxone, overdose",
    }
    values.update(overrides)
    return Draft(**values)


# -- the shipped set per guild ------------------------------------------------


async def test_shipped_cards_are_approved_and_harm_reduction_starts_disabled(env: Env) -> None:
    cards = {c.id: c for c in await env.lib.all_cards(G)}
    assert cards["us-988"].shareable
    assert cards["us-988"].verified_on == date(2026, 11, 22)
    assert not cards["us-never-use-alone"].enabled
    listed = {c.id for c in await env.lib.list_cards(G)}
    assert "us-988" in listed
    assert "us-never-use-alone" not in listed
    assert "us-fentanyl-test-strips" not in listed


async def test_enable_and_disable_are_per_guild(env: Env) -> None:
    await env.lib.set_enabled(G, "us-never-use-alone", True)
    await env.lib.set_enabled(G, "us-988", False)
    mine = {c.id for c in await env.lib.list_cards(G)}
    theirs = {c.id for c in await env.lib.list_cards(OTHER_G)}
    assert "us-never-use-alone" in mine and "us-never-use-alone" not in theirs
    assert "us-988" not in mine and "us-988" in theirs
    with pytest.raises(UserFacingError, match="already turned off"):
        await env.lib.set_enabled(G, "us-988", False)
    with pytest.raises(UserFacingError, match="turned off in this server"):
        await env.lib.shareable(G, "us-988")


async def test_list_filters_by_tag_and_region(env: Env) -> None:
    crisis_gb = await env.lib.list_cards(G, tag="crisis", region="uk")
    assert crisis_gb and all("crisis" in c.tags for c in crisis_gb)
    assert {c.region for c in crisis_gb} <= {"GB", "intl"}
    assert "uk-samaritans" in {c.id for c in crisis_gb}
    with pytest.raises(UserFacingError, match="1 tag is not one Haven knows"):
        await env.lib.list_cards(G, tag="recipes")
    with pytest.raises(UserFacingError, match="not a region"):
        await env.lib.list_cards(G, region="Mars")


async def test_search_matches_title_then_tag_and_hides_unshareable(env: Env) -> None:
    by_title = await env.lib.search(G, "988")
    assert by_title[0].id in {"us-988", "ca-988"}
    by_tag = await env.lib.search(G, "nalox")
    assert "us-naloxone-otc" in {c.id for c in by_tag}
    assert len(await env.lib.search(G, "")) <= 25
    assert "us-never-use-alone" not in {c.id for c in await env.lib.search(G, "never use")}
    assert "us-never-use-alone" in {
        c.id for c in await env.lib.search(G, "never use", include_all=True)
    }


async def test_unknown_card_is_a_friendly_not_found(env: Env) -> None:
    with pytest.raises(NotFoundError, match="no resource card"):
        await env.lib.get(G, "nope")
    card = await env.lib.suggest(G, PEER, draft())
    with pytest.raises(NotFoundError):
        await env.lib.get(OTHER_G, card.id)


# -- the vetting workflow -------------------------------------------------------


async def test_suggest_then_approve_records_moderator_date_and_source(env: Env) -> None:
    card = await env.lib.suggest(G, PEER, draft())
    assert card.status is Status.PENDING and card.id.startswith("g-")
    assert card.verified_on is None
    assert card.suggested_by_user_id == PEER
    assert card.id not in {c.id for c in await env.lib.list_cards(G)}
    with pytest.raises(UserFacingError, match="waiting for a moderator"):
        await env.lib.shareable(G, card.id)
    assert [c.id for c in await env.lib.pending(G)] == [card.id]

    approved = await env.lib.approve(
        G,
        card.id,
        MOD,
        source_url="https://riverside.example.org/health",
        verified_on=date(2027, 1, 9),
    )
    assert approved.status is Status.APPROVED
    assert approved.approved_by_user_id == MOD
    assert approved.approved_at == START
    assert approved.verified_on == date(2027, 1, 9)
    assert approved.source_url == "https://riverside.example.org/health"
    assert (await env.lib.shareable(G, card.id)).id == card.id
    assert await env.lib.pending(G) == []


async def test_approving_twice_or_a_rejected_card_says_so(env: Env) -> None:
    one = await env.lib.suggest(G, PEER, draft())
    await env.lib.approve(G, one.id, MOD)
    with pytest.raises(UserFacingError, match="already approved"):
        await env.lib.approve(G, one.id, MOD2)
    with pytest.raises(UserFacingError, match="already approved"):
        await env.lib.reject(G, one.id, MOD2)
    two = await env.lib.suggest(G, PEER, draft(title="Another"))
    rejected = await env.lib.reject(G, two.id, MOD)
    assert rejected.status is Status.REJECTED
    before = await env.snapshot()
    with pytest.raises(UserFacingError, match="already rejected"):
        await env.lib.approve(G, two.id, MOD)
    with pytest.raises(UserFacingError, match="not approved"):
        await env.lib.shareable(G, two.id)
    assert await env.snapshot() == before


async def test_stale_review_buttons_are_refused_after_an_edit(env: Env) -> None:
    card = await env.lib.suggest(G, PEER, draft())
    edited = await env.lib.edit(G, card.id, draft(title="Riverside kits"))
    assert edited.revision == card.revision + 1
    with pytest.raises(UserFacingError, match="edited after"):
        await env.lib.approve(G, card.id, MOD, revision=card.revision)
    assert (await env.lib.approve(G, card.id, MOD, revision=edited.revision)).shareable


async def test_edit_of_an_approved_card_sends_it_back_to_review(env: Env) -> None:
    card = await env.lib.add(G, MOD, draft(), region="US", verified_on=date(2027, 1, 5))
    assert card.shareable and card.approved_by_user_id == MOD
    edited = await env.lib.edit(G, card.id, draft(summary="Kits at the front desk."))
    assert edited.status is Status.PENDING
    assert edited.approved_by_user_id is None and edited.approved_at is None
    assert edited.summary == "Kits at the front desk."
    assert card.id not in {c.id for c in await env.lib.list_cards(G)}
    assert [c.id for c in await env.lib.pending(G)] == [card.id]


async def test_shipped_cards_cannot_be_edited_or_reviewed(env: Env) -> None:
    with pytest.raises(UserFacingError, match="can't be edited"):
        await env.lib.edit(G, "us-988", draft())
    with pytest.raises(UserFacingError, match="approved already"):
        await env.lib.approve(G, "us-988", MOD)
    assert await env.snapshot() == []


async def test_add_rejects_a_future_verified_on(env: Env) -> None:
    with pytest.raises(UserFacingError, match="in the future"):
        await env.lib.add(G, MOD, draft(), region="US", verified_on=date(2027, 2, 1))
    card = await env.lib.suggest(G, PEER, draft())
    with pytest.raises(UserFacingError, match="in the future"):
        await env.lib.approve(G, card.id, MOD, verified_on=date(2027, 1, 11))
    assert (await env.lib.get(G, card.id)).status is Status.PENDING


async def test_only_moderators_reach_the_approve_level() -> None:
    mod_role, fac_role = 1, 2
    kwargs = {"moderator_role_id": mod_role, "facilitator_role_id": fac_role}
    assert level_for(set(), manage_guild=False, **kwargs) is Level.PEER
    assert level_for({fac_role}, manage_guild=False, **kwargs) is Level.FACILITATOR
    assert level_for({fac_role, mod_role}, manage_guild=False, **kwargs) is Level.MODERATOR


# -- verification and staleness ---------------------------------------------------


async def test_stale_cards_follow_the_injected_clock_and_verify_resets_them(env: Env) -> None:
    env.clock.set(datetime(2027, 2, 19, 12, tzinfo=UTC))  # 2026-11-22 + 89 days: still fresh
    assert "us-988" not in {c.id for c in await env.lib.stale(G)}
    env.clock.advance(timedelta(days=2))  # past 90 days
    stale = {c.id for c in await env.lib.stale(G)}
    assert "us-988" in stale
    assert "us-findtreatment" not in stale  # 180-day review
    assert "us-never-use-alone" not in stale  # disabled cards are not flagged
    verified = await env.lib.verify(G, "us-988")
    assert verified.verified_on == env.clock.now().date()
    assert "us-988" not in {c.id for c in await env.lib.stale(G)}
    assert "us-988" in {c.id for c in await env.lib.stale(OTHER_G)}


async def test_verify_needs_an_approved_card(env: Env) -> None:
    card = await env.lib.suggest(G, PEER, draft())
    with pytest.raises(UserFacingError, match="approve it first"):
        await env.lib.verify(G, card.id)
    await env.lib.approve(G, card.id, MOD, verified_on=date(2026, 1, 1))
    assert card.id in {c.id for c in await env.lib.stale(G)}
    await env.lib.verify(G, card.id)
    assert card.id not in {c.id for c in await env.lib.stale(G)}


# -- bad input stores nothing ---------------------------------------------------


BAD_DRAFTS: list[tuple[dict[str, str], str]] = [
    ({"source_url": "http://example.org/x"}, "must start with https://"),
    ({"source_url": "javascript:alert(1)"}, "javascript: links are not allowed"),
    ({"source_url": "https://example.org/" + "a" * 600}, "the limit is 512"),
    ({"source_url": "ftp://example.org"}, "https://"),
    ({"source_url": "https://user:pw@example.org"}, "user name or password"),
    ({"contacts": "url: http://example.org"}, "contact on line 1 must start with https://"),
    ({"contacts": "javascript:alert(1)"}, "javascript:"),
    ({"title": "Free\u0000kits"}, "control character"),
    ({"title": "Kits\u202e"}, "invisible"),
    ({"summary": "Ask @everyone at the desk."}, "mention"),
    ({"title": "Ping <@123456>"}, "mention"),
    ({"contacts": "phone: <@&42>"}, "mention"),
    ({"title": "x" * 101}, "the limit is 100"),
    ({"summary": "y" * 401}, "the limit is 400"),
    ({"summary": "One. Two. Three. Four."}, "sentences"),
    ({"title": "   "}, "must not be empty"),
    ({"region": "Mars"}, "not a region"),
    ({"tags": "recipes"}, "1 tag is not one Haven knows"),
    ({"tags": ""}, "region first"),
    ({"contacts": "phone: call us!!"}, "phone or text number"),
    ({"contacts": "\n".join(f"phone: 555-010{i}" for i in range(9))}, "at most 8"),
    ({"tags": "crisis"}, "must say to call 911"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_DRAFTS)
async def test_bad_suggestions_are_refused_and_store_nothing(
    env: Env, fields: dict[str, str], message: str
) -> None:
    before = await env.snapshot()
    with pytest.raises(UserFacingError, match=message):
        await env.lib.suggest(G, PEER, draft(**fields))
    assert await env.snapshot() == before


async def test_bad_edits_and_approvals_store_nothing(env: Env) -> None:
    card = await env.lib.add(G, MOD, draft(), region="US")
    before = await env.snapshot()
    with pytest.raises(UserFacingError, match="https://"):
        await env.lib.edit(G, card.id, draft(source_url="http://example.org"))
    with pytest.raises(UserFacingError, match="not a region"):
        await env.lib.edit(G, card.id, draft(), region="Atlantis")
    assert await env.snapshot() == before
    pending = await env.lib.suggest(G, PEER, draft(title="Other"))
    before = await env.snapshot()
    with pytest.raises(UserFacingError, match="javascript"):
        await env.lib.approve(G, pending.id, MOD, source_url="javascript:alert(1)")
    assert await env.snapshot() == before


async def test_error_messages_never_repeat_what_was_typed(env: Env) -> None:
    secret = "my-private-words"
    for fields in (
        {"title": f"{secret}\u0007"},
        {"source_url": f"http://{secret}.org"},
        {"tags": secret},
        {"region": secret},
    ):
        with pytest.raises(UserFacingError) as err:
            await env.lib.suggest(G, PEER, draft(**fields))
        assert secret not in err.value.message


def test_contact_lines_are_read_with_or_without_a_kind() -> None:
    parsed = parse_contacts("988\ntext: 741741 | Text HOME\nhttps://example.org\nhelp@example.org")
    assert [c["kind"] for c in parsed] == ["phone", "text", "url", "email"]
    assert parsed[1]["label"] == "Text HOME"
    assert parse_contacts("", fallback_url="https://example.org") == [
        {"kind": "url", "value": "https://example.org", "label": "Website"}
    ]


# -- crisis cards need no database ------------------------------------------------


async def test_crisis_cards_come_from_memory_even_with_the_database_closed(env: Env) -> None:
    await env.db.close()
    us = env.lib.crisis_cards("US")
    assert us and all(c.region in ("US", "intl") for c in us)
    assert all("call 911" in c.summary for c in us if c.region == "US")
    everywhere = env.lib.crisis_cards(None)
    assert {c.region for c in everywhere} >= {"US", "GB", "IE", "CA", "AU"}


async def test_crisis_cards_in_spanish_come_from_memory_too(env: Env) -> None:
    await env.db.close()
    us = {c.id: c for c in env.lib.crisis_cards("US", "es")}
    assert us["us-988"].language == "es" and "llama al 911" in us["us-988"].summary
    assert us["us-crisis-text-line"].language == "en"  # no Spanish source: shown in English
    assert list(us) == [c.id for c in env.lib.crisis_cards("US")]


def test_crisis_cards_without_spanish_text_are_named_for_moderators(env: Env) -> None:
    missing = [c.id for c in env.lib.crisis_cards_missing("es", "US")]
    assert missing == ["us-crisis-text-line", "us-overdose-response", "us-poison-help"]
    everywhere = {c.id for c in env.lib.crisis_cards_missing("es", None)}
    assert "us-988" not in everywhere and {"uk-samaritans", "au-lifeline"} <= everywhere
    assert env.lib.crisis_cards_missing("en", None) == []


async def test_verifying_a_card_rechecks_its_spanish_text_too(env: Env) -> None:
    env.clock.set(datetime(2027, 2, 21, 12, tzinfo=UTC))
    today = env.clock.now().date()
    verified = await env.lib.verify(G, "us-988")
    assert verified.in_language("es").verified_on == today
    stored = await env.lib.get(G, "us-988")
    assert stored.in_language("es").verified_on == today and stored.review_due() > today
    assert "us-988" not in {c.id for c in await env.lib.stale(G)}


# -- forget-me ----------------------------------------------------------------------


async def test_forget_me_keeps_approved_cards_but_drops_the_user_ids(env: Env) -> None:
    kept = await env.lib.suggest(G, PEER, draft())
    await env.lib.approve(G, kept.id, MOD)
    dropped = await env.lib.suggest(G, PEER, draft(title="Pending one"))
    elsewhere = await env.lib.suggest(OTHER_G, PEER, draft(title="Other guild"))

    await env.privacy.forget_user(PEER, G)
    assert (await env.lib.get(G, kept.id)).suggested_by_user_id is None
    with pytest.raises(NotFoundError):
        await env.lib.get(G, dropped.id)
    assert (await env.lib.get(OTHER_G, elsewhere.id)).suggested_by_user_id == PEER

    await env.privacy.forget_user(MOD)
    card = await env.lib.get(G, kept.id)
    assert card.shareable and card.approved_by_user_id is None and card.approved_at == START
    await env.privacy.forget_user(PEER)
    count = "SELECT count(*) FROM resource_cards WHERE suggested_by_user_id = ? OR approved_by_user_id = ?"
    assert await env.db.fetchval(count, (PEER, PEER)) == 0
    assert await env.db.fetchval(count, (MOD, MOD)) == 0
    assert await env.db.fetchval("SELECT count(*) FROM resource_cards") == 1


async def test_one_person_cannot_flood_the_review_queue(env: Env) -> None:
    for n in range(3):
        await env.lib.suggest(G, PEER, draft(title=f"Suggestion {n}"))
    before = await env.snapshot()
    with pytest.raises(UserFacingError, match="already have 3 suggestions waiting"):
        await env.lib.suggest(G, PEER, draft(title="One more"))
    assert await env.snapshot() == before
    await env.lib.suggest(G, MOD, draft(title="Someone else"))
    await env.lib.suggest(OTHER_G, PEER, draft(title="Another server"))
    first = (await env.lib.pending(G))[0]
    await env.lib.reject(G, first.id, MOD)
    await env.lib.suggest(G, PEER, draft(title="Now there is room"))


def region_runs(cards: list[Card]) -> list[str]:
    """The regions in list order, one entry per run of equal regions."""
    runs: list[str] = []
    for card in cards:
        if not runs or runs[-1] != card.region:
            runs.append(card.region)
    return runs


async def test_list_puts_the_servers_region_first_then_worldwide_then_the_rest(env: Env) -> None:
    us = await env.lib.list_cards(G, home_region="US")
    assert region_runs(us) == ["US", "intl", "AU", "CA", "GB", "IE"]
    us_titles = [c.title.casefold() for c in us if c.region == "US"]
    assert us_titles == sorted(us_titles)  # within a group: by title, as before
    assert region_runs(await env.lib.list_cards(G, home_region="au")) == [
        "AU",
        "intl",
        "CA",
        "GB",
        "IE",
        "US",
    ]
    assert region_runs(await env.lib.list_cards(G, home_region="UK"))[:2] == ["GB", "intl"]


async def test_list_without_a_known_region_starts_with_worldwide_cards(env: Env) -> None:
    everywhere = ["intl", "AU", "CA", "GB", "IE", "US"]
    for unset in (None, "", "INTL", "Atlantis"):
        assert region_runs(await env.lib.list_cards(G, home_region=unset)) == everywhere


async def test_a_region_filter_lists_that_region_before_worldwide(env: Env) -> None:
    assert region_runs(await env.lib.list_cards(G, region="GB", home_region="US")) == [
        "GB",
        "intl",
    ]
    assert region_runs(await env.lib.list_cards(G, region="intl", home_region="US")) == ["intl"]
