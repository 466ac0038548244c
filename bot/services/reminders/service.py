"""Reminders: subscriptions, materialising pending reminders, and following meeting changes.

Each pending reminder is a ``jobs`` row of kind ``reminder``: one per (meeting, occurrence,
offset), holding only the next occurrence (or a few, when an offset is longer than the gap to
the following one). :mod:`.planning` decides which rows a meeting needs; :mod:`.delivery` sends
them when they fire and rolls forward. This module keeps who is subscribed, materialises what is
missing at start and every few minutes, and recomputes a meeting's reminders when it changes
(storing the change notices its subscribers are owed).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from bot.bus import MEETING_CHANGED, EventBus
from bot.clock import Clock, to_unix
from bot.config import Settings
from bot.db import Database, Transaction
from bot.db.repositories import reminders as repo
from bot.errors import NotFoundError, UserFacingError
from bot.i18n import N_, Msg, resolve
from bot.jobs import Job, JobEngine, NewJob
from bot.models.guilds import GuildSettings
from bot.models.meetings import Meeting
from bot.models.reminders import MeetingTiming, Subscription
from bot.occurrences import (
    Occurrence,
    is_scheduled_date,
    localize,
    next_occurrences,
    occurrence_for_key,
    zone,
)
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import MeetingStore
from bot.services.privacy import PrivacyService, UserData
from bot.services.reminders.delivery import (
    CHANNEL,
    CLAIM_AHEAD,
    ReminderDelivery,
    ReminderSender,
    not_delivered,
    settings_by_guild,
)
from bot.services.reminders.planning import (
    NOTICE,
    REMINDER,
    Row,
    earlier,
    exceptions_by_meeting,
    new_jobs,
    offsets_for,
    plan,
    plan_rows,
    schedule_of,
    stored_offsets,
)

MAX_SUBSCRIPTIONS = 25
_LOCALE_CACHE = 100_000  # people whose language is remembered between interactions
LEDGER_KEEP = timedelta(days=35)
_RECONCILE_SLICE = 5000  # meetings planned per insert (bounded memory)
_DETAIL_KEY = re.compile(r"occurrence:(\d{4}-\d{2}-\d{2})")  # written by MeetingService
NOTIFY_CHANGES = frozenset({"moved", "paused", "cancelled"})
RECOMPUTE_CHANGES = frozenset({"created", "edited", "moved", "paused", "resumed", "cancelled"})


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
        self._locales: dict[int, str] = {}  # user id -> language last seen (see note_locale)
        rate = settings.dm_rate_per_second if dm_rate_per_second is None else dm_rate_per_second
        self.delivery = ReminderDelivery(
            db, clock, jobs, meetings, guilds, grace=self.grace, dm_rate_per_second=rate
        )
        privacy.register(
            UserData(
                "reminder_subscriptions",
                "user_id",
                purpose=N_("Meetings you asked to be reminded of by DM (until you stop or leave)."),
            ),
            UserData(
                "reminder_deliveries",
                "target_user_id",
                purpose=N_("Which DM reminders were sent to you, so none is sent twice (35 days)."),
            ),
            UserData(
                "reminder_notices",
                "user_id",
                purpose=N_("Notices about your meetings waiting to be sent to you."),
            ),
        )
        jobs.register(REMINDER, self.delivery.on_reminders, ahead=CLAIM_AHEAD)
        jobs.register(NOTICE, self.delivery.on_notices)
        jobs.add_reconciler(self.reconcile)
        events.subscribe(MEETING_CHANGED, self.on_meeting_changed)

    @property
    def sender(self) -> ReminderSender | None:
        """The installed Discord sender (None until the glue installs one)."""
        return self.delivery.sender

    @sender.setter
    def sender(self, sender: ReminderSender | None) -> None:
        self.delivery.sender = sender

    @property
    def skipped_total(self) -> int:
        """Reminders skipped since start because they were due longer ago than the grace."""
        return self.delivery.skipped_total

    # -- subscriptions -------------------------------------------------------

    async def subscribe(
        self, guild_id: int, user_id: int, meeting_id: int, locale: str = "en"
    ) -> tuple[Meeting, bool]:
        """Subscribe a member to DM reminders of a meeting; returns (meeting, newly subscribed).

        ``locale`` is the language they asked in ("en"/"es"): their DMs are written in it.
        """
        meeting = await self.meetings.get(meeting_id, guild_id)
        if meeting is None:
            raise NotFoundError(
                Msg("That meeting no longer exists. Use `/meeting list` to find one.")
            )
        count = await repo.count_subscriptions(self.db, guild_id, user_id)
        async with self.db.transaction() as tx:
            if await repo.is_subscribed(tx, meeting_id, user_id):
                return meeting, False
            if count >= MAX_SUBSCRIPTIONS:
                raise UserFacingError(
                    Msg(
                        "You already get DM reminders for {limit} meetings. Stop one with "
                        "`/remind stop` first.",
                        limit=MAX_SUBSCRIPTIONS,
                    )
                )
            await repo.add_subscription(
                tx, meeting_id, guild_id, user_id, self.clock.now(), resolve(locale)
            )
        self.delivery.note_changed(meeting_id)
        self._locales[user_id] = resolve(locale)
        return meeting, True

    async def note_locale(self, user_id: int, locale: str) -> bool:
        """A person used Haven in ``locale``: write their DMs in it from now on; True if it changed.

        Called on every interaction, so it reads (and writes) only the first time a person is seen
        in a language since start.
        """
        language = resolve(locale)
        if self._locales.get(user_id) == language:
            return False
        if len(self._locales) >= _LOCALE_CACHE:
            self._locales.clear()
        changed = 0
        if await repo.has_other_locale(self.db, user_id, language):
            async with self.db.transaction() as tx:
                changed = await repo.set_locale(tx, user_id, language)
        self._locales[user_id] = language
        return changed > 0

    async def unsubscribe(self, guild_id: int, user_id: int, meeting_id: int) -> bool:
        """End a member's DM reminders for a meeting; False if there were none."""
        async with self.db.transaction() as tx:
            removed = await repo.remove_subscription(tx, meeting_id, guild_id, user_id)
        self.delivery.note_changed(meeting_id)
        return removed > 0

    async def subscriptions(self, guild_id: int, user_id: int) -> list[Subscription]:
        """A member's subscriptions in a guild, soonest meeting first."""
        ids = await repo.subscribed_meeting_ids(self.db, guild_id, user_id)
        meetings = await self.meetings.get_many(ids)
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
        return await repo.subscriber_ids(self.db, meeting_id)

    # -- materialising -------------------------------------------------------

    async def reconcile(self) -> None:
        """Materialise reminders of meetings that have none pending; queue unsent notices."""
        now = self.clock.now()
        floor = now - self.grace
        since = (now - timedelta(days=2)).date().isoformat()  # yesterday on, in any zone
        # Only what timing needs, straight into schedules: a first start reads every meeting.
        # Several processes: each writes its own shards' guilds' (the others' processes theirs).
        timings = await repo.meetings_without_pending(
            self.db, REMINDER, since=since, shards=self.jobs.shard_filter()
        )
        if timings:
            exceptions = exceptions_by_meeting(await repo.exceptions_since(self.db, since))
            settings = await settings_by_guild(self.guilds, (t.guild_id for t in timings))
            defaults = {g: tuple(s.offsets_minutes) for g, s in settings.items()}
            earliest: datetime | None = None
            now_s, floor_s = to_unix(now), to_unix(floor)
            due: list[Row] = []  # in the grace window already: the ledger may hold them

            def plan_slice(part: Sequence[MeetingTiming]) -> list[Row]:
                future: list[Row] = []
                for t in part:
                    plan_rows(
                        t.id,
                        t.guild_id,
                        schedule_of(t, exceptions),
                        stored_offsets(t, defaults[t.guild_id]),
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
                written = 0
                try:
                    for i in range(0, len(timings), _RECONCILE_SLICE):
                        future = await asyncio.to_thread(
                            plan_slice, timings[i : i + _RECONCILE_SLICE]
                        )
                        written += len(future)
                        if writing is not None:
                            earliest = earlier(earliest, await writing)
                        writing = asyncio.create_task(self.jobs.add_bulk(tx, REMINDER, future))
                        await asyncio.sleep(0)  # hand the statement to the database thread
                    if writing is not None:
                        earliest = earlier(earliest, await writing)
                        writing = None
                finally:
                    if writing is not None:  # planning failed or we were cancelled: settle it
                        await asyncio.gather(writing, return_exceptions=True)
                new = await not_delivered(tx, new_jobs(due), now)
                earliest = earlier(earliest, await self.jobs.add(tx, new))
            self.jobs.wake_for(earliest)
            await self.jobs.bulk_written(written)
        await self._queue_notice_jobs()
        async with self.db.transaction() as tx:
            await repo.prune_ledger(tx, now - LEDGER_KEEP)

    async def pending_reminders(self, meeting_id: int | None = None) -> list[Job]:
        """Pending reminder jobs, earliest first (lists and tests)."""
        return await self.jobs.pending(kind=REMINDER, meeting_id=meeting_id)

    # -- meeting changes -----------------------------------------------------

    async def on_meeting_changed(
        self, *, meeting_id: int, guild_id: int, change: str, detail: str = "", **_: Any
    ) -> None:
        """Recompute a meeting's pending reminders at once; tell subscribers what changed."""
        self.delivery.note_changed(meeting_id)  # a batch claimed ahead reads it again
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
                earliest = earlier(earliest, noticed)
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
        subscribers = await repo.notice_targets(tx, meeting.id)
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
        new_notices = []
        for target, occ_key, starts, fire_at in planned:
            notice_id = await repo.add_notice(
                tx, meeting.guild_id, meeting.id, target, change, occ_key, starts, now
            )
            new_notices.append(
                NewJob(NOTICE, meeting.guild_id, fire_at, meeting.id, "", str(notice_id))
            )
        return await self.jobs.add(tx, new_notices)

    async def _queue_notice_jobs(self) -> None:
        """Give every stored notice a job (the deletion trigger writes notices without one)."""
        queued = await repo.notices_without_job(self.db, NOTICE)
        # Several processes: each queues its own shards' guilds' (as reconcile plans them).
        queued = [n for n in queued if self.jobs.owns(n.guild_id)]
        if not queued:
            return
        now = self.clock.now()
        async with self.db.transaction() as tx:
            earliest = await self.jobs.add(
                tx, [NewJob(NOTICE, n.guild_id, now, n.meeting_id, "", str(n.id)) for n in queued]
            )
        self.jobs.wake_for(earliest)
