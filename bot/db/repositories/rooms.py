"""Rooms' stored data: channel links, the per-occurrence ledger and removals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.clock import from_unix, iso, to_unix, utc_from_iso
from bot.db import Reader, Transaction
from bot.models.rooms import LedgerEntry, LiftDue, Removal, RoomLink

_LINK_COLUMNS = "meeting_id, guild_id, category_id, text_channel_id, voice_channel_id, stage"
_REMOVAL_COLUMNS = "id, meeting_id, guild_id, user_id, occurrence, until"
_LEDGER_COLUMNS = "meeting_id, occurrence, override, opened_at, closed_at, cleared_at"


def _link(row: Any) -> RoomLink:
    return RoomLink(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _removal(row: Any) -> Removal:
    return Removal(row[0], row[1], row[2], row[3], row[4], from_unix(row[5]))


def _maybe_time(value: str | None) -> datetime | None:
    return utc_from_iso(value) if value else None


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        row[0], row[1], row[2], _maybe_time(row[3]), _maybe_time(row[4]), _maybe_time(row[5])
    )


# -- links -------------------------------------------------------------------------------------


async def link(db: Reader, meeting_id: int) -> RoomLink | None:
    """The room of a meeting, if it has one."""
    row = await db.fetchone(
        f"SELECT {_LINK_COLUMNS} FROM room_links WHERE meeting_id = ?",  # noqa: S608
        (meeting_id,),
    )
    return _link(row) if row else None


async def link_for_channels(db: Reader, guild_id: int, ids: list[int]) -> RoomLink | None:
    """The room one of these channel (or category) ids belongs to, in this guild."""
    marks = ", ".join("?" for _ in ids)
    row = await db.fetchone(
        f"SELECT {_LINK_COLUMNS} FROM room_links WHERE guild_id = ? AND "  # noqa: S608
        f"(category_id IN ({marks}) OR text_channel_id IN ({marks}) "
        f"OR voice_channel_id IN ({marks})) ORDER BY meeting_id LIMIT 1",
        (guild_id, *ids, *ids, *ids),
    )
    return _link(row) if row else None


async def links(db: Reader) -> list[RoomLink]:
    """Every room link, by meeting."""
    rows = await db.fetchall(
        f"SELECT {_LINK_COLUMNS} FROM room_links ORDER BY meeting_id"  # noqa: S608
    )
    return [_link(r) for r in rows]


async def save_link(tx: Transaction, room: RoomLink, created_at: datetime) -> None:
    """Store a room's channels (replacing the meeting's earlier ones)."""
    await tx.execute(
        "INSERT INTO room_links (meeting_id, guild_id, category_id, text_channel_id, "
        "voice_channel_id, stage, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (meeting_id) DO UPDATE SET category_id = excluded.category_id, "
        "text_channel_id = excluded.text_channel_id, "
        "voice_channel_id = excluded.voice_channel_id, stage = excluded.stage",
        (
            room.meeting_id,
            room.guild_id,
            room.category_id,
            room.text_channel_id,
            room.voice_channel_id,
            int(room.stage),
            iso(created_at),
        ),
    )


async def delete_link(tx: Transaction, meeting_id: int) -> None:
    """Forget a meeting's room channels and every removal from that room."""
    await tx.execute("DELETE FROM room_links WHERE meeting_id = ?", (meeting_id,))
    await tx.execute("DELETE FROM room_removals WHERE meeting_id = ?", (meeting_id,))


# -- the ledger --------------------------------------------------------------------------------


async def overrides(db: Reader, meeting_id: int) -> dict[str, str]:
    """Manual open/close per occurrence key."""
    rows = await db.fetchall(
        "SELECT occurrence, override FROM room_occurrences "
        "WHERE meeting_id = ? AND override IS NOT NULL",
        (meeting_id,),
    )
    return {r[0]: r[1] for r in rows}


async def ensure_ledger(tx: Transaction, meeting_id: int, guild_id: int, key: str) -> None:
    """Create the ledger row of one occurrence if it is missing."""
    await tx.execute(
        "INSERT INTO room_occurrences (meeting_id, guild_id, occurrence) VALUES (?, ?, ?) "
        "ON CONFLICT (meeting_id, occurrence) DO NOTHING",
        (meeting_id, guild_id, key),
    )


async def set_override(tx: Transaction, meeting_id: int, key: str, value: str | None) -> None:
    """Record a manual open or close (None clears it) on an existing ledger row."""
    await tx.execute(
        "UPDATE room_occurrences SET override = ? WHERE meeting_id = ? AND occurrence = ?",
        (value, meeting_id, key),
    )


async def ledger(db: Reader, meeting_id: int, key: str) -> LedgerEntry | None:
    """What was done for one occurrence of a room."""
    row = await db.fetchone(
        f"SELECT {_LEDGER_COLUMNS} FROM room_occurrences "  # noqa: S608
        "WHERE meeting_id = ? AND occurrence = ?",
        (meeting_id, key),
    )
    return _entry(row) if row else None


async def ledger_entries(db: Reader, meeting_id: int) -> list[LedgerEntry]:
    """Every ledger row of a meeting's room."""
    rows = await db.fetchall(
        f"SELECT {_LEDGER_COLUMNS} FROM room_occurrences WHERE meeting_id = ?",  # noqa: S608
        (meeting_id,),
    )
    return [_entry(r) for r in rows]


async def mark_opened(tx: Transaction, meeting_id: int, key: str, at: datetime) -> None:
    """The room opened for an occurrence (the first opening time is kept)."""
    await tx.execute(
        "UPDATE room_occurrences SET opened_at = COALESCE(opened_at, ?), "
        "closed_at = NULL, cleared_at = NULL WHERE meeting_id = ? AND occurrence = ?",
        (iso(at), meeting_id, key),
    )


async def mark_closed(
    tx: Transaction, meeting_id: int, key: str, at: datetime, *, cleared: bool
) -> None:
    """The room closed for an occurrence (and its chat was cleared, if `cleared`)."""
    now = iso(at)
    await tx.execute(
        "UPDATE room_occurrences SET closed_at = ?, "
        "cleared_at = CASE WHEN ? = 1 THEN ? ELSE cleared_at END "
        "WHERE meeting_id = ? AND occurrence = ?",
        (now, int(cleared), now, meeting_id, key),
    )


async def prune_ledger(tx: Transaction, before: str) -> None:
    """Drop finished (or never opened) ledger rows of occurrences before this key."""
    await tx.execute(
        "DELETE FROM room_occurrences WHERE occurrence < ? AND "
        "(closed_at IS NOT NULL OR opened_at IS NULL)",
        (before,),
    )


# -- removals ----------------------------------------------------------------------------------


async def add_removal(
    tx: Transaction,
    meeting_id: int,
    guild_id: int,
    user_id: int,
    key: str,
    until: datetime,
    created_at: datetime,
) -> Removal:
    """Keep a person out of one occurrence's room until `until` (a repeat moves the time)."""
    await tx.execute(
        "INSERT INTO room_removals (meeting_id, guild_id, user_id, occurrence, until, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (meeting_id, user_id, occurrence) DO UPDATE SET until = excluded.until",
        (meeting_id, guild_id, user_id, key, to_unix(until), iso(created_at)),
    )
    rows = await tx.fetchall(
        f"SELECT {_REMOVAL_COLUMNS} FROM room_removals "  # noqa: S608
        "WHERE meeting_id = ? AND user_id = ? AND occurrence = ?",
        (meeting_id, user_id, key),
    )
    return _removal(rows[0])


async def removals(db: Reader, meeting_id: int) -> list[Removal]:
    """Every stored removal of a meeting's room, soonest lifted first."""
    rows = await db.fetchall(
        f"SELECT {_REMOVAL_COLUMNS} FROM room_removals WHERE meeting_id = ? "  # noqa: S608
        "ORDER BY until, id",
        (meeting_id,),
    )
    return [_removal(r) for r in rows]


async def delete_removals(tx: Transaction, ids: Iterable[int]) -> None:
    """Forget these removals."""
    await tx.executemany("DELETE FROM room_removals WHERE id = ?", [(i,) for i in ids])


async def lifts_due(db: Reader) -> list[LiftDue]:
    """Per room occurrence with removals, when its earliest removal ends."""
    rows = await db.fetchall(
        "SELECT meeting_id, guild_id, occurrence, MIN(until) FROM room_removals "
        "GROUP BY meeting_id, guild_id, occurrence"
    )
    return [LiftDue(r[0], r[1], r[2], from_unix(r[3])) for r in rows]
