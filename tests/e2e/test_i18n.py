"""End to end: Spanish clients get Spanish, English clients in the same server keep English."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord
from tests.fakediscord.validation import DiscordError, validate_commands

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
