"""Resource cards end to end: suggest, vet, share, edit, autocomplete, stale flags, /crisis."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.clock import FakeClock
from bot.services.resources import ResourceLibrary, Status
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import Channel, FakeDiscord, Member, Message
from tests.fakediscord.interactions import InteractionResult
from tests.support.clock import haven_clock_at
from tests.support.modals import modal_defaults

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Thursday 2027-01-07, 17:00 UTC. Shipped cards were verified on 2026-11-22.
NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)

SUGGESTION = {
    "title": "Riverside naloxone pick-up",
    "summary": "Free naloxone kits at the Riverside library front desk, no questions asked.",
    "link": "https://riverside.example.org/naloxone",
    "contact": "555-0100",
    "region_tags": "US: naloxone, overdose",
}


haven_clock = haven_clock_at(NOW)


def titles(server: FakeDiscord, channel: Channel) -> list[str]:
    """Embed titles posted in a channel, oldest first."""
    return [e.get("title", "") for m in server.messages_in(channel) for e in m.embeds]


async def posted(server: FakeDiscord, channel: Channel, title: str, count: int = 1) -> None:
    """Wait until `count` embeds with this title were posted in the channel."""
    await server.wait_for(
        lambda: titles(server, channel).count(title) >= count,
        message=f"never got {count} x {title!r} in #{channel.name}: {titles(server, channel)}",
    )


async def configure(server: FakeDiscord, c: Community, *, review: bool = True) -> Channel | None:
    """Mod log (and, optionally, a review channel) and the roles, as a moderator sets them."""
    review_channel = server.create_channel(c.guild, "resource-review") if review else None
    await server.flush()
    await server.invoke(
        c.guild,
        c.moderator,
        "setup roles",
        moderator=c.moderators_role,
        facilitator=c.facilitators_role,
    )
    options = {"modlog": c.modlog}
    if review_channel is not None:
        options["review"] = review_channel
    await server.invoke(c.guild, c.moderator, "setup channels", **options)
    return review_channel


async def suggest(
    server: FakeDiscord,
    c: Community,
    haven: HavenRunner,
    who: Member,
    review: Channel,
    **fields: str,
) -> tuple[InteractionResult, Message]:
    """Run /resource suggest, fill the modal, return the answer and the review message."""

    def review_cards() -> list[Message]:
        return [
            m for m in server.messages_in(review) if any(":approve:" in x for x in m.custom_ids())
        ]

    before = {m.id for m in review_cards()}
    opened = await server.invoke(c.guild, who, "resource suggest")
    assert opened.modal is not None
    answer = await server.submit_modal(opened, who, {**SUGGESTION, **fields})
    await server.wait_for(lambda: any(m.id not in before for m in review_cards()))
    message = next(m for m in review_cards() if m.id not in before)
    await review_message_stored(server, haven.running.services.resources, c, message)
    return answer, message


async def review_message_stored(
    server: FakeDiscord, lib: ResourceLibrary, c: Community, message: Message
) -> None:
    """Wait until the bot has recorded where the review message is (after posting it)."""
    card_id = button(message, "approve").split(":")[3]

    async def stored() -> bool:
        return (await lib.get(c.guild.id, card_id)).review_message_id == message.id

    await server.wait_for(stored, message="the review message id was never stored")


def button(message: Message, action: str) -> str:
    """The custom id of a message's approve/reject button."""
    return next(cid for cid in message.custom_ids() if f":{action}:" in cid)


async def approve(
    server: FakeDiscord, message: Message | InteractionResult, cid: str, who: Member, **fields: str
) -> InteractionResult:
    """Click Approve and fill in the source / verified-on modal."""
    clicked = await server.click(message, cid, who)
    assert clicked.modal is not None, clicked.text
    return await server.submit_modal(clicked, who, {**modal_defaults(clicked), **fields})


async def test_suggest_approve_share(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    review = await configure(server, c)
    assert review is not None
    answer, card_msg = await suggest(server, c, haven, c.peer, review)
    assert answer.ephemeral and "went to the moderators" in answer.text
    assert "Riverside naloxone pick-up" in card_msg.text and "pending" in card_msg.text
    assert card_msg.custom_ids() == ["haven:res:approve:g-1:1", "haven:res:reject:g-1:1"]

    # Not shareable yet.
    early = await server.invoke(c.guild, c.peer, "resource share", card="g-1")
    assert early.ephemeral and "waiting for a moderator" in early.text

    queue = await server.invoke(c.guild, c.moderator, "resource review")
    assert queue.ephemeral and "g-1" in queue.text

    done = await approve(
        server,
        card_msg,
        button(card_msg, "approve"),
        c.moderator,
        source="https://riverside.example.org/health",
        verified_on="2027-01-06",
    )
    assert done.ephemeral and "Approved `g-1`" in done.text
    await posted(server, c.modlog, "Resource card approved")
    entry = server.messages_in(c.modlog)[-1].text
    assert str(c.moderator.user.id) in entry and "2027-01-06" in entry
    await server.wait_for(lambda: not server.state.messages[card_msg.id].components)

    card = await haven.running.services.resources.get(c.guild.id, "g-1")
    assert card.status is Status.APPROVED
    assert card.approved_by_user_id == c.moderator.user.id
    assert card.approved_at == NOW and card.verified_on == date(2027, 1, 6)

    # Approving twice (from the older /resource review list) says so.
    again = await server.click(queue, button(queue.message, "approve"), c.moderator)  # type: ignore[arg-type]
    assert again.ephemeral and "already approved" in again.text

    shared = await server.invoke(c.guild, c.peer, "resource share", card="g-1")
    assert not shared.ephemeral
    text = shared.text
    assert "Riverside naloxone pick-up" in text
    assert "Source: <https://riverside.example.org/health>" in text
    assert "Last verified on 2027-01-06" in text
    assert "555-0100" in text
    assert shared.message is not None and shared.message.channel_id == c.general.id

    shown = await server.invoke(c.guild, c.peer, "resource show", card="fel-na-meetings")
    assert shown.ephemeral
    assert "not affiliated with or endorsed by Narcotics Anonymous" in shown.text
    assert "Last verified on 2026-11-22" in shown.text


async def test_suggest_reject(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    review = await configure(server, c, review=False)
    # No review channel: suggestions go to the mod log.
    _, card_msg = await suggest(server, c, haven, c.peer, c.modlog)
    rejected = await server.click(card_msg, button(card_msg, "reject"), c.moderator)
    assert rejected.ephemeral and "Rejected `g-1`" in rejected.text
    await posted(server, c.modlog, "Resource card rejected")
    assert review is None
    shared = await server.invoke(c.guild, c.peer, "resource share", card="g-1")
    assert shared.ephemeral and "was not approved" in shared.text
    listed = await server.invoke(c.guild, c.peer, "resource list", tag="naloxone")
    assert "Riverside" not in listed.text
    queue = await server.invoke(c.guild, c.moderator, "resource review")
    assert "Nothing is waiting" in queue.text


async def test_bad_suggestion_gets_a_specific_message_and_stores_nothing(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    for link, expected in (
        ("javascript:alert(1)", "javascript: links are not allowed"),
        ("http://riverside.example.org", "must start with https://"),
        ("https://example.org/" + "a" * 600, "the limit is 512"),
    ):
        opened = await server.invoke(c.guild, c.peer, "resource suggest")
        answer = await server.submit_modal(opened, c.peer, {**SUGGESTION, "link": link})
        assert answer.ephemeral and expected in answer.text, answer.text
    opened = await server.invoke(c.guild, c.peer, "resource suggest")
    answer = await server.submit_modal(
        opened, c.peer, {**SUGGESTION, "summary": "Ask @everyone at the desk."}
    )
    assert answer.ephemeral and "mention" in answer.text
    assert await haven.running.db.fetchval("SELECT count(*) FROM resource_cards") == 0


async def test_edit_sends_an_approved_card_back_to_review(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    review = await configure(server, c)
    assert review is not None
    opened = await server.invoke(
        c.guild, c.moderator, "resource add", region="US", verified_on="2027-01-05"
    )
    added = await server.submit_modal(
        opened,
        c.moderator,
        {
            "title": "Riverside harm reduction van",
            "summary": "A van with naloxone and supplies visits Riverside Park on Fridays.",
            "contacts": "phone: 555-0101 | Van coordinator",
            "source": "https://riverside.example.org/van",
            "tags": "naloxone, harm-reduction",
        },
    )
    assert added.ephemeral and "Added `g-1`" in added.text
    await posted(server, c.modlog, "Resource card added")
    assert not (await server.invoke(c.guild, c.peer, "resource share", card="g-1")).ephemeral

    opened = await server.invoke(c.guild, c.moderator, "resource edit", card="g-1")
    assert opened.modal is not None
    defaults = modal_defaults(opened)
    assert defaults["title"] == "Riverside harm reduction van"
    assert defaults["contacts"] == "phone: 555-0101 | Van coordinator"
    edited = await server.submit_modal(
        opened,
        c.moderator,
        {**defaults, "summary": "The van now comes on Saturdays."},
    )
    assert edited.ephemeral and "went back to review" in edited.text
    await server.wait_for(lambda: bool(server.messages_in(review)))
    card_msg = server.messages_in(review)[-1]
    assert card_msg.custom_ids() == ["haven:res:approve:g-1:2", "haven:res:reject:g-1:2"]
    await review_message_stored(server, haven.running.services.resources, c, card_msg)
    blocked = await server.invoke(c.guild, c.peer, "resource share", card="g-1")
    assert blocked.ephemeral and "waiting for a moderator" in blocked.text

    # Editing a pending card again retires the older review message (stale buttons gone).
    opened = await server.invoke(c.guild, c.moderator, "resource edit", card="g-1")
    await server.submit_modal(
        opened, c.moderator, {**modal_defaults(opened), "summary": "Saturdays from 10 to 2."}
    )
    await server.wait_for(lambda: not server.state.messages[card_msg.id].components)
    assert "Edited: see the newer review message" in server.state.messages[card_msg.id].text
    await server.wait_for(lambda: len(server.messages_in(review)) == 2)
    card_msg = server.messages_in(review)[-1]
    assert card_msg.custom_ids() == ["haven:res:approve:g-1:3", "haven:res:reject:g-1:3"]
    await review_message_stored(server, haven.running.services.resources, c, card_msg)

    done = await approve(server, card_msg, button(card_msg, "approve"), c.moderator)
    assert "Approved" in done.text
    shared = await server.invoke(c.guild, c.peer, "resource share", card="g-1")
    assert "Saturdays" in shared.text and "Last verified on 2027-01-07" in shared.text

    shipped = await server.invoke(c.guild, c.moderator, "resource edit", card="us-988")
    assert shipped.ephemeral and "can't be edited in Discord" in shipped.text


async def test_peer_and_facilitator_cannot_approve(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    review = await configure(server, c)
    assert review is not None
    _, card_msg = await suggest(server, c, haven, c.peer, review)
    for who in (c.peer, c.facilitator):
        refused = await server.click(card_msg, button(card_msg, "approve"), who)
        assert refused.modal is None
        assert refused.ephemeral and "Only moderators" in refused.text
        refused = await server.click(card_msg, button(card_msg, "reject"), who)
        assert refused.ephemeral and "Only moderators" in refused.text
        queue = await server.invoke(c.guild, who, "resource review")
        assert "Only moderators" in queue.text
    card = await haven.running.services.resources.get(c.guild.id, "g-1")
    assert card.status is Status.PENDING and card.approved_by_user_id is None


async def test_crisis_answers_with_the_database_closed(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    unset = await server.invoke(c.guild, c.peer, "crisis")
    assert unset.ephemeral
    for expected in ("call your local emergency number", "988", "Samaritans", "Lifeline", "000"):
        assert expected in unset.text

    await server.invoke(c.guild, c.moderator, "setup defaults", region="GB")
    await haven.running.services.db.close()

    answer = await server.invoke(c.guild, c.peer, "crisis")
    assert answer.ephemeral
    text = answer.text
    assert "call 999 now" in text
    assert "Samaritans (UK)" in text and "116 123" in text
    assert "Outside the United Kingdom?" in text and "United States: 911" in text
    assert "988 Suicide & Crisis Lifeline" not in text
    assert "no medical advice" in text


async def test_autocomplete_by_title_and_tag(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    by_title = await server.autocomplete(
        c.guild, c.peer, "resource show", focused="card", card="Samar"
    )
    assert {ch["value"] for ch in by_title} >= {"uk-samaritans", "ie-samaritans"}
    by_tag = await server.autocomplete(
        c.guild, c.peer, "resource share", focused="card", card="nalox"
    )
    assert "us-naloxone-otc" in {ch["value"] for ch in by_tag}
    assert all(len(ch["name"]) <= 100 for ch in by_tag)
    hidden = await server.autocomplete(
        c.guild, c.peer, "resource show", focused="card", card="never use"
    )
    assert hidden == []
    for_mods = await server.autocomplete(
        c.guild, c.moderator, "resource enable", focused="card", card="never use"
    )
    assert [(ch["value"], ch["name"].endswith("(off)")) for ch in for_mods] == [
        ("us-never-use-alone", True)
    ]
    everything = await server.autocomplete(
        c.guild, c.peer, "resource show", focused="card", card=""
    )
    assert 0 < len(everything) <= 25


async def test_list_is_paginated_and_filtered(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    listed = await server.invoke(c.guild, c.peer, "resource list")
    assert listed.ephemeral and "Page 1 of" in listed.text
    assert listed.message is not None
    nxt = next(cid for cid in listed.custom_ids() if cid)
    labels = listed.message.labels()
    assert labels == ["Previous", "Next"]
    turned = await server.click(listed, listed.custom_ids()[1], c.peer)
    assert "Page 2 of" in turned.text
    assert nxt
    crisis_gb = await server.invoke(c.guild, c.peer, "resource list", tag="crisis", region="GB")
    assert "Samaritans (UK)" in crisis_gb.text and "988" not in crisis_gb.text


async def listed_regions(server: FakeDiscord, who: Member) -> list[str]:
    """Every card's region on every page of /resource list, in order, as the reader sees them."""
    listed = await server.invoke(who.guild_id, who, "resource list")
    texts = [listed.text]
    while listed.message is not None and "Next" in listed.message.labels():
        button = listed.message.find_component("Next")
        if button is None or button.get("disabled"):
            break
        listed = await server.click(listed, button["custom_id"], who)
        texts.append(listed.text)
    return re.findall(r"\(`[^`]+`\) · (\w+)", "\n".join(texts))


def runs(regions: list[str]) -> list[str]:
    """One entry per run of equal regions."""
    return [r for i, r in enumerate(regions) if i == 0 or regions[i - 1] != r]


async def test_list_starts_with_the_servers_region_then_worldwide_cards(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    # No region set: nobody's country comes first; worldwide cards apply to every reader.
    assert runs(await listed_regions(server, c.peer)) == ["intl", "AU", "CA", "GB", "IE", "US"]
    await server.invoke(c.guild, c.moderator, "setup defaults", region="US")
    regions = await listed_regions(server, c.peer)
    assert runs(regions) == ["US", "intl", "AU", "CA", "GB", "IE"]
    assert regions.count("US") == 11  # every shareable US card, none lost across pages


async def test_stale_cards_are_flagged_weekly_with_an_injected_clock(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    haven_clock: FakeClock,
) -> None:
    server, c = discord_server, community
    await configure(server, c, review=False)
    bot = haven.running
    await bot.jobs_started.wait()
    jobs = bot.services.jobs

    # The first weekly check (Monday 2027-01-11): nothing is past its review date yet.
    haven_clock.set(datetime(2027, 1, 11, 15, 1, tzinfo=UTC))
    await jobs.run_due()
    await jobs.drain()
    assert "Resource cards due for re-checking" not in titles(server, c.modlog)

    # 2026-11-22 + 90 days = 2027-02-20; crisis cards are stale by Monday 2027-02-22.
    haven_clock.set(datetime(2027, 2, 22, 15, 1, tzinfo=UTC))
    await jobs.run_due()
    await jobs.drain()
    await posted(server, c.modlog, "Resource cards due for re-checking")
    flag = server.messages_in(c.modlog)[-1].text
    assert "us-988" in flag and "last verified on 2026-11-22" in flag
    assert "us-findtreatment" not in flag  # reviewed every 180 days

    shown = await server.invoke(c.guild, c.peer, "resource show", card="us-988")
    assert "Last verified on 2026-11-22 (due for re-checking" in shown.text

    verified = await server.invoke(c.guild, c.moderator, "resource verify", card="us-988")
    assert "verified on 2027-02-22" in verified.text
    await posted(server, c.modlog, "Resource card re-verified")

    haven_clock.advance(timedelta(days=7))
    await jobs.run_due()
    await jobs.drain()
    await posted(server, c.modlog, "Resource cards due for re-checking", 2)
    second = [m for m in server.messages_in(c.modlog) if "due for re-checking" in m.text][-1].text
    assert "us-988" not in second and "uk-samaritans" in second
    assert len(await jobs.pending(kind="resources.stale")) == 1


async def test_review_buttons_work_after_a_restart(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    review = await configure(server, c)
    assert review is not None
    _, first = await suggest(server, c, haven, c.peer, review)
    _, second = await suggest(server, c, haven, c.family, review, title="Second suggestion")

    await haven.restart()

    done = await approve(server, first, button(first, "approve"), c.moderator)
    assert "Approved `g-1`" in done.text
    rejected = await server.click(second, button(second, "reject"), c.moderator)
    assert "Rejected `g-2`" in rejected.text
    lib = haven.running.services.resources
    assert (await lib.get(c.guild.id, "g-1")).status is Status.APPROVED
    assert (await lib.get(c.guild.id, "g-2")).status is Status.REJECTED


async def test_enable_and_disable_are_logged(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    off = await server.invoke(c.guild, c.peer, "resource show", card="us-never-use-alone")
    assert "turned off in this server" in off.text
    on = await server.invoke(c.guild, c.moderator, "resource enable", card="us-never-use-alone")
    assert "Turned on" in on.text
    await posted(server, c.modlog, "Resource card turned on")
    shown = await server.invoke(c.guild, c.peer, "resource show", card="us-never-use-alone")
    assert not shown.text.startswith("That card")
    peer_try = await server.invoke(c.guild, c.peer, "resource disable", card="us-988")
    assert "Only moderators" in peer_try.text
    await server.invoke(c.guild, c.moderator, "resource disable", card="us-988")
    await posted(server, c.modlog, "Resource card turned off")
    gone = await server.invoke(c.guild, c.peer, "resource share", card="us-988")
    assert gone.ephemeral and "turned off" in gone.text
