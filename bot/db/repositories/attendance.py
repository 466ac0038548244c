"""Attendance's stored data: one check-in count per occurrence, never who checked in."""

from __future__ import annotations

from datetime import date, datetime

from bot.clock import iso, utc_from_iso
from bot.db import Reader, Transaction
from bot.models.attendance import OccurrenceCount


async def open_count(
    tx: Transaction, meeting_id: int, guild_id: int, occurrence: str, opened_at: datetime
) -> bool:
    """Start (or reopen) an occurrence's count; False when the meeting no longer exists."""
    if await tx.fetchone("SELECT 1 FROM meetings WHERE id = ?", (meeting_id,)) is None:
        return False
    await tx.execute(
        "INSERT INTO attendance_counts (meeting_id, guild_id, occurrence, opened_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (meeting_id, occurrence) "
        "DO UPDATE SET closed_at = NULL",
        (meeting_id, guild_id, occurrence, iso(opened_at)),
    )
    return True


async def add_checkins(tx: Transaction, meeting_id: int, occurrence: str, count: int) -> None:
    """Add check-ins to an occurrence's stored count."""
    await tx.execute(
        "UPDATE attendance_counts SET checkins = checkins + ? "
        "WHERE meeting_id = ? AND occurrence = ?",
        (count, meeting_id, occurrence),
    )


async def close_count(tx: Transaction, meeting_id: int, occurrence: str, at: datetime) -> None:
    """Mark an occurrence's count closed (the first close is kept)."""
    await tx.execute(
        "UPDATE attendance_counts SET closed_at = ? "
        "WHERE meeting_id = ? AND occurrence = ? AND closed_at IS NULL",
        (iso(at), meeting_id, occurrence),
    )


async def count_times(
    db: Reader, meeting_id: int, guild_id: int, occurrence: str
) -> tuple[datetime, datetime | None] | None:
    """When an occurrence's count was opened and closed (None if it has no count)."""
    row = await db.fetchone(
        "SELECT opened_at, closed_at FROM attendance_counts "
        "WHERE meeting_id = ? AND occurrence = ? AND guild_id = ?",
        (meeting_id, occurrence, guild_id),
    )
    if row is None:
        return None
    return utc_from_iso(row[0]), utc_from_iso(row[1]) if row[1] else None


async def closed_counts(db: Reader, meeting_id: int, limit: int) -> list[OccurrenceCount]:
    """The counts of a meeting's last `limit` closed occurrences, oldest first."""
    rows = await db.fetchall(
        "SELECT occurrence, checkins FROM attendance_counts "
        "WHERE meeting_id = ? AND closed_at IS NOT NULL ORDER BY occurrence DESC LIMIT ?",
        (meeting_id, limit),
    )
    return [OccurrenceCount(date.fromisoformat(r[0]), int(r[1])) for r in reversed(rows)]
