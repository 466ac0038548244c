"""Fixtures for every suite: the store backend a test runs on and the throwaway PostgreSQL.

A module marked ``pytest.mark.both_backends`` runs each test that uses the `backend` fixture
(through `db` in tests/unit or `haven_runner` in tests/e2e) on SQLite and on a throwaway PostgreSQL,
which is skipped with the reason when no PostgreSQL server can be started. A test marked
``pytest.mark.sqlite_only("why")`` in such a module checks something only SQLite has: its
PostgreSQL case is skipped with that reason (and the test names its PostgreSQL equivalent).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.logging_setup import forget_secrets
from tests.support.postgres import PostgresServer, start_postgres


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that runs a module's database tests on both backends."""
    config.addinivalue_line(
        "markers", "both_backends: run each test using `backend` on SQLite and on PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "sqlite_only(reason): in a both_backends module, skip PostgreSQL with reason"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give `backend` both values in modules marked both_backends."""
    chosen = any(
        "backend" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize")
    )  # a test that picks its own backend keeps it
    if (
        "backend" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("both_backends")
        and not chosen
    ):
        only = metafunc.definition.get_closest_marker("sqlite_only")
        postgres = (
            pytest.param("postgres", marks=pytest.mark.skip(reason=f"SQLite only: {only.args[0]}"))
            if only is not None
            else "postgres"
        )
        metafunc.parametrize("backend", ["sqlite", postgres], indirect=True)


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


@pytest.fixture(autouse=True)
def _secrets_stay_with_their_test() -> Iterator[None]:
    """A test's fake token ("t") must not be redacted out of a later test's logs in one worker."""
    yield
    forget_secrets()
