"""The PostgreSQL backend: an asyncpg pool, the same interface as SQLite's (``bot.db.base``).

Writes keep the in-process write lock, so one process's write semantics match SQLite's; several
processes rely on PostgreSQL's row locks and the unique keys. asyncpg is an optional extra
(``pip install haven-bot[postgres]``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
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
# Short queries only: JIT compiling never pays back, and a misestimate can cost more than the
# query (measured: 616 ms of JIT on a 236 ms reconcile read at 100,000 meetings).
SERVER_SETTINGS = {"jit": "off"}
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

    async def copy_rows(
        self,
        table: str,
        columns: Sequence[str],
        records: Sequence[tuple[Any, ...]],
        *,
        or_else: Callable[[], tuple[str, Params]],
    ) -> None:
        """COPY new rows into a table, PostgreSQL's fast bulk path; or_else if a key exists.

        The COPY runs under a savepoint: when a row meets a unique key another writer stored
        meanwhile, it is undone alone and the statement `or_else()` builds (an upsert of the
        same rows that keeps the rows already there) runs instead. Built only then: for 88,000
        rows it costs as much as the COPY's own encoding.
        """
        import asyncpg

        try:
            async with self._target.transaction():
                await self._target.copy_records_to_table(table, records=records, columns=columns)
        except asyncpg.UniqueViolationError:
            await self.execute(*or_else())


class PostgresDatabase(_Queries, Database):
    """One asyncpg pool per process; writes serialised in-process like SQLite's."""

    def __init__(self, pool: Any, url: str) -> None:
        super().__init__(pool)
        self.pool = pool
        self.url = url
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._sessions: set[PostgresSession] = set()

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
                url,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                command_timeout=COMMAND_TIMEOUT_S,
                server_settings=SERVER_SETTINGS,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise _unreachable(url, exc) from None
        return cls(pool, url)

    async def session(self) -> PostgresSession:
        """A connection of its own, outside the pool, for session locks and LISTEN.

        It is closed with the database at the latest; closing it releases its locks.
        """
        import asyncpg

        try:
            # No command timeout: waiting for a shard lock may take as long as its holder runs.
            conn = await asyncpg.connect(self.url, timeout=COMMAND_TIMEOUT_S, command_timeout=None)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise _unreachable(self.url, exc) from None
        session = PostgresSession(conn)
        self._sessions.add(session)
        conn.add_termination_listener(lambda _conn: self._sessions.discard(session))
        return session

    async def notify(self, channel: str, payload: str) -> None:
        """Send a NOTIFY to every session listening on `channel` (delivered at once, no commit)."""
        await self.pool.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def close(self) -> None:
        """Close the pool and every session (releasing their locks); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions):
            await session.close()
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


class PostgresSession:
    """One connection outside the pool: session advisory locks and LISTEN last as long as it does.

    The server drops the locks with the session, so a killed process frees them at once.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @property
    def alive(self) -> bool:
        """Whether the connection (and so every lock it holds) is still there."""
        return not self._conn.is_closed()

    async def try_lock(self, key: int) -> bool:
        """Take a session advisory lock if nobody holds it; False when another session does."""
        return bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", key))

    async def lock(self, key: int) -> None:
        """Take a session advisory lock, waiting as long as another session holds it."""
        await self._conn.execute("SELECT pg_advisory_lock($1)", key)

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call callback(payload) for every NOTIFY on `channel`."""

        def deliver(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            callback(payload)

        await self._conn.add_listener(channel, deliver)

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call callback() when the connection ends (closed, killed, or cut off)."""
        self._conn.add_termination_listener(lambda _conn: callback())

    async def close(self) -> None:
        """Close the connection, releasing its locks; safe to call twice."""
        if self._conn.is_closed():
            return
        try:
            await asyncio.wait_for(self._conn.close(), timeout=5)
        except (TimeoutError, OSError):
            self._conn.terminate()


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _safe_message(exc: BaseException, url: str) -> str:
    """An exception's text with the URL's password taken out."""
    text = str(exc)
    password = password_of(url)
    return text.replace(password, "***") if password else text
