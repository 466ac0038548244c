"""The layers' rules, read from the code: Glue (cogs) -> Core (bot/services) -> Store (bot/db).

Each rule is a function over a source tree that returns its violations, so the same rule is run on
Haven (must find none) and on a small tree with one deliberate break (must find it): a rule that
cannot fail would guard nothing. docs/architecture.md explains the rules.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# An SQL statement as Haven writes them: an upper-case keyword followed by its clause.
SQL = re.compile(
    r"^\s*(SELECT\b.*\bFROM\b|SELECT\s+\d|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b"
    r"|DELETE\s+FROM\b|CREATE\s+(TABLE|INDEX|UNIQUE|TRIGGER|VIEW)\b|PRAGMA\s+\w+|WITH\s+\w+"
    r"(\s*\([^)]*\))?\s+AS\b|REPLACE\s+INTO\b|VACUUM\b|DROP\s+\w+)",
    re.S,
)
COG_LIMIT = 450  # lines of a cog module
COG_PY_LIMIT = 400  # lines of a feature package's cog.py
SERVICE_LIMIT = 650  # lines of a service module
FORBIDDEN_IN_COGS = (".transaction(", "jobs.register(", "jobs.add(", "add_reconciler(", "get_cog(")

Violations = list[str]


def _py(root: Path, *parts: str) -> Iterator[Path]:
    base = root.joinpath(*parts)
    if base.is_file():
        yield base
    elif base.is_dir():
        yield from sorted(base.rglob("*.py"))


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _modules(path: Path) -> set[str]:
    """Every module a file imports, dotted (``from a.b import c`` gives a.b and a.b.c)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            yield node.lineno, str(text)


# --- the rules ----------------------------------------------------------------------------------


def network_only_in_runtime(root: Path) -> Violations:
    """1. Under bot/, only bot/runtime/ and bot/__main__.py import discord or aiohttp; none cogs."""
    out = []
    for path in _py(root, "bot"):
        rel = _rel(root, path)
        in_runtime = rel.startswith("bot/runtime/") or rel == "bot/__main__.py"
        for name in _modules(path):
            network = _under(name, "discord", "aiohttp") and not in_runtime
            if network or _under(name, "cogs"):
                out.append(f"{rel} imports {name}")
    return out


def sql_only_in_store(root: Path) -> Violations:
    """2. SQL literals only in bot/db/** and bot/jobs.py; repositories import only the store."""
    out = []
    for base in ("bot", "cogs"):
        for path in _py(root, base):
            rel = _rel(root, path)
            if rel.startswith("bot/db/") or rel == "bot/jobs.py":
                continue
            out += [f"{rel}:{line} SQL" for line, text in _strings(path) if SQL.match(text)]
    for path in _py(root, "bot", "db", "repositories"):
        for name in _modules(path):
            if _under(name, "bot") and not _under(name, "bot.db", "bot.models", "bot.clock"):
                out.append(f"{_rel(root, path)} imports {name}")
    return out


def models_are_leaves(root: Path) -> Violations:
    """3. bot/models/* import only the standard library, bot.occurrences, bot.i18n, bot.models."""
    out = []
    for path in _py(root, "bot", "models"):
        for name in _modules(path):
            outside = name.split(".")[0] in ("bot", "cogs", "discord", "aiohttp", "aiosqlite")
            if outside and not _under(name, "bot.models", "bot.occurrences", "bot.i18n"):
                out.append(f"{_rel(root, path)} imports {name}")
    return out


def cogs_are_glue(root: Path) -> Violations:
    """4. Cogs never import the store or repositories, nor open transactions, jobs or get_cog."""
    out = []
    for path in _py(root, "cogs"):
        rel = _rel(root, path)
        out += [f"{rel} imports {n}" for n in _modules(path) if _under(n, "bot.db")]
        text = path.read_text()
        out += [f"{rel} calls {call}" for call in FORBIDDEN_IN_COGS if call in text]
    return out


def services_never_import_glue(root: Path) -> Violations:
    """4b. Services never import cogs or the runtime."""
    out = []
    for path in _py(root, "bot", "services"):
        for name in _modules(path):
            if _under(name, "cogs", "bot.runtime"):
                out.append(f"{_rel(root, path)} imports {name}")
    return out


def buttons_take_one_path(root: Path) -> Violations:
    """5. Every DynamicItem derives from cogs._kit.ui.PersistentButton."""
    out = []
    for path in _py(root, "cogs"):
        rel = _rel(root, path)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [ast.unparse(b) for b in node.bases]
            if any("DynamicItem" in b for b in bases) and rel != "cogs/_kit/ui.py":
                out.append(f"{rel}:{node.lineno} {node.name} is a bare DynamicItem")
    return out


def sizes_within_limits(root: Path) -> Violations:
    """6. A cog module <= 450 lines, a package's cog.py <= 400, a service module <= 650."""
    out = []
    for path in _py(root, "cogs"):
        rel = _rel(root, path)
        limit = COG_PY_LIMIT if path.name == "cog.py" else COG_LIMIT
        lines = len(path.read_text().splitlines())
        if lines > limit:
            out.append(f"{rel}: {lines} lines > {limit}")
    for path in _py(root, "bot", "services"):
        lines = len(path.read_text().splitlines())
        if lines > SERVICE_LIMIT:
            out.append(f"{_rel(root, path)}: {lines} lines > {SERVICE_LIMIT}")
    return out


def no_naive_now(root: Path) -> Violations:
    """7. No datetime.now() without a zone and no utcnow(): time comes from the injected clock."""
    out = []
    for base in ("bot", "cogs"):
        for path in _py(root, base):
            text = path.read_text()
            for bad in ("datetime.utcnow(", "datetime.now()"):
                if bad in text:
                    out.append(f"{_rel(root, path)} uses {bad}")
    return out


RULES: list[Callable[[Path], Violations]] = [
    network_only_in_runtime,
    sql_only_in_store,
    models_are_leaves,
    cogs_are_glue,
    services_never_import_glue,
    buttons_take_one_path,
    sizes_within_limits,
    no_naive_now,
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_haven_keeps_the_rule(rule: Callable[[Path], Violations]) -> None:
    assert rule(ROOT) == []


# One deliberate break per rule, in a small tree that is otherwise clean.
BREAKS: dict[str, dict[str, str]] = {
    "network_only_in_runtime": {"bot/services/x.py": "import discord\n"},
    "sql_only_in_store": {
        "bot/services/x.py": 'Q = "SELECT id FROM meetings WHERE guild_id = ?"\n',
        "bot/db/repositories/y.py": "from bot.services import meetings\n",
    },
    "models_are_leaves": {"bot/models/x.py": "from bot.db import Database\n"},
    "cogs_are_glue": {
        "cogs/x.py": "from bot.db.repositories import rooms\n",
        "cogs/y.py": "async def f(db):\n    async with db.transaction() as tx:\n        pass\n",
    },
    "services_never_import_glue": {"bot/services/x.py": "from cogs._kit import escape\n"},
    "buttons_take_one_path": {
        "cogs/x.py": "import discord\nclass B(discord.ui.DynamicItem, template='x'):\n    pass\n"
    },
    "sizes_within_limits": {"bot/services/x.py": "x = 1\n" * (SERVICE_LIMIT + 1)},
    "no_naive_now": {"bot/x.py": "from datetime import datetime\nt = datetime.now()\n"},
}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_each_rule_catches_a_deliberate_break(
    rule: Callable[[Path], Violations], tmp_path: Path
) -> None:
    clean = {"bot/__init__.py": "", "bot/db/__init__.py": 'Q = "SELECT 1 FROM t"\n'}
    for rel, text in clean.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert rule(tmp_path) == []
    breaks = BREAKS[rule.__name__]
    for rel, text in breaks.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = rule(tmp_path)
    assert len(found) >= len(breaks), found
