"""Delivering reminders and notices: the job handlers, the ledger's decisions and the sender port.

A reminder job fans out to the announcement channel and to every DM subscriber *at that moment*;
each target's outcome goes into the delivery ledger under the unique key (meeting, occurrence,
offset, target), so a target already recorded is never sent to again. Every send carries a
Discord message nonce derived from that key, so a crash between the send and the commit does not
post twice. The transaction that finishes the last reminder of an occurrence materialises the
next one. The glue supplies a :class:`ReminderSender` and renders the messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time as _monotonic_time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock, from_unix, to_unix
from bot.db import Database, Transaction
from bot.db.repositories import fleet as fleet_repo
from bot.db.repositories import reminders as repo
from bot.i18n import use_locale
from bot.jobs import GroupCommit, Job, JobEngine, NewJob, RetryPolicy
from bot.models.guilds import GuildSettings
from bot.models.meetings import Meeting
from bot.models.reminders import (
    Delivery,
    Message,
    Notice,
    NoticeMessage,
    Outcome,
    ReminderMessage,
    SendResult,
)
from bot.occurrences import Occurrence, localize, next_occurrences, occurrence_for_key, zone
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import MeetingStore
from bot.services.reminders.planning import REMINDER, offsets_for, plan

log = logging.getLogger(__name__)

CHANNEL = 0  # ledger target of the announcement channel (DM targets are user ids)
CANCEL_NOTICE_OFFSET = -1  # ledger "offset" of a cancelled-this-week notice
LATE_AFTER = timedelta(minutes=1)  # sent later than this after its due time: marked "(sent late)"
EARLY_TOLERANCE = timedelta(seconds=1)
MAX_SEND_ATTEMPTS = 4  # a 5xx or timeout is retried this many times in all, then recorded failed
BACKOFF = (timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2))
SEND_RETRY = RetryPolicy(MAX_SEND_ATTEMPTS, BACKOFF)
CHANNEL_CONCURRENCY = 8  # channel posts in flight; discord.py's limiter does the pacing
# A burst's bookkeeping (planning next reminders, the group commit) lingers this long so running
# hand-offs go first and more of it joins one commit (bench/scale.py p95 ~295 -> ~200 ms).
BURST = 50
BURST_LINGER = 0.2  # seconds
# Reminders are claimed this long before due, so claim and reads are done when hand-offs start;
# a meeting edited or (un)subscribed meanwhile is read again first (note_changed).
CLAIM_AHEAD = timedelta(seconds=1)
_CHANGES_KEPT = 1000  # meetings whose last change is remembered (older ones are long read)
_LONG_AGO = datetime.min.replace(tzinfo=UTC)
_TIMER_SLACK = 0.001  # seconds: the event loop may run a timer a clock tick before its time


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


@dataclass(frozen=True, slots=True)
class _Finished:
    """A reminder handed off: what its group commit writes."""

    job: Job
    records: list[Delivery]
    meeting: Meeting
    settings: GuildSettings
    after: datetime  # the next reminders are those of the occurrences following this instant
    channel: int | None  # a post there succeeded: its alert (if any) is cleared
    now: datetime  # when it was handled (a due roll-forward is checked against the ledger)
    upcoming: tuple[NewJob, ...] = ()  # planned by the group commit, outside its transaction


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a reminder's delivery works out from its meeting alone (before its due instant)."""

    occurrence: Occurrence | None  # None: cancelled, or no longer on the schedule
    key: tuple[int, str, int]  # (meeting, occurrence, offset): the ledger's and the nonces' key
    channel_nonce: str


def _prepare(job: Job, meeting: Meeting | None) -> _Prepared:
    """The occurrence and channel nonce of a reminder job (its meeting as read; None: deleted)."""
    key = (job.meeting_id, job.occurrence, int(job.slot))
    day = date.fromisoformat(job.occurrence)
    occurrence = occurrence_for_key(meeting.schedule, day) if meeting is not None else None
    return _Prepared(occurrence, key, nonce_for(*key, CHANNEL))


def nonce_for(*parts: object) -> str:
    """A Discord message nonce (24 characters, within the 25 allowed) derived from a key."""
    key = ":".join(str(p) for p in parts)
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


class SharedBucket(Protocol):
    """A token bucket every process of the bot draws from (its fleet's, on PostgreSQL)."""

    async def take(self, rate: float) -> float:
        """Draw one token (refilled at `rate` per second); return the seconds until its turn."""
        ...


class StoreBucket:
    """A named token bucket kept in one database row, shared by every process on that store."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name

    async def take(self, rate: float) -> float:
        """Draw one token with one statement; return the seconds until its turn."""
        async with self.db.transaction() as tx:
            return await fleet_repo.take_token(tx, self.name, rate)


def dm_bucket(db: Database) -> SharedBucket | None:
    """The fleet's one DM bucket on PostgreSQL; None on SQLite (one process paces in memory)."""
    return StoreBucket(db, "dm") if db.dialect == "postgres" else None


class Pacer:
    """At most `rate` passes per second (None: no pacing), in real time: across the process, or
    across every process when `shared` is the fleet's bucket."""

    def __init__(
        self,
        rate: float | None,
        *,
        shared: SharedBucket | None = None,
        monotonic: Callable[[], float] = _monotonic_time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.interval = 0.0 if not rate else 1.0 / rate
        self._shared = shared
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next send may start."""
        if self.interval <= 0:
            return
        if self._shared is not None:
            # The draw reserves a turn: waiters sleep side by side, each until its own turn.
            delay = await self._shared.take(1.0 / self.interval)
            if delay > 0:
                await self._sleep(delay)
            return
        async with self._lock:
            now = self._monotonic()
            if self._next > now:
                await self._sleep(self._next - now)
                now = self._monotonic()
            self._next = max(now, self._next) + self.interval


def _log_failure(what: str, exc: BaseException) -> None:
    """Log an unexpected failure by type and stack only (its message may echo user text)."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s delivery failed: %s\n%s", what, type(exc).__name__, stack)


async def settings_by_guild(
    guilds: GuildSettingsService, guild_ids: Iterable[int]
) -> dict[int, GuildSettings]:
    """The settings of each of some guilds."""
    return {g: await guilds.get(g) for g in set(guild_ids)}


async def not_delivered(tx: Transaction, new: list[NewJob], now: datetime) -> list[NewJob]:
    """Drop already-due jobs whose channel delivery the ledger already holds."""
    out = []
    for job in new:
        if job.fire_at <= now and await repo.is_recorded(
            tx, job.meeting_id, job.occurrence, int(job.slot), CHANNEL
        ):
            continue
        out.append(job)
    return out


class ReminderDelivery:
    """The reminder and notice job handlers, with the ledger, pacing and the installed sender."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        jobs: JobEngine,
        meetings: MeetingStore,
        guilds: GuildSettingsService,
        *,
        grace: timedelta,
        dm_rate_per_second: float | None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.jobs = jobs
        self.meetings = meetings
        self.guilds = guilds
        self.grace = grace
        self.pacer = Pacer(dm_rate_per_second, shared=dm_bucket(db))
        self.sender: ReminderSender | None = None
        self.skipped_total = 0
        self._channel_slots = asyncio.Semaphore(CHANNEL_CONCURRENCY)
        self._finishing = GroupCommit(jobs, self._write_finished, prepare=self._plan_finished)
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep  # until a due instant
        self._changed: dict[int, datetime] = {}  # meeting id -> when it or its subscribers changed

    def _require_sender(self) -> ReminderSender:
        if self.sender is None:
            raise RuntimeError("no reminder sender is installed (cogs.reminders not loaded)")
        return self.sender

    async def unsubscribe_all(self, guild_id: int, user_id: int) -> int:
        """End every DM subscription of a member in a guild (their DMs are closed)."""
        async with self.db.transaction() as tx:
            return await repo.remove_member_subscriptions(tx, guild_id, user_id)

    # -- reminders -----------------------------------------------------------

    def note_changed(self, meeting_id: int) -> None:
        """A meeting or its subscriptions changed: a batch that read it earlier reads it again."""
        if len(self._changed) >= _CHANGES_KEPT:
            self._changed.clear()  # long read again by now: batches wait a second at most
        self._changed[meeting_id] = self.clock.now()

    async def _until(self, at: datetime) -> None:
        """Return at `at` on the service's clock (at once if it has passed), never before."""
        delay = (at - self.clock.now()).total_seconds()
        if delay > 0:
            await self.sleep(delay + _TIMER_SLACK)

    async def on_reminders(self, jobs: list[Job]) -> None:
        """Deliver a batch of reminders (each fanned out to its targets) once each falls due.

        The timer claims them up to CLAIM_AHEAD early: what they need is read first, then the
        hand-offs start at the due instant.
        """
        sender = self._require_sender()
        read_at = self.clock.now()
        meeting_ids = sorted({j.meeting_id for j in jobs})
        # The batch's reads at once, each on its own pooled connection on PostgreSQL.
        meetings, done, subscribers = await asyncio.gather(
            self.meetings.get_many(meeting_ids),
            repo.recorded_targets(self.db, meeting_ids, {j.occurrence for j in jobs}),
            repo.subscribers_by_meeting(self.db, meeting_ids),
        )
        locales = await repo.locales_of(self.db, {u for ids in subscribers.values() for u in ids})
        prepared = {j.id: _prepare(j, meetings.get(j.meeting_id)) for j in jobs}
        await self._until(min(j.fire_at for j in jobs))
        changed = [m for m in meeting_ids if self._changed.get(m, _LONG_AGO) >= read_at]
        if changed:  # edited or (un)subscribed since the read: read those again
            fresh, fresh_subscribers = await asyncio.gather(
                self.meetings.get_many(changed), repo.subscribers_by_meeting(self.db, changed)
            )
            for meeting_id in changed:
                meetings.pop(meeting_id, None)
                subscribers.pop(meeting_id, None)
            meetings.update(fresh)
            subscribers.update(fresh_subscribers)
            new_ids = {u for m in changed for u in subscribers.get(m, [])}
            locales = {**locales, **await repo.locales_of(self.db, new_ids)}
            for j in (j for j in jobs if j.meeting_id in changed):
                prepared[j.id] = _prepare(j, meetings.get(j.meeting_id))
        settings = await settings_by_guild(self.guilds, (j.guild_id for j in jobs))
        now = self.clock.now()
        before = self.skipped_total
        linger = BURST_LINGER if len(jobs) >= BURST else 0.0
        results = await asyncio.gather(
            *(
                self._deliver(
                    sender,
                    job,
                    meetings.get(job.meeting_id),
                    settings[job.guild_id],
                    subscribers.get(job.meeting_id, []),
                    done.get((job.meeting_id, job.occurrence, int(job.slot)), set()),
                    now,
                    locales,
                    linger=linger,
                    prepared=prepared[job.id],
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
                await self.jobs.retry_or_fail(job, "internal error", SEND_RETRY)

    async def _deliver(
        self,
        sender: ReminderSender,
        job: Job,
        meeting: Meeting | None,
        settings: GuildSettings,
        subscribers: list[int],
        done: set[int],
        now: datetime,
        locales: Mapping[int, str],
        *,
        linger: float = 0.0,
        prepared: _Prepared | None = None,
    ) -> None:
        """Send one reminder to each of its targets not yet in the ledger, then finish the job.

        The channel's post is in the meeting's language; each DM in the one its person uses.
        """
        if job.fire_at > now:  # claimed ahead, and later than the batch's first
            await self._until(job.fire_at)
            now = self.clock.now()
        if meeting is None:  # deleted: nothing to send, nothing to roll forward
            async with self.db.transaction() as tx:
                await self.jobs.complete(tx, job)
            return
        offset = int(job.slot)
        ready = prepared or _prepare(job, meeting)
        occurrence = ready.occurrence
        if occurrence is None or offset not in offsets_for(meeting, settings):  # cancelled, changed
            await self._finish(job, meeting, settings, [], None, now, linger=linger)
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
            skips = [Delivery(t, "skipped", reason) for t in targets]
            await self._finish(job, meeting, settings, skips, occurrence, now, linger=linger)
            return
        late = now - due > LATE_AFTER
        records: list[Delivery] = []
        retry_reason = ""
        channel_ok = False
        for target in targets:
            nonce = ready.channel_nonce if target == CHANNEL else nonce_for(*ready.key, target)
            msg = ReminderMessage(meeting, occurrence, offset, late, nonce)
            if target == CHANNEL:
                channel_id = settings.announce_channel_id
                if channel_id is None:
                    records.append(Delivery(CHANNEL, "skipped", "no announcement channel"))
                    continue
                async with self._channel_slots:
                    with use_locale(meeting.language):
                        result = await sender.to_channel(job.guild_id, channel_id, msg)
                await asyncio.sleep(0)  # let the rest of the burst reach the sender first
                record = await self._record_for(
                    sender, job, target, result, late, channel_id=channel_id
                )
                channel_ok = result.outcome is Outcome.SENT
            else:
                await self.pacer.wait()
                with use_locale(locales.get(target)):
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
            await self.jobs.retry_or_fail(job, retry_reason, SEND_RETRY)
            return
        await self._finish(
            job, meeting, settings, records, occurrence, now, channel_ok=channel_ok, linger=linger
        )

    async def _record_for(
        self,
        sender: ReminderSender,
        job: Job,
        target: int,
        result: SendResult,
        late: bool,
        *,
        channel_id: int | None = None,
    ) -> Delivery | None:
        """The ledger record for a send's outcome (None: retry later); side effects included."""
        outcome = result.outcome
        if outcome is Outcome.SENT:
            return Delivery(target, "delivered", "sent late" if late else "", late)
        if outcome is Outcome.RETRY:
            if SEND_RETRY.may_retry(job.attempts):
                return None
            return Delivery(target, "failed", f"gave up after {MAX_SEND_ATTEMPTS}: {result.reason}")
        if outcome is Outcome.DM_CLOSED:
            await self.unsubscribe_all(job.guild_id, target)
            return Delivery(target, "failed", "DMs closed; unsubscribed")
        if outcome is Outcome.NO_ACCESS and channel_id is not None:
            await self._alert_once(sender, job.guild_id, channel_id, result.reason)
        return Delivery(target, "failed", result.reason or outcome.value)

    async def _alert_once(
        self, sender: ReminderSender, guild_id: int, channel_id: int, reason: str
    ) -> None:
        """Tell the mod log about an unusable channel once, until a post there succeeds."""
        async with self.db.transaction() as tx:
            fresh = await repo.add_alert(tx, guild_id, channel_id, reason, self.clock.now())
        if fresh:
            try:
                await sender.alert(guild_id, channel_id, reason)
            except Exception:
                log.exception("could not tell the mod log about an unusable channel")

    async def _write_records(self, job: Job, records: list[Delivery]) -> None:
        async with self.db.transaction() as tx:
            await self._insert_records(tx, job, records)

    async def _insert_records(self, tx: Transaction, job: Job, records: list[Delivery]) -> None:
        await repo.record_deliveries(
            tx,
            job.meeting_id,
            job.guild_id,
            job.occurrence,
            int(job.slot),
            records,
            self.clock.now(),
        )

    async def _finish(
        self,
        job: Job,
        meeting: Meeting,
        settings: GuildSettings,
        records: list[Delivery],
        occurrence: Occurrence | None,
        now: datetime,
        *,
        channel_ok: bool = False,
        linger: float = 0.0,
    ) -> None:
        """Record outcomes and complete the job; the last of its occurrence rolls forward.

        Written by the group commit, with every other reminder finishing meanwhile.
        """
        after = occurrence.start if occurrence is not None else max(now, job.fire_at)
        channel = settings.announce_channel_id if channel_ok else None
        finished = _Finished(job, records, meeting, settings, after, channel, now)
        await self._finishing.submit(finished, linger=linger)

    def _plan_finished(self, group: Sequence[_Finished]) -> list[_Finished]:
        """Each finished reminder with its meeting's next reminders planned (no I/O)."""
        return [
            replace(
                f,
                upcoming=tuple(
                    plan(
                        f.meeting,
                        offsets_for(f.meeting, f.settings),
                        after=f.after,
                        floor=f.now - self.grace,
                    )
                ),
            )
            for f in group
        ]

    async def _write_finished(self, tx: Transaction, group: Sequence[_Finished]) -> datetime | None:
        """One transaction for a group: ledger rows, completions, roll-forwards, cleared alerts."""
        now = self.clock.now()
        await repo.record_outcomes(
            tx,
            [
                (f.job.meeting_id, f.job.guild_id, f.job.occurrence, int(f.job.slot), f.records)
                for f in group
            ],
            now,
        )
        await self.jobs.complete_many(tx, [f.job for f in group])
        left = await repo.occurrences_pending(tx, REMINDER, [f.job.meeting_id for f in group])
        upcoming: list[NewJob] = []
        rolled: set[tuple[int, str]] = set()
        for f in group:
            key = (f.job.meeting_id, f.job.occurrence)
            if f.upcoming and key not in left and key not in rolled:
                rolled.add(key)  # the occurrence's last reminder: the next one's are planned
                upcoming.extend(f.upcoming)
        new = await not_delivered(tx, upcoming, min(f.now for f in group)) if upcoming else []
        # Planned reminders carry no payload: one bulk statement (COPY on PostgreSQL) for all.
        earliest = await self.jobs.add_bulk(
            tx,
            REMINDER,
            [(j.guild_id, j.meeting_id, j.occurrence, j.slot, to_unix(j.fire_at)) for j in new],
        )
        await repo.clear_alerts(tx, [(f.job.guild_id, f.channel) for f in group if f.channel])
        return earliest

    # -- notices -------------------------------------------------------------

    async def on_notices(self, jobs: list[Job]) -> None:
        """Send stored change notices (one job per notice)."""
        sender = self._require_sender()
        now = self.clock.now()
        stored = await repo.notices(self.db, [int(j.slot) for j in jobs])
        meetings = await self.meetings.get_many(j.meeting_id for j in jobs)
        settings = await settings_by_guild(self.guilds, (j.guild_id for j in jobs))
        for job in jobs:
            try:
                await self._send_notice(
                    sender, job, stored.get(int(job.slot)), meetings, settings, now
                )
            except Exception as exc:
                _log_failure("notice", exc)
                await self.jobs.retry_or_fail(job, "internal error", SEND_RETRY)

    async def _send_notice(
        self,
        sender: ReminderSender,
        job: Job,
        notice: Notice | None,
        meetings: dict[int, Meeting],
        settings: dict[int, GuildSettings],
        now: datetime,
    ) -> None:
        """Send one stored notice unless it went stale; a cancel notice also goes in the ledger."""
        if notice is None:
            async with self.db.transaction() as tx:
                await self.jobs.complete(tx, job)
            return
        guild_id, meeting_id, user_id, change = (
            notice.guild_id,
            notice.meeting_id,
            notice.user_id,
            notice.change,
        )
        occ_text = notice.occurrence or ""
        meeting = meetings.get(meeting_id)
        occurrence = date.fromisoformat(occ_text) if occ_text else None
        cancel_notice = change == "cancelled" and occurrence is not None
        status = "delivered"
        reason = ""
        seen = cancel_notice and await repo.is_recorded(
            self.db, meeting_id, occ_text, CANCEL_NOTICE_OFFSET, user_id
        )
        still_subscribed = True
        if user_id != CHANNEL and change != "deleted":
            still_subscribed = await repo.is_subscribed(self.db, meeting_id, user_id)
        channel_id = settings[guild_id].announce_channel_id
        send = not seen and still_subscribed and (meeting is not None or change == "deleted")
        if change == "cancelled" and meeting is not None and occurrence is not None:
            exc = meeting.exceptions.get(occurrence)
            send = send and exc is not None and exc.cancelled  # not restored since
        if send and user_id == CHANNEL and channel_id is None:
            send = False
        if send:
            result = await self._send_one_notice(
                sender, notice, meeting, occurrence, channel_id, now
            )
            # Once the tries are spent the notice is recorded failed below, not the job.
            if result.outcome is Outcome.RETRY and SEND_RETRY.may_retry(job.attempts):
                await self.jobs.retry_or_fail(job, result.reason, SEND_RETRY)
                return
            if result.outcome is Outcome.DM_CLOSED:
                await self.unsubscribe_all(guild_id, user_id)
            if result.outcome is Outcome.NO_ACCESS and user_id == CHANNEL and channel_id:
                await self._alert_once(sender, guild_id, channel_id, result.reason)
            if result.outcome is not Outcome.SENT:
                status, reason = "failed", result.reason or result.outcome.value
        async with self.db.transaction() as tx:
            if cancel_notice and not seen and meeting is not None:
                record = Delivery(user_id, status if send else "skipped", reason)
                await repo.record_deliveries(
                    tx, meeting_id, guild_id, occ_text, CANCEL_NOTICE_OFFSET, [record], now
                )
            await repo.remove_notice(tx, notice.id)
            await self.jobs.complete(tx, job)

    async def _send_one_notice(
        self,
        sender: ReminderSender,
        notice: Notice,
        meeting: Meeting | None,
        occurrence: date | None,
        channel_id: int | None,
        now: datetime,
    ) -> SendResult:
        """Render a notice's message and send it to its target."""
        occurrence_start = None
        next_start = from_unix(notice.starts_at) if notice.starts_at is not None else None
        if meeting is not None:
            tz = zone(meeting.timezone)
            if occurrence is not None and notice.change == "cancelled":
                occurrence_start = localize(datetime.combine(occurrence, meeting.start_time), tz)
            if notice.change in ("cancelled", "paused") or next_start is None:
                nxt = next_occurrences(meeting.schedule, now, 1)
                next_start = nxt[0].start if nxt else None
        message = NoticeMessage(
            guild_id=notice.guild_id,
            meeting_id=notice.meeting_id,
            change=notice.change,
            title=meeting.title if meeting is not None else notice.title,
            meeting=meeting,
            occurrence=occurrence,
            occurrence_start=occurrence_start,
            next_start=next_start,
            nonce=nonce_for("notice", notice.id),
        )
        if notice.user_id == CHANNEL:
            assert channel_id is not None
            with use_locale(meeting.language if meeting is not None else None):
                return await sender.to_channel(notice.guild_id, channel_id, message)
        locales = await repo.locales_of(self.db, [notice.user_id])
        await self.pacer.wait()
        with use_locale(locales.get(notice.user_id, notice.locale)):  # gone with its meeting
            return await sender.to_user(notice.guild_id, notice.user_id, message)
