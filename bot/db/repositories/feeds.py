"""The feeds' store: per-guild settings (a hashed token, never the token), published invites and
each feed's current content version (shared by every feed server)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.clock import iso, utc_from_iso
from bot.db import Reader, Transaction
from bot.models.feeds import FeedConfig, FeedInvite, FeedVersion

_CONFIG = "SELECT guild_id, include_closed, calendar_name, created_at, rotated_at FROM guild_feeds "
_INVITE = "SELECT meeting_id, channel_id, code FROM feed_invites "


def _config(row: Any) -> FeedConfig:
    return FeedConfig(
        guild_id=row[0],
        include_closed=bool(row[1]),
        calendar_name=row[2],
        created_at=utc_from_iso(row[3]),
        rotated_at=utc_from_iso(row[4]),
    )


def _invite(row: Any) -> FeedInvite:
    return FeedInvite(row[0], row[1], row[2])


async def config(db: Reader, guild_id: int) -> FeedConfig | None:
    """A guild's feed settings, or None when its feeds are off."""
    row = await db.fetchone(_CONFIG + "WHERE guild_id = ?", (guild_id,))
    return None if row is None else _config(row)


async def config_by_token_hash(db: Reader, token_hash: str) -> FeedConfig | None:
    """The feed settings a token's hash opens, or None."""
    row = await db.fetchone(_CONFIG + "WHERE token_hash = ?", (token_hash,))
    return None if row is None else _config(row)


async def include_closed(db: Reader, guild_id: int) -> bool | None:
    """Whether a guild's feeds include closed meetings; None when its feeds are off."""
    row = await db.fetchone(
        "SELECT include_closed FROM guild_feeds WHERE guild_id = ?", (guild_id,)
    )
    return None if row is None else bool(row[0])


async def set_include_closed(tx: Transaction, guild_id: int, include: bool) -> None:
    """Include or leave out a guild's closed meetings."""
    await tx.execute(
        "UPDATE guild_feeds SET include_closed = ? WHERE guild_id = ?", (int(include), guild_id)
    )


async def insert_config(
    tx: Transaction,
    guild_id: int,
    token_hash: str,
    include: bool,
    calendar_name: str,
    now: datetime,
) -> None:
    """Turn a guild's feeds on with a token's hash."""
    await tx.execute(
        "INSERT INTO guild_feeds (guild_id, token_hash, include_closed, calendar_name, "
        "created_at, rotated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (guild_id, token_hash, int(include), calendar_name, iso(now), iso(now)),
    )


async def set_token_hash(tx: Transaction, guild_id: int, token_hash: str, now: datetime) -> bool:
    """Replace a guild's token hash; False when its feeds are off."""
    changed = await tx.execute(
        "UPDATE guild_feeds SET token_hash = ?, rotated_at = ? WHERE guild_id = ?",
        (token_hash, iso(now), guild_id),
    )
    return bool(changed)


async def set_calendar_name(tx: Transaction, guild_id: int, name: str) -> bool:
    """Rename a guild's calendar; True when the name changed."""
    changed = await tx.execute(
        "UPDATE guild_feeds SET calendar_name = ? WHERE guild_id = ? AND calendar_name != ?",
        (name, guild_id, name),
    )
    return bool(changed)


async def delete_config(tx: Transaction, guild_id: int) -> bool:
    """Turn a guild's feeds off; False when they were already off."""
    return bool(await tx.execute("DELETE FROM guild_feeds WHERE guild_id = ?", (guild_id,)))


async def enabled_guilds(db: Reader) -> list[int]:
    """Every guild whose feeds are on, by id."""
    rows = await db.fetchall("SELECT guild_id FROM guild_feeds ORDER BY guild_id")
    return [r[0] for r in rows]


async def invites(db: Reader, guild_id: int) -> list[FeedInvite]:
    """The stored invites of a guild's meetings."""
    return [_invite(r) for r in await db.fetchall(_INVITE + "WHERE guild_id = ?", (guild_id,))]


async def invite_of(db: Reader, meeting_id: int) -> FeedInvite | None:
    """A meeting's stored invite, if any."""
    row = await db.fetchone(_INVITE + "WHERE meeting_id = ?", (meeting_id,))
    return None if row is None else _invite(row)


async def can_publish(db: Reader, guild_id: int, meeting_id: int) -> bool:
    """Whether the meeting still exists in the guild and the guild's feeds are on."""
    exists = await db.fetchone(
        "SELECT 1 FROM meetings WHERE id = ? AND guild_id = ?", (meeting_id, guild_id)
    )
    feeds_on = await db.fetchone("SELECT 1 FROM guild_feeds WHERE guild_id = ?", (guild_id,))
    return exists is not None and feeds_on is not None


async def upsert_invite(tx: Transaction, guild_id: int, invite: FeedInvite, now: datetime) -> None:
    """Store a meeting's invite, replacing the one it had."""
    await tx.execute(
        "INSERT INTO feed_invites (meeting_id, guild_id, channel_id, code, created_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (meeting_id) DO UPDATE SET "
        "channel_id = excluded.channel_id, code = excluded.code, "
        "created_at = excluded.created_at",
        (invite.meeting_id, guild_id, invite.channel_id, invite.code, iso(now)),
    )


async def delete_invite(tx: Transaction, meeting_id: int) -> None:
    """Forget a meeting's invite."""
    await tx.execute("DELETE FROM feed_invites WHERE meeting_id = ?", (meeting_id,))


async def delete_invites(tx: Transaction, guild_id: int) -> None:
    """Forget every invite of a guild."""
    await tx.execute("DELETE FROM feed_invites WHERE guild_id = ?", (guild_id,))


async def meeting_updates(db: Reader, guild_id: int) -> dict[int, datetime]:
    """When each of a guild's meetings last changed, by meeting id."""
    rows = await db.fetchall("SELECT id, updated_at FROM meetings WHERE guild_id = ?", (guild_id,))
    return {r[0]: utc_from_iso(r[1]) for r in rows}


async def feed_version(db: Reader, guild_id: int, kind: str) -> FeedVersion | None:
    """The content version a guild's feed of one kind was last rendered at, if any."""
    row = await db.fetchone(
        "SELECT digest, first_seen FROM feed_versions WHERE guild_id = ? AND kind = ?",
        (guild_id, kind),
    )
    return None if row is None else FeedVersion(row[0], utc_from_iso(row[1]))


async def replace_feed_version(
    tx: Transaction,
    guild_id: int,
    kind: str,
    version: FeedVersion,
    replacing: str | None,
) -> None:
    """Record a new content version, unless another server already replaced ``replacing``."""
    # Compare-and-set on the digest read before: of two servers racing with new content, the
    # first one's version stands and the other reads it back.
    await tx.execute(
        "INSERT INTO feed_versions (guild_id, kind, digest, first_seen) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, kind) DO UPDATE SET digest = excluded.digest, "
        "first_seen = excluded.first_seen WHERE feed_versions.digest = ?",
        (guild_id, kind, version.digest, iso(version.first_seen), replacing or ""),
    )
