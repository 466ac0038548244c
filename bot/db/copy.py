"""`python -m bot copy-db`: move a SQLite install's data into an empty PostgreSQL database.

The target is migrated first, then every table is copied in foreign-key order with COPY, in one
transaction. Identity sequences continue after the copied ids. Before it commits, each table's row
count and checksum are compared with the source; any difference rolls everything back, so the
target is either a verified copy or as it was.

The source must not be in use: the copy holds SQLite's exclusive lock for its whole run, and a
bot that has the file open makes it refuse (a bot started meanwhile cannot open the file).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.db.base import is_postgres_url
from bot.db.postgres import PostgresDatabase
from bot.errors import DatabaseUnavailableError

__all__ = ["CopyError", "TableCopy", "copy_database", "table_checksum"]

_BATCH = 5_000


class CopyError(DatabaseUnavailableError):
    """copy-db refused or failed; the message says what to do, and the target is unchanged."""


@dataclass(frozen=True, slots=True)
class TableCopy:
    """One copied table: its rows and the checksum of both sides."""

    table: str
    rows: int
    source_checksum: str
    target_checksum: str


def _row_digest(row: Sequence[Any]) -> bytes:
    """A row's digest. repr keeps each value's type (NULL is not 0, "1" is not 1), and both
    sides hold the same Python types: int, float, str, bytes or None."""
    return hashlib.sha256(repr(tuple(row)).encode("utf-8")).digest()


def table_checksum(rows: Iterable[Sequence[Any]]) -> str:
    """A checksum of a table's rows, whatever their order (a repeated row counts twice)."""
    return _checksum(_row_digest(r) for r in rows)


def _checksum(digests: Iterable[bytes]) -> str:
    whole = hashlib.sha256()
    for digest in sorted(digests):
        whole.update(digest)
    return whole.hexdigest()[:16]


def _quoted(name: str) -> str:
    """A catalogue name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _open_source(path: Path) -> sqlite3.Connection:
    """The SQLite file under an exclusive lock, or a clear refusal (missing, busy, not Haven)."""
    if not path.is_file():
        raise CopyError(f"There is no SQLite database at {path}: give --from the bot's file.")
    busy = CopyError(
        f"{path} is in use: stop the bot first (or copy from a backup made with "
        f'`sqlite3 {path} ".backup haven-copy.db"`), then run copy-db again.'
    )
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    except sqlite3.Error as exc:
        raise CopyError(f"Cannot open {path} ({exc}).") from None
    try:
        # Exclusive locking mode: the lock fails while a bot has the file open (even idle, in
        # WAL mode), and once held no bot can open the file until the copy has finished.
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.OperationalError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise busy from None
        raise CopyError(f"Cannot read {path} ({exc}).") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CopyError(f"{path} is not a usable SQLite database ({exc}).") from None
    if "schema_migrations" not in names:
        conn.close()
        raise CopyError(f"{path} is not a Haven database (it has no schema_migrations).")
    return conn


async def copy_database(source: Path, target_url: str) -> list[TableCopy]:
    """Copy every table of a SQLite database into an empty PostgreSQL one; the verified tables."""
    if not is_postgres_url(target_url):
        raise CopyError("--to must be a postgresql:// URL of an empty database.")
    lite = _open_source(source)
    try:
        target = await PostgresDatabase.open(target_url)
        try:
            await target.migrate()
            return await _copy(lite, target, source)
        finally:
            await target.close()
    finally:
        lite.close()


async def _copy(
    lite: sqlite3.Connection, target: PostgresDatabase, source: Path
) -> list[TableCopy]:
    """The whole copy on one PostgreSQL connection and transaction."""
    import asyncpg

    lite_versions = {r[0] for r in lite.execute("SELECT version FROM schema_migrations")}
    async with target.pool.acquire() as conn:
        pg_versions = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        if lite_versions != pg_versions:
            behind = sorted(pg_versions - lite_versions)
            raise CopyError(
                f"{source} is at another schema version than this Haven (missing migrations "
                f"{behind or 'none'}; extra {sorted(lite_versions - pg_versions) or 'none'}): "
                "start this Haven's bot on it once (or `python -m bot migrate`), then copy."
            )
        columns = await _target_columns(conn)
        lite_tables = {
            r[0]
            for r in lite.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        lite_tables.discard("schema_migrations")
        if lite_tables != set(columns):
            raise CopyError(
                f"{source} and the target have different tables "
                f"({sorted(lite_tables ^ set(columns))}): are both this Haven's version?"
            )
        filled = [t for t in sorted(columns) if await conn.fetchval(_exists(t))]
        if filled:
            raise CopyError(
                f"The target database is not empty ({', '.join(filled[:3])} hold rows): copy into "
                "a new, empty database (e.g. `createdb haven`), never over live data."
            )
        order = _parents_first(sorted(columns), await _foreign_keys(conn))
        done: list[TableCopy] = []
        async with conn.transaction():
            for table in order:
                names = columns[table]
                lite_names = {r[1] for r in lite.execute(f"PRAGMA table_info({_quoted(table)})")}
                if lite_names != set(names):
                    raise CopyError(
                        f"{table} has other columns in {source} than in the target "
                        f"({sorted(lite_names ^ set(names))})."
                    )
                digests: list[bytes] = []
                try:
                    await conn.copy_records_to_table(
                        table, records=_records(lite, table, names, digests), columns=names
                    )
                except (
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                    ValueError,
                    TypeError,
                ) as exc:
                    # The reason only: the message may quote a stored value.
                    raise CopyError(
                        f"Copying {table} failed ({type(exc).__name__}): a value in {source} does "
                        "not fit its PostgreSQL column. Nothing was kept in the target."
                    ) from None
                count = lite.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]
                copied = await conn.fetch(
                    f"SELECT {', '.join(map(_quoted, names))} FROM {_quoted(table)}"  # noqa: S608
                )
                mine, theirs = _checksum(digests), table_checksum(copied)
                if count != len(copied) or count != len(digests) or mine != theirs:
                    raise CopyError(
                        f"{table} differs after the copy ({count} rows, checksum {mine}, in "
                        f"{source}; {len(copied)} rows, checksum {theirs}, in the target): "
                        "nothing was kept in the target."
                    )
                done.append(TableCopy(table, count, mine, theirs))
            await _continue_identities(conn)
    return done


def _exists(table: str) -> str:
    return f"SELECT EXISTS (SELECT 1 FROM {_quoted(table)})"  # noqa: S608


def _records(
    lite: sqlite3.Connection, table: str, names: list[str], digests: list[bytes]
) -> Iterator[tuple[Any, ...]]:
    """The source's rows, each row's digest noted on the way."""
    cursor = lite.execute(
        f"SELECT {', '.join(map(_quoted, names))} FROM {_quoted(table)}"  # noqa: S608
    )
    while batch := cursor.fetchmany(_BATCH):
        digests.extend(map(_row_digest, batch))
        yield from batch


async def _target_columns(conn: Any) -> dict[str, list[str]]:
    """Each application table of the target: its columns in declared order."""
    rows = await conn.fetch(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
        "AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "AND c.table_name <> 'schema_migrations' ORDER BY c.table_name, c.ordinal_position"
    )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


async def _foreign_keys(conn: Any) -> list[tuple[str, str]]:
    """(child, parent) for every foreign key between the target's tables."""
    rows = await conn.fetch(
        "SELECT child.relname, parent.relname FROM pg_constraint k "
        "JOIN pg_class child ON child.oid = k.conrelid "
        "JOIN pg_class parent ON parent.oid = k.confrelid "
        "WHERE k.contype = 'f' AND child.relnamespace = current_schema()::regnamespace"
    )
    return [(r[0], r[1]) for r in rows]


def _parents_first(tables: list[str], keys: list[tuple[str, str]]) -> list[str]:
    """Tables in an order where each comes after every table it references."""
    parents = {t: {p for c, p in keys if c == t and p != t} for t in tables}
    order: list[str] = []
    while len(order) < len(tables):
        ready = [t for t in tables if t not in order and parents[t] <= set(order)]
        if not ready:
            raise CopyError(f"The foreign keys between {sorted(set(tables) - set(order))} loop.")
        order.extend(ready)
    return order


async def _continue_identities(conn: Any) -> None:
    """Point every identity sequence past the copied ids, so new rows get fresh ones."""
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for table, column in rows:
        top = await conn.fetchval(
            f"SELECT max({_quoted(column)}) FROM {_quoted(table)}"  # noqa: S608
        )
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)",
            _quoted(table),
            column,
            top or 1,
            top is not None,
        )
