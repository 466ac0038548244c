"""The language core: resolving Discord locales, lookups, lazy messages, the tree's own texts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import discord
import pytest
from discord import app_commands

from bot import i18n
from bot.errors import NotFoundError, UserFacingError
from bot.i18n import Msg, PluralMsg, _, ngettext, resolve, use_locale
from bot.runtime.tree import HavenTranslator, Refused, user_message_for

PO_HEADER = """msgid ""
msgstr ""
"Language: es\\n"
"Content-Type: text/plain; charset=UTF-8\\n"

"""


def write_po(directory: Path, name: str, body: str) -> Path:
    """A .po file under directory/es/LC_MESSAGES."""
    folder = directory / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(PO_HEADER + body, encoding="utf-8")
    return path


@pytest.fixture
def catalogues(tmp_path: Path) -> Iterator[Path]:
    """Load test catalogues from tmp_path; the shipped ones come back afterwards."""
    yield tmp_path
    i18n.load()


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("es-ES", "es"),
        ("es-419", "es"),
        ("es_419", "es"),
        ("ES", "es"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
        (discord.Locale.latin_american_spanish, "es"),
        (discord.Locale.spain_spanish, "es"),
        (discord.Locale.american_english, "en"),
    ],
)
def test_resolve_maps_discord_locales_to_supported_languages(locale: object, expected: str) -> None:
    assert resolve(locale) == expected


def test_lookups_follow_the_current_locale_and_spanish_has_three_plural_forms(
    catalogues: Path,
) -> None:
    write_po(
        catalogues,
        "a.po",
        'msgid "Hello"\nmsgstr "Hola"\n\n'
        'msgid "{count} meeting"\nmsgid_plural "{count} meetings"\n'
        'msgstr[0] "{count} reunión"\nmsgstr[1] "{count} de reuniones"\n'
        'msgstr[2] "{count} reuniones"\n',
    )
    i18n.load(catalogues)
    assert _("Hello") == "Hello"
    with use_locale("es-419"):
        assert _("Hello") == "Hola"
        assert _("Not in the catalogue") == "Not in the catalogue"
        forms = [ngettext("{count} meeting", "{count} meetings", n) for n in (1, 2, 1_000_000)]
        assert forms == ["{count} reunión", "{count} reuniones", "{count} de reuniones"]
    assert ngettext("{count} meeting", "{count} meetings", 1) == "{count} meeting"
    assert _("Hello") == "Hello"


def test_catalogue_files_merge_and_fuzzy_entries_are_not_used(catalogues: Path) -> None:
    write_po(catalogues, "a.po", 'msgid "One"\nmsgstr "Uno"\n')
    write_po(
        catalogues,
        "b.po",
        'msgid "Two"\nmsgstr "Dos"\n\n#, fuzzy\nmsgid "Three"\nmsgstr "Tres"\n\n'
        'msgid "Four"\nmsgstr ""\n',
    )
    i18n.load(catalogues)
    with use_locale("es-ES"):
        assert [_(m) for m in ("One", "Two", "Three", "Four")] == ["Uno", "Dos", "Three", "Four"]


def test_a_msg_renders_in_the_locale_current_when_shown(catalogues: Path) -> None:
    write_po(
        catalogues,
        "a.po",
        'msgid "Meeting {title} is cancelled."\nmsgstr "La reunión {title} está cancelada."\n\n'
        'msgid "Friday"\nmsgstr "viernes"\n\n'
        'msgid "See you {day}."\nmsgstr "Nos vemos el {day}."\n\n'
        'msgid "{count} seat"\nmsgid_plural "{count} seats"\n'
        'msgstr[0] "{count} lugar"\nmsgstr[1] "{count} de lugares"\nmsgstr[2] "{count} lugares"\n',
    )
    i18n.load(catalogues)
    message = Msg("Meeting {title} is cancelled.", title="Step study")
    assert str(message) == "Meeting Step study is cancelled."
    with use_locale("es-419"):
        assert str(message) == "La reunión Step study está cancelada."
    assert message.render("es") == "La reunión Step study está cancelada."
    nested = Msg("See you {day}.", day=Msg("Friday"))
    assert nested.render("es") == "Nos vemos el viernes."
    assert nested.render("en") == "See you Friday."
    assert PluralMsg("{count} seat", "{count} seats", 3).render("es") == "3 lugares"
    assert PluralMsg("{count} seat", "{count} seats", 1).render("en") == "1 seat"
    assert Msg("Braces {stay} without params").render("es") == "Braces {stay} without params"


def test_user_facing_errors_and_refusals_render_in_the_current_locale(catalogues: Path) -> None:
    write_po(catalogues, "a.po", 'msgid "No such meeting."\nmsgstr "No existe esa reunión."\n')
    i18n.load(catalogues)
    error = NotFoundError(Msg("No such meeting."))
    refused = Refused(Msg("No such meeting."))
    assert error.message == "No such meeting."
    with use_locale("es-ES"):
        assert error.message == "No existe esa reunión."
        assert str(error) == "No existe esa reunión."
        assert user_message_for(error) == "No existe esa reunión."
        assert user_message_for(refused) == "No existe esa reunión."
    assert UserFacingError("plain text stays as written").message == "plain text stays as written"


def test_the_trees_own_messages_are_spanish_for_a_spanish_user() -> None:
    i18n.load()
    cooldown = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 30), 12.4)
    with use_locale("es-419"):
        assert user_message_for(cooldown) == ("Ve con calma: vuelve a intentarlo en 12 segundos.")
        assert user_message_for(app_commands.NoPrivateMessage()) == (
            "Este comando solo funciona dentro de un servidor."
        )
        assert user_message_for(app_commands.MissingPermissions(["manage_roles"])) == (
            "No tienes permiso para hacer esto."
        )
    assert user_message_for(cooldown) == "Slow down a little: try again in 12 seconds."


async def test_translator_translates_descriptions_and_choices_but_never_names(
    catalogues: Path,
) -> None:
    write_po(
        catalogues,
        "a.po",
        'msgid "meeting"\nmsgstr "reunión"\n\n'
        'msgid "Schedule a meeting"\nmsgstr "Programa una reunión"\n',
    )
    i18n.load(catalogues)
    translator = HavenTranslator()
    where = app_commands.TranslationContextLocation
    described = app_commands.TranslationContext(where.command_description, None)
    named = app_commands.TranslationContext(where.command_name, None)
    chosen = app_commands.TranslationContext(where.choice_name, None)
    text = app_commands.locale_str("Schedule a meeting")
    for locale in (discord.Locale.spain_spanish, discord.Locale.latin_american_spanish):
        assert await translator.translate(text, locale, described) == "Programa una reunión"
    assert await translator.translate(text, discord.Locale.french, described) is None
    assert await translator.translate(text, discord.Locale.american_english, described) is None
    name = app_commands.locale_str("meeting")
    assert await translator.translate(name, discord.Locale.spain_spanish, named) is None
    assert await translator.translate(name, discord.Locale.spain_spanish, chosen) == "reunión"
    missing = app_commands.locale_str("Untranslated")
    assert await translator.translate(missing, discord.Locale.spain_spanish, described) is None


def test_a_busy_database_is_explained_in_the_readers_language() -> None:
    from bot.db.base import DatabaseBusyError

    i18n.load()
    busy = DatabaseBusyError()
    assert busy.message.startswith("Haven's database is busy right now.")
    with use_locale("es-419"):
        assert busy.message == (
            "La base de datos de Haven está ocupada en este momento. No se cambió nada; "
            "vuelve a intentarlo."
        )
