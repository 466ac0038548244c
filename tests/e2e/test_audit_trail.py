"""The audit trail: every moderator-relevant change reaches the mod-log channel, once.

One walk through the whole product: setup, meetings, rooms, resource cards, onboarding, the
anonymous line and feeds. After each action exactly one new mod-log entry names the action and
the person who did it; actions that are not moderator-relevant (a check-in, a suggestion, a
message to the moderators) add none. No entry ever names who attended a meeting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import Channel, FakeDiscord, InteractionResult, Member, Message
from tests.support.clock import haven_clock_at
from tests.support.modals import modal_defaults

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Tuesday 5 January 2027, noon UTC (07:00 in New York).
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)

SUGGESTION = {
    "title": "Riverside naloxone pick-up",
    "summary": "Free naloxone kits at the Riverside library front desk.",
    "link": "https://riverside.example.org/naloxone",
    "contact": "555-0100",
    "region_tags": "US: naloxone",
}


haven_clock = haven_clock_at(T0)


def audit_entries(server: FakeDiscord, modlog: Channel) -> list[dict[str, Any]]:
    """Mod-log embeds that record a change (they carry a "By" field; review cards do not)."""
    return [
        e
        for m in server.messages_in(modlog)
        for e in m.embeds
        if any(f.get("name") == "By" for f in e.get("fields", []))
    ]


def by_field(entry: dict[str, Any]) -> str:
    return next(f["value"] for f in entry["fields"] if f["name"] == "By")


def entry_text(entry: dict[str, Any]) -> str:
    parts = [entry.get("title", ""), entry.get("description") or ""]
    parts += [f"{f['name']} {f['value']}" for f in entry.get("fields", [])]
    return "\n".join(parts)


def newest_with(server: FakeDiscord, prefix: str, channel: Channel | None = None) -> Message:
    pool = server.messages_in(channel) if channel else list(server.state.messages.values())
    found = [m for m in pool if any(c.startswith(prefix) for c in m.custom_ids())]
    assert found, f"no message with a {prefix!r} button"
    return max(found, key=lambda m: m.id)


def button(message: Message, prefix: str) -> str:
    return next(c for c in message.custom_ids() if c.startswith(prefix))


@dataclass(frozen=True)
class Step:
    title: str | None  # the mod-log entry it must add (None: it must add none)
    actor: str  # "moderator", "facilitator" or "peer"
    run: Callable[[], Awaitable[Any]]


async def test_every_moderator_relevant_change_reaches_the_mod_log_once(
    discord_server: FakeDiscord, community: Community, haven_runner: HavenRunner
) -> None:
    server, c = discord_server, community
    review = server.create_channel(c.guild, "resource-review")
    panel_channel = server.create_channel(c.guild, "start-here")
    mod_line = server.create_channel(c.guild, "mod-line")
    spare = server.create_role(c.guild, "Spare")
    newcomers = [server.create_member(c.guild, f"newcomer-{i}") for i in range(2)]
    await server.flush()
    await haven_runner.start()
    bot = haven_runner.running
    services = bot.services
    # Only the moderator role is set beforehand; everything else goes through /setup.
    await services.guilds.update(c.guild.id, moderator_role_id=c.moderators_role.id)
    g = c.guild
    state: dict[str, Any] = {}

    async def invoke(who: Member, command: str, **options: Any) -> InteractionResult:
        result = await server.invoke(g, who, command, **options)
        assert "Something went wrong" not in result.all_text, result.all_text
        assert "Only " not in result.all_text, result.all_text
        return result

    def meeting_id(title: str) -> str:
        return str(state[title])

    async def schedule(title: str) -> None:
        done = await invoke(
            c.facilitator,
            "meeting schedule",
            title=title,
            start="2027-01-12 19:00",
            repeat="weekly",
            kind="na",
        )
        assert "Scheduled." in done.all_text, done.all_text
        found = [m for m in await services.meetings.list_guild(g.id) if m.title == title]
        state[title] = found[0].id

    async def suggest(who: Member) -> None:
        opened = await invoke(who, "resource suggest")
        await server.submit_modal(opened, who, SUGGESTION)
        pending = await services.resources.pending(g.id)
        card = pending[-1]

        async def posted() -> bool:
            got = await services.resources.get(g.id, card.id)
            return got.review_message_id is not None

        await server.wait_for(posted)
        state.setdefault("pending", []).append(card.id)

    async def approve_card() -> None:
        card = state["pending"][0]
        message = newest_with(server, f"haven:res:approve:{card}:", review)
        clicked = await server.click(message, button(message, "haven:res:approve:"), c.moderator)
        done = await server.submit_modal(clicked, c.moderator, modal_defaults(clicked))
        assert "Approved" in done.text, done.text

    async def reject_card() -> None:
        card = state["pending"][1]
        message = newest_with(server, f"haven:res:reject:{card}:", review)
        done = await server.click(message, button(message, "haven:res:reject:"), c.moderator)
        assert "Rejected" in done.text, done.text

    async def add_card() -> None:
        opened = await invoke(c.moderator, "resource add", region="US")
        done = await server.submit_modal(
            opened,
            c.moderator,
            {
                "title": "Harbor naloxone",
                "summary": "Free naloxone kits at the harbor clinic.",
                "contacts": "phone: 555-0101 | Front desk",
                "source": "https://harbor.example.org/naloxone",
                "tags": "naloxone",
            },
        )
        assert "Added" in done.text, done.text
        state["card"] = done.text.split("`")[1]

    async def edit_card() -> None:
        opened = await invoke(c.moderator, "resource edit", card=state["card"])
        values = modal_defaults(opened) | {"summary": "Free kits at the harbor clinic, 9 to 5."}
        done = await server.submit_modal(opened, c.moderator, values)
        assert "went back to review" in done.text, done.text

    async def request_role(who: Member) -> None:
        (panel,) = server.messages_in(panel_channel)
        asked = await server.click(panel, "haven:onboard:role:member", who)
        assert "waiting for them" in asked.text, asked.text

    async def decide(action: str) -> None:
        card = newest_with(server, f"haven:onboard:req:{action}:", c.modlog)
        done = await server.click(card, button(card, f"haven:onboard:req:{action}:"), c.moderator)
        assert f"{action[:-1]}ed by" in done.text or "declined by" in done.text, done.text

    async def confirm(result: InteractionResult, label: str, who: Member, final: str) -> None:
        done = await server.click(result, label, who)
        await server.wait_for(
            lambda: done.message is not None and final in done.message.content,
            message=f"never said {final!r}",
        )

    async def room_action(
        command: str, who: Member, expected: str, m: str = "Tuesday Night Hope", **options: Any
    ) -> None:
        done = await invoke(who, command, meeting=meeting_id(m), **options)
        assert expected in done.all_text, done.all_text

    async def delete_room() -> None:
        prompt = await invoke(
            c.facilitator, "room delete", meeting=meeting_id("Tuesday Night Hope")
        )
        await confirm(prompt, "Delete the room", c.facilitator, "was deleted")

    async def delete_meeting() -> None:
        prompt = await invoke(
            c.moderator, "meeting delete", meeting=meeting_id("Tuesday Night Hope")
        )
        await confirm(prompt, "meeting-delete:keep", c.moderator, "Deleted")

    async def delete_meeting_with_room() -> None:
        meeting = int(meeting_id("Thursday Calm"))
        link = await services.rooms.link(meeting)
        assert link is not None
        before = len(audit_entries(server, c.modlog))
        prompt = await invoke(c.moderator, "meeting delete", meeting=str(meeting))
        await confirm(prompt, "meeting-delete:room", c.moderator, "and its room")
        await server.wait_for(lambda: server.state.channels[link.category_id].deleted)
        await server.wait_for(lambda: len(audit_entries(server, c.modlog)) > before)
        entry = audit_entries(server, c.modlog)[-1]
        assert "Room deleted" in entry_text(entry), entry_text(entry)

    async def room_text() -> Channel:
        link = await services.rooms.link(int(meeting_id("Tuesday Night Hope")))
        assert link is not None
        return server.state.channels[link.text_channel_id]

    async def check_in(who: Member) -> None:
        done = await server.invoke(g, who, "checkin", _channel=await room_text())
        assert "checked in" in done.text, done.text

    async def share() -> None:
        done = await server.invoke(g, c.peer, "share", text="Grateful.", _channel=await room_text())
        assert "Shared as" in done.all_text, done.all_text

    async def silence() -> None:
        message = newest_with(server, "haven:silence:", await room_text())
        done = await server.click(message, button(message, "haven:silence:"), c.moderator)
        assert "can't share anonymously again" in done.text, done.text

    async def block() -> None:
        message = newest_with(server, "haven:modline:block:")
        done = await server.click(message, button(message, "haven:modline:block:"), c.moderator)
        assert "Blocked." in done.text, done.text

    m, f, p = "moderator", "facilitator", "peer"
    meet = "Tuesday Night Hope"
    steps = [
        # Setup.
        Step(
            "Settings changed",
            m,
            lambda: invoke(
                c.moderator,
                "setup channels",
                modlog=c.modlog,
                announcements=c.announcements,
                review=review,
                moderators=mod_line,
            ),
        ),
        Step(
            "Settings changed",
            m,
            lambda: invoke(
                c.moderator,
                "setup roles",
                facilitator=c.facilitators_role,
                member=c.members_role,
                family=c.family_role,
            ),
        ),
        Step(
            "Settings changed",
            m,
            lambda: invoke(c.moderator, "setup defaults", timezone="America/New_York"),
        ),
        Step("Settings changed", m, lambda: invoke(c.moderator, "setup roles", family=spare)),
        Step(
            "Settings changed", m, lambda: invoke(c.moderator, "setup roles", family=c.family_role)
        ),
        Step("Settings changed", m, lambda: invoke(c.moderator, "setup onboarding", approval=True)),
        Step(
            "Role panel posted",
            m,
            lambda: invoke(c.moderator, "setup panel", channel=panel_channel),
        ),
        # Meetings.
        Step("Meeting scheduled", f, lambda: schedule(meet)),
        Step(
            "Meeting edited",
            f,
            lambda: invoke(c.facilitator, "meeting edit", meeting=meeting_id(meet), duration=75),
        ),
        Step(
            "Meeting occurrence moved",
            f,
            lambda: invoke(
                c.facilitator,
                "meeting edit",
                meeting=meeting_id(meet),
                occurrence="2027-01-19",
                move_to="2027-01-20 19:00",
            ),
        ),
        Step(
            "Meeting occurrence cancelled",
            m,
            lambda: invoke(
                c.moderator, "meeting cancel", meeting=meeting_id(meet), date="2027-01-26"
            ),
        ),
        Step(
            "Meeting occurrence restored",
            f,
            lambda: invoke(
                c.facilitator,
                "meeting cancel",
                meeting=meeting_id(meet),
                date="2027-01-26",
                restore=True,
            ),
        ),
        Step(
            "Meeting paused",
            f,
            lambda: invoke(
                c.facilitator, "meeting pause", meeting=meeting_id(meet), until="2027-02-10"
            ),
        ),
        Step(
            "Meeting resumed",
            m,
            lambda: invoke(c.moderator, "meeting resume", meeting=meeting_id(meet)),
        ),
        # Rooms, with check-ins and an anonymous share that must never be logged against anyone.
        Step(
            "Room created", f, lambda: room_action("room create", c.facilitator, "Created the room")
        ),
        Step("Room opened", f, lambda: room_action("room open", c.facilitator, "Opened the room")),
        Step(None, p, lambda: check_in(c.peer)),
        Step(None, f, lambda: check_in(c.facilitator)),
        Step(None, p, share),
        Step("Anonymous sharer silenced", m, silence),
        Step("Room locked", m, lambda: room_action("room lock", c.moderator, "Locked")),
        Step("Room unlocked", f, lambda: room_action("room unlock", c.facilitator, "Unlocked")),
        Step(
            "Room slowmode",
            m,
            lambda: room_action("room slowmode", c.moderator, "Slowmode is now 10", seconds=10),
        ),
        Step(
            "Member removed from room",
            m,
            lambda: room_action("room remove", c.moderator, "Removed", member=c.family),
        ),
        Step("Room closed", f, lambda: room_action("room close", c.facilitator, "Closed the room")),
        Step("Room deleted", f, delete_room),
        Step("Meeting deleted", m, delete_meeting),
        # Deleting a meeting with its room is one action: one entry, naming the room too.
        Step("Meeting scheduled", f, lambda: schedule("Thursday Calm")),
        Step(
            "Room created",
            f,
            lambda: room_action("room create", c.facilitator, "Created", m="Thursday Calm"),
        ),
        Step("Meeting deleted", m, delete_meeting_with_room),
        # Resource cards.
        Step(None, p, lambda: suggest(c.peer)),
        Step(None, p, lambda: suggest(c.family)),
        Step("Resource card approved", m, approve_card),
        Step("Resource card rejected", m, reject_card),
        Step("Resource card added", m, add_card),
        Step("Resource card edited", m, edit_card),
        Step(
            "Resource card turned off",
            m,
            lambda: invoke(c.moderator, "resource disable", card="fel-na-meetings"),
        ),
        Step(
            "Resource card turned on",
            m,
            lambda: invoke(c.moderator, "resource enable", card="fel-na-meetings"),
        ),
        Step(
            "Resource card re-verified",
            m,
            lambda: invoke(c.moderator, "resource verify", card="fel-na-meetings"),
        ),
        # Onboarding.
        Step(None, p, lambda: request_role(newcomers[0])),
        Step("Role request approved", m, lambda: decide("approve")),
        Step(None, p, lambda: request_role(newcomers[1])),
        Step("Role request declined", m, lambda: decide("decline")),
        # The anonymous line.
        Step(None, p, lambda: invoke(c.peer, "moderators message", text="Can we talk?")),
        Step("Anonymous line: person blocked", m, block),
        # Feeds.
        Step(
            "Public feeds turned on", m, lambda: invoke(c.moderator, "setup feeds", action="enable")
        ),
        Step(
            "Public feed URLs rotated",
            m,
            lambda: invoke(c.moderator, "setup feeds", action="rotate"),
        ),
        Step(
            "Public feeds turned off",
            m,
            lambda: invoke(c.moderator, "setup feeds", action="disable"),
        ),
        # A last change, so that a stray second entry of any step above has landed before the end.
        Step("Settings changed", m, lambda: invoke(c.moderator, "setup defaults", region="US")),
    ]
    actors = {m: c.moderator, f: c.facilitator, p: c.peer}
    try:
        for number, step in enumerate(steps):
            before = len(audit_entries(server, c.modlog))
            await step.run()
            if step.title is not None:
                await server.wait_for(
                    lambda before=before: len(audit_entries(server, c.modlog)) > before,
                    message=f"step {number}: no mod-log entry for {step.title!r}",
                )
        entries = audit_entries(server, c.modlog)
        expected = [s.title for s in steps if s.title is not None]
        assert [e["title"] for e in entries] == expected
        logged = [s for s in steps if s.title is not None]
        for step, entry in zip(logged, entries, strict=True):
            actor = actors[step.actor].user.id
            assert f"<@{actor}>" in by_field(entry), (step.title, by_field(entry))
            text = entry_text(entry)
            # Never who attended: the peer and the facilitator checked in, the peer shared.
            assert str(c.peer.user.id) not in text, (step.title, text)
            if step.actor != f:
                assert str(c.facilitator.user.id) not in text, (step.title, text)
    finally:
        await haven_runner.stop()
