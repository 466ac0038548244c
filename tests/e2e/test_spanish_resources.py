"""Resource cards and /crisis for a Spanish client: sourced Spanish text, else English with a note."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord
from tests.support.clock import haven_clock_at

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

# Thursday 2027-01-07, 17:00 UTC. Shipped cards were verified on 2026-11-22.
haven_clock = haven_clock_at(datetime(2027, 1, 7, 17, 0, tzinfo=UTC))

NOTE = "(en inglés: aún no tenemos una fuente verificada en español)"
SPANISH_988 = "988 Suicide & Crisis Lifeline: ayuda en español"


async def test_a_spanish_reader_gets_the_sourced_spanish_text(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    c.peer.user.locale = "es-419"

    shown = await server.invoke(c.guild, c.peer, "resource show", card="us-988")
    assert shown.ephemeral
    text = shown.text
    assert SPANISH_988 in text and "marca 2 para hablar en español" in text
    assert "llama al 911" in text and "Llama al 988 y marca 2 para español" in text
    assert "Contacto" in text and "Verificada por última vez el 2026-11-22" in text
    assert "**Llamar:** 988" in text  # the number is the service's own
    assert NOTE not in text and "Free, confidential support" not in text

    samhsa = await server.invoke(c.guild, c.peer, "resource show", card="us-samhsa-helpline")
    assert "en inglés y en español" in samhsa.text and "solo en inglés" in samhsa.text

    english = await server.invoke(c.guild, c.family, "resource show", card="us-988")
    assert "988 Suicide & Crisis Lifeline" in english.text and "Free, confidential" in english.text
    assert "ayuda en español" not in english.text and NOTE not in english.text
    assert "Last verified on 2026-11-22" in english.text


async def test_a_card_without_a_spanish_source_shows_in_english_with_a_note(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    shown = await server.invoke(
        c.guild, c.peer, "resource show", card="us-crisis-text-line", _locale="es-ES"
    )
    text = shown.text
    assert NOTE in text and "Crisis Text Line" in text  # the card itself stays as sourced
    assert "Contacto" in text and "Haven no da consejos médicos" in text

    listed = await server.invoke(
        c.guild, c.peer, "resource list", tag="crisis", region="US", _locale="es-419"
    )
    assert listed.ephemeral and listed.embeds[0]["title"] == (
        "Tarjetas de recursos · crisis · Estados Unidos"
    )
    assert "Las tarjetas marcadas (en inglés) aún no tienen una fuente verificada" in listed.text
    assert f"**{SPANISH_988}** (`us-988`) · US\n" in listed.text
    assert "(`us-crisis-text-line`) · US (en inglés)" in listed.text
    assert "Página 1 de 1" in listed.text

    missing = await server.invoke(c.guild, c.peer, "resource show", card="nope", _locale="es-419")
    assert (
        missing.ephemeral and "Aquí no hay ninguna tarjeta de recursos con ese id" in missing.text
    )

    picked = await server.autocomplete(
        c.guild, c.peer, "resource show", focused="card", card="988", _locale="es-419"
    )
    assert any(ch["name"].startswith(SPANISH_988) for ch in picked)


async def test_crisis_answers_in_spanish_with_the_database_closed(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await server.invoke(c.guild, c.moderator, "setup defaults", region="US")
    await haven.running.services.db.close()

    answer = await server.invoke(c.guild, c.peer, "crisis", _locale="es-419")
    assert answer.ephemeral
    text = answer.text
    assert SPANISH_988 in text and "marca 2 para hablar en español" in text
    assert "llama al 911" in text
    # Crisis Text Line, Poison Help and the overdose steps have no Spanish source: English + note.
    assert "Crisis Text Line" in text and text.count(NOTE) == 3

    english = await server.invoke(c.guild, c.family, "crisis")
    assert "988 Suicide & Crisis Lifeline" in english.text and NOTE not in english.text
    assert "ayuda en español" not in english.text

    everywhere = await server.invoke(None, c.peer, "crisis", _locale="es-ES")
    assert SPANISH_988 in everywhere.text and NOTE in everywhere.text


async def test_moderators_are_told_which_crisis_cards_lack_spanish(
    discord_server: FakeDiscord, community: Community, haven: HavenRunner
) -> None:
    server, c = discord_server, community
    await server.invoke(c.guild, c.moderator, "setup defaults", region="US")

    english = await server.invoke(c.guild, c.moderator, "resource review")
    assert english.ephemeral and "Nothing is waiting for review." in english.text
    assert "Crisis cards with no Spanish text" in english.text
    for card in ("us-crisis-text-line", "us-overdose-response", "us-poison-help"):
        assert f"(`{card}`)" in english.text
    assert "(`us-988`)" not in english.text and "(`uk-samaritans`)" not in english.text

    spanish = await server.invoke(c.guild, c.moderator, "resource review", _locale="es-419")
    assert "No hay nada esperando revisión." in spanish.text
    assert "Tarjetas de crisis sin texto en español" in spanish.text

    refused = await server.invoke(c.guild, c.peer, "resource review", _locale="es-419")
    assert "Tarjetas de crisis" not in refused.text  # the flag is for moderators only
