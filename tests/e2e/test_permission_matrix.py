"""The permission matrix: every slash command and every button, for every kind of actor.

Actors: a peer, a facilitator of THIS meeting, a facilitator of ANOTHER meeting, a moderator, and
a moderator of ANOTHER guild who acts on this guild's meeting and card ids (ids never cross guilds).

Each row is allowed or refused. A refusal is ephemeral, says clearly why, and leaves every table of
the database exactly as it was (all rows of all tables compared before and after). One world (one
bot, two guilds, meetings, an open room, cards, requests, conversations) is built per command
family; in each family the refusals run first on the shared world, then the allowed rows, each on
its own fresh target, so no row's outcome depends on another's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
import pytest

from bot.clock import FakeClock
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import HavenView
from bot.services.meetings import Actor, Meeting
from bot.services.resources import Draft
from tests.e2e.harness import Community, HavenRunner, build_community
from tests.fakediscord import Channel, FakeDiscord, InteractionResult, Member, Message
from tests.fakediscord.interactions import InvocationError
from tests.support.clock import haven_clock_at
from tests.support.community import configure_guild
from tests.support.modals import modal_defaults

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Tuesday 5 January 2027, noon UTC. M1 meets Tuesdays 19:00 New York (00:00 UTC next day); its
# room opens at 23:50 UTC, so at OPENS it is open and its 15-minute reminder has gone out.
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
OPENS = datetime(2027, 1, 5, 23, 51, tzinfo=UTC)
OCC = "2027-01-05"

PEER, FAC, FAC_OTHER, MOD, OUT = "peer", "fac_this", "fac_other", "moderator", "outsider"
ACTORS = (PEER, FAC, FAC_OTHER, MOD, OUT)

Snapshot = dict[str, list[tuple[Any, ...]]]


haven_clock = haven_clock_at(T0)


# --- outcomes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allow:
    """The actor may do it: the answer contains `text` (None: any answer)."""

    text: str | None = None
    ephemeral: bool | None = True
    modal: bool = False
    absent: tuple[str, ...] = ()  # text that must not appear (another guild's data)


@dataclass(frozen=True)
class Own:
    """The outsider's command acts in their own guild only: this guild's rows stay unchanged."""

    text: str | None = None
    ephemeral: bool | None = True
    modal: bool = False
    absent: tuple[str, ...] = ("Tuesday Night Hope", "Wednesday Serenity", "Riverside", "Harbor")


@dataclass(frozen=True)
class Refuse:
    """Refused: ephemeral, clear, and no stored data changes."""

    text: str


@dataclass(frozen=True)
class Inert:
    """Answered, but nothing stored changes (e.g. Stop pressed by someone without a subscription)."""

    text: str


@dataclass(frozen=True)
class Hidden:
    """Discord itself does not let this actor do it (an ephemeral message is only its owner's)."""


Outcome = Allow | Own | Refuse | Inert | Hidden

R_FAC = Refuse("Only facilitators and moderators can do this")
R_MOD = Refuse("Only moderators can do this")
R_CHANGE = Refuse("Only this meeting's facilitators or a moderator can change it")
R_MANAGER = Refuse("Only this meeting's facilitators and moderators can do this")
R_NO_MEETING = Refuse("can't find that meeting")
R_NO_CARD = Refuse("There is no resource card with that id here")
HIDDEN = Hidden()


def staff_row(ok: Outcome, *, manage: Refuse = R_CHANGE) -> dict[str, Outcome]:
    """Facilitators of the meeting and moderators; the guild's other members are refused."""
    return {PEER: R_FAC, FAC: ok, FAC_OTHER: manage, MOD: ok, OUT: R_NO_MEETING}


def mod_row(ok: Outcome, out: Outcome) -> dict[str, Outcome]:
    """Moderators only."""
    return {PEER: R_MOD, FAC: R_MOD, FAC_OTHER: R_MOD, MOD: ok, OUT: out}


def everyone(ok: Outcome, out: Outcome) -> dict[str, Outcome]:
    """Every member of this guild; the outsider as given."""
    return {PEER: ok, FAC: ok, FAC_OTHER: ok, MOD: ok, OUT: out}


def owner_only(ok: Outcome) -> dict[str, Outcome]:
    """An ephemeral confirmation or page: the one who asked (FAC and MOD rows) presses it."""
    return {PEER: HIDDEN, FAC: ok, FAC_OTHER: HIDDEN, MOD: ok, OUT: HIDDEN}


# --- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    server: FakeDiscord
    runner: HavenRunner
    a: Community
    b: Community
    fac_other: Member
    review: Channel
    panel_channel: Channel
    m1: Meeting | None = None
    m2: Meeting | None = None
    room_text: Channel | None = None
    card_ok: str = ""
    card_pending: str = ""
    card_pending_2: str = ""
    shared: dict[str, Any] = field(default_factory=dict)
    counter: int = 0

    @property
    def bot(self) -> HavenBot:
        return self.runner.running

    def member(self, who: str) -> Member:
        return {
            PEER: self.a.peer,
            FAC: self.a.facilitator,
            FAC_OTHER: self.fac_other,
            MOD: self.a.moderator,
            OUT: self.b.moderator,
        }[who]

    def home(self, who: str) -> Community:
        """The community the actor belongs to."""
        return self.b if who == OUT else self.a

    def meeting1(self) -> Meeting:
        assert self.m1 is not None
        return self.m1

    async def invoke(self, who: str, command: str, **options: Any) -> InteractionResult:
        """Run a command as the actor, in their own guild's #general unless `_channel`."""
        return await self.server.invoke(self.home(who).guild, self.member(who), command, **options)

    async def click(self, message: Message | InteractionResult, target: str, who: str) -> Any:
        return await self.server.click(message, target, self.member(who))

    def unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix} {self.counter}"

    async def fresh_meeting(self, *, paused: bool = False) -> Meeting:
        """A new weekly meeting facilitated by FAC, first on Tuesday 12 January."""
        service = self.bot.services.meeting_service
        actor = Actor(self.a.facilitator.user.id, Level.FACILITATOR)
        meeting = await service.schedule(
            self.a.guild.id,
            actor,
            title=self.unique("Fresh meeting"),
            start="2027-01-12 19:00",
            timezone="America/New_York",
            repeat="weekly",
        )
        if paused:
            meeting = await service.pause(self.a.guild.id, meeting.id, actor, "2027-02-01")
        return meeting

    async def fresh_room(self, *, opened: bool = False) -> Meeting:
        """A fresh meeting with a room (opened now when asked)."""
        meeting = await self.fresh_meeting()
        made = await self.server.invoke(
            self.a.guild, self.a.facilitator, "room create", meeting=str(meeting.id)
        )
        assert "Created the room" in made.all_text, made.all_text
        if opened:
            done = await self.server.invoke(
                self.a.guild, self.a.facilitator, "room open", meeting=str(meeting.id)
            )
            assert "Opened the room" in done.all_text, done.all_text
        return meeting

    async def fresh_card(self, *, enabled: bool = True) -> str:
        lib = self.bot.services.resources
        card = await lib.add(
            self.a.guild.id,
            self.a.moderator.user.id,
            Draft(
                title=self.unique("Harbor naloxone"),
                summary="Free naloxone kits at the harbor clinic.",
                source_url="https://harbor.example.org/naloxone",
                contacts="phone: 555-0101 | Front desk",
                tags="naloxone",
            ),
            region="US",
        )
        if not enabled:
            await lib.set_enabled(self.a.guild.id, card.id, False)
        return card.id

    async def plant(self, who: str, message: Message) -> Message:
        """A copy of a bot message's buttons where the actor can press it (their own guild)."""
        if who != OUT:
            return message
        return await self.server.create_message(
            self.b.general,
            self.server.state.bot_user.payload(),
            {"content": "copy", "components": message.components},
        )


async def snapshot(bot: HavenBot) -> Snapshot:
    """Every row of every table, in rowid order."""
    db = bot.services.db
    # PostgreSQL has no rowid: its rows are ordered by their whole text instead.
    order = "CAST(t AS TEXT)" if db.dialect == "postgres" else "rowid"
    return {
        name: [
            tuple(r)
            for r in await db.fetchall(f'SELECT t.* FROM "{name}" AS t ORDER BY {order}')  # noqa: S608
        ]
        for name in sorted(await db.tables())
    }


async def guild_slice(bot: HavenBot, guild_id: int) -> Snapshot:
    """The rows of one guild (tables without guild_id: rows of its meetings, else all)."""
    db = bot.services.db
    out: Snapshot = {}
    meeting_ids = {
        r[0] for r in await db.fetchall("SELECT id FROM meetings WHERE guild_id = ?", (guild_id,))
    }
    for name, rows in (await snapshot(bot)).items():
        columns = await db.columns(name)
        if "guild_id" in columns:
            i = columns.index("guild_id")
            out[name] = [r for r in rows if r[i] == guild_id]
        elif "meeting_id" in columns:
            i = columns.index("meeting_id")
            out[name] = [r for r in rows if r[i] in meeting_ids]
        else:
            out[name] = rows
    return out


def diff(before: Snapshot, after: Snapshot) -> str:
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, []), after.get(name, [])
        if old != new:
            gone = [r for r in old if r not in new]
            added = [r for r in new if r not in old]
            lines.append(f"  {name}: removed {gone[:3]} added {added[:3]}")
    return "\n".join(lines)


async def build_world(server: FakeDiscord, runner: HavenRunner, a: Community) -> World:
    """Two guilds, M1 (FAC) with an open room and a reminder, M2 (FAC_OTHER), cards, requests."""
    fac_other = server.create_member(a.guild, "fac-olga", [a.facilitators_role, a.members_role])
    review = server.create_channel(a.guild, "resource-review")
    panel_channel = server.create_channel(a.guild, "start-here")
    mod_line = server.create_channel(a.guild, "mod-line")
    b = build_community(server, "Other Haven")
    b_line = server.create_channel(b.guild, "mod-line")
    await server.flush()
    w = World(server, runner, a, b, fac_other, review, panel_channel)
    await runner.start()
    services = w.bot.services
    for com, line in ((a, mod_line), (b, b_line)):
        await configure_guild(
            services,
            com,
            announce_channel_id=com.announcements.id,
            moderators_channel_id=line.id,
            timezone="America/New_York",
        )
    await services.guilds.update(a.guild.id, review_channel_id=review.id, role_approval=True)

    for who, title, start in (
        (a.facilitator, "Tuesday Night Hope", "2027-01-05 19:00"),
        (fac_other, "Wednesday Serenity", "2027-01-06 19:00"),
    ):
        made = await server.invoke(
            a.guild, who, "meeting schedule", title=title, start=start, repeat="weekly", kind="na"
        )
        assert "Scheduled." in made.all_text, made.all_text
    m1, m2 = sorted(await services.meetings.list_guild(a.guild.id), key=lambda m: m.id)
    room = await server.invoke(a.guild, a.facilitator, "room create", meeting=str(m1.id))
    assert "Created the room" in room.all_text, room.all_text
    subscribed = await server.invoke(a.guild, a.peer, "remind me", meeting=str(m1.id))
    assert "DM reminders" in subscribed.text

    # Two suggestions waiting for review, and one approved guild card.
    lib = services.resources
    for who in (a.peer, a.family):
        opened = await server.invoke(a.guild, who, "resource suggest")
        await server.submit_modal(
            opened,
            who,
            {
                "title": "Riverside naloxone pick-up",
                "summary": "Free naloxone kits at the Riverside library front desk.",
                "link": "https://riverside.example.org/naloxone",
                "contact": "555-0100",
                "region_tags": "US: naloxone",
            },
        )
    pending = await lib.pending(a.guild.id)
    w.card_pending, w.card_pending_2 = pending[0].id, pending[1].id

    async def reviews_posted() -> bool:
        for cid in (w.card_pending, w.card_pending_2):
            if (await lib.get(a.guild.id, cid)).review_message_id is None:
                return False
        return True

    await server.wait_for(reviews_posted, message="review messages were never stored")
    w.card_ok = await w.fresh_card()

    # The role panel and one waiting role request.
    posted = await server.invoke(a.guild, a.moderator, "setup panel", channel=panel_channel)
    assert "Posted the role panel" in posted.text, posted.text
    newcomer = await server.add_member(a.guild, "newcomer-nia")
    (panel,) = server.messages_in(panel_channel)
    asked = await server.click(panel, "haven:onboard:role:member", newcomer)
    assert "waiting for them" in asked.text, asked.text

    # The room opens and the 15-minute reminder goes out (channel post and the peer's DM).
    clock = services.clock
    assert isinstance(clock, FakeClock)
    clock.set(OPENS)
    await services.jobs.run_due()
    await services.jobs.drain()
    assert services.attendance.open_occurrence(m1.id) == OCC
    link = await services.rooms.link(m1.id)
    assert link is not None
    w.room_text = server.state.channels[link.text_channel_id]
    await server.wait_for(
        lambda: bool(server.dms_to(a.peer)) and bool(server.messages_in(a.announcements))
    )

    shared = await server.invoke(
        a.guild, a.family, "share", text="Grateful to be here.", _channel=w.room_text
    )
    assert "Shared as" in shared.all_text, shared.all_text
    line = await server.invoke(a.guild, a.peer, "moderators message", text="Can we talk?")
    assert "Sent to the moderators" in line.all_text, line.all_text
    w.shared["thread"] = server.state.channels[
        message_with(server, "haven:modline:close:").channel_id
    ]
    await services.jobs.drain()
    w.m1 = await services.meetings.get(m1.id)
    w.m2 = m2
    return w


async def settled(w: World, result: InteractionResult, text: str) -> None:
    """Wait until a deferred button's message was edited to its final words."""
    await w.server.wait_for(
        lambda: result.message is not None and text in result.message.content,
        message=f"the message never said {text!r}",
    )


def modlog_titles(w: World) -> list[str]:
    return [e.get("title", "") for m in w.server.messages_in(w.a.modlog) for e in m.embeds]


def message_with(server: FakeDiscord, prefix: str, channel: Channel | None = None) -> Message:
    """The newest message with a button whose custom id starts with `prefix`."""
    pool = (
        server.messages_in(channel)
        if channel is not None
        else [m for m in server.state.messages.values() if not m.deleted]
    )
    found = [m for m in pool if any(c.startswith(prefix) for c in m.custom_ids())]
    assert found, f"no message with a {prefix!r} button"
    return max(found, key=lambda m: m.id)


# --- the table ---------------------------------------------------------------------------------

Run = Callable[[World, str, bool], Awaitable[Any]]


@dataclass(frozen=True)
class Case:
    name: str  # a slash command path, or "button: ..." for a component
    family: str
    expect: dict[str, Outcome]
    run: Run
    covers: tuple[str, ...] = ()  # button and view classes this case exercises


CASES: list[Case] = []


def case(name: str, family: str, expect: dict[str, Outcome], *covers: str) -> Callable[[Run], Run]:
    def add(run: Run) -> Run:
        CASES.append(Case(name, family, expect, run, tuple(covers)))
        return run

    return add


def mid(w: World) -> str:
    return str(w.meeting1().id)


# -- setup ---------------------------------------------------------------------------------------

OWN_SAVED = Own("Saved.")


@case("setup roles", "setup", mod_row(Allow("Saved."), OWN_SAVED))
async def _setup_roles(w: World, who: str, ok: bool) -> Any:
    com = w.home(who)
    spare = w.server.create_role(com.guild, w.unique("Spare"))
    await w.server.flush()
    return await w.invoke(who, "setup roles", family=spare)


@case("setup channels", "setup", mod_row(Allow("Saved."), OWN_SAVED))
async def _setup_channels(w: World, who: str, ok: bool) -> Any:
    channel = w.server.create_channel(w.home(who).guild, "welcome-" + str(w.counter))
    w.counter += 1
    await w.server.flush()
    return await w.invoke(who, "setup channels", welcome=channel)


@case("setup defaults", "setup", mod_row(Allow("Saved."), OWN_SAVED))
async def _setup_defaults(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "setup defaults", timezone="Europe/London", room_open_minutes=20)


@case("setup show", "setup", mod_row(Allow("Haven settings"), Own("Haven settings")))
async def _setup_show(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "setup show")


@case("setup onboarding", "setup", mod_row(Allow("Saved."), OWN_SAVED))
async def _setup_onboarding(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "setup onboarding", welcome="dm")


@case("setup panel", "setup", mod_row(Allow("Posted the role panel"), Own("Posted the role panel")))
async def _setup_panel(w: World, who: str, ok: bool) -> Any:
    channel = w.server.create_channel(w.home(who).guild, "panel-" + str(w.counter))
    w.counter += 1
    await w.server.flush()
    return await w.invoke(who, "setup panel", channel=channel)


@case("setup feeds", "setup", mod_row(Allow("Public feeds are on"), Own("Public feeds are on")))
async def _setup_feeds(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "setup feeds", action="enable")


# -- help, privacy, crisis, owner ------------------------------------------------------------------


@case(
    "help",
    "general",
    {
        PEER: Allow("You are seen here as: peer"),
        FAC: Allow("You are seen here as: facilitator"),
        FAC_OTHER: Allow("You are seen here as: facilitator"),
        MOD: Allow("You are seen here as: moderator"),
        OUT: Own("You are seen here as: moderator"),
    },
)
async def _help(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "help")


@case("privacy info", "general", everyone(Allow("never stores"), Own("never stores")))
async def _privacy_info(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "privacy info")


@case("privacy forget-me", "general", everyone(Allow("cannot be undone"), Own("cannot be undone")))
async def _forget_me(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "privacy forget-me")


@case("button: forget-me confirm", "general", owner_only(Allow("Done. I deleted")), "ForgetView")
async def _forget_confirm(w: World, who: str, ok: bool) -> Any:
    if ok:
        prompt = await w.invoke(who, "privacy forget-me")
        return await w.click(prompt, "Forget me", who)
    if "forget" not in w.shared:
        w.shared["forget"] = await w.invoke(FAC, "privacy forget-me")
    return await w.click(w.shared["forget"], "Forget me", who)


@case(
    "sync",
    "general",
    everyone(
        Refuse("Only the bot's owner can sync commands"),
        Refuse("Only the bot's owner can sync commands"),
    ),
)
async def _sync(w: World, who: str, ok: bool) -> Any:
    # Discord hides /sync from non-admins; a server admin may still allow it in Integrations.
    return await w.invoke(who, "sync", _override_permissions=True)


@case("crisis", "general", everyone(Allow("Crisis support"), Own("Crisis support")))
async def _crisis(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "crisis")


# -- meetings ------------------------------------------------------------------------------------


@case(
    "meeting schedule",
    "meeting",
    {
        PEER: R_FAC,
        FAC: Allow("Scheduled."),
        FAC_OTHER: Allow("Scheduled."),
        MOD: Allow("Scheduled."),
        OUT: Own("Scheduled."),
    },
)
async def _schedule(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(
        who,
        "meeting schedule",
        title=w.unique("New meeting"),
        start="2027-01-20 18:00",
        repeat="weekly",
        kind="other",
    )


@case("meeting list", "meeting", everyone(Allow("Tuesday Night Hope"), Own(None)))
async def _list(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "meeting list")


@case(
    "meeting info",
    "meeting",
    {
        PEER: Allow("Tuesday Night Hope"),
        FAC: Allow("Tuesday Night Hope"),
        FAC_OTHER: Allow("Tuesday Night Hope"),
        MOD: Allow("Tuesday Night Hope"),
        OUT: R_NO_MEETING,
    },
)
async def _info(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "meeting info", meeting=mid(w))


@case("meeting edit", "meeting", staff_row(Allow("Saved: description.")))
async def _edit(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_meeting() if ok else w.meeting1()
    return await w.invoke(who, "meeting edit", meeting=str(target.id), description="New words")


@case("meeting cancel", "meeting", staff_row(Allow("Cancelled the meeting")))
async def _cancel(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_meeting() if ok else w.meeting1()
    return await w.invoke(who, "meeting cancel", meeting=str(target.id), date="2027-01-12")


@case("meeting pause", "meeting", staff_row(Allow("Paused until Monday, February 1, 2027")))
async def _pause(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_meeting() if ok else w.meeting1()
    return await w.invoke(who, "meeting pause", meeting=str(target.id), until="2027-02-01")


@case("meeting resume", "meeting", staff_row(Allow("Resumed.")))
async def _resume(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_meeting(paused=True) if ok else w.meeting1()
    return await w.invoke(who, "meeting resume", meeting=str(target.id))


@case("meeting delete", "meeting", staff_row(Allow("This cannot be undone")))
async def _delete(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_meeting() if ok else w.meeting1()
    return await w.invoke(who, "meeting delete", meeting=str(target.id))


@case(
    "button: meeting delete confirm",
    "meeting",
    owner_only(Allow("Deleted **Fresh meeting", ephemeral=True)),
    "ConfirmView",
)
async def _delete_confirm(w: World, who: str, ok: bool) -> Any:
    if ok:
        target = await w.fresh_meeting()
        prompt = await w.invoke(who, "meeting delete", meeting=str(target.id))
        done = await w.click(prompt, "meeting-delete:keep", who)
        await settled(w, done, "Deleted")
        return done
    if "delete" not in w.shared:
        w.shared["delete"] = await w.invoke(FAC, "meeting delete", meeting=mid(w))
    return await w.click(w.shared["delete"], "meeting-delete:keep", who)


@case(
    "button: meeting list pages", "meeting", owner_only(Allow("Page 2/")), "Pager", "ExpiringView"
)
async def _list_pages(w: World, who: str, ok: bool) -> Any:
    if ok:
        listed = await w.invoke(who, "meeting list", days=31)
        return await w.click(listed, "meeting-list:next", who)
    if "list" not in w.shared:
        w.shared["list"] = await w.invoke(FAC, "meeting list", days=31)
    return await w.click(w.shared["list"], "meeting-list:next", who)


# -- rooms ---------------------------------------------------------------------------------------


@case("room create", "room", staff_row(Allow("Created the room"), manage=R_MANAGER))
async def _room_create(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_meeting() if ok else w.meeting1()
    return await w.invoke(who, "room create", meeting=str(target.id))


@case("room open", "room", staff_row(Allow("Opened the room"), manage=R_MANAGER))
async def _room_open(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_room() if ok else w.meeting1()
    return await w.invoke(who, "room open", meeting=str(target.id))


@case("room close", "room", staff_row(Allow("Closed the room"), manage=R_MANAGER))
async def _room_close(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_room(opened=True) if ok else w.meeting1()
    return await w.invoke(who, "room close", meeting=str(target.id))


@case("room lock", "room", staff_row(Allow("Locked"), manage=R_MANAGER))
async def _room_lock(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_room() if ok else w.meeting1()
    return await w.invoke(who, "room lock", meeting=str(target.id))


@case("room unlock", "room", staff_row(Allow("Unlocked"), manage=R_MANAGER))
async def _room_unlock(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_room() if ok else w.meeting1()
    return await w.invoke(who, "room unlock", meeting=str(target.id))


@case("room slowmode", "room", staff_row(Allow("Slowmode is now 5 seconds"), manage=R_MANAGER))
async def _room_slowmode(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_room() if ok else w.meeting1()
    return await w.invoke(who, "room slowmode", seconds=5, meeting=str(target.id))


@case("room remove", "room", staff_row(Allow("Removed"), manage=R_MANAGER))
async def _room_remove(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_room() if ok else w.meeting1()
    member = w.b.peer if who == OUT else w.a.family
    return await w.invoke(who, "room remove", member=member, meeting=str(target.id))


@case("room delete", "room", staff_row(Allow("Delete the room of"), manage=R_MANAGER))
async def _room_delete(w: World, who: str, ok: bool) -> Any:
    target = await w.fresh_room() if ok else w.meeting1()
    return await w.invoke(who, "room delete", meeting=str(target.id))


@case(
    "button: room delete confirm",
    "room",
    owner_only(Allow("was deleted", ephemeral=True)),
    "DeleteRoomView",
)
async def _room_delete_confirm(w: World, who: str, ok: bool) -> Any:
    if ok:
        target = await w.fresh_room()
        prompt = await w.invoke(who, "room delete", meeting=str(target.id))
        done = await w.click(prompt, "Delete the room", who)
        await settled(w, done, "was deleted")
        return done
    if "room-delete" not in w.shared:
        w.shared["room-delete"] = await w.invoke(FAC, "room delete", meeting=mid(w))
    return await w.click(w.shared["room-delete"], "Delete the room", who)


# -- reminders -----------------------------------------------------------------------------------


@case("remind me", "remind", everyone(Allow("DM reminders"), R_NO_MEETING))
async def _remind_me(w: World, who: str, ok: bool) -> Any:
    target = w.m2 if ok else w.meeting1()
    assert target is not None
    return await w.invoke(who, "remind me", meeting=str(target.id))


@case("remind stop", "remind", everyone(Allow("DM reminders"), R_NO_MEETING))
async def _remind_stop(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "remind stop", meeting=mid(w))


@case("remind mine", "remind", everyone(Allow("DM reminders"), Own("DM reminders")))
async def _remind_mine(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "remind mine")


@case(
    "button: remind me (channel reminder)",
    "remind",
    everyone(Allow("DM reminders"), Refuse("That meeting no longer exists")),
    "RemindMeButton",
)
async def _remind_button(w: World, who: str, ok: bool) -> Any:
    message = message_with(w.server, f"haven:remind:me:{mid(w)}", w.a.announcements)
    return await w.click(await w.plant(who, message), f"haven:remind:me:{mid(w)}", who)


@case(
    "button: stop reminders (DM)",
    "remind",
    {
        PEER: Allow("won't get DM reminders"),
        # Anyone else pressing the same button (in their own DMs) ends only their own reminders.
        FAC: Inert("won't get DM reminders"),
        FAC_OTHER: Inert("won't get DM reminders"),
        MOD: Inert("won't get DM reminders"),
        OUT: Inert("won't get DM reminders"),
    },
    "StopRemindersButton",
)
async def _stop_button(w: World, who: str, ok: bool) -> Any:
    custom_id = f"haven:remind:stop:{w.a.guild.id}:{mid(w)}"
    dm = next(m for m in reversed(w.server.dms_to(w.a.peer)) if custom_id in m.custom_ids())
    if who != PEER:
        dm = await w.server.create_message(
            w.server.dm_channel(w.member(who).user),
            w.server.state.bot_user.payload(),
            {"content": "copy", "components": dm.components},
        )
    return await w.click(dm, custom_id, who)


# -- resources -----------------------------------------------------------------------------------

OUT_CARD = R_NO_CARD


@case("resource list", "resource", everyone(Allow("Resource cards"), Own("Resource cards")))
async def _res_list(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "resource list", region="US")


@case("resource show", "resource", everyone(Allow("Harbor naloxone"), OUT_CARD))
async def _res_show(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "resource show", card=w.card_ok)


@case("resource share", "resource", everyone(Allow("Harbor naloxone", ephemeral=False), OUT_CARD))
async def _res_share(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "resource share", card=w.card_ok)


@case("resource suggest", "resource", everyone(Allow(modal=True), Own(modal=True)))
async def _res_suggest(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "resource suggest")


@case(
    "resource review", "resource", mod_row(Allow("Waiting for review"), Own("Nothing is waiting"))
)
async def _res_review(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "resource review")


@case("resource add", "resource", mod_row(Allow(modal=True), Own(modal=True)))
async def _res_add(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "resource add", region="US")


@case("resource edit", "resource", mod_row(Allow(modal=True), OUT_CARD))
async def _res_edit(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "resource edit", card=w.card_ok)


@case("resource enable", "resource", mod_row(Allow("Turned on"), OUT_CARD))
async def _res_enable(w: World, who: str, ok: bool) -> Any:
    card = await w.fresh_card(enabled=False) if ok else w.card_ok
    return await w.invoke(who, "resource enable", card=card)


@case("resource disable", "resource", mod_row(Allow("Turned off"), OUT_CARD))
async def _res_disable(w: World, who: str, ok: bool) -> Any:
    card = await w.fresh_card() if ok else w.card_ok
    return await w.invoke(who, "resource disable", card=card)


@case("resource verify", "resource", mod_row(Allow("as verified on"), OUT_CARD))
async def _res_verify(w: World, who: str, ok: bool) -> Any:
    card = await w.fresh_card() if ok else w.card_ok
    return await w.invoke(who, "resource verify", card=card)


@case(
    "button: resource approve",
    "resource",
    mod_row(Allow("Approved `g-"), OUT_CARD),
    "ApproveButton",
)
async def _res_approve(w: World, who: str, ok: bool) -> Any:
    custom_id = f"haven:res:approve:{w.card_pending}:1"
    message = await w.plant(who, message_with(w.server, custom_id, w.review))
    clicked = await w.click(message, custom_id, who)
    if not ok or clicked.modal is None:
        return clicked
    return await w.server.submit_modal(clicked, w.member(who), modal_defaults(clicked))


@case(
    "button: resource reject", "resource", mod_row(Allow("Rejected `g-"), OUT_CARD), "RejectButton"
)
async def _res_reject(w: World, who: str, ok: bool) -> Any:
    custom_id = f"haven:res:reject:{w.card_pending_2}:1"
    message = await w.plant(who, message_with(w.server, custom_id, w.review))
    return await w.click(message, custom_id, who)


@case("button: resource list pages", "resource", owner_only(Allow("Page 2 of")), "PageView")
async def _res_pages(w: World, who: str, ok: bool) -> Any:
    if ok:
        listed = await w.invoke(who, "resource list")
        return await w.click(listed, "Next", who)
    if "pages" not in w.shared:
        w.shared["pages"] = await w.invoke(FAC, "resource list")
    return await w.click(w.shared["pages"], "Next", who)


# -- attendance, check-in and anonymous shares ---------------------------------------------------

R_NOT_ROOM = Refuse("Use this in a meeting room's text channel")
R_NOT_OPEN = Refuse("room is not open right now")


async def in_room(w: World, who: str, command: str, **options: Any) -> InteractionResult:
    if who == OUT:
        return await w.invoke(who, command, **options)
    return await w.invoke(who, command, _channel=w.room_text, **options)


@case("checkin", "attendance", everyone(Allow("checked in"), R_NOT_ROOM))
async def _checkin(w: World, who: str, ok: bool) -> Any:
    return await in_room(w, who, "checkin")


@case("share", "attendance", everyone(Allow("Shared as"), R_NOT_ROOM))
async def _share(w: World, who: str, ok: bool) -> Any:
    return await in_room(w, who, "share", text="Thank you all.")


@case(
    "attendance counts",
    "attendance",
    staff_row(Allow("Attendance"), manage=R_MANAGER) | {PEER: R_MANAGER},
)
async def _counts(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "attendance counts", meeting=mid(w))


@case(
    "attendance proof",
    "attendance",
    everyone(Allow("Proof of attendance"), Own("only sign a slip for a meeting you checked in")),
)
async def _proof(w: World, who: str, ok: bool) -> Any:
    if who != OUT:
        await in_room(w, who, "checkin")
    return await w.invoke(who, "attendance proof")


@case("attendance verify", "attendance", everyone(Allow("Not genuine"), Own("Not genuine")))
async def _verify(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "attendance verify", code="not-a-real-code")


@case(
    "button: check in (opening card)",
    "attendance",
    # An outsider's copy of the button sits in another guild's channel: not the meeting's room.
    everyone(Allow("checked in"), Refuse("meeting's own room")),
    "CheckInButton",
)
async def _checkin_button(w: World, who: str, ok: bool) -> Any:
    custom_id = f"haven:checkin:{mid(w)}:{OCC}"
    assert w.room_text is not None
    message = await w.plant(who, message_with(w.server, custom_id, w.room_text))
    return await w.click(message, custom_id, who)


R_SILENCE = Refuse("Only moderators can silence an anonymous sharer")


@case(
    "button: silence a pseudonym",
    "attendance",
    {
        PEER: R_SILENCE,
        FAC: R_SILENCE,
        FAC_OTHER: R_SILENCE,
        MOD: Allow("can't share anonymously again"),
        OUT: R_NOT_OPEN,
    },
    "SilenceButton",
)
async def _silence(w: World, who: str, ok: bool) -> Any:
    assert w.room_text is not None
    message = await w.plant(who, message_with(w.server, "haven:silence:", w.room_text))
    custom_id = next(c for c in message.custom_ids() if c.startswith("haven:silence:"))
    result = await w.click(message, custom_id, who)
    if ok:  # the mod-log entry is written after the answer
        await w.server.wait_for(lambda: "Anonymous sharer silenced" in modlog_titles(w))
    return result


# -- the anonymous line to moderators ------------------------------------------------------------


@case(
    "moderators message",
    "moderators",
    everyone(Allow("Sent to the moderators"), Own("Sent to the moderators")),
)
async def _line_message(w: World, who: str, ok: bool) -> Any:
    return await w.invoke(who, "moderators message", text="Hello, is anyone there?")


@case(
    "moderators reply",
    "moderators",
    mod_row(Allow("Delivered to"), Refuse("inside an anonymous conversation's thread")),
)
async def _line_reply(w: World, who: str, ok: bool) -> Any:
    if who == MOD:
        thread = w.shared["thread"]
        return await w.invoke(who, "moderators reply", text="We're here.", _channel=thread)
    return await w.invoke(who, "moderators reply", text="We're here.")


R_LINE = Refuse("Only moderators can close or block a conversation")


async def _line_button(w: World, who: str, ok: bool, action: str) -> Any:
    if ok:
        writer = await w.server.add_member(w.a.guild, w.unique("writer").replace(" ", "-"))
        sent = await w.server.invoke(w.a.guild, writer, "moderators message", text="Help?")
        assert "Sent to the moderators" in sent.all_text, sent.all_text
    message = message_with(w.server, f"haven:modline:{action}:")
    if who != OUT and not ok:
        message = await w.server.create_message(
            w.a.general,
            w.server.state.bot_user.payload(),
            {"content": "copy", "components": message.components},
        )
    custom_id = next(c for c in message.custom_ids() if c.startswith(f"haven:modline:{action}:"))
    return await w.click(await w.plant(who, message), custom_id, who)


@case(
    "button: close a conversation",
    "moderators",
    mod_row(Allow("Closed."), Inert("already closed"))
    | {PEER: R_LINE, FAC: R_LINE, FAC_OTHER: R_LINE},
    "LineActionButton",
)
async def _line_close(w: World, who: str, ok: bool) -> Any:
    return await _line_button(w, who, ok, "close")


@case(
    "button: block a conversation",
    "moderators",
    mod_row(Allow("Blocked."), Inert("already closed"))
    | {PEER: R_LINE, FAC: R_LINE, FAC_OTHER: R_LINE},
    "LineActionButton",
)
async def _line_block(w: World, who: str, ok: bool) -> Any:
    before = modlog_titles(w).count("Anonymous line: person blocked")
    result = await _line_button(w, who, ok, "block")
    if ok:  # the entry is written after the answer: let it land before the next row
        await w.server.wait_for(
            lambda: modlog_titles(w).count("Anonymous line: person blocked") > before
        )
    return result


# -- onboarding ----------------------------------------------------------------------------------


@case(
    "button: role panel",
    "onboarding",
    everyone(Allow("I took"), Own("I took")),
    "RoleButton",
)
async def _panel_button(w: World, who: str, ok: bool) -> Any:
    panel = message_with(w.server, "haven:onboard:role:", w.panel_channel)
    return await w.click(await w.plant(who, panel), "haven:onboard:role:member", who)


R_DECIDE = Refuse("Only moderators can approve or decline role requests")


async def _decision(w: World, who: str, ok: bool, action: str) -> Any:
    newcomer = None
    if ok:
        newcomer = await w.server.add_member(w.a.guild, w.unique("newcomer").replace(" ", "-"))
        panel = message_with(w.server, "haven:onboard:role:", w.panel_channel)
        asked = await w.server.click(panel, "haven:onboard:role:member", newcomer)
        assert "waiting for them" in asked.text, asked.text
    card = message_with(w.server, f"haven:onboard:req:{action}:", w.a.modlog)
    custom_id = next(c for c in card.custom_ids() if c.startswith(f"haven:onboard:req:{action}:"))
    result = await w.click(await w.plant(who, card), custom_id, who)
    if newcomer is not None:  # the member is told by DM after the answer
        await w.server.wait_for(lambda: bool(w.server.dms_to(newcomer)))
    return result


@case(
    "button: approve a role request",
    "onboarding",
    mod_row(Allow("approved by", ephemeral=False), Refuse("This request is no longer waiting"))
    | {PEER: R_DECIDE, FAC: R_DECIDE, FAC_OTHER: R_DECIDE},
    "DecisionButton",
)
async def _approve_request(w: World, who: str, ok: bool) -> Any:
    return await _decision(w, who, ok, "approve")


@case(
    "button: decline a role request",
    "onboarding",
    mod_row(Allow("declined by", ephemeral=False), Refuse("This request is no longer waiting"))
    | {PEER: R_DECIDE, FAC: R_DECIDE, FAC_OTHER: R_DECIDE},
    "DecisionButton",
)
async def _decline_request(w: World, who: str, ok: bool) -> Any:
    return await _decision(w, who, ok, "decline")


# --- running rows -------------------------------------------------------------------------------

FAMILIES = sorted({c.family for c in CASES})


def answers(result: InteractionResult) -> list[Message]:
    return [m for m in [result.message, *result.followups] if m is not None]


async def check_row(w: World, c: Case, who: str) -> str | None:
    """Run one row; return what was wrong, or None."""
    outcome = c.expect[who]
    row = f"[{c.name} × {who}]"
    allowed = isinstance(outcome, Allow | Own)
    before = await snapshot(w.bot)
    before_a = await guild_slice(w.bot, w.a.guild.id) if isinstance(outcome, Own) else None
    try:
        result = await c.run(w, who, allowed)
    except InvocationError as exc:
        if isinstance(outcome, Hidden):
            return None
        return f"{row} Discord refused to send it: {exc}"
    if isinstance(outcome, Hidden):
        return f"{row} expected Discord to hide it, but it was sent: {result!r}"
    text = result.all_text
    if "Something went wrong" in text:
        return f"{row} unexpected error: {text!r}"
    if isinstance(outcome, Refuse | Inert):
        problems = []
        if outcome.text not in text:
            problems.append(f"expected {outcome.text!r} in {text!r}")
        msgs = answers(result)
        if result.modal is not None or not msgs or not all(m.ephemeral for m in msgs):
            problems.append("the answer is not ephemeral")
        after = await snapshot(w.bot)
        if after != before:
            problems.append("stored data changed:\n" + diff(before, after))
        return f"{row} " + "; ".join(problems) if problems else None
    assert isinstance(outcome, Allow | Own)
    if outcome.modal:
        return None if result.modal is not None else f"{row} expected a modal, got {text!r}"
    if outcome.text is not None and outcome.text not in text:
        return f"{row} expected {outcome.text!r} in {text!r}"
    shown = answers(result)
    if outcome.ephemeral is not None and any(m.ephemeral != outcome.ephemeral for m in shown):
        return f"{row} expected ephemeral={outcome.ephemeral}: {result!r}"
    for bad in outcome.absent:
        if bad in text:
            return f"{row} shows another guild's {bad!r}: {text!r}"
    if before_a is not None:
        after_a = await guild_slice(w.bot, w.a.guild.id)
        if after_a != before_a:
            return f"{row} changed the other guild's data:\n" + diff(before_a, after_a)
    return None


@pytest.mark.parametrize("family", FAMILIES)
async def test_permission_matrix(
    family: str, discord_server: FakeDiscord, haven_runner: HavenRunner, community: Community
) -> None:
    w = await build_world(discord_server, haven_runner, community)
    try:
        cases = [c for c in CASES if c.family == family]
        problems: list[str] = []
        # Refusals (and hidden or inert rows) first, on the shared world; then the allowed rows.
        for phase in (False, True):
            for c in cases:
                for who in ACTORS:
                    if isinstance(c.expect[who], Allow | Own) is phase:
                        problem = await check_row(w, c, who)
                        if problem:
                            problems.append(problem)
        assert not problems, "\n".join(problems)
    finally:
        await haven_runner.stop()


# --- autocomplete: what a caller may not use is not offered either -----------------------------


async def test_autocomplete_never_offers_another_guilds_data_or_unvetted_cards(
    discord_server: FakeDiscord, haven_runner: HavenRunner, community: Community
) -> None:
    w = await build_world(discord_server, haven_runner, community)
    server, a, b = discord_server, w.a, w.b
    try:
        m1 = str(w.meeting1().id)
        meeting_options = [
            "meeting info",
            "meeting edit",
            "meeting delete",
            "room open",
            "remind me",
            "attendance counts",
        ]
        for command in meeting_options:
            offered = await server.autocomplete(b.guild, b.moderator, command, focused="meeting")
            assert offered == [], (command, offered)
        dates = await server.autocomplete(
            b.guild, b.moderator, "meeting cancel", focused="date", meeting=m1
        )
        assert dates == []
        unvetted = {w.card_pending, w.card_pending_2}
        for command in ("resource show", "resource share", "resource edit", "resource verify"):
            offered = await server.autocomplete(b.guild, b.moderator, command, focused="card")
            values = {str(ch["value"]) for ch in offered}
            assert not values & (unvetted | {w.card_ok}), (command, offered)
            for who in (a.peer, a.facilitator):
                # Pending suggestions are the moderators' business until approved.
                mine = await server.autocomplete(a.guild, who, command, focused="card")
                assert not {str(ch["value"]) for ch in mine} & unvetted, (command, mine)
        queue = await server.autocomplete(a.guild, a.moderator, "resource edit", focused="card")
        assert unvetted <= {str(ch["value"]) for ch in queue}
    finally:
        await haven_runner.stop()


# --- coverage: a new command or button without a row fails --------------------------------------


def synced_commands(server: FakeDiscord) -> set[str]:
    """Leaf command paths ("meeting schedule") of what the bot synced."""
    out: set[str] = set()

    def walk(prefix: str, options: list[dict[str, Any]]) -> bool:
        subs = [o for o in options if o["type"] in (1, 2)]
        for sub in subs:
            if not walk(f"{prefix} {sub['name']}", sub.get("options") or []):
                out.add(f"{prefix} {sub['name']}")
        return bool(subs)

    for command in server.commands(None):
        if command.type != 1:
            continue
        if not walk(command.name, command.payload.get("options") or []):
            out.add(command.name)
    return out


def view_classes() -> set[type[HavenView]]:
    found: set[type[HavenView]] = set()
    todo = list(HavenView.__subclasses__())
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


async def test_the_table_covers_every_command_and_button(
    discord_server: FakeDiscord, haven_runner: HavenRunner, community: Community
) -> None:
    await haven_runner.start()
    try:
        bot = haven_runner.running
        commands = {c.name for c in CASES if not c.name.startswith("button:")}
        synced = synced_commands(discord_server)
        assert synced == {
            " ".join(c.qualified_name.split())
            for c in bot.tree.walk_commands()
            if not isinstance(c, discord.app_commands.Group)
        }
        assert not synced - commands, f"commands without a row: {sorted(synced - commands)}"
        assert not commands - synced, f"rows for commands that do not exist: {commands - synced}"
        covered = {name for c in CASES for name in c.covers}
        dynamic = {cls.__name__ for cls in bot._connection._view_store._dynamic_items.values()}
        views = {cls.__name__ for cls in view_classes() if not cls.__name__.startswith("_")}
        missing = (dynamic | views) - covered
        assert not missing, f"buttons without a row: {sorted(missing)}"
        for c in CASES:
            assert set(c.expect) == set(ACTORS), c.name
            assert re.fullmatch(r"[a-z -]+|button: .+", c.name), c.name
    finally:
        await haven_runner.stop()
