"""Shared unit fixtures: a migrated database, a fake clock and the services wired over both.

A module starts the clock elsewhere by defining its own `start` fixture; one that needs other
settings defines its own `settings` fixture. In a module marked ``pytest.mark.both_backends``
(tests/conftest.py) each test that uses `db` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import Settings, load_settings
from bot.db import Database
from bot.services import Services, build_services
from tests.support.postgres import PostgresServer

DEFAULT_START = datetime(2027, 1, 1, tzinfo=UTC)
TEST_KEY = b"k" * 32


@pytest.fixture
def start() -> datetime:
    """Where the fake clock starts."""
    return DEFAULT_START


@pytest.fixture
def clock(start: datetime) -> FakeClock:
    """The fake clock every service of the test reads."""
    return FakeClock(start)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's database file lives."""
    return tmp_path / "h.db"


@pytest.fixture
async def db(
    backend: str, db_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    """A migrated database, closed after the test."""
    if backend == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = await server.fresh_database()
        database = await Database.open(server.url(name))
        try:
            yield database
        finally:
            await database.close()
            await server.drop_database(name)
        return
    database = await Database.open(db_path)
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def settings(db_path: Path) -> Settings:
    """Settings as a fresh install has them (no .env read)."""
    return load_settings(_env_file=None, discord_token="t", database_path=db_path)


@pytest.fixture
def services(settings: Settings, db: Database, clock: FakeClock) -> Services:
    """Every service, wired as the bot wires them, over the test database and clock."""
    return build_services(settings, db, clock, TEST_KEY)
