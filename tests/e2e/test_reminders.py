"""End to end: reminders through the local Discord-compatible server, driven by a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FakeClock
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.services.meetings import Actor, Meeting, MeetingEdit
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord, Member, Message
from tests.support.clock import haven_clock_at

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Thursday 2027-01-07 12:00 in New York; the meeting is Thursdays 19:00 New York = 00:00 UTC.
NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)
START = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)
AT_15 = START - timedelta(minutes=15)
EXTENSIONS = ("cogs.setup", "cogs.reminders")
ROUTE = "/channels/{channel_id}/messages"


haven_clock = haven_clock_at(NOW)


async def _configure(bot: HavenBot, community: Community) -> None:
    await bot.services.guilds.update(
        community.guild.id,
        facilitator_role_id=community.facilitators_role.id,
        announce_channel_id=community.announcements.id,
        modlog_channel_id=community.modlog.id,
        timezone="America/New_York",
    )


async def _started(runner: HavenRunner) -> HavenBot:
    bot = runner.running
    await bot.jobs_started.wait()
    return bot


@pytest.fixture
async def haven(haven_runner: HavenRunner, community: Community) -> AsyncIterator[HavenRunner]:
    await haven_runner.start(extensions=EXTENSIONS, dm_rate_per_second=50)
    await _configure(haven_runner.running, community)
    await _started(haven_runner)
    try:
        yield haven_runner
    finally:
        await haven_runner.stop()


async def _schedule(runner: HavenRunner, community: Community, **kw: str) -> Meeting:
    args = {
        "title": "Thursday @everyone *Hope*",
        "start": "2027-01-07 19:00",
        "timezone": "America/New_York",
        "repeat": "weekly",
        "formats": "speaker,newcomer",
    }
    args.update(kw)
    actor = Actor(community.facilitator.user.id, Level.FACILITATOR)
    return await runner.running.services.meeting_service.schedule(
        community.guild.id,
        actor,
        **args,  # type: ignore[arg-type]
    )


async def _tick(runner: HavenRunner, clock: FakeClock, when: datetime) -> None:
    """Jump the clock and deliver what is due (as the timer would)."""
    clock.set(when)
    jobs = runner.running.services.jobs
    while await jobs.run_due():
        await jobs.drain()
    await jobs.drain()


def _reminders(server: FakeDiscord, community: Community) -> list[Message]:
    return [
        m
        for m in server.messages_in(community.announcements)
        if m.embeds and str(m.embeds[0].get("title", "")).startswith("Reminder")
    ]


def _actor(member: Member) -> Actor:
    return Actor(member.user.id, Level.FACILITATOR)


async def test_channel_reminder_at_the_offset(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    meeting = await _schedule(haven, community)
    await _tick(haven, haven_clock, AT_15 - timedelta(seconds=1))
    assert _reminders(discord_server, community) == []
    await _tick(haven, haven_clock, AT_15)
    [msg] = _reminders(discord_server, community)
    embed = msg.embeds[0]
    assert embed["title"] == "Reminder: Thursday @\u200beveryone \\*Hope\\*"
    text = msg.text
    assert f"<t:{int(START.timestamp())}:F>" in text and f"<t:{int(START.timestamp())}:R>" in text
    assert "NA-style meeting" in text and "Open" in text and "Speaker and Newcomer" in text
    assert "19:00 (New York)" in text and "sent late" not in text
    assert msg.custom_ids() == [f"haven:remind:me:{meeting.id}"]
    assert not msg.mention_everyone and msg.mention_roles == [] and msg.mentions == []
    assert msg.nonce is not None and len(str(msg.nonce)) <= 25
    assert discord_server.find_calls("POST", ROUTE)[-1].json["enforce_nonce"] is True


async def test_dm_subscription_by_command_and_button_and_stop(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    meeting = await _schedule(haven, community)
    guild = community.guild
    choices = await discord_server.autocomplete(
        guild, community.peer, "remind me", focused="meeting", meeting="hope"
    )
    assert [c["value"] for c in choices] == [str(meeting.id)]
    res = await discord_server.invoke(guild, community.peer, "remind me", meeting=str(meeting.id))
    assert res.ephemeral and "DM reminders" in res.text
    mine = await discord_server.invoke(guild, community.peer, "remind mine")
    assert mine.ephemeral and "Thursday" in mine.text

    await _tick(haven, haven_clock, AT_15)
    [dm] = discord_server.dms_to(community.peer)
    assert dm.custom_ids() == [f"haven:remind:stop:{guild.id}:{meeting.id}"]
    # Someone else subscribes with the button under the channel reminder.
    [post] = _reminders(discord_server, community)
    click = await discord_server.click(post, f"haven:remind:me:{meeting.id}", community.family)
    assert click.ephemeral and "DM reminders" in click.text

    # The peer stops from the DM; the family member keeps getting them.
    stop = await discord_server.click(dm, dm.custom_ids()[0], community.peer)
    assert "won't get DM reminders" in stop.text
    await _tick(haven, haven_clock, START + timedelta(days=6))
    assert len(discord_server.dms_to(community.peer)) == 1
    assert len(discord_server.dms_to(community.family)) == 1
    res = await discord_server.invoke(
        guild, community.family, "remind stop", meeting=str(meeting.id)
    )
    assert "no more DM reminders" in res.text
    assert (
        await haven.running.services.reminders.subscriptions(guild.id, community.family.user.id)
    ) == []


async def test_an_edit_moves_the_reminder(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    meeting = await _schedule(haven, community)
    await haven.running.services.meeting_service.edit(
        community.guild.id,
        meeting.id,
        _actor(community.facilitator),
        MeetingEdit(start="2027-01-07 20:30"),
    )
    await _tick(haven, haven_clock, AT_15)
    assert _reminders(discord_server, community) == []
    await _tick(haven, haven_clock, START + timedelta(minutes=75))
    [msg] = _reminders(discord_server, community)
    assert f"<t:{int((START + timedelta(minutes=90)).timestamp())}:F>" in msg.text


async def test_a_cancelled_occurrence_gets_no_reminder_but_a_notice(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    meeting = await _schedule(haven, community)
    await haven.running.services.meeting_service.cancel(
        community.guild.id, meeting.id, _actor(community.facilitator), "2027-01-07"
    )
    await _tick(haven, haven_clock, AT_15)
    assert _reminders(discord_server, community) == []
    notices = [m for m in discord_server.messages_in(community.announcements) if m.embeds]
    assert [m.embeds[0]["title"] for m in notices] == ["Cancelled this week"]
    assert f"<t:{int((START + timedelta(days=7)).timestamp())}:F>" in notices[0].text
    await _tick(haven, haven_clock, START + timedelta(days=6))
    assert len(_reminders(discord_server, community)) == 1  # next week's, as usual


async def test_closed_dms_unsubscribe_quietly(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    closed = discord_server.create_user("closed-cleo", dms_closed=True)
    discord_server.create_member(community.guild, closed, [community.members_role])
    await discord_server.flush()
    meeting = await _schedule(haven, community)
    reminders = haven.running.services.reminders
    await reminders.subscribe(community.guild.id, closed.id, meeting.id)
    await _tick(haven, haven_clock, AT_15)
    refused = discord_server.find_calls("POST", ROUTE, status=403)
    assert len(refused) == 1
    assert await reminders.subscriptions(community.guild.id, closed.id) == []
    await _tick(haven, haven_clock, START + timedelta(days=6))
    assert len(discord_server.find_calls("POST", ROUTE, status=403)) == 1  # never retried
    assert len(_reminders(discord_server, community)) == 2


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_then_success_delivers_once(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    haven_clock: FakeClock,
    status: int,
) -> None:
    await _schedule(haven, community)
    discord_server.inject("POST", ROUTE, status, count=1)
    await _tick(haven, haven_clock, AT_15)
    if status == 503:  # not retried by discord.py: the job comes back after a backoff
        assert _reminders(discord_server, community) == []
        await _tick(haven, haven_clock, AT_15 + timedelta(seconds=30))
    # (a 500 is retried by discord.py itself after a one-second pause)
    assert len(_reminders(discord_server, community)) == 1
    assert len(discord_server.find_calls("POST", ROUTE, status=status)) == 1


async def test_a_missing_channel_tells_the_mod_log_once(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    await _schedule(haven, community)
    await _schedule(haven, community, title="Later", start="2027-01-07 19:30")
    await discord_server.remove_channel(community.announcements)
    await _tick(haven, haven_clock, AT_15)
    await _tick(haven, haven_clock, AT_15 + timedelta(minutes=30))
    logs = [m for m in discord_server.messages_in(community.modlog) if m.embeds]
    assert [m.embeds[0]["title"] for m in logs] == ["Reminders cannot be posted"]
    rows = await haven.running.db.fetchall("SELECT status, reason FROM reminder_deliveries")
    assert [tuple(r) for r in rows] == [("failed", "channel missing")] * 2


@pytest.mark.parametrize(("down_minutes", "delivered"), [(9, True), (11, False)])
async def test_restart_after_downtime_inside_and_outside_the_grace_window(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    haven_clock: FakeClock,
    down_minutes: int,
    delivered: bool,
) -> None:
    await _schedule(haven, community)
    await _tick(haven, haven_clock, AT_15 - timedelta(minutes=1))
    await haven.stop()
    haven_clock.set(AT_15 + timedelta(minutes=down_minutes))
    await haven.start(sync=False, extensions=EXTENSIONS, dm_rate_per_second=50)
    await _started(haven)
    await _tick(haven, haven_clock, haven_clock.now())
    posts = _reminders(discord_server, community)
    if delivered:
        [msg] = posts
        assert msg.embeds[0]["title"].endswith("(sent late)")
    else:
        assert posts == []
        row = await haven.running.db.fetchone("SELECT status, reason FROM reminder_deliveries")
        assert row is not None and tuple(row) == ("skipped", "past the grace window")
    # Nothing more, ever, for that occurrence; the next one is pending.
    await _tick(haven, haven_clock, START - timedelta(minutes=1))
    assert len(_reminders(discord_server, community)) == (1 if delivered else 0)
    pending = await haven.running.services.reminders.pending_reminders()
    assert {j.occurrence for j in pending} == {"2027-01-14"}


async def test_subscriptions_end_when_the_member_leaves(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    meeting = await _schedule(haven, community)
    reminders = haven.running.services.reminders
    guild_id, user_id = community.guild.id, community.peer.user.id
    await reminders.subscribe(guild_id, user_id, meeting.id)
    await discord_server.remove_member(community.guild, community.peer)

    async def gone() -> bool:
        return await reminders.subscriptions(guild_id, user_id) == []

    await discord_server.wait_for(gone, message="the subscription outlived the member")
    await _tick(haven, haven_clock, AT_15)
    assert discord_server.dms_to(community.peer) == []
    assert len(_reminders(discord_server, community)) == 1


async def test_closed_meetings_refuse_reminders_to_those_the_room_would_not_admit(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    guild = community.guild
    reminders = haven.running.services.reminders
    await haven.running.services.guilds.update(
        guild.id, member_role_id=community.members_role.id, family_role_id=community.family_role.id
    )
    na = await _schedule(haven, community, title="Closed NA", access="closed")
    fam = await _schedule(haven, community, title="Closed family", kind="family", access="closed")

    async def subscribed(member: Member) -> set[int]:
        return {s.meeting.id for s in await reminders.subscriptions(guild.id, member.user.id)}

    # By command: the family member is refused the closed NA-style meeting, and nothing is stored.
    res = await discord_server.invoke(guild, community.family, "remind me", meeting=str(na.id))
    assert res.ephemeral and "Closed NA" in res.text and "member role" in res.text, res.text
    assert "DM reminders for" not in res.text
    assert await subscribed(community.family) == set()
    # The same for a member without the family role and the closed family meeting.
    res = await discord_server.invoke(guild, community.peer, "remind me", meeting=str(fam.id))
    assert res.ephemeral and "family" in res.text and "role" in res.text, res.text
    assert await subscribed(community.peer) == set()
    # Those the room admits: each by their role, and a moderator to any meeting.
    for member, meeting in (
        (community.peer, na),
        (community.family, fam),
        (community.moderator, fam),
    ):
        ok = await discord_server.invoke(guild, member, "remind me", meeting=str(meeting.id))
        assert ok.ephemeral and "You'll get DM reminders" in ok.text, ok.text
        assert meeting.id in await subscribed(member)

    # By the button under the channel reminder: refused too, and no DM follows.
    await _tick(haven, haven_clock, AT_15)
    post = next(m for m in _reminders(discord_server, community) if "Closed NA" in m.text)
    click = await discord_server.click(post, f"haven:remind:me:{na.id}", community.family)
    assert click.ephemeral and "Closed NA" in click.text and "member role" in click.text
    assert await subscribed(community.family) == {fam.id}
    await _tick(haven, haven_clock, START + timedelta(days=7) - timedelta(minutes=15))
    dms = discord_server.dms_to(community.family)
    assert dms and all("Closed family" in m.text for m in dms)
