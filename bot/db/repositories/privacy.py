"""Forget-me and guild purges: deletes across tables, built from checked identifiers."""

from __future__ import annotations

import re

from bot.db import Database, Transaction

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def check_identifier(name: str) -> str:
    """A table or column name that is safe to put in SQL, or ValueError."""
    if not _IDENT.match(name):
        raise ValueError(f"bad identifier {name!r}")
    return name


async def delete_user_rows(
    tx: Transaction,
    table: str,
    user_column: str,
    user_id: int,
    *,
    guild_column: str | None = None,
    guild_id: int | None = None,
) -> int:
    """Delete a user's rows of one table (in one guild when both guild arguments are given)."""
    sql = f"DELETE FROM {check_identifier(table)} WHERE {check_identifier(user_column)} = ?"  # noqa: S608
    params: list[int] = [user_id]
    if guild_column is not None and guild_id is not None:
        sql += f" AND {check_identifier(guild_column)} = ?"
        params.append(guild_id)
    return await tx.execute(sql, params)


async def guild_tables(db: Database) -> list[str]:
    """Every application table with a guild_id column (the migration ledger aside)."""
    return [
        table
        for table in await db.tables()
        if table != "schema_migrations" and "guild_id" in await db.columns(table)
    ]


async def delete_guild_rows(tx: Transaction, table: str, guild_id: int) -> int:
    """Delete every row of one table that carries this guild's id; return the count."""
    return await tx.execute(
        f"DELETE FROM {check_identifier(table)} WHERE guild_id = ?",  # noqa: S608
        (guild_id,),
    )
