"""The PostgreSQL backend: an asyncpg pool, the same interface as SQLite's (``bot.db.base``).

Writes keep the in-process write lock, so one process's write semantics match SQLite's; several
processes rely on PostgreSQL's row locks and the unique keys. asyncpg is an optional extra
(``pip install haven-bot[postgres]``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.db.base import Database, Params, Row, Transaction, password_of
from bot.db.dialect import bind, to_postgres
from bot.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)

POOL_MIN = 2
POOL_MAX = 10
COMMAND_TIMEOUT_S = 60
# One bot process per PostgreSQL store until jobs carry per-shard leases (a session advisory lock).
INSTANCE_LOCK = 0x4856_4E49  # "HVNI"
_RETURNING = re.compile(r"\bRETURNING\b", re.I)


def _rowcount(status: str) -> int:
    """The row count in a command tag ('UPDATE 3', 'INSERT 0 1', 'DELETE 0')."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _unreachable(url: str, exc: BaseException) -> DatabaseUnavailableError:
    """The one-line error for a server that cannot be reached, without the URL's password."""
    return DatabaseUnavailableError(
        f"Cannot connect to PostgreSQL at {_safe_url(url)} ({type(exc).__name__}: "
        f"{_safe_message(exc, url)}): check DATABASE_URL and that the server is running."
    )


class _Queries:
    """Statements on one asyncpg connection or the pool (both have the same methods)."""

    dialect = "postgres"

    def __init__(self, target: Any) -> None:
        self._target = target

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the rowcount."""
        text, json_params = to_postgres(sql)
        status = await self._target.execute(text, *bind(params, json_params))
        return _rowcount(status)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """A query's every row."""
        text, json_params = to_postgres(sql)
        return list(await self._target.fetch(text, *bind(params, json_params)))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """A query's first row, or None."""
        text, json_params = to_postgres(sql)
        return await self._target.fetchrow(text, *bind(params, json_params))


class PostgresTransaction(_Queries, Transaction):
    """Statements inside PostgresDatabase.transaction(), on one pooled connection."""

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT into a table with an ``id`` key; return the new id (RETURNING id)."""
        if not _RETURNING.search(sql):
            sql = sql.rstrip().rstrip(";") + " RETURNING id"
        return int(await self.fetchval(sql, params) or 0)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        """Run a statement for each parameter set."""
        text, json_params = to_postgres(sql)
        await self._target.executemany(text, [bind(p, json_params) for p in seq])


class PostgresDatabase(_Queries, Database):
    """One asyncpg pool per process; writes serialised in-process like SQLite's."""

    def __init__(self, pool: Any, url: str) -> None:
        super().__init__(pool)
        self.pool = pool
        self.url = url
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._instance: Any = None  # the connection holding INSTANCE_LOCK

    @classmethod
    async def open(cls, target: Path | str) -> PostgresDatabase:
        """Connect a pool to the server a ``postgresql://`` URL names, or explain why not."""
        try:
            import asyncpg
        except ImportError:
            raise DatabaseUnavailableError(
                "DATABASE_URL names PostgreSQL but asyncpg is not installed: "
                "pip install 'haven-bot[postgres]'."
            ) from None
        url = str(target)
        try:
            pool = await asyncpg.create_pool(
                url, min_size=POOL_MIN, max_size=POOL_MAX, command_timeout=COMMAND_TIMEOUT_S
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise _unreachable(url, exc) from None
        return cls(pool, url)

    async def claim_instance(self) -> bool:
        """Hold a session advisory lock on a connection of its own for as long as the bot runs.

        The server drops the lock with the session, so a killed process frees it at once.
        """
        if self._instance is not None:
            return True
        import asyncpg

        try:
            conn = await asyncpg.connect(self.url, timeout=COMMAND_TIMEOUT_S)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise _unreachable(self.url, exc) from None
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", INSTANCE_LOCK):
            await conn.close()
            return False
        self._instance = conn
        return True

    async def close(self) -> None:
        """Close the pool (and release the instance lock); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._instance is not None:
            await self._instance.close()
            self._instance = None
        await self.pool.close()

    @property
    def closed(self) -> bool:
        """Whether close() has run."""
        return self._closed

    async def truncate_wal(self) -> bool:
        """Nothing to do: PostgreSQL has no secure_delete; VACUUM reclaims deleted tuples."""
        return True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction on one pooled connection, committed when the block ends."""
        async with self._write_lock, self.pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn)

    async def migrate(self, directory: Path | None = None) -> list[int]:
        """Apply pending PostgreSQL migrations once across processes (an advisory lock)."""
        from bot.db.migrate import PG_MIGRATIONS_DIR, apply_pg_migrations

        return await apply_pg_migrations(self, directory or PG_MIGRATIONS_DIR)

    async def tables(self) -> list[str]:
        """Names of the application's tables (in the current schema)."""
        rows = await self.fetchall(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
            "ORDER BY table_name"
        )
        return [r[0] for r in rows]

    async def columns(self, table: str) -> list[str]:
        """Column names of one table, in their declared order."""
        rows = await self.fetchall(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _safe_message(exc: BaseException, url: str) -> str:
    """An exception's text with the URL's password taken out."""
    text = str(exc)
    password = password_of(url)
    return text.replace(password, "***") if password else text
