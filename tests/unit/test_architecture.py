"""Structure rules: the domain has no Discord imports; commands keep stable, unique names."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = [ROOT / "bot" / "services", ROOT / "bot" / "occurrences.py", ROOT / "bot" / "scheduler.py"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_domain_has_no_discord_imports() -> None:
    files = [p for d in DOMAIN for p in ([d] if d.is_file() else sorted(d.rglob("*.py")))]
    assert files
    offenders = [str(p.relative_to(ROOT)) for p in files if {"discord", "cogs"} & _imports(p)]
    assert offenders == []


def test_no_naive_now_in_code() -> None:
    for base in (ROOT / "bot", ROOT / "cogs"):
        for path in base.rglob("*.py"):
            text = path.read_text()
            assert "datetime.utcnow(" not in text, path
            assert "datetime.now()" not in text, path
