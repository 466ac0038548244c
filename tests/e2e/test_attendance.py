"""Anonymous attendance, shares, proof slips and the moderator line, end to end."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.e2e.harness import Community, HavenRunner, moderators_channel
from tests.fakediscord import FakeDiscord, Member
from tests.fakediscord.interactions import InvocationError
from tests.support.attendance import (
    CLOSES,
    OCC,
    T0,
    checkin_card,
    configure,
    open_room,
)
from tests.support.clock import fake_clock, haven_clock_at, run_jobs_at
from tests.support.traces import hmac_forms, id_forms

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py). The no-trace checks search what
# the store holds: SQLite's file and WAL bytes, PostgreSQL's table contents (HavenStore).
pytestmark = pytest.mark.both_backends

haven_clock = haven_clock_at(T0)


async def test_check_in_counts_once_and_leaves_no_trace(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    meeting, room = await open_room(server, haven, community)
    extra = [
        server.create_member(community.guild, f"peer-{i}", [community.members_role])
        for i in range(2)
    ]
    attendees: list[Member] = [community.peer, community.family, *extra]
    card, custom_id = checkin_card(server, room, meeting)

    first = await server.click(card, custom_id, community.peer)
    assert first.ephemeral and "checked in" in first.text
    again = await server.click(card, custom_id, community.peer)
    assert again.ephemeral and "already checked in" in again.text
    by_command = await server.invoke(community.guild, community.family, "checkin", _channel=room)
    assert by_command.ephemeral and "checked in" in by_command.text
    twice = await server.invoke(community.guild, community.family, "checkin", _channel=room)
    assert "already" in twice.text
    for member in extra:
        await server.click(card, custom_id, member)
    elsewhere = await server.invoke(community.guild, community.peer, "checkin")
    assert elsewhere.ephemeral and "meeting room" in elsewhere.text

    await run_jobs_at(haven, CLOSES)
    services = haven.running.services
    assert services.attendance.open_occurrence(meeting.id) is None
    assert (
        await services.db.fetchval(
            "SELECT checkins FROM attendance_counts WHERE meeting_id = ?", (meeting.id,)
        )
        == 4
    )
    late = await server.click(card, custom_id, community.moderator)
    assert "not open" in late.text

    counts = await server.invoke(
        community.guild, community.facilitator, "attendance counts", meeting=str(meeting.id)
    )
    assert counts.ephemeral and "fewer than 5" in counts.text and OCC in counts.text
    assert "4" not in counts.text.replace("2027", "")
    refused = await server.invoke(
        community.guild, community.peer, "attendance counts", meeting=str(meeting.id)
    )
    assert "facilitators" in refused.text and OCC not in refused.text

    # Past the proof window the occurrence key is dropped; then nothing links anyone to it.
    await run_jobs_at(haven, CLOSES + timedelta(minutes=61))
    assert services.attendance.live() == []
    store = haven.store
    for closed in (False, True):
        if closed:
            await haven.stop()  # checkpoints the WAL into the file
        data = await store.stored_bytes()
        # The search works: a facilitator is (rightly) stored as one, as an integer.
        facilitator = community.facilitator.user.id
        assert any(form in data for form in id_forms(facilitator))
        _assert_untraceable(data, attendees, community.guild.id)


def _assert_untraceable(data: bytes, attendees: list[Member], guild_id: int) -> None:
    for member in attendees:
        uid = member.user.id
        for form in id_forms(uid):
            assert form not in data, f"user id of {member.user.username} found in the database"
        for digest in hmac_forms(uid, guild_id):
            assert digest not in data, f"a keyed hash of {member.user.username} found"


async def test_proof_slip_verifies_and_tampering_fails(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    meeting, room = await open_room(server, haven, community)
    card, custom_id = checkin_card(server, room, meeting)
    none_yet = await server.invoke(community.guild, community.peer, "attendance proof")
    assert none_yet.ephemeral and "checked in" in none_yet.text
    await server.click(card, custom_id, community.peer)
    await run_jobs_at(haven, CLOSES)
    slip = await server.invoke(community.guild, community.peer, "attendance proof", name="Pat Q.")
    assert slip.ephemeral
    assert "Tuesday Night Hope" in slip.text and OCC in slip.text and "Pat Q." in slip.text
    code = next(line for line in slip.text.splitlines() if line.startswith("HVN1-"))
    ok = await server.invoke(community.guild, community.moderator, "attendance verify", code=code)
    assert "Genuine" in ok.text and "Tuesday Night Hope" in ok.text and OCC in ok.text
    tampered = code[:-3] + ("AAA" if not code.endswith("AAA") else "BBB")
    bad = await server.invoke(
        community.guild, community.moderator, "attendance verify", code=tampered
    )
    assert "Not genuine" in bad.text
    # After the proof window nobody can get a slip for that occurrence any more.
    await run_jobs_at(haven, CLOSES + timedelta(minutes=61))
    gone = await server.invoke(community.guild, community.peer, "attendance proof")
    assert "HVN1-" not in gone.text


async def test_share_posts_under_a_pseudonym_and_silence_works(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    meeting, room = await open_room(server, haven, community)
    shared = await server.invoke(
        community.guild,
        community.peer,
        "share",
        _channel=room,
        text=f"Day 30 today @everyone <@&{community.moderators_role.id}> see https://example.com/x",
    )
    assert shared.ephemeral and "Shared as **Peer " in shared.all_text
    posts = [m for m in server.messages_in(room) if m.webhook_id is not None]
    assert len(posts) == 1
    post = posts[0]
    pseudonym = post.author["username"]
    assert pseudonym.startswith("Peer ") and pseudonym in shared.all_text
    assert "Day 30 today" in post.content
    assert "https://" not in post.content and "@everyone" not in post.content
    assert not post.mention_everyone and not post.mention_roles and not post.mentions
    assert post.allowed_mentions == {"parse": []} or not (post.allowed_mentions or {}).get("parse")
    for leak in (community.peer.user.username, str(community.peer.user.id)):
        assert leak not in post.content and leak not in str(post.author)

    too_soon = await server.invoke(
        community.guild, community.peer, "share", _channel=room, text="more"
    )
    assert "30 seconds" in too_soon.text

    silence_id = next(c for c in post.custom_ids() if c.startswith("haven:silence:"))
    not_mod = await server.click(post, silence_id, community.family)
    assert "Only moderators" in not_mod.text
    silenced = await server.click(post, silence_id, community.moderator)
    assert silenced.ephemeral and pseudonym in silenced.text
    assert community.peer.user.username not in silenced.text
    assert await server.wait_for(
        lambda: any("silenced" in m.text for m in server.messages_in(community.modlog))
    )

    fake_clock(haven).advance(timedelta(seconds=31))
    blocked = await server.invoke(
        community.guild, community.peer, "share", _channel=room, text="hi"
    )
    assert "paused" in blocked.text
    other = await server.invoke(
        community.guild, community.family, "share", _channel=room, text="hi all"
    )
    assert "Shared as" in other.all_text
    posts = [m for m in server.messages_in(room) if m.webhook_id is not None]
    assert len(posts) == 2 and posts[1].author["username"] != pseudonym


async def test_moderator_line_relays_both_ways_and_blocks(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    guild = community.guild
    mods_channel = moderators_channel(server, community)
    await server.flush()
    await configure(haven, community, moderators_channel_id=mods_channel.id)

    sent = await server.invoke(
        guild, community.peer, "moderators message", text="I relapsed, scared"
    )
    assert sent.ephemeral and "Anon-" in sent.all_text
    threads = [c for c in server.state.channels.values() if c.parent_id == mods_channel.id]
    assert len(threads) == 1 and threads[0].is_thread
    thread = threads[0]
    assert thread.type == 12  # private
    relayed = server.messages_in(thread)
    assert relayed and "I relapsed, scared" in relayed[-1].content
    for msg in [*relayed, *server.messages_in(mods_channel)]:
        assert community.peer.user.username not in msg.text
        assert str(community.peer.user.id) not in msg.text

    reply = await server.invoke(
        guild, community.moderator, "moderators reply", _channel=thread, text="We're here for you"
    )
    assert "Delivered" in reply.all_text
    dms = server.dms_to(community.peer)
    assert dms and "We're here for you" in dms[-1].content
    assert community.moderator.user.username not in dms[-1].content

    peer_reply = await server.invoke(guild, community.peer, "moderators message", text="thank you")
    assert "Anon-" in peer_reply.all_text
    assert [c for c in server.state.channels.values() if c.parent_id == mods_channel.id] == [thread]
    last = server.messages_in(thread)[-1]
    assert "thank you" in last.content

    with pytest.raises(InvocationError, match="cannot see"):
        await server.invoke(guild, community.peer, "moderators reply", _channel=thread, text="x")
    not_mod = await server.invoke(guild, community.family, "moderators reply", text="x")
    assert "Only moderators" in not_mod.text

    block_id = next(c for c in last.custom_ids() if c.startswith("haven:modline:block:"))
    blocked = await server.click(last, block_id, community.moderator)
    assert "Blocked" in blocked.text
    assert await server.wait_for(
        lambda: any("blocked" in m.text.lower() for m in server.messages_in(community.modlog))
    )
    again = await server.invoke(guild, community.peer, "moderators message", text="hello?")
    assert "can't send" in again.text
    services = haven.running.services
    assert await services.db.fetchval("SELECT count(*) FROM modline_conversations") == 0
    assert await services.db.fetchval("SELECT count(*) FROM modline_blocks") == 1
    row = await services.db.fetchone("SELECT * FROM modline_blocks")
    assert row is not None
    raw = b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in tuple(row))
    for form in id_forms(community.peer.user.id):
        assert form not in raw
    # Closing and blocking left no readable id and no conversation hash anywhere in the file.
    conversation_hash = services.modline.conversation_hash(guild.id, community.peer.user.id)
    store = haven.store
    await haven.stop()
    data = await store.stored_bytes()
    assert conversation_hash not in data
    for form in id_forms(community.peer.user.id):
        assert form not in data


async def test_restart_mid_meeting_gets_a_new_key_and_may_count_twice(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    """The documented trade-off: the key is only in memory, so a restart forgets who checked in."""
    server = discord_server
    meeting, room = await open_room(server, haven, community)
    card, custom_id = checkin_card(server, room, meeting)
    await server.click(card, custom_id, community.peer)
    bot = await haven.restart()
    await asyncio.wait_for(bot.jobs_started.wait(), 5)
    assert bot.services.attendance.open_occurrence(meeting.id) == OCC  # announced at start
    again = await server.click(card, custom_id, community.peer)
    assert "You're checked in" in again.text
    await run_jobs_at(haven, CLOSES)
    assert (
        await bot.services.db.fetchval(
            "SELECT checkins FROM attendance_counts WHERE meeting_id = ?", (meeting.id,)
        )
        == 2
    )


async def test_a_spanish_meetings_room_names_its_sharers_in_spanish(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    """The pseudonym is read by the whole room, so it follows the meeting's language."""
    server = discord_server
    meeting, room = await open_room(server, haven, community)
    services = haven.running.services
    async with services.db.transaction() as tx:
        await services.meetings.update(tx, meeting.id, language="es")
    shared = await server.invoke(
        community.guild, community.peer, "share", _channel=room, text="Hoy cumplo 30 días"
    )
    (post,) = [m for m in server.messages_in(room) if m.webhook_id is not None]
    pseudonym = post.author["username"]
    assert pseudonym.startswith("Persona ") and f"**{pseudonym}**" in shared.all_text
    silence_id = next(c for c in post.custom_ids() if c.startswith("haven:silence:"))
    silenced = await server.click(post, silence_id, community.moderator)  # an English client
    assert silenced.text.startswith(f"{pseudonym} can't share anonymously again")
