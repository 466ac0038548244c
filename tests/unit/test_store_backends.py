"""DATABASE_URL picks the store; SQL written once with ? becomes PostgreSQL's $n form."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.db import Database, open_database, password_of
from bot.db.dialect import BULK_JOB_COLUMNS, bind, bulk_jobs, to_postgres
from bot.db.migrate import MIGRATIONS_DIR, PG_MIGRATIONS_DIR, discover_migrations
from bot.db.sqlite import SqliteDatabase
from bot.errors import ConfigError
from tests.support.postgres import PostgresServer


@pytest.mark.parametrize("value", [None, "", "sqlite:", "sqlite:///var/other.db"])
def test_unset_or_sqlite_url_means_sqlite(
    value: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    extra = {} if value is None else {"database_url": value}
    settings = load_settings(_env_file=None, discord_token="t", **extra)
    assert settings.database_url is None


async def test_sqlite_store_is_todays_file(tmp_path: Path) -> None:
    db = await open_database(None, tmp_path / "h.db")
    try:
        assert isinstance(db, SqliteDatabase)
        assert db.dialect == "sqlite"
        assert (tmp_path / "h.db").exists()
    finally:
        await db.close()


def test_postgres_url_is_kept_secret() -> None:
    url = "postgresql://haven:s3cr%40t@db.example:5432/haven"
    settings = load_settings(
        _env_file=None, discord_token="t", database_url=url, haven_secret_key="k" * 32
    )
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == url
    assert "s3cr" not in repr(settings)
    assert password_of(url) == "s3cr@t"
    assert password_of("postgresql://haven@db/haven") is None


def test_other_url_schemes_are_refused() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL .*postgresql://"):
        load_settings(_env_file=None, discord_token="t", database_url="mysql://x@y/z")


async def test_unreachable_postgres_names_the_setting_without_the_password() -> None:
    pytest.importorskip("asyncpg")
    from bot.errors import DatabaseUnavailableError

    with pytest.raises(DatabaseUnavailableError) as caught:
        await Database.open("postgresql://haven:hunter2hunter2@127.0.0.1:1/haven")
    assert "DATABASE_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2"),
        (
            "SELECT '?' AS q, \"a?\" FROM t WHERE x = ?",
            "SELECT '?' AS q, \"a?\" FROM t WHERE x = $1",
        ),
        ("SELECT 'it''s ?' FROM t WHERE x = ?", "SELECT 'it''s ?' FROM t WHERE x = $1"),
        ("SELECT a -- why?\nFROM t WHERE x = ?", "SELECT a -- why?\nFROM t WHERE x = $1"),
        (
            "SELECT id FROM m WHERE g = ? AND id IN (SELECT value FROM json_each(?)) ORDER BY id",
            "SELECT id FROM m WHERE g = $1 AND id = ANY($2::bigint[]) ORDER BY id",
        ),
    ],
)
def test_placeholders_are_numbered_outside_literals(sqlite: str, postgres: str) -> None:
    assert to_postgres(sqlite)[0] == postgres


def test_json_id_lists_are_bound_as_arrays() -> None:
    text, json_params = to_postgres(
        "DELETE FROM m WHERE g = ? AND id IN (SELECT value FROM json_each(?))"
    )
    assert json_params == (1,)
    assert bind((7, "[1,2,3]"), json_params) == [7, [1, 2, 3]]


def test_bulk_jobs_are_columns_on_postgres_and_json_on_sqlite() -> None:
    rows = [(1, 2, "2027-01-01", "a", 100), (1, 3, "2027-01-02", "b", 200)]
    _, pg = bulk_jobs("postgres", "k", rows)
    assert pg == ("k", [1, 1], [2, 3], ["2027-01-01", "2027-01-02"], ["a", "b"], [100, 200])
    _, lite = bulk_jobs("sqlite", "k", rows)
    assert lite == ("k", '[[1,2,"2027-01-01","a",100],[1,3,"2027-01-02","b",200]]')


def test_every_sql_string_in_the_store_translates() -> None:
    """Each ? in Haven's SQL is a placeholder: none sits inside a string literal."""
    import ast

    root = Path(__file__).resolve().parents[2]
    files = [root / "bot" / "jobs.py", *sorted((root / "bot" / "db").rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", node.value)
            ):
                text = node.value
                literals = re.findall(r"'(?:[^']|'')*'", text)
                assert not [lit for lit in literals if "?" in lit], (path.name, text)


# --- the PostgreSQL migrations are twins of SQLite's ------------------------------------------

_CREATE_TABLE = re.compile(r"CREATE TABLE (\w+) \((.*?)\n\);", re.S)
_INSTANTS = {"fire_at", "claimed_at", "recorded_at", "starts_at", "alerted_at", "until"}


def _top_level_parts(body: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, []
    for ch in body:
        quoted ^= ch == "'"
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
            continue
        depth += ch == "("
        depth -= ch == ")"
        current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _schema(directory: Path) -> dict[str, dict[str, Any]]:
    """Each table's columns (name -> type word) and its key column sets."""
    tables: dict[str, dict[str, Any]] = {}
    for _, path in discover_migrations(directory):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        for name, body in _CREATE_TABLE.findall(text):
            columns: dict[str, str] = {}
            keys: set[tuple[str, ...]] = set()
            for part in _top_level_parts(body):
                words = part.split()
                head = words[0].upper()
                if head in ("PRIMARY", "UNIQUE"):
                    cols = re.search(r"\(([^)]*)\)", part)
                    assert cols is not None
                    keys.add(tuple(c.strip() for c in cols.group(1).split(",")))
                elif head not in ("CHECK", "FOREIGN", "CONSTRAINT"):
                    columns[words[0]] = words[1].upper()
                    if re.search(r"\b(PRIMARY KEY|UNIQUE)\b", part):
                        keys.add((words[0],))
            tables[name] = {"columns": columns, "keys": keys}
    return tables


def test_postgres_migrations_have_the_same_tables_columns_and_keys() -> None:
    lite, pg = _schema(MIGRATIONS_DIR), _schema(PG_MIGRATIONS_DIR)
    assert [v for v, _ in discover_migrations(MIGRATIONS_DIR)] == [
        v for v, _ in discover_migrations(PG_MIGRATIONS_DIR)
    ]
    assert sorted(lite) == sorted(pg)
    for table in lite:
        assert list(lite[table]["columns"]) == list(pg[table]["columns"]), table
        assert lite[table]["keys"] == pg[table]["keys"], table


def test_postgres_ids_and_instants_are_64_bit() -> None:
    """Snowflakes and Unix seconds overflow PostgreSQL's 32-bit INTEGER."""
    lite, pg = _schema(MIGRATIONS_DIR), _schema(PG_MIGRATIONS_DIR)
    for table, spec in pg.items():
        for column, kind in spec["columns"].items():
            integer = lite[table]["columns"][column] == "INTEGER"
            if integer and (column == "id" or column.endswith("_id") or column in _INSTANTS):
                assert kind == "BIGINT", f"{table}.{column} is {kind}"
            if lite[table]["columns"][column] == "TEXT":
                assert kind == "TEXT", f"{table}.{column} is {kind}"


# --- PostgreSQL: migrations once across processes, transactions, the job claim -----------------


async def test_concurrent_migrations_on_postgres_apply_each_file_once(
    postgres_server: PostgresServer,
) -> None:
    name = f"race{id(postgres_server) % 10_000}"
    await postgres_server.drop_database(name)
    await postgres_server.create_database(name)
    dbs = [await Database.open(postgres_server.url(name)) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(db.migrate() for db in dbs))
        head = [v for v, _ in discover_migrations(PG_MIGRATIONS_DIR)]
        assert sorted(len(a) for a in applied) == [0, 0, len(head)]
        rows = await dbs[0].fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == head
        assert await dbs[1].migrate() == []
    finally:
        for db in dbs:
            await db.close()
        await postgres_server.drop_database(name)


async def test_a_failed_postgres_migration_leaves_the_database_as_it_was(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    from bot.errors import DatabaseUnavailableError

    name = "failedmigration"
    await postgres_server.create_database(name)
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x BIGINT);")
    (tmp_path / "0002_bad.sql").write_text(
        "CREATE TABLE b (y BIGINT); SELECT nonsense FROM nowhere;"
    )
    db = await Database.open(postgres_server.url(name))
    try:
        with pytest.raises(DatabaseUnavailableError, match="0002_bad.sql"):
            await db.migrate(tmp_path)
        tables = await db.tables()
        assert "a" in tables and "b" not in tables
    finally:
        await db.close()
        await postgres_server.drop_database(name)


async def test_postgres_transactions_count_rows_return_ids_and_roll_back(
    postgres_server: PostgresServer,
) -> None:
    name = await postgres_server.fresh_database()
    db = await Database.open(postgres_server.url(name))
    try:
        async with db.transaction() as tx:
            first = await tx.insert(
                "INSERT INTO role_requests (guild_id, user_id, kind, requested_at) "
                "VALUES (?, ?, 'member', '2027-01-01T00:00:00Z')",
                (1 << 60, 7),
            )
            second = await tx.insert(
                "INSERT INTO role_requests (guild_id, user_id, kind, requested_at) "
                "VALUES (?, ?, 'family', '2027-01-01T00:00:00Z')",
                (1 << 60, 7),
            )
        assert second == first + 1
        assert (
            await db.execute("UPDATE role_requests SET channel_id = 5 WHERE user_id = ?", (7,)) == 2
        )
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("DELETE FROM role_requests")
                raise RuntimeError("boom")
        assert await db.fetchval("SELECT count(*) FROM role_requests") == 2
        assert await db.fetchval("SELECT guild_id FROM role_requests LIMIT 1") == 1 << 60
    finally:
        await db.close()
        await postgres_server.drop_database(name)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_jobs_key_leads_by_meeting_and_keeps_one_job_per_slot(db: Database) -> None:
    """0014: the key serves lookups by meeting, so no separate meeting index; still unique."""
    rows = await db.fetchall(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'jobs' ORDER BY 1"
    )
    indexes = {r[0]: r[1] for r in rows}
    assert "jobs_meeting" not in indexes
    assert "jobs_kind_meeting_id_occurrence_slot_key" not in indexes
    assert "(meeting_id, kind, occurrence, slot)" in indexes["jobs_meeting_key"]
    assert set(indexes) == {
        "jobs_pkey",
        "jobs_meeting_key",
        "jobs_pending_fire_at",
        "jobs_claimed_by",
    }
    row = (1 << 60, 7, "2027-01-04", "15", 1_800_000_000)
    for _ in range(2):  # the second COPY meets the key and falls back to the upsert
        async with db.transaction() as tx:
            await tx.copy_rows(
                "jobs",
                BULK_JOB_COLUMNS,
                [("reminder", *row)],
                or_else=lambda: bulk_jobs("postgres", "reminder", [row]),
            )
    assert await db.fetchval("SELECT count(*) FROM jobs WHERE meeting_id = 7") == 1


async def test_two_claimers_on_postgres_never_claim_the_same_job(
    postgres_server: PostgresServer,
) -> None:
    """SKIP LOCKED: two fleets overlapping in a re-shard (2 and 3 shards, so different shard
    locks, both owning every guild) claim at once; each job goes to one."""
    from datetime import UTC, datetime

    from bot.clock import FakeClock
    from bot.cluster import Shards
    from bot.jobs import Job, JobEngine

    name = await postgres_server.fresh_database()
    t0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    dbs = [await Database.open(postgres_server.url(name)) for _ in range(2)]
    try:
        engines = [JobEngine(db, FakeClock(t0), Shards.of(2 + i)) for i, db in enumerate(dbs)]
        seen: list[list[int]] = [[], []]
        for i, engine in enumerate(engines):

            async def handle(jobs: list[Job], mine: list[int] = seen[i]) -> None:
                mine.extend(j.id for j in jobs)

            engine.register("t", handle)
        async with dbs[0].transaction() as tx:
            await engines[0].add_bulk(
                tx, "t", [(1, m, "2027-03-01", "0", int(t0.timestamp())) for m in range(2000)]
            )
        for _ in range(3):
            counts = await asyncio.gather(*(e.run_due() for e in engines))
            await asyncio.gather(*(e.drain() for e in engines))
            if sum(counts) == 0:
                break
        assert not set(seen[0]) & set(seen[1])
        assert len(seen[0]) + len(seen[1]) == 2000
    finally:
        for db in dbs:
            await db.close()
        await postgres_server.drop_database(name)


# --- `python -m bot migrate`: for deploy pipelines ---------------------------------------------


def _migrate_command(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_PATH")}
    full.update(env, DISCORD_TOKEN="t", HAVEN_SECRET_KEY="k" * 32, PYTHONPATH=str(root))
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_command_migrates_sqlite_and_exits(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    first = _migrate_command({"DATABASE_PATH": str(path)}, tmp_path)
    assert first.returncode == 0, first.stderr
    head = len(discover_migrations())
    assert f"applied {head} migration(s)" in first.stdout
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == head
    again = _migrate_command({"DATABASE_PATH": str(path)}, tmp_path)
    assert "applied 0 migration(s)" in again.stdout


async def test_migrate_command_migrates_postgres_and_keeps_the_password_out(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    name = "migratecommand"
    await postgres_server.drop_database(name)
    await postgres_server.create_database(name)
    try:
        done = await asyncio.to_thread(
            _migrate_command, {"DATABASE_URL": postgres_server.url(name)}, tmp_path
        )
        assert done.returncode == 0, done.stderr
        head = len(discover_migrations(PG_MIGRATIONS_DIR))
        assert f"applied {head} migration(s)" in done.stdout
        # A wrong password is reported without it.
        bad = postgres_server.url("nowhere_db").replace("postgres@", "postgres:pw-Secret-123@")
        refused = await asyncio.to_thread(_migrate_command, {"DATABASE_URL": bad}, tmp_path)
        assert refused.returncode == 2
        assert "DATABASE_URL" in refused.stderr
        assert "pw-Secret-123" not in refused.stderr + refused.stdout
    finally:
        await postgres_server.drop_database(name)


def test_postgres_needs_one_shared_secret_key() -> None:
    """Processes sharing PostgreSQL must hash and seal with one key, not one file per host."""
    url = "postgresql://haven@db/haven"
    with pytest.raises(ConfigError, match="HAVEN_SECRET_KEY .*every process"):
        load_settings(_env_file=None, discord_token="t", database_url=url)
    key = "k" * 32
    settings = load_settings(
        _env_file=None, discord_token="t", database_url=url, haven_secret_key=key
    )
    assert settings.haven_secret_key is not None


async def test_a_second_bot_process_for_the_same_shards_waits_until_the_first_ends(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The shard lock replaced the one-process rule: a second process for the same shards waits
    (it would reclaim the first one's jobs otherwise); one for other shards starts at once."""
    from bot.runtime.app import create_bot

    name = "oneprocess"
    await postgres_server.drop_database(name)
    await postgres_server.create_database(name)

    def settings(shard: str) -> Settings:
        return load_settings(
            _env_file=None,
            discord_token="t",
            database_url=postgres_server.url(name),
            database_path=tmp_path / "unused.db",
            haven_secret_key="k" * 32,
            shard_count=2,
            shard_ids=shard,
        )

    first = await create_bot(settings("0"), extensions=())
    try:
        other = await asyncio.wait_for(create_bot(settings("1"), extensions=()), 10)
        await other.services.jobs.stop()
        await other.services.db.close()
        second = asyncio.create_task(create_bot(settings("0"), extensions=()))
        async with asyncio.timeout(10):
            while not await first.db.fetchval(  # noqa: ASYNC110 - the server's lock queue
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                await asyncio.sleep(0.01)
        assert not second.done()
    finally:
        await first.services.jobs.stop()
        await first.services.db.close()
    # The lock goes with the first process's session: the waiting one starts at once.
    bot = await asyncio.wait_for(second, 10)
    assert bot.services.jobs.held_shards == (0,)
    await bot.services.jobs.stop()
    await bot.services.db.close()
    await postgres_server.drop_database(name)
