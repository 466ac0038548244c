"""Onboarding end to end: the role panel, approval, the welcome, setup checks, restarts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

import discord
import pytest

from bot.clock import to_unix
from bot.services.meetings import Access
from cogs.onboarding import jump_url
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import Channel, FakeDiscord, Member, Message, P, Role
from tests.fakediscord.state import DEFAULT_BOT_PERMISSIONS
from tests.support.clock import haven_clock_at
from tests.support.meetings import make_meeting

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Thursday 2027-01-07 12:00 in New York.
NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)
MEMBER_BUTTON = "haven:onboard:role:member"
FAMILY_BUTTON = "haven:onboard:role:family"
ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"


haven_clock = haven_clock_at(NOW)


def role_calls(server: FakeDiscord) -> list[tuple[str, int, int]]:
    """Every role change the server received: (method, user id, role id)."""
    return [
        (c.method, int(c.params["user_id"]), int(c.params["role_id"]))
        for c in server.find_calls(route=ROLE_ROUTE)
    ]


def modlog_titles(server: FakeDiscord, c: Community) -> list[str]:
    """Titles of the embeds posted in the mod log, oldest first."""
    return [e.get("title", "") for m in server.messages_in(c.modlog) for e in m.embeds]


async def modlog_has(server: FakeDiscord, c: Community, title: str, count: int = 1) -> None:
    """Wait until the mod log holds `count` entries with this title (posted after the answer)."""
    await server.wait_for(
        lambda: modlog_titles(server, c).count(title) >= count,
        message=f"mod log never got {count} x {title!r}: {modlog_titles(server, c)}",
    )


async def configure(server: FakeDiscord, c: Community) -> Channel:
    """Roles and channels as a moderator sets them; returns the welcome channel."""
    welcome = server.create_channel(c.guild, "welcome")
    await server.flush()
    await server.invoke(
        c.guild, c.moderator, "setup roles", member=c.members_role, family=c.family_role
    )
    await server.invoke(c.guild, c.moderator, "setup channels", modlog=c.modlog, welcome=welcome)
    return welcome


async def post_panel(server: FakeDiscord, c: Community) -> Message:
    """Run /setup panel in a fresh #start-here and return the panel message."""
    channel = server.create_channel(c.guild, "start-here")
    await server.flush()
    result = await server.invoke(c.guild, c.moderator, "setup panel", channel=channel)
    assert result.ephemeral
    assert "Posted the role panel" in result.text, result.text
    [panel] = server.messages_in(channel)
    posted = sum(1 for m in server.state.messages.values() if "Posted the role panel" in m.text)
    await modlog_has(server, c, "Role panel posted", posted)
    return panel


async def bot_sees(
    server: FakeDiscord, haven: HavenRunner, c: Community, check: Callable[[discord.Guild], bool]
) -> None:
    """Wait until the bot's cache of the guild reflects what the server dispatched."""
    guild = haven.running.get_guild(c.guild.id)
    assert guild is not None
    await server.flush()
    await server.wait_for(lambda: check(guild))


async def newcomer(server: FakeDiscord, c: Community, name: str) -> Member:
    """Someone joins with no roles."""
    return await server.add_member(c.guild, name)


async def test_panel_is_posted_and_both_buttons_toggle_roles(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    panel = await post_panel(server, c)

    assert panel.custom_ids() == [MEMBER_BUTTON, FAMILY_BUTTON]
    labels = [b["label"] for row in panel.components for b in row["components"]]
    assert labels == ["I'm here for my own recovery", "I'm here for someone I love"]
    text = panel.text
    assert "**Open meetings** welcome anyone" in text
    assert "closed NA-style meetings" in text and "closed family meetings" in text
    assert "not affiliated with Narcotics Anonymous" in text
    settings = await haven.running.services.guilds.get(c.guild.id)
    assert (settings.panel_channel_id, settings.panel_message_id) == (panel.channel_id, panel.id)

    nia = await newcomer(server, c, "newcomer-nia")
    uid, member_role, family_role = nia.user.id, c.members_role.id, c.family_role.id

    added = await server.click(panel, MEMBER_BUTTON, nia)
    assert added.ephemeral and "you now have" in added.text and "closed NA-style" in added.text
    assert role_calls(server) == [("PUT", uid, member_role)]
    assert member_role in nia.roles

    dropped = await server.click(panel, MEMBER_BUTTON, nia)
    assert dropped.ephemeral and "I took" in dropped.text
    assert role_calls(server)[1:] == [("DELETE", uid, member_role)]
    assert member_role not in nia.roles

    await server.click(panel, FAMILY_BUTTON, nia)
    await server.click(panel, FAMILY_BUTTON, nia)
    assert role_calls(server)[2:] == [("PUT", uid, family_role), ("DELETE", uid, family_role)]
    # Self-service changes are the peer's own business: nothing about them in the mod log.
    assert modlog_titles(server, c) == ["Settings changed", "Role panel posted"]


async def test_reposting_moves_the_panel(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    first = await post_panel(server, c)
    second = await post_panel(server, c)
    assert server.state.messages[first.id].deleted
    settings = await haven.running.services.guilds.get(c.guild.id)
    assert settings.panel_message_id == second.id


async def test_approval_mode_approve_decline_withdraw_and_drop(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    panel = await post_panel(server, c)
    turned_on = await server.invoke(c.guild, c.moderator, "setup onboarding", approval=True)
    assert "Role requests need moderator approval: off → on" in turned_on.text

    nia = await newcomer(server, c, "newcomer-nia")
    asked = await server.click(panel, FAMILY_BUTTON, nia)
    assert asked.ephemeral and "waiting for" in asked.text
    assert role_calls(server) == [], "a request gives no role by itself"
    card = server.messages_in(c.modlog)[-1]
    [request] = [r for r in card.custom_ids() if r.startswith("haven:onboard:req:approve:")]
    request_id = request.rsplit(":", 1)[1]
    assert card.custom_ids() == [request, f"haven:onboard:req:decline:{request_id}"]
    assert f"<@{nia.user.id}>" in card.text and c.family_role.mention in card.text

    pressed_again = await server.click(panel, FAMILY_BUTTON, nia)
    assert "withdrew your request" in pressed_again.text
    withdrawn = server.state.messages[card.id]
    await server.wait_for(lambda: withdrawn.components == [], message="card kept its buttons")
    assert "withdrawn by the member" in withdrawn.text
    assert role_calls(server) == []

    await server.click(panel, FAMILY_BUTTON, nia)
    card = server.messages_in(c.modlog)[-1]
    approve = next(r for r in card.custom_ids() if ":approve:" in r)

    not_a_mod = await server.click(card, approve, c.peer)
    assert not_a_mod.ephemeral and "Only moderators" in not_a_mod.text
    assert role_calls(server) == []

    approved = await server.click(card, approve, c.moderator)
    assert role_calls(server) == [("PUT", nia.user.id, c.family_role.id)]
    decided = server.state.messages[card.id]
    assert decided.components == [] and "approved by" in decided.text
    await modlog_has(server, c, "Role request approved")
    await server.wait_for(lambda: len(server.dms_to(nia)) == 1)
    assert "approved your request" in server.dms_to(nia)[-1].text
    assert approved.message is not None and approved.message.id == card.id

    # Declined: no role call, the card and the mod log say so, the peer hears by DM.
    omar = await newcomer(server, c, "newcomer-omar")
    await server.click(panel, MEMBER_BUTTON, omar)
    card = server.messages_in(c.modlog)[-1]
    decline = next(r for r in card.custom_ids() if ":decline:" in r)
    await server.click(card, decline, c.moderator)
    assert role_calls(server) == [("PUT", nia.user.id, c.family_role.id)]
    assert "declined by" in server.state.messages[card.id].text
    await modlog_has(server, c, "Role request declined")
    await server.wait_for(lambda: len(server.dms_to(omar)) == 1)
    assert "did not approve" in server.dms_to(omar)[-1].text
    assert await haven.running.services.onboarding.pending_count(c.guild.id) == 0

    # Dropping never waits for a moderator.
    dropped = await server.click(panel, FAMILY_BUTTON, nia)
    assert "I took" in dropped.text
    assert role_calls(server)[-1] == ("DELETE", nia.user.id, c.family_role.id)


async def test_approval_needs_a_modlog_channel(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    result = await server.invoke(c.guild, c.moderator, "setup onboarding", approval=True)
    assert "`/setup channels modlog:`" in result.text and "Nothing was changed" in result.text
    result = await server.invoke(c.guild, c.moderator, "setup onboarding", welcome="channel")
    assert "`/setup channels welcome:`" in result.text
    settings = await haven.running.services.guilds.get(c.guild.id)
    assert not settings.role_approval and settings.welcome_mode == "off"


async def _schedule(haven: HavenRunner, c: Community) -> None:
    """Four open meetings and a closed one (New York time)."""
    services = haven.running.services
    specs = [
        ("Friday morning", Access.OPEN, date(2027, 1, 8), time(9)),
        ("Closed Thursday", Access.CLOSED, date(2027, 1, 7), time(13)),
        ("Saturday night", Access.OPEN, date(2027, 1, 9), time(20)),
        ("Monday evening", Access.OPEN, date(2027, 1, 4), time(19)),
        ("Tuesday lunch", Access.OPEN, date(2027, 1, 12), time(12)),
    ]
    for title, access, first, start in specs:
        await make_meeting(
            services, c.guild.id, title=title, access=access, first_date=first, start_time=start
        )


def _assert_welcome_content(text: str, c: Community, panel: Message) -> None:
    friday = to_unix(datetime(2027, 1, 8, 14, 0, tzinfo=UTC))
    saturday = to_unix(datetime(2027, 1, 10, 1, 0, tzinfo=UTC))
    monday = to_unix(datetime(2027, 1, 12, 0, 0, tzinfo=UTC))
    assert "peer-support community" in text
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    assert lines == [
        f"• **Friday morning**: <t:{friday}:F> (<t:{friday}:R>) · 09:00 (New York)",
        f"• **Saturday night**: <t:{saturday}:F> (<t:{saturday}:R>) · 20:00 (New York)",
        f"• **Monday evening**: <t:{monday}:F> (<t:{monday}:R>) · 19:00 (New York)",
    ]
    assert "Closed Thursday" not in text and "Tuesday lunch" not in text
    assert jump_url(c.guild.id, panel.channel_id, panel.id) in text
    assert "`/crisis`" in text


async def test_welcome_off_channel_and_dm(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    welcome = await configure(server, c)
    panel = await post_panel(server, c)
    await _schedule(haven, c)

    # Off (the default): nothing anywhere.
    quiet = await newcomer(server, c, "newcomer-quinn")
    await bot_sees(server, haven, c, lambda g: g.get_member(quiet.user.id) is not None)

    # Channel, not naming anyone.
    await server.invoke(c.guild, c.moderator, "setup onboarding", welcome="channel")
    ana = await newcomer(server, c, "newcomer-ana")
    await server.wait_for(lambda: len(server.messages_in(welcome)) == 1)
    [posted] = server.messages_in(welcome)
    _assert_welcome_content(posted.text, c, panel)
    assert str(ana.user.id) not in posted.text and "newcomer-ana" not in posted.text
    assert posted.content == "" and server.dms_to(ana) == []

    # Channel, naming them because the guild said so (no ping: mentions are off).
    await server.invoke(c.guild, c.moderator, "setup onboarding", mention=True)
    ben = await newcomer(server, c, "newcomer-ben")
    await server.wait_for(lambda: len(server.messages_in(welcome)) == 2)
    named = server.messages_in(welcome)[-1]
    assert named.content == f"Welcome, <@{ben.user.id}>!"
    assert named.allowed_mentions is not None and named.allowed_mentions.get("parse") == []

    # DM: nothing in the channel.
    await server.invoke(c.guild, c.moderator, "setup onboarding", welcome="dm")
    cal = await newcomer(server, c, "newcomer-cal")
    await server.wait_for(lambda: len(server.dms_to(cal)) == 1)
    _assert_welcome_content(server.dms_to(cal)[0].text, c, panel)
    assert len(server.messages_in(welcome)) == 2
    assert server.dms_to(quiet) == [], "the welcome was off when Quinn joined"
    assert all(str(quiet.user.id) not in m.text for m in server.messages_in(welcome))

    # /setup channels (the mod log did not exist for /setup roles) and the three changes here.
    await modlog_has(server, c, "Settings changed", 4)

    shown = await server.invoke(c.guild, c.moderator, "setup show")
    assert "**Welcome newcomers**: by direct message" in shown.text
    assert "**Name newcomers in the welcome channel**: on" in shown.text
    assert "**Role requests need moderator approval**: off" in shown.text


async def test_missing_manage_roles_is_explained_at_setup_and_at_a_press(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    panel = await post_panel(server, c)
    bot_role = server.bot_role(c.guild)
    server.set_role_permissions(bot_role, DEFAULT_BOT_PERMISSIONS & ~P.MANAGE_ROLES)
    await bot_sees(server, haven, c, lambda g: not g.me.guild_permissions.manage_roles)

    nia = await newcomer(server, c, "newcomer-nia")
    pressed = await server.click(panel, MEMBER_BUTTON, nia)
    assert pressed.ephemeral
    assert f"My role {bot_role.mention} needs the **Manage Roles** permission" in pressed.text
    assert role_calls(server) == []
    await modlog_has(server, c, "The role panel can't hand out roles")
    await server.click(panel, FAMILY_BUTTON, nia)
    await server.flush()
    assert modlog_titles(server, c).count("The role panel can't hand out roles") == 1

    again = server.create_channel(c.guild, "again")
    await server.flush()
    setup = await server.invoke(c.guild, c.moderator, "setup panel", channel=again)
    assert setup.ephemeral and "I can't post a working role panel yet" in setup.text
    assert "**Manage Roles**" in setup.text
    assert server.messages_in(again) == []
    settings = await haven.running.services.guilds.get(c.guild.id)
    assert settings.panel_message_id == panel.id, "a failed /setup panel changes nothing"


async def test_role_order_is_explained_at_setup_and_at_a_press(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    panel = await post_panel(server, c)
    bot_role = server.bot_role(c.guild)
    above: Role = server.create_role(c.guild, "Peers", position=bot_role.position + 1)
    await bot_sees(server, haven, c, lambda g: g.get_role(above.id) is not None)
    await server.invoke(c.guild, c.moderator, "setup roles", member=above)

    nia = await newcomer(server, c, "newcomer-nia")
    pressed = await server.click(panel, MEMBER_BUTTON, nia)
    expected = f"drag my role {bot_role.mention} above {above.mention}"
    assert pressed.ephemeral and expected in pressed.text, pressed.text
    assert role_calls(server) == []
    # The family role is still below the bot: that button keeps working.
    await server.click(panel, FAMILY_BUTTON, nia)
    assert role_calls(server) == [("PUT", nia.user.id, c.family_role.id)]

    setup = await server.invoke(c.guild, c.moderator, "setup panel", channel=c.general)
    assert expected in setup.text and "Server Settings → Roles" in setup.text
    assert [m for m in server.messages_in(c.general) if m.components] == []


async def test_panel_and_request_cards_work_after_a_restart(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    panel = await post_panel(server, c)
    nia = await newcomer(server, c, "newcomer-nia")
    await server.invoke(c.guild, c.moderator, "setup onboarding", approval=True)
    await server.click(panel, FAMILY_BUTTON, nia)
    card = server.messages_in(c.modlog)[-1]
    approve = next(r for r in card.custom_ids() if ":approve:" in r)

    await haven.restart()

    await server.click(card, approve, c.moderator)
    assert role_calls(server) == [("PUT", nia.user.id, c.family_role.id)]
    await server.invoke(c.guild, c.moderator, "setup onboarding", approval=False)
    pressed = await server.click(panel, MEMBER_BUTTON, nia)
    assert pressed.ephemeral and "you now have" in pressed.text
    assert role_calls(server)[-1] == ("PUT", nia.user.id, c.members_role.id)


async def test_a_deleted_role_is_explained(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    panel = await post_panel(server, c)
    await server.delete_role(c.family_role)
    nia = await newcomer(server, c, "newcomer-nia")
    pressed = await server.click(panel, FAMILY_BUTTON, nia)
    assert pressed.ephemeral and "no longer exists" in pressed.text
    assert "`/setup roles family:`" in pressed.text
    assert role_calls(server) == []


async def test_turning_approval_off_lets_a_waiting_peer_take_the_role_at_once(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await configure(server, c)
    panel = await post_panel(server, c)
    await server.invoke(c.guild, c.moderator, "setup onboarding", approval=True)
    nia = await newcomer(server, c, "newcomer-nia")
    await server.click(panel, MEMBER_BUTTON, nia)
    card = server.messages_in(c.modlog)[-1]
    await server.invoke(c.guild, c.moderator, "setup onboarding", approval=False)

    pressed = await server.click(panel, MEMBER_BUTTON, nia)
    assert "you now have" in pressed.text
    assert role_calls(server) == [("PUT", nia.user.id, c.members_role.id)]
    closed = server.state.messages[card.id]
    await server.wait_for(lambda: closed.components == [], message="card kept its buttons")
    assert "closed: approval off" in closed.text
    assert await haven.running.services.onboarding.pending_count(c.guild.id) == 0


async def test_a_welcome_dm_to_closed_dms_is_dropped_quietly(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    welcome = await configure(server, c)
    await server.invoke(c.guild, c.moderator, "setup onboarding", welcome="dm")
    private = server.create_user("newcomer-pri", dms_closed=True)
    await server.add_member(c.guild, private)
    await server.wait_for(
        lambda: server.find_calls("POST", "/channels/{channel_id}/messages", status=403) != [],
        message="the bot never tried the welcome DM",
    )
    assert server.messages_in(welcome) == [] and server.dms_to(private) == []
    # The bot is fine afterwards: the next newcomer with open DMs is welcomed.
    open_dms = await newcomer(server, c, "newcomer-opal")
    await server.wait_for(lambda: len(server.dms_to(open_dms)) == 1)
    assert "No open meetings" not in server.dms_to(open_dms)[0].text
    assert "None is scheduled right now" in server.dms_to(open_dms)[0].text


async def test_a_spanish_guild_gets_its_panel_welcome_and_cards_in_spanish(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    """Guild posts follow the guild's language; each person's answers follow their client."""
    server, c = discord_server, community
    welcome = await configure(server, c)
    await haven.running.services.guilds.update(c.guild.id, language="es")
    start = server.create_channel(c.guild, "start-here")
    await server.flush()
    posted = await server.invoke(c.guild, c.moderator, "setup panel", channel=start)
    assert "Posted the role panel" in posted.text  # the moderator's client is English
    [panel] = server.messages_in(start)
    await modlog_has(server, c, "Panel de roles publicado")

    labels = [b["label"] for row in panel.components for b in row["components"]]
    assert labels == [
        "Estoy aquí por mi propia recuperación",
        "Estoy aquí por alguien a quien quiero",
    ]
    assert "¿Qué reuniones son para ti?" in panel.text
    assert "reuniones cerradas de estilo NA" in panel.text

    await server.invoke(c.guild, c.moderator, "setup onboarding", welcome="channel", approval=True)
    lucia = await newcomer(server, c, "newcomer-lucia")
    await server.wait_for(lambda: len(server.messages_in(welcome)) == 1)
    assert "Te damos la bienvenida a" in server.messages_in(welcome)[0].text

    lucia.user.locale = "es-419"
    asked = await server.click(panel, FAMILY_BUTTON, lucia)
    assert asked.ephemeral and "está esperando su respuesta" in asked.text, asked.text
    card = server.messages_in(c.modlog)[-1]
    assert "Solicitud de rol" in card.text
    approve = next(r for r in card.custom_ids() if ":approve:" in r)
    await server.click(card, approve, c.moderator)
    decided = server.state.messages[card.id]
    assert "aprobada por" in decided.text
    await server.wait_for(lambda: len(server.dms_to(lucia)) == 1)
    assert "aprobó tu solicitud" in server.dms_to(lucia)[-1].text

    ed = await newcomer(server, c, "newcomer-ed")  # an English client in the same server
    english = await server.click(panel, MEMBER_BUTTON, ed)
    assert "is waiting for them" in english.text, english.text
