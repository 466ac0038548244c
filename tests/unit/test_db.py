"""Database: configuration, migrations from empty to head, transactions."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from bot.db import Database
from bot.db.migrate import discover_migrations
from bot.errors import DatabaseUnavailableError


async def test_open_sets_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "sub" / "h.db")
    try:
        assert (await db.fetchval("PRAGMA journal_mode")) == "wal"
        assert (await db.fetchval("PRAGMA foreign_keys")) == 1
        assert (await db.fetchval("PRAGMA busy_timeout")) >= 1000
    finally:
        await db.close()


async def test_migrations_empty_to_head_then_idempotent(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "h.db")
    try:
        applied = await db.migrate()
        expected = [v for v, _ in discover_migrations()]
        assert applied == expected
        assert applied[0] == 1 and applied == sorted(applied)
        schema_before = await db.fetchall("SELECT sql FROM sqlite_master ORDER BY name")
        assert await db.migrate() == []
        schema_after = await db.fetchall("SELECT sql FROM sqlite_master ORDER BY name")
        assert [tuple(r) for r in schema_before] == [tuple(r) for r in schema_after]
        versions = [r[0] for r in await db.fetchall("SELECT version FROM schema_migrations")]
        assert versions == expected
    finally:
        await db.close()


async def test_failed_migration_leaves_database_as_it_was(tmp_path: Path) -> None:
    migrations = tmp_path / "m"
    migrations.mkdir()
    (migrations / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);")
    (migrations / "0002_bad.sql").write_text(
        "CREATE TABLE b (y INTEGER); INSERT INTO nope VALUES (1);"
    )
    db = await Database.open(tmp_path / "h.db")
    try:
        with pytest.raises(DatabaseUnavailableError, match="0002_bad.sql"):
            await db.migrate(migrations)
        tables = await db.tables()
        assert "a" in tables and "b" not in tables
        assert [r[0] for r in await db.fetchall("SELECT version FROM schema_migrations")] == [1]
    finally:
        await db.close()


async def test_misnamed_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("")
    with pytest.raises(DatabaseUnavailableError, match="NNNN_name"):
        discover_migrations(tmp_path)


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "h.db")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")
                raise RuntimeError("boom")
        assert await db.fetchval("SELECT count(*) FROM t") == 0
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (2)")
        assert await db.fetchval("SELECT count(*) FROM t") == 1
    finally:
        await db.close()


async def test_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(b"garbage" * 200)
    with pytest.raises(DatabaseUnavailableError, match="not a usable SQLite database"):
        await Database.open(path)


async def test_busy_database_gives_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    db = await Database.open(path)
    await db.execute("CREATE TABLE t (x INTEGER)")
    await db.conn.execute("PRAGMA busy_timeout = 10")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        from bot.db import DatabaseBusyError

        with pytest.raises(DatabaseBusyError) as info:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")
        assert "Nothing was changed" in info.value.message
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await db.fetchval("SELECT count(*) FROM t") == 0
    await db.close()


MARK = 987654321987654321


def _on_disk(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def _write_and_delete_mark(db: Database) -> None:
    """A row reaches the main file (checkpoint), then is deleted: the state forget-me leaves."""
    await db.execute("CREATE TABLE t (user_id INTEGER, note TEXT)")
    async with db.transaction() as tx:
        for i in range(50):
            await tx.execute("INSERT INTO t VALUES (?, ?)", (i, "filler" * 5))
        await tx.execute("INSERT INTO t VALUES (?, ?)", (MARK, f"note of {MARK}"))
    await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    await db.execute("DELETE FROM t WHERE user_id = ?", (MARK,))


def _mark_forms() -> list[bytes]:
    return [MARK.to_bytes(8, "big"), str(MARK).encode()]


async def test_open_turns_on_secure_delete_where_the_build_leaves_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Debian's SQLite is built with SECURE_DELETE on, python.org's and Homebrew's are not.
    real_connect = aiosqlite.connect

    async def default_off(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
        conn = await real_connect(*args, **kwargs)
        await conn.execute("PRAGMA secure_delete = OFF")
        return conn

    monkeypatch.setattr(aiosqlite, "connect", default_off)
    path = tmp_path / "h.db"
    db = await Database.open(path)
    try:
        assert (await db.fetchval("PRAGMA secure_delete")) == 1
        await _write_and_delete_mark(db)
        assert await db.truncate_wal() is True
        assert [f for f in _mark_forms() if f in _on_disk(path)] == []
    finally:
        await db.close()


async def test_truncate_wal_leaves_no_deleted_bytes_in_the_file_or_the_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.db"
    db = await Database.open(path)
    try:
        await _write_and_delete_mark(db)
        assert any(f in _on_disk(path) for f in _mark_forms()), "the deleted row is still on disk"
        assert await db.truncate_wal() is True
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        data = _on_disk(path)
        assert [f for f in _mark_forms() if f in data] == []
        assert await db.fetchval("SELECT count(*) FROM t") == 50
    finally:
        await db.close()


async def test_truncate_wal_blocked_by_a_reader_reports_and_retries_after_the_next_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "h.db"
    db = await Database.open(path)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        await _write_and_delete_mark(db)
        # A backup or the sqlite3 shell holds an older snapshot: the log cannot be reset yet.
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()
        await db.execute("INSERT INTO t VALUES (1, 'after the reader began')")
        with caplog.at_level("DEBUG", logger="bot.db"):
            assert await db.truncate_wal() is False
        assert any(r.levelname == "WARNING" for r in caplog.records)
        # Only Haven's own records: aiosqlite logs its parameters at DEBUG when an earlier test
        # left the root logger there.
        assert not [
            r for r in caplog.records if r.name.startswith("bot") and str(MARK) in r.getMessage()
        ]
        assert any(f in _on_disk(path) for f in _mark_forms())
        reader.execute("COMMIT")
        await db.execute("INSERT INTO t VALUES (2, 'any later write retries the checkpoint')")
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size == 0
        assert [f for f in _mark_forms() if f in _on_disk(path)] == []
    finally:
        reader.close()
        await db.close()


async def test_a_transaction_cancelled_at_its_begin_leaves_none_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler cancelled at shutdown while its BEGIN was on the database thread: the BEGIN ran
    all the same, nothing ended that transaction, and close's WAL checkpoint failed ('database
    table is locked', with a traceback in a SIGTERM mid-burst)."""
    db = await Database.open(tmp_path / "h.db")
    try:
        await db.execute("CREATE TABLE t (n INTEGER)")

        async def write() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")

        task = asyncio.create_task(write())
        await asyncio.sleep(0)  # it now waits for its BEGIN IMMEDIATE
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await db.fetchval("SELECT 1")  # the database thread has run the BEGIN by now
        async with db.transaction() as tx:  # not "a transaction within a transaction"
            await tx.execute("INSERT INTO t VALUES (2)")
        assert await db.fetchval("SELECT sum(n) FROM t") == 2
    finally:
        with caplog.at_level("WARNING", logger="bot.db"):
            await db.close()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("bot.db")] == []
