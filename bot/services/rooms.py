"""Rooms: when a meeting's room should be open, its lifecycle, its ledger and removals. No Discord.

A room's state is derived from the schedule at an instant, never remembered (see room_windows).
The ledger (``room_occurrences``) only records what was already done for an occurrence (opening
card posted, closing line posted, chat cleared) so that jobs re-fired after a crash post nothing
twice.

Jobs: ``room_open`` at each window's start, ``room_close`` at its end, materialised for the next
occurrences and rolled forward by the reconciler; ``room_lift`` at the end of the window for which
someone was removed from the room. This service runs them; what they do in Discord goes through
the ``RoomEffects`` port, which the room cog installs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from bot.bus import MEETING_CHANGED, ROOM_CLOSED, ROOM_OPENED, EventBus
from bot.clock import Clock
from bot.db import Database
from bot.db.repositories import rooms as repo
from bot.errors import UserFacingError
from bot.i18n import N_, Msg, Text, use_locale
from bot.jobs import Job, JobEngine, NewJob
from bot.models.rooms import CLOSED as CLOSED
from bot.models.rooms import OPEN as OPEN
from bot.models.rooms import LedgerEntry as LedgerEntry
from bot.models.rooms import Removal as Removal
from bot.models.rooms import RoomLink as RoomLink
from bot.models.rooms import RoomPolicy as RoomPolicy
from bot.models.rooms import RoomState as RoomState
from bot.models.rooms import RoomWindow as RoomWindow
from bot.occurrences import occurrence_for_key
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import Meeting, MeetingStore
from bot.services.privacy import PrivacyService, UserData
from bot.services.room_windows import derive_state as derive_state
from bot.services.room_windows import policy_for as policy_for
from bot.services.room_windows import upcoming_windows as upcoming_windows
from bot.services.room_windows import window_at as window_at
from bot.services.room_windows import window_for as window_for
from bot.services.room_windows import windows_between as windows_between

log = logging.getLogger(__name__)

JOB_OPEN = "room_open"
JOB_CLOSE = "room_close"
JOB_LIFT = "room_lift"
LIFECYCLE_KINDS = (JOB_OPEN, JOB_CLOSE)

# How many upcoming windows carry materialised open/close jobs at any time.
MATERIALISE_AHEAD = 2
# Ledger rows older than this are pruned (they only guard against double posts).
LEDGER_KEEP = timedelta(days=45)
MAX_ROOM_MINUTES = 24 * 60
SLOWMODE_MAX = 21600

MISSING_PERMISSION = Msg(
    "Discord refused: I'm missing a permission for that in this room (error 50013). Ask a "
    "moderator to give my role Manage Channels and Manage Roles, and check the room's channels "
    "don't deny them to me, then try again."
)


class RoomEffects(Protocol):
    """What the Discord glue does to a room's channels; the service decides when."""

    async def apply_state(
        self,
        meeting: Meeting,
        link: RoomLink,
        is_open: bool,
        *,
        unlock: bool = False,
        force: bool = False,
    ) -> bool:
        """Set the audience's send/speak overwrites for a state; True if anything changed."""
        ...

    async def post_opening(
        self, meeting: Meeting, link: RoomLink, window: RoomWindow, nonce_key: str | None
    ) -> None:
        """Post the opening card in the room's text channel."""
        ...

    async def post_reopened(self, link: RoomLink) -> None:
        """Say the room is open again (it was closed earlier in the same occurrence)."""
        ...

    async def post_closing(
        self, link: RoomLink, next_start: datetime | None, cleared: bool, nonce_key: str | None
    ) -> None:
        """Post the closing line, naming the next meeting when there is one."""
        ...

    async def clear_messages(self, link: RoomLink, after: datetime, before: datetime) -> bool:
        """Delete the text channel's messages between two instants; False if it has none."""
        ...

    async def lift_removals(self, link: RoomLink, keep_user_ids: Iterable[int]) -> int:
        """Remove Haven's removal overwrites, except for `keep_user_ids`; how many people."""
        ...

    async def rebuild_overwrites(self, meeting: Meeting, link: RoomLink, is_open: bool) -> None:
        """Rewrite every overwrite from the meeting's access, keeping removals."""
        ...

    async def rename(self, link: RoomLink, title: str) -> None:
        """Name the room's category after the meeting."""
        ...

    async def delete_channels(self, link: RoomLink) -> None:
        """Delete the room's channels (those already gone are skipped)."""
        ...

    async def modlog(
        self,
        guild_id: int,
        title: Text,
        actor_id: int | None,
        meeting: Meeting | None,
        link: RoomLink | None,
        **fields: Text | datetime,
    ) -> None:
        """One mod-log entry for a room action (None actor: Haven, on schedule)."""
        ...

    def refused(self, exc: Exception) -> bool:
        """Whether an error is Discord refusing for a missing permission."""
        ...


class RoomService:
    """Links, derived state, lifecycle jobs, the per-occurrence ledger and removals of rooms."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        jobs: JobEngine,
        meetings: MeetingStore,
        guilds: GuildSettingsService,
        events: EventBus,
        privacy: PrivacyService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.jobs = jobs
        self.meetings = meetings
        self.guilds = guilds
        self.events = events
        self.effects: RoomEffects | None = None
        self._synced_at_start = False
        privacy.register(
            UserData(
                "room_removals",
                "user_id",
                purpose=N_(
                    "If a moderator removed you from a meeting room: that removal, until that "
                    "meeting's room closes; forget-me does not lift it."
                ),
                kept=True,
            )
        )
        jobs.register(JOB_OPEN, self._open_jobs)
        jobs.register(JOB_CLOSE, self._close_jobs)
        jobs.register(JOB_LIFT, self._lift_jobs)
        jobs.add_reconciler(self.reconcile)

    def install(self, effects: RoomEffects) -> None:
        """Plug the Discord glue in and start following meeting changes."""
        self.effects = effects
        self.events.subscribe(MEETING_CHANGED, self.on_meeting_changed)

    def uninstall(self) -> None:
        """Unplug the Discord glue; rooms are left as they are."""
        self.events.unsubscribe(MEETING_CHANGED, self.on_meeting_changed)
        self.effects = None

    def _require_effects(self) -> RoomEffects:
        if self.effects is None:
            raise RuntimeError("no room effects are installed (cogs.rooms not loaded)")
        return self.effects

    # -- links -----------------------------------------------------------------------------

    async def link(self, meeting_id: int) -> RoomLink | None:
        """The room of a meeting, if it has one."""
        return await repo.link(self.db, meeting_id)

    async def link_for_channels(self, guild_id: int, channel_ids: Iterable[int]) -> RoomLink | None:
        """The room one of these channels (or categories) belongs to, in this guild."""
        ids = [i for i in channel_ids if i]
        if not ids:
            return None
        return await repo.link_for_channels(self.db, guild_id, ids)

    async def links(self) -> list[RoomLink]:
        """Every room link (for reconciling at start)."""
        return await repo.links(self.db)

    async def save_link(
        self,
        meeting: Meeting,
        *,
        category_id: int,
        text_channel_id: int,
        voice_channel_id: int,
        stage: bool,
    ) -> RoomLink:
        """Link created channels to the meeting and schedule the room's jobs."""
        link = RoomLink(
            meeting.id, meeting.guild_id, category_id, text_channel_id, voice_channel_id, stage
        )
        async with self.db.transaction() as tx:
            await repo.save_link(tx, link, self.clock.now())
            await self.meetings.update(
                tx,
                meeting.id,
                room_category_id=category_id,
                room_text_channel_id=text_channel_id,
                room_voice_channel_id=voice_channel_id,
            )
        await self.schedule(meeting.id)
        return link

    async def forget_link(self, meeting_id: int) -> None:
        """Unlink a meeting's room (its channels are gone or kept) and drop its pending jobs."""
        async with self.db.transaction() as tx:
            await repo.delete_link(tx, meeting_id)
            if await self.meetings.exists(tx, meeting_id):
                await self.meetings.update(
                    tx,
                    meeting_id,
                    room_category_id=None,
                    room_text_channel_id=None,
                    room_voice_channel_id=None,
                )
            await self.jobs.remove_pending(
                tx, meeting_id=meeting_id, kinds=[*LIFECYCLE_KINDS, JOB_LIFT]
            )

    async def delete_room(self, link: RoomLink) -> None:
        """Delete a room's channels (voice, text, then category) and unlink them."""
        await self._require_effects().delete_channels(link)
        await self.forget_link(link.meeting_id)

    # -- state -----------------------------------------------------------------------------

    async def policy(self, meeting: Meeting) -> RoomPolicy:
        """The room policy of a meeting (its overrides, else the guild's defaults)."""
        return policy_for(meeting, await self.guilds.get(meeting.guild_id))

    async def overrides(self, meeting_id: int) -> dict[str, str]:
        """Manual open/close per occurrence key."""
        return await repo.overrides(self.db, meeting_id)

    async def state(self, meeting: Meeting, now: datetime | None = None) -> RoomState:
        """What the meeting's room should be now (or at `now`)."""
        at = now or self.clock.now()
        return derive_state(
            meeting.schedule, await self.policy(meeting), at, await self.overrides(meeting.id)
        )

    async def window(self, meeting: Meeting, key: str) -> RoomWindow | None:
        """The window of one occurrence by key (None if cancelled or not in the schedule)."""
        try:
            occ = occurrence_for_key(meeting.schedule, date.fromisoformat(key))
        except ValueError:
            return None
        return window_for(occ, await self.policy(meeting)) if occ else None

    async def set_override(self, meeting: Meeting, key: str, value: str | None) -> None:
        """Record a manual open or close for one occurrence (None clears it)."""
        async with self.db.transaction() as tx:
            await repo.ensure_ledger(tx, meeting.id, meeting.guild_id, key)
            await repo.set_override(tx, meeting.id, key, value)

    # -- ledger ----------------------------------------------------------------------------

    async def ledger(self, meeting_id: int, key: str) -> LedgerEntry | None:
        """What was done for one occurrence of a room."""
        return await repo.ledger(self.db, meeting_id, key)

    async def record_opened(self, meeting: Meeting, key: str) -> None:
        """The room opened for this occurrence (card posted): remember it and tell others."""
        async with self.db.transaction() as tx:
            await repo.ensure_ledger(tx, meeting.id, meeting.guild_id, key)
            await repo.mark_opened(tx, meeting.id, key, self.clock.now())
        await self.schedule(meeting.id)
        await self.announce_open(meeting, key)

    async def record_closed(
        self, meeting: Meeting, key: str, *, cleared: bool, announce: bool = True
    ) -> None:
        """The room closed for this occurrence: remember it and (if it had opened) tell others."""
        async with self.db.transaction() as tx:
            await repo.ensure_ledger(tx, meeting.id, meeting.guild_id, key)
            await repo.mark_closed(tx, meeting.id, key, self.clock.now(), cleared=cleared)
        if not announce:
            return
        await self.events.emit(
            ROOM_CLOSED, meeting_id=meeting.id, guild_id=meeting.guild_id, occurrence=key
        )

    async def announce_open(self, meeting: Meeting, key: str) -> None:
        """Tell other features a room is open (e.g. found open at start) without posting."""
        await self.events.emit(
            ROOM_OPENED, meeting_id=meeting.id, guild_id=meeting.guild_id, occurrence=key
        )

    # -- opening and closing -----------------------------------------------------------------

    async def open_room(
        self,
        meeting: Meeting,
        link: RoomLink,
        window: RoomWindow,
        *,
        actor_id: int | None,
        nonce_key: str | None = None,
    ) -> None:
        """Allow sending and speaking, post the opening card once per occurrence, tell others."""
        effects = self._require_effects()
        await effects.apply_state(meeting, link, True, unlock=True, force=True)
        entry = await self.ledger(meeting.id, window.key)
        already_open = entry is not None and entry.opened_at is not None and entry.closed_at is None
        # A scheduled opening of a room that is already open (opened by hand earlier, or the job
        # replayed after a crash) only re-applies the permissions: nothing to announce twice.
        replay = actor_id is None and already_open
        if not replay:
            with use_locale(meeting.language):  # the room's posts speak the meeting's language
                if entry is None or entry.opened_at is None:
                    await effects.post_opening(meeting, link, window, nonce_key)
                else:
                    await effects.post_reopened(link)
        await self.record_opened(meeting, window.key)
        if replay:
            return
        await effects.modlog(
            link.guild_id,
            Msg("Room opened"),
            actor_id,
            meeting,
            link,
            occurrence=window.occurrence.start,
        )

    async def close_room(
        self,
        meeting: Meeting,
        link: RoomLink,
        key: str,
        *,
        actor_id: int | None,
        nonce_key: str | None = None,
    ) -> None:
        """Deny sending and speaking; once per occurrence: clear chat if asked, post a closing line."""
        effects = self._require_effects()
        await effects.apply_state(meeting, link, False, force=True)
        entry = await self.ledger(meeting.id, key)
        if entry is not None and entry.closed_at is not None:
            return
        was_open = entry is not None and entry.opened_at is not None
        policy = await self.policy(meeting)
        cleared = False
        if was_open and policy.clear_chat:
            window = await self.window(meeting, key)
            starts = [
                t
                for t in (entry.opened_at if entry else None, window.opens_at if window else None)
                if t
            ]
            cleared = await effects.clear_messages(
                link, min(starts) - timedelta(seconds=1), self.clock.now()
            )
        if was_open:
            state = await self.state(meeting)
            upcoming = state.window if not state.open else None
            next_start = upcoming.occurrence.start if upcoming is not None else None
            with use_locale(meeting.language):
                await effects.post_closing(link, next_start, cleared, nonce_key)
        await self.record_closed(meeting, key, cleared=cleared, announce=was_open)
        if was_open or actor_id is not None:
            await effects.modlog(
                link.guild_id, Msg("Room closed"), actor_id, meeting, link, occurrence=key
            )

    # -- jobs ------------------------------------------------------------------------------

    async def schedule(self, meeting_id: int) -> None:
        """(Re)materialise the open/close jobs of a meeting's room from its schedule."""
        meeting = await self.meetings.get(meeting_id)
        link = await self.link(meeting_id)
        now = self.clock.now()
        wanted: list[NewJob] = []
        pending = {
            (j.kind, j.occurrence): j.fire_at
            for kind in LIFECYCLE_KINDS
            for j in await self.jobs.pending(kind=kind, meeting_id=meeting_id)
        }
        if meeting is not None and link is not None:
            policy = await self.policy(meeting)
            windows = upcoming_windows(meeting.schedule, policy, now, MATERIALISE_AHEAD)
            keys = {w.key for w in windows}
            ledger = {e.occurrence: e for e in await repo.ledger_entries(self.db, meeting_id)}
            for w in windows:
                entry = ledger.get(w.key)
                opened, closed = (entry.opened_at, entry.closed_at) if entry else (None, None)
                if opened is None and (entry is None or entry.override != CLOSED):
                    wanted.append(NewJob(JOB_OPEN, meeting.guild_id, w.opens_at, meeting.id, w.key))
                if closed is None:
                    wanted.append(
                        NewJob(JOB_CLOSE, meeting.guild_id, w.closes_at, meeting.id, w.key)
                    )
            # Opened earlier but never closed (cancelled, moved, or the bot was down): close now.
            for key, entry in ledger.items():
                if entry.opened_at is not None and entry.closed_at is None and key not in keys:
                    due = pending.get((JOB_CLOSE, key))
                    at = due if due is not None and due <= now else now
                    wanted.append(NewJob(JOB_CLOSE, meeting.guild_id, at, meeting.id, key))
        if {(j.kind, j.occurrence, j.fire_at) for j in wanted} == {
            (kind, occ, at) for (kind, occ), at in pending.items()
        }:
            return  # already in place: no write (the reconciler calls this every few minutes)
        async with self.db.transaction() as tx:
            await self.jobs.remove_pending(tx, meeting_id=meeting_id, kinds=LIFECYCLE_KINDS)
            earliest = await self.jobs.add(tx, wanted)
        self.jobs.wake_for(earliest)

    async def schedule_all(self) -> None:
        """Materialise this process's rooms' jobs and lift jobs; prune old ledger rows (reconciler)."""
        for link in await self.links():
            if not self.jobs.owns(link.guild_id):
                continue  # another process runs that guild's shard and writes its jobs
            try:
                await self.schedule(link.meeting_id)
            except Exception:
                log.exception("could not schedule a room's jobs")
        await self.schedule_lifts()
        cutoff = (self.clock.now() - LEDGER_KEEP).date().isoformat()
        async with self.db.transaction() as tx:
            await repo.prune_ledger(tx, cutoff)

    async def finish(self, job: Job) -> None:
        """Mark a room job done."""
        async with self.db.transaction() as tx:
            await self.jobs.complete(tx, job)

    async def reconcile(self) -> None:
        """Materialise room jobs; at start, also set each room to its derived state."""
        effects = self.effects
        if effects is None:
            return  # the room cog is not loaded: nothing runs rooms
        await self.schedule_all()
        if self._synced_at_start:
            return
        self._synced_at_start = True
        for link in await self.links():
            if not self.jobs.owns(link.guild_id):
                continue  # another process runs that guild's shard (and its gateway cache)
            try:
                meeting = await self.meetings.get(link.meeting_id)
                if meeting is None:
                    await self.forget_link(link.meeting_id)
                    continue
                state = await self.state(meeting)
                await effects.apply_state(meeting, link, state.open)
                if state.open and state.key is not None:
                    entry = await self.ledger(meeting.id, state.key)
                    if entry is not None and entry.opened_at is not None:
                        await self.announce_open(meeting, state.key)
            except Exception as exc:
                log.warning("could not sync a room at start (%s)", type(exc).__name__)

    async def _run_jobs(self, jobs: list[Job], action: Callable[[Job], Awaitable[None]]) -> None:
        for job in jobs:
            try:
                await action(job)
            except Exception as exc:
                status = getattr(exc, "status", None)
                log.warning(
                    "room job %s failed (%s, HTTP %s)", job.kind, type(exc).__name__, status
                )
                if self.effects is not None and self.effects.refused(exc) and job.attempts == 0:
                    await self.effects.modlog(
                        job.guild_id,
                        Msg("Room action failed"),
                        None,
                        await self.meetings.get(job.meeting_id),
                        await self.link(job.meeting_id),
                        action=job.kind.replace("room_", ""),
                        problem=MISSING_PERMISSION,
                    )
                await self.jobs.retry_or_fail(
                    job, type(exc).__name__, gave_up=f"{type(exc).__name__} {status or ''}"
                )
                continue
            await self.finish(job)

    async def _job_room(self, job: Job) -> tuple[Meeting, RoomLink] | None:
        meeting = await self.meetings.get(job.meeting_id)
        link = await self.link(job.meeting_id)
        if meeting is None or link is None:
            return None
        return meeting, link

    async def _open_jobs(self, jobs: list[Job]) -> None:
        await self._run_jobs(jobs, self._open_job)

    async def _open_job(self, job: Job) -> None:
        found = await self._job_room(job)
        if found is None:
            return
        meeting, link = found
        state = await self.state(meeting)
        # Re-derive: the occurrence may be over, cancelled, moved or closed by hand.
        if not state.open or state.key != job.occurrence or state.window is None:
            return
        await self.open_room(meeting, link, state.window, actor_id=None, nonce_key=job.key)

    async def _close_jobs(self, jobs: list[Job]) -> None:
        await self._run_jobs(jobs, self._close_job)

    async def _close_job(self, job: Job) -> None:
        found = await self._job_room(job)
        if found is None:
            return
        meeting, link = found
        state = await self.state(meeting)
        if state.open and state.key == job.occurrence:
            return  # moved later or opened again by hand: a new close job exists
        await self.close_room(meeting, link, job.occurrence, actor_id=None, nonce_key=job.key)
        await self.schedule(meeting.id)

    async def _lift_jobs(self, jobs: list[Job]) -> None:
        await self._run_jobs(jobs, self._lift_job)

    async def is_removed(self, meeting_id: int, user_id: int) -> bool:
        """Whether a moderator's removal keeps this person out of the room right now."""
        now = self.clock.now()
        return any(r.user_id == user_id and r.until > now for r in await self.removals(meeting_id))

    async def _lift_job(self, job: Job) -> None:
        meeting = await self.meetings.get(job.meeting_id)
        link = await self.link(job.meeting_id)
        if link is None:
            return
        effects = self._require_effects()
        now = self.clock.now()
        removals = await self.removals(job.meeting_id)
        due = [r for r in removals if r.until <= now]
        active = {r.user_id for r in removals if r.until > now}
        count = await effects.lift_removals(link, active)
        await self.delete_removals(r.id for r in due)
        if count or due:
            members = ", ".join(f"<@{r.user_id}>" for r in due) or "—"
            await effects.modlog(
                link.guild_id, Msg("Room removal lifted"), None, meeting, link, member=members
            )

    async def on_meeting_changed(
        self, meeting_id: int, guild_id: int, change: str, detail: str = "", **_: Any
    ) -> None:
        """Follow meeting changes: reschedule the room, or delete or release it with the meeting."""
        effects = self._require_effects()
        link = await self.link(meeting_id)
        if link is None:
            return
        if change == "deleted":
            if detail == "room:delete":
                # One action, one entry: the meeting's "Meeting deleted" names who and "room: deleted".
                await self.delete_room(link)
            else:
                await effects.lift_removals(link, ())
                await self.forget_link(meeting_id)
            return
        meeting = await self.meetings.get(meeting_id)
        if meeting is None:
            return
        await self.schedule(meeting_id)
        state = await self.state(meeting)
        fields = set(detail.removeprefix("fields:").split(",")) if change == "edited" else set()
        if fields & {"access", "kind"}:
            await effects.rebuild_overwrites(meeting, link, state.open)
        else:
            await effects.apply_state(meeting, link, state.open)
        if "title" in fields:
            await effects.rename(link, meeting.title)

    # -- removals --------------------------------------------------------------------------

    async def add_removal(self, meeting: Meeting, user_id: int, window: RoomWindow) -> Removal:
        """Keep a person out of the room until this window closes (stored, lifted by a job)."""
        until = window.closes_at
        now = self.clock.now()
        if until <= now:
            raise UserFacingError(
                Msg("That occurrence is already over; nothing to remove them from.")
            )
        async with self.db.transaction() as tx:
            removal = await repo.add_removal(
                tx, meeting.id, meeting.guild_id, user_id, window.key, until, now
            )
            earliest = await self.jobs.add(
                tx, [NewJob(JOB_LIFT, meeting.guild_id, until, meeting.id, window.key)]
            )
        self.jobs.wake_for(earliest)
        return removal

    async def removals(self, meeting_id: int) -> list[Removal]:
        """Every stored removal of a meeting's room."""
        return await repo.removals(self.db, meeting_id)

    async def delete_removals(self, ids: Iterable[int]) -> None:
        """Forget lifted removals."""
        id_list = list(ids)
        if not id_list:
            return
        async with self.db.transaction() as tx:
            await repo.delete_removals(tx, id_list)

    async def schedule_lifts(self) -> None:
        """Make sure every stored removal (of this process's guilds) has a job that lifts it."""
        due = [d for d in await repo.lifts_due(self.db) if self.jobs.owns(d.guild_id)]
        if not due:
            return
        async with self.db.transaction() as tx:
            earliest = await self.jobs.add(
                tx, [NewJob(JOB_LIFT, d.guild_id, d.until, d.meeting_id, d.occurrence) for d in due]
            )
        self.jobs.wake_for(earliest)


def validate_slowmode(seconds: int) -> int:
    """Slowmode seconds within Discord's range, or a friendly error."""
    if not 0 <= seconds <= SLOWMODE_MAX:
        raise UserFacingError(
            Msg(
                "Slowmode must be between 0 (off) and {limit} seconds (6 hours).",
                limit=SLOWMODE_MAX,
            )
        )
    return seconds
