"""Shared unit fixtures: a migrated database, a fake clock and the services wired over both.

A module starts the clock elsewhere by defining its own `start` fixture; one that needs other
settings defines its own `settings` fixture. A module marked ``pytest.mark.both_backends`` runs
each test that uses `db` on SQLite and on a throwaway PostgreSQL (skipped, with the reason, when
no PostgreSQL server can be started).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import Settings, load_settings
from bot.db import Database
from bot.services import Services, build_services
from tests.support.postgres import PostgresServer, start_postgres

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


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that runs a module's database tests on both backends."""
    config.addinivalue_line(
        "markers", "both_backends: run each test using `db` on SQLite and on PostgreSQL"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give `backend` both values in modules marked both_backends."""
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the test's `db` is: sqlite unless the module runs on both backends."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL for the session, stopped at the end; skips when unavailable."""
    server = start_postgres()
    if isinstance(server, str):
        pytest.skip(f"PostgreSQL tests skipped: {server}")
    try:
        yield server
    finally:
        server.stop()


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
