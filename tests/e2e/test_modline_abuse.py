"""The anonymous line to moderators under abuse: floods, forget-me loops and links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.harness import Community, HavenRunner, moderators_channel
from tests.fakediscord import Channel, FakeDiscord
from tests.support.actors import People
from tests.support.clock import fake_clock, haven_clock_at

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)


haven_clock = haven_clock_at(T0)


async def _line(server: FakeDiscord, haven: HavenRunner, community: Community) -> Channel:
    guild = community.guild
    mods = moderators_channel(server, community)
    await server.flush()
    await haven.running.services.guilds.update(
        guild.id,
        moderator_role_id=community.moderators_role.id,
        modlog_channel_id=community.modlog.id,
        moderators_channel_id=mods.id,
    )
    return mods


def _threads(server: FakeDiscord, mods: Channel) -> list[Channel]:
    return [c for c in server.state.channels.values() if c.parent_id == mods.id]


def _relayed(server: FakeDiscord, mods: Channel) -> list[str]:
    return [m.content for t in _threads(server, mods) for m in server.messages_in(t)]


async def test_a_flood_is_refused_with_when_to_try_again_even_after_forget_me(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, people: People
) -> None:
    server, peer, family = discord_server, people.peer, people.family
    mods = await _line(server, haven, community)
    answers = [await peer("moderators message", text=f"m{i}") for i in range(15)]
    accepted = [a for a in answers if "Sent to the moderators" in a.all_text]
    refused = [a for a in answers if a not in accepted]
    assert 3 <= len(accepted) < 15, [a.all_text for a in answers]
    assert answers[: len(accepted)] == accepted, "the first ones go through, the later ones not"
    for answer in refused:
        assert answer.ephemeral and "try again in 10 minutes" in answer.all_text, answer.all_text
    assert len([c for c in _relayed(server, mods) if c.startswith("**Anon-")]) == len(accepted)

    # Forget-me (or leaving and rejoining) does not reset the limit.
    await peer.forget_me()
    again = await peer("moderators message", text="x")
    assert "try again in" in again.all_text, again.all_text
    other = await family("moderators message", text="y")
    assert "Sent to the moderators" in other.all_text

    fake_clock(haven).advance(timedelta(minutes=10))
    later = await family("moderators message", text="z")
    assert "Sent to the moderators" in later.all_text


async def test_forget_me_between_messages_does_not_open_a_thread_each_time(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, people: People
) -> None:
    server, peer = discord_server, people.peer
    mods = await _line(server, haven, community)
    first = await peer("moderators message", text="hello")
    assert "Sent to the moderators" in first.all_text
    announcements = len(server.messages_in(mods))
    for i in range(3):
        await peer.forget_me()
        again = await peer("moderators message", text=f"again {i}")
        assert again.ephemeral and "new conversation" in again.all_text, again.all_text
        assert "try again in" in again.all_text
    assert len(_threads(server, mods)) == 1, "one private thread, moderators added once"
    assert len(server.messages_in(mods)) == announcements

    fake_clock(haven).advance(timedelta(hours=1))
    later = await peer("moderators message", text="later")
    assert "Sent to the moderators" in later.all_text
    assert len(_threads(server, mods)) == 2


async def test_links_in_a_message_to_the_moderators_are_not_clickable(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    mods = await _line(server, haven, community)
    role = f"<@&{community.moderators_role.id}>"
    text = f"see https://evil.example/login and www.bad.example or discord.gg/abc {role} @here"
    sent = await server.invoke(community.guild, community.peer, "moderators message", text=text)
    assert "Sent to the moderators" in sent.all_text
    [post] = [c for c in _relayed(server, mods) if c.startswith("**Anon-")]
    for live in ("https://", "evil.example", "www.bad.example", "discord.gg/", "@here", role):
        assert live not in post, f"{live!r} stayed live in {post!r}"
    assert "hxxps[:]//evil[.]example/login" in post and "discord[.]gg/abc" in post


async def test_a_long_message_that_grows_when_made_literal_still_reaches_the_moderators(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    mods = await _line(server, haven, community)
    for text in ("@" * 1800, "*" * 1800, "a.bc/" * 360):
        sent = await server.invoke(community.guild, community.peer, "moderators message", text=text)
        assert "Sent to the moderators" in sent.all_text, sent.all_text
    posts = [c for c in _relayed(server, mods) if c.startswith("**Anon-")]
    assert len(posts) == 3 and all(len(p) <= 2000 for p in posts)
