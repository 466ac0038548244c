"""Several Haven processes on one PostgreSQL: which guilds a process owns (design/scale-out.md).

A process runs some of Discord's gateway shards and owns the guilds on them, by Discord's formula
``shard_id = (guild_id >> 22) % shard_count``. Guild-less jobs (guild_id 0) fall to shard 0, which
also receives every DM. With no shards configured one process owns everything (SQLite always).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.clock import Clock, from_unix, to_unix
from bot.config import Settings
from bot.db.repositories import cluster as repo

if TYPE_CHECKING:
    from bot.db.postgres import PostgresDatabase, PostgresSession

log = logging.getLogger(__name__)


def shard_of(guild_id: int, count: int) -> int:
    """The shard a guild's events arrive on, by Discord's formula (guild 0: shard 0)."""
    return (guild_id >> 22) % count


@dataclass(frozen=True, slots=True)
class Shards:
    """The gateway shards one process runs: `ids` out of `count`, sorted, each once."""

    count: int
    ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a shard count is at least 1, not {self.count}")
        if not self.ids:
            raise ValueError("a process runs at least one shard")
        for shard in self.ids:
            if not 0 <= shard < self.count:
                raise ValueError(f"shard {shard} is outside 0-{self.count - 1}")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"a shard is listed twice in {self.ids}")
        object.__setattr__(self, "ids", tuple(sorted(self.ids)))

    @classmethod
    def of(cls, count: int) -> Shards:
        """Every shard of `count` (one process running them all)."""
        return cls(count, tuple(range(count)))

    @classmethod
    def from_settings(cls, settings: Settings) -> Shards | None:
        """SHARD_COUNT / SHARD_IDS as a shard set; None when the bot runs unsharded."""
        if settings.shard_count is None:
            return None
        return cls(settings.shard_count, settings.shard_ids or tuple(range(settings.shard_count)))

    def owns(self, guild_id: int) -> bool:
        """Whether this process runs the shard of `guild_id`."""
        return shard_of(guild_id, self.count) in self.ids

    def __str__(self) -> str:
        return f"{','.join(map(str, self.ids))} of {self.count}"


# --- this process in the fleet (PostgreSQL) ------------------------------------------------------

JOBS_CHANNEL = "haven_jobs"  # NOTIFY payload: a new job's fire time, Unix seconds
HEARTBEAT_EVERY = timedelta(seconds=10)
LEASE = timedelta(seconds=30)  # three heartbeats: a claim outlives one slow beat
FORGET_WORKERS_AFTER = timedelta(days=1)
# The shard locks' own key space ("HVS" in the top bytes), apart from the migration lock's key.
_SHARD_LOCK_BASE = 0x4856_5300 << 32


def shard_lock_key(count: int, shard: int) -> int:
    """The session advisory lock of one shard of a shard count (counts differ: keys differ)."""
    return _SHARD_LOCK_BASE | (count << 16) | shard


def new_worker_id() -> str:
    """An id for this process's run: host, pid and a random part (a restart gets a new one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Membership:
    """This process in a fleet on one PostgreSQL: its worker row, shard locks, leases, NOTIFY.

    Each shard the process runs is guarded by a session advisory lock on one connection of its
    own. A second process for the same shard waits for the lock; the moment it gets it, it gives
    back what the previous holder left claimed (recovered, so handlers resend with the same
    nonces). The heartbeat renews this worker's claim leases and gives back other workers'
    expired claims on its shards: the backstop for a holder that hangs or is cut off.
    """

    def __init__(
        self,
        db: PostgresDatabase,
        clock: Clock,
        shards: Shards,
        *,
        worker_id: str | None = None,
        on_notify: Callable[[datetime], None] | None = None,
        listeners: Mapping[str, Callable[[str], None]] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.shards = shards
        self.worker_id = worker_id or new_worker_id()
        self._on_notify = on_notify
        # Fleet messages, by channel: the lock session listens, again when it is reopened. At most
        # once: a message sent while the session is down is not replayed.
        self._listeners = dict(listeners or {})
        self._session: PostgresSession | None = None
        self._held: tuple[int, ...] = ()
        self._leaving = False

    @property
    def held(self) -> tuple[int, ...]:
        """The shards whose lock this process holds now (it claims only their jobs)."""
        return self._held

    def claim_filter(self) -> tuple[int, list[int]]:
        """Parameters of the shard filter for the shards held now: (shard count, shard ids)."""
        return self.shards.count, list(self._held)

    def _now(self) -> int:
        return to_unix(self.clock.now())

    async def join(self) -> int:
        """Register and take every shard's lock, waiting while another process holds one.

        Returns how many jobs earlier holders left claimed and were given back.
        """
        self._leaving = False
        now = self._now()
        async with self.db.transaction() as tx:
            await repo.prune_workers(tx, now - int(FORGET_WORKERS_AFTER.total_seconds()))
            await repo.beat(tx, self.worker_id, self.shards.count, self.shards.ids, now)
        session = await self._open()
        reclaimed = 0
        for shard in self.shards.ids:  # in order, so two processes never wait on each other
            reclaimed += await self._take(session, shard, wait=True)
        log.info("Running shards %s as worker %s", self.shards, self.worker_id)
        return reclaimed

    async def _open(self) -> PostgresSession:
        session = await self.db.session()
        session.on_lost(self._lost)
        await session.listen(JOBS_CHANNEL, self._notified)
        for channel, callback in self._listeners.items():
            await session.listen(channel, callback)
        self._session = session
        return session

    async def _take(self, session: PostgresSession, shard: int, *, wait: bool) -> int:
        key = shard_lock_key(self.shards.count, shard)
        if not await session.try_lock(key):
            if not wait:
                return 0
            log.warning(
                "Shard %d of %d is run by another Haven process; waiting until it stops",
                shard,
                self.shards.count,
            )
            await session.lock(key)
            log.warning("Took over shard %d of %d", shard, self.shards.count)
        async with self.db.transaction() as tx:
            reclaimed = await repo.reclaim_shard(tx, self.shards.count, shard, self.worker_id)
        if not session.alive:  # lost while giving back: the next heartbeat takes it again
            return reclaimed
        self._held = tuple(sorted({*self._held, shard}))
        if reclaimed:
            log.warning("Reclaimed %d jobs left claimed on shard %d", reclaimed, shard)
        return reclaimed

    def _lost(self) -> None:
        self._session = None
        if self._leaving or self.db.closed or not self._held:
            self._held = ()
            return
        self._held = ()
        log.error(
            "Lost the database session holding the locks of shards %s; claiming no jobs until "
            "the heartbeat takes them again",
            self.shards,
        )

    def _notified(self, payload: str) -> None:
        try:
            fire_at = from_unix(int(payload))
        except ValueError:
            return
        if self._on_notify is not None:
            self._on_notify(fire_at)

    async def heartbeat(self) -> int:
        """Renew this worker's leases, retake lost shard locks, give back expired claims.

        Runs every HEARTBEAT_EVERY. Returns how many jobs became pending again (taken over or
        expired), so the caller can re-arm.
        """
        returned = 0
        if not self._leaving and len(self._held) < len(self.shards.ids):
            session = self._session
            if session is None or not session.alive:
                session = await self._open()
            for shard in self.shards.ids:
                if shard not in self._held:
                    returned += await self._take(session, shard, wait=False)
        now = self._now()
        async with self.db.transaction() as tx:
            await repo.beat(tx, self.worker_id, self.shards.count, self.shards.ids, now)
            await repo.renew_leases(tx, self.worker_id, now + int(LEASE.total_seconds()))
            if self._held:
                count, held = self.claim_filter()
                returned += await repo.give_back_expired(tx, count, held, self.worker_id, now)
        return returned

    async def notify(self, fire_at: datetime) -> None:
        """Tell every process that a job now fires at `fire_at` (each re-arms if it is theirs)."""
        await self.db.notify(JOBS_CHANNEL, str(to_unix(fire_at)))

    async def leave(self) -> None:
        """Stop cleanly: forget the worker row and release the shard locks."""
        self._leaving = True
        self._held = ()
        try:
            async with self.db.transaction() as tx:
                await repo.remove_worker(tx, self.worker_id)
        except Exception:
            log.exception("could not remove the worker row; it is pruned after a day")
        session, self._session = self._session, None
        if session is not None:
            await session.close()
