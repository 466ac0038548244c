"""Catalogue tooling: which source files feed which .po file, extraction, and ``update``.

Each translation area owns one file, ``bot/locales/es/LC_MESSAGES/<area>.po``, so helpers and
translators of different features never edit the same file. ``python -m bot.i18n_tools update
[area ...]`` (``make i18n-update``) adds an area's new strings to its file untranslated, marks
changed ones fuzzy and drops ones no code uses; ``extract`` (``make i18n-extract``) writes the
whole template to var/i18n/haven.pot for tools such as Poedit. tests/unit/test_i18n_catalogue.py
checks every area.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "bot" / "locales"
TEMPLATE = ROOT / "var" / "i18n" / "haven.pot"

# The marking functions and which arguments are the English text (1-based; two for plurals).
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "N_": None,
    "_T": None,
    "Msg": None,
    "ngettext": (1, 2),
    "PluralMsg": (1, 2),
}

# Area -> the source files (globs from the repository root) whose strings its .po file holds.
AREAS: dict[str, tuple[str, ...]] = {
    "haven": (
        "bot/errors.py",
        "bot/i18n.py",
        "bot/i18n_format.py",
        "bot/occurrences.py",
        "bot/parsing.py",
        "bot/permissions.py",
        "bot/db/base.py",
        "bot/runtime/tree.py",
        "bot/services/guilds.py",
        "bot/services/privacy.py",
        "bot/models/guilds.py",
        "cogs/_kit/*.py",
        "cogs/help.py",
        "cogs/privacy.py",
        "cogs/crisis.py",
        "cogs/setup.py",
    ),
    "meetings": (
        "cogs/meetings/*.py",
        "bot/services/meetings.py",
        "bot/services/meeting_options.py",
        "bot/models/meetings.py",
    ),
    "rooms": (
        "cogs/rooms/*.py",
        "bot/services/rooms.py",
        "bot/services/room_windows.py",
        "bot/models/rooms.py",
    ),
    "resources": (
        "cogs/resources/*.py",
        "bot/services/resources.py",
        "bot/services/card_drafts.py",
        "bot/services/cards.py",
        "bot/services/shipped_cards.py",
        "bot/models/resources.py",
    ),
    "onboarding": (
        "cogs/onboarding/*.py",
        "bot/services/onboarding.py",
        "bot/models/onboarding.py",
    ),
    "reminders": ("cogs/reminders.py", "bot/services/reminders/*.py", "bot/models/reminders.py"),
    "attendance": ("cogs/attendance.py", "bot/services/attendance.py", "bot/models/attendance.py"),
    "modline": ("cogs/modline.py", "bot/services/modline.py", "bot/models/modline.py"),
    "admin": ("cogs/admin.py",),
    "feeds": (
        "cogs/feeds.py",
        "bot/services/feeds.py",
        "bot/services/meeting_guide.py",
        "bot/services/ics.py",
        "bot/runtime/feeds_http.py",
        "bot/models/feeds.py",
    ),
    "schedule": ("bot/services/schedule_*.py",),
}

# Files no person in a guild reads text from: operator logs, SQL, start-up errors, wiring. The
# catalogue test checks they mark nothing and hold no user-facing literal.
NO_USER_TEXT: tuple[str, ...] = (
    "bot/__init__.py",
    "bot/__main__.py",
    "bot/bus.py",
    "bot/clock.py",
    "bot/cluster.py",
    "bot/config.py",
    "bot/feeds.py",
    "bot/i18n_tools.py",
    "bot/jobs.py",
    "bot/keys.py",
    "bot/logging_setup.py",
    "bot/db/*.py",
    "bot/db/repositories/*.py",
    "bot/models/__init__.py",
    "bot/runtime/__init__.py",
    "bot/runtime/app.py",
    "bot/runtime/fleet.py",
    "bot/services/__init__.py",
    "cogs/__init__.py",
)


@dataclass(frozen=True, slots=True)
class Extracted:
    """One marked string: its English text (two for a plural), file and line."""

    msgid: str | tuple[str, str]
    path: str
    lineno: int

    @property
    def key(self) -> str:
        """The catalogue key (the singular for a plural)."""
        return self.msgid if isinstance(self.msgid, str) else self.msgid[0]


def source_files(root: Path = ROOT) -> list[str]:
    """Every Python file of the bot and the glue, relative to the root."""
    return sorted(
        p.relative_to(root).as_posix()
        for base in ("bot", "cogs")
        for p in (root / base).rglob("*.py")
        if "__pycache__" not in p.parts
    )


def _matches(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def area_of(path: str) -> str | None:
    """The area whose .po file holds ``path``'s strings; None for files with no user text."""
    for area, patterns in AREAS.items():
        if _matches(path, patterns):
            return area
    return None


def unassigned(root: Path = ROOT) -> list[str]:
    """Source files in neither an area nor the no-user-text list (each must be placed)."""
    return [
        path
        for path in source_files(root)
        if area_of(path) is None and not _matches(path, NO_USER_TEXT)
    ]


def files_of(area: str, root: Path = ROOT) -> list[str]:
    """The source files of one area."""
    return [path for path in source_files(root) if area_of(path) == area]


def extract(paths: Iterable[str], root: Path = ROOT) -> Iterator[Extracted]:
    """Every marked string literal in ``paths`` (non-literal arguments are skipped by Babel)."""
    for path in paths:
        found = extract_from_file("python", root / path, keywords=KEYWORDS, comment_tags=())
        for lineno, message, _comments, _context in found:
            if isinstance(message, tuple):
                yield Extracted((message[0], message[1]), path, lineno)
            else:
                yield Extracted(message, path, lineno)


def po_path(area: str, language: str = "es", locales: Path = LOCALES) -> Path:
    """Where an area's catalogue lives."""
    return locales / language / "LC_MESSAGES" / f"{area}.po"


def read_catalogue(path: Path, language: str = "es") -> Catalog:
    """One .po file (an empty catalogue when it does not exist yet)."""
    if not path.exists():
        return Catalog(locale=language, domain=path.stem)
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _template(messages: Iterable[Extracted], language: str = "es") -> Catalog:
    template = Catalog(locale=language, domain="haven")
    for item in messages:
        template.add(item.msgid, locations=[(item.path, 0)])
    return template


def _translated(catalog: Catalog) -> set[str]:
    return {
        key
        for message in catalog
        if message.id and not message.fuzzy and _filled(message)
        for key in [message.id if isinstance(message.id, str) else message.id[0]]
    }


def _filled(message: Message) -> bool:
    string = message.string
    return all(string) if isinstance(string, tuple | list) else bool(string)


def update(areas: Iterable[str], root: Path = ROOT, locales: Path = LOCALES) -> dict[str, int]:
    """Bring each area's .po file in line with the code; return how many entries need work."""
    everything = list(extract(source_files(root), root))
    used = {item.key for item in everything}
    by_key = {item.key: item for item in everything}
    todo: dict[str, int] = {}
    for area in areas:
        path = po_path(area, locales=locales)
        own = read_catalogue(path)
        elsewhere: set[str] = set()
        for other in sorted((locales / "es" / "LC_MESSAGES").glob("*.po")):
            if other != path:
                elsewhere |= _translated(read_catalogue(other))
        wanted = [item for item in extract(files_of(area, root), root) if item.key not in elsewhere]
        # Keep this file's entries other areas use (shared words live where first translated).
        keys = (m.id if isinstance(m.id, str) else m.id[0] for m in own if m.id)
        kept = [by_key[key] for key in keys if key in used]  # a string no code uses is dropped
        template = _template([*wanted, *kept])
        template.creation_date = own.creation_date  # no header churn on every run
        # No fuzzy guesses: a near match ("Default time zone" for "{rule} at {time} ({zone})")
        # costs a translator more than an empty entry.
        own.update(template, no_fuzzy_matching=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, own, width=100, include_lineno=False, ignore_obsolete=True)
        todo[area] = sum(1 for m in own if m.id and (m.fuzzy or not _filled(m)))
    return todo


def write_template(root: Path = ROOT, target: Path = TEMPLATE) -> int:
    """Write every marked string to one .pot file; return how many."""
    template = _template(extract(source_files(root), root))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        write_po(handle, template, width=100, include_lineno=False)
    return len(template)


def main(argv: list[str] | None = None) -> int:
    """``extract`` or ``update [area ...]`` from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bot.i18n_tools")
    parser.add_argument("action", choices=("extract", "update"))
    parser.add_argument("areas", nargs="*", help="areas to update (default: every area)")
    args = parser.parse_args(argv)
    if args.action == "extract":
        print(f"{write_template()} messages -> {TEMPLATE.relative_to(ROOT)}")
        return 0
    unknown = set(args.areas) - set(AREAS)
    if unknown:
        print(f"unknown areas: {', '.join(sorted(unknown))}; known: {', '.join(AREAS)}")
        return 2
    for area, count in update(args.areas or AREAS).items():
        print(f"{po_path(area).relative_to(ROOT)}: {count} to translate or review")
    return 0


if __name__ == "__main__":
    sys.exit(main())
