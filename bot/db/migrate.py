"""Numbered SQL migrations: discovery and the runners.

SQLite's are data/migrations/NNNN_name.sql; PostgreSQL's twins, with the same tables, columns and
unique keys in PostgreSQL's types, are data/migrations/postgres/NNNN_name.sql.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from bot.db.postgres import PostgresDatabase
    from bot.db.sqlite import SqliteDatabase

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MIGRATIONS_DIR = DATA_DIR / "migrations"
PG_MIGRATIONS_DIR = MIGRATIONS_DIR / "postgres"
# Any fixed number: every Haven process migrating the same database takes this one lock.
MIGRATION_LOCK_KEY = 0x4856_4D49  # "HVMI"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


async def apply_migrations(db: SqliteDatabase, directory: Path = MIGRATIONS_DIR) -> list[int]:
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


async def apply_pg_migrations(
    db: PostgresDatabase, directory: Path = PG_MIGRATIONS_DIR
) -> list[int]:
    """Apply pending PostgreSQL migrations, each in one transaction, once across processes.

    A session advisory lock serialises processes starting together: the first applies every
    file, the others wait for it and then find nothing left to do.
    """
    import asyncpg

    done: list[int] = []
    async with db.pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version BIGINT PRIMARY KEY, name TEXT NOT NULL,"
                ' applied_at TEXT COLLATE "C" NOT NULL'
                " DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
            )
            applied = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, path in discover_migrations(directory):
                if version in applied:
                    continue
                script = path.read_text(encoding="utf-8")
                try:
                    async with conn.transaction():
                        await conn.execute(script)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            version,
                            path.stem,
                        )
                except asyncpg.PostgresError as exc:
                    raise DatabaseUnavailableError(
                        f"Migration {path.name} failed ({exc}); the database was left as it was."
                    ) from None
                log.info("Applied migration %s", path.name)
                done.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
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
