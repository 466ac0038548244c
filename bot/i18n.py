"""Haven's languages: the current locale, gettext lookups and lazy messages (no Discord here).

English is the source language: a msgid *is* the English text, so ``en`` needs no catalogue. The
Spanish catalogue is every ``bot/locales/es/LC_MESSAGES/*.po`` merged at start (one file per area,
so translators of different features never edit the same file), compiled in memory with Babel so
no stale ``.mo`` can sit in a clone, and read through ``gettext.GNUTranslations``, which keeps
Spanish's three plural forms. docs/translating.md says how to mark and translate a string.
"""

from __future__ import annotations

import gettext
import io
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

SUPPORTED: tuple[str, ...] = ("en", "es")
DEFAULT = "en"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"

# The language of what is being rendered now: the tree sets it from interaction.locale for each
# command, click, modal and autocomplete; jobs set it from the meeting, guild or subscription.
current_locale: ContextVar[str] = ContextVar("haven_locale", default=DEFAULT)

_catalogues: dict[str, gettext.NullTranslations] = {}
_lock = threading.Lock()


def resolve(locale: object) -> str:
    """The supported language of a Discord locale ("es-ES", "es-419", "en-US", None) or code."""
    if locale is None:
        return DEFAULT
    text = str(getattr(locale, "value", locale)).strip().lower()
    language = text.replace("_", "-").split("-", 1)[0]
    return language if language in SUPPORTED else DEFAULT


def po_files(language: str, directory: Path = LOCALES_DIR) -> list[Path]:
    """The catalogue files of one language, in a stable order."""
    return sorted((directory / language / "LC_MESSAGES").glob("*.po"))


def merge_catalogues(language: str, files: list[Path]) -> Catalog:
    """One Babel catalogue from several .po files; fuzzy and empty entries are left out."""
    merged = Catalog(locale=language, domain="haven")
    for path in files:
        with path.open("rb") as handle:
            part = read_po(handle, locale=language)
        for message in part:
            if not message.id or message.fuzzy or not _filled(message.string):
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            existing = merged.get(key, message.context)
            if existing is not None and existing.string != message.string:
                # The catalogue test fails on this; at run time the first file's text is kept.
                log.warning("two catalogue files translate one message differently: %s", path.name)
                continue
            merged.add(message.id, message.string, context=message.context)
    return merged


def _filled(string: object) -> bool:
    if isinstance(string, str):
        return bool(string)
    if isinstance(string, tuple | list):
        return all(string)
    return False


def compile_catalogue(catalog: Catalog) -> gettext.GNUTranslations:
    """Compile a Babel catalogue into a gettext lookup, in memory."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def load(directory: Path = LOCALES_DIR) -> dict[str, gettext.NullTranslations]:
    """Read every language's .po files now (at start) and use them from here on."""
    loaded: dict[str, gettext.NullTranslations] = {DEFAULT: gettext.NullTranslations()}
    for language in SUPPORTED:
        if language != DEFAULT:
            loaded[language] = compile_catalogue(
                merge_catalogues(language, po_files(language, directory))
            )
    with _lock:
        _catalogues.clear()
        _catalogues.update(loaded)
    return loaded


def catalogue(language: str) -> gettext.NullTranslations:
    """The lookup for a supported language, loading the catalogues on first use."""
    found = _catalogues.get(language)
    if found is None:
        found = load().get(language) or _catalogues[DEFAULT]
    return found


def gettext_in(language: str, message: str) -> str:
    """``message`` translated into ``language`` (the English msgid when it has no entry)."""
    if language == DEFAULT:
        return message
    return catalogue(language).gettext(message)


def ngettext_in(language: str, singular: str, plural: str, n: int) -> str:
    """The plural form of a message for ``n``, in ``language``."""
    if language == DEFAULT:
        return singular if n == 1 else plural
    return catalogue(language).ngettext(singular, plural, n)


def translation(language: str, message: str) -> str | None:
    """``language``'s own text for ``message``, or None when it has none (or is English)."""
    if language == DEFAULT:
        return None
    entries: dict[object, str] = getattr(catalogue(language), "_catalog", {})
    return entries.get(message)


def _(message: str) -> str:
    """``message`` (a string literal) in the current locale."""
    return gettext_in(current_locale.get(), message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The right plural form for ``n`` in the current locale (Spanish has three)."""
    return ngettext_in(current_locale.get(), singular, plural, n)


def N_(message: str) -> str:
    """Mark a module-level constant for extraction; translate it later with ``_(CONSTANT)``."""
    return message


@contextmanager
def use_locale(locale: object) -> Iterator[str]:
    """Render in ``locale`` (a Discord locale or language code) inside the block."""
    language = resolve(locale)
    token = current_locale.set(language)
    try:
        yield language
    finally:
        current_locale.reset(token)


def _render_params(params: Mapping[str, Any], language: str) -> dict[str, Any]:
    return {
        key: value.render(language) if isinstance(value, Msg | PluralMsg) else value
        for key, value in params.items()
    }


class Msg:
    """A message rendered later, in the locale current at render time (for services and errors).

    ``Msg("Meeting {title} is cancelled.", title=escape(title))``; parameters may be ``Msg`` too.
    With no parameters the text is used as is (braces need no doubling).
    """

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, /, **params: Any) -> None:
        self.msgid = msgid
        self.params = params

    @classmethod
    def of(cls, constant: str, /, **params: Any) -> Msg:
        """A lazy message of a constant marked with ``N_`` elsewhere (extraction saw it there)."""
        return cls(constant, **params)

    def render(self, locale: object = None) -> str:
        """The text in ``locale`` (default: the current locale)."""
        language = current_locale.get() if locale is None else resolve(locale)
        text = gettext_in(language, self.msgid)
        return text.format(**_render_params(self.params, language)) if self.params else text

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Msg({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Msg):
            return (self.msgid, self.params) == (other.msgid, other.params)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.msgid)


class PluralMsg:
    """A lazy plural message: ``PluralMsg("{count} meeting", "{count} meetings", n)``.

    ``count`` is also a parameter of the text; other parameters are passed by name.
    """

    __slots__ = ("count", "params", "plural", "singular")

    def __init__(self, singular: str, plural: str, count: int, /, **params: Any) -> None:
        self.singular = singular
        self.plural = plural
        self.count = count
        self.params = params

    def render(self, locale: object = None) -> str:
        """The right plural form in ``locale`` (default: the current locale)."""
        language = current_locale.get() if locale is None else resolve(locale)
        text = ngettext_in(language, self.singular, self.plural, self.count)
        return text.format(count=self.count, **_render_params(self.params, language))

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"PluralMsg({self.singular!r}, {self.plural!r}, {self.count!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PluralMsg):
            return (self.singular, self.plural, self.count, self.params) == (
                other.singular,
                other.plural,
                other.count,
                other.params,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.singular)


Text = str | Msg | PluralMsg


def render(text: Text, locale: object = None) -> str:
    """A plain string, or a lazy message rendered in ``locale`` (default: the current one)."""
    if isinstance(text, str):
        return text
    return text.render(locale)
