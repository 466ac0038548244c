"""The anonymous line's store: open conversations (sealed user id, keyed hash) and blocks (hash only).

Deleted rows are zeroed by the connection (secure_delete is on); the service truncates the WAL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.clock import iso
from bot.db import Reader, Transaction
from bot.models.modline import Conversation

_COLUMNS = "id, guild_id, pseudonym, thread_id"


def _conversation(row: Any) -> Conversation:
    return Conversation(row[0], row[1], row[2], row[3])


async def is_blocked(db: Reader, guild_id: int, user_hash: bytes) -> bool:
    """Whether this keyed hash is blocked in a guild."""
    row = await db.fetchone(
        "SELECT 1 FROM modline_blocks WHERE guild_id = ? AND user_hash = ?",
        (guild_id, user_hash),
    )
    return row is not None


async def by_user_hash(db: Reader, guild_id: int, user_hash: bytes) -> Conversation | None:
    """The open conversation found by a person's keyed hash in a guild, if any."""
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM modline_conversations "  # noqa: S608
        "WHERE guild_id = ? AND user_hash = ?",
        (guild_id, user_hash),
    )
    return None if row is None else _conversation(row)


async def by_thread(db: Reader, thread_id: int) -> Conversation | None:
    """The open conversation shown in a thread, if any."""
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM modline_conversations WHERE thread_id = ?",  # noqa: S608
        (thread_id,),
    )
    return None if row is None else _conversation(row)


async def by_id(db: Reader, conversation_id: int) -> Conversation | None:
    """An open conversation by id, if it still exists."""
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM modline_conversations WHERE id = ?",  # noqa: S608
        (conversation_id,),
    )
    return None if row is None else _conversation(row)


async def pseudonyms(db: Reader, guild_id: int) -> set[str]:
    """The pseudonyms of a guild's open conversations."""
    rows = await db.fetchall(
        "SELECT pseudonym FROM modline_conversations WHERE guild_id = ?", (guild_id,)
    )
    return {r[0] for r in rows}


async def sealed_user(db: Reader, conversation_id: int) -> bytes | None:
    """The sealed user id of an open conversation; None once it is closed."""
    sealed = await db.fetchval(
        "SELECT sealed_user FROM modline_conversations WHERE id = ?", (conversation_id,)
    )
    return None if sealed is None else bytes(sealed)


async def insert_conversation(
    tx: Transaction,
    guild_id: int,
    pseudonym: str,
    thread_id: int,
    user_hash: bytes,
    sealed: bytes,
    opened_at: datetime,
) -> int:
    """Store a new conversation; return its id."""
    return await tx.insert(
        "INSERT INTO modline_conversations "
        "(guild_id, pseudonym, thread_id, user_hash, sealed_user, opened_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (guild_id, pseudonym, thread_id, user_hash, sealed, iso(opened_at)),
    )


async def delete_conversation(tx: Transaction, conversation_id: int) -> int:
    """Delete one conversation; return how many rows went."""
    return await tx.execute("DELETE FROM modline_conversations WHERE id = ?", (conversation_id,))


async def delete_by_user_hash(tx: Transaction, guild_id: int, user_hash: bytes) -> int:
    """Delete a person's conversations in a guild, found by keyed hash; return the count."""
    return await tx.execute(
        "DELETE FROM modline_conversations WHERE guild_id = ? AND user_hash = ?",
        (guild_id, user_hash),
    )


async def conversation_guilds(db: Reader) -> list[int]:
    """Every guild with an open conversation."""
    rows = await db.fetchall("SELECT DISTINCT guild_id FROM modline_conversations")
    return [r[0] for r in rows]


async def insert_block(
    tx: Transaction, guild_id: int, user_hash: bytes, pseudonym: str, blocked_at: datetime
) -> None:
    """Block a keyed hash in a guild (blocking twice keeps the first)."""
    await tx.execute(
        "INSERT INTO modline_blocks (guild_id, user_hash, pseudonym, blocked_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_hash) DO NOTHING",
        (guild_id, user_hash, pseudonym, iso(blocked_at)),
    )
