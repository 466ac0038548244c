"""Reminders' store: subscriptions, the delivery ledger, stored notices and channel alerts."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.clock import iso, to_unix
from bot.db import Reader, Transaction
from bot.db.dialect import bulk_deliveries
from bot.models.reminders import (
    Delivery,
    MeetingTiming,
    Notice,
    QueuedNotice,
    StoredException,
)

_CHUNK = 500  # ids bound per IN (...) list

# -- subscriptions -------------------------------------------------------------------------------


async def count_subscriptions(db: Reader, guild_id: int, user_id: int) -> int:
    """How many meetings of a guild a member gets DM reminders for."""
    return int(
        await db.fetchval(
            "SELECT COUNT(*) FROM reminder_subscriptions WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
    )


async def is_subscribed(db: Reader, meeting_id: int, user_id: int) -> bool:
    """Whether a member gets DM reminders of a meeting."""
    row = await db.fetchone(
        "SELECT 1 FROM reminder_subscriptions WHERE meeting_id = ? AND user_id = ?",
        (meeting_id, user_id),
    )
    return row is not None


async def add_subscription(
    tx: Transaction,
    meeting_id: int,
    guild_id: int,
    user_id: int,
    at: datetime,
    locale: str = "en",
) -> None:
    """Store a member's DM subscription to a meeting, in the language they subscribed in."""
    await tx.execute(
        "INSERT INTO reminder_subscriptions (meeting_id, guild_id, user_id, created_at, locale) "
        "VALUES (?, ?, ?, ?, ?)",
        (meeting_id, guild_id, user_id, iso(at), locale),
    )


async def has_other_locale(db: Reader, user_id: int, locale: str) -> bool:
    """Whether any of a person's subscriptions is stored in another language than ``locale``."""
    row = await db.fetchone(
        "SELECT 1 FROM reminder_subscriptions WHERE user_id = ? AND locale <> ? LIMIT 1",
        (user_id, locale),
    )
    return row is not None


async def set_locale(tx: Transaction, user_id: int, locale: str) -> int:
    """Store the language a person now uses on all their subscriptions; returns rows changed."""
    return await tx.execute(
        "UPDATE reminder_subscriptions SET locale = ? WHERE user_id = ? AND locale <> ?",
        (locale, user_id, locale),
    )


async def locales_of(db: Reader, user_ids: Iterable[int]) -> dict[int, str]:
    """The stored language of each of some subscribers (their DMs are written in it)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await db.fetchall(
        "SELECT user_id, MAX(locale) FROM reminder_subscriptions "
        "WHERE user_id IN (SELECT value FROM json_each(?)) GROUP BY user_id",
        (json.dumps(ids),),
    )
    return {row[0]: row[1] for row in rows}


async def remove_subscription(tx: Transaction, meeting_id: int, guild_id: int, user_id: int) -> int:
    """Delete a member's subscription to a meeting; returns how many rows went (0 or 1)."""
    return await tx.execute(
        "DELETE FROM reminder_subscriptions WHERE meeting_id = ? AND guild_id = ? AND user_id = ?",
        (meeting_id, guild_id, user_id),
    )


async def remove_member_subscriptions(tx: Transaction, guild_id: int, user_id: int) -> int:
    """Delete every subscription of a member in a guild; returns how many went."""
    return await tx.execute(
        "DELETE FROM reminder_subscriptions WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    )


async def subscribed_meeting_ids(db: Reader, guild_id: int, user_id: int) -> list[int]:
    """Ids of the meetings a member is subscribed to in a guild."""
    rows = await db.fetchall(
        "SELECT meeting_id FROM reminder_subscriptions WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    )
    return [r[0] for r in rows]


async def subscriber_ids(db: Reader, meeting_id: int) -> list[int]:
    """User ids subscribed to a meeting, longest subscribed first."""
    rows = await db.fetchall(
        "SELECT user_id FROM reminder_subscriptions WHERE meeting_id = ? ORDER BY created_at",
        (meeting_id,),
    )
    return [r[0] for r in rows]


async def notice_targets(db: Reader, meeting_id: int) -> list[int]:
    """User ids subscribed to a meeting, in key order (who a change notice goes to)."""
    rows = await db.fetchall(
        "SELECT user_id FROM reminder_subscriptions WHERE meeting_id = ?", (meeting_id,)
    )
    return [r[0] for r in rows]


async def subscribers_by_meeting(db: Reader, meeting_ids: Iterable[int]) -> dict[int, list[int]]:
    """Subscribers of each of some meetings, longest subscribed first."""
    out: dict[int, list[int]] = defaultdict(list)
    for row in await db.fetchall(
        "SELECT meeting_id, user_id FROM reminder_subscriptions "
        "WHERE meeting_id IN (SELECT value FROM json_each(?)) ORDER BY created_at",
        (json.dumps(list(meeting_ids)),),
    ):
        out[row[0]].append(row[1])
    return out


# -- planning ------------------------------------------------------------------------------------


async def meetings_without_pending(
    db: Reader, kind: str, *, since: str, shards: tuple[int, Sequence[int]] | None = None
) -> list[MeetingTiming]:
    """The timing of every meeting with no pending or claimed job of `kind` that may need one.

    A one-off meeting dated before `since` (an ISO date two days back: over in every zone) and not
    moved to it or later has nothing left to plan: it is not read again at every reconcile.
    `shards` = (shard count, shard ids): only the meetings of guilds on those shards.
    """
    sql = (
        "SELECT m.id, m.guild_id, m.timezone, m.first_date, m.start_time, m.repeat, "
        "m.duration_minutes, m.paused_until, m.reminder_offsets FROM meetings AS m "
        "WHERE NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.meeting_id = m.id "
        "AND j.kind = ? AND j.status IN ('pending', 'claimed')) "
        "AND (m.repeat <> 'once' OR m.first_date >= ? OR m.id IN "
        "(SELECT e.meeting_id FROM meeting_exceptions AS e WHERE e.moved_to >= ?))"
    )
    params: list[object] = [kind, since, since]
    if shards is not None:
        sql += " AND ((m.guild_id >> 22) % ?) IN (SELECT value FROM json_each(?))"
        params += [shards[0], json.dumps(list(shards[1]))]
    rows = await db.fetchall(sql, params)
    return [MeetingTiming._make(r) for r in rows]


async def exceptions_since(db: Reader, since: str) -> list[StoredException]:
    """Occurrence exceptions on or after a date (ISO), either where they were or moved to."""
    rows = await db.fetchall(
        "SELECT meeting_id, occurrence, cancelled, moved_to FROM meeting_exceptions "
        "WHERE occurrence >= ? OR moved_to >= ?",
        (since, since),
    )
    return [StoredException(r[0], r[1], bool(r[2]), r[3]) for r in rows]


async def occurrences_pending(
    db: Reader, kind: str, meeting_ids: Iterable[int]
) -> set[tuple[int, str]]:
    """(meeting, occurrence) pairs of some meetings with a job of `kind` pending or claimed."""
    ids = sorted(set(meeting_ids))
    if not ids:
        return set()
    rows = await db.fetchall(
        "SELECT DISTINCT meeting_id, occurrence FROM jobs WHERE kind = ? "
        "AND meeting_id IN (SELECT value FROM json_each(?)) AND status IN ('pending', 'claimed')",
        (kind, json.dumps(ids)),
    )
    return {(r[0], r[1]) for r in rows}


async def has_pending_job(db: Reader, kind: str, meeting_id: int, occurrence: str) -> bool:
    """Whether a job of `kind` for a meeting's occurrence is still pending or claimed."""
    row = await db.fetchone(
        "SELECT 1 FROM jobs WHERE kind = ? AND meeting_id = ? AND occurrence = ? "
        "AND status IN ('pending', 'claimed') LIMIT 1",
        (kind, meeting_id, occurrence),
    )
    return row is not None


# -- the delivery ledger -------------------------------------------------------------------------


async def is_recorded(
    db: Reader, meeting_id: int, occurrence: str, offset_minutes: int, target: int
) -> bool:
    """Whether the ledger holds an outcome for this (meeting, occurrence, offset, target)."""
    row = await db.fetchone(
        "SELECT 1 FROM reminder_deliveries WHERE meeting_id = ? AND occurrence = ? "
        "AND offset_minutes = ? AND target_user_id = ?",
        (meeting_id, occurrence, offset_minutes, target),
    )
    return row is not None


async def recorded_targets(
    db: Reader, meeting_ids: Iterable[int], occurrences: set[str]
) -> dict[tuple[int, str, int], set[int]]:
    """Targets the ledger holds per (meeting, occurrence, offset) of reminders (offset >= 0)."""
    out: dict[tuple[int, str, int], set[int]] = defaultdict(set)
    rows = await db.fetchall(
        "SELECT meeting_id, occurrence, offset_minutes, target_user_id FROM reminder_deliveries "
        "WHERE meeting_id IN (SELECT value FROM json_each(?)) AND offset_minutes >= 0",
        (json.dumps(sorted(set(meeting_ids))),),
    )
    for r in rows:
        if r[1] in occurrences:
            out[(r[0], r[1], r[2])].add(r[3])
    return out


async def record_deliveries(
    tx: Transaction,
    meeting_id: int,
    guild_id: int,
    occurrence: str,
    offset_minutes: int,
    records: Sequence[Delivery],
    at: datetime,
) -> None:
    """Write outcomes to the ledger; a target already recorded keeps its first outcome."""
    await record_outcomes(tx, [(meeting_id, guild_id, occurrence, offset_minutes, records)], at)


# One reminder's outcomes: (meeting, guild, occurrence, offset in minutes, its targets' records).
Outcomes = tuple[int, int, str, int, Sequence[Delivery]]


async def record_outcomes(tx: Transaction, outcomes: Iterable[Outcomes], at: datetime) -> None:
    """Write several reminders' outcomes to the ledger in one statement (first outcome wins)."""
    stamp = to_unix(at)
    rows = [
        (
            meeting_id,
            guild_id,
            occurrence,
            offset_minutes,
            r.target,
            r.status,
            r.reason[:200],
            int(r.late),
            stamp,
        )
        for meeting_id, guild_id, occurrence, offset_minutes, records in outcomes
        for r in records
    ]
    if rows:
        await tx.execute(*bulk_deliveries(tx.dialect, rows))


async def prune_ledger(tx: Transaction, before: datetime) -> int:
    """Forget ledger entries recorded before an instant; returns how many went."""
    return await tx.execute(
        "DELETE FROM reminder_deliveries WHERE recorded_at < ?", (to_unix(before),)
    )


# -- notices -------------------------------------------------------------------------------------


async def add_notice(
    tx: Transaction,
    guild_id: int,
    meeting_id: int,
    user_id: int,
    change: str,
    occurrence: str,
    starts_at: int | None,
    at: datetime,
) -> int:
    """Store a change notice for a target; returns its id."""
    return await tx.insert(
        "INSERT INTO reminder_notices (guild_id, meeting_id, user_id, change, occurrence, "
        "starts_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (guild_id, meeting_id, user_id, change, occurrence, starts_at, to_unix(at)),
    )


async def notices_without_job(db: Reader, kind: str) -> list[QueuedNotice]:
    """Stored notices with no job of `kind` (the deletion trigger writes notices without one)."""
    rows = await db.fetchall(
        "SELECT n.id, n.guild_id, n.meeting_id FROM reminder_notices AS n WHERE NOT EXISTS "
        "(SELECT 1 FROM jobs AS j WHERE j.kind = ? AND j.meeting_id = n.meeting_id "
        "AND j.slot = CAST(n.id AS TEXT))",
        (kind,),
    )
    return [QueuedNotice(r[0], r[1], r[2]) for r in rows]


async def notices(db: Reader, ids: Sequence[int]) -> dict[int, Notice]:
    """Stored notices by id (ids no longer stored are left out)."""
    out: dict[int, Notice] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        for r in await db.fetchall(
            "SELECT id, guild_id, meeting_id, user_id, change, title, occurrence, starts_at, "
            f"locale FROM reminder_notices WHERE id IN ({marks})",  # noqa: S608
            list(chunk),
        ):
            out[r[0]] = Notice(*tuple(r))
    return out


async def remove_notice(tx: Transaction, notice_id: int) -> None:
    """Delete a notice once it has been sent or dropped."""
    await tx.execute("DELETE FROM reminder_notices WHERE id = ?", (notice_id,))


# -- channel alerts ------------------------------------------------------------------------------


async def add_alert(
    tx: Transaction, guild_id: int, channel_id: int, reason: str, at: datetime
) -> bool:
    """Note an unusable channel; False if it was already noted (the mod log was told)."""
    fresh = await tx.execute(
        "INSERT INTO reminder_alerts (guild_id, channel_id, reason, alerted_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, channel_id) DO NOTHING",
        (guild_id, channel_id, reason[:200], to_unix(at)),
    )
    return fresh > 0


async def clear_alerts(tx: Transaction, channels: Iterable[tuple[int, int]]) -> None:
    """Forget the alerts of some (guild, channel) pairs: posts there succeeded (one read if none)."""
    wanted = set(channels)
    if not wanted:
        return
    rows = await tx.fetchall(
        "SELECT guild_id, channel_id FROM reminder_alerts "
        "WHERE guild_id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted({g for g, _ in wanted})),),
    )
    for row in rows:
        if (row[0], row[1]) in wanted:
            await clear_alert(tx, row[0], row[1])


async def clear_alert(tx: Transaction, guild_id: int, channel_id: int) -> None:
    """Forget a channel's alert (a post there succeeded)."""
    await tx.execute(
        "DELETE FROM reminder_alerts WHERE guild_id = ? AND channel_id = ?",
        (guild_id, channel_id),
    )
