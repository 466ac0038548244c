"""End to end: the real Haven bot's foundation (start, sync, /setup, /help, /privacy, errors)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.db.migrate import MIGRATIONS_DIR, PG_MIGRATIONS_DIR
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord, InvocationError, P
from tests.support.store import HavenStore

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

FOUNDATION_COMMANDS = {
    "setup roles",
    "setup channels",
    "setup defaults",
    "setup show",
    "help",
    "privacy info",
    "privacy forget-me",
    "sync",
}


async def settings_row(haven: HavenRunner, guild_id: int) -> Any:
    return await haven.running.db.fetchone(
        "SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,)
    )


def public_messages(server: FakeDiscord) -> list[Any]:
    """Every non-ephemeral message in every channel."""
    return [m for m in server.state.messages.values() if not m.ephemeral and not m.deleted]


# -- start and sync -----------------------------------------------------------------------------


async def test_start_migrates_and_syncs_commands(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    db = haven.running.db
    versions = await db.fetchall("SELECT version FROM schema_migrations")
    folder = PG_MIGRATIONS_DIR if db.dialect == "postgres" else MIGRATIONS_DIR
    shipped = {int(p.name[:4]) for p in folder.glob("[0-9][0-9][0-9][0-9]_*.sql")}
    assert {r[0] for r in versions} == shipped

    assert discord_server.command_names() >= FOUNDATION_COMMANDS
    (sync,) = discord_server.find_calls("PUT", "/applications/{application_id}/commands")
    assert sync.status == 200
    by_name = {c.name: c.payload for c in discord_server.commands()}
    assert by_name["sync"]["default_member_permissions"] == str(P.ADMINISTRATOR)
    assert haven.running.get_guild(community.guild.id) is not None


async def test_restart_keeps_settings_and_does_not_resync(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    g, mod = community.guild, community.moderator
    await discord_server.invoke(g, mod, "setup defaults", timezone="Europe/Dublin")
    await haven.restart()
    shown = await discord_server.invoke(g, mod, "setup show")
    assert "Europe/Dublin" in shown.text
    assert len(discord_server.find_calls("PUT", "/applications/{application_id}/commands")) == 1
    assert discord_server.gateway.identifies == 2


# -- /setup ---------------------------------------------------------------------------------------


async def test_moderator_sets_roles_and_sees_them(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    saved = await discord_server.invoke(
        c.guild,
        c.moderator,
        "setup roles",
        moderator=c.moderators_role,
        facilitator=c.facilitators_role,
        member=c.members_role,
        family=c.family_role,
    )
    assert saved.ephemeral and saved.content.startswith("Saved.")
    assert f"<@&{c.facilitators_role.id}>" in saved.content
    row = await settings_row(haven, c.guild.id)
    assert (row["moderator_role_id"], row["facilitator_role_id"]) == (
        c.moderators_role.id,
        c.facilitators_role.id,
    )
    assert (row["member_role_id"], row["family_role_id"]) == (c.members_role.id, c.family_role.id)

    shown = await discord_server.invoke(c.guild, c.moderator, "setup show")
    assert shown.ephemeral
    for role in (c.moderators_role, c.facilitators_role, c.members_role, c.family_role):
        assert f"<@&{role.id}>" in shown.text
    assert public_messages(discord_server) == []  # no mod-log channel yet: nothing posted


async def test_changes_go_to_the_modlog_without_pings(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    await discord_server.invoke(c.guild, c.moderator, "setup channels", modlog=c.modlog)
    await discord_server.invoke(
        c.guild, c.moderator, "setup roles", facilitator=c.facilitators_role
    )
    # The mod-log entry is posted after the reply: wait for it (the reply is not the end).
    await discord_server.wait_for(lambda: len(discord_server.messages_in(c.modlog)) == 2)
    logged = discord_server.messages_in(c.modlog)
    assert "Facilitator role" in logged[-1].text
    for msg in logged:
        assert msg.allowed_mentions == {"parse": []}
        assert not msg.mention_everyone and not msg.mention_roles and not msg.mentions


async def test_peer_is_refused_and_nothing_is_stored(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("setup roles", {"moderator": c.members_role}),
        ("setup defaults", {"timezone": "Europe/London"}),
        ("setup show", {}),
    ]
    for command, options in attempts:
        refused = await discord_server.invoke(c.guild, c.peer, command, **options)
        assert refused.ephemeral
        assert "Only moderators can do this" in refused.content, command
    assert await settings_row(haven, c.guild.id) is None
    assert public_messages(discord_server) == []


async def test_moderator_role_grants_setup_without_manage_server(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    await discord_server.invoke(
        c.guild, c.moderator, "setup roles", facilitator=c.facilitators_role
    )
    refused = await discord_server.invoke(c.guild, c.facilitator, "setup show")
    assert "Only moderators" in refused.content
    await discord_server.invoke(c.guild, c.moderator, "setup roles", moderator=c.facilitators_role)
    allowed = await discord_server.invoke(c.guild, c.facilitator, "setup show")
    assert allowed.ephemeral and "Haven settings" in allowed.text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timezone": "Mars/Olympus"}, "`Mars/Olympus` is not a time zone I know"),
        ({"reminder_offsets": "-5m"}, "`-5m` is not a reminder offset"),
        ({"reminder_offsets": "abc"}, "`abc` is not a reminder offset"),
        ({"reminder_offsets": "24h,15d"}, "out of range"),
        ({"timezone": "Europe/Paris", "reminder_offsets": "abc"}, "is not a reminder offset"),
    ],
)
async def test_bad_defaults_get_a_specific_message_and_change_nothing(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    options: dict[str, Any],
    expected: str,
) -> None:
    c = community
    await discord_server.invoke(
        c.guild, c.moderator, "setup defaults", timezone="Europe/London", reminder_offsets="2h"
    )
    before = dict(await settings_row(haven, c.guild.id))
    answer = await discord_server.invoke(c.guild, c.moderator, "setup defaults", **options)
    assert answer.ephemeral
    assert expected in answer.content
    assert "Traceback" not in answer.content
    assert dict(await settings_row(haven, c.guild.id)) == before
    assert before["timezone"] == "Europe/London" and before["reminder_offsets"] == "120"


async def test_timezone_autocomplete_and_range_checks(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    choices = await discord_server.autocomplete(
        c.guild, c.moderator, "setup defaults", focused="timezone", timezone="new_y"
    )
    assert "America/New_York" in [ch["value"] for ch in choices]
    with pytest.raises(InvocationError, match="must be ≤ 120"):
        await discord_server.invoke(c.guild, c.moderator, "setup defaults", room_open_minutes=500)


# -- /help ---------------------------------------------------------------------------------------


async def test_help_differs_by_role(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    peer = await discord_server.invoke(c.guild, c.peer, "help")
    assert peer.ephemeral
    assert "You are seen here as: peer" in peer.text
    assert "/setup" not in peer.text and "For moderators" not in peer.text
    assert "`/privacy forget-me`" in peer.text

    mod = await discord_server.invoke(c.guild, c.moderator, "help")
    assert "You are seen here as: moderator" in mod.text
    assert "For moderators" in mod.text and "`/setup roles`" in mod.text

    await discord_server.invoke(
        c.guild, c.moderator, "setup roles", facilitator=c.facilitators_role
    )
    fac = await discord_server.invoke(c.guild, c.facilitator, "help")
    assert "You are seen here as: facilitator" in fac.text
    assert "`/setup roles`" not in fac.text


async def test_help_does_not_offer_peers_owner_only_commands(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    peer = await discord_server.invoke(community.guild, community.peer, "help")
    assert "/sync" not in peer.text


# -- /privacy ---------------------------------------------------------------------------------------


async def _seed_role_requests(haven: HavenRunner, rows: list[tuple[int, int]]) -> None:
    async with haven.running.db.transaction() as tx:
        for guild_id, user_id in rows:
            await tx.execute(
                "INSERT INTO role_requests (guild_id, user_id, kind, requested_at) "
                "VALUES (?, ?, 'member', '2026-01-01T00:00:00+00:00')",
                (guild_id, user_id),
            )


async def _role_request_users(haven: HavenRunner) -> list[tuple[int, int]]:
    rows = await haven.running.db.fetchall("SELECT guild_id, user_id FROM role_requests")
    return sorted((r[0], r[1]) for r in rows)


async def test_privacy_forget_me(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    peer_id, mod_id = c.peer.user.id, c.moderator.user.id
    other_guild = 4242
    await _seed_role_requests(
        haven, [(c.guild.id, peer_id), (other_guild, peer_id), (c.guild.id, mod_id)]
    )

    info = await discord_server.invoke(c.guild, c.peer, "privacy info")
    assert info.ephemeral and "never stores" in info.text

    asked = await discord_server.invoke(c.guild, c.peer, "privacy forget-me")
    assert asked.ephemeral and asked.message is not None
    assert asked.message.labels() == ["Forget me", "Cancel"]
    with pytest.raises(InvocationError, match="ephemeral"):
        await discord_server.click(asked, "Forget me", c.moderator)
    kept = await discord_server.click(asked, "Cancel", c.peer)
    assert kept.type == 7 and kept.content == "Nothing was deleted." and kept.components == []
    assert len(await _role_request_users(haven)) == 3

    asked = await discord_server.invoke(c.guild, c.peer, "privacy forget-me")
    done = await discord_server.click(asked, "Forget me", c.peer)
    assert done.ephemeral and done.content.startswith("Done. I deleted 2 records")
    assert await _role_request_users(haven) == [(c.guild.id, mod_id)]
    assert public_messages(discord_server) == []


async def test_member_leaving_forgets_them_in_that_guild(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    await _seed_role_requests(haven, [(c.guild.id, c.peer.user.id), (77, c.peer.user.id)])
    await discord_server.remove_member(c.guild, c.peer)

    async def gone() -> bool:
        return await _role_request_users(haven) == [(77, c.peer.user.id)]

    await discord_server.wait_for(gone)


async def test_removal_from_a_guild_is_recorded_for_a_later_purge(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    await discord_server.invoke(c.guild, c.moderator, "setup defaults", timezone="Europe/Dublin")
    await discord_server.remove_guild(c.guild)

    async def departed() -> bool:
        return bool(
            await haven.running.db.fetchval(
                "SELECT count(*) FROM guild_departures WHERE guild_id = ?", (c.guild.id,)
            )
        )

    await discord_server.wait_for(departed)
    assert await settings_row(haven, c.guild.id) is not None  # kept until the grace period ends


# -- errors -------------------------------------------------------------------------------------------


async def test_unexpected_error_answers_with_an_error_id_and_no_internals(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    detail = "internal detail " + "/srv/haven/secret.db"  # not on the raising source line

    def broken() -> list[str]:
        raise RuntimeError(detail)

    monkeypatch.setattr(haven.running.services.privacy, "describe", broken)
    with caplog.at_level(logging.ERROR):
        answer = await discord_server.invoke(community.guild, community.peer, "privacy info")
    assert answer.ephemeral
    match = re.search(r"error ID[^`]*`([0-9A-F]{6})`", answer.content)
    assert match, answer.content
    for leak in ("Traceback", "RuntimeError", "internal detail", "secret.db"):
        assert leak not in answer.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert match.group(1) in logged
    assert "internal detail" not in logged  # exception messages may echo user input


async def test_unexpected_error_in_a_check_is_still_answered(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(guild_id: int) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(haven.running.services.guilds, "get", broken)
    discord_server.response_timeout = 0.5
    answer = await discord_server.invoke(community.guild, community.moderator, "setup show")
    assert "error ID" in answer.content


async def test_everyone_is_not_a_role_to_configure(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    answer = await discord_server.invoke(
        c.guild, c.moderator, "setup roles", moderator=c.guild.everyone
    )
    assert answer.ephemeral and "@everyone cannot be the moderator role" in answer.content
    assert await settings_row(haven, c.guild.id) is None


async def test_a_modlog_the_bot_cannot_post_in_does_not_break_setup(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    c = community
    bot_role = discord_server.bot_role(c.guild)
    hidden = discord_server.create_channel(
        c.guild, "locked-log", overwrites=[(bot_role, 0, P.SEND_MESSAGES)]
    )
    g = haven.running.get_guild(c.guild.id)
    assert g is not None
    await discord_server.wait_for(lambda: g.get_channel(hidden.id) is not None)
    saved = await discord_server.invoke(c.guild, c.moderator, "setup channels", modlog=hidden)
    assert saved.content.startswith("Saved.")
    await discord_server.wait_for(
        lambda: discord_server.find_calls("POST", "/channels/{channel_id}/messages", status=403)
    )
    assert discord_server.messages_in(hidden) == []
    row = await settings_row(haven, c.guild.id)
    assert row["modlog_channel_id"] == hidden.id


async def test_fake_clock_drives_haven_and_discord(
    discord_server: FakeDiscord, community: Community, store: HavenStore
) -> None:
    start = datetime(2027, 3, 14, 18, 30, tzinfo=UTC)
    clock = FakeClock(start)
    runner = HavenRunner.on(discord_server, store, clock=clock)
    await runner.start()
    try:
        assert discord_server.now() == start  # Discord's own time follows the test clock
        c = community
        await discord_server.invoke(c.guild, c.moderator, "setup channels", modlog=c.modlog)
        await discord_server.wait_for(lambda: discord_server.messages_in(c.modlog))
        (entry,) = discord_server.messages_in(c.modlog)
        stamp = datetime.fromisoformat(entry.embeds[0]["timestamp"])
        assert stamp == start
        assert entry.created_at.replace(microsecond=0) >= start

        clock.advance(timedelta(days=3))
        await discord_server.remove_guild(c.guild)

        async def left_at() -> Any:
            return await runner.running.db.fetchval(
                "SELECT left_at FROM guild_departures WHERE guild_id = ?", (c.guild.id,)
            )

        await discord_server.wait_for(left_at)
        assert datetime.fromisoformat(await left_at()) == start + timedelta(days=3)

        await discord_server.rejoin_guild(c.guild)
        await discord_server.wait_for(lambda: _is_none(left_at()))
    finally:
        await runner.stop()


async def _is_none(value: Any) -> bool:
    return await value is None


async def test_a_guild_joined_while_running_is_served(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    guild = discord_server.create_guild("Family Circle")
    mod_role = discord_server.create_role(guild, "Mods", permissions=P.MANAGE_GUILD)
    mod = discord_server.create_member(guild, "mod-two", [mod_role])
    await discord_server.wait_for(lambda: haven.running.get_guild(guild.id) is not None)
    await discord_server.wait_for(lambda: haven.running.get_guild(guild.id).chunked)  # type: ignore[union-attr]
    answer = await discord_server.invoke(guild, mod, "setup defaults", timezone="America/Chicago")
    assert answer.content.startswith("Saved.")
    assert (await settings_row(haven, guild.id))["timezone"] == "America/Chicago"
    assert await settings_row(haven, community.guild.id) is None
