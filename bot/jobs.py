"""The durable job engine: the database holds every timed action; one timer wakes for the earliest.

Design (measured in design/scheduling.md): each pending action is a row in ``jobs`` with its fire
time as a UTC instant. One APScheduler date job is armed at the earliest pending fire time and
re-armed whenever an earlier row is written. When it fires, every due row is claimed in one
statement and one commit and handed to the handler registered for its kind. A row a crash left
claimed is reclaimed at start and marked ``recovered`` so handlers resend idempotently (Discord
message nonces). Handlers finish each job with ``complete``, ``retry`` or ``fail``.

On PostgreSQL several processes share the table (design/scale-out.md): each claims only the due
rows of the shards whose lock it holds (``bot.cluster.Membership``), in chunks, with SKIP LOCKED as
the safety net; what its predecessor left claimed comes back when it takes a shard's lock, and a
write that adds an earlier job sends a NOTIFY so the owning process re-arms.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock, from_unix, to_unix
from bot.cluster import HEARTBEAT_EVERY, LEASE, Membership, Shards, shard_of
from bot.db import Database, Transaction
from bot.db.dialect import BULK_JOB_COLUMNS, SHARD_FILTER, bulk_jobs
from bot.db.postgres import PostgresDatabase, PostgresTransaction

log = logging.getLogger(__name__)

Handler = Callable[[list["Job"]], Awaitable[None]]
Reconciler = Callable[[], Awaitable[None]]
T = TypeVar("T")

MAX_HANDLER_ATTEMPTS = 5
# PostgreSQL: a commit that wrote this many jobs at once refreshes the table's statistics. Planned
# on an empty table's, the next reconcile's read ran past its 60 s timeout at 265,738 rows (a
# nested loop where a hash or index join takes 0.15 s); autovacuum analyzes only a minute later.
ANALYZE_AFTER_ROWS = 10_000
RECONCILE_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failing job is tried in all, and the wait before each retry."""

    attempts: int
    backoff: tuple[timedelta, ...]

    def may_retry(self, attempts_so_far: int) -> bool:
        """Whether a job that failed `attempts_so_far` + 1 times gets another try."""
        return attempts_so_far + 1 < self.attempts

    def delay(self, attempts_so_far: int) -> timedelta:
        """The wait before the next try, after `attempts_so_far` failed ones."""
        return self.backoff[min(attempts_so_far, len(self.backoff) - 1)]


# The one policy for a handler that fails; a feature with its own rhythm (reminders' sends) passes
# its own RetryPolicy to retry_or_fail.
HANDLER_RETRY = RetryPolicy(MAX_HANDLER_ATTEMPTS, (timedelta(minutes=1),))


@dataclass(frozen=True, slots=True)
class NewJob:
    """A timed action to store."""

    kind: str
    guild_id: int
    fire_at: datetime
    meeting_id: int = 0
    occurrence: str = ""
    slot: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed timed action handed to its handler."""

    id: int
    kind: str
    guild_id: int
    meeting_id: int
    occurrence: str
    slot: str
    fire_at: datetime
    payload: dict[str, Any]
    attempts: int
    recovered: bool

    @property
    def key(self) -> str:
        """A stable identity of this action (for nonces and ledgers)."""
        return f"{self.kind}:{self.meeting_id}:{self.occurrence}:{self.slot}"


_COLUMNS = "id, kind, guild_id, meeting_id, occurrence, slot, fire_at, payload, attempts, recovered"

_CLAIM_SQL = (
    "UPDATE jobs SET status = 'claimed', claimed_at = ? "  # noqa: S608 - constant columns
    f"WHERE status = 'pending' AND fire_at <= ? RETURNING {_COLUMNS}"
)
# PostgreSQL: only the held shards' rows, a chunk per statement, each chunk handed off at once.
# SKIP LOCKED hands each row to one claimer even when two fleets overlap during a re-shard. A chunk
# holds a whole same-second burst of one process (bench/scale.py: ~430 of 1,302 due per process):
# smaller chunks were ready sooner (250 in 6-9 ms against 31-35 ms for 1,305), but each needs its
# own handler reads, and the second waited behind the first's hand-offs on the one event loop
# (p95 152-246 ms in 250s against 100-145 ms in one, measured under load).
CLAIM_CHUNK = 1000
_CLAIM_SQL_POSTGRES = (
    "UPDATE jobs SET status = 'claimed', claimed_at = ?, claimed_by = ?, lease_until = ? "  # noqa: S608
    "WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' AND fire_at <= ? "
    f"AND {SHARD_FILTER} ORDER BY fire_at LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}"
)
_NEXT_SQL_POSTGRES = f"SELECT MIN(fire_at) FROM jobs WHERE status = 'pending' AND {SHARD_FILTER}"  # noqa: S608
_EARLIEST_SQL = "SELECT fire_at, kind FROM jobs WHERE status = 'pending' ORDER BY fire_at LIMIT 1"
_EARLIEST_SQL_POSTGRES = (
    f"SELECT fire_at, kind FROM jobs WHERE status = 'pending' AND {SHARD_FILTER} "  # noqa: S608
    "ORDER BY fire_at LIMIT 1"
)


def _due_filter(leads: dict[str, int]) -> str:
    """The claim's condition on fire_at: due now, or within its kind's lead.

    Its ``?`` in order: the latest bound (the fire_at index's range: SQLite scanned the whole
    table for the OR alone, 391 ms at 265,738 rows), now, then each kind and its bound.
    """
    early = "".join(" OR (kind = ? AND fire_at <= ?)" for _ in leads)
    return f"fire_at <= ? AND (fire_at <= ?{early})"


def _due_params(now: int, leads: dict[str, int]) -> list[Any]:
    """The parameters of ``_due_filter(leads)``."""
    return [max(now, *leads.values()), now, *(v for pair in leads.items() for v in pair)]


def _job(row: Any) -> Job:
    return Job(
        id=row[0],
        kind=row[1],
        guild_id=row[2],
        meeting_id=row[3],
        occurrence=row[4],
        slot=row[5],
        fire_at=from_unix(row[6]),
        payload={} if row[7] == "{}" else json.loads(row[7]),  # most jobs carry none
        attempts=row[8],
        recovered=bool(row[9]),
    )


class JobEngine:
    """Stores, arms, claims and dispatches timed actions."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        shards: Shards | None = None,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.shards = shards  # None: this process owns every guild
        self._worker_id = worker_id
        self._membership: Membership | None = None  # PostgreSQL: the shard locks, once joined
        self._fleet_listeners: dict[str, Callable[[str], None]] = {}
        self._reclaimed_at_join = 0
        self._notifies: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Handler] = {}
        self._ahead: dict[str, timedelta] = {}  # kinds the timer claims before they are due
        self._reconcilers: list[Reconciler] = []
        self._scheduler: AsyncIOScheduler | None = None
        self._armed_at: datetime | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._ticks: set[asyncio.Task[Any]] = set()  # timer callbacks running now
        self._run_lock = asyncio.Lock()
        self._started = False

    # -- ownership -----------------------------------------------------------

    def owns(self, guild_id: int) -> bool:
        """Whether this process acts for the guild now (always, when unsharded on SQLite).

        On PostgreSQL, once it has joined: only while it holds the lock of the guild's shard. A
        process whose lock session was cut, and whose shard another process took over, does
        nothing for those guilds until its heartbeat takes the lock back (before, it went on
        running their reconcilers beside the new holder, following its configured shards).
        """
        scope = self.shard_filter()
        return scope is None or shard_of(guild_id, scope[0]) in scope[1]

    def shard_filter(self) -> tuple[int, tuple[int, ...]] | None:
        """(shard count, shard ids) of the guilds this process acts for now; None: all of them."""
        if self._membership is not None:
            return self._membership.shards.count, self._membership.held
        return None if self.shards is None else (self.shards.count, self.shards.ids)

    def on_fleet_message(self, channel: str, callback: Callable[[str], None]) -> None:
        """PostgreSQL: call callback(payload) for every :meth:`tell_fleet` on `channel`.

        Every process of the fleet hears it, the sender too. Register before ``join``.
        """
        self._fleet_listeners[channel] = callback

    async def tell_fleet(self, channel: str, payload: str) -> None:
        """PostgreSQL, once joined: send every process of the fleet a message (a NOTIFY).

        SQLite: nothing to send, its one process is the whole fleet.
        """
        if self._membership is not None:
            await self._membership.db.notify(channel, payload)

    @property
    def worker_id(self) -> str | None:
        """This process's id in the fleet (PostgreSQL, once joined)."""
        return None if self._membership is None else self._membership.worker_id

    @property
    def held_shards(self) -> tuple[int, ...] | None:
        """PostgreSQL: the shards whose lock this process holds (None: SQLite or not joined)."""
        return None if self._membership is None else self._membership.held

    @property
    def armed_at(self) -> datetime | None:
        """When the timer fires next (None: not armed)."""
        return self._armed_at

    async def join(self) -> int:
        """PostgreSQL: take this process's shard locks, waiting while another process holds one.

        Returns how many jobs a previous holder left claimed (given back, recovered). Idempotent;
        a no-op on SQLite, whose one process owns everything.
        """
        if self._membership is not None or not isinstance(self.db, PostgresDatabase):
            return self._reclaimed_at_join
        membership = Membership(
            self.db,
            self.clock,
            self.shards or Shards.of(1),
            worker_id=self._worker_id,
            on_notify=self._notified,
            listeners=self._fleet_listeners,
        )
        self._membership = membership
        try:
            self._reclaimed_at_join = await membership.join()
        except BaseException:
            self._membership = None
            await membership.leave()
            raise
        return self._reclaimed_at_join

    async def heartbeat(self) -> int:
        """PostgreSQL: renew this worker's leases, give back expired claims; returns how many.

        Runs every 10 s once started; re-arms when jobs became pending again.
        """
        if self._membership is None:
            return 0
        returned = await self._membership.heartbeat()
        if returned:
            await self.rearm()
        return returned

    # -- registration --------------------------------------------------------

    def register(self, kind: str, handler: Handler, *, ahead: timedelta = timedelta(0)) -> None:
        """Route claimed jobs of `kind` to handler(jobs).

        `ahead`: the timer claims this kind's jobs up to that long before they fall due and hands
        them over at once; the handler prepares meanwhile and must act on no job before its
        ``fire_at``. (Asked directly, ``run_due`` claims only what is due.)
        """
        self._handlers[kind] = handler
        if ahead > timedelta(0):
            self._ahead[kind] = ahead
        else:
            self._ahead.pop(kind, None)

    def add_reconciler(self, reconciler: Reconciler) -> None:
        """Run reconciler() at start and periodically (re-materialise what is missing)."""
        self._reconcilers.append(reconciler)

    # -- writing -------------------------------------------------------------

    async def add(self, tx: Transaction, jobs: Iterable[NewJob]) -> datetime | None:
        """Insert jobs inside the caller's transaction (existing keys are kept as they are).

        Returns the earliest fire time written; pass it to ``wake_for`` after the commit.
        """
        earliest: datetime | None = None
        rows = []
        dumps = json.dumps
        for job in jobs:
            fire_at = job.fire_at
            rows.append(
                (
                    job.kind,
                    job.guild_id,
                    job.meeting_id,
                    job.occurrence,
                    job.slot,
                    to_unix(fire_at),
                    # Most jobs carry no payload: skip the encoder (measured: ~20 % of add() at 265k jobs).
                    dumps(job.payload, separators=(",", ":")) if job.payload else "{}",
                )
            )
            if earliest is None or fire_at < earliest:
                earliest = fire_at
        if rows:
            await tx.executemany(
                "INSERT INTO jobs (kind, guild_id, meeting_id, occurrence, slot, fire_at, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, meeting_id, occurrence, slot) DO NOTHING",
                rows,
            )
        return earliest

    async def add_bulk(
        self, tx: Transaction, kind: str, rows: Sequence[tuple[int, int, str, str, int]]
    ) -> datetime | None:
        """Insert many payload-less jobs of one kind, like ``add`` (existing keys are kept).

        Rows are ``(guild_id, meeting_id, occurrence, slot, fire_at as Unix seconds)``. They go
        in as one JSON array bound to one statement that SQLite expands itself, so the database
        thread runs the whole insert without taking the GIL back per row, and the caller can plan
        its next batch meanwhile (``executemany`` takes the GIL back after every row, so planning
        alongside it slowed both). Measured: reconcile of 100,000 meetings 3.1 s -> 1.5 s.
        PostgreSQL takes them by COPY (265,738 rows in 3.1-3.4 s against 6.0-6.3 s by unnest).
        """
        if not rows:
            return None
        if isinstance(tx, PostgresTransaction):
            records = [(kind, *r) for r in rows]
            await tx.copy_rows(
                "jobs", BULK_JOB_COLUMNS, records, or_else=lambda: bulk_jobs(tx.dialect, kind, rows)
            )
        else:
            await tx.execute(*bulk_jobs(tx.dialect, kind, rows))
        return from_unix(min(r[4] for r in rows))

    async def bulk_written(self, rows: int) -> None:
        """After a commit that wrote `rows` jobs at once: refresh PostgreSQL's statistics if many.

        Not when the catalogue already counts as many rows (processes of a fleet finishing their
        first reconcile one after another: the first one's ANALYZE did); SKIP_LOCKED: nor behind
        another process's ANALYZE.
        """
        if rows < ANALYZE_AFTER_ROWS or not isinstance(self.db, PostgresDatabase):
            return
        counted = await self.db.fetchval(
            "SELECT reltuples FROM pg_class WHERE oid = 'jobs'::regclass"
        )
        if counted is None or counted < rows:
            await self.db.execute("ANALYZE (SKIP_LOCKED) jobs")

    async def remove_pending(
        self,
        tx: Transaction,
        *,
        meeting_id: int,
        kinds: Iterable[str] | None = None,
        occurrence: str | None = None,
    ) -> int:
        """Delete pending jobs of a meeting (optionally of some kinds or one occurrence)."""
        sql = "DELETE FROM jobs WHERE status = 'pending' AND meeting_id = ?"
        params: list[Any] = [meeting_id]
        if occurrence is not None:
            sql += " AND occurrence = ?"
            params.append(occurrence)
        kind_list = list(kinds) if kinds is not None else None
        if kind_list is not None:
            sql += f" AND kind IN ({', '.join('?' for _ in kind_list)})"
            params.extend(kind_list)
        return await tx.execute(sql, params)

    async def complete(self, tx: Transaction, job: Job) -> None:
        """The job is done: remove it (inside the caller's transaction)."""
        await tx.execute("DELETE FROM jobs WHERE id = ?", (job.id,))

    async def complete_many(self, tx: Transaction, jobs: Iterable[Job]) -> None:
        """These jobs are done: remove them in one statement (inside the caller's transaction)."""
        ids = sorted({job.id for job in jobs})
        if ids:
            await tx.execute(
                "DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
            )

    async def retry(self, job: Job, at: datetime, error: str) -> None:
        """Put the job back to fire again at `at`."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET status = 'pending', fire_at = ?, attempts = attempts + 1, "
                "last_error = ? WHERE id = ?",
                (to_unix(at), error[:200], job.id),
            )
        self.wake_for(at)

    async def retry_or_fail(
        self,
        job: Job,
        reason: str,
        policy: RetryPolicy = HANDLER_RETRY,
        *,
        gave_up: str | None = None,
    ) -> bool:
        """Try the job again after the policy's wait, or mark it failed once its tries are spent.

        `gave_up` is the reason recorded on the last failure (default: `reason`). Returns True
        when the job will be retried.
        """
        if policy.may_retry(job.attempts):
            await self.retry(job, self.clock.now() + policy.delay(job.attempts), reason)
            return True
        await self.fail(job, gave_up or reason)
        return False

    async def fail(self, job: Job, error: str) -> None:
        """Give up on the job and keep it, marked failed with its reason."""
        await self.db.execute(
            "UPDATE jobs SET status = 'failed', last_error = ? WHERE id = ?", (error[:200], job.id)
        )

    # -- reading -------------------------------------------------------------

    async def pending(self, *, kind: str | None = None, meeting_id: int | None = None) -> list[Job]:
        """Pending jobs, earliest first (for tests, lists and diagnostics)."""
        sql = f"SELECT {_COLUMNS} FROM jobs WHERE status = 'pending'"  # noqa: S608
        params: list[Any] = []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if meeting_id is not None:
            sql += " AND meeting_id = ?"
            params.append(meeting_id)
        rows = await self.db.fetchall(sql + " ORDER BY fire_at, id", params)
        return [_job(r) for r in rows]

    async def next_fire_at(self) -> datetime | None:
        """The earliest pending fire time (on PostgreSQL: of the shards held)."""
        if self._membership is not None:
            count, held = self._membership.claim_filter()
            if not held:
                return None
            value = await self.db.fetchval(_NEXT_SQL_POSTGRES, (count, held))
        else:
            value = await self.db.fetchval("SELECT MIN(fire_at) FROM jobs WHERE status = 'pending'")
        return None if value is None else from_unix(value)

    # -- running -------------------------------------------------------------

    async def start(self) -> int:
        """Reclaim what a crash left claimed, reconcile, arm the timer. Returns reclaimed count.

        On PostgreSQL the reclaim is per shard, when its lock is taken (``join``).
        """
        if isinstance(self.db, PostgresDatabase):
            reclaimed = await self.join()
        else:
            reclaimed = await self.db.execute(
                "UPDATE jobs SET status = 'pending', recovered = 1 WHERE status = 'claimed'"
            )
            if reclaimed:
                log.warning("Reclaimed %d jobs left claimed by an earlier run", reclaimed)
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        self._scheduler.add_job(
            self._reconcile_tick,
            "interval",
            seconds=RECONCILE_EVERY.total_seconds(),
            id="reconcile",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        if self._membership is not None:
            self._scheduler.add_job(
                self._heartbeat_tick,
                "interval",
                seconds=HEARTBEAT_EVERY.total_seconds(),
                id="heartbeat",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        self._started = True
        await self.reconcile()
        await self.rearm()
        return reclaimed

    async def stop(self, grace_s: float = 8.0) -> None:
        """Stop the timer and let in-flight handlers finish (or leave their jobs reclaimable)."""
        self._started = False
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            # No new ticks, but not shut down yet: APScheduler's shutdown cancels the ticks
            # running (a heartbeat mid-transaction) and logs each cancellation at ERROR.
            scheduler.pause()
        # A periodic reconcile is idempotent (the next start runs one): cancel it. A dispatch
        # claims in one transaction and hands off at once, and a heartbeat is one transaction:
        # let them finish, so the batch is tracked and the leases renewed before the worker leaves.
        for task in list(self._ticks):
            if task.get_name() == "haven-reconcile":
                task.cancel()
        if self._ticks:
            _, late = await asyncio.wait(set(self._ticks), timeout=grace_s)
            if late:
                log.warning("%d timer callbacks outlived the stop's grace; cancelling", len(late))
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace_s)
            for task in pending:
                task.cancel()
            # Let cancelled handlers roll back before the caller closes the database; their jobs
            # stay claimed and the next start reclaims them (resent with the same nonces).
            await asyncio.gather(*pending, return_exceptions=True)
        if self._notifies:
            await asyncio.wait(set(self._notifies), timeout=grace_s)
        membership, self._membership = self._membership, None
        if membership is not None:
            # Releasing the locks lets a waiting process take the shards over at once.
            await membership.leave()

    async def reconcile(self) -> None:
        """Run every reconciler (materialise missing jobs)."""
        for reconciler in self._reconcilers:
            try:
                await reconciler()
            except Exception:
                log.exception("reconciler failed")

    def _track(self, name: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.set_name(name)
            self._ticks.add(task)
            task.add_done_callback(self._ticks.discard)

    async def _heartbeat_tick(self) -> None:
        self._track("haven-heartbeat")
        if not self._started:
            return
        try:
            await self.heartbeat()
        except Exception:
            log.exception("heartbeat failed; claims are renewed at the next one")
        except asyncio.CancelledError:
            if self._started:
                raise
            # stop() ended it after its grace: the lease backstop covers what it did not renew.

    async def _reconcile_tick(self) -> None:
        self._track("haven-reconcile")
        if not self._started:
            return
        try:
            await self.reconcile()
            await self.rearm()
        except asyncio.CancelledError:
            if self._started:
                raise
            # stop() ended it (idempotent: the next start reconciles). Returning, not raising,
            # keeps APScheduler from logging the cancellation at ERROR.

    def wake_for(self, fire_at: datetime | None) -> None:
        """After a commit that wrote a job firing at `fire_at`: re-arm if it is earlier.

        On PostgreSQL the job may be another process's (a DM served here for a guild on another
        shard): a NOTIFY tells every process, and each re-arms if the job is its own and earlier.
        A job the next periodic reconcile re-arms for in time needs no NOTIFY.
        """
        if fire_at is None:
            return
        membership = self._membership
        if membership is not None and fire_at < self.clock.now() + RECONCILE_EVERY:
            task = asyncio.get_running_loop().create_task(
                self._notify(membership, fire_at), name="haven-notify"
            )
            self._notifies.add(task)
            task.add_done_callback(self._notifies.discard)
        if not self._started:
            return
        if self._armed_at is None or fire_at < self._armed_at:
            self._arm(fire_at)

    async def _notify(self, membership: Membership, fire_at: datetime) -> None:
        try:
            await membership.notify(fire_at)
        except Exception as exc:  # the periodic reconcile re-arms the other processes anyway
            log.warning("could not NOTIFY other processes of a new job (%s)", type(exc).__name__)

    def _notified(self, fire_at: datetime) -> None:
        """A process wrote a job firing at `fire_at`: re-arm if it is earlier (and ours)."""
        if not self._started or (self._armed_at is not None and fire_at >= self._armed_at):
            return
        asyncio.get_running_loop().create_task(self._rearm_tick(), name="haven-rearm")

    async def _rearm_tick(self) -> None:
        self._track("haven-rearm")
        try:
            await self.rearm()
        except Exception:
            log.exception("re-arming after a NOTIFY failed")

    async def rearm(self) -> None:
        """Arm the timer at the earliest pending fire time (ahead of it for a kind claimed ahead).

        The timer stays armed while the earliest is read; an earlier wake that came meanwhile
        (a job written during the read) is kept.
        """
        if not self._started:
            return
        armed = self._armed_at
        wake = await self._next_wake()
        meanwhile = self._armed_at
        if meanwhile is not None and meanwhile != armed and (wake is None or meanwhile < wake):
            return
        if wake is None:
            self._armed_at = None
        else:
            self._arm(wake)

    async def _next_wake(self) -> datetime | None:
        """When the timer should fire for the earliest pending job (None: none to wait for)."""
        if self._membership is not None:
            count, held = self._membership.claim_filter()
            if not held:
                return None
            row = await self.db.fetchone(_EARLIEST_SQL_POSTGRES, (count, held))
        else:
            row = await self.db.fetchone(_EARLIEST_SQL)
        if row is None:
            return None
        return from_unix(row[0]) - self._ahead.get(row[1], timedelta(0))

    def _arm(self, fire_at: datetime) -> None:
        if self._scheduler is None:
            return
        self._armed_at = fire_at
        # The injected clock may differ from the wall clock: arm by the remaining delay.
        delay = max(0.0, (fire_at - self.clock.now()).total_seconds())
        run_date = datetime.now(UTC) + timedelta(seconds=delay)
        self._scheduler.add_job(
            self._timer_fired,
            "date",
            run_date=run_date,
            id="dispatch",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )

    async def _timer_fired(self) -> None:
        self._track("haven-dispatch")
        if not self._started:
            return
        try:
            await self.run_due(ahead=True)
        except Exception:
            log.exception("dispatch failed")
            await asyncio.sleep(1)
            await self.rearm()

    async def run_due(self, *, ahead: bool = False) -> int:
        """Claim every due job and hand each kind's batch to its handler; return how many.

        `ahead` (the timer's way): also the jobs of kinds registered ahead that fall due within
        their lead. SQLite claims in one statement. PostgreSQL claims the held shards' rows
        CLAIM_CHUNK at a time and hands each chunk off before claiming the next.
        """
        async with self._run_lock:
            now = self.clock.now()
            leads = {k: to_unix(now + lead) for k, lead in self._ahead.items()} if ahead else {}
            if isinstance(self.db, PostgresDatabase):
                await self.join()
                claimed = await self._claim_chunks(leads)
            else:
                sql = _CLAIM_SQL
                params: list[Any] = [to_unix(now), to_unix(now)]
                if leads:
                    sql = sql.replace("fire_at <= ?", _due_filter(leads), 1)
                    params = [to_unix(now), *_due_params(to_unix(now), leads)]
                async with self.db.transaction() as tx:
                    rows = await tx.fetchall(sql, params)
                await self._dispatch(rows)
                claimed = len(rows)
            await self.rearm()
            return claimed

    async def _claim_chunks(self, leads: dict[str, int]) -> int:
        assert self._membership is not None
        claimed = 0
        sql = _CLAIM_SQL_POSTGRES
        if leads:
            sql = sql.replace("fire_at <= ?", _due_filter(leads), 1)
        while True:
            count, held = self._membership.claim_filter()
            if not held:  # the shard locks are lost: another process may run these shards now
                return claimed
            now = to_unix(self.clock.now())
            lease_until = now + int(LEASE.total_seconds())
            worker = self._membership.worker_id
            due = _due_params(now, leads) if leads else [now]
            params = (now, worker, lease_until, *due, count, held, CLAIM_CHUNK)
            async with self.db.transaction() as tx:
                rows = await tx.fetchall(sql, params)
            await self._dispatch(rows)
            claimed += len(rows)
            if len(rows) < CLAIM_CHUNK:
                return claimed

    async def _dispatch(self, rows: Sequence[Any]) -> None:
        batches: dict[str, list[Job]] = defaultdict(list)
        for row in rows:
            batches[row[1]].append(_job(row))
        for kind, jobs in batches.items():
            jobs.sort(key=lambda j: (j.fire_at, j.id))
            handler = self._handlers.get(kind)
            if handler is None:
                log.error("no handler for %d jobs of kind %s", len(jobs), kind)
                for job in jobs:
                    await self.fail(job, "no handler")
                continue
            task = asyncio.create_task(self._run_handler(handler, jobs), name=f"jobs-{kind}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _run_handler(self, handler: Handler, jobs: list[Job]) -> None:
        try:
            await handler(jobs)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s failed; its jobs will be retried", jobs[0].kind)
            for job in jobs:
                still = await self.db.fetchval("SELECT status FROM jobs WHERE id = ?", (job.id,))
                if still != "claimed":
                    continue
                await self.retry_or_fail(job, "handler error", gave_up="handler kept failing")

    async def drain(self) -> None:
        """Wait until every handed-off batch has been handled (tests and shutdown)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)


class GroupCommit(Generic[T]):
    """Group commit: what tasks hand in while a commit runs is written by the next, together.

    ``write(tx, items)`` writes a group in one transaction and returns the earliest job it added
    (the engine re-arms for it after the commit); ``prepare(items)``, if given, turns a group into
    what is written before its transaction begins (CPU work kept out of the write lock). A burst
    of jobs finishing together so costs a few statements instead of a transaction each, and the
    event loop stays free for the hand-offs still to come. If a group fails, each of its items is
    prepared and written alone, so a bad item fails only its own submitter.
    """

    def __init__(
        self,
        engine: JobEngine,
        write: Callable[[Transaction, Sequence[T]], Awaitable[datetime | None]],
        *,
        prepare: Callable[[Sequence[T]], Sequence[T]] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self._write = write
        self._prepare = prepare
        self._sleep = sleep
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def submit(self, item: T, *, linger: float = 0.0) -> None:
        """Write `item` with whatever else is handed in meanwhile; return once committed.

        `linger`: when this starts a commit, wait that long first. A burst's bookkeeping so
        leaves the CPU to the hand-offs still running, here and in the other processes on the
        machine, and more of the burst joins the group.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit(linger), name="jobs-group-commit")
        await done

    async def _commit(self, linger: float) -> None:
        group: list[tuple[T, asyncio.Future[None]]] = []
        try:
            if linger > 0:
                await self._sleep(linger)
            while self._queue:
                group, self._queue = self._queue, []
                try:
                    items = [item for item, _ in group]
                    prepared = self._prepare(items) if self._prepare is not None else items
                    async with self.engine.db.transaction() as tx:
                        earliest = await self._write(tx, prepared)
                except Exception as exc:
                    if len(group) == 1:
                        _settle(group[0][1], exc)
                    else:
                        for item, done in group:
                            await self._alone(item, done)
                    group = []
                    continue
                self.engine.wake_for(earliest)
                for _, done in group:
                    _settle(done, None)
                group = []
        except BaseException as exc:  # cancelled (shutting down): nobody may wait for ever
            for _, done in group + self._queue:
                _settle(done, exc)
            self._queue = []
            raise
        finally:
            self._committer = None

    async def _alone(self, item: T, done: asyncio.Future[None]) -> None:
        try:
            prepared = self._prepare([item]) if self._prepare is not None else [item]
            async with self.engine.db.transaction() as tx:
                earliest = await self._write(tx, prepared)
        except Exception as exc:
            _settle(done, exc)
            return
        self.engine.wake_for(earliest)
        _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    """Resolve a submitter's future unless it gave up waiting (cancelled)."""
    if done.done():
        return
    if error is None:
        done.set_result(None)
    elif isinstance(error, asyncio.CancelledError):
        done.cancel()
    else:
        done.set_exception(error)
