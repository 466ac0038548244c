"""End to end: posts follow the meeting's language, DMs the language each person uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FakeClock
from bot.permissions import Level
from bot.services.meetings import Actor, Meeting
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord, Member, Message
from tests.support.clock import haven_clock_at

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Thursday 2027-01-07 12:00 in New York; the meetings are Thursdays 19:00 New York = 00:00 UTC.
NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)
START = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)
EXTENSIONS = ("cogs.setup", "cogs.privacy", "cogs.reminders")

haven_clock = haven_clock_at(NOW)


@pytest.fixture
async def haven(haven_runner: HavenRunner, community: Community) -> AsyncIterator[HavenRunner]:
    await haven_runner.start(extensions=EXTENSIONS, dm_rate_per_second=50)
    await haven_runner.running.services.guilds.update(
        community.guild.id,
        facilitator_role_id=community.facilitators_role.id,
        announce_channel_id=community.announcements.id,
        timezone="America/New_York",
    )
    await haven_runner.running.jobs_started.wait()
    try:
        yield haven_runner
    finally:
        await haven_runner.stop()


async def _schedule(runner: HavenRunner, community: Community, title: str, lang: str) -> Meeting:
    actor = Actor(community.facilitator.user.id, Level.FACILITATOR)
    return await runner.running.services.meeting_service.schedule(
        community.guild.id,
        actor,
        title=title,
        start="2027-01-07 19:00",
        timezone="America/New_York",
        repeat="weekly",
        language=lang,
    )


def _titled(messages: list[Message], title: str) -> list[Message]:
    return [m for m in messages if m.embeds and title in str(m.embeds[0].get("title", ""))]


async def test_a_spanish_meetings_reminder_is_spanish_in_an_english_server_and_dms_follow_people(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner, haven_clock: FakeClock
) -> None:
    spanish = await _schedule(haven, community, "Grupo Esperanza", "es")
    english = await _schedule(haven, community, "Hope group", "en")
    reader: Member = community.peer
    reader.user.locale = "es-419"
    for meeting in (spanish, english):
        await discord_server.invoke(community.guild, reader, "remind me", meeting=str(meeting.id))
        await discord_server.invoke(
            community.guild, community.family, "remind me", meeting=str(meeting.id)
        )
    haven_clock.set(START - timedelta(minutes=15))
    jobs = haven.running.services.jobs
    while await jobs.run_due():
        await jobs.drain()
    posted = discord_server.messages_in(community.announcements)
    (es_post,) = _titled(posted, "Grupo Esperanza")
    (en_post,) = _titled(posted, "Hope group")
    assert es_post.embeds[0]["title"].startswith("Recordatorio: ")
    assert en_post.embeds[0]["title"].startswith("Reminder: ")
    reader_dms = discord_server.messages_in(discord_server.dm_channel(reader.user))
    family_dms = discord_server.messages_in(discord_server.dm_channel(community.family.user))
    # Each person's DMs are in their own language, whatever the meeting's.
    assert [m.embeds[0]["title"].split(":")[0] for m in reader_dms if m.embeds] == [
        "Recordatorio",
        "Recordatorio",
    ]
    assert [m.embeds[0]["title"].split(":")[0] for m in family_dms if m.embeds] == [
        "Reminder",
        "Reminder",
    ]
