"""`python -m bot copy-db`: a SQLite install moved to PostgreSQL, verified before it is kept.

A fixture database with every table filled (the services where they make the rows, direct
inserts for the rest) is copied by the real command; counts and checksums must match, the bot's
services must read the copy, and new rows must get fresh ids. It refuses a target that already
holds data, and a source a running bot still has open.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.config import load_settings
from bot.db import Database
from bot.db.copy import table_checksum
from bot.models.feeds import FeedInvite
from bot.occurrences import OccurrenceException
from bot.services import Services, build_services
from bot.services.onboarding import RoleKind
from tests.support.meetings import make_meeting
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
GUILD = 1_234_567_890_123_456_789  # a snowflake beyond 2**53 and PostgreSQL's INTEGER
USER = 987_654_321_098_765_432
KEY = b"c" * 32
START = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)


def copy_db(source: Path, target: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot copy-db` with no DISCORD_TOKEN and nothing else configured."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", "copy-db", "--from", str(source), "--to", target],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def services_over(db: Database, path: Path, clock: FakeClock) -> Services:
    """The bot's services over one store."""
    settings = load_settings(_env_file=None, discord_token="t", database_path=path)
    return build_services(settings, db, clock, KEY)


async def fill_with_services(services: Services) -> str:
    """Rows as the bot makes them; returns the feed token."""
    await services.guilds.update(GUILD, timezone="Europe/Lisbon", modlog_channel_id=GUILD + 1)
    weekly = await make_meeting(
        services,
        GUILD,
        title="Quinta à noite 🌙",
        facilitator_id=USER,
        description="Línea 1\nline 2",
    )
    other = await make_meeting(
        services, GUILD, title="Sunday \"steps\" 'n' more", first_date=date(2027, 1, 3)
    )
    async with services.db.transaction() as tx:
        await services.meetings.set_exception(
            tx, weekly, date(2027, 1, 12), OccurrenceException(cancelled=True)
        )
        await services.meetings.set_exception(
            tx,
            other,
            date(2027, 1, 10),
            OccurrenceException(cancelled=False, moved_to=datetime(2027, 1, 11, 20, 0)),
        )
    await services.reminders.subscribe(GUILD, USER, weekly)
    await services.reminders.reconcile()
    token, _ = await services.feeds.enable(GUILD, calendar_name="Haven Lisboa")
    assert token is not None
    await services.feeds.set_invite(GUILD, FeedInvite(weekly, GUILD + 2, "abcDEF"))
    for kind in ("ics", "json"):
        assert await services.feeds.render(token, kind) is not None  # type: ignore[arg-type]
    await services.onboarding.request(GUILD, USER, RoleKind.MEMBER)
    await services.modline.register(GUILD, USER, "Anon-1234", GUILD + 3)
    return token


def _literal(text: str) -> Any:
    text = text.strip()
    return text.strip("'") if text.startswith("'") else int(text)


async def fill_the_rest(db: Database) -> None:
    """One direct row in every table the services left empty (types, checks and keys kept)."""
    while True:
        empty = [t for t in await db.tables() if t != "schema_migrations"]
        empty = [t for t in empty if not await db.fetchval(f"SELECT count(*) FROM {t}")]  # noqa: S608
        progress = False
        for table in empty:
            sql = await db.fetchval("SELECT sql FROM sqlite_master WHERE name = ?", (table,))
            refs = {
                r[3]: (r[2], r[4]) for r in await db.fetchall(f"PRAGMA foreign_key_list({table})")
            }
            names, values = [], []
            ready = True
            for _, name, kind, _, _, pk in await db.fetchall(f"PRAGMA table_info({table})"):
                if pk and kind == "INTEGER" and name == "id":
                    continue  # the rowid: SQLite numbers it
                if name in refs:
                    parent, column = refs[name]
                    value = await db.fetchval(f"SELECT {column} FROM {parent} LIMIT 1")  # noqa: S608
                    ready = ready and value is not None
                elif found := re.search(rf"CHECK \(\s*{name}\s+IN\s*\(([^)]*)\)", sql):
                    value = _literal(found.group(1).split(",")[0])
                elif found := re.search(rf"CHECK \(\s*{name}\s+BETWEEN\s+(-?\d+)", sql):
                    value = int(found.group(1))
                elif kind == "INTEGER":
                    value = GUILD + 7 if name.endswith("_id") else 1_799_999_999
                elif kind == "REAL":
                    value = 1733079000.25
                elif kind == "BLOB":
                    value = b"\x00\xff sealed"
                else:
                    value = f"{table}.{name} ✓ 'quoted' \\ text"
                names.append(name)
                values.append(value)
            if not ready:
                continue  # its parent table is filled first
            marks = ", ".join("?" for _ in names)
            await db.execute(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",  # noqa: S608
                values,
            )
            progress = True
        if not empty:
            return
        assert progress, f"cannot fill {empty}: give the fixture a row for them"


@pytest.fixture
async def source(tmp_path: Path) -> tuple[Path, str]:
    """A closed SQLite database with every table filled; (its path, its feed token)."""
    path = tmp_path / "haven.db"
    db = await Database.open(path)
    try:
        await db.migrate()
        token = await fill_with_services(services_over(db, path, FakeClock(START)))
        await fill_the_rest(db)
    finally:
        await db.close()
    return path, token


async def _snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    tables = sorted(t for t in await db.tables() if t != "schema_migrations")
    return {t: [tuple(r) for r in await db.fetchall(f"SELECT * FROM {t}")] for t in tables}  # noqa: S608


async def test_copy_db_copies_every_table_and_the_services_read_the_copy(
    postgres_server: PostgresServer, source: tuple[Path, str], tmp_path: Path
) -> None:
    path, token = source
    name = f"copy{os.getpid()}"
    await postgres_server.drop_database(name)
    await postgres_server.create_database(name)  # empty: copy-db migrates it
    lite = await Database.open(path)
    before = await _snapshot(lite)
    await lite.close()  # the bot is stopped for the move
    assert all(before.values()), [t for t, rows in before.items() if not rows]
    pg: Database | None = None
    key_file = path.parent / "haven.key"
    if not key_file.exists():
        key_file.write_text("ab" * 32 + "\n")
    try:
        done = await asyncio.to_thread(copy_db, path, postgres_server.url(name), tmp_path)
        assert done.returncode == 0, done.stderr
        for table, rows in before.items():
            line = rf"^  {table}: {len(rows)} rows?, checksum (\w+) = \1$"
            assert re.search(line, done.stdout, re.M), (table, done.stdout)
        assert "every count and checksum matches" in done.stdout
        # How to keep the install's generated key, without the key itself on the screen.
        assert f'HAVEN_SECRET_KEY="haven-key-v1:$(cat {key_file})"' in done.stdout
        assert key_file.read_text().strip() not in done.stdout + done.stderr

        lite = await Database.open(path)
        pg = await Database.open(postgres_server.url(name))
        after = await _snapshot(pg)
        assert sorted(after) == sorted(before)
        for table, rows in before.items():
            assert table_checksum(after[table]) == table_checksum(rows), table

        # The bot's services read the copy as they read the original.
        clock = FakeClock(START)
        on_lite, on_pg = services_over(lite, path, clock), services_over(pg, path, clock)
        assert await on_pg.meetings.list_guild(GUILD) == await on_lite.meetings.list_guild(GUILD)
        assert (await on_pg.guilds.get(GUILD)).timezone == "Europe/Lisbon"
        assert await on_pg.reminders.subscriptions(GUILD, USER) == (
            await on_lite.reminders.subscriptions(GUILD, USER)
        )
        # Feed versions came along: the same ETag as before the move, not a re-download.
        for kind in ("ics", "json"):
            was = await on_lite.feeds.render(token, kind)  # type: ignore[arg-type]
            now = await on_pg.feeds.render(token, kind)  # type: ignore[arg-type]
            assert was is not None and now is not None
            assert (now.etag, now.last_modified, now.body) == (
                was.etag,
                was.last_modified,
                was.body,
            )
        # Identity sequences continue after the copied ids.
        newest = max(r[0] for r in before["meetings"])
        fresh = await make_meeting(on_pg, GUILD, title="After the move")
        assert fresh == newest + 1
    finally:
        await lite.close()
        if pg is not None:
            await pg.close()
        await postgres_server.drop_database(name)


async def test_copy_db_refuses_a_target_that_holds_data(
    postgres_server: PostgresServer, source: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = source
    name = await postgres_server.fresh_database()
    pg = await Database.open(postgres_server.url(name))
    try:
        await make_meeting(services_over(pg, path, FakeClock(START)), 5, title="Already here")
        before = await _snapshot(pg)
        refused = await asyncio.to_thread(copy_db, path, postgres_server.url(name), tmp_path)
        assert refused.returncode == 2
        assert "not empty" in refused.stderr and "meetings" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert await _snapshot(pg) == before
    finally:
        await pg.close()
        await postgres_server.drop_database(name)


async def test_copy_db_refuses_a_source_a_bot_has_open(
    postgres_server: PostgresServer, source: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = source
    name = f"busy{os.getpid()}"
    await postgres_server.drop_database(name)
    await postgres_server.create_database(name)
    bot = await Database.open(path)  # what a running bot holds
    try:
        refused = await asyncio.to_thread(copy_db, path, postgres_server.url(name), tmp_path)
        assert refused.returncode == 2
        assert "stop the bot" in refused.stderr and ".backup" in refused.stderr
        pg = await Database.open(postgres_server.url(name))
        try:
            assert await pg.tables() == []  # the target was not touched
        finally:
            await pg.close()
    finally:
        await bot.close()
        await postgres_server.drop_database(name)


async def test_copy_db_keeps_nothing_when_a_value_does_not_fit(
    postgres_server: PostgresServer, source: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = source
    lite = await Database.open(path)
    try:  # SQLite keeps text in an INTEGER column; PostgreSQL's BIGINT cannot take it
        await lite.execute(
            "UPDATE jobs SET fire_at = 'soon, secretly' WHERE id = (SELECT min(id) FROM jobs)"
        )
    finally:
        await lite.close()
    name = f"misfit{os.getpid()}"
    await postgres_server.drop_database(name)
    await postgres_server.create_database(name)
    try:
        refused = await asyncio.to_thread(copy_db, path, postgres_server.url(name), tmp_path)
        assert refused.returncode == 2
        assert "jobs" in refused.stderr and "Nothing was kept" in refused.stderr
        assert "secretly" not in refused.stderr  # a stored value is never echoed
        pg = await Database.open(postgres_server.url(name))
        try:  # the tables copied before jobs were rolled back with it
            assert all(not rows for rows in (await _snapshot(pg)).values())
        finally:
            await pg.close()
    finally:
        await postgres_server.drop_database(name)


def test_table_checksum_sees_every_value_but_not_row_order() -> None:
    rows = [(1, "a", None, b"\x00", 2.5), (2, "b", 0, b"", -1.0)]
    same = table_checksum(list(reversed(rows)))
    assert table_checksum(rows) == same
    for changed in (
        [(1, "a", None, b"\x00", 2.5), (2, "b", 0, b"", -1.5)],
        [(1, "a", 0, b"\x00", 2.5), (2, "b", 0, b"", -1.0)],  # NULL is not 0
        [(1, "a", None, b"\x00 ", 2.5), (2, "b", 0, b"", -1.0)],
        [("1", "a", None, b"\x00", 2.5), (2, "b", 0, b"", -1.0)],  # "1" is not 1
        [(1, "a", None, b"\x00", 2.5)],
        [*rows, rows[0]],  # a duplicated row counts
    ):
        assert table_checksum(changed) != same, changed
