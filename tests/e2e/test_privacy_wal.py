"""Deleted data leaves the store while the bot runs: on SQLite the file and its -wal are scanned.

SQLite in WAL mode appends every changed page to the -wal file; a deleted row stays there (and, in
the main file, in freed space) until a checkpoint copies zeroed pages back and the log is cut.
On SQLite these tests read the raw bytes of both files with the real bot still running.

PostgreSQL has no secure_delete: a deleted tuple stays in its files, its WAL and backups until
VACUUM. The design (scale-out.md, risk 5) accepts that only because what the anonymous line stores
is keyed hashes and ciphertext, never a raw id or typed text. So on PostgreSQL the same tests scan
every value of every table (what a query, pg_dump or a backup reads), and the rule that makes the
files safe is asserted directly: the line's rows never hold a raw id or what was typed, at any time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.permissions import Level
from bot.services.meetings import Actor, Meeting
from tests.e2e.harness import Community, HavenRunner, moderators_channel
from tests.fakediscord import Channel, FakeDiscord, Member
from tests.support.clock import fake_clock, haven_clock_at
from tests.support.community import configure_guild
from tests.support.store import HavenStore
from tests.support.traces import hmac_forms, id_forms

pytestmark = pytest.mark.both_backends

NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)
START = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)  # Thursday 19:00 in New York
TYPED = "can we talk about the lavender relapse?"  # what a member types to the moderators


haven_clock = haven_clock_at(NOW)


async def _found(store: HavenStore, forms: dict[str, list[bytes]]) -> list[str]:
    """Which of the named byte forms the store holds (SQLite: its file and WAL, raw)."""
    data = await store.stored_bytes()
    return [
        f"{what} stored" for what, variants in forms.items() if any(v in data for v in variants)
    ]


async def _modline_rows(store: HavenStore) -> bytes:
    """Every value the anonymous line's tables hold, as bytes (bytea raw, the rest as text)."""
    out = b""
    for table in ("modline_conversations", "modline_blocks"):
        for row in await store.query(f"SELECT * FROM {table}"):  # noqa: S608
            out += b"\x00".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in row)
    return out


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
    sent = await server.invoke(guild, member, "moderators message", text=TYPED)
    assert "Anon-" in sent.all_text, sent.all_text
    await _settle(haven)


async def _settle(haven: HavenRunner) -> None:
    """SQLite: copy the log into the main file, as its auto-checkpoint does every 1000 pages.

    PostgreSQL keeps no copy the bot controls (tables are read, not files): nothing to do.
    """
    db = haven.running.services.db
    if db.dialect == "postgres":
        return
    cur = await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert tuple(await cur.fetchone() or ()) == (0, 0, 0)
    await cur.close()


async def test_forget_me_leaves_no_id_in_the_database_or_its_wal(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    await _setup(server, haven, community)
    await _leave_traces(server, haven, community, community.peer)
    forms = _person(community.peer, community.guild.id)
    store = haven.store
    assert "user id stored" in await _found(store, forms), "the scan finds a stored id"
    typed = {"typed text": [TYPED.encode()]}
    assert await _found(store, typed) == [], "what was typed to the moderators is never stored"

    asked = await server.invoke(community.guild, community.peer, "privacy forget-me")
    done = await server.click(asked, "Forget me", community.peer)
    assert done.content.startswith("Done."), done.content
    assert haven.bot is not None, "the bot is still running"
    assert await _found(store, forms) == []
    # The scan is not blind: the facilitator is (rightly) still stored, as an integer.
    assert await _found(store, {"id": id_forms(community.facilitator.user.id)})


async def test_a_member_leaving_leaves_no_id_in_the_database_or_its_wal(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    await _setup(server, haven, community)
    await _leave_traces(server, haven, community, community.peer)
    forms = _person(community.peer, community.guild.id)
    store = haven.store
    assert await _found(store, forms)

    await server.remove_member(community.guild, community.peer)
    subs = haven.running.services.reminders

    async def forgotten() -> bool:
        return await subs.subscriptions(community.guild.id, community.peer.user.id) == []

    async def untraced() -> bool:
        return not await _found(store, forms)

    await server.wait_for(forgotten, message="the member's subscription outlived them")
    # The checkpoint follows the delete in the same handler.
    await server.wait_for(untraced, raise_on_timeout=False, timeout=2)
    assert haven.bot is not None
    assert await _found(store, forms) == []


async def test_closed_and_blocked_conversations_leave_no_hash_or_sealed_id(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    guild = community.guild
    mods = await _setup(server, haven, community)
    services = haven.running.services
    store = haven.store

    async def converse(member: Member, action: str, settle: bool) -> dict[str, list[bytes]]:
        before = {c.id for c in server.state.channels.values() if c.parent_id == mods.id}
        sent = await server.invoke(guild, member, "moderators message", text=TYPED)
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
        assert await _found(store, forms)
        # The rule that lets PostgreSQL keep dead tuples: the line's rows are hashes and
        # ciphertext, never the raw id or what was typed, even while the conversation is open.
        line = await _modline_rows(store)
        assert bytes(row[0]) in line, "the scan of the line's rows is not blind"
        for form in [*id_forms(member.user.id), TYPED.encode()]:
            assert form not in line
        assert await _found(store, {"typed text": [TYPED.encode()]}) == []
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
    assert await _found(store, closed) == []
    # A closed conversation leaves nothing keyed to the person at all.
    assert await _found(store, _person(community.peer, guild.id)) == []

    blocked = await converse(community.family, "block", settle=True)
    await server.wait_for(
        lambda: any("blocked" in m.text.lower() for m in server.messages_in(community.modlog))
    )
    assert await _found(store, blocked) == []
    # What a block keeps is its own keyed hash, and only that.
    block_hash = services.modline.block_hash(guild.id, community.family.user.id)
    assert await _found(store, {"block hash": [block_hash]})
