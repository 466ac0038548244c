"""Several processes on one PostgreSQL: worker rows, claim leases, takeover and expiry of claims.

A worker is one running process. Its claimed jobs carry its id (``claimed_by``) and a lease that its
heartbeat renews; the shard filter is ``bot.db.dialect.SHARD_FILTER`` (Discord's formula).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.db import Transaction
from bot.db.dialect import SHARD_FILTER

# A claim given back: pending again, marked recovered so handlers resend with the same nonces.
_GIVE_BACK = (
    "UPDATE jobs SET status = 'pending', recovered = 1, claimed_by = NULL, lease_until = NULL "
    "WHERE status = 'claimed' "
)


async def beat(
    tx: Transaction, worker_id: str, count: int, shard_ids: Sequence[int], now: int
) -> None:
    """Record the worker (or that it is still alive) with the shards it runs."""
    await tx.execute(
        "INSERT INTO global_workers (worker_id, shard_count, shard_ids, started_at, heartbeat_at) "
        "VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        (worker_id, count, ",".join(map(str, shard_ids)), now, now),
    )


async def prune_workers(tx: Transaction, silent_since: int) -> int:
    """Forget workers whose last heartbeat is older than `silent_since` (crashed long ago)."""
    return await tx.execute("DELETE FROM global_workers WHERE heartbeat_at < ?", (silent_since,))


async def remove_worker(tx: Transaction, worker_id: str) -> None:
    """The worker stopped cleanly."""
    await tx.execute("DELETE FROM global_workers WHERE worker_id = ?", (worker_id,))


async def renew_leases(tx: Transaction, worker_id: str, until: int) -> int:
    """Extend the lease of every job this worker holds claimed; return how many."""
    return await tx.execute(
        "UPDATE jobs SET lease_until = ? WHERE claimed_by = ? AND status = 'claimed'",
        (until, worker_id),
    )


async def reclaim_shard(tx: Transaction, count: int, shard: int, worker_id: str) -> int:
    """Just took the shard's lock: give back what its previous holder left claimed.

    Its previous holders ran the same shard count, and their session (so their lock) is gone.
    Claims of a fleet with another shard count (a re-shard overlap) may still be live: the
    lease returns those once their heartbeat stops.
    """
    return await tx.execute(
        _GIVE_BACK + "AND ((guild_id >> 22) % ?) = ? AND (claimed_by IS NULL OR "
        "(claimed_by <> ? AND claimed_by NOT IN "
        "(SELECT worker_id FROM global_workers WHERE shard_count <> ?)))",
        (count, shard, worker_id, count),
    )


async def give_back_expired(
    tx: Transaction, count: int, shard_ids: Sequence[int], worker_id: str, now: int
) -> int:
    """Give back other workers' claims on these shards whose lease ran out; return how many."""
    return await tx.execute(
        _GIVE_BACK + "AND lease_until < ? AND claimed_by <> ? AND " + SHARD_FILTER,
        (now, worker_id, count, list(shard_ids)),
    )
