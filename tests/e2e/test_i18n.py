"""End to end: Spanish clients get Spanish, English clients in the same server keep English."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord
from tests.fakediscord.validation import DiscordError, validate_commands

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

SPANISH = ("es-ES", "es-419")


def _described(payload: dict[str, Any], path: str) -> Any:
    """Every (where, node, field) that Discord shows translated: descriptions and choice names."""
    if "description" in payload:
        yield path, payload, "description"
    for option in payload.get("options") or []:
        yield from _described(option, f"{path} {option['name']}")
    for choice in payload.get("choices") or []:
        yield f"{path} choice {choice['name']}", choice, "name"


async def test_sync_carries_both_spanish_locales_for_every_description_and_choice(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    missing = []
    for command in discord_server.commands():
        for where, node, field in _described(command.payload, f"/{command.name}"):
            localized = node.get(f"{field}_localizations") or {}
            if set(localized) != set(SPANISH):
                missing.append(where)
                continue
            assert localized["es-ES"] == localized["es-419"], where
            assert len(localized["es-ES"]) <= 100, where
        assert (
            "name_localizations" not in command.payload or not command.payload["name_localizations"]
        ), "command names stay English"
    assert missing == [], f"{len(missing)} without Spanish:\n" + "\n".join(missing)


def test_the_fake_refuses_unknown_locales_and_over_long_localisations() -> None:
    command = {"name": "x", "type": 1, "description": "d"}
    validate_commands([{**command, "description_localizations": {"es-419": "ok"}}])
    with pytest.raises(DiscordError):
        validate_commands([{**command, "description_localizations": {"es-MX": "no"}}])
    with pytest.raises(DiscordError):
        validate_commands([{**command, "description_localizations": {"es-ES": "x" * 101}}])


async def test_an_error_answers_in_each_persons_language(
    discord_server: FakeDiscord,
    community: Community,
    haven: HavenRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> list[str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(haven.running.services.privacy, "describe", broken)
    community.peer.user.locale = "es-419"
    spanish = await discord_server.invoke(community.guild, community.peer, "privacy info")
    english = await discord_server.invoke(community.guild, community.family, "privacy info")
    spain = await discord_server.invoke(
        community.guild, community.family, "privacy info", _locale="es-ES"
    )
    assert spanish.payload["locale"] == "es-419" and english.payload["locale"] == "en-US"
    for answer in (spanish, spain):
        assert answer.ephemeral
        assert re.search(r"código de error[^`]*`[0-9A-F]{6}`", answer.content), answer.content
        assert "Algo falló de mi lado" in answer.content
    assert re.search(r"error ID[^`]*`[0-9A-F]{6}`", english.content), english.content


async def test_interactions_carry_the_guilds_locale(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    community.guild.preferred_locale = "es-ES"
    answer = await discord_server.invoke(community.guild, community.peer, "help")
    assert answer.payload["guild_locale"] == "es-ES"
    assert answer.payload["locale"] == "en-US"


async def test_help_privacy_and_crisis_answer_in_spanish_and_english_side_by_side(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    community.peer.user.locale = "es-419"
    spanish = {
        cmd: await discord_server.invoke(community.guild, community.peer, cmd)
        for cmd in ("help", "privacy info", "crisis")
    }
    english = {
        cmd: await discord_server.invoke(community.guild, community.family, cmd)
        for cmd in ("help", "privacy info", "crisis")
    }
    assert all(r.ephemeral for r in [*spanish.values(), *english.values()])
    assert "Tu papel aquí: participante" in spanish["help"].all_text
    assert "`/crisis`" in spanish["help"].all_text and "usa `/crisis`" in spanish["help"].all_text
    assert "You are seen here as: peer" in english["help"].all_text
    assert "Lo que Haven nunca guarda" in spanish["privacy info"].all_text
    assert "What Haven never stores" in english["privacy info"].all_text
    assert "Apoyo en crisis" in spanish["crisis"].all_text
    assert "llama ya al número de emergencias" in spanish["crisis"].all_text
    assert "Crisis support" in english["crisis"].all_text
    assert "Apoyo en crisis" not in english["crisis"].all_text


async def test_setup_defaults_language_is_stored_shown_and_logged_in_spanish(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    await haven.running.services.guilds.update(
        community.guild.id,
        moderator_role_id=community.moderators_role.id,
        modlog_channel_id=community.modlog.id,
    )
    answer = await discord_server.invoke(
        community.guild, community.moderator, "setup defaults", language="es"
    )
    assert answer.ephemeral and "Saved." in answer.content, answer.content
    assert "Language of posts and new meetings: English → Español" in answer.content
    settings = await haven.running.services.guilds.get(community.guild.id)
    assert settings.language == "es"
    await discord_server.wait_for(lambda: discord_server.messages_in(community.modlog))
    entry = discord_server.messages_in(community.modlog)[-1]
    assert "Configuración cambiada" in entry.text, entry.text
    shown = await discord_server.invoke(
        community.guild, community.moderator, "setup show", _locale="es-ES"
    )
    assert "Idioma de las publicaciones y de las reuniones nuevas**: Español" in shown.all_text


async def test_a_subscribers_dm_language_follows_their_next_interaction(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    from bot.db.repositories import reminders as repo
    from tests.support.meetings import make_meeting

    services = haven.running.services
    meeting_id = await make_meeting(services, community.guild.id)
    await services.reminders.subscribe(community.guild.id, community.peer.user.id, meeting_id)
    assert await repo.locales_of(services.db, [community.peer.user.id]) == {
        community.peer.user.id: "en"
    }
    await discord_server.invoke(community.guild, community.peer, "help", _locale="es-419")

    async def spanish_now() -> bool:
        """The refresh runs in the bot's on_interaction listener, beside the answer."""
        found = await repo.locales_of(services.db, [community.peer.user.id])
        return found == {community.peer.user.id: "es"}

    await discord_server.wait_for(spanish_now, message="the stored DM language stayed English")


async def test_a_spanish_community_server_starts_with_spanish_posts(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    community.guild.preferred_locale = "es-419"
    first = await discord_server.invoke(
        community.guild, community.moderator, "setup channels", modlog=community.modlog
    )
    assert "English → Español" in first.content, first.content
    assert (await haven.running.services.guilds.get(community.guild.id)).language == "es"
    back = await discord_server.invoke(
        community.guild, community.moderator, "setup defaults", language="en"
    )
    assert "Español → English" in back.content
    again = await discord_server.invoke(
        community.guild, community.moderator, "setup channels", announcements=community.general
    )
    assert "Español" not in again.content  # seeded once, at the first setup only
