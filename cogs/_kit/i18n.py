"""Translation for the glue: ``_``, ``ngettext``, ``N_``, lazy ``Msg`` and ``_T`` for descriptions.

``_T`` is discord.py's ``locale_str``: wrap command and option descriptions and choice names in it,
and the tree's translator gives Discord their Spanish text at sync. Everything else a person reads
goes through ``_()`` / ``ngettext()`` in the locale the tree made current (the user's client
language), or ``with use_locale(...)`` for posts that follow a meeting's or guild's language.
docs/translating.md has the rules.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import locale_str as _T

from bot.i18n import (
    N_,
    SUPPORTED,
    Msg,
    PluralMsg,
    Text,
    _,
    current_locale,
    ngettext,
    render,
    resolve,
    use_locale,
)

# The `language:` option of /setup defaults and /meeting schedule|edit. Each language is named in
# itself, as language pickers do, so these names are not translated.
LANGUAGE_CHOICES: list[app_commands.Choice[int | float | str]] = [
    app_commands.Choice(name=_T("English"), value="en"),
    app_commands.Choice(name=_T("Español"), value="es"),
]


class LanguageOption(app_commands.Transformer):
    """A ``language:`` option offering English / Español, passed on as "en" / "es"."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        """A string option."""
        return discord.AppCommandOptionType.string

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]]:
        """The languages, each named in itself."""
        return LANGUAGE_CHOICES

    async def transform(self, interaction: discord.Interaction, value: str) -> str:
        """The chosen language code."""
        return value


LanguageArg = app_commands.Transform[str, LanguageOption]


def locale_of(interaction: discord.Interaction) -> str:
    """The supported language of the person who made this interaction ("en" or "es")."""
    return resolve(interaction.locale)


__all__ = [
    "LANGUAGE_CHOICES",
    "LanguageArg",
    "LanguageOption",
    "N_",
    "SUPPORTED",
    "Msg",
    "PluralMsg",
    "Text",
    "_",
    "_T",
    "current_locale",
    "locale_of",
    "ngettext",
    "render",
    "resolve",
    "use_locale",
]
