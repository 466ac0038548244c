"""End to end: /meeting through the local Discord-compatible server, with a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.bus import MEETING_CHANGED
from bot.clock import FakeClock, to_unix
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.services.meetings import EVENT_ROLL, Actor, Meeting
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import Call, FakeDiscord, InteractionResult, Message
from tests.support.actors import People
from tests.support.clock import haven_clock_at
from tests.support.community import configure_guild

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)  # Thursday, 12:00 in New York
FIRST = datetime(2027, 1, 13, 0, 0, tzinfo=UTC)  # Tuesday 2027-01-12 19:00 in New York
WEEK = timedelta(days=7)
EXTENSIONS = ("cogs.setup", "cogs.help", "cogs.meetings")
EVENTS_ROUTE = "/guilds/{guild_id}/scheduled-events"
EVENT_ROUTE = "/guilds/{guild_id}/scheduled-events/{event_id}"


haven_clock = haven_clock_at(NOW)


@pytest.fixture
async def haven(haven_runner: HavenRunner, community: Community) -> AsyncIterator[HavenRunner]:
    """Haven with the meetings cog, roles and channels set up, its job engine started."""
    await haven_runner.start(extensions=EXTENSIONS)
    bot = haven_runner.running
    await bot.jobs_started.wait()
    await configure_guild(
        bot.services,
        community,
        announce_channel_id=community.announcements.id,
        timezone="America/New_York",
    )
    try:
        yield haven_runner
    finally:
        await haven_runner.stop()


@pytest.fixture
def bot(haven: HavenRunner) -> HavenBot:
    return haven.running


@pytest.fixture
def changes(bot: HavenBot) -> list[dict[str, Any]]:
    """Every MEETING_CHANGED the bot emits."""
    seen: list[dict[str, Any]] = []

    async def record(**payload: Any) -> None:
        seen.append(payload)

    bot.services.events.subscribe(MEETING_CHANGED, record)
    return seen


# --- helpers -----------------------------------------------------------------------------------


async def schedule(
    server: FakeDiscord, c: Community, who: Any = None, **kw: Any
) -> InteractionResult:
    args: dict[str, Any] = {
        "title": "Tuesday Hope",
        "start": "2027-01-12 19:00",
        "repeat": "weekly",
        "kind": "na",
    }
    args.update(kw)
    return await server.invoke(c.guild, who or c.facilitator, "meeting schedule", **args)


async def meetings(bot: HavenBot, guild_id: int) -> list[Meeting]:
    return await bot.services.meetings.list_guild(guild_id)


async def only_meeting(bot: HavenBot, guild_id: int) -> Meeting:
    (m,) = await meetings(bot, guild_id)
    return m


async def wait_messages(server: FakeDiscord, channel: Any, count: int) -> list[Message]:
    await server.wait_for(
        lambda: len(server.messages_in(channel)) >= count,
        message=f"expected {count} message(s) in #{channel.name}",
    )
    return server.messages_in(channel)


def never_pings(msg: Message) -> None:
    assert not msg.mention_everyone
    assert msg.mention_roles == []
    assert msg.mentions == []


def event_calls(server: FakeDiscord, method: str) -> list[Call]:
    route = EVENTS_ROUTE if method == "POST" else EVENT_ROUTE
    return [c for c in server.find_calls(method, route) if c.status in (200, 201, 204)]


# --- schedule -----------------------------------------------------------------------------------


async def test_schedule_answers_with_the_card_and_logs_it(
    discord_server: FakeDiscord, community: Community, bot: HavenBot, changes: list[dict[str, Any]]
) -> None:
    res = await schedule(
        discord_server,
        community,
        format="speaker, step study",
        description="Bring a cup of tea.",
        duration=90,
    )
    text = res.all_text
    assert "Scheduled." in text
    assert "Tuesday Hope" in text
    assert "🟢 Open · NA-style" in text
    assert "Every Tuesday at 19:00 (New York) · 1 hour and 30 minutes" in text
    assert "Speaker and Step study" in text
    for i in range(3):
        unix = to_unix(FIRST + i * WEEK)
        assert f"<t:{unix}:F>" in text and f"<t:{unix}:R>" in text
    assert "Tuesday 19:00 (New York)" in text
    assert all(m.ephemeral for m in [res.message, *res.followups] if m is not None)
    m = await only_meeting(bot, community.guild.id)
    assert m.facilitator_ids == {community.facilitator.user.id}
    assert m.duration_minutes == 90
    assert changes == [
        {"meeting_id": m.id, "guild_id": community.guild.id, "change": "created", "detail": ""}
    ]
    (entry,) = await wait_messages(discord_server, community.modlog, 1)
    assert "Meeting scheduled" in entry.text and "Tuesday Hope" in entry.text


async def test_a_peer_cannot_schedule(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    res = await schedule(discord_server, community, who=community.peer)
    assert res.ephemeral
    assert "Only facilitators and moderators can do this" in res.all_text
    assert await meetings(bot, community.guild.id) == []


BAD_SCHEDULES: list[tuple[dict[str, Any], str]] = [
    ({"timezone": "Mars/Olympus_Mons"}, "is not a time zone I know"),
    ({"start": "next tuesday 7pm"}, "Write it as `YYYY-MM-DD HH:MM`"),
    ({"start": "2027-01-07 11:00"}, "has already passed"),
    ({"duration": 2}, "from 5 to 600"),
    ({"duration": 720}, "from 5 to 600"),
    ({"title": "T" * 101}, "title is 101 characters long; the limit is 100"),
    ({"description": "D" * 1001}, "description is 1001 characters long; the limit is 1000"),
    ({"format": "speaker, karaoke"}, "`karaoke` is not a meeting format I know"),
]


async def test_schedule_bad_input_gets_a_specific_message_and_stores_nothing(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    for kw, expected in BAD_SCHEDULES:
        res = await schedule(discord_server, community, **kw)
        assert expected in res.all_text, (kw, res.all_text)
        assert "Something went wrong" not in res.all_text
        assert all(m.ephemeral for m in res.followups)
    assert await meetings(bot, community.guild.id) == []
    assert discord_server.messages_in(community.modlog) == []


async def test_titles_with_mentions_and_markdown_render_literally_and_never_ping(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    role = community.members_role.id
    title = f"@everyone **Hope** <@&{role}> _now_"
    await schedule(discord_server, community, title=title)
    m = await only_meeting(bot, community.guild.id)
    assert m.title == title
    res = await discord_server.invoke(
        community.guild, community.peer, "meeting info", meeting=str(m.id)
    )
    card = res.message.embeds[0] if res.message else {}
    assert "\\*\\*Hope\\*\\*" in card["title"] and "\\_now\\_" in card["title"]
    assert "@\u200beveryone" in card["title"]
    await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting pause",
        meeting=str(m.id),
        until="2027-02-01",
    )
    (notice,) = await wait_messages(discord_server, community.announcements, 1)
    assert "\\*\\*Hope\\*\\*" in notice.content
    never_pings(notice)
    for msg in discord_server.messages_in(community.modlog):
        never_pings(msg)


# --- autocomplete ------------------------------------------------------------------------------


async def test_timezone_autocomplete_offers_the_guild_default_first(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await bot.services.guilds.update(community.guild.id, timezone="Australia/Perth")
    choices = await discord_server.autocomplete(
        community.guild, community.facilitator, "meeting schedule", focused="timezone"
    )
    assert choices[0] == {"name": "Australia/Perth", "value": "Australia/Perth"}
    assert "America/New_York" in [c["value"] for c in choices]
    typed = await discord_server.autocomplete(
        community.guild,
        community.facilitator,
        "meeting schedule",
        focused="timezone",
        timezone="europe/lon",
    )
    assert typed[0]["value"] == "Europe/London"
    edit_choices = await discord_server.autocomplete(
        community.guild, community.facilitator, "meeting edit", focused="timezone", meeting="1"
    )
    assert edit_choices[0]["value"] == "Australia/Perth"


async def test_format_autocomplete_completes_the_last_item(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    choices = await discord_server.autocomplete(
        community.guild,
        community.facilitator,
        "meeting schedule",
        focused="format",
        format="Speaker, disc",
    )
    assert choices == [{"name": "Speaker, Discussion", "value": "Speaker, Discussion"}]
    everything = await discord_server.autocomplete(
        community.guild, community.facilitator, "meeting schedule", focused="format"
    )
    assert len(everything) == 9 and everything[0]["value"] == "Speaker"


async def test_meeting_autocomplete_matches_titles_of_this_guild_only(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await schedule(discord_server, community, title="Hope at Dawn")
    await schedule(discord_server, community, title="Family Hope", kind="family")
    await schedule(discord_server, community, title="Calm Waters")
    elsewhere = await bot.services.meeting_service.schedule(
        999,
        Actor(1, Level.MODERATOR),
        title="Hope Elsewhere",
        start="2027-01-12 19:00",
        timezone="UTC",
        repeat="weekly",
    )
    choices = await discord_server.autocomplete(
        community.guild, community.peer, "meeting info", focused="meeting", meeting="hope"
    )
    names = [c["name"] for c in choices]
    assert names == [
        "Hope at Dawn · 19:00 (New York)",
        "Family Hope 👪 · 19:00 (New York)",
    ]
    ids = {m.title: m.id for m in await meetings(bot, community.guild.id)}
    assert [c["value"] for c in choices] == [str(ids["Hope at Dawn"]), str(ids["Family Hope"])]
    assert str(elsewhere.id) not in [c["value"] for c in choices]


async def test_occurrence_autocomplete_lists_the_meetings_dates(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    choices = await discord_server.autocomplete(
        community.guild,
        community.facilitator,
        "meeting cancel",
        focused="date",
        meeting=str(m.id),
    )
    assert choices[0] == {
        "name": "Tuesday 2027-01-12 · 19:00 (New York)",
        "value": "2027-01-12",
    }
    assert choices[1]["value"] == "2027-01-19"


# --- list and info ------------------------------------------------------------------------------


async def test_list_paginates_with_prev_and_next(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    service = bot.services.meeting_service
    mod = Actor(community.moderator.user.id, Level.MODERATOR)
    for i in range(10):
        await service.schedule(
            community.guild.id,
            mod,
            title=f"Meeting {i:02d}",
            start=f"2027-01-{8 + i % 5:02d} 1{i % 10}:00",
            timezone="America/New_York",
            repeat="weekly",
        )
    res = await discord_server.invoke(community.guild, community.peer, "meeting list", days=7)
    assert res.ephemeral
    assert res.custom_ids() == ["meeting-list:prev", "meeting-list:next"]
    assert res.message is not None
    assert res.message.find_component("meeting-list:prev")["disabled"] is True
    first_page = res.text
    assert "Page 1/2" in first_page and first_page.count("`#") == 8
    nxt = await discord_server.click(res.message, "meeting-list:next", community.peer)
    assert nxt.message is not None
    assert "Page 2/2" in nxt.message.text and nxt.message.text.count("`#") == 2
    assert nxt.message.find_component("meeting-list:next")["disabled"] is True
    back = await discord_server.click(res.message, "meeting-list:prev", community.peer)
    assert back.message is not None and "Page 1/2" in back.message.text
    # Chronological: the first line is the earliest occurrence (Friday 8 Jan at 10:00).
    assert "Meeting 00" in first_page.split("\n\n")[0]


async def test_list_marks_family_and_closed_meetings_and_mine_filters_by_role(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    empty = await discord_server.invoke(community.guild, community.peer, "meeting list")
    assert "No meetings are scheduled in this server." in empty.text
    await schedule(discord_server, community, title="Open Circle")
    await schedule(discord_server, community, title="Closed NA", access="closed")
    await schedule(discord_server, community, title="Family Closed", kind="family", access="closed")
    everyone = await discord_server.invoke(community.guild, community.peer, "meeting list")
    text = everyone.text
    assert "Open Circle** · 🟢 Open · NA-style" in text
    assert "Closed NA** · 🔒 Closed · NA-style" in text
    assert "Family Closed** · 🔒 Closed · 👪 Family" in text
    peer = await discord_server.invoke(community.guild, community.peer, "meeting list", mine=True)
    assert "Open Circle" in peer.text and "Closed NA" in peer.text
    assert "Family Closed" not in peer.text
    fam = await discord_server.invoke(community.guild, community.family, "meeting list", mine=True)
    assert "Family Closed" in fam.text and "Open Circle" in fam.text
    assert "Closed NA" not in fam.text
    fac = await discord_server.invoke(
        community.guild, community.facilitator, "meeting list", mine=True, days=31
    )
    assert all(t in fac.text for t in ("Open Circle", "Closed NA", "Family Closed"))
    # Nothing in the window no longer looks like nothing at all: each says when it meets next.
    none = await discord_server.invoke(community.guild, community.peer, "meeting list", days=1)
    assert "Nothing in the next 1 day." in none.text and "Beyond the next 1 day" in none.text
    assert none.text.count("Next: <t:") == 3
    bad = await discord_server.invoke(community.guild, community.peer, "meeting list", days=40)
    assert "`days` goes from 1 to 31" in bad.text


async def test_list_names_every_meeting_and_when_meetings_beyond_the_window_meet_next(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    server, c = discord_server, community
    await schedule(server, c, title="Tuesday Hope")
    await schedule(server, c, title="Spring Retreat", start="2027-03-01 09:00", repeat="once")
    await schedule(
        server,
        c,
        title="Family Monthly",
        start="2027-02-20 10:00",
        repeat="monthly",
        kind="family",
        access="closed",
    )
    await schedule(server, c, title="Resting Group", start="2027-01-11 18:00")
    (resting,) = [m for m in await meetings(bot, c.guild.id) if m.title == "Resting Group"]
    await server.invoke(
        c.guild, c.facilitator, "meeting pause", meeting=str(resting.id), until="2027-02-15"
    )

    listed = await server.invoke(c.guild, c.peer, "meeting list")
    assert listed.ephemeral
    text = listed.text
    spring = to_unix(datetime(2027, 3, 1, 14, 0, tzinfo=UTC))  # 09:00 in New York
    assert f"**Spring Retreat** · 🟢 Open · NA-style\nNext: <t:{spring}:F>" in text
    assert "Family Monthly" in text  # everyone sees it listed, marked closed, as before
    back = to_unix(datetime(2027, 2, 15, 23, 0, tzinfo=UTC))
    assert (
        f"**Resting Group** · 🟢 Open · NA-style\nPaused until Monday, February 15, 2027 · next: "
        f"<t:{back}:F>" in (text)
    )
    order = [text.index(t) for t in ("Tuesday Hope", "Beyond the next 7 days", "Resting Group")]
    assert order == sorted(order)
    assert text.index("Resting Group") < text.index("Family Monthly") < text.index("Spring Retreat")

    peer = await server.invoke(c.guild, c.peer, "meeting list", mine=True)
    assert "Spring Retreat" in peer.text and "Family Monthly" not in peer.text
    fam = await server.invoke(c.guild, c.family, "meeting list", mine=True)
    assert "Family Monthly" in fam.text and "Spring Retreat" in fam.text


async def test_info_shows_the_card_and_unknown_meetings_get_a_clear_message(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await schedule(discord_server, community, kind="family", access="closed")
    m = await only_meeting(bot, community.guild.id)
    res = await discord_server.invoke(
        community.guild, community.family, "meeting info", meeting=str(m.id)
    )
    assert res.ephemeral
    assert "🔒 Closed · 👪 Family" in res.text
    assert f"<t:{to_unix(FIRST)}:F>" in res.text and "keeps 19:00 (New York) local time" in res.text
    by_title = await discord_server.invoke(
        community.guild, community.family, "meeting info", meeting="tuesday hope"
    )
    assert f"Meeting #{m.id}" in by_title.text
    missing = await discord_server.invoke(
        community.guild, community.family, "meeting info", meeting="Nope"
    )
    assert "can't find that meeting" in missing.text


# --- edit, move ---------------------------------------------------------------------------------


async def test_edit_by_a_facilitator_of_another_meeting_is_refused(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await schedule(discord_server, community, who=community.moderator, title="Mod's meeting")
    await schedule(discord_server, community, title="Felix's meeting")
    mods = {m.title: m for m in await meetings(bot, community.guild.id)}
    target = mods["Mod's meeting"]
    for command, kw in (
        ("meeting edit", {"title": "Taken over"}),
        ("meeting cancel", {"date": "2027-01-19"}),
        ("meeting pause", {"until": "2027-02-01"}),
        ("meeting delete", {}),
    ):
        res = await discord_server.invoke(
            community.guild, community.facilitator, command, meeting=str(target.id), **kw
        )
        assert "Only this meeting's facilitators or a moderator can change it" in res.all_text
    peer = await discord_server.invoke(
        community.guild, community.peer, "meeting edit", meeting=str(target.id), title="X"
    )
    assert "Only facilitators and moderators can do this" in peer.all_text
    assert await bot.services.meetings.get(target.id) == target
    # A moderator may edit any meeting.
    res = await discord_server.invoke(
        community.guild,
        community.moderator,
        "meeting edit",
        meeting=str(mods["Felix's meeting"].id),
        duration=75,
    )
    assert "Saved: duration." in res.all_text


async def test_edit_changes_fields_announces_new_schedules_and_logs(
    discord_server: FakeDiscord, community: Community, bot: HavenBot, changes: list[dict[str, Any]]
) -> None:
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    res = await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting edit",
        meeting=str(m.id),
        title="Tuesday Hope (new)",
        reminder_offsets="2h,10m",
        opening_text="Welcome.\\nPhones on silent, please.",
        room_open_minutes=15,
        room_close_minutes=30,
        clear_chat=True,
        start="2027-01-13 20:30",
    )
    assert "Saved:" in res.all_text and "title" in res.all_text
    u = await only_meeting(bot, community.guild.id)
    assert u.title == "Tuesday Hope (new)"
    assert u.reminder_offsets == (120, 10)
    assert u.opening_text == "Welcome.\nPhones on silent, please."
    assert "2h, 10m before" in res.all_text
    assert (u.room_open_minutes, u.room_close_minutes, u.room_clear_chat) == (15, 30, True)
    assert u.home_time == "20:30 America/New_York" and u.weekday == 3
    assert changes[-1]["change"] == "edited" and "first_date" in changes[-1]["detail"]
    (notice,) = await wait_messages(discord_server, community.announcements, 1)
    assert "has a new schedule: Every Wednesday at 20:30 (New York)" in notice.content
    entries = await wait_messages(discord_server, community.modlog, 2)
    assert "Meeting edited" in entries[-1].text


async def test_edit_facilitators_must_hold_the_role(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    refused = await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting edit",
        meeting=str(m.id),
        add_facilitator=community.peer,
    )
    assert "must hold the facilitator role" in refused.all_text
    ok = await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting edit",
        meeting=str(m.id),
        add_facilitator=community.moderator,
    )
    assert "Saved: facilitators." in ok.all_text
    both = (await only_meeting(bot, community.guild.id)).facilitator_ids
    assert both == {community.facilitator.user.id, community.moderator.user.id}
    removed = await discord_server.invoke(
        community.guild,
        community.moderator,
        "meeting edit",
        meeting=str(m.id),
        remove_facilitator=community.facilitator,
    )
    assert "Saved: facilitators." in removed.all_text
    # Felix is no longer a facilitator of it, so he may not change it.
    res = await discord_server.invoke(
        community.guild, community.facilitator, "meeting edit", meeting=str(m.id), duration=30
    )
    assert "Only this meeting's facilitators" in res.all_text


async def test_edit_bad_input_and_other_guilds_meetings(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    elsewhere = await bot.services.meeting_service.schedule(
        4242,
        Actor(community.moderator.user.id, Level.MODERATOR),
        title="Elsewhere",
        start="2027-01-12 19:00",
        timezone="UTC",
        repeat="weekly",
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"meeting": str(elsewhere.id), "title": "Mine"}, "can't find that meeting"),
        ({"meeting": str(m.id)}, "Nothing to change"),
        ({"meeting": str(m.id), "timezone": "Nowhere/Land"}, "not a time zone I know"),
        ({"meeting": str(m.id), "duration": 601}, "from 5 to 600"),
        ({"meeting": str(m.id), "reminder_offsets": "soonish"}, "not a reminder offset"),
        ({"meeting": str(m.id), "room_open_minutes": 500}, "from 0 to 120"),
        ({"meeting": str(m.id), "occurrence": "2027-01-19"}, "give both `occurrence`"),
        (
            {"meeting": str(m.id), "occurrence": "2027-01-19", "move_to": "x", "title": "y"},
            "Move an occurrence on its own",
        ),
    ]
    before = await meetings(bot, community.guild.id)
    for kw, expected in cases:
        res = await discord_server.invoke(
            community.guild, community.moderator, "meeting edit", **kw
        )
        assert expected in res.all_text, (kw, res.all_text)
    assert await meetings(bot, community.guild.id) == before
    assert await bot.services.meetings.get(elsewhere.id) == elsewhere


async def test_move_one_occurrence_is_announced(
    discord_server: FakeDiscord, community: Community, bot: HavenBot, changes: list[dict[str, Any]]
) -> None:
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    res = await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting edit",
        meeting=str(m.id),
        occurrence="2027-01-19",
        move_to="2027-01-20 18:00",
    )
    new = to_unix(datetime(2027, 1, 20, 23, 0, tzinfo=UTC))
    assert f"to <t:{new}:F>" in res.all_text
    assert changes[-1]["change"] == "moved"
    assert changes[-1]["detail"] == "occurrence:2027-01-19 to:2027-01-20 18:00"
    (notice,) = await wait_messages(discord_server, community.announcements, 1)
    old = to_unix(FIRST + WEEK)
    assert f"the meeting of <t:{old}:F> moves to <t:{new}:F>" in notice.content
    assert "(Wednesday, January 20, 18:00 in New York)" in notice.content
    entries = await wait_messages(discord_server, community.modlog, 2)
    assert "Meeting occurrence moved" in entries[-1].text


# --- cancel, pause, resume ------------------------------------------------------------------------


async def test_cancel_one_occurrence_and_restore_it(
    discord_server: FakeDiscord,
    community: Community,
    bot: HavenBot,
    changes: list[dict[str, Any]],
    people: People,
) -> None:
    facilitator = people.facilitator
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    res = await facilitator("meeting cancel", meeting=str(m.id), date="2027-01-19")
    assert f"Cancelled the meeting of <t:{to_unix(FIRST + WEEK)}:F>" in res.all_text
    assert f"<t:{to_unix(FIRST + WEEK)}:F>" not in res.text.split("Next", 1)[-1]
    assert changes[-1]["change"] == "cancelled"
    assert changes[-1]["detail"] == "occurrence:2027-01-19"
    not_a_date = await facilitator("meeting cancel", meeting=str(m.id), date="2027-01-20")
    assert "`2027-01-20` is not a date this meeting meets" in not_a_date.all_text
    again = await facilitator("meeting cancel", meeting=str(m.id), date="2027-01-19")
    assert "already cancelled" in again.all_text
    restored = await facilitator(
        "meeting cancel", meeting=str(m.id), date="2027-01-19", restore=True
    )
    assert "Restored the meeting of Tuesday, January 19, 2027." in restored.all_text
    assert (await only_meeting(bot, community.guild.id)).exceptions == {}
    entries = await wait_messages(discord_server, community.modlog, 3)
    assert "Meeting occurrence restored" in entries[-1].text


async def test_pause_and_resume_are_announced(
    discord_server: FakeDiscord,
    community: Community,
    bot: HavenBot,
    changes: list[dict[str, Any]],
    people: People,
) -> None:
    facilitator = people.facilitator
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    res = await facilitator("meeting pause", meeting=str(m.id), until="2027-02-01")
    back = to_unix(datetime(2027, 2, 3, 0, 0, tzinfo=UTC))
    assert "Paused until Monday, February 1, 2027." in res.all_text
    assert f"<t:{back}:F>" in res.all_text
    assert changes[-1] == {
        "meeting_id": m.id,
        "guild_id": community.guild.id,
        "change": "paused",
        "detail": "until:2027-02-01",
    }
    (notice,) = await wait_messages(discord_server, community.announcements, 1)
    assert "⏸️" in notice.content and "paused until Monday, February 1, 2027" in notice.content
    past = await facilitator("meeting pause", meeting=str(m.id), until="2027-01-01")
    assert "must be after today" in past.all_text
    res = await facilitator("meeting resume", meeting=str(m.id))
    assert f"<t:{to_unix(FIRST)}:F>" in res.all_text
    assert changes[-1]["change"] == "resumed"
    notices = await wait_messages(discord_server, community.announcements, 2)
    assert "meets again" in notices[-1].content
    again = await facilitator("meeting resume", meeting=str(m.id))
    assert "This meeting is not paused." in again.all_text


# --- delete --------------------------------------------------------------------------------------


async def test_delete_asks_to_confirm_then_deletes(
    discord_server: FakeDiscord,
    community: Community,
    bot: HavenBot,
    changes: list[dict[str, Any]],
    people: People,
) -> None:
    facilitator = people.facilitator
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    res = await facilitator("meeting delete", meeting=str(m.id))
    assert res.ephemeral
    assert res.custom_ids() == ["meeting-delete:keep", "meeting-delete:abort"]
    assert res.message is not None
    abort = await facilitator.click(res.message, "meeting-delete:abort")
    assert abort.message is not None and "Nothing was deleted." in abort.message.text
    assert await meetings(bot, community.guild.id) == [m]
    res = await facilitator("meeting delete", meeting=str(m.id))
    assert res.message is not None
    await facilitator.click(res.message, "meeting-delete:keep")
    await discord_server.wait_for(lambda: "Deleted" in res.message.text)  # type: ignore[union-attr]
    assert await meetings(bot, community.guild.id) == []
    assert changes[-1] == {
        "meeting_id": m.id,
        "guild_id": community.guild.id,
        "change": "deleted",
        "detail": "room:keep",
    }
    (notice,) = await wait_messages(discord_server, community.announcements, 1)
    assert "removed from the schedule" in notice.content
    entries = await wait_messages(discord_server, community.modlog, 2)
    assert "Meeting deleted" in entries[-1].text


async def test_delete_asks_about_the_room_when_one_is_linked(
    discord_server: FakeDiscord, community: Community, bot: HavenBot, changes: list[dict[str, Any]]
) -> None:
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    voice = discord_server.create_channel(community.guild, "hope-voice", "voice")
    async with bot.services.db.transaction() as tx:
        await bot.services.meetings.update(tx, m.id, room_voice_channel_id=voice.id)
    res = await discord_server.invoke(
        community.guild, community.moderator, "meeting delete", meeting=str(m.id)
    )
    assert res.custom_ids() == [
        "meeting-delete:keep",
        "meeting-delete:room",
        "meeting-delete:abort",
    ]
    assert res.message is not None
    await discord_server.click(res.message, "meeting-delete:room", community.moderator)
    await discord_server.wait_for(lambda: "and its room" in res.message.text)  # type: ignore[union-attr]
    assert changes[-1]["change"] == "deleted" and changes[-1]["detail"] == "room:delete"


# --- native scheduled-event mirror ------------------------------------------------------------


async def test_native_event_mirror_follows_every_change(
    discord_server: FakeDiscord,
    community: Community,
    bot: HavenBot,
    haven_clock: FakeClock,
) -> None:
    await bot.services.guilds.update(community.guild.id, native_events=True)
    await schedule(discord_server, community, title="@everyone Hope")
    m = await only_meeting(bot, community.guild.id)
    (create,) = event_calls(discord_server, "POST")
    body = create.json
    assert body["name"] == "@everyone Hope"
    assert body["entity_type"] == 3 and body["entity_metadata"] == {"location": "Discord"}
    assert body["privacy_level"] == 2 and body.get("channel_id") is None
    assert "recurrence_rule" not in body
    assert datetime.fromisoformat(body["scheduled_start_time"]) == FIRST
    assert datetime.fromisoformat(body["scheduled_end_time"]) == FIRST + timedelta(hours=1)
    event_id = int(create.response["id"])
    assert m.native_event_id == event_id
    (roll,) = await bot.services.jobs.pending(kind=EVENT_ROLL)
    assert roll.fire_at == FIRST + timedelta(hours=1)

    def starts() -> list[datetime]:
        return [
            datetime.fromisoformat(c.json["scheduled_start_time"])
            for c in event_calls(discord_server, "PATCH")
        ]

    # Cancel the next occurrence: the event moves to the one after.
    await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting cancel",
        meeting=str(m.id),
        date="2027-01-12",
    )
    assert starts() == [FIRST + WEEK]
    # Edit the title: the event follows.
    await discord_server.invoke(
        community.guild, community.facilitator, "meeting edit", meeting=str(m.id), title="Hope"
    )
    assert event_calls(discord_server, "PATCH")[-1].json["name"] == "Hope"
    # Pause, then resume.
    await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting pause",
        meeting=str(m.id),
        until="2027-02-01",
    )
    assert starts()[-1] == datetime(2027, 2, 3, 0, 0, tzinfo=UTC)
    await discord_server.invoke(
        community.guild, community.facilitator, "meeting resume", meeting=str(m.id)
    )
    assert starts()[-1] == FIRST + WEEK
    # The occurrence ends: the event rolls forward to the next one.
    haven_clock.set(FIRST + WEEK + timedelta(hours=1, minutes=1))
    await bot.services.jobs.run_due()  # other features' jobs may be due too
    await bot.services.jobs.drain()
    assert starts()[-1] == FIRST + 2 * WEEK
    (roll,) = await bot.services.jobs.pending(kind=EVENT_ROLL)
    assert roll.fire_at == FIRST + 2 * WEEK + timedelta(hours=1)
    assert len(event_calls(discord_server, "POST")) == 1  # one event throughout, never a series
    # Delete: the event goes with the meeting.
    res = await discord_server.invoke(
        community.guild, community.facilitator, "meeting delete", meeting=str(m.id)
    )
    assert res.message is not None
    await discord_server.click(res.message, "meeting-delete:keep", community.facilitator)
    await discord_server.wait_for(lambda: len(event_calls(discord_server, "DELETE")) == 1)
    (delete,) = event_calls(discord_server, "DELETE")
    assert delete.params["event_id"] == str(event_id)
    assert await bot.services.jobs.pending(kind=EVENT_ROLL) == []


async def test_native_event_uses_the_rooms_voice_channel(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await bot.services.guilds.update(community.guild.id, native_events=True)
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    voice = discord_server.create_channel(community.guild, "hope-voice", "voice")
    await discord_server.wait_for(lambda: bot.get_channel(voice.id) is not None)
    async with bot.services.db.transaction() as tx:
        await bot.services.meetings.update(tx, m.id, room_voice_channel_id=voice.id)
    await discord_server.invoke(
        community.guild, community.facilitator, "meeting edit", meeting=str(m.id), duration=45
    )
    patch = event_calls(discord_server, "PATCH")[-1].json
    assert patch["entity_type"] == 2 and patch["channel_id"] == str(voice.id)
    assert patch["entity_metadata"] is None
    assert datetime.fromisoformat(patch["scheduled_end_time"]) == FIRST + timedelta(minutes=45)


async def test_no_native_events_when_the_setting_is_off_and_reconcile_mirrors_when_on(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await schedule(discord_server, community)
    await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting edit",
        meeting=str((await only_meeting(bot, community.guild.id)).id),
        duration=30,
    )
    assert discord_server.find_calls(route=EVENTS_ROUTE) == []
    assert discord_server.find_calls(route=EVENT_ROUTE) == []
    await bot.services.guilds.update(community.guild.id, native_events=True)
    await bot.services.jobs.reconcile()
    assert len(event_calls(discord_server, "POST")) == 1
    m = await only_meeting(bot, community.guild.id)
    assert m.native_event_id is not None
    await bot.services.guilds.update(community.guild.id, native_events=False)
    await bot.services.jobs.reconcile()
    assert len(event_calls(discord_server, "DELETE")) == 1
    assert (await only_meeting(bot, community.guild.id)).native_event_id is None


async def test_help_lists_meeting_commands_by_level(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    peer = await discord_server.invoke(community.guild, community.peer, "help")
    assert "/meeting list" in peer.text and "/meeting info" in peer.text
    assert "/meeting schedule" not in peer.text
    fac = await discord_server.invoke(community.guild, community.facilitator, "help")
    for name in ("schedule", "edit", "cancel", "pause", "resume", "delete"):
        assert f"/meeting {name}" in fac.text


async def test_with_every_feature_loaded_changes_flow_without_errors(
    discord_server: FakeDiscord, community: Community, haven_runner: HavenRunner
) -> None:
    """The whole bot (reminders, rooms, feeds … subscribed to MEETING_CHANGED) takes each change."""
    bot = await haven_runner.start()  # every extension in bot.runtime.app.EXTENSIONS
    try:
        await bot.jobs_started.wait()
        await bot.services.guilds.update(
            community.guild.id,
            facilitator_role_id=community.facilitators_role.id,
            announce_channel_id=community.announcements.id,
            modlog_channel_id=community.modlog.id,
            timezone="America/New_York",
            native_events=True,
        )
        await schedule(discord_server, community)
        m = await only_meeting(bot, community.guild.id)
        steps: list[tuple[str, dict[str, Any]]] = [
            ("meeting edit", {"duration": 75, "reminder_offsets": "1h"}),
            ("meeting edit", {"occurrence": "2027-01-19", "move_to": "2027-01-20 19:00"}),
            ("meeting cancel", {"date": "2027-01-26"}),
            ("meeting pause", {"until": "2027-03-01"}),
            ("meeting resume", {}),
        ]
        for command, kw in steps:
            res = await discord_server.invoke(
                community.guild, community.facilitator, command, meeting=str(m.id), **kw
            )
            assert "Something went wrong" not in res.all_text, (command, res.all_text)
        res = await discord_server.invoke(
            community.guild, community.facilitator, "meeting delete", meeting=str(m.id)
        )
        assert res.message is not None
        await discord_server.click(res.message, "meeting-delete:keep", community.facilitator)
        await discord_server.wait_for(lambda: len(event_calls(discord_server, "DELETE")) == 1)
        assert await meetings(bot, community.guild.id) == []
        assert len(event_calls(discord_server, "POST")) == 1
    finally:
        await haven_runner.stop()


async def test_card_keeps_local_time_across_the_march_dst_change(
    discord_server: FakeDiscord, community: Community, bot: HavenBot, haven_clock: FakeClock
) -> None:
    haven_clock.set(datetime(2027, 3, 5, 12, 0, tzinfo=UTC))
    res = await schedule(discord_server, community, start="2027-03-09 19:00")
    text = res.all_text
    # 19:00 EST is 00:00 UTC; after 14 March, 19:00 EDT is 23:00 UTC.
    for instant in (
        datetime(2027, 3, 10, 0, 0, tzinfo=UTC),
        datetime(2027, 3, 16, 23, 0, tzinfo=UTC),
        datetime(2027, 3, 23, 23, 0, tzinfo=UTC),
    ):
        assert f"<t:{to_unix(instant)}:F>" in text
    assert text.count("Tuesday 19:00 (New York)") == 3


async def test_occurrence_autocomplete_offers_cancelled_dates_to_restore(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    await schedule(discord_server, community)
    m = await only_meeting(bot, community.guild.id)
    await discord_server.invoke(
        community.guild,
        community.facilitator,
        "meeting cancel",
        meeting=str(m.id),
        date="2027-01-19",
    )
    choices = await discord_server.autocomplete(
        community.guild,
        community.facilitator,
        "meeting cancel",
        focused="date",
        meeting=str(m.id),
        date="01-19",
    )
    assert choices == [{"name": "Tuesday 2027-01-19 (cancelled)", "value": "2027-01-19"}]
    moved = await discord_server.autocomplete(
        community.guild,
        community.facilitator,
        "meeting edit",
        focused="occurrence",
        meeting=str(m.id),
    )
    assert [c["value"] for c in moved[:2]] == ["2027-01-12", "2027-01-19"]


async def test_meetings_and_the_event_roll_survive_a_restart(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    haven_clock: FakeClock,
) -> None:
    bot = haven.running
    await bot.services.guilds.update(community.guild.id, native_events=True)
    await schedule(discord_server, community)
    bot = await haven.restart()
    await bot.jobs_started.wait()
    m = await only_meeting(bot, community.guild.id)
    res = await discord_server.invoke(
        community.guild, community.peer, "meeting info", meeting=str(m.id)
    )
    assert f"<t:{to_unix(FIRST)}:F>" in res.text
    haven_clock.set(FIRST + timedelta(hours=1, seconds=1))
    await bot.services.jobs.run_due()
    await bot.services.jobs.drain()
    (patch,) = event_calls(discord_server, "PATCH")
    assert datetime.fromisoformat(patch.json["scheduled_start_time"]) == FIRST + WEEK
    assert len(event_calls(discord_server, "POST")) == 1


# --- in Spanish -----------------------------------------------------------------------------------


async def test_schedule_and_list_answer_each_person_in_their_language(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    """A Spanish client gets Spanish (Babel's words, zones by city); English stays English."""
    server, c = discord_server, community
    made = await schedule(server, c, format="speaker, newcomer", _locale="es-419")
    card = made.all_text
    assert made.ephemeral and made.payload["locale"] == "es-419"
    assert "Programada. Ajusta recordatorios" in card, card
    assert "🟢 Abierta · Estilo NA" in card
    assert "Cada martes a las 19:00 (Nueva York) · 1 hora" in card
    assert card.count("· martes 19:00 (Nueva York)") == 3  # the next three dates, at home
    assert f"<t:{to_unix(FIRST)}:F>" in card  # Discord shows timestamps in each reader's language
    assert "Con orador y Para recién llegados" in card
    assert "Próximas fechas" in card and "la reunión mantiene las 19:00 (Nueva York)" in card
    for english in ("Scheduled", "Every Tuesday", "Open", "New York", "Next dates"):
        assert english not in card, english
    # The mod log is the server's, in the server's language (English here).
    (entry,) = await wait_messages(server, c.modlog, 1)
    assert "Meeting scheduled" in entry.text and "Every Tuesday at 19:00 (New York)" in entry.text

    spanish = await server.invoke(c.guild, c.peer, "meeting list", _locale="es-ES")
    english = await server.invoke(c.guild, c.family, "meeting list")
    assert spanish.ephemeral and english.ephemeral
    assert "Reuniones en un plazo de 7 días" in spanish.text
    assert "**Tuesday Hope** · 🟢 Abierta · Estilo NA" in spanish.text
    assert f"<t:{to_unix(FIRST)}:F> (<t:{to_unix(FIRST)}:R>) · martes 19:00 (Nueva York)" in (
        spanish.text
    )
    assert "Página 1/1" in spanish.text
    assert "Meetings in the next 7 days" in english.text
    assert "**Tuesday Hope** · 🟢 Open · NA-style" in english.text
    assert "Tuesday 19:00 (New York)" in english.text and "Page 1/1" in english.text
    assert "martes" not in english.text and "Reuniones" not in english.text

    one_day = await server.invoke(c.guild, c.peer, "meeting list", days=1, _locale="es-419")
    assert "Nada en un plazo de 1 día." in one_day.text
    assert "__**Más allá de 1 día**__" in one_day.text
    bad = await server.invoke(c.guild, c.peer, "meeting list", days=40, _locale="es-419")
    assert bad.ephemeral and "`days` va de 1 a 31; escribiste 40." in bad.all_text


async def test_notices_follow_the_meetings_language_and_the_mod_log_the_servers(
    discord_server: FakeDiscord, community: Community, bot: HavenBot
) -> None:
    """An English facilitator pauses a Spanish meeting: their answer is English, the notice
    Spanish, the mod-log entry in the server's language (English, then Spanish)."""
    server, c = discord_server, community
    await schedule(server, c, title="Martes de Esperanza", language="es")
    m = await only_meeting(bot, c.guild.id)
    assert m.language == "es"
    paused = await server.invoke(
        c.guild, c.facilitator, "meeting pause", meeting=str(m.id), until="2027-02-01"
    )
    assert "Paused until Monday, February 1, 2027." in paused.all_text
    (notice,) = await wait_messages(server, c.announcements, 1)
    assert notice.content.startswith(
        "⏸️ **Martes de Esperanza** (🟢 Abierta · Estilo NA) está en pausa hasta el lunes, "
        "1 de febrero de 2027. Vuelve a reunirse el <t:"
    ), notice.content
    never_pings(notice)
    entries = await wait_messages(server, c.modlog, 2)
    assert "Meeting paused" in entries[-1].text
    await bot.services.guilds.update(c.guild.id, language="es")
    resumed = await server.invoke(c.guild, c.facilitator, "meeting resume", meeting=str(m.id))
    assert "Resumed. Next: <t:" in resumed.all_text
    notices = await wait_messages(server, c.announcements, 2)
    assert "▶️ **Martes de Esperanza** (🟢 Abierta · Estilo NA) vuelve a reunirse." in (
        notices[-1].content
    )
    entries = await wait_messages(server, c.modlog, 3)
    assert "Reunión reanudada" in entries[-1].text and "Meeting resumed" not in entries[-1].text
