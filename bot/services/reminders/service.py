"""Reminders: materialise, deliver once, roll forward, and react to meeting changes. No Discord.

Each pending reminder is a ``jobs`` row of kind ``reminder``: one per (meeting, occurrence,
offset), holding only the next occurrence (or a few, when an offset is longer than the gap to
the following one). When it fires it fans out to the announcement channel and to every DM
subscriber *at that moment*; each target's outcome goes into the delivery ledger under the unique
key (meeting, occurrence, offset, target), so a target already recorded is never sent to again.
Every send carries a Discord message nonce derived from that key, so a crash between the send
and the commit does not post twice. The transaction that finishes the last reminder of an
occurrence materialises the next one. The glue (``cogs/reminders.py``) supplies a
:class:`ReminderSender` and renders the messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time as _monotonic_time
import traceback
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from bot.bus import MEETING_CHANGED, EventBus
from bot.clock import Clock, from_unix, iso, to_unix
from bot.config import Settings
from bot.db import Database, Transaction
from bot.errors import NotFoundError, UserFacingError
from bot.jobs import Job, JobEngine, NewJob
from bot.occurrences import (
    Occurrence,
    OccurrenceException,
    Repeat,
    Schedule,
    is_scheduled_date,
    localize,
    next_occurrences,
    occurrence_for_key,
    zone,
)
from bot.services.guilds import GuildSettings, GuildSettingsService
from bot.services.meetings import Meeting, MeetingStore
from bot.services.privacy import PrivacyService, UserData

log = logging.getLogger(__name__)

REMINDER = "reminder"
NOTICE = "reminder-notice"
CHANNEL = 0  # ledger target of the announcement channel (DM targets are user ids)
CANCEL_NOTICE_OFFSET = -1  # ledger "offset" of a cancelled-this-week notice

LATE_AFTER = timedelta(minutes=1)  # sent later than this after its due time: marked "(sent late)"
EARLY_TOLERANCE = timedelta(seconds=1)
MAX_SEND_ATTEMPTS = 4  # a 5xx or timeout is retried this many times in all, then recorded failed
BACKOFF = (timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2))
MAX_SUBSCRIPTIONS = 25
LEDGER_KEEP = timedelta(days=35)
CHANNEL_CONCURRENCY = 8  # channel posts in flight; discord.py's limiter does the pacing
_MIN_GAP_S = 6 * 86400  # seconds: rules never repeat faster than weekly
_HORIZON_OCCURRENCES = 4
_CHUNK = 500
_DETAIL_KEY = re.compile(r"occurrence:(\d{4}-\d{2}-\d{2})")  # written by MeetingService
NOTIFY_CHANGES = frozenset({"moved", "paused", "cancelled"})
RECOMPUTE_CHANGES = frozenset({"created", "edited", "moved", "paused", "resumed", "cancelled"})


class Outcome(StrEnum):
    """How one send ended, as the glue reports it."""

    SENT = "sent"
    RETRY = "retry"  # 5xx or timeout: try again later
    DM_CLOSED = "dm-closed"  # 403 50007: the member does not accept DMs
    NO_ACCESS = "no-access"  # channel missing or permission lost
    FAILED = "failed"  # anything else: record and move on


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one send and a short reason (no user text)."""

    outcome: Outcome
    reason: str = ""


SENT = SendResult(Outcome.SENT)


@dataclass(frozen=True, slots=True)
class ReminderMessage:
    """A reminder to render: which meeting, which occurrence, how long before."""

    meeting: Meeting
    occurrence: Occurrence
    offset_minutes: int
    late: bool
    nonce: str


@dataclass(frozen=True, slots=True)
class NoticeMessage:
    """A change notice to render: moved, paused, cancelled this week, or deleted."""

    guild_id: int
    meeting_id: int
    change: str
    title: str
    meeting: Meeting | None
    occurrence: date | None
    occurrence_start: datetime | None
    next_start: datetime | None
    nonce: str


Message = ReminderMessage | NoticeMessage


class ReminderSender(Protocol):
    """What the Discord glue provides: post, DM, and tell the mod log."""

    async def to_channel(self, guild_id: int, channel_id: int, message: Message) -> SendResult:
        """Post in a guild channel."""
        ...

    async def to_user(self, guild_id: int, user_id: int, message: Message) -> SendResult:
        """Send a direct message."""
        ...

    async def alert(self, guild_id: int, channel_id: int, reason: str) -> None:
        """Tell the guild's mod log that reminders cannot be posted in a channel."""
        ...


def nonce_for(*parts: object) -> str:
    """A Discord message nonce (24 characters, within the 25 allowed) derived from a key."""
    key = ":".join(str(p) for p in parts)
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


class Pacer:
    """At most `rate` passes per second across the process (None: no pacing), in real time."""

    def __init__(
        self,
        rate: float | None,
        *,
        monotonic: Callable[[], float] = _monotonic_time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.interval = 0.0 if not rate else 1.0 / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next send may start."""
        if self.interval <= 0:
            return
        async with self._lock:
            now = self._monotonic()
            if self._next > now:
                await self._sleep(self._next - now)
                now = self._monotonic()
            self._next = max(now, self._next) + self.interval


@dataclass(frozen=True, slots=True)
class Subscription:
    """A member's DM subscription to a meeting, with the meeting."""

    meeting: Meeting
    next_start: datetime | None


@dataclass(slots=True)
class _Record:
    target: int
    status: str
    reason: str = ""
    late: bool = False


def offsets_for(meeting: Meeting, settings: GuildSettings) -> tuple[int, ...]:
    """The meeting's reminder offsets in minutes (its own, else the guild default)."""
    if meeting.reminder_offsets is not None:
        return _own_offsets(meeting.reminder_offsets)
    return _guild_offsets(settings.reminder_offsets)


@lru_cache(maxsize=256)
def _own_offsets(offsets: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(set(offsets), reverse=True))


@lru_cache(maxsize=256)
def _guild_offsets(text: str) -> tuple[int, ...]:
    return tuple(GuildSettings(0, reminder_offsets=text).offsets_minutes)


Row = tuple[int, int, str, str, int]  # guild, meeting, occurrence, slot, fire_at (Unix seconds)


@lru_cache(maxsize=256)
def _slots(offsets: tuple[int, ...]) -> tuple[tuple[tuple[int, str], ...], int]:
    """((seconds before the start, slot), ...) of some offsets in minutes, and the longest."""
    return tuple((m * 60, str(m)) for m in offsets), max(offsets) * 60


def plan_rows(
    meeting_id: int,
    guild_id: int,
    schedule: Schedule,
    offsets: tuple[int, ...],
    *,
    after: datetime,
    floor: int,
    now: int,
    future: list[Row],
    due: list[Row],
) -> None:
    """Append the reminders of the occurrences following `after` that fire later than `floor`.

    Always the next occurrence; later ones too when an offset reaches back before the next start
    (so rolling forward after the next occurrence never comes too late for them). Rows firing
    later than `now` go to `future`, the others to `due`. Each occurrence is computed once and
    every offset derived from its start in whole seconds (no per-reminder objects).
    """
    if not offsets:
        return
    slots, longest = _slots(offsets)
    wide = longest >= _MIN_GAP_S or bool(schedule.exceptions)
    occurrences = next_occurrences(schedule, after, _HORIZON_OCCURRENCES if wide else 1)
    limit: int | None = None  # later occurrences only while an offset reaches before the first
    for occ in occurrences:
        start = int(occ.start.timestamp())
        if limit is None:
            limit = start + longest
        elif start > limit:
            break
        key = occ.key.isoformat()
        for seconds, slot in slots:
            fire = start - seconds
            if fire > floor:
                (future if fire > now else due).append((guild_id, meeting_id, key, slot, fire))


def _new_jobs(rows: Iterable[Row]) -> list[NewJob]:
    return [NewJob(REMINDER, g, from_unix(f), m, occ, slot) for g, m, occ, slot, f in rows]


def plan_schedule(
    meeting_id: int,
    guild_id: int,
    schedule: Schedule,
    offsets: Sequence[int],
    *,
    after: datetime,
    floor: datetime,
) -> list[NewJob]:
    """Reminder jobs for the occurrences following `after` whose fire time is later than `floor`.

    See :func:`plan_rows`.
    """
    rows: list[Row] = []
    floor_s = to_unix(floor)
    plan_rows(
        meeting_id,
        guild_id,
        schedule,
        tuple(offsets),
        after=after,
        floor=floor_s,
        now=floor_s,
        future=rows,
        due=rows,
    )
    return _new_jobs(rows)


def plan(
    meeting: Meeting, offsets: Sequence[int], *, after: datetime, floor: datetime
) -> list[NewJob]:
    """Reminder jobs of a meeting (see :func:`plan_schedule`)."""
    return plan_schedule(
        meeting.id, meeting.guild_id, meeting.schedule, offsets, after=after, floor=floor
    )


_NO_EXCEPTIONS: dict[date, OccurrenceException] = {}
_RECONCILE_SLICE = 5000  # meetings planned per insert (bounded memory)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


@lru_cache(maxsize=4096)
def _date(text: str) -> date:
    return date.fromisoformat(text)


@lru_cache(maxsize=2048)
def _time_of(text: str) -> time:
    return time.fromisoformat(text)


@lru_cache(maxsize=16)
def _repeat(text: str) -> Repeat:
    return Repeat(text)


@lru_cache(maxsize=256)
def _parse_offsets(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(m) for m in text.split(",") if m}, reverse=True))


def _log_failure(what: str, exc: BaseException) -> None:
    """Log an unexpected failure by type and stack only (its message may echo user text)."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s delivery failed: %s\n%s", what, type(exc).__name__, stack)


def _chunks(items: Sequence[int], size: int = _CHUNK) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class ReminderService:
    """Subscriptions, materialisation, delivery with its ledger, and change notices."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        jobs: JobEngine,
        meetings: MeetingStore,
        guilds: GuildSettingsService,
        privacy: PrivacyService,
        events: EventBus,
        *,
        dm_rate_per_second: float | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.jobs = jobs
        self.meetings = meetings
        self.guilds = guilds
        self.grace = timedelta(minutes=settings.reminder_grace_minutes)
        rate = settings.dm_rate_per_second if dm_rate_per_second is None else dm_rate_per_second
        self.pacer = Pacer(rate)
        self.sender: ReminderSender | None = None
        self.skipped_total = 0
        self._channel_slots = asyncio.Semaphore(CHANNEL_CONCURRENCY)
        privacy.register(
            UserData(
                "reminder_subscriptions",
                "user_id",
                purpose="Meetings you asked to be reminded of by DM (until you stop or leave).",
            ),
            UserData(
                "reminder_deliveries",
                "target_user_id",
                purpose="Which DM reminders were sent to you, so none is sent twice (35 days).",
            ),
            UserData(
                "reminder_notices",
                "user_id",
                purpose="Notices about your meetings waiting to be sent to you.",
            ),
        )
        jobs.register(REMINDER, self._on_reminders)
        jobs.register(NOTICE, self._on_notices)
        jobs.add_reconciler(self.reconcile)
        events.subscribe(MEETING_CHANGED, self.on_meeting_changed)

    # -- subscriptions -------------------------------------------------------

    async def subscribe(self, guild_id: int, user_id: int, meeting_id: int) -> tuple[Meeting, bool]:
        """Subscribe a member to DM reminders of a meeting; returns (meeting, newly subscribed)."""
        meeting = await self.meetings.get(meeting_id, guild_id)
        if meeting is None:
            raise NotFoundError("That meeting no longer exists. Use `/meeting list` to find one.")
        count = await self.db.fetchval(
            "SELECT COUNT(*) FROM reminder_subscriptions WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        async with self.db.transaction() as tx:
            existing = await tx.fetchone(
                "SELECT 1 FROM reminder_subscriptions WHERE meeting_id = ? AND user_id = ?",
                (meeting_id, user_id),
            )
            if existing is not None:
                return meeting, False
            if count >= MAX_SUBSCRIPTIONS:
                raise UserFacingError(
                    f"You already get DM reminders for {MAX_SUBSCRIPTIONS} meetings. Stop one with "
                    "`/remind stop` first."
                )
            await tx.execute(
                "INSERT INTO reminder_subscriptions (meeting_id, guild_id, user_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                (meeting_id, guild_id, user_id, iso(self.clock.now())),
            )
        return meeting, True

    async def unsubscribe(self, guild_id: int, user_id: int, meeting_id: int) -> bool:
        """End a member's DM reminders for a meeting; False if there were none."""
        removed = await self.db.execute(
            "DELETE FROM reminder_subscriptions WHERE meeting_id = ? AND guild_id = ? "
            "AND user_id = ?",
            (meeting_id, guild_id, user_id),
        )
        return removed > 0

    async def unsubscribe_all(self, guild_id: int, user_id: int) -> int:
        """End every DM subscription of a member in a guild (their DMs are closed)."""
        return await self.db.execute(
            "DELETE FROM reminder_subscriptions WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )

    async def subscriptions(self, guild_id: int, user_id: int) -> list[Subscription]:
        """A member's subscriptions in a guild, soonest meeting first."""
        rows = await self.db.fetchall(
            "SELECT meeting_id FROM reminder_subscriptions WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        meetings = await self.meetings.get_many([r[0] for r in rows])
        now = self.clock.now()
        out = []
        for meeting in meetings.values():
            nxt = next_occurrences(meeting.schedule, now, 1)
            out.append(Subscription(meeting, nxt[0].start if nxt else None))
        far = now + timedelta(days=365 * 100)
        out.sort(key=lambda s: (s.next_start or far, s.meeting.title.lower()))
        return out

    async def subscriber_ids(self, meeting_id: int) -> list[int]:
        """User ids subscribed to a meeting's DM reminders."""
        rows = await self.db.fetchall(
            "SELECT user_id FROM reminder_subscriptions WHERE meeting_id = ? ORDER BY created_at",
            (meeting_id,),
        )
        return [r[0] for r in rows]

    # -- reading helpers -----------------------------------------------------

    async def _settings(self, guild_ids: Iterable[int]) -> dict[int, GuildSettings]:
        return {g: await self.guilds.get(g) for g in set(guild_ids)}

    # -- materialising -------------------------------------------------------

    async def reconcile(self) -> None:
        """Materialise reminders of meetings that have none pending; queue unsent notices."""
        now = self.clock.now()
        floor = now - self.grace
        # Only what timing needs, straight into schedules: at start this reads every meeting.
        rows = await self.db.fetchall(
            "SELECT m.id, m.guild_id, m.timezone, m.first_date, m.start_time, m.repeat, "
            "m.duration_minutes, m.paused_until, m.reminder_offsets FROM meetings AS m "
            "WHERE NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.meeting_id = m.id "
            "AND j.kind = ? AND j.status IN ('pending', 'claimed'))",
            (REMINDER,),
        )
        if rows:
            exceptions = await self._upcoming_exceptions(now)
            settings = await self._settings(r[1] for r in rows)
            defaults = {g: tuple(s.offsets_minutes) for g, s in settings.items()}
            earliest: datetime | None = None
            now_s, floor_s = to_unix(now), to_unix(floor)
            due: list[Row] = []  # in the grace window already: the ledger may hold them

            def plan_slice(part: Sequence[Any]) -> list[Row]:
                future: list[Row] = []
                for r in part:
                    schedule = Schedule(
                        timezone=r[2],
                        first_date=_date(r[3]),
                        start_time=_time_of(r[4]),
                        repeat=_repeat(r[5]),
                        duration_minutes=r[6],
                        paused_until=_date(r[7]) if r[7] else None,
                        exceptions=exceptions.get(r[0], _NO_EXCEPTIONS),
                    )
                    plan_rows(
                        r[0],
                        r[1],
                        schedule,
                        _parse_offsets(r[8]) if r[8] is not None else defaults[r[1]],
                        after=now,
                        floor=floor_s,
                        now=now_s,
                        future=future,
                        due=due,
                    )
                return future

            async with self.db.transaction() as tx:
                # One statement per slice, run by the database thread while the next slice is
                # planned here (see JobEngine.add_bulk); each is awaited before the next starts.
                writing: asyncio.Task[datetime | None] | None = None
                try:
                    for i in range(0, len(rows), _RECONCILE_SLICE):
                        future = plan_slice(rows[i : i + _RECONCILE_SLICE])
                        if writing is not None:
                            earliest = _earlier(earliest, await writing)
                        writing = asyncio.create_task(self.jobs.add_bulk(tx, REMINDER, future))
                        await asyncio.sleep(0)  # hand the statement to the database thread
                    if writing is not None:
                        earliest = _earlier(earliest, await writing)
                        writing = None
                finally:
                    if writing is not None:  # planning failed or we were cancelled: settle it
                        await asyncio.gather(writing, return_exceptions=True)
                new = await self._not_delivered(tx, _new_jobs(due), now)
                earliest = _earlier(earliest, await self.jobs.add(tx, new))
            self.jobs.wake_for(earliest)
        await self._queue_notice_jobs()
        await self.db.execute(
            "DELETE FROM reminder_deliveries WHERE recorded_at < ?",
            (to_unix(now - LEDGER_KEEP),),
        )

    async def _upcoming_exceptions(
        self, now: datetime
    ) -> dict[int, dict[date, OccurrenceException]]:
        """Exceptions that can still matter (yesterday onwards, in any zone), by meeting."""
        out: dict[int, dict[date, OccurrenceException]] = defaultdict(dict)
        since = (now - timedelta(days=2)).date().isoformat()
        for r in await self.db.fetchall(
            "SELECT meeting_id, occurrence, cancelled, moved_to FROM meeting_exceptions "
            "WHERE occurrence >= ? OR moved_to >= ?",
            (since, since),
        ):
            moved = datetime.strptime(r[3], "%Y-%m-%d %H:%M") if r[3] else None  # noqa: DTZ007 - local wall time
            out[r[0]][_date(r[1])] = OccurrenceException(cancelled=bool(r[2]), moved_to=moved)
        return out

    async def _not_delivered(
        self, tx: Transaction, new: list[NewJob], now: datetime
    ) -> list[NewJob]:
        """Drop already-due jobs whose channel delivery the ledger already holds."""
        out = []
        for job in new:
            if job.fire_at <= now:
                row = await tx.fetchone(
                    "SELECT 1 FROM reminder_deliveries WHERE meeting_id = ? AND occurrence = ? "
                    "AND offset_minutes = ? AND target_user_id = ?",
                    (job.meeting_id, job.occurrence, int(job.slot), CHANNEL),
                )
                if row is not None:
                    continue
            out.append(job)
        return out

    async def pending_reminders(self, meeting_id: int | None = None) -> list[Job]:
        """Pending reminder jobs, earliest first (lists and tests)."""
        return await self.jobs.pending(kind=REMINDER, meeting_id=meeting_id)

    # -- meeting changes -----------------------------------------------------

    async def on_meeting_changed(
        self, *, meeting_id: int, guild_id: int, change: str, detail: str = "", **_: Any
    ) -> None:
        """Recompute a meeting's pending reminders at once; tell subscribers what changed."""
        now = self.clock.now()
        meeting = await self.meetings.get(meeting_id)
        if change == "deleted" or meeting is None:
            async with self.db.transaction() as tx:
                await self.jobs.remove_pending(tx, meeting_id=meeting_id, kinds=[REMINDER])
            await self._queue_notice_jobs()
            return
        if change not in RECOMPUTE_CHANGES:
            return
        settings = await self.guilds.get(meeting.guild_id)
        new = plan(meeting, offsets_for(meeting, settings), after=now, floor=now)
        async with self.db.transaction() as tx:
            await self.jobs.remove_pending(tx, meeting_id=meeting_id, kinds=[REMINDER])
            earliest = await self.jobs.add(tx, new)
            if change in NOTIFY_CHANGES:
                noticed = await self._write_notices(tx, meeting, settings, change, detail, now)
                if noticed is not None and (earliest is None or noticed < earliest):
                    earliest = noticed
        self.jobs.wake_for(earliest)
        await self._queue_notice_jobs()

    async def _write_notices(
        self,
        tx: Transaction,
        meeting: Meeting,
        settings: GuildSettings,
        change: str,
        detail: str,
        now: datetime,
    ) -> datetime | None:
        """Store the notices a change calls for, each with its job; return the earliest."""
        subscribers = [
            r[0]
            for r in await tx.fetchall(
                "SELECT user_id FROM reminder_subscriptions WHERE meeting_id = ?", (meeting.id,)
            )
        ]
        planned: list[tuple[int, str, int | None, datetime]] = []  # target, key, starts, fire
        named = _DETAIL_KEY.search(detail)
        if change == "cancelled":
            # Told when the first reminder would have come ("cancelled this week"), not weeks early.
            tz = zone(meeting.timezone)
            longest = timedelta(minutes=max(offsets_for(meeting, settings), default=0))
            targets = ([CHANNEL] if settings.cancel_notices else []) + subscribers
            keys = [date.fromisoformat(named.group(1))] if named else []
            for key in keys:
                exc = meeting.exceptions.get(key)
                if exc is None or not exc.cancelled or not is_scheduled_date(meeting.schedule, key):
                    continue
                start = localize(datetime.combine(key, meeting.start_time), tz)
                if start <= now:
                    continue
                fire_at = max(now, start - longest)
                planned.extend((t, key.isoformat(), None, fire_at) for t in targets)
        else:
            chosen: Occurrence | None = None
            if named and change == "moved":
                chosen = occurrence_for_key(meeting.schedule, date.fromisoformat(named.group(1)))
            if chosen is None:
                upcoming = next_occurrences(meeting.schedule, now, 1)
                chosen = upcoming[0] if upcoming else None
            chosen_key = chosen.key.isoformat() if chosen else ""
            starts = to_unix(chosen.start) if chosen else None
            planned.extend((u, chosen_key, starts, now) for u in subscribers)
        stamp = to_unix(now)
        new_jobs = []
        for target, occ_key, starts, fire_at in planned:
            notice_id = await tx.insert(
                "INSERT INTO reminder_notices (guild_id, meeting_id, user_id, change, occurrence, "
                "starts_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (meeting.guild_id, meeting.id, target, change, occ_key, starts, stamp),
            )
            new_jobs.append(
                NewJob(NOTICE, meeting.guild_id, fire_at, meeting.id, "", str(notice_id))
            )
        return await self.jobs.add(tx, new_jobs)

    async def _queue_notice_jobs(self) -> None:
        """Give every stored notice a job (the deletion trigger writes notices without one)."""
        rows = await self.db.fetchall(
            "SELECT n.id, n.guild_id, n.meeting_id FROM reminder_notices AS n WHERE NOT EXISTS "
            "(SELECT 1 FROM jobs AS j WHERE j.kind = ? AND j.meeting_id = n.meeting_id "
            "AND j.slot = CAST(n.id AS TEXT))",
            (NOTICE,),
        )
        if not rows:
            return
        now = self.clock.now()
        async with self.db.transaction() as tx:
            earliest = await self.jobs.add(
                tx, [NewJob(NOTICE, r[1], now, r[2], "", str(r[0])) for r in rows]
            )
        self.jobs.wake_for(earliest)

    # -- delivery ------------------------------------------------------------

    def _require_sender(self) -> ReminderSender:
        if self.sender is None:
            raise RuntimeError("no reminder sender is installed (cogs.reminders not loaded)")
        return self.sender

    async def _on_reminders(self, jobs: list[Job]) -> None:
        """Deliver a batch of due reminders (each fanned out to its targets)."""
        sender = self._require_sender()
        now = self.clock.now()
        meetings = await self.meetings.get_many(j.meeting_id for j in jobs)
        settings = await self._settings(j.guild_id for j in jobs)
        done = await self._ledger_targets(jobs)
        subscribers: dict[int, list[int]] = defaultdict(list)
        for row in await self.db.fetchall(
            "SELECT meeting_id, user_id FROM reminder_subscriptions "
            "WHERE meeting_id IN (SELECT value FROM json_each(?)) ORDER BY created_at",
            (json.dumps(list(meetings)),),
        ):
            subscribers[row[0]].append(row[1])
        before = self.skipped_total
        results = await asyncio.gather(
            *(
                self._deliver(
                    sender,
                    job,
                    meetings.get(job.meeting_id),
                    settings[job.guild_id],
                    subscribers.get(job.meeting_id, []),
                    done.get((job.meeting_id, job.occurrence, job.slot), set()),
                    now,
                )
                for job in jobs
            ),
            return_exceptions=True,
        )
        skipped = self.skipped_total - before
        if skipped:
            log.warning(
                "skipped %d reminders that were due longer ago than the grace window", skipped
            )
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                _log_failure("reminder", result)
                await self._retry_or_fail(job, "internal error")

    async def _retry_or_fail(self, job: Job, reason: str) -> None:
        if job.attempts + 1 < MAX_SEND_ATTEMPTS:
            backoff = BACKOFF[min(job.attempts, len(BACKOFF) - 1)]
            await self.jobs.retry(job, self.clock.now() + backoff, reason)
        else:
            await self.jobs.fail(job, reason)

    async def _ledger_targets(self, jobs: list[Job]) -> dict[tuple[int, str, str], set[int]]:
        """Targets the ledger already holds for each job's (meeting, occurrence, offset)."""
        out: dict[tuple[int, str, str], set[int]] = defaultdict(set)
        ids = sorted({j.meeting_id for j in jobs})
        occurrences = {j.occurrence for j in jobs}
        rows = await self.db.fetchall(
            "SELECT meeting_id, occurrence, offset_minutes, target_user_id FROM reminder_deliveries "
            "WHERE meeting_id IN (SELECT value FROM json_each(?)) AND offset_minutes >= 0",
            (json.dumps(ids),),
        )
        for r in rows:
            if r[1] in occurrences:
                out[(r[0], r[1], str(r[2]))].add(r[3])
        return out

    async def _deliver(
        self,
        sender: ReminderSender,
        job: Job,
        meeting: Meeting | None,
        settings: GuildSettings,
        subscribers: list[int],
        done: set[int],
        now: datetime,
    ) -> None:
        """Send one reminder to each of its targets not yet in the ledger, then finish the job."""
        if meeting is None:  # deleted: nothing to send, nothing to roll forward
            async with self.db.transaction() as tx:
                await self.jobs.complete(tx, job)
            return
        offset = int(job.slot)
        occurrence = occurrence_for_key(meeting.schedule, date.fromisoformat(job.occurrence))
        if occurrence is None or offset not in offsets_for(meeting, settings):
            await self._finish(job, meeting, settings, [], None, now)  # cancelled or changed
            return
        due = occurrence.start - timedelta(minutes=offset)
        if due > now + EARLY_TOLERANCE:  # moved later without a recompute: fire at the new time
            async with self.db.transaction() as tx:
                await self.jobs.complete(tx, job)
                earliest = await self.jobs.add(
                    tx,
                    [NewJob(REMINDER, job.guild_id, due, meeting.id, job.occurrence, job.slot)],
                )
            self.jobs.wake_for(earliest)
            return
        targets = [t for t in [CHANNEL, *subscribers] if t not in done]
        if now >= occurrence.start or now - due > self.grace:
            reason = "meeting had started" if now >= occurrence.start else "past the grace window"
            self.skipped_total += len(targets)
            skips = [_Record(t, "skipped", reason) for t in targets]
            await self._finish(job, meeting, settings, skips, occurrence, now)
            return
        late = now - due > LATE_AFTER
        records: list[_Record] = []
        retry_reason = ""
        channel_ok = False
        for target in targets:
            nonce = nonce_for(meeting.id, job.occurrence, offset, target)
            msg = ReminderMessage(meeting, occurrence, offset, late, nonce)
            if target == CHANNEL:
                channel_id = settings.announce_channel_id
                if channel_id is None:
                    records.append(_Record(CHANNEL, "skipped", "no announcement channel"))
                    continue
                async with self._channel_slots:
                    result = await sender.to_channel(job.guild_id, channel_id, msg)
                await asyncio.sleep(0)  # let the rest of the burst reach the sender first
                record = await self._record_for(
                    sender, job, target, result, late, channel_id=channel_id
                )
                channel_ok = result.outcome is Outcome.SENT
            else:
                await self.pacer.wait()
                result = await sender.to_user(job.guild_id, target, msg)
                record = await self._record_for(sender, job, target, result, late)
                if record is not None:  # DMs are paced and slow: record each at once
                    await self._write_records(job, [record])
                    continue
            if record is None:
                retry_reason = result.reason
            else:
                records.append(record)
        if retry_reason:
            if records:
                await self._write_records(job, records)
            await self.jobs.retry(
                job, self.clock.now() + BACKOFF[min(job.attempts, len(BACKOFF) - 1)], retry_reason
            )
            return
        await self._finish(job, meeting, settings, records, occurrence, now, channel_ok=channel_ok)

    async def _record_for(
        self,
        sender: ReminderSender,
        job: Job,
        target: int,
        result: SendResult,
        late: bool,
        *,
        channel_id: int | None = None,
    ) -> _Record | None:
        """The ledger record for a send's outcome (None: retry later); side effects included."""
        outcome = result.outcome
        if outcome is Outcome.SENT:
            return _Record(target, "delivered", "sent late" if late else "", late)
        if outcome is Outcome.RETRY:
            if job.attempts + 1 < MAX_SEND_ATTEMPTS:
                return None
            return _Record(target, "failed", f"gave up after {MAX_SEND_ATTEMPTS}: {result.reason}")
        if outcome is Outcome.DM_CLOSED:
            await self.unsubscribe_all(job.guild_id, target)
            return _Record(target, "failed", "DMs closed; unsubscribed")
        if outcome is Outcome.NO_ACCESS and channel_id is not None:
            await self._alert_once(sender, job.guild_id, channel_id, result.reason)
        return _Record(target, "failed", result.reason or outcome.value)

    async def _alert_once(
        self, sender: ReminderSender, guild_id: int, channel_id: int, reason: str
    ) -> None:
        """Tell the mod log about an unusable channel once, until a post there succeeds."""
        async with self.db.transaction() as tx:
            fresh = await tx.execute(
                "INSERT INTO reminder_alerts (guild_id, channel_id, reason, alerted_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, channel_id) DO NOTHING",
                (guild_id, channel_id, reason[:200], to_unix(self.clock.now())),
            )
        if fresh:
            try:
                await sender.alert(guild_id, channel_id, reason)
            except Exception:
                log.exception("could not tell the mod log about an unusable channel")

    async def _write_records(self, job: Job, records: list[_Record]) -> None:
        async with self.db.transaction() as tx:
            await self._insert_records(tx, job, records)

    async def _insert_records(self, tx: Transaction, job: Job, records: list[_Record]) -> None:
        if not records:
            return
        stamp = to_unix(self.clock.now())
        await tx.executemany(
            "INSERT INTO reminder_deliveries (meeting_id, guild_id, occurrence, offset_minutes, "
            "target_user_id, status, reason, late, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (meeting_id, occurrence, offset_minutes, target_user_id) DO NOTHING",
            [
                (
                    job.meeting_id,
                    job.guild_id,
                    job.occurrence,
                    int(job.slot),
                    r.target,
                    r.status,
                    r.reason[:200],
                    int(r.late),
                    stamp,
                )
                for r in records
            ],
        )

    async def _finish(
        self,
        job: Job,
        meeting: Meeting,
        settings: GuildSettings,
        records: list[_Record],
        occurrence: Occurrence | None,
        now: datetime,
        *,
        channel_ok: bool = False,
    ) -> None:
        """Record outcomes and complete the job; the last of its occurrence rolls forward."""
        after = occurrence.start if occurrence is not None else max(now, job.fire_at)
        upcoming = plan(
            meeting, offsets_for(meeting, settings), after=after, floor=now - self.grace
        )
        earliest = None
        async with self.db.transaction() as tx:
            await self._insert_records(tx, job, records)
            await self.jobs.complete(tx, job)
            left = await tx.fetchone(
                "SELECT 1 FROM jobs WHERE kind = ? AND meeting_id = ? AND occurrence = ? "
                "AND status IN ('pending', 'claimed') LIMIT 1",
                (REMINDER, job.meeting_id, job.occurrence),
            )
            if left is None and upcoming:
                earliest = await self.jobs.add(tx, await self._not_delivered(tx, upcoming, now))
            if channel_ok and settings.announce_channel_id is not None:
                await tx.execute(
                    "DELETE FROM reminder_alerts WHERE guild_id = ? AND channel_id = ?",
                    (job.guild_id, settings.announce_channel_id),
                )
        self.jobs.wake_for(earliest)

    # -- notices -------------------------------------------------------------

    async def _on_notices(self, jobs: list[Job]) -> None:
        """Send stored change notices (one job per notice)."""
        sender = self._require_sender()
        now = self.clock.now()
        ids = [int(j.slot) for j in jobs]
        rows: dict[int, Any] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" for _ in chunk)
            for r in await self.db.fetchall(
                f"SELECT id, guild_id, meeting_id, user_id, change, title, occurrence, starts_at "  # noqa: S608
                f"FROM reminder_notices WHERE id IN ({marks})",
                list(chunk),
            ):
                rows[r[0]] = r
        meetings = await self.meetings.get_many(j.meeting_id for j in jobs)
        settings = await self._settings(j.guild_id for j in jobs)
        for job in jobs:
            try:
                await self._send_notice(
                    sender, job, rows.get(int(job.slot)), meetings, settings, now
                )
            except Exception as exc:
                _log_failure("notice", exc)
                await self._retry_or_fail(job, "internal error")

    async def _send_notice(
        self,
        sender: ReminderSender,
        job: Job,
        row: Any,
        meetings: dict[int, Meeting],
        settings: dict[int, GuildSettings],
        now: datetime,
    ) -> None:
        if row is None:
            async with self.db.transaction() as tx:
                await self.jobs.complete(tx, job)
            return
        notice_id, guild_id, meeting_id, user_id, change, title, occ_text, starts_at = tuple(row)
        meeting = meetings.get(meeting_id)
        occurrence = date.fromisoformat(occ_text) if occ_text else None
        ledger_key: tuple[int, str, int, int] | None = None
        status = "delivered"
        reason = ""
        if change == "cancelled" and occurrence is not None:
            ledger_key = (meeting_id, occ_text, CANCEL_NOTICE_OFFSET, user_id)
            seen = await self.db.fetchone(
                "SELECT 1 FROM reminder_deliveries WHERE meeting_id = ? AND occurrence = ? "
                "AND offset_minutes = ? AND target_user_id = ?",
                ledger_key,
            )
        else:
            seen = None
        still_subscribed = True
        if user_id != CHANNEL and change != "deleted":
            still_subscribed = (
                await self.db.fetchone(
                    "SELECT 1 FROM reminder_subscriptions WHERE meeting_id = ? AND user_id = ?",
                    (meeting_id, user_id),
                )
                is not None
            )
        channel_id = settings[guild_id].announce_channel_id
        send = seen is None and still_subscribed and (meeting is not None or change == "deleted")
        if change == "cancelled" and meeting is not None and occurrence is not None:
            exc = meeting.exceptions.get(occurrence)
            send = send and exc is not None and exc.cancelled  # not restored since
        if send and user_id == CHANNEL and channel_id is None:
            send = False
        if send:
            occurrence_start = None
            next_start = from_unix(starts_at) if starts_at is not None else None
            if meeting is not None:
                tz = zone(meeting.timezone)
                if occurrence is not None and change == "cancelled":
                    occurrence_start = localize(
                        datetime.combine(occurrence, meeting.start_time), tz
                    )
                if change in ("cancelled", "paused") or next_start is None:
                    nxt = next_occurrences(meeting.schedule, now, 1)
                    next_start = nxt[0].start if nxt else None
            message = NoticeMessage(
                guild_id=guild_id,
                meeting_id=meeting_id,
                change=change,
                title=meeting.title if meeting is not None else title,
                meeting=meeting,
                occurrence=occurrence,
                occurrence_start=occurrence_start,
                next_start=next_start,
                nonce=nonce_for("notice", notice_id),
            )
            if user_id == CHANNEL:
                assert channel_id is not None
                result = await sender.to_channel(guild_id, channel_id, message)
            else:
                await self.pacer.wait()
                result = await sender.to_user(guild_id, user_id, message)
            if result.outcome is Outcome.RETRY and job.attempts + 1 < MAX_SEND_ATTEMPTS:
                await self.jobs.retry(
                    job, now + BACKOFF[min(job.attempts, len(BACKOFF) - 1)], result.reason
                )
                return
            if result.outcome is Outcome.DM_CLOSED:
                await self.unsubscribe_all(guild_id, user_id)
            if result.outcome is Outcome.NO_ACCESS and user_id == CHANNEL and channel_id:
                await self._alert_once(sender, guild_id, channel_id, result.reason)
            if result.outcome is not Outcome.SENT:
                status, reason = "failed", result.reason or result.outcome.value
        async with self.db.transaction() as tx:
            if ledger_key is not None and seen is None and meeting is not None:
                await tx.execute(
                    "INSERT INTO reminder_deliveries (meeting_id, guild_id, occurrence, "
                    "offset_minutes, target_user_id, status, reason, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        meeting_id,
                        guild_id,
                        occ_text,
                        CANCEL_NOTICE_OFFSET,
                        user_id,
                        status if send else "skipped",
                        reason,
                        to_unix(now),
                    ),
                )
            await tx.execute("DELETE FROM reminder_notices WHERE id = ?", (notice_id,))
            await self.jobs.complete(tx, job)
