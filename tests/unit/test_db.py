"""Database: configuration, migrations from empty to head, transactions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.db import Database, discover_migrations
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
