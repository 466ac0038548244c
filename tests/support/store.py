"""Where a test's Haven keeps its data, read from outside the bot on either backend.

A ``HavenStore`` is a SQLite file, or a PostgreSQL database when ``url`` is set (the e2e ``store``
fixture gives one per test). Tests use it to point a bot or a child process at the data and to
read it back the same way on both: ``query`` opens its own connection, as a second process would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.db import Database
from bot.db.dialect import bind, to_postgres
from tests.support import sqlite
from tests.support.traces import database_bytes


@dataclass(frozen=True)
class HavenStore:
    """A SQLite file (``path``), or a PostgreSQL database when ``url`` is set."""

    path: Path
    url: str | None = None

    @property
    def backend(self) -> str:
        """'postgres' or 'sqlite'."""
        return "postgres" if self.url else "sqlite"

    def settings(self) -> dict[str, Any]:
        """The settings (load_settings keywords) that point a bot at this store."""
        return {"database_path": self.path, "database_url": self.url}

    def environment(self) -> dict[str, str]:
        """The environment variables that point ``python -m bot`` at this store."""
        return {"DATABASE_PATH": str(self.path), "DATABASE_URL": self.url or ""}

    async def open(self) -> Database:
        """The store through Haven's own ``Database`` (migrate it yourself if it is new)."""
        return await Database.open(self.url or self.path)

    async def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Every row `sql` (Haven's dialect, ``?`` placeholders) returns, on a connection of its own."""
        if self.url is None:
            return sqlite.query(self.path, sql, params)
        import asyncpg

        text, json_params = to_postgres(sql)
        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(r) for r in await conn.fetch(text, *bind(params, json_params))]
        finally:
            await conn.close()

    async def count_while_running(self, sql: str, params: tuple[object, ...] = ()) -> int:
        """A COUNT(*) beside a running bot; -1 while SQLite's write lock holds (ask again)."""
        if self.url is None:
            return sqlite.count_while_running(self.path, sql, params)
        ((count,),) = await self.query(sql, params)
        return int(count)

    async def stored_bytes(self) -> bytes:
        """Everything the store holds that a copy of it would carry, as bytes to search.

        SQLite: the raw file and its write-ahead log, free pages included. PostgreSQL: every value
        of every row of every table (bytea raw, the rest as text), what pg_dump or a query sees.
        PostgreSQL has no secure_delete: dead tuples stay in its files and WAL until VACUUM, so
        there the rule is met by design (docs: scale-out risk 5), not by the bytes on disk.
        """
        if self.url is None:
            return database_bytes(self.path)
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            tables = await conn.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
            parts: list[bytes] = []
            for schema, table in tables:
                for row in await conn.fetch(f'SELECT * FROM "{schema}"."{table}"'):  # noqa: S608
                    for value in row.values():
                        if isinstance(value, bytes | bytearray | memoryview):
                            parts.append(bytes(value))
                        elif value is not None:
                            parts.append(str(value).encode())
            return b"\x00".join(parts)
        finally:
            await conn.close()

    async def integrity_problems(self) -> list[str]:
        """What the store's own checks find wrong: SQLite's integrity and foreign-key checks;
        on PostgreSQL (which enforces keys on every write) any constraint left unvalidated."""
        if self.url is None:
            problems = [str(r[0]) for r in sqlite.query(self.path, "PRAGMA integrity_check")]
            problems = [p for p in problems if p != "ok"]
            problems += [repr(r) for r in sqlite.query(self.path, "PRAGMA foreign_key_check")]
            return problems
        rows = await self.query(
            "SELECT conname FROM pg_constraint WHERE NOT convalidated "
            "AND connamespace = current_schema()::regnamespace"
        )
        return [f"constraint {r[0]} is not validated" for r in rows]

    async def sessions_left(self) -> int:
        """PostgreSQL: other sessions still connected to this database (0 after a clean exit)."""
        assert self.url is not None, "only a PostgreSQL store has sessions"
        ((count,),) = await self.query(
            "SELECT COUNT(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(count)
