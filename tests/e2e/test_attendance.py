"""Anonymous attendance, shares, proof slips and the moderator line, end to end."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.keys import derive_key
from bot.occurrences import Repeat
from bot.services.meetings import Access, Kind, Meeting
from tests.e2e.harness import TEST_SECRET_KEY, Community, HavenRunner, moderators_channel
from tests.fakediscord import Channel, FakeDiscord, Member
from tests.fakediscord.interactions import InvocationError

# Tuesday 5 January 2027, noon UTC; the meeting is at 19:00 New York (00:00 UTC the next day).
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
OPENS = datetime(2027, 1, 5, 23, 51, tzinfo=UTC)  # the room opens 10 minutes before
CLOSES = datetime(2027, 1, 6, 1, 16, tzinfo=UTC)  # and closes 15 minutes after the end
OCC = "2027-01-05"


@pytest.fixture
def haven_clock() -> FakeClock:
    return FakeClock(T0)


def _clock(haven: HavenRunner) -> FakeClock:
    clock = haven.running.services.clock
    assert isinstance(clock, FakeClock)
    return clock


async def _configure(haven: HavenRunner, community: Community, **extra: int) -> None:
    await haven.running.services.guilds.update(
        community.guild.id,
        moderator_role_id=community.moderators_role.id,
        facilitator_role_id=community.facilitators_role.id,
        member_role_id=community.members_role.id,
        family_role_id=community.family_role.id,
        modlog_channel_id=community.modlog.id,
        **extra,
    )


async def _meeting(haven: HavenRunner, community: Community) -> Meeting:
    services = haven.running.services
    async with services.db.transaction() as tx:
        mid = await services.meetings.create(
            tx,
            guild_id=community.guild.id,
            title="Tuesday Night Hope",
            kind=Kind.NA,
            access=Access.OPEN,
            formats=("discussion",),
            timezone="America/New_York",
            first_date=date(2027, 1, 5),
            start_time=time(19, 0),
            duration_minutes=60,
            repeat=Repeat.WEEKLY,
            facilitator_id=community.facilitator.user.id,
        )
    meeting = await services.meetings.get(mid)
    assert meeting is not None
    return meeting


async def _run_jobs_at(haven: HavenRunner, when: datetime) -> None:
    _clock(haven).set(when)
    await haven.running.services.jobs.run_due()
    await haven.running.services.jobs.drain()


async def _open_room(
    server: FakeDiscord, haven: HavenRunner, community: Community
) -> tuple[Meeting, Channel]:
    """A meeting with a room, opened by its schedule (the rooms feature emits ROOM_OPENED)."""
    await _configure(haven, community)
    meeting = await _meeting(haven, community)
    created = await server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(meeting.id)
    )
    assert "Created the room" in created.all_text, created.all_text
    link = await haven.running.services.rooms.link(meeting.id)
    assert link is not None
    await _run_jobs_at(haven, OPENS)
    assert haven.running.services.attendance.open_occurrence(meeting.id) == OCC
    return meeting, server.state.channels[link.text_channel_id]


def _card(server: FakeDiscord, channel: Channel, meeting: Meeting):  # type: ignore[no-untyped-def]
    custom_id = f"haven:checkin:{meeting.id}:{OCC}"
    cards = [m for m in server.messages_in(channel) if custom_id in m.custom_ids()]
    assert cards, "the opening card with its Check in button"
    return cards[-1], custom_id


def _hmac_forms(user_id: int, guild_id: int) -> list[bytes]:
    """Every keyed hash of this user Haven could compute under a key that is still stored."""
    master = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()
    keys = [master] + [
        derive_key(master, p)
        for p in ("attendance-proof", "modline-seal", "modline-conversation", "modline-block")
    ]
    messages = [
        str(user_id).encode(),
        f"{guild_id}:{user_id}".encode(),
        user_id.to_bytes(8, "big"),
        user_id.to_bytes(8, "little"),
    ]
    out = []
    for key in keys:
        for msg in messages:
            digest = hmac.new(key, msg, hashlib.sha256).digest()
            out += [digest, digest[:16]]
    return out


def _id_forms(user_id: int) -> list[bytes]:
    return [
        str(user_id).encode(),
        user_id.to_bytes(8, "big"),
        user_id.to_bytes(8, "little"),
    ]


def _database_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


async def test_check_in_counts_once_and_leaves_no_trace(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    meeting, room = await _open_room(server, haven, community)
    extra = [
        server.create_member(community.guild, f"peer-{i}", [community.members_role])
        for i in range(2)
    ]
    attendees: list[Member] = [community.peer, community.family, *extra]
    card, custom_id = _card(server, room, meeting)

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

    await _run_jobs_at(haven, CLOSES)
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
    await _run_jobs_at(haven, CLOSES + timedelta(minutes=61))
    assert services.attendance.live() == []
    db_path = haven.database_path
    for closed in (False, True):
        if closed:
            await haven.stop()  # checkpoints the WAL into the file
        data = _database_bytes(db_path)
        # The search works: a facilitator is (rightly) stored as one, as an integer.
        facilitator = community.facilitator.user.id
        assert any(form in data for form in _id_forms(facilitator))
        _assert_untraceable(data, attendees, community.guild.id)


def _assert_untraceable(data: bytes, attendees: list[Member], guild_id: int) -> None:
    for member in attendees:
        uid = member.user.id
        for form in _id_forms(uid):
            assert form not in data, f"user id of {member.user.username} found in the database"
        for digest in _hmac_forms(uid, guild_id):
            assert digest not in data, f"a keyed hash of {member.user.username} found"


async def test_proof_slip_verifies_and_tampering_fails(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    meeting, room = await _open_room(server, haven, community)
    card, custom_id = _card(server, room, meeting)
    none_yet = await server.invoke(community.guild, community.peer, "attendance proof")
    assert none_yet.ephemeral and "checked in" in none_yet.text
    await server.click(card, custom_id, community.peer)
    await _run_jobs_at(haven, CLOSES)
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
    await _run_jobs_at(haven, CLOSES + timedelta(minutes=61))
    gone = await server.invoke(community.guild, community.peer, "attendance proof")
    assert "HVN1-" not in gone.text


async def test_share_posts_under_a_pseudonym_and_silence_works(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    meeting, room = await _open_room(server, haven, community)
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

    _clock(haven).advance(timedelta(seconds=31))
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
    await _configure(haven, community, moderators_channel_id=mods_channel.id)

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
    for form in _id_forms(community.peer.user.id):
        assert form not in raw
    # Closing and blocking left no readable id and no conversation hash anywhere in the file.
    conversation_hash = services.modline.conversation_hash(guild.id, community.peer.user.id)
    db_path = haven.database_path
    await haven.stop()
    data = _database_bytes(db_path)
    assert conversation_hash not in data
    for form in _id_forms(community.peer.user.id):
        assert form not in data


async def test_restart_mid_meeting_gets_a_new_key_and_may_count_twice(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    """The documented trade-off: the key is only in memory, so a restart forgets who checked in."""
    server = discord_server
    meeting, room = await _open_room(server, haven, community)
    card, custom_id = _card(server, room, meeting)
    await server.click(card, custom_id, community.peer)
    bot = await haven.restart()
    await asyncio.wait_for(bot.jobs_started.wait(), 5)
    assert bot.services.attendance.open_occurrence(meeting.id) == OCC  # announced at start
    again = await server.click(card, custom_id, community.peer)
    assert "You're checked in" in again.text
    await _run_jobs_at(haven, CLOSES)
    assert (
        await bot.services.db.fetchval(
            "SELECT checkins FROM attendance_counts WHERE meeting_id = ?", (meeting.id,)
        )
        == 2
    )
