"""Numbered SQL migrations (data/migrations/NNNN_name.sql): discovery and the runner."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from bot.db import Database

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MIGRATIONS_DIR = DATA_DIR / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


async def apply_migrations(db: Database, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply pending numbered migrations in order, each in one transaction."""
    await db.conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
    )
    applied = {r[0] for r in await db.fetchall("SELECT version FROM schema_migrations")}
    done: list[int] = []
    for version, path in discover_migrations(directory):
        if version in applied:
            continue
        script = path.read_text(encoding="utf-8")
        async with db._write_lock:
            try:
                await db.conn.executescript(
                    "BEGIN IMMEDIATE;\n"
                    + script
                    + f"\n;INSERT INTO schema_migrations(version, name) "  # noqa: S608
                    f"VALUES ({version}, '{path.stem}');\nCOMMIT;"
                )
            except sqlite3.Error as exc:
                if db.conn.in_transaction:
                    await db.conn.execute("ROLLBACK")
                raise DatabaseUnavailableError(
                    f"Migration {path.name} failed ({exc}); the database was left as it was."
                ) from None
        log.info("Applied migration %s", path.name)
        done.append(version)
    return done


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """Numbered migration files in order; a misnamed or duplicate number is an error."""
    found: dict[int, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise DatabaseUnavailableError(f"Migration file {path.name} is not named NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise DatabaseUnavailableError(f"Two migrations share number {version:04d}")
        found[version] = path
    return sorted(found.items())
