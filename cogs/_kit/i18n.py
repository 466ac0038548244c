"""Translation for the glue: ``_``, ``ngettext``, ``N_``, lazy ``Msg`` and ``_T`` for descriptions.

``_T`` is discord.py's ``locale_str``: wrap command and option descriptions and choice names in it,
and the tree's translator gives Discord their Spanish text at sync. Everything else a person reads
goes through ``_()`` / ``ngettext()`` in the locale the tree made current (the user's client
language), or ``with use_locale(...)`` for posts that follow a meeting's or guild's language.
docs/translating.md has the rules.
"""

from __future__ import annotations

import discord
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


def locale_of(interaction: discord.Interaction) -> str:
    """The supported language of the person who made this interaction ("en" or "es")."""
    return resolve(interaction.locale)


__all__ = [
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
