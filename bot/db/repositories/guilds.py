"""Guild settings and departures: one settings row per guild, one departure row per guild left."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from bot.clock import iso, utc_from_iso
from bot.db import Reader, Transaction
from bot.models.guilds import SETTING_FIELDS, GuildSettings

# SQLite stores booleans as 0/1; these fields are read back as bool.
_BOOL_FIELDS = {f.name for f in dataclasses.fields(GuildSettings) if f.type in ("bool", bool)}


def _checked(columns: list[str]) -> list[str]:
    """Setting names to put in SQL: only the model's own fields, never anything else."""
    unknown = set(columns) - set(SETTING_FIELDS)
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    return columns


async def settings(db: Reader, guild_id: int) -> GuildSettings | None:
    """A guild's stored settings, or None if it never configured anything."""
    row = await db.fetchone(
        f"SELECT {', '.join(SETTING_FIELDS)} FROM guild_settings WHERE guild_id = ?",  # noqa: S608
        (guild_id,),
    )
    if row is None:
        return None
    values = {
        name: (bool(row[name]) if name in _BOOL_FIELDS else row[name]) for name in SETTING_FIELDS
    }
    return GuildSettings(guild_id=guild_id, **values)  # type: ignore[arg-type]


async def save_settings(
    tx: Transaction, guild_id: int, changes: dict[str, Any], now: datetime
) -> None:
    """Store changed settings of a guild, creating its row when needed."""
    cols = _checked(list(changes))
    values = [int(v) if isinstance(v, bool) else v for v in changes.values()]
    assignments = ", ".join(f"{c} = excluded.{c}" for c in cols)
    await tx.execute(
        f"INSERT INTO guild_settings (guild_id, {', '.join(cols)}, updated_at) "  # noqa: S608
        f"VALUES (?, {', '.join('?' for _ in cols)}, ?) "
        f"ON CONFLICT(guild_id) DO UPDATE SET {assignments}, updated_at = excluded.updated_at",
        (guild_id, *values, iso(now)),
    )


async def configured_guilds(db: Reader) -> list[int]:
    """Every guild with a settings row."""
    rows = await db.fetchall("SELECT guild_id FROM guild_settings")
    return [r[0] for r in rows]


async def mark_departed(tx: Transaction, guild_id: int, left_at: datetime) -> None:
    """Remember when the bot left a guild (the first time counts)."""
    await tx.execute(
        "INSERT INTO guild_departures (guild_id, left_at) VALUES (?, ?) "
        "ON CONFLICT(guild_id) DO NOTHING",
        (guild_id, iso(left_at)),
    )


async def clear_departure(tx: Transaction, guild_id: int) -> None:
    """Forget that the bot left a guild."""
    await tx.execute("DELETE FROM guild_departures WHERE guild_id = ?", (guild_id,))


async def departures(db: Reader) -> list[tuple[int, datetime]]:
    """Every guild the bot left, with when it left."""
    rows = await db.fetchall("SELECT guild_id, left_at FROM guild_departures")
    return [(r[0], utc_from_iso(r[1])) for r in rows]
