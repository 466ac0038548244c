"""The store: ``Database``/``Transaction`` over SQLite (default) or PostgreSQL (``DATABASE_URL``).

Migrations are in ``bot.db.migrate``; every SQL statement of a feature is in
``bot.db.repositories.<feature>``.
"""

from __future__ import annotations

from pathlib import Path

from bot.db.base import (
    Database,
    DatabaseBusyError,
    Params,
    Reader,
    Row,
    Transaction,
    is_postgres_url,
    password_of,
)

__all__ = [
    "Database",
    "DatabaseBusyError",
    "Params",
    "Reader",
    "Row",
    "Transaction",
    "is_postgres_url",
    "open_database",
    "password_of",
]


async def open_database(database_url: str | None, database_path: Path) -> Database:
    """The store the settings choose: PostgreSQL for a ``postgresql://`` URL, else SQLite."""
    if database_url and is_postgres_url(database_url):
        return await Database.open(database_url)
    return await Database.open(database_path)
