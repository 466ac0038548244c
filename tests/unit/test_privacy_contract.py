"""The data-deletion contract: every user-keyed column is covered by forget-me and guild purge."""

from __future__ import annotations

from typing import Any

import pytest

from bot.db import Database
from bot.services import Services
from tests.support.meetings import make_meeting

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends


async def test_every_user_column_is_registered_for_forget_me(services: Services) -> None:
    registered = {(s.table, s.user_column) for s in services.privacy.stores}
    found = set()
    for table in await services.db.tables():
        for column in await services.db.columns(table):
            if column.endswith("user_id"):
                found.add((table, column))
    missing = found - registered
    assert not missing, f"user columns not covered by forget-me: {sorted(missing)}"
    assert registered <= found, "registered stores must exist in the schema"


async def test_only_room_removals_outlive_forget_me_and_a_guild_purge_ends_them(
    services: Services,
) -> None:
    kept = [s for s in services.privacy.stores if s.kept]
    # Keeping a user's rows through forget-me is a deliberate exception, named here.
    assert {(s.table, s.user_column) for s in kept} == {("room_removals", "user_id")}
    for store in kept:
        assert "forget-me" in store.purpose, "/privacy info says forget-me keeps it"
        assert store.guild_column == "guild_id"
        assert "guild_id" in await services.db.columns(store.table), "a guild purge ends it"


async def _foreign_keys(db: Database, table: str) -> list[Any]:
    """A table's foreign keys as (table it references, on_delete) rows, on either backend."""
    if db.dialect == "postgres":
        return await db.fetchall(
            "SELECT confrelid::regclass::text AS table, CASE confdeltype WHEN 'c' THEN 'CASCADE' "
            "ELSE confdeltype::text END AS on_delete FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ?::regclass",
            (table,),
        )
    return await db.fetchall(f"PRAGMA foreign_key_list({table})")


async def test_every_guild_table_can_be_purged(services: Services) -> None:
    db = services.db
    fk_children = set()
    for table in await db.tables():
        for fk in await _foreign_keys(db, table):
            fk_children.add(table)
            assert str(fk["on_delete"]).upper() == "CASCADE", (
                f"{table} references {fk['table']} without ON DELETE CASCADE"
            )
    for table in await db.tables():
        if table == "schema_migrations":
            continue
        cols = await db.columns(table)
        assert "guild_id" in cols or table in fk_children or table.startswith("global_"), (
            f"{table} has no guild_id and does not cascade from a table that has one"
        )


async def test_forget_user_and_purge_guild_delete_rows(services: Services) -> None:
    for guild in (1, 2):
        await make_meeting(services, guild, facilitator_id=777)
    await services.guilds.update(1, timezone="Europe/London")
    meeting_id = await services.db.fetchval("SELECT id FROM meetings WHERE guild_id = 1")
    await services.db.execute(
        "INSERT INTO room_removals (meeting_id, guild_id, user_id, occurrence, until, "
        "created_at) VALUES (?, 1, 777, '2027-01-05', 1799999999, '2027-01-01T00:00:00')",
        (meeting_id,),
    )
    assert await services.db.fetchval("SELECT count(*) FROM meeting_facilitators") == 2
    deleted = await services.privacy.forget_user(777, guild_id=1)
    assert deleted == 1
    assert (
        await services.db.fetchval("SELECT count(*) FROM meeting_facilitators WHERE user_id = 777")
        == 1
    )
    await services.privacy.forget_user(777)
    assert await services.db.fetchval("SELECT count(*) FROM meeting_facilitators") == 0
    # A moderator's removal from a room outlives forget-me (it ends when the room closes).
    assert await services.db.fetchval("SELECT count(*) FROM room_removals") == 1
    await services.privacy.purge_guild(1)
    assert await services.db.fetchval("SELECT count(*) FROM room_removals") == 0
    assert await services.db.fetchval("SELECT count(*) FROM meetings WHERE guild_id = 1") == 0
    assert await services.db.fetchval("SELECT count(*) FROM meetings WHERE guild_id = 2") == 1
    assert await services.db.fetchval("SELECT count(*) FROM guild_settings") == 0


async def test_privacy_info_explains_every_store(services: Services) -> None:
    assert all(s.purpose for s in services.privacy.stores), "every store says why it exists"
    lines = services.privacy.describe()
    assert any("moderators" in line and "encrypted" in line for line in lines)
    assert any("check-in" in line for line in lines)
