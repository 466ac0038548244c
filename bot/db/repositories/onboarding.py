"""Role requests waiting for a moderator: one row per person, guild and role."""

from __future__ import annotations

from typing import Any

from bot.clock import iso, utc_from_iso
from bot.db import Reader, Transaction
from bot.models.onboarding import RoleKind, RoleRequest

_COLUMNS = "id, guild_id, user_id, kind, requested_at, channel_id, message_id"


def _request(row: Any) -> RoleRequest:
    return RoleRequest(
        id=row[0],
        guild_id=row[1],
        user_id=row[2],
        kind=RoleKind(row[3]),
        requested_at=utc_from_iso(row[4]),
        channel_id=row[5],
        message_id=row[6],
    )


async def pending(db: Reader, guild_id: int, user_id: int, kind: RoleKind) -> RoleRequest | None:
    """A person's pending request for one role, if any."""
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM role_requests "  # noqa: S608
        "WHERE guild_id = ? AND user_id = ? AND kind = ?",
        (guild_id, user_id, kind.value),
    )
    return None if row is None else _request(row)


async def by_id(db: Reader, request_id: int) -> RoleRequest | None:
    """A pending request by id."""
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM role_requests WHERE id = ?",  # noqa: S608
        (request_id,),
    )
    return None if row is None else _request(row)


async def in_guild(db: Reader, request_id: int, guild_id: int) -> RoleRequest | None:
    """A pending request by id, only if it belongs to this guild."""
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM role_requests WHERE id = ? AND guild_id = ?",  # noqa: S608
        (request_id, guild_id),
    )
    return None if row is None else _request(row)


async def insert(tx: Transaction, request: RoleRequest) -> int:
    """Store a new request (its id is assigned here); return the id."""
    return await tx.insert(
        "INSERT INTO role_requests (guild_id, user_id, kind, requested_at) VALUES (?, ?, ?, ?)",
        (request.guild_id, request.user_id, request.kind.value, iso(request.requested_at)),
    )


async def attach_message(
    tx: Transaction, request_id: int, channel_id: int, message_id: int
) -> None:
    """Remember where a request's Approve / Decline card was posted."""
    await tx.execute(
        "UPDATE role_requests SET channel_id = ?, message_id = ? WHERE id = ?",
        (channel_id, message_id, request_id),
    )


async def delete(tx: Transaction, request_id: int) -> None:
    """Delete a request."""
    await tx.execute("DELETE FROM role_requests WHERE id = ?", (request_id,))


async def restore(tx: Transaction, request: RoleRequest) -> None:
    """Put a deleted request back as it was (unless it exists again)."""
    await tx.execute(
        f"INSERT INTO role_requests ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
        "ON CONFLICT DO NOTHING",
        (
            request.id,
            request.guild_id,
            request.user_id,
            request.kind.value,
            iso(request.requested_at),
            request.channel_id,
            request.message_id,
        ),
    )


async def count_pending(db: Reader, guild_id: int) -> int:
    """How many requests of a guild wait for a moderator."""
    value = await db.fetchval("SELECT count(*) FROM role_requests WHERE guild_id = ?", (guild_id,))
    return int(value or 0)
