"""Anonymous attendance under abuse: forget-me against moderation, slips for anyone, forged
check-ins, and check-ins timed by the database's writes."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from bot.services.attendance import SAVE_EVERY
from bot.services.meetings import Access
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord, P
from tests.fakediscord.state import Overwrite
from tests.support.actors import People
from tests.support.attendance import CLOSES, OCC, OPENS, T0, checkin_card, configure, open_room
from tests.support.clock import fake_clock, haven_clock_at, run_jobs_at
from tests.support.meetings import make_meeting

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

haven_clock = haven_clock_at(T0)


async def test_forget_me_keeps_the_share_wait_and_a_silence(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, people: People
) -> None:
    server, peer = discord_server, people.peer
    meeting, room = await open_room(server, haven, community)
    first = await peer("share", _channel=room, text="a")
    assert "Shared as" in first.all_text
    await peer.forget_me()
    at_once = await peer("share", _channel=room, text="b")
    assert at_once.ephemeral and "30 seconds" in at_once.text

    fake_clock(haven).advance(timedelta(seconds=31))
    second = await peer("share", _channel=room, text="c")
    assert "Shared as" in second.all_text
    post = [m for m in server.messages_in(room) if m.webhook_id is not None][-1]
    silence_id = next(c for c in post.custom_ids() if c.startswith("haven:silence:"))
    silenced = await people.moderator.click(post, silence_id)
    assert "can't share anonymously again" in silenced.text

    await peer.forget_me()
    fake_clock(haven).advance(timedelta(seconds=31))
    back = await peer("share", _channel=room, text="d")
    assert back.ephemeral and "paused" in back.text
    assert len([m for m in server.messages_in(room) if m.webhook_id is not None]) == 2


async def test_one_check_in_gives_one_slip_and_verify_says_what_it_proves(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community, people: People
) -> None:
    server, peer = discord_server, people.peer
    meeting, room = await open_room(server, haven, community)
    card, custom_id = checkin_card(server, room, meeting)
    await peer.click(card, custom_id)
    first = await peer("attendance proof", name="Pat Q.")
    code = next(line for line in first.text.splitlines() if line.startswith("HVN1-"))
    again = await peer("attendance proof", name="Jordan Smith")
    assert again.ephemeral and "the slip you already have" in again.text
    assert code in again.text and "Jordan Smith" not in again.text.replace("Pat Q.", "")
    await run_jobs_at(haven, CLOSES)
    after_close = await peer("attendance proof")
    assert code in after_close.text

    verdict = await people.moderator("attendance verify", code=code)
    assert verdict.ephemeral and "Genuine" in verdict.text and "Pat Q." in verdict.text
    assert "Someone checked in to **Tuesday Night Hope** on **2027-01-05**" in verdict.text
    assert "does not prove" in verdict.text and "real name" in verdict.text


def _files(db: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists() and path.name.endswith(("db", "-wal")):
            st = os.stat(path)
            out[path.name] = (st.st_size, st.st_mtime_ns, path.read_bytes())
    return out


async def test_check_ins_leave_no_write_while_the_room_is_open(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    meeting, room = await open_room(server, haven, community)
    card, custom_id = checkin_card(server, room, meeting)
    people = [
        server.create_member(community.guild, f"peer-{i}", [community.members_role])
        for i in range(6)
    ]
    await server.flush()
    before = _files(haven.database_path)
    for i, member in enumerate(people):
        fake_clock(haven).advance(timedelta(seconds=20))
        done = await server.click(card, custom_id, member)
        assert "checked in" in done.text
        if i == 2:
            typed = await server.invoke(community.guild, community.peer, "checkin", _channel=room)
            assert "checked in" in typed.text
    # Not a byte, not the size, not the modification time of the database or its WAL moved.
    assert _files(haven.database_path) == before

    services = haven.running.services
    await run_jobs_at(haven, OPENS + SAVE_EVERY)  # the coarse save, on its fixed cadence
    stored = await services.db.fetchval(
        "SELECT checkins FROM attendance_counts WHERE meeting_id = ?", (meeting.id,)
    )
    assert stored == 7
    late = server.create_member(community.guild, "late", [community.members_role])
    await server.click(card, custom_id, late)
    await run_jobs_at(haven, CLOSES)
    stored = await services.db.fetchval(
        "SELECT checkins FROM attendance_counts WHERE meeting_id = ?", (meeting.id,)
    )
    assert stored == 8


async def test_a_forged_check_in_from_elsewhere_or_from_outside_the_room_is_refused(
    discord_server: FakeDiscord, haven: HavenRunner, community: Community
) -> None:
    server = discord_server
    services = haven.running.services
    await configure(haven, community)
    mid = await make_meeting(
        services,
        community.guild.id,
        title="Closed Circle",
        access=Access.CLOSED,
        facilitator_id=community.facilitator.user.id,
    )
    meeting = await services.meetings.get(mid)
    assert meeting is not None
    created = await server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(mid)
    )
    assert "Created the room" in created.all_text, created.all_text
    link = await services.rooms.link(mid)
    assert link is not None
    await run_jobs_at(haven, OPENS)
    room = server.state.channels[link.text_channel_id]
    card, custom_id = checkin_card(server, room, meeting)

    # The card's button copied into #general: a member of the room clicking it there is refused.
    forged = await server.create_message(
        community.general, card.author, {"content": "", "components": card.components}
    )
    from_general = await server.click(forged, custom_id, community.peer)
    assert from_general.ephemeral and "own room" in from_general.text
    # Someone without the member role (family only) is refused, wherever they click.
    # Someone without the member role whom a hand-made overwrite lets see the room: Discord
    # shows them the card, but the room does not admit them, so Haven refuses.
    room.overwrites[community.family.user.id] = Overwrite(
        community.family.user.id, 1, allow=int(P.VIEW_CHANNEL | P.SEND_MESSAGES)
    )
    outsider = await server.click(card, custom_id, community.family)
    assert outsider.ephemeral and "not open to your roles" in outsider.text
    typed = await server.invoke(community.guild, community.family, "checkin", _channel=room)
    assert "not open to your roles" in typed.text
    no_slip = await server.invoke(community.guild, community.family, "attendance proof")
    assert "HVN1-" not in no_slip.text

    # A member the room admits, in the room: counted. A removed member: refused.
    ok = await server.click(card, custom_id, community.peer)
    assert "checked in" in ok.text
    removed = server.create_member(community.guild, "removed", [community.members_role])
    window = await services.rooms.window(meeting, OCC)
    assert window is not None
    await services.rooms.add_removal(meeting, removed.user.id, window)
    kept_out = await server.click(card, custom_id, removed)
    assert "removed you" in kept_out.text
    await run_jobs_at(haven, CLOSES)
    stored = await services.db.fetchval(
        "SELECT checkins FROM attendance_counts WHERE meeting_id = ?", (mid,)
    )
    assert stored == 1
