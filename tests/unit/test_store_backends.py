"""DATABASE_URL picks the store; SQL written once with ? becomes PostgreSQL's $n form."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.db import Database, open_database, password_of
from bot.db.dialect import bind, bulk_jobs, to_postgres
from bot.db.sqlite import SqliteDatabase
from bot.errors import ConfigError


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
    settings = load_settings(_env_file=None, discord_token="t", database_url=url)
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
    import re

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
