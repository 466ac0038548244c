"""Meetings in SQLite: the meeting rows with their exceptions and facilitators, as models."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from bot.clock import Clock, iso
from bot.db import Database, Reader, Transaction
from bot.models.meetings import Access, Kind, Meeting, OccurrenceException, Repeat

_COLUMNS = (
    "id, guild_id, title, kind, access, formats, timezone, first_date, start_time, "
    "duration_minutes, repeat, description, opening_text, reminder_offsets, room_open_minutes, "
    "room_close_minutes, room_clear_chat, room_category_id, room_text_channel_id, "
    "room_voice_channel_id, paused_until, native_event_id, language"
)

# Fields that `update` may change, with their storage conversion.
EDITABLE = {
    "title",
    "kind",
    "access",
    "formats",
    "timezone",
    "first_date",
    "start_time",
    "duration_minutes",
    "repeat",
    "description",
    "opening_text",
    "reminder_offsets",
    "room_open_minutes",
    "room_close_minutes",
    "room_clear_chat",
    "room_category_id",
    "room_text_channel_id",
    "room_voice_channel_id",
    "paused_until",
    "native_event_id",
    "language",
}


def _to_db(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "formats":
        return ",".join(value)
    if name == "reminder_offsets":
        return ",".join(str(m) for m in value)
    if name in ("first_date", "paused_until"):
        return value.isoformat()
    if name == "start_time":
        return value.strftime("%H:%M")
    if name == "room_clear_chat":
        return int(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


# Stored enum values -> members by dict lookup (Enum's own call is ~10x slower); a value not
# in these still goes through the Enum, which raises for it.
_KINDS = {k.value: k for k in Kind}
_ACCESS = {a.value: a for a in Access}
_REPEATS = {r.value: r for r in Repeat}


def _from_row(
    row: Any, exceptions: dict[date, OccurrenceException], facilitators: frozenset[int]
) -> Meeting:
    return Meeting(
        id=row[0],
        guild_id=row[1],
        title=row[2],
        kind=_KINDS.get(row[3]) or Kind(row[3]),
        access=_ACCESS.get(row[4]) or Access(row[4]),
        formats=tuple(f for f in row[5].split(",") if f),
        timezone=row[6],
        first_date=date.fromisoformat(row[7]),
        start_time=time.fromisoformat(row[8]),
        duration_minutes=row[9],
        repeat=_REPEATS.get(row[10]) or Repeat(row[10]),
        description=row[11],
        opening_text=row[12],
        reminder_offsets=(
            tuple(int(m) for m in row[13].split(",") if m) if row[13] is not None else None
        ),
        room_open_minutes=row[14],
        room_close_minutes=row[15],
        room_clear_chat=None if row[16] is None else bool(row[16]),
        room_category_id=row[17],
        room_text_channel_id=row[18],
        room_voice_channel_id=row[19],
        paused_until=date.fromisoformat(row[20]) if row[20] else None,
        native_event_id=row[21],
        language=row[22],
        exceptions=exceptions,
        facilitator_ids=facilitators,
    )


class MeetingStore:
    """Reads and writes meetings, their exceptions and facilitators."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def get(self, meeting_id: int, guild_id: int | None = None) -> Meeting | None:
        """A meeting by id; when guild_id is given, only if it belongs to that guild."""
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM meetings WHERE id = ?",
            (meeting_id,),  # noqa: S608
        )
        if row is None or (guild_id is not None and row[1] != guild_id):
            return None
        return (await self._hydrate([row]))[0]

    async def exists(self, db: Reader, meeting_id: int) -> bool:
        """Whether the meeting is still stored (read inside a transaction to hold it)."""
        return await db.fetchone("SELECT 1 FROM meetings WHERE id = ?", (meeting_id,)) is not None

    async def list_guild(self, guild_id: int) -> list[Meeting]:
        """Every meeting of a guild, by title."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM meetings WHERE guild_id = ? ORDER BY lower(title), id",  # noqa: S608
            (guild_id,),
        )
        return await self._hydrate(rows)

    async def list_all(self, shards: tuple[int, Sequence[int]] | None = None) -> list[Meeting]:
        """Every meeting (for reconcilers); `shards` = (count, ids): only their guilds' meetings."""
        sql = f"SELECT {_COLUMNS} FROM meetings"  # noqa: S608
        params: list[object] = []
        if shards is not None:
            sql += " WHERE ((guild_id >> 22) % ?) IN (SELECT value FROM json_each(?))"
            params += [shards[0], json.dumps(list(shards[1]))]
        rows = await self.db.fetchall(sql + " ORDER BY id", params)
        return await self._hydrate(rows)

    async def get_many(self, meeting_ids: Iterable[int]) -> dict[int, Meeting]:
        """Meetings by id, of any guild; ids that no longer exist are left out.

        One query for the meetings and one each for their exceptions and facilitators, however
        many ids (a burst of reminders reads 1,000 meetings this way).
        """
        ids = sorted(set(meeting_ids))
        if not ids:
            return {}
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM meetings "  # noqa: S608 - constant columns
            "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ids),),
        )
        return {m.id: m for m in await self._hydrate(rows)}

    async def _hydrate(self, rows: list[Any]) -> list[Meeting]:
        """Meetings from their rows, with exceptions and facilitators (two queries for all)."""
        if not rows:
            return []
        # The ids go in as one JSON array: no limit on how many, one statement to prepare.
        ids = (json.dumps([r[0] for r in rows]),)
        exc_rows = await self.db.fetchall(
            "SELECT meeting_id, occurrence, cancelled, moved_to FROM meeting_exceptions "
            "WHERE meeting_id IN (SELECT value FROM json_each(?))",
            ids,
        )
        fac_rows = await self.db.fetchall(
            "SELECT meeting_id, user_id FROM meeting_facilitators "
            "WHERE meeting_id IN (SELECT value FROM json_each(?))",
            ids,
        )
        excs: dict[int, dict[date, OccurrenceException]] = {}
        for r in exc_rows:
            moved = datetime.strptime(r[3], "%Y-%m-%d %H:%M") if r[3] else None  # noqa: DTZ007 - local wall time
            excs.setdefault(r[0], {})[date.fromisoformat(r[1])] = OccurrenceException(
                cancelled=bool(r[2]), moved_to=moved
            )
        facs: dict[int, set[int]] = {}
        for r in fac_rows:
            facs.setdefault(r[0], set()).add(r[1])
        none: frozenset[int] = frozenset()
        return [
            _from_row(
                r,
                excs.get(r[0]) or {},  # each meeting its own dict
                frozenset(facs[r[0]]) if r[0] in facs else none,
            )
            for r in rows
        ]

    async def create(
        self,
        tx: Transaction,
        *,
        guild_id: int,
        title: str,
        kind: Kind,
        access: Access,
        formats: tuple[str, ...],
        timezone: str,
        first_date: date,
        start_time: time,
        duration_minutes: int,
        repeat: Repeat,
        description: str = "",
        facilitator_id: int | None = None,
        language: str = "en",
    ) -> int:
        """Insert a meeting (and its first facilitator) inside a transaction; return its id."""
        now = iso(self.clock.now())
        meeting_id = await tx.insert(
            "INSERT INTO meetings (guild_id, title, kind, access, formats, timezone, first_date, "
            "start_time, weekday, duration_minutes, repeat, description, language, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                title,
                kind.value,
                access.value,
                ",".join(formats),
                timezone,
                first_date.isoformat(),
                start_time.strftime("%H:%M"),
                first_date.isoweekday(),
                duration_minutes,
                repeat.value,
                description,
                language,
                now,
                now,
            ),
        )
        if facilitator_id is not None:
            await tx.execute(
                "INSERT INTO meeting_facilitators (meeting_id, guild_id, user_id) VALUES (?, ?, ?)",
                (meeting_id, guild_id, facilitator_id),
            )
        return meeting_id

    async def update(self, tx: Transaction, meeting_id: int, **fields: Any) -> None:
        """Change stored fields of a meeting inside a transaction."""
        unknown = set(fields) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        if not fields:
            return
        cols = list(fields)
        values = [_to_db(c, fields[c]) for c in cols]
        extra = ""
        if "first_date" in fields:
            extra = ", weekday = ?"
            values.append(fields["first_date"].isoweekday())
        sets = ", ".join(f"{c} = ?" for c in cols)
        await tx.execute(
            f"UPDATE meetings SET {sets}{extra}, updated_at = ? WHERE id = ?",  # noqa: S608
            (*values, iso(self.clock.now()), meeting_id),
        )

    async def set_exception(
        self, tx: Transaction, meeting_id: int, occurrence: date, exc: OccurrenceException | None
    ) -> None:
        """Cancel or move one occurrence; None removes the exception."""
        if exc is None:
            await tx.execute(
                "DELETE FROM meeting_exceptions WHERE meeting_id = ? AND occurrence = ?",
                (meeting_id, occurrence.isoformat()),
            )
            return
        moved = exc.moved_to.strftime("%Y-%m-%d %H:%M") if exc.moved_to else None
        await tx.execute(
            "INSERT INTO meeting_exceptions (meeting_id, occurrence, cancelled, moved_to) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (meeting_id, occurrence) "
            "DO UPDATE SET cancelled = excluded.cancelled, moved_to = excluded.moved_to",
            (meeting_id, occurrence.isoformat(), int(exc.cancelled), moved),
        )

    async def add_facilitator(self, tx: Transaction, meeting: Meeting, user_id: int) -> None:
        """Make a user a facilitator of a meeting."""
        await tx.execute(
            "INSERT INTO meeting_facilitators (meeting_id, guild_id, user_id) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (meeting.id, meeting.guild_id, user_id),
        )

    async def remove_facilitator(self, tx: Transaction, meeting_id: int, user_id: int) -> None:
        """Remove a facilitator from a meeting."""
        await tx.execute(
            "DELETE FROM meeting_facilitators WHERE meeting_id = ? AND user_id = ?",
            (meeting_id, user_id),
        )

    async def delete(self, tx: Transaction, meeting_id: int) -> None:
        """Delete a meeting; exceptions and facilitators go with it."""
        await tx.execute("DELETE FROM meetings WHERE id = ?", (meeting_id,))
