"""Meetings: the rules around them, and the native scheduled event that mirrors each. No Discord.

The model lives in ``bot.models.meetings``, its storage in ``bot.db.repositories.meetings`` and the
option parsers in ``bot.services.meeting_options``; all are re-exported here for the callers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Protocol

from bot.bus import MEETING_CHANGED, EventBus
from bot.clock import Clock
from bot.db import Database
from bot.db.repositories import meetings as repository
from bot.errors import NotFoundError, PermissionDeniedError, UserFacingError
from bot.i18n import N_, Msg
from bot.jobs import Job, JobEngine, NewJob
from bot.models.meetings import (
    FORMATS,
    TIMING_FIELDS,
    Access,
    EditResult,
    Kind,
    Later,
    Listing,
    Meeting,
    MeetingEdit,
    NativeEventPlan,
    Upcoming,
)
from bot.occurrences import (
    Occurrence,
    OccurrenceException,
    is_scheduled_date,
    next_occurrences,
    occurrence_for_key,
    occurrences_between,
    zone,
)
from bot.parsing import parse_language, parse_timezone
from bot.permissions import Level, refusal
from bot.services.guilds import GuildSettingsService
from bot.services.meeting_options import (
    DESCRIPTION_MAX,
    DURATION_MAX,
    DURATION_MIN,
    FIELD_LABELS,
    KIND_LABELS,
    OPENING_TEXT_MAX,
    ROOM_CLOSE_MAX,
    ROOM_OPEN_MAX,
    TITLE_MAX,
    access_label,
    check_cancel,
    describe_repeat,
    edit_fields,
    field_label,
    format_labels,
    format_suggestions,
    home_time_words,
    kind_label,
    local_start_words,
    move_request,
    occurrence_key,
    parse_access,
    parse_description,
    parse_duration,
    parse_formats,
    parse_future_start,
    parse_kind,
    parse_repeat,
    parse_title,
    pause_date,
    visible_to,
)
from bot.services.privacy import PrivacyService, UserData

__all__ = [
    "DESCRIPTION_MAX",
    "DURATION_MAX",
    "DURATION_MIN",
    "EVENT_ROLL",
    "FIELD_LABELS",
    "FORMATS",
    "KIND_LABELS",
    "OPENING_TEXT_MAX",
    "ROOM_CLOSE_MAX",
    "ROOM_OPEN_MAX",
    "TIMING_FIELDS",
    "TITLE_MAX",
    "Access",
    "Actor",
    "EditResult",
    "Kind",
    "Later",
    "Listing",
    "Meeting",
    "MeetingEdit",
    "MeetingService",
    "MeetingStore",
    "NativeEventPlan",
    "NativeEvents",
    "Upcoming",
    "access_label",
    "describe_repeat",
    "field_label",
    "format_labels",
    "format_suggestions",
    "home_time_words",
    "kind_label",
    "local_start_words",
    "move_request",
    "parse_access",
    "parse_description",
    "parse_duration",
    "parse_formats",
    "parse_kind",
    "parse_repeat",
    "parse_title",
    "visible_to",
]

log = logging.getLogger(__name__)

# MEETING_CHANGED payloads emitted by MeetingService (after the commit), for subscribers:
#   created   detail ""
#   edited    detail "fields:<comma-separated field names>" or "restored:YYYY-MM-DD"
#   cancelled detail "occurrence:YYYY-MM-DD"             (the occurrence's scheduled local date)
#   moved     detail "occurrence:YYYY-MM-DD to:YYYY-MM-DD HH:MM"   (new local wall time)
#   paused    detail "until:YYYY-MM-DD"
#   resumed   detail ""
#   deleted   detail "room:delete" or "room:keep"       (the meeting row is already gone)

MOVE_MAX_DAYS = 30
EVENT_ROLL = "event_roll"

NOT_FOUND = N_(
    "I can't find that meeting in this server. Start typing its title and pick it from the list."
)
FACILITATORS = UserData(
    "meeting_facilitators",
    "user_id",
    purpose=N_("Meetings you facilitate list you as a facilitator."),
)


class MeetingStore(repository.MeetingStore):
    """The meetings repository, declaring its facilitator rows to the forget-me contract."""

    def __init__(self, db: Database, clock: Clock, privacy: PrivacyService) -> None:
        super().__init__(db, clock)
        privacy.register(FACILITATORS)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: their user id and permission level in the guild."""

    user_id: int
    level: Level


class NativeEvents(Protocol):
    """What the Discord glue provides: show a meeting's occurrence as its one scheduled event."""

    def knows_guild(self, guild_id: int) -> bool:
        """Whether the bot is in the guild (its events can be reached)."""
        ...

    async def show(self, meeting: Meeting, occurrence: Occurrence) -> int | None:
        """Edit the meeting's event (or make a new one) to show the occurrence; its id or None."""
        ...

    async def remove(self, guild_id: int, event_id: int) -> None:
        """Delete an event; one already gone is fine."""
        ...


class MeetingService:
    """Every rule about meetings: validation, who may change what, events after each change."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        store: MeetingStore,
        guilds: GuildSettingsService,
        events: EventBus,
        jobs: JobEngine,
    ) -> None:
        self.db = db
        self.clock = clock
        self.store = store
        self.guilds = guilds
        self.events = events
        self.jobs = jobs
        self.native_events: NativeEvents | None = None  # installed by cogs.meetings
        # One sync at a time: a command and the reconciler must never both create an event.
        self._mirror_lock = asyncio.Lock()
        jobs.register(EVENT_ROLL, self._on_event_roll)
        jobs.add_reconciler(self._reconcile_native_events)
        events.subscribe(MEETING_CHANGED, self._on_meeting_changed)

    # -- reading -------------------------------------------------------------------------------

    async def get(self, guild_id: int, meeting_id: int) -> Meeting:
        """A meeting of this guild, or NotFoundError (ids never cross guilds)."""
        meeting = await self.store.get(meeting_id, guild_id)
        if meeting is None:
            raise NotFoundError(Msg.of(NOT_FOUND))
        return meeting

    async def resolve(self, guild_id: int, text: str) -> Meeting:
        """The meeting an option names: its id (from autocomplete) or its exact title."""
        cleaned = text.strip()
        # ASCII digits only ('²'.isdigit() is true, int() refuses it) and within SQLite's integers.
        if cleaned.isascii() and cleaned.isdigit() and len(cleaned) < 19:
            found = await self.store.get(int(cleaned), guild_id)
            if found is not None:
                return found
        needle = cleaned.lower()
        matches = [m for m in await self.store.list_guild(guild_id) if m.title.lower() == needle]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UserFacingError(
                Msg(
                    "Several meetings have that title: pick one from the list that appears as "
                    "you type."
                )
            )
        raise NotFoundError(Msg.of(NOT_FOUND))

    async def search(self, guild_id: int, text: str, limit: int = 25) -> list[Meeting]:
        """Meetings whose title contains the text (prefix matches first), for autocomplete."""
        needle = text.strip().lower()
        meetings = await self.store.list_guild(guild_id)
        hits = [m for m in meetings if needle in m.title.lower()] if needle else meetings
        hits.sort(key=lambda m: (not m.title.lower().startswith(needle), m.title.lower()))
        return hits[:limit]

    def next_occurrences(self, meeting: Meeting, n: int = 3) -> list[Occurrence]:
        """The next n occurrences after now."""
        return next_occurrences(meeting.schedule, self.clock.now(), n)

    async def upcoming(self, guild_id: int, days: int) -> list[Upcoming]:
        """Occurrences starting within the next `days` days (1–31), in order."""
        return (await self.listing(guild_id, days)).upcoming

    async def listing(self, guild_id: int, days: int) -> Listing:
        """Occurrences in the next `days` days (1–31), and every other meeting's next date."""
        if not 1 <= days <= 31:
            raise UserFacingError(Msg("`days` goes from 1 to 31; you gave {days}.", days=days))
        now = self.clock.now()
        end = now + timedelta(days=days)
        upcoming: list[Upcoming] = []
        later: list[Later] = []
        for meeting in await self.store.list_guild(guild_id):
            window = [o for o in occurrences_between(meeting.schedule, now, end) if o.end > now]
            if window:
                upcoming.extend(Upcoming(meeting, occ) for occ in window)
                continue
            nxt = next_occurrences(meeting.schedule, now, 1)
            paused = meeting.paused_until
            if paused is not None and paused <= self._local_today(meeting):
                paused = None
            later.append(Later(meeting, nxt[0] if nxt else None, paused))
        upcoming.sort(key=lambda u: (u.occurrence.start, u.meeting.title.casefold(), u.meeting.id))
        later.sort(
            key=lambda x: (
                x.next is None,
                x.next.start if x.next else now,
                x.meeting.title.casefold(),
                x.meeting.id,
            )
        )
        return Listing(upcoming, later)

    def can_manage(self, meeting: Meeting, actor: Actor) -> bool:
        """Facilitators of that meeting, or moderators."""
        return actor.level >= Level.MODERATOR or actor.user_id in meeting.facilitator_ids

    def _require_manage(self, meeting: Meeting, actor: Actor) -> None:
        if not self.can_manage(meeting, actor):
            raise PermissionDeniedError(
                Msg(
                    "Only this meeting's facilitators or a moderator can change it. Ask one of "
                    "them, or a moderator can add you with `/meeting edit add_facilitator:`."
                )
            )

    def _local_today(self, meeting: Meeting) -> date:
        return self.clock.now().astimezone(zone(meeting.timezone)).date()

    # -- writing -------------------------------------------------------------------------------

    async def _emit(self, meeting: Meeting, change: str, detail: str = "") -> None:
        await self.events.emit(
            MEETING_CHANGED,
            meeting_id=meeting.id,
            guild_id=meeting.guild_id,
            change=change,
            detail=detail,
        )

    async def schedule(
        self,
        guild_id: int,
        actor: Actor,
        *,
        title: str,
        start: str,
        timezone: str | None,
        repeat: str,
        duration: int = 60,
        kind: str = "na",
        access: str = "open",
        formats: str | None = None,
        description: str | None = None,
        language: str | None = None,
    ) -> Meeting:
        """Validate everything, store the meeting with the caller as facilitator, emit created.

        ``language`` (its posts' language) defaults to the guild's.
        """
        if actor.level < Level.FACILITATOR:
            raise PermissionDeniedError(refusal(Level.FACILITATOR))
        clean_title = parse_title(title)
        zone_name = (
            parse_timezone(timezone)
            if timezone is not None
            else (await self.guilds.get(guild_id)).timezone
        )
        local = parse_future_start(start, zone_name, self.clock.now())
        rule = parse_repeat(repeat)
        minutes = parse_duration(duration)
        meeting_kind = parse_kind(kind)
        meeting_access = parse_access(access)
        format_keys = parse_formats(formats) if formats else ()
        text = parse_description(description) if description else ""
        posts_in = (
            parse_language(language)
            if language is not None
            else (await self.guilds.get(guild_id)).language
        )
        async with self.db.transaction() as tx:
            meeting_id = await self.store.create(
                tx,
                guild_id=guild_id,
                title=clean_title,
                kind=meeting_kind,
                access=meeting_access,
                formats=format_keys,
                timezone=zone_name,
                first_date=local.date(),
                start_time=local.time(),
                duration_minutes=minutes,
                repeat=rule,
                description=text,
                facilitator_id=actor.user_id,
                language=posts_in,
            )
        meeting = await self.get(guild_id, meeting_id)
        await self._emit(meeting, "created")
        return meeting

    async def edit(
        self, guild_id: int, meeting_id: int, actor: Actor, edit: MeetingEdit
    ) -> EditResult:
        """Validate and apply changes; emit edited with the changed field names."""
        meeting = await self.get(guild_id, meeting_id)
        self._require_manage(meeting, actor)
        fields = edit_fields(meeting, edit, self.clock.now())
        add, remove = edit.add_facilitator, edit.remove_facilitator
        changed = {k: v for k, v in fields.items() if getattr(meeting, k) != v}
        if add is not None or remove is not None:
            changed_names = [*changed, "facilitators"]
        else:
            changed_names = list(changed)
        if not changed_names:
            raise UserFacingError(Msg("Those are already the meeting's settings; nothing changed."))
        new_schedule = replace(meeting, **changed).schedule
        if TIMING_FIELDS & set(changed) and not next_occurrences(new_schedule, self.clock.now(), 1):
            raise UserFacingError(
                Msg(
                    "After this change the meeting would never meet again. Give a new `start` "
                    "(still to come) together with it."
                )
            )
        async with self.db.transaction() as tx:
            await self.store.update(tx, meeting.id, **changed)
            if TIMING_FIELDS & set(changed):
                for key in meeting.exceptions:
                    if not is_scheduled_date(new_schedule, key):
                        await self.store.set_exception(tx, meeting.id, key, None)
            if add is not None:
                await self.store.add_facilitator(tx, meeting, add)
            if remove is not None:
                await self.store.remove_facilitator(tx, meeting.id, remove)
        updated = await self.get(guild_id, meeting.id)
        await self._emit(updated, "edited", "fields:" + ",".join(changed_names))
        return EditResult(updated, tuple(changed_names))

    async def cancel(
        self, guild_id: int, meeting_id: int, actor: Actor, day: str, *, restore: bool = False
    ) -> tuple[Meeting, date]:
        """Cancel one occurrence (or restore a cancelled or moved one); return its key."""
        meeting = await self.get(guild_id, meeting_id)
        self._require_manage(meeting, actor)
        key = occurrence_key(meeting, day, self.clock.now())
        check_cancel(meeting, key, self.clock.now(), restore=restore)
        if restore:
            async with self.db.transaction() as tx:
                await self.store.set_exception(tx, meeting.id, key, None)
            updated = await self.get(guild_id, meeting.id)
            await self._emit(updated, "edited", f"restored:{key.isoformat()}")
            return updated, key
        async with self.db.transaction() as tx:
            await self.store.set_exception(tx, meeting.id, key, OccurrenceException(cancelled=True))
        updated = await self.get(guild_id, meeting.id)
        await self._emit(updated, "cancelled", f"occurrence:{key.isoformat()}")
        return updated, key

    async def move(
        self, guild_id: int, meeting_id: int, actor: Actor, day: str, new_start: str
    ) -> tuple[Meeting, Occurrence]:
        """Move one future occurrence to another local time (within 30 days); return it."""
        meeting = await self.get(guild_id, meeting_id)
        self._require_manage(meeting, actor)
        key = occurrence_key(meeting, day, self.clock.now())
        if meeting.paused_until is not None and key < meeting.paused_until:
            raise UserFacingError(
                Msg(
                    "The meeting is paused until {until}, so {date} is skipped; resume the "
                    "meeting first.",
                    until=meeting.paused_until.isoformat(),
                    date=key.isoformat(),
                )
            )
        current = occurrence_for_key(replace(meeting, exceptions={}).schedule, key)
        exc = meeting.exceptions.get(key)
        if exc is not None and exc.moved_to is not None and not exc.cancelled:
            current = occurrence_for_key(meeting.schedule, key)
        now = self.clock.now()
        if current is None or current.start <= now:
            raise UserFacingError(
                Msg(
                    "The occurrence of {date} has already started or passed; only future "
                    "occurrences can be moved.",
                    date=key.isoformat(),
                )
            )
        target = parse_future_start(new_start, meeting.timezone, self.clock.now())
        if abs((target.date() - key).days) > MOVE_MAX_DAYS:
            raise UserFacingError(
                Msg(
                    "An occurrence can move by at most {days} days. For a bigger change, cancel "
                    "it, or change the meeting with `/meeting edit start:`.",
                    days=MOVE_MAX_DAYS,
                )
            )
        if current.local_start.replace(tzinfo=None) == target and (
            exc is None or not exc.cancelled
        ):
            raise UserFacingError(
                Msg("That is already when this occurrence meets; nothing changed.")
            )
        async with self.db.transaction() as tx:
            await self.store.set_exception(
                tx, meeting.id, key, OccurrenceException(cancelled=False, moved_to=target)
            )
        updated = await self.get(guild_id, meeting.id)
        moved = occurrence_for_key(updated.schedule, key)
        assert moved is not None
        await self._emit(
            updated, "moved", f"occurrence:{key.isoformat()} to:{target:%Y-%m-%d %H:%M}"
        )
        return updated, moved

    async def pause(self, guild_id: int, meeting_id: int, actor: Actor, until: str) -> Meeting:
        """Skip every occurrence before `until` (a local date after today)."""
        meeting = await self.get(guild_id, meeting_id)
        self._require_manage(meeting, actor)
        day = pause_date(meeting, until, self._local_today(meeting))
        async with self.db.transaction() as tx:
            await self.store.update(tx, meeting.id, paused_until=day)
        updated = await self.get(guild_id, meeting.id)
        await self._emit(updated, "paused", f"until:{day.isoformat()}")
        return updated

    async def resume(self, guild_id: int, meeting_id: int, actor: Actor) -> Meeting:
        """End a pause now."""
        meeting = await self.get(guild_id, meeting_id)
        self._require_manage(meeting, actor)
        if meeting.paused_until is None or meeting.paused_until <= self._local_today(meeting):
            raise UserFacingError(Msg("This meeting is not paused."))
        async with self.db.transaction() as tx:
            await self.store.update(tx, meeting.id, paused_until=None)
        updated = await self.get(guild_id, meeting.id)
        await self._emit(updated, "resumed")
        return updated

    def check_delete(self, meeting: Meeting, actor: Actor) -> None:
        """Raise unless the actor may delete this meeting."""
        self._require_manage(meeting, actor)

    async def delete(
        self, guild_id: int, meeting_id: int, actor: Actor, *, delete_room: bool
    ) -> Meeting:
        """Delete a meeting (and its event-roll job); return what it was; emit deleted.

        Other features drop their own jobs of the meeting when they see "deleted".
        """
        meeting = await self.get(guild_id, meeting_id)
        self._require_manage(meeting, actor)
        async with self.db.transaction() as tx:
            await self.jobs.remove_pending(tx, meeting_id=meeting.id, kinds=[EVENT_ROLL])
            await self.store.delete(tx, meeting.id)
        await self._emit(meeting, "deleted", "room:delete" if delete_room else "room:keep")
        return meeting

    # -- the native scheduled event mirroring each meeting -------------------------------------

    async def native_event_plan(self, meeting_id: int) -> NativeEventPlan | None:
        """What the meeting's event should show: its next occurrence while the guild wants events.

        None when the meeting is gone.
        """
        meeting = await self.store.get(meeting_id)
        if meeting is None:
            return None
        occ: Occurrence | None = None
        if (await self.guilds.get(meeting.guild_id)).native_events:
            upcoming = next_occurrences(meeting.schedule, self.clock.now(), 1)
            occ = upcoming[0] if upcoming else None
        return NativeEventPlan(meeting, occ)

    async def sync_native_event(self, meeting_id: int) -> None:
        """Create, update or delete the meeting's event so it shows the next occurrence."""
        if self.native_events is None:
            return
        async with self._mirror_lock:
            await self._sync_native_event(self.native_events, meeting_id)

    async def _sync_native_event(self, port: NativeEvents, meeting_id: int) -> None:
        plan = await self.native_event_plan(meeting_id)
        if plan is None:
            return
        meeting, occ = plan.meeting, plan.occurrence
        if occ is None:
            if meeting.native_event_id is not None:
                await port.remove(meeting.guild_id, meeting.native_event_id)
                await self.record_native_event(meeting.id, meeting.guild_id, None, None)
            return
        event_id = await port.show(meeting, occ)
        # A roll job is armed even after a failure, so the next occurrence's end retries.
        recorded = await self.record_native_event(meeting.id, meeting.guild_id, event_id, occ)
        if not recorded and event_id is not None:  # deleted while Discord was answering
            await port.remove(meeting.guild_id, event_id)

    async def remove_native_event(self, meeting: Meeting) -> None:
        """Delete the event of a meeting that is gone."""
        if self.native_events is not None and meeting.native_event_id is not None:
            async with self._mirror_lock:
                await self.native_events.remove(meeting.guild_id, meeting.native_event_id)

    async def record_native_event(
        self, meeting_id: int, guild_id: int, event_id: int | None, roll_after: Occurrence | None
    ) -> bool:
        """Store the mirrored event's id and arm one roll-forward job at the occurrence's end.

        False when the meeting was deleted meanwhile (the caller then drops the event it made).
        """
        async with self.db.transaction() as tx:
            if not await self.store.exists(tx, meeting_id):
                return False
            await self.store.update(tx, meeting_id, native_event_id=event_id)
            await self.jobs.remove_pending(tx, meeting_id=meeting_id, kinds=[EVENT_ROLL])
            earliest = None
            if roll_after is not None:
                earliest = await self.jobs.add(
                    tx,
                    [
                        NewJob(
                            kind=EVENT_ROLL,
                            guild_id=guild_id,
                            fire_at=roll_after.end,
                            meeting_id=meeting_id,
                            occurrence=roll_after.key.isoformat(),
                        )
                    ],
                )
        self.jobs.wake_for(earliest)
        return True

    async def _on_meeting_changed(
        self, meeting_id: int, guild_id: int, change: str, detail: str = "", **_: Any
    ) -> None:
        """Keep the native event in step with every change (a deletion drops it in place)."""
        if change != "deleted":
            await self.sync_native_event(meeting_id)

    async def _on_event_roll(self, jobs: list[Job]) -> None:
        """An occurrence ended: move each event on to the meeting's next occurrence."""
        if self.native_events is None:
            raise RuntimeError("no native event mirror is installed (cogs.meetings not loaded)")
        for job in jobs:
            await self.sync_native_event(job.meeting_id)
            async with self.db.transaction() as tx:
                await self.jobs.complete(tx, job)

    async def _reconcile_native_events(self) -> None:
        """Mirror meetings that lack an armed event (setting just turned on); drop when off."""
        port = self.native_events
        if port is None:
            return
        armed = {j.meeting_id for j in await self.jobs.pending(kind=EVENT_ROLL)}
        # Several processes: each mirrors (and reads) only its own shards' guilds' meetings.
        for meeting in await self.store.list_all(self.jobs.shard_filter()):
            if not port.knows_guild(meeting.guild_id):
                continue
            wanted_on = (await self.guilds.get(meeting.guild_id)).native_events
            wanted = wanted_on and meeting.id not in armed
            unwanted = not wanted_on and meeting.native_event_id is not None
            if wanted or unwanted:
                try:
                    await self.sync_native_event(meeting.id)
                except Exception:
                    log.exception("could not mirror meeting %d as an event", meeting.id)
