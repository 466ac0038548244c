"""The SQLite backend: one aiosqlite connection, WAL, foreign keys, transactions."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from bot.db.base import Database, DatabaseBusyError, Params, Row, Transaction
from bot.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)


# Another process (a backup, the sqlite3 shell) may hold the write lock. A slash command must be
# answered within 3 s, so a write waits for it twice (1 s in SQLite's busy handler each, with a
# short pause between), about 2.1 s in all, then the user is told nothing changed.
BUSY_TIMEOUT_MS = 1000
BUSY_RETRIES = 1
# A checkpoint after a deletion waits this long for another process's reader, so forget-me is
# still answered in time; when it gives up, the next committed write tries again.
CHECKPOINT_BUSY_TIMEOUT_MS = 250


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


class SqliteDatabase(Database):
    """A single connection shared by the whole bot; writes are serialised by a lock."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._wal_holds_deleted = False

    @classmethod
    async def open(cls, path: Path | str) -> SqliteDatabase:
        """Open (creating folders as needed) and configure the database, or explain why not."""
        path = Path(path)
        if str(path) != ":memory:":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailableError(
                    f"Cannot create the database folder {path.parent} ({exc.strerror}): "
                    "set DATABASE_PATH to a writable location."
                ) from None
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise DatabaseUnavailableError(
                f"Cannot open the database {path} ({exc}): check DATABASE_PATH and its permissions."
            ) from None
        conn.row_factory = aiosqlite.Row
        try:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys = ON")
            cur = await conn.execute("PRAGMA journal_mode = WAL")
            await cur.fetchone()
            await conn.execute("PRAGMA synchronous = NORMAL")
            # Deleted rows and freed pages are overwritten with zeros instead of left in place
            # (some SQLite builds do this by default, others do not).
            await conn.execute("PRAGMA secure_delete = ON")
            # Touch the schema so a file that is not a database fails here, not later.
            await (await conn.execute("SELECT count(*) FROM sqlite_master")).fetchone()
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise DatabaseUnavailableError(
                f"The file {path} is not a usable SQLite database ({exc}): "
                "restore it from a backup or point DATABASE_PATH at a new file."
            ) from None
        return cls(conn, path)

    async def close(self) -> None:
        """Checkpoint the WAL and close the connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            log.warning("WAL checkpoint at close failed", exc_info=True)
        await self.conn.close()

    async def truncate_wal(self) -> bool:
        """After deleting personal data: copy the WAL into the file and cut the WAL to 0 bytes.

        secure_delete zeroes a deleted row in its page, but the WAL still holds every earlier
        copy of that page until a checkpoint copies the zeroed page back and the log is reset.
        Returns False (and never raises) when another process's reader or writer kept the
        checkpoint from completing; it is then retried after the next committed write.
        """
        if self._closed:
            return False
        async with self._write_lock:
            return await self._checkpoint_truncate(retry=False)

    async def _checkpoint_truncate(self, *, retry: bool) -> bool:
        """Run the TRUNCATE checkpoint; the caller holds the write lock."""
        row: Any = None
        try:
            await self.conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_TIMEOUT_MS}")
            try:
                async with self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
                    row = await cur.fetchone()
            finally:
                await self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            reason = type(exc).__name__
        else:
            reason = "another connection is reading or writing"
        done = row is not None and row[0] == 0
        if done:
            if retry:
                log.info("the delayed WAL checkpoint completed")
        else:
            # Repeated retries while a long backup reads would flood the log at WARNING.
            log.log(
                logging.DEBUG if retry else logging.WARNING,
                "could not checkpoint the WAL after a deletion (%s); deleted data stays in the "
                "-wal file until the next write retries it",
                reason,
            )
        self._wal_holds_deleted = not done
        return done

    @property
    def closed(self) -> bool:
        """Whether close() has run."""
        return self._closed

    # -- reads ---------------------------------------------------------------

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row."""
        cur = await self._retrying(sql, params)
        rows = await cur.fetchall()
        await cur.close()
        return list(rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return the first row, or None."""
        cur = await self._retrying(sql, params)
        row = await cur.fetchone()
        await cur.close()
        return row

    async def _retrying(self, sql: str, params: Params) -> aiosqlite.Cursor:
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return await self.conn.execute(sql, params)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == BUSY_RETRIES:
                    if _is_busy(exc):
                        raise DatabaseBusyError() from exc
                    raise
                await asyncio.sleep(0.05 * (2**attempt) + random.random() * 0.05)
        raise AssertionError("unreachable")

    # -- writes --------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), retried on a busy database."""
        async with self._write_lock:
            for attempt in range(BUSY_RETRIES + 1):
                try:
                    await self.conn.execute("BEGIN IMMEDIATE")
                    break
                except asyncio.CancelledError:
                    # The BEGIN runs on the database thread all the same: end what it opened,
                    # or the connection stays in a transaction (close cannot checkpoint).
                    with suppress(sqlite3.Error):
                        await self.conn.execute("ROLLBACK")
                    raise
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    if attempt == BUSY_RETRIES:
                        log.warning("the database stayed locked by another process; gave up")
                        raise DatabaseBusyError() from exc
                    log.warning("the database is locked by another process; retrying")
                    await asyncio.sleep(0.05 * (2**attempt) + random.random() * 0.05)
            tx = SqliteTransaction(self.conn)
            try:
                yield tx
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                try:
                    await self.conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    await self.conn.execute("ROLLBACK")
                    if _is_busy(exc):
                        raise DatabaseBusyError() from exc
                    raise
                if self._wal_holds_deleted:
                    await self._checkpoint_truncate(retry=True)

    # -- schema --------------------------------------------------------------

    async def migrate(self, directory: Path | None = None) -> list[int]:
        """Apply pending numbered migrations in order, each in one transaction."""
        from bot.db.migrate import MIGRATIONS_DIR, apply_migrations

        return await apply_migrations(self, directory or MIGRATIONS_DIR)

    async def tables(self) -> list[str]:
        """Names of the application's tables."""
        rows = await self.fetchall(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
        return [r[0] for r in rows]

    async def columns(self, table: str) -> list[str]:
        """Column names of one table."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
            raise ValueError(table)
        rows = await self.fetchall(f"PRAGMA table_info({table})")
        return [r[1] for r in rows]


class SqliteTransaction(Transaction):
    """Statements inside Database.transaction()."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the rowcount."""
        cur = await self.conn.execute(sql, params)
        count = cur.rowcount
        await cur.close()
        return count

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; return the new rowid."""
        cur = await self.conn.execute(sql, params)
        rowid = cur.lastrowid
        await cur.close()
        return int(rowid or 0)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        """Run a statement for each parameter set."""
        await self.conn.executemany(sql, seq)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """A query inside the transaction."""
        cur = await self.conn.execute(sql, params)
        rows = await cur.fetchall()
        await cur.close()
        return list(rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """A single-row query inside the transaction."""
        cur = await self.conn.execute(sql, params)
        row = await cur.fetchone()
        await cur.close()
        return row
