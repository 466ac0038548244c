"""The store's interface: what services and repositories call, the same on every backend.

``bot.db.sqlite`` (the default, one embedded file) and ``bot.db.postgres`` (several processes on
one server) implement it. SQL is written once with ``?`` placeholders; a backend translates the
few forms that differ (``bot.db.dialect``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from bot.errors import UserFacingError
from bot.i18n import Msg

Params = Sequence[Any] | dict[str, Any]
# aiosqlite.Row or asyncpg.Record: both index by position and by column name.
Row = Any


class DatabaseBusyError(UserFacingError):
    """The database stayed locked after retries."""

    def __init__(self) -> None:
        super().__init__(
            Msg("Haven's database is busy right now. Nothing was changed; please try again.")
        )


def is_postgres_url(target: object) -> bool:
    """Whether a DATABASE_URL names a PostgreSQL server."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def password_of(url: str) -> str | None:
    """The password inside a database URL, if any (to register as a log secret)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


class Transaction:
    """Statements inside Database.transaction()."""

    dialect: str = "sqlite"

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the rowcount."""
        raise NotImplementedError

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT into a table with an ``id`` key; return the new id."""
        raise NotImplementedError

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        """Run a statement for each parameter set."""
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """A query inside the transaction."""
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """A single-row query inside the transaction."""
        raise NotImplementedError

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row inside the transaction, or None."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


class Database:
    """The store: reads, write transactions, migrations and schema introspection."""

    dialect: str = "sqlite"

    @classmethod
    async def open(cls, target: Path | str) -> Database:
        """Open the store a DATABASE_PATH (SQLite) or a ``postgresql://`` URL names."""
        if is_postgres_url(target):
            from bot.db.postgres import PostgresDatabase

            return await PostgresDatabase.open(str(target))
        from bot.db.sqlite import SqliteDatabase

        return await SqliteDatabase.open(target)

    async def close(self) -> None:
        """Close the store; safe to call twice."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """Whether close() has run."""
        raise NotImplementedError

    async def truncate_wal(self) -> bool:
        """After deleting personal data: make sure no copy stays in a log the backend controls."""
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row."""
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return the first row, or None."""
        raise NotImplementedError

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """Run a query and return the first column of the first row, or None."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One write transaction, committed when the block ends and rolled back on error."""
        raise NotImplementedError

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement in its own transaction; return the rowcount."""
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def migrate(self, directory: Path | None = None) -> list[int]:
        """Apply pending numbered migrations in order, each in one transaction."""
        raise NotImplementedError

    async def tables(self) -> list[str]:
        """Names of the application's tables."""
        raise NotImplementedError

    async def columns(self, table: str) -> list[str]:
        """Column names of one table."""
        raise NotImplementedError


class Reader(Protocol):
    """What a repository's read needs: the Database itself or an open Transaction."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query."""
        ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        ...

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None."""
        ...
