"""`/setup feeds` end to end: the real Haven bot against the local FakeDiscord."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.errors import ConfigError
from bot.services.meetings import Access
from tests.e2e.harness import TEST_SECRET_KEY, Community, HavenRunner
from tests.fakediscord import FakeDiscord
from tests.support.meetings import make_meeting

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends


async def _meeting(haven: HavenRunner, community: Community, title: str, access: Access) -> int:
    return await make_meeting(
        haven.running.services, community.guild.id, title=title, access=access
    )


async def test_enable_answers_privately_with_urls_and_what_is_public(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    services = haven.running.services
    guild = community.guild
    await services.guilds.update(guild.id, modlog_channel_id=community.modlog.id)
    room = discord_server.create_channel(guild, "tuesday-room")
    open_id = await _meeting(haven, community, "Tuesday Hope", Access.OPEN)
    async with services.db.transaction() as tx:
        await services.meetings.update(tx, open_id, room_text_channel_id=room.id)
    await _meeting(haven, community, "Closed circle", Access.CLOSED)

    result = await discord_server.invoke(guild, community.moderator, "setup feeds", action="enable")
    assert result.ephemeral
    text = result.content
    match = re.search(r"/feeds/([A-Za-z0-9_-]{43})/meetings\.ics", text)
    assert match is not None, text
    token = match.group(1)
    assert f"/feeds/{token}/meetings.json" in text
    assert f"Schedule page (times in each reader's own zone): /feeds/{token}/\n" in text
    assert "What becomes public" in text and "Never published" in text
    assert "facilitators" in text and "Closed meetings are never published" in text
    assert "The schedule page shows only open meetings that are not family meetings." in text
    assert "HTTP_PORT" in text  # the feed server is off in this run, and the answer says so
    # Only a hash of the token is stored.
    assert token not in str(await services.db.fetchall("SELECT * FROM guild_feeds"))
    # One permanent invite for the open meeting's room, none for the closed meeting.
    invites = await services.feeds.invites(guild.id)
    assert list(invites) == [open_id]
    stored = discord_server.state.invites[invites[open_id].code]
    assert stored.channel_id == room.id and stored.max_age == 0 and stored.max_uses == 0
    # The feed itself, rendered by the running bot's service.
    rendered = await services.feeds.render(token, "json")
    assert rendered is not None
    assert f"https://discord.gg/{invites[open_id].code}".encode() in rendered.body
    assert b"Closed circle" not in rendered.body
    # The mod log records the action (without the URLs).
    await discord_server.wait_for(lambda: bool(discord_server.messages_in(community.modlog)))
    (entry,) = discord_server.messages_in(community.modlog)
    assert "Public feeds turned on" in str(entry.embeds)
    assert token not in str(entry.embeds)


async def test_peer_is_refused(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    result = await discord_server.invoke(
        community.guild, community.peer, "setup feeds", action="enable", _override_permissions=True
    )
    assert result.ephemeral
    assert "/feeds/" not in result.content
    assert "moderator" in result.content.lower()
    assert await haven.running.services.feeds.get(community.guild.id) is None


async def test_rotate_and_disable_without_rooms(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    services = haven.running.services
    guild = community.guild
    await _meeting(haven, community, "Tuesday Hope", Access.OPEN)
    first = await discord_server.invoke(guild, community.moderator, "setup feeds", action="enable")
    old = re.search(r"/feeds/([A-Za-z0-9_-]{43})/", first.content)
    assert old is not None
    rotated = await discord_server.invoke(
        guild, community.moderator, "setup feeds", action="rotate"
    )
    assert rotated.ephemeral and "old ones stopped working" in rotated.content
    new = re.search(r"/feeds/([A-Za-z0-9_-]{43})/", rotated.content)
    assert new is not None and new.group(1) != old.group(1)
    assert await services.feeds.render(old.group(1), "ics") is None
    assert await services.feeds.render(new.group(1), "ics") is not None
    off = await discord_server.invoke(guild, community.moderator, "setup feeds", action="disable")
    assert off.ephemeral and "Feeds are off" in off.content
    assert await services.feeds.render(new.group(1), "ics") is None
    again = await discord_server.invoke(guild, community.moderator, "setup feeds", action="rotate")
    assert "Feeds are off" in again.content and "/feeds/" not in again.content


async def test_feed_server_runs_with_the_bot_when_http_port_is_set(
    discord_server: FakeDiscord, community: Community, haven_runner: HavenRunner
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await haven_runner.start(http_port=port, public_base_url="https://haven.example.org")
    try:
        await _meeting(haven_runner, community, "Tuesday Hope", Access.OPEN)
        result = await discord_server.invoke(
            community.guild, community.moderator, "setup feeds", action="enable"
        )
        match = re.search(r"https://haven\.example\.org(/feeds/[A-Za-z0-9_-]{43}/)", result.content)
        assert match is not None, result.content
        assert "HTTP_PORT" not in result.content
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}{match.group(1)}"
            async with session.get(url + "meetings.ics") as resp:
                assert resp.status == 200
                assert "SUMMARY:Tuesday Hope" in await resp.text()
            async with session.get(url + "meetings.json") as resp:
                assert resp.status == 200
                assert (await resp.json())[0]["name"] == "Tuesday Hope"
    finally:
        await haven_runner.stop()
    # Stopping the bot released the port.
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))


async def test_setup_show_reports_whether_feeds_are_on(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    guild = community.guild
    before = await discord_server.invoke(guild, community.moderator, "setup show")
    assert "Public feeds" in before.text and "off (" in before.text
    await discord_server.invoke(
        guild, community.moderator, "setup feeds", action="enable", include_closed=True
    )
    after = await discord_server.invoke(guild, community.moderator, "setup show")
    assert "on · closed meetings included" in after.text
    again = await discord_server.invoke(guild, community.moderator, "setup feeds", action="enable")
    assert "in the calendar and Meeting Guide feeds" in again.content


@pytest.mark.parametrize("where", ["beside", "apart", "environment"])
async def test_setup_show_names_the_key_source_never_the_key(
    discord_server: FakeDiscord,
    community: Community,
    haven_runner: HavenRunner,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
    where: str,
    backend: str,
) -> None:
    apart = tmp_path_factory.mktemp("secrets") / "haven.key"  # outside the database's folder
    settings: dict[str, Any] = {
        "beside": {"haven_secret_key": None},
        "apart": {"haven_secret_key": None, "haven_key_path": apart},
        "environment": {"haven_key_path": apart},  # HAVEN_SECRET_KEY (the harness's) wins
    }[where]
    if backend == "postgres" and where != "environment":
        # Processes sharing PostgreSQL need one key: a key file (one per host) is refused.
        with pytest.raises(ConfigError, match="HAVEN_SECRET_KEY is not set.*same HAVEN_SECRET"):
            await haven_runner.start(**settings)
        assert haven_runner.bot is None
        assert not (tmp_path / "haven.key").exists() and not apart.exists()
        return
    await haven_runner.start(**settings)
    try:
        shown = await discord_server.invoke(community.guild, community.moderator, "setup show")
    finally:
        await haven_runner.stop()
    assert shown.ephemeral and "Instance key" in shown.text
    warning = "a copy of that folder carries the key with it"
    if where == "beside":
        key_file = tmp_path / "haven.key"
        assert f"`{key_file}`" in shown.text and warning in shown.text
        assert "HAVEN_KEY_PATH" in shown.text
    elif where == "apart":
        key_file = apart
        assert f"`{apart}`" in shown.text and warning not in shown.text
    else:
        assert "environment (HAVEN_SECRET_KEY)" in shown.text
        assert "HAVEN_KEY_PATH is ignored" in shown.text and warning not in shown.text
        assert TEST_SECRET_KEY not in shown.text and not apart.exists()
        assert "HAVEN_KEY_PATH is ignored" in caplog.text  # the operator's log says so too
        return
    secret = key_file.read_text().strip()
    assert secret not in shown.text and secret[:16] not in shown.text


async def test_a_spanish_moderator_reads_spanish_and_the_mod_log_follows_the_server(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    services = haven.running.services
    guild = community.guild
    await services.guilds.update(guild.id, modlog_channel_id=community.modlog.id)
    await _meeting(haven, community, "Martes de esperanza", Access.OPEN)
    on = await discord_server.invoke(
        guild, community.moderator, "setup feeds", action="enable", _locale="es-419"
    )
    assert on.ephemeral
    assert "**Los feeds públicos están activados.**" in on.content
    assert "Página de reuniones (cada persona ve su propia hora): /feeds/" in on.content
    assert "**Qué se hace público**" in on.content and "**Nunca se publica:**" in on.content
    assert "`include_closed:True`" in on.content and "`HTTP_PORT`" in on.content
    # The server's mod log is in the server's language (English here), not the moderator's.
    await discord_server.wait_for(lambda: bool(discord_server.messages_in(community.modlog)))
    (entry,) = discord_server.messages_in(community.modlog)
    assert "Public feeds turned on" in str(entry.embeds)
    # An English moderator in the same server still reads English.
    again = await discord_server.invoke(guild, community.moderator, "setup feeds", action="enable")
    assert again.content.startswith("Feeds were already on; nothing changed.")
    # Once the server speaks Spanish, its mod log does too.
    await services.guilds.update(guild.id, language="es")
    rotated = await discord_server.invoke(
        guild, community.moderator, "setup feeds", action="rotate", _locale="es-ES"
    )
    assert "Nuevas direcciones de los feeds" in rotated.content
    await discord_server.wait_for(lambda: len(discord_server.messages_in(community.modlog)) == 2)
    assert "Direcciones de los feeds públicos renovadas" in str(
        discord_server.messages_in(community.modlog)[-1].embeds
    )
    off = await discord_server.invoke(
        guild, community.moderator, "setup feeds", action="disable", _locale="es-ES"
    )
    assert off.content.startswith("Los feeds están desactivados.")
    again_off = await discord_server.invoke(
        guild, community.moderator, "setup feeds", action="rotate", _locale="es-ES"
    )
    assert "no hay nada que renovar" in again_off.content
