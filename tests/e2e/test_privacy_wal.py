"""Deleted data leaves the disk while the bot runs: the database file and its -wal file are scanned.

SQLite in WAL mode appends every changed page to the -wal file; a deleted row stays there (and, in
the main file, in freed space) until a checkpoint copies zeroed pages back and the log is cut.
These tests read the raw bytes of both files with the real bot still running.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.permissions import Level
from bot.services.meetings import Actor, Meeting
from tests.e2e.harness import Community, HavenRunner, moderators_channel
from tests.fakediscord import Channel, FakeDiscord, Member
from tests.support.clock import fake_clock, haven_clock_at
from tests.support.community import configure_guild
from tests.support.traces import hmac_forms, id_forms

NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)
START = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)  # Thursday 19:00 in New York


haven_clock = haven_clock_at(NOW)


def _files(db_path: Path) -> dict[str, bytes]:
    """The raw bytes of the database and of its write-ahead log (the -shm holds no row data)."""
    wal = db_path.with_name(db_path.name + "-wal")
    return {
        db_path.name: db_path.read_bytes(),
        wal.name: wal.read_bytes() if wal.exists() else b"",
    }


def _found(db_path: Path, forms: dict[str, list[bytes]]) -> list[str]:
    """Which of the named byte forms occur in which file."""
    return [
        f"{what} in {name}"
        for name, data in _files(db_path).items()
        for what, variants in forms.items()
        if any(v in data for v in variants)
    ]


def _person(member: Member, guild_id: int) -> dict[str, list[bytes]]:
    """A user id as SQLite could hold it (8-byte integer, decimal text) and its keyed hashes."""
    uid = member.user.id
    return {"user id": id_forms(uid), "keyed hash of the user": hmac_forms(uid, guild_id)}


async def _setup(server: FakeDiscord, haven: HavenRunner, community: Community) -> Channel:
    """A weekly meeting, a reminder channel and the moderators' channel for the anonymous line."""
    mods = moderators_channel(server, community)
    await server.flush()
    await configure_guild(
        haven.running.services,
        community,
        announce_channel_id=community.announcements.id,
        moderators_channel_id=mods.id,
        timezone="America/New_York",
    )
    return mods


async def _meeting(haven: HavenRunner, community: Community) -> Meeting:
    return await haven.running.services.meeting_service.schedule(
        community.guild.id,
        Actor(community.facilitator.user.id, Level.FACILITATOR),
        title="Thursday Hope",
        start="2027-01-07 19:00",
        timezone="America/New_York",
        repeat="weekly",
    )


async def _leave_traces(
    server: FakeDiscord, haven: HavenRunner, community: Community, member: Member
) -> None:
    """Data keyed to a member: a DM reminder subscription, a delivered reminder, a conversation."""
    guild = community.guild
    meeting = await _meeting(haven, community)
    sub = await server.invoke(guild, member, "remind me", meeting=str(meeting.id))
    assert "DM reminders" in sub.text, sub.text
    fake_clock(haven).set(START - timedelta(minutes=15))
    jobs = haven.running.services.jobs
    while await jobs.run_due():
        await jobs.drain()
    await jobs.drain()
    assert server.dms_to(member), "the DM reminder was delivered (and recorded)"
    sent = await server.invoke(guild, member, "moderators message", text="can we talk?")
    assert "Anon-" in sent.all_text, sent.all_text
    await _settle(haven)


async def _settle(haven: HavenRunner) -> None:
    """Copy the log into the main file, as SQLite's auto-checkpoint does every 1000 pages."""
    cur = await haven.running.services.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert tuple(await cur.fetchone() or ()) == (0, 0, 0)
    await cur.close()


async def test_forget_me_leaves_no_id_in_the_database_or_its_wal(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    await _setup(server, haven, community)
    await _leave_traces(server, haven, community, community.peer)
    forms = _person(community.peer, community.guild.id)
    db_path = haven.database_path
    assert f"user id in {db_path.name}" in _found(db_path, forms), "the scan finds a stored id"

    asked = await server.invoke(community.guild, community.peer, "privacy forget-me")
    done = await server.click(asked, "Forget me", community.peer)
    assert done.content.startswith("Done."), done.content
    assert haven.bot is not None, "the bot is still running"
    assert _found(db_path, forms) == []
    # The scan is not blind: the facilitator is (rightly) still stored, as an integer.
    assert _found(db_path, {"id": id_forms(community.facilitator.user.id)})


async def test_a_member_leaving_leaves_no_id_in_the_database_or_its_wal(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    await _setup(server, haven, community)
    await _leave_traces(server, haven, community, community.peer)
    forms = _person(community.peer, community.guild.id)
    db_path = haven.database_path
    assert _found(db_path, forms)

    await server.remove_member(community.guild, community.peer)
    subs = haven.running.services.reminders

    async def forgotten() -> bool:
        return await subs.subscriptions(community.guild.id, community.peer.user.id) == []

    await server.wait_for(forgotten, message="the member's subscription outlived them")
    await server.wait_for(
        lambda: not _found(db_path, forms), raise_on_timeout=False, timeout=2
    )  # the checkpoint follows the delete in the same handler
    assert haven.bot is not None
    assert _found(db_path, forms) == []


async def test_closed_and_blocked_conversations_leave_no_hash_or_sealed_id(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    guild = community.guild
    mods = await _setup(server, haven, community)
    services = haven.running.services
    db_path = haven.database_path

    async def converse(member: Member, action: str, settle: bool) -> dict[str, list[bytes]]:
        before = {c.id for c in server.state.channels.values() if c.parent_id == mods.id}
        sent = await server.invoke(guild, member, "moderators message", text="hello mods")
        assert "Anon-" in sent.all_text, sent.all_text
        [thread] = [
            c
            for c in server.state.channels.values()
            if c.parent_id == mods.id and c.id not in before
        ]
        row = await services.db.fetchone(
            "SELECT user_hash, sealed_user FROM modline_conversations WHERE thread_id = ?",
            (thread.id,),
        )
        assert row is not None
        forms = {
            "conversation hash": [bytes(row[0])],
            "sealed user id": [bytes(row[1])],
            "user id": id_forms(member.user.id),
        }
        assert _found(db_path, forms)
        if settle:
            await _settle(haven)
        last = server.messages_in(thread)[-1]
        button = next(c for c in last.custom_ids() if c.startswith(f"haven:modline:{action}:"))
        pressed = await server.click(last, button, community.moderator)
        assert ("Closed" if action == "close" else "Blocked") in pressed.text, pressed.text
        ended = "Closed by" if action == "close" else "Blocked by"
        await server.wait_for(lambda: ended in server.messages_in(thread)[-1].content)
        return forms

    # Closed while its rows are only in the log; blocked after they reached the main file.
    closed = await converse(community.peer, "close", settle=False)
    assert haven.bot is not None
    assert _found(db_path, closed) == []
    # A closed conversation leaves nothing keyed to the person at all.
    assert _found(db_path, _person(community.peer, guild.id)) == []

    blocked = await converse(community.family, "block", settle=True)
    await server.wait_for(
        lambda: any("blocked" in m.text.lower() for m in server.messages_in(community.modlog))
    )
    assert _found(db_path, blocked) == []
    # What a block keeps is its own keyed hash, and only that.
    block_hash = services.modline.block_hash(guild.id, community.family.user.id)
    assert _found(db_path, {"block hash": [block_hash]})
