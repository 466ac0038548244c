"""Rooms end to end through the local Discord: create, open/close on schedule, moderation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.bus import MEETING_CHANGED, ROOM_CLOSED, ROOM_OPENED
from bot.clock import FakeClock
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.services.meetings import Access, Actor, Kind, Meeting, MeetingEdit
from bot.services.rooms import RoomLink
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import ChannelType, FakeDiscord, InvocationError, P
from tests.support.clock import haven_clock_at
from tests.support.community import configure_guild
from tests.support.meetings import make_meeting

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Tuesday 5 January 2027, noon UTC. Meetings are weekly at 19:00 New York (00:00 UTC the next
# day) for 60 minutes; rooms open 10 minutes before and close 15 minutes after.
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
START = datetime(2027, 1, 6, 0, 0, tzinfo=UTC)
OPENS = START - timedelta(minutes=10)
CLOSES = START + timedelta(minutes=75)
KEY = "2027-01-05"

EXTENSIONS = ("cogs.setup", "cogs.help", "cogs.privacy", "cogs.rooms")

# The exact permission bits Haven writes (Discord's numbering).
AUDIENCE = P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY | P.CONNECT
TEXT_SPEAK = (
    P.SEND_MESSAGES
    | P.SEND_MESSAGES_IN_THREADS
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.ADD_REACTIONS
)
VOICE_SPEAK = P.SEND_MESSAGES | P.SPEAK
STAGE_SPEAK = VOICE_SPEAK | P.REQUEST_TO_SPEAK
STAFF = (
    P.VIEW_CHANNEL
    | P.READ_MESSAGE_HISTORY
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.CONNECT
    | P.SPEAK
    | P.MANAGE_MESSAGES
    | P.MUTE_MEMBERS
    | P.MOVE_MEMBERS
)
BOT = (
    P.VIEW_CHANNEL
    | P.READ_MESSAGE_HISTORY
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.MANAGE_MESSAGES
    | P.CONNECT
)
HIDDEN = P.VIEW_CHANNEL | P.CONNECT
REMOVED = P.VIEW_CHANNEL | P.CONNECT | P.SEND_MESSAGES | P.SPEAK


haven_clock = haven_clock_at(T0)


@pytest.fixture
async def haven(haven_runner: HavenRunner, community: Community) -> AsyncIterator[HavenRunner]:
    """Haven with only the cogs rooms need, roles and mod log configured, jobs started."""
    await haven_runner.start(extensions=EXTENSIONS)
    await configure_guild(haven_runner.running.services, community)
    await haven_runner.running.jobs_started.wait()
    try:
        yield haven_runner
    finally:
        await haven_runner.stop()


@pytest.fixture
def events(haven: HavenRunner) -> list[tuple[str, dict[str, Any]]]:
    """ROOM_OPENED / ROOM_CLOSED as other features receive them."""
    seen: list[tuple[str, dict[str, Any]]] = []
    for name in (ROOM_OPENED, ROOM_CLOSED):

        async def record(name: str = name, **payload: Any) -> None:
            seen.append((name, payload))

        haven.running.services.events.subscribe(name, record)
    return seen


async def add_meeting(
    bot: HavenBot,
    community: Community,
    *,
    title: str = "Tuesday Night Hope",
    kind: Kind = Kind.NA,
    access: Access = Access.OPEN,
    **fields: Any,
) -> Meeting:
    mid = await make_meeting(
        bot.services,
        community.guild.id,
        title=title,
        kind=kind,
        access=access,
        facilitator_id=community.facilitator.user.id,
        update=fields,
    )
    meeting = await bot.services.meetings.get(mid)
    assert meeting is not None
    return meeting


async def create_room(
    server: FakeDiscord, community: Community, meeting: Meeting, **options: Any
) -> RoomLink:
    result = await server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(meeting.id), **options
    )
    assert "Created the room" in result.all_text, result.all_text
    (row,) = [
        c for c in server.find_calls("POST", "/guilds/{guild_id}/channels") if c.json["type"] == 4
    ][-1:]
    category_id = int(row.response["id"])
    children = [
        c for c in server.state.channels.values() if c.parent_id == category_id and not c.deleted
    ]
    text = next(c for c in children if c.type == ChannelType.TEXT)
    voice = next(c for c in children if c.type in (ChannelType.VOICE, ChannelType.STAGE))
    return RoomLink(
        meeting.id,
        meeting.guild_id,
        category_id,
        text.id,
        voice.id,
        voice.type == ChannelType.STAGE,
    )


async def run_jobs_at(bot: HavenBot, clock: FakeClock, when: datetime) -> None:
    clock.set(when)
    await bot.services.jobs.run_due()
    await bot.services.jobs.drain()


def overwrite(server: FakeDiscord, channel_id: int, target_id: int) -> tuple[int, int] | None:
    ow = server.state.channels[channel_id].overwrites.get(target_id)
    return None if ow is None else (ow.allow, ow.deny)


def sent_overwrites(call: Any) -> list[dict[str, Any]]:
    return sorted(call.json["permission_overwrites"], key=lambda o: (o["type"], int(o["id"])))


def expected(*rows: tuple[int, int, int, int]) -> list[dict[str, Any]]:
    return sorted(
        ({"id": i, "type": t, "allow": a, "deny": d} for i, t, a, d in rows),
        key=lambda o: (o["type"], int(o["id"])),
    )


def modlog_titles(server: FakeDiscord, community: Community) -> list[str]:
    return [e.get("title", "") for m in server.messages_in(community.modlog) for e in m.embeds]


# -- create ----------------------------------------------------------------------------------------


async def test_create_open_meeting_room_sends_exact_overwrites(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)

    cat, text, voice = discord_server.find_calls("POST", "/guilds/{guild_id}/channels")
    g, me = community.guild.id, discord_server.state.bot_user.id
    staff = [
        (community.facilitators_role.id, 0, STAFF, 0),
        (community.moderators_role.id, 0, STAFF, 0),
        (me, 1, BOT, 0),
    ]
    assert cat.json["type"] == ChannelType.CATEGORY and cat.json["name"] == "Tuesday Night Hope"
    assert sent_overwrites(cat) == expected((g, 0, AUDIENCE, 0), *staff)
    # Created before the window: closed, so @everyone may view but not send or speak.
    assert text.json["type"] == ChannelType.TEXT
    assert sent_overwrites(text) == expected((g, 0, AUDIENCE, TEXT_SPEAK), *staff)
    assert voice.json["type"] == ChannelType.VOICE
    assert sent_overwrites(voice) == expected((g, 0, AUDIENCE, VOICE_SPEAK), *staff)
    assert text.json["parent_id"] == voice.json["parent_id"] == link.category_id

    stored = await bot.services.meetings.get(meeting.id)
    assert stored is not None
    assert (stored.room_category_id, stored.room_text_channel_id, stored.room_voice_channel_id) == (
        link.category_id,
        link.text_channel_id,
        link.voice_channel_id,
    )
    assert "Room created" in modlog_titles(discord_server, community)

    again = await discord_server.invoke(
        community.guild, community.moderator, "room create", meeting=str(meeting.id)
    )
    assert "already has a room" in again.text and f"<#{link.text_channel_id}>" in again.text
    assert len(discord_server.find_calls("POST", "/guilds/{guild_id}/channels")) == 3


async def test_create_closed_na_room_is_for_the_member_role(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community, access=Access.CLOSED)
    await create_room(discord_server, community, meeting)
    cat, text, voice = discord_server.find_calls("POST", "/guilds/{guild_id}/channels")
    g, me, members = community.guild.id, discord_server.state.bot_user.id, community.members_role.id
    staff = [
        (community.facilitators_role.id, 0, STAFF, 0),
        (community.moderators_role.id, 0, STAFF, 0),
        (me, 1, BOT, 0),
    ]
    assert sent_overwrites(cat) == expected((g, 0, 0, HIDDEN), (members, 0, AUDIENCE, 0), *staff)
    assert sent_overwrites(text) == expected(
        (g, 0, 0, HIDDEN), (members, 0, AUDIENCE, TEXT_SPEAK), *staff
    )
    assert sent_overwrites(voice) == expected(
        (g, 0, 0, HIDDEN), (members, 0, AUDIENCE, VOICE_SPEAK), *staff
    )
    # Discord's own permission maths: the family member cannot see it, a peer can.
    room = discord_server.state.channels[int(text.response["id"])]
    assert not discord_server.permissions_for(g, room.id, community.family.user.id)
    assert discord_server.permissions_for(g, room.id, community.peer.user.id) & P.VIEW_CHANNEL


async def test_create_closed_family_stage_room_is_for_the_family_role(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community, kind=Kind.FAMILY, access=Access.CLOSED)
    await create_room(discord_server, community, meeting, stage=True)
    cat, text, stage = discord_server.find_calls("POST", "/guilds/{guild_id}/channels")
    g, me, family = community.guild.id, discord_server.state.bot_user.id, community.family_role.id
    staff = [
        (community.facilitators_role.id, 0, STAFF, 0),
        (community.moderators_role.id, 0, STAFF, 0),
        (me, 1, BOT, 0),
    ]
    assert sent_overwrites(cat) == expected((g, 0, 0, HIDDEN), (family, 0, AUDIENCE, 0), *staff)
    assert sent_overwrites(text) == expected(
        (g, 0, 0, HIDDEN), (family, 0, AUDIENCE, TEXT_SPEAK), *staff
    )
    assert stage.json["type"] == ChannelType.STAGE
    assert sent_overwrites(stage) == expected(
        (g, 0, 0, HIDDEN), (family, 0, AUDIENCE, STAGE_SPEAK), *staff
    )
    room = discord_server.state.channels[int(text.response["id"])]
    assert not discord_server.permissions_for(g, room.id, community.peer.user.id)
    assert discord_server.permissions_for(g, room.id, community.family.user.id) & P.VIEW_CHANNEL


async def test_closed_room_without_the_role_configured_says_what_to_set(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    await bot.services.guilds.update(community.guild.id, family_role_id=None)
    meeting = await add_meeting(bot, community, kind=Kind.FAMILY, access=Access.CLOSED)
    result = await discord_server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(meeting.id)
    )
    assert "/setup roles family:" in result.text and result.ephemeral
    assert not discord_server.find_calls("POST", "/guilds/{guild_id}/channels")


async def test_missing_bot_permissions_are_named_before_anything_is_created(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    role = discord_server.bot_role(community.guild)
    discord_server.set_role_permissions(role, role.permissions & ~(P.MANAGE_ROLES | P.MOVE_MEMBERS))
    await discord_server.wait_for(
        lambda: not bot.get_guild(community.guild.id).me.guild_permissions.manage_roles  # type: ignore[union-attr]
    )
    result = await discord_server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(meeting.id)
    )
    assert result.ephemeral
    assert "Manage Roles" in result.text and "Move Members" in result.text
    assert "Manage Channels" not in result.text
    assert not discord_server.find_calls("POST", "/guilds/{guild_id}/channels")


async def test_discord_403_50013_is_reported_clearly_and_nothing_is_left(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    discord_server.inject("POST", "/guilds/{guild_id}/channels", 403, code=50013)
    result = await discord_server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(meeting.id)
    )
    assert "missing a permission (error 50013)" in result.all_text
    assert "Something went wrong" not in result.all_text
    assert await bot.services.rooms.link(meeting.id) is None
    # A 403 later on (locking the room) is reported the same way.
    await create_room(discord_server, community, meeting)
    discord_server.inject("PUT", "/channels/{channel_id}/permissions/{overwrite_id}", 403)
    lock = await discord_server.invoke(
        community.guild, community.facilitator, "room lock", meeting=str(meeting.id)
    )
    assert "error 50013" in lock.all_text


# -- who may ---------------------------------------------------------------------------------------


async def test_peers_and_other_facilitators_are_refused(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    m = str(meeting.id)
    for command, options in [
        ("room create", {"meeting": m}),
        ("room open", {"meeting": m}),
        ("room close", {"meeting": m}),
        ("room lock", {"meeting": m}),
        ("room unlock", {"meeting": m}),
        ("room slowmode", {"meeting": m, "seconds": 5}),
        ("room remove", {"meeting": m, "member": community.family.user.id}),
        ("room delete", {"meeting": m}),
    ]:
        result = await discord_server.invoke(community.guild, community.peer, command, **options)
        assert result.ephemeral and "Only facilitators and moderators" in result.text, command
    other = discord_server.create_member(community.guild, "fac-omar", [community.facilitators_role])
    await discord_server.flush()
    result = await discord_server.invoke(community.guild, other, "room lock", meeting=m)
    assert "Only this meeting's facilitators and moderators" in result.text
    # Nothing changed in Discord.
    assert overwrite(discord_server, link.voice_channel_id, community.guild.id) == (
        AUDIENCE,
        VOICE_SPEAK,
    )


# -- lifecycle ---------------------------------------------------------------------------------------


async def test_room_opens_and_closes_on_schedule_with_card_and_closing_line(
    discord_server: FakeDiscord,
    haven: HavenRunner,
    community: Community,
    haven_clock: FakeClock,
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    bot = haven.running
    meeting = await add_meeting(
        bot, community, opening_text="We open with a moment of silence. @everyone welcome."
    )
    link = await create_room(discord_server, community, meeting)
    g = community.guild.id

    await run_jobs_at(bot, haven_clock, OPENS - timedelta(seconds=1))
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE, TEXT_SPEAK)

    await run_jobs_at(bot, haven_clock, OPENS)
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)
    assert overwrite(discord_server, link.voice_channel_id, g) == (AUDIENCE | VOICE_SPEAK, 0)
    (card,) = discord_server.messages_in(link.text_channel_id)
    assert "We open with a moment of silence." in card.text
    assert "Who you see here and what you hear here stays here." in card.text
    assert "/crisis" in card.text and "Discussion" in card.text
    assert not card.mention_everyone
    assert card.custom_ids() == [f"haven:checkin:{meeting.id}:{KEY}"]
    assert events == [(ROOM_OPENED, {"meeting_id": meeting.id, "guild_id": g, "occurrence": KEY})]

    await run_jobs_at(bot, haven_clock, CLOSES - timedelta(seconds=1))
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)

    await run_jobs_at(bot, haven_clock, CLOSES)
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE, TEXT_SPEAK)
    assert overwrite(discord_server, link.voice_channel_id, g) == (AUDIENCE, VOICE_SPEAK)
    closing = discord_server.messages_in(link.text_channel_id)[-1]
    assert closing.content.startswith("The room is closed.")
    assert f"<t:{int((START + timedelta(days=7)).timestamp())}:F>" in closing.content
    assert events[-1] == (ROOM_CLOSED, {"meeting_id": meeting.id, "guild_id": g, "occurrence": KEY})
    titles = modlog_titles(discord_server, community)
    assert "Room opened" in titles and "Room closed" in titles
    # Rolled forward: next week's open and close are stored.
    pending = await bot.services.jobs.pending(meeting_id=meeting.id)
    assert {(j.kind, j.occurrence) for j in pending} >= {
        ("room_open", "2027-01-12"),
        ("room_close", "2027-01-12"),
    }


async def test_chat_is_cleared_after_close_in_bulk_chunks(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, haven_clock: FakeClock
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community, room_clear_chat=True)
    link = await create_room(discord_server, community, meeting)
    before = await discord_server.send_user_message(
        discord_server.state.channels[link.text_channel_id], community.peer, "before the meeting"
    )
    await run_jobs_at(bot, haven_clock, OPENS)
    text = discord_server.state.channels[link.text_channel_id]
    for i in range(130):
        await discord_server.send_user_message(text, community.peer, f"share {i}")
    await run_jobs_at(bot, haven_clock, CLOSES)
    bulk = discord_server.find_calls("POST", "/channels/{channel_id}/messages/bulk-delete")
    assert sorted(len(c.json["messages"]) for c in bulk) == [31, 100]  # 130 shares + the card
    left = discord_server.messages_in(text)
    assert [m.id for m in left][:1] == [before.id]
    assert len(left) == 2 and "cleared for confidentiality" in left[1].content


async def test_messages_older_than_14_days_are_deleted_one_by_one(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, haven_clock: FakeClock
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community, room_clear_chat=True)
    link = await create_room(discord_server, community, meeting)
    await run_jobs_at(bot, haven_clock, OPENS)
    text = discord_server.state.channels[link.text_channel_id]
    for i in range(3):
        await discord_server.send_user_message(text, community.peer, f"share {i}")
    # The bot was away for 15 days: the close runs late, past Discord's bulk-delete limit.
    await run_jobs_at(bot, haven_clock, CLOSES + timedelta(days=15))
    assert not discord_server.find_calls("POST", "/channels/{channel_id}/messages/bulk-delete")
    singles = discord_server.find_calls("DELETE", "/channels/{channel_id}/messages/{message_id}")
    assert len(singles) == 4  # three shares and the card
    (closing,) = discord_server.messages_in(text)
    assert "cleared" in closing.content


async def test_manual_close_and_open_for_this_occurrence(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, haven_clock: FakeClock
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    g = community.guild.id
    await run_jobs_at(bot, haven_clock, START + timedelta(minutes=5))  # overdue open runs now
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)

    closed = await discord_server.invoke(
        community.guild,
        community.facilitator,
        "room close",
        _channel=discord_server.state.channels[link.text_channel_id],  # inferred from the room
    )
    assert "Closed the room" in closed.all_text
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE, TEXT_SPEAK)
    await run_jobs_at(bot, haven_clock, START + timedelta(minutes=6))
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE, TEXT_SPEAK)

    opened = await discord_server.invoke(
        community.guild, community.moderator, "room open", meeting=str(meeting.id)
    )
    assert "Opened the room" in opened.all_text
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)
    texts = [m.content for m in discord_server.messages_in(link.text_channel_id)]
    assert texts[-1] == "The room is open again."
    cards = [m for m in discord_server.messages_in(link.text_channel_id) if m.embeds]
    assert len(cards) == 1
    await run_jobs_at(bot, haven_clock, CLOSES)
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE, TEXT_SPEAK)


async def test_lock_unlock_and_slowmode_bounds(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    g, m = community.guild.id, str(meeting.id)
    await discord_server.invoke(community.guild, community.facilitator, "room lock", meeting=m)
    assert overwrite(discord_server, link.voice_channel_id, g) == (
        AUDIENCE & ~P.CONNECT,
        VOICE_SPEAK | P.CONNECT,
    )
    assert not discord_server.permissions_for(g, link.voice_channel_id, community.peer.user.id) & (
        P.CONNECT
    )
    await discord_server.invoke(community.guild, community.facilitator, "room unlock", meeting=m)
    assert overwrite(discord_server, link.voice_channel_id, g) == (AUDIENCE, VOICE_SPEAK)

    for seconds in (0, 21600):
        result = await discord_server.invoke(
            community.guild, community.facilitator, "room slowmode", meeting=m, seconds=seconds
        )
        assert result.ephemeral
        assert discord_server.state.channels[link.text_channel_id].rate_limit_per_user == seconds
    for seconds in (-1, 21601):
        with pytest.raises(InvocationError):
            await discord_server.invoke(
                community.guild, community.facilitator, "room slowmode", meeting=m, seconds=seconds
            )
    titles = modlog_titles(discord_server, community)
    assert {"Room locked", "Room unlocked", "Room slowmode"} <= set(titles)


async def test_remove_member_until_the_occurrence_ends_survives_a_restart(
    discord_server: FakeDiscord,
    haven: HavenRunner,
    community: Community,
    haven_clock: FakeClock,
) -> None:
    bot = haven.running
    await bot.services.guilds.update(community.guild.id, moderators_channel_id=community.general.id)
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    await run_jobs_at(bot, haven_clock, START)
    peer = community.peer.user.id

    result = await discord_server.invoke(
        community.guild,
        community.facilitator,
        "room remove",
        meeting=str(meeting.id),
        member=peer,
    )
    assert result.ephemeral and "lifts automatically" in result.all_text
    for channel_id in link.channel_ids:
        assert overwrite(discord_server, channel_id, peer) == (0, REMOVED)
        assert discord_server.state.channels[channel_id].overwrites[peer].type == 1
    assert not discord_server.permissions_for(community.guild.id, link.text_channel_id, peer)
    (dm,) = discord_server.dms_to(community.peer)
    assert "removed you from the room" in dm.content
    assert f"<#{community.general.id}>" in dm.content and "/moderators message" in dm.content
    entry = next(
        m for m in discord_server.messages_in(community.modlog) if "removed" in m.text.lower()
    )
    assert f"<@{peer}>" in entry.text and f"<@{community.facilitator.user.id}>" in entry.text

    # A restart before the end still lifts it: the removal is stored with its lift job.
    bot = await haven.restart(extensions=EXTENSIONS)
    await bot.jobs_started.wait()
    assert overwrite(discord_server, link.text_channel_id, peer) == (0, REMOVED)
    await run_jobs_at(bot, haven_clock, CLOSES - timedelta(seconds=1))
    assert overwrite(discord_server, link.text_channel_id, peer) == (0, REMOVED)
    await run_jobs_at(bot, haven_clock, CLOSES)
    for channel_id in link.channel_ids:
        assert overwrite(discord_server, channel_id, peer) is None
    assert await bot.services.rooms.removals(meeting.id) == []
    assert discord_server.permissions_for(community.guild.id, link.text_channel_id, peer)


async def test_removal_outlives_forget_me_and_is_lifted_when_the_room_closes(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, haven_clock: FakeClock
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    await run_jobs_at(bot, haven_clock, START)
    peer = community.peer.user.id
    await discord_server.invoke(
        community.guild, community.moderator, "room remove", meeting=str(meeting.id), member=peer
    )
    asked = await discord_server.invoke(community.guild, community.peer, "privacy forget-me")
    assert "room removals" not in asked.text and "removed you from a meeting room" in asked.text
    done = await discord_server.click(asked, "Forget me", community.peer)
    assert done.content.startswith("Done."), done.content
    # Forget-me cannot undo moderation: the removal is still stored, so no lift job drops it.
    assert [r.user_id for r in await bot.services.rooms.removals(meeting.id)] == [peer]
    await run_jobs_at(bot, haven_clock, CLOSES - timedelta(seconds=1))
    for channel_id in link.channel_ids:
        assert overwrite(discord_server, channel_id, peer) == (0, REMOVED)
    await run_jobs_at(bot, haven_clock, CLOSES)
    for channel_id in link.channel_ids:
        assert overwrite(discord_server, channel_id, peer) is None
    assert await bot.services.rooms.removals(meeting.id) == []


# -- restarts ----------------------------------------------------------------------------------------


async def test_restart_during_an_open_occurrence_keeps_the_room_open(
    discord_server: FakeDiscord,
    haven: HavenRunner,
    community: Community,
    haven_clock: FakeClock,
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    g = community.guild.id
    await run_jobs_at(bot, haven_clock, OPENS)
    await haven.stop()
    haven_clock.set(START + timedelta(minutes=30))
    bot = await haven.start(sync=False, extensions=EXTENSIONS)
    await bot.jobs_started.wait()
    await bot.services.jobs.run_due()
    await bot.services.jobs.drain()
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)
    cards = [m for m in discord_server.messages_in(link.text_channel_id) if m.embeds]
    assert len(cards) == 1  # not posted again
    await run_jobs_at(bot, haven_clock, CLOSES)
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE, TEXT_SPEAK)


async def test_room_derived_open_at_start_even_if_it_was_closed_in_discord(
    discord_server: FakeDiscord,
    haven: HavenRunner,
    community: Community,
    haven_clock: FakeClock,
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    g = community.guild.id
    await haven.stop()  # down across the opening time: nothing was opened
    haven_clock.set(START + timedelta(minutes=20))
    bot = await haven.start(sync=False, extensions=EXTENSIONS)
    await bot.jobs_started.wait()
    # The start-up reconcile already opened it, before any job ran.
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)
    await bot.services.jobs.run_due()
    await bot.services.jobs.drain()
    cards = [m for m in discord_server.messages_in(link.text_channel_id) if m.embeds]
    assert len(cards) == 1  # the late opening card


async def test_after_the_end_the_room_is_closed_at_start(
    discord_server: FakeDiscord,
    haven: HavenRunner,
    community: Community,
    haven_clock: FakeClock,
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    g = community.guild.id
    await run_jobs_at(bot, haven_clock, OPENS)
    await haven.stop()
    haven_clock.set(CLOSES + timedelta(hours=2))
    bot = await haven.start(sync=False, extensions=EXTENSIONS)
    await bot.jobs_started.wait()
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE, TEXT_SPEAK)
    assert overwrite(discord_server, link.voice_channel_id, g) == (AUDIENCE, VOICE_SPEAK)
    await bot.services.jobs.run_due()
    await bot.services.jobs.drain()
    closing = discord_server.messages_in(link.text_channel_id)[-1]
    assert closing.content.startswith("The room is closed.")


# -- delete ----------------------------------------------------------------------------------------


async def test_delete_asks_to_confirm_then_removes_the_channels(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    ask = await discord_server.invoke(
        community.guild, community.facilitator, "room delete", meeting=str(meeting.id)
    )
    assert ask.ephemeral and "Delete the room" in ask.text
    assert all(not discord_server.state.channels[c].deleted for c in link.channel_ids)
    confirm, cancel = ask.custom_ids()
    with pytest.raises(InvocationError):  # ephemeral: only the person who asked sees it
        await discord_server.click(ask, confirm, community.moderator)
    await discord_server.click(ask, confirm, community.facilitator)
    await discord_server.wait_for(
        lambda: all(discord_server.state.channels[c].deleted for c in link.channel_ids)
    )
    await discord_server.wait_for(
        lambda: "Room deleted" in modlog_titles(discord_server, community)
    )
    assert await bot.services.rooms.link(meeting.id) is None


async def test_meeting_deleted_with_room_delete_deletes_the_channels(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    kept = await add_meeting(bot, community, title="Kept room")
    kept_link = await create_room(discord_server, community, kept)
    for m, detail in ((meeting, "room:delete"), (kept, "room:keep")):
        async with bot.services.db.transaction() as tx:
            await bot.services.meetings.delete(tx, m.id)
        await bot.services.events.emit(
            MEETING_CHANGED, meeting_id=m.id, guild_id=m.guild_id, change="deleted", detail=detail
        )
    assert all(discord_server.state.channels[c].deleted for c in link.channel_ids)
    assert not any(discord_server.state.channels[c].deleted for c in kept_link.channel_ids)
    assert await bot.services.rooms.link(meeting.id) is None
    assert await bot.services.rooms.link(kept.id) is None


# -- following meeting changes ---------------------------------------------------------------------


async def test_cancelling_the_occurrence_in_its_window_closes_the_room(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, haven_clock: FakeClock
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    g = community.guild.id
    await run_jobs_at(bot, haven_clock, OPENS + timedelta(minutes=2))
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)
    actor = Actor(community.facilitator.user.id, Level.FACILITATOR)
    await bot.services.meeting_service.cancel(g, meeting.id, actor, KEY)
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE, TEXT_SPEAK)
    await run_jobs_at(bot, haven_clock, OPENS + timedelta(minutes=2))
    closing = discord_server.messages_in(link.text_channel_id)[-1]
    assert closing.content.startswith("The room is closed.")


async def test_changing_access_rewrites_the_overwrites_and_keeps_removals(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, haven_clock: FakeClock
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    g, peer = community.guild.id, community.peer.user.id
    await run_jobs_at(bot, haven_clock, START)
    await discord_server.invoke(
        community.guild, community.moderator, "room remove", meeting=str(meeting.id), member=peer
    )
    actor = Actor(community.moderator.user.id, Level.MODERATOR)
    await bot.services.meeting_service.edit(
        g, meeting.id, actor, MeetingEdit(access="closed", title="Tuesday Closed")
    )
    members = community.members_role.id
    assert overwrite(discord_server, link.text_channel_id, g) == (0, HIDDEN)
    assert overwrite(discord_server, link.text_channel_id, members) == (AUDIENCE | TEXT_SPEAK, 0)
    assert overwrite(discord_server, link.voice_channel_id, members) == (AUDIENCE | VOICE_SPEAK, 0)
    assert overwrite(discord_server, link.category_id, members) == (AUDIENCE, 0)
    assert overwrite(discord_server, link.text_channel_id, peer) == (0, REMOVED)
    assert discord_server.state.channels[link.category_id].name == "Tuesday Closed"
    assert not discord_server.permissions_for(g, link.text_channel_id, community.family.user.id)


async def test_meeting_is_inferred_from_the_room_or_picked_by_title(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    await add_meeting(bot, community, title="Family Circle", kind=Kind.FAMILY)
    link = await create_room(discord_server, community, meeting)
    voice = discord_server.state.channels[link.voice_channel_id]
    result = await discord_server.invoke(
        community.guild, community.facilitator, "room slowmode", seconds=30, _channel=voice
    )
    assert "30 seconds" in result.text
    assert discord_server.state.channels[link.text_channel_id].rate_limit_per_user == 30
    elsewhere = await discord_server.invoke(
        community.guild, community.facilitator, "room lock", _channel=community.general
    )
    assert "name the meeting with `meeting:`" in elsewhere.text
    choices = await discord_server.autocomplete(
        community.guild, community.facilitator, "room open", focused="meeting", meeting="tues"
    )
    assert [c["value"] for c in choices] == [str(meeting.id)]


async def test_a_scheduled_open_refused_by_discord_is_reported_and_retried(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, haven_clock: FakeClock
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    discord_server.inject("PUT", "/channels/{channel_id}/permissions/{overwrite_id}", 403)
    await run_jobs_at(bot, haven_clock, OPENS)
    failed = next(
        m for m in discord_server.messages_in(community.modlog) if "Room action failed" in m.text
    )
    assert "error 50013" in failed.text and "open" in failed.text
    assert not discord_server.messages_in(link.text_channel_id)
    await run_jobs_at(bot, haven_clock, OPENS + timedelta(minutes=1))
    g = community.guild.id
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)
    assert len(discord_server.messages_in(link.text_channel_id)) == 1


async def test_a_refusal_half_way_through_create_leaves_nothing_behind(
    discord_server: FakeDiscord,
    haven: HavenRunner,
    community: Community,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    dispatch = discord_server.dispatch

    async def refuse_after_the_category(event: str, data: dict[str, Any]) -> None:
        if event == "CHANNEL_CREATE" and data.get("type") == ChannelType.CATEGORY:
            discord_server.inject("POST", "/guilds/{guild_id}/channels", 403)
        await dispatch(event, data)

    monkeypatch.setattr(discord_server, "dispatch", refuse_after_the_category)
    result = await discord_server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(meeting.id)
    )
    assert "error 50013" in result.all_text and "Nothing was left behind" in result.all_text
    (category,) = [
        c
        for c in discord_server.find_calls("POST", "/guilds/{guild_id}/channels")
        if c.status == 200
    ]
    assert discord_server.state.channels[int(category.response["id"])].deleted
    assert await bot.services.rooms.link(meeting.id) is None


async def test_a_replayed_scheduled_open_announces_nothing_twice(
    discord_server: FakeDiscord,
    haven: HavenRunner,
    community: Community,
    haven_clock: FakeClock,
) -> None:
    bot = haven.running
    meeting = await add_meeting(bot, community)
    link = await create_room(discord_server, community, meeting)
    g = community.guild.id
    await run_jobs_at(bot, haven_clock, OPENS)
    before = [m.id for m in discord_server.messages_in(link.text_channel_id)]
    assert len(before) == 1  # the opening card
    # A crash after the opening was recorded but before its job finished: the job runs again.
    rooms = bot.services.rooms
    state = await rooms.state(meeting)
    stored = await rooms.link(meeting.id)
    assert state.window is not None and stored is not None
    await rooms.open_room(
        meeting, stored, state.window, actor_id=None, nonce_key="room_open:replay"
    )
    assert overwrite(discord_server, link.text_channel_id, g) == (AUDIENCE | TEXT_SPEAK, 0)
    assert [m.id for m in discord_server.messages_in(link.text_channel_id)] == before
    assert modlog_titles(discord_server, community).count("Room opened") == 1


async def test_a_spanish_meetings_room_speaks_spanish_in_an_english_server(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, haven_clock: FakeClock
) -> None:
    """The opening card and closing line follow the meeting's language; the mod log the guild's."""
    bot = haven.running
    meeting = await add_meeting(bot, community, title="Grupo Esperanza", language="es")
    link = await create_room(discord_server, community, meeting)  # an English facilitator

    await run_jobs_at(bot, haven_clock, OPENS)
    (card,) = discord_server.messages_in(link.text_channel_id)
    assert card.embeds[0]["title"] == "Grupo Esperanza: la sala está abierta"
    assert "A quién ves aquí y lo que escuchas aquí, aquí se queda." in card.text
    assert "`/crisis`" in card.text and "Who you see here" not in card.text
    labels = [b["label"] for row in card.components for b in row["components"]]
    assert labels == ["Registrar asistencia"]
    assert card.custom_ids() == [f"haven:checkin:{meeting.id}:{KEY}"]

    await run_jobs_at(bot, haven_clock, CLOSES)
    closing = discord_server.messages_in(link.text_channel_id)[-1]
    assert closing.content.startswith("La sala está cerrada. Gracias por estar aquí.")
    # The server's own language is English: its mod log stays English.
    titles = modlog_titles(discord_server, community)
    assert "Room opened" in titles and "Room closed" in titles
