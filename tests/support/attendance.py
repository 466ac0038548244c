"""An attendance world: a Tuesday meeting whose room opens by its schedule, and its check-in card."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.services.meetings import Meeting
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import Channel, FakeDiscord, Message
from tests.support.clock import run_jobs_at
from tests.support.community import configure_guild
from tests.support.meetings import make_meeting

# Tuesday 5 January 2027, noon UTC; the meeting is at 19:00 New York (00:00 UTC the next day).
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
OPENS = datetime(2027, 1, 5, 23, 51, tzinfo=UTC)  # the room opens 10 minutes before
CLOSES = datetime(2027, 1, 6, 1, 16, tzinfo=UTC)  # and closes 15 minutes after the end
OCC = "2027-01-05"


async def configure(haven: HavenRunner, community: Community, **extra: int) -> None:
    """The community's roles and mod-log saved in Haven's settings (plus `extra` settings)."""
    await configure_guild(haven.running.services, community, **extra)


async def tuesday_meeting(haven: HavenRunner, community: Community) -> Meeting:
    """Tuesday Night Hope, weekly at 19:00 New York, facilitated by the community's facilitator."""
    services = haven.running.services
    mid = await make_meeting(
        services,
        community.guild.id,
        title="Tuesday Night Hope",
        facilitator_id=community.facilitator.user.id,
    )
    meeting = await services.meetings.get(mid)
    assert meeting is not None
    return meeting


async def open_room(
    server: FakeDiscord, haven: HavenRunner, community: Community
) -> tuple[Meeting, Channel]:
    """A meeting with a room, opened by its schedule (the rooms feature emits ROOM_OPENED)."""
    await configure(haven, community)
    meeting = await tuesday_meeting(haven, community)
    created = await server.invoke(
        community.guild, community.facilitator, "room create", meeting=str(meeting.id)
    )
    assert "Created the room" in created.all_text, created.all_text
    link = await haven.running.services.rooms.link(meeting.id)
    assert link is not None
    await run_jobs_at(haven, OPENS)
    assert haven.running.services.attendance.open_occurrence(meeting.id) == OCC
    return meeting, server.state.channels[link.text_channel_id]


def checkin_card(server: FakeDiscord, channel: Channel, meeting: Meeting) -> tuple[Message, str]:
    """The room's latest opening card with its Check in button, and that button's custom id."""
    custom_id = f"haven:checkin:{meeting.id}:{OCC}"
    cards = [m for m in server.messages_in(channel) if custom_id in m.custom_ids()]
    assert cards, "the opening card with its Check in button"
    return cards[-1], custom_id
