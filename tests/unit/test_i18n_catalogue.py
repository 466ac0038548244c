"""Spanish is complete and faithful: every marked string translated, nothing dropped or broken.

Each check is a function that returns its problems, run per translation area on Haven (must find
none) and on a deliberately broken catalogue or source (must find the break). Run one area with
``pytest tests/unit/test_i18n_catalogue.py -k meetings``; areas are in bot/i18n_tools.py.
docs/translating.md explains the rules.
"""

from __future__ import annotations

import ast
import re
import string
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message

from bot import i18n_tools
from bot.i18n_tools import AREAS, ROOT, Extracted, extract, files_of, read_catalogue

LANGUAGE = "es"
NPLURALS = 3  # Babel 2.19 / CLDR: one, many ("1 millón de …"), other
TRANSLATORS = {"_", "N_", "_T", "Msg", "ngettext", "PluralMsg"}
LITERAL_ONLY = TRANSLATORS - {"_"}  # `_(CONSTANT)` may take an N_-marked constant
TRANSLATOR_IMPORTS = {"bot.i18n", "cogs._kit.i18n", "cogs._kit"}

# Discord's caps on what a string becomes (characters).
DESCRIPTION = 100  # command, group and option descriptions, choice names
BUTTON_LABEL = 80
TEXT_INPUT_LABEL = 45
MODAL_TITLE = 45
SELECT_OPTION = 100
PLACEHOLDER = 100
EMBED_TITLE = 256

# Where a literal becomes text a person reads: call name -> (positional indexes, keywords).
USER_TEXT: dict[str, tuple[tuple[int, ...], frozenset[str]]] = {
    "send_message": ((0,), frozenset({"content"})),
    "send": ((0,), frozenset({"content"})),
    "edit_message": ((), frozenset({"content"})),
    "edit_original_response": ((), frozenset({"content"})),
    "edit": ((), frozenset({"content"})),
    "reply_ephemeral": ((1,), frozenset({"content"})),
    "Embed": ((), frozenset({"title", "description"})),
    "add_field": ((), frozenset({"name", "value"})),
    "insert_field_at": ((), frozenset({"name", "value"})),
    "set_field_at": ((), frozenset({"name", "value"})),
    "set_footer": ((), frozenset({"text"})),
    "set_author": ((), frozenset({"name"})),
    "Button": ((), frozenset({"label"})),
    "button": ((), frozenset({"label"})),
    "TextInput": ((), frozenset({"label", "placeholder", "default"})),
    "Select": ((), frozenset({"placeholder"})),
    "select": ((), frozenset({"placeholder"})),
    "ChannelSelect": ((), frozenset({"placeholder"})),
    "RoleSelect": ((), frozenset({"placeholder"})),
    "UserSelect": ((), frozenset({"placeholder"})),
    "SelectOption": ((), frozenset({"label", "description"})),
    "Choice": ((0,), frozenset({"name", "label"})),
    "command": ((), frozenset({"description"})),
    "Group": ((), frozenset({"description"})),
    "describe": ((), frozenset({"*"})),
    "Modal": ((), frozenset({"title"})),
    "UserFacingError": ((0,), frozenset({"message"})),
    "NotFoundError": ((0,), frozenset({"message"})),
    "PermissionDeniedError": ((0,), frozenset({"message"})),
    "DatabaseBusyError": ((0,), frozenset({"message"})),
    "Refused": ((0,), frozenset({"message"})),
    "modlog_embed": ((0,), frozenset({"title"})),
    "ConfirmView": ((), frozenset({"cancel_label", "cancelled"})),
    "Pager": ((), frozenset({"prev_label", "next_label", "refusal"})),
}
CLASS_TEXT = frozenset({"label", "title", "description"})  # class X(..., label="...")
KEEP = "# i18n: keep"  # a line that deliberately stays as written (a brand, a code)

PLACEHOLDER_RE = string.Formatter()
MENTION = re.compile(r"<(?:@[!&]?|#|/)[^<>\s]*>|</[^<>]+>")
TIMESTAMP = re.compile(r"<t:[^<>]*>")
CODE = re.compile(r"`[^`]*`")
LINK_URL = re.compile(r"\]\(([^)]*)\)")
MARKUP = ("**", "__", "~~", "||", "```")


# --- reading --------------------------------------------------------------------------------------


def merged(po_files: Iterable[Path]) -> tuple[dict[str, Message], list[str]]:
    """Every entry of several .po files by key, and the disagreements between files."""
    entries: dict[str, Message] = {}
    where: dict[str, str] = {}
    problems = []
    for path in po_files:
        for message in read_catalogue(path, LANGUAGE):
            if not message.id:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            if key in entries:
                first = entries[key]
                if (first.id, first.string) != (message.id, message.string) and _usable(message):
                    problems.append(
                        f"{key!r}: {where[key]} and {path.name} translate it differently"
                    )
                if _usable(first) or not _usable(message):
                    continue
            entries[key] = message
            where[key] = path.name
    return entries, problems


def _usable(message: Message) -> bool:
    string_ = message.string
    filled = all(string_) if isinstance(string_, tuple | list) else bool(string_)
    return filled and not message.fuzzy


def shipped_po() -> list[Path]:
    """The committed Spanish catalogue files."""
    return sorted((ROOT / "bot" / "locales" / LANGUAGE / "LC_MESSAGES").glob("*.po"))


# --- the checks -----------------------------------------------------------------------------------


def _fields(text: str) -> Counter[str]:
    try:
        return Counter(name for _lit, name, _spec, _conv in PLACEHOLDER_RE.parse(text) if name)
    except ValueError:
        return Counter({"<unbalanced braces>": 1})


def _tokens(text: str) -> dict[str, Counter[str]]:
    return {
        "placeholders": _fields(text),
        "mentions": Counter(MENTION.findall(text)),
        "timestamps": Counter(TIMESTAMP.findall(text)),
        "code": Counter(CODE.findall(text)),
        "link targets": Counter(LINK_URL.findall(text)),
        "markdown": Counter({m: text.count(m) for m in MARKUP if m in text}),
    }


def faithful(source: str, translation: str) -> list[str]:
    """What the translation dropped, added or changed among the parts that must stay as written."""
    wanted, got = _tokens(source), _tokens(translation)
    return [
        f"{kind} {dict(wanted[kind])} became {dict(got[kind])}"
        for kind in wanted
        if wanted[kind] != got[kind]
    ]


def untranslated(messages: Iterable[Extracted], entries: dict[str, Message]) -> list[str]:
    """Marked strings without a usable Spanish text (missing, empty, fuzzy, a plural form short)."""
    problems = []
    for item in messages:
        entry = entries.get(item.key)
        where = f"{item.path}:{item.lineno} {item.key!r}"
        if entry is None:
            problems.append(f"{where}: no Spanish entry")
        elif entry.fuzzy:
            problems.append(f"{where}: fuzzy (review it, then remove the fuzzy flag)")
        elif isinstance(item.msgid, tuple) != isinstance(entry.id, tuple):
            problems.append(f"{where}: plural in one place, singular in the other")
        elif isinstance(item.msgid, tuple):
            forms = list(entry.string) if isinstance(entry.string, tuple | list) else []
            if entry.id != item.msgid:
                problems.append(f"{where}: plural text differs from the catalogue's")
            if len(forms) != NPLURALS or not all(forms):
                problems.append(f"{where}: needs {NPLURALS} plural forms, has {forms}")
        elif not entry.string:
            problems.append(f"{where}: empty translation")
    return problems


def unfaithful(messages: Iterable[Extracted], entries: dict[str, Message]) -> list[str]:
    """Translations that change placeholders, mentions, timestamps, code or markdown."""
    problems = []
    for item in messages:
        entry = entries.get(item.key)
        if entry is None or not entry.string:
            continue
        if isinstance(item.msgid, tuple) and isinstance(entry.string, tuple | list):
            pairs = [
                (item.msgid[0] if i == 0 else item.msgid[1], form)
                for i, form in enumerate(entry.string)
            ]
        elif isinstance(entry.string, str):
            pairs = [(item.key, entry.string)]
        else:
            continue
        for english, spanish in pairs:
            problems += [
                f"{item.path}:{item.lineno} {item.key!r}: {p}" for p in faithful(english, spanish)
            ]
    return problems


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _translator_calls(node: ast.AST) -> Iterator[ast.Call]:
    # Bare names only, as Babel extracts them (``catalogue.ngettext(...)`` is a lookup, not a mark).
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Name)
            and sub.func.id in TRANSLATORS
        ):
            yield sub


def _limit_for(call: str | None, keyword: str, in_class: bool) -> int | None:
    if keyword == "label":
        if call == "TextInput":
            return TEXT_INPUT_LABEL
        if call == "SelectOption":
            return SELECT_OPTION
        return BUTTON_LABEL
    if keyword == "placeholder":
        return PLACEHOLDER
    if keyword == "title":
        if in_class or call in {"Modal", "__init__"}:
            return MODAL_TITLE
        return EMBED_TITLE
    if keyword == "description" and call == "SelectOption":
        return SELECT_OPTION
    return None


def limits(paths: Iterable[str], root: Path = ROOT) -> dict[str, int]:
    """The tightest Discord cap each marked string meets where the code uses it."""
    found: dict[str, int] = {}

    def note(expr: ast.AST, cap: int | None) -> None:
        for call in _translator_calls(expr):
            first = call.args[0] if call.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                own = DESCRIPTION if _name(call.func) == "_T" else cap
                if own is not None:
                    found[first.value] = min(found.get(first.value, own), own)

    for path in paths:
        tree = ast.parse((root / path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                note(node, None)  # every _T, wherever it is
                for kw in node.keywords:
                    if kw.arg:
                        note(kw.value, _limit_for(_name(node.func), kw.arg, False))
            elif isinstance(node, ast.ClassDef):
                for kw in node.keywords:
                    if kw.arg:
                        note(kw.value, _limit_for(None, kw.arg, True))
    return found


def over_limits(caps: dict[str, int], entries: dict[str, Message]) -> list[str]:
    """Translations (and English texts) longer than Discord allows where they are used."""
    problems = []
    for key, cap in sorted(caps.items()):
        texts = [key]
        entry = entries.get(key)
        if entry is not None and entry.string:
            texts += (
                list(entry.string) if isinstance(entry.string, tuple | list) else [entry.string]
            )
        for text in texts:
            if len(text) > cap:
                problems.append(
                    f"{key!r}: {text!r} is {len(text)} characters, Discord allows {cap}"
                )
    return problems


def _literal_text(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(ch.isalpha() for ch in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(v, ast.Constant) and any(ch.isalpha() for ch in str(v.value))
            for v in node.values
        )
    return False


def _hardcoded_in(expr: ast.AST) -> Iterator[ast.AST]:
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id in TRANSLATORS
    ):
        return
    if _literal_text(expr):
        yield expr
        return
    if isinstance(expr, ast.JoinedStr):  # only the values: a format spec (":%Y-%m-%d") is no text
        for part in expr.values:
            if isinstance(part, ast.FormattedValue):
                yield from _hardcoded_in(part.value)
        return
    for child in ast.iter_child_nodes(expr):
        yield from _hardcoded_in(child)


def hardcoded(paths: Iterable[str], root: Path = ROOT) -> list[str]:
    """English literals where a person reads them that no translation function wraps."""
    problems = []
    for path in paths:
        source = (root / path).read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            exprs: list[ast.AST] = []
            if isinstance(node, ast.Call):  # what /privacy info lists, wherever it is registered
                exprs += [kw.value for kw in node.keywords if kw.arg == "purpose"]
            if isinstance(node, ast.Call) and _name(node.func) in USER_TEXT:
                positions, keywords = USER_TEXT[_name(node.func) or ""]
                exprs += [node.args[i] for i in positions if i < len(node.args)]
                exprs += [
                    kw.value
                    for kw in node.keywords
                    if kw.arg and (kw.arg in keywords or "*" in keywords)
                ]
            elif isinstance(node, ast.ClassDef):
                exprs += [kw.value for kw in node.keywords if kw.arg in CLASS_TEXT]
            for expr in exprs:
                for literal in _hardcoded_in(expr):
                    line = lines[literal.lineno - 1]
                    if KEEP not in line:
                        text = ast.get_source_segment(source, literal) or ""
                        problems.append(f"{path}:{literal.lineno}: {text[:70]}")
    return sorted(set(problems), key=lambda p: (p.split(":")[0], int(p.split(":")[1])))


def _imports_translator(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module in TRANSLATOR_IMPORTS
        and any(alias.name == "_" and alias.asname is None for alias in node.names)
        for node in ast.walk(tree)
    )


def computed(paths: Iterable[str], root: Path = ROOT) -> list[str]:
    """Marked texts extraction cannot read (f-strings, .format, +, %) and rebindings of ``_``."""
    problems = []
    for path in paths:
        tree = ast.parse((root / path).read_text())
        for call in _translator_calls(tree):
            name = _name(call.func)
            count = 2 if name in {"ngettext", "PluralMsg"} else 1
            for arg in call.args[:count]:
                literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                constant = isinstance(arg, ast.Name | ast.Attribute | ast.Subscript)
                if not literal and not (name == "_" and constant):
                    problems.append(
                        f"{path}:{call.lineno}: {name}() needs a string literal, got "
                        f"{type(arg).__name__} (put values in {{placeholders}} after it)"
                    )
        if _imports_translator(tree):
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Name)
                    and node.id == "_"
                    and isinstance(node.ctx, ast.Store)
                ):
                    problems.append(f"{path}:{node.lineno}: `_` is rebound, hiding the translator")
                if isinstance(node, ast.arg) and node.arg == "_":
                    problems.append(
                        f"{path}:{node.lineno}: a parameter named `_` hides the translator"
                    )
    return problems


def stale(entries: dict[str, Message], used: set[str]) -> list[str]:
    """Catalogue entries no code marks any more (the English changed or the text went away)."""
    return sorted(f"{key!r}" for key in entries if key not in used)


# --- Haven's catalogue, per area ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> dict[str, Message]:
    """The committed Spanish entries, merged."""
    entries, _disagreements = merged(shipped_po())
    return entries


@pytest.mark.parametrize("area", sorted(AREAS))
def test_every_marked_string_has_spanish(area: str, shipped: dict[str, Message]) -> None:
    problems = untranslated(extract(files_of(area)), shipped)
    assert not problems, f"{len(problems)} untranslated in area {area}:\n" + "\n".join(problems)


@pytest.mark.parametrize("area", sorted(AREAS))
def test_translations_keep_placeholders_mentions_timestamps_and_markdown(
    area: str, shipped: dict[str, Message]
) -> None:
    problems = unfaithful(extract(files_of(area)), shipped)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("area", sorted(AREAS))
def test_texts_fit_discords_limits(area: str, shipped: dict[str, Message]) -> None:
    problems = over_limits(limits(files_of(area)), shipped)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("area", sorted(AREAS))
def test_no_user_text_is_left_unmarked(area: str) -> None:
    problems = hardcoded(files_of(area))
    assert not problems, (
        f"{len(problems)} English texts in area {area} are not marked for translation "
        f"(wrap them in _(), _T() or Msg(); see docs/translating.md):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("area", sorted(AREAS))
def test_marked_texts_are_literals_and_underscore_is_not_rebound(area: str) -> None:
    problems = computed(files_of(area))
    assert not problems, "\n".join(problems)


def test_every_source_file_belongs_to_an_area_or_has_no_user_text() -> None:
    assert i18n_tools.unassigned() == []


def test_files_without_user_text_mark_and_show_nothing() -> None:
    quiet = [p for p in i18n_tools.source_files() if i18n_tools.area_of(p) is None]
    marked = [f"{m.path}:{m.lineno} {m.key!r}" for m in extract(quiet)]
    assert marked == [], "these files are listed as having no user text"
    assert hardcoded(quiet) == []


def test_catalogue_files_agree_and_hold_nothing_stale() -> None:
    entries, disagreements = merged(shipped_po())
    assert disagreements == []
    used = {m.key for m in extract(i18n_tools.source_files())}
    assert stale(entries, used) == [], "remove these entries (make i18n-update does it)"


# --- the checks catch what they must (a broken catalogue, a broken source) -----------------------


def _entries(*messages: Message) -> dict[str, Message]:
    catalog = Catalog(locale=LANGUAGE)
    for message in messages:
        catalog[message.id] = message
    return {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}


def _marked(*msgids: str | tuple[str, str]) -> list[Extracted]:
    return [Extracted(m, "cogs/x.py", n) for n, m in enumerate(msgids, 1)]


def test_a_missing_empty_or_fuzzy_translation_is_caught() -> None:
    entries = _entries(
        Message("Empty", ""),
        Message("Fuzzy", "Difuso", flags={"fuzzy"}),
        Message("Fine", "Bien"),
    )
    problems = untranslated(_marked("Missing", "Empty", "Fuzzy", "Fine"), entries)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "no Spanish entry",
        "empty translation",
        "fuzzy (review it, then remove the fuzzy flag)",
    ]


def test_a_plural_needs_all_three_spanish_forms() -> None:
    plural = ("{count} meeting", "{count} meetings")
    two = _entries(Message(plural, ("{count} reunión", "{count} reuniones")))
    assert untranslated(_marked(plural), two)
    blank = _entries(Message(plural, ("{count} reunión", "", "{count} reuniones")))
    assert untranslated(_marked(plural), blank)
    full = _entries(
        Message(plural, ("{count} reunión", "{count} de reuniones", "{count} reuniones"))
    )
    assert untranslated(_marked(plural), full) == []


@pytest.mark.parametrize(
    ("english", "broken"),
    [
        ("Welcome, {name}.", "Bienvenida, {nombre}."),
        ("Welcome, {name}.", "Bienvenida."),
        ("Ask <@{user_id}> in <#{channel_id}>.", "Pregunta en <#{channel_id}>."),
        ("Ping <@&{role_id}>.", "Avisa a <@{role_id}>."),
        ("Starts <t:{start}:R>.", "Empieza pronto."),
        ("Starts <t:{start}:R>.", "Empieza <t:{start}:F>."),
        ("Use `/crisis` now.", "Usa `/crisis-es` ahora."),
        ("**Cancelled**: {title}", "Cancelada: {title}"),
        ("||{spoiler}||", "{spoiler}"),
        ("See [the guide](https://example.org/g).", "Mira [la guía](https://example.org/x)."),
        ("{count} left", "{count quedan"),
    ],
)
def test_a_translation_that_breaks_a_protected_part_is_caught(english: str, broken: str) -> None:
    assert faithful(english, broken)
    assert unfaithful(_marked(english), _entries(Message(english, broken)))


def test_a_faithful_translation_passes() -> None:
    english = "**{title}** starts <t:{start}:R> in <#{channel_id}>; use `/remind me`."
    spanish = "**{title}** empieza <t:{start}:R> en <#{channel_id}>; usa `/remind me`."
    assert faithful(english, spanish) == []


def test_two_files_translating_one_message_differently_are_caught(tmp_path: Path) -> None:
    header = 'msgid ""\nmsgstr ""\n"Language: es\\n"\n\n'
    (tmp_path / "a.po").write_text(header + 'msgid "Cancel"\nmsgstr "Cancelar"\n')
    (tmp_path / "b.po").write_text(header + 'msgid "Cancel"\nmsgstr "Anular"\n')
    (tmp_path / "c.po").write_text(header + 'msgid "Cancel"\nmsgstr "Cancelar"\n')
    _entries_, problems = merged(sorted(tmp_path.glob("*.po")))
    assert problems == ["'Cancel': a.po and b.po translate it differently"]


def test_a_stale_entry_is_caught() -> None:
    assert stale(_entries(Message("Old text", "Texto viejo")), {"New text"}) == ["'Old text'"]


def test_over_long_descriptions_and_labels_are_caught(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text(
        "from cogs._kit.i18n import _, _T\n"
        "import discord\n"
        "D = _T('Describe it')\n"
        "b = discord.ui.Button(label=_('Press'))\n"
        "e = discord.Embed(title=_('Title'))\n"
    )
    caps = limits(["c.py"], tmp_path)
    assert caps == {"Describe it": DESCRIPTION, "Press": BUTTON_LABEL, "Title": EMBED_TITLE}
    entries = _entries(
        Message("Describe it", "x" * 101), Message("Press", "y" * 81), Message("Title", "Título")
    )
    problems = over_limits(caps, entries)
    assert len(problems) == 2 and "101 characters" in problems[0] and "81" in problems[1]


def test_unmarked_and_computed_texts_are_caught(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text(
        "from cogs._kit.i18n import _, _T, Msg\n"
        "async def f(i, name, n):\n"
        "    await i.response.send_message('Hello there', ephemeral=True)\n"
        "    await i.response.send_message(_('Fine {name}').format(name=name))\n"
        "    await i.followup.send(content=f'Hi {name}')\n"
        "    raise UserFacingError('No such meeting.')\n"
        "    x = _(f'Hi {name}')\n"
        "    y = Msg('Hi ' + name)\n"
        "    z = _('Hi {n}'.format(n=n))\n"
        "    ok = _(LABELS[n])\n"
        "    for _ in range(3):\n"
        "        pass\n"
        "    brand = discord.Embed(title='Haven')  # i18n: keep\n"
        "class B(PersistentButton, prefix='p', fields={}, label='Check in'):\n"
        "    pass\n"
    )
    assert sorted(int(p.split(":")[1]) for p in hardcoded(["c.py"], tmp_path)) == [3, 5, 6, 14]
    assert sorted(int(p.split(":")[1]) for p in computed(["c.py"], tmp_path)) == [7, 8, 9, 11]


def test_update_drops_a_string_no_code_uses_any_more(tmp_path: Path) -> None:
    """Changing an English text leaves its old entry behind: update must drop it, not crash."""
    (tmp_path / "cogs").mkdir()
    (tmp_path / "bot").mkdir()
    (tmp_path / "cogs" / "admin.py").write_text('from bot.i18n import _\n\nTEXT = _("Hello")\n')
    po = tmp_path / "locales" / "es" / "LC_MESSAGES" / "admin.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n\nmsgid "Gone"\nmsgstr "Ido"\n', encoding="utf-8")
    todo = i18n_tools.update(["admin"], root=tmp_path, locales=tmp_path / "locales")
    assert todo == {"admin": 1}
    text = po.read_text(encoding="utf-8")
    assert 'msgid "Hello"' in text and "Gone" not in text
