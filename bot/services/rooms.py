"""Rooms: when a meeting's room should be open, its timed jobs, its ledger and removals. No Discord.

A room's state is derived from the schedule at an instant, never remembered: it is open from
``start - open_minutes`` to ``end + close_minutes`` of each occurrence (its *window*), unless a
facilitator opened or closed it by hand for that occurrence (an *override*). The ledger
(``room_occurrences``) only records what was already done for an occurrence (opening card posted,
closing line posted, chat cleared) so that jobs re-fired after a crash post nothing twice.

Jobs: ``room_open`` at each window's start, ``room_close`` at its end, materialised for the next
occurrences and rolled forward by the reconciler; ``room_lift`` at the end of the window for which
someone was removed from the room.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.bus import ROOM_CLOSED, ROOM_OPENED, EventBus
from bot.clock import Clock, from_unix, iso, to_unix, utc_from_iso
from bot.db import Database, Transaction
from bot.errors import UserFacingError
from bot.jobs import Job, JobEngine, NewJob
from bot.occurrences import (
    Occurrence,
    Schedule,
    next_occurrences,
    occurrence_for_key,
    occurrences_between,
)
from bot.services.guilds import GuildSettings, GuildSettingsService
from bot.services.meetings import Meeting, MeetingStore
from bot.services.privacy import PrivacyService, UserData

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
_TICK = timedelta(microseconds=1)

OPEN = "open"
CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class RoomPolicy:
    """Minutes a room opens before start and closes after end, and whether chat is cleared."""

    open_minutes: int
    close_minutes: int
    clear_chat: bool


def policy_for(meeting: Meeting, settings: GuildSettings) -> RoomPolicy:
    """The meeting's own room settings, falling back to the guild defaults."""
    return RoomPolicy(
        open_minutes=(
            meeting.room_open_minutes
            if meeting.room_open_minutes is not None
            else settings.room_open_minutes
        ),
        close_minutes=(
            meeting.room_close_minutes
            if meeting.room_close_minutes is not None
            else settings.room_close_minutes
        ),
        clear_chat=(
            meeting.room_clear_chat
            if meeting.room_clear_chat is not None
            else settings.room_clear_chat
        ),
    )


@dataclass(frozen=True, slots=True)
class RoomWindow:
    """When a room is open for one occurrence: [opens_at, closes_at)."""

    occurrence: Occurrence
    opens_at: datetime
    closes_at: datetime

    @property
    def key(self) -> str:
        """The occurrence key as stored (scheduled local date, ISO)."""
        return self.occurrence.key.isoformat()

    def contains(self, instant: datetime) -> bool:
        """Whether the room is scheduled open at this instant."""
        return self.opens_at <= instant < self.closes_at


def window_for(occurrence: Occurrence, policy: RoomPolicy) -> RoomWindow:
    """The room window of one occurrence."""
    return RoomWindow(
        occurrence=occurrence,
        opens_at=occurrence.start - timedelta(minutes=policy.open_minutes),
        closes_at=occurrence.end + timedelta(minutes=policy.close_minutes),
    )


def windows_between(
    schedule: Schedule, policy: RoomPolicy, start: datetime, end: datetime
) -> list[RoomWindow]:
    """Windows overlapping [start, end), earliest first."""
    before = timedelta(minutes=policy.open_minutes)
    after = timedelta(minutes=policy.close_minutes)
    occs = occurrences_between(schedule, start - after, end + before)
    out = [window_for(o, policy) for o in occs]
    out = [w for w in out if w.opens_at < end and w.closes_at > start]
    out.sort(key=lambda w: (w.opens_at, w.key))
    return out


def window_at(schedule: Schedule, policy: RoomPolicy, now: datetime) -> RoomWindow | None:
    """The window containing `now` (the earliest if windows overlap), or None."""
    hits = windows_between(schedule, policy, now, now + _TICK)
    return hits[0] if hits else None


def upcoming_windows(
    schedule: Schedule, policy: RoomPolicy, now: datetime, n: int
) -> list[RoomWindow]:
    """The next `n` windows that have not closed at `now` (the current one first)."""
    if n <= 0:
        return []
    current = windows_between(schedule, policy, now, now + _TICK)
    later = next_occurrences(schedule, now + timedelta(minutes=policy.open_minutes), n)
    seen = {w.key for w in current}
    out = list(current)
    for occ in later:
        w = window_for(occ, policy)
        if w.key not in seen:
            seen.add(w.key)
            out.append(w)
    out.sort(key=lambda w: (w.opens_at, w.key))
    return out[:n]


@dataclass(frozen=True, slots=True)
class RoomState:
    """What a room should be at an instant, and which occurrence that is about."""

    open: bool
    window: RoomWindow | None  # the window containing the instant, else the next one
    in_window: bool
    override: str | None

    @property
    def key(self) -> str | None:
        """The occurrence key this state is about."""
        return self.window.key if self.window else None


def derive_state(
    schedule: Schedule, policy: RoomPolicy, now: datetime, overrides: Mapping[str, str]
) -> RoomState:
    """Open inside a window unless closed by hand; closed outside unless opened by hand."""
    current = window_at(schedule, policy, now)
    if current is not None:
        window: RoomWindow | None = current
    else:
        nxt = upcoming_windows(schedule, policy, now, 1)
        window = nxt[0] if nxt else None
    override = overrides.get(window.key) if window is not None else None
    is_open = (override == OPEN) if override is not None else current is not None
    return RoomState(open=is_open, window=window, in_window=current is not None, override=override)


# -- stored data -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomLink:
    """The channels of a meeting's room."""

    meeting_id: int
    guild_id: int
    category_id: int
    text_channel_id: int
    voice_channel_id: int
    stage: bool

    @property
    def channel_ids(self) -> tuple[int, int, int]:
        """Category, text and voice channel ids."""
        return (self.category_id, self.text_channel_id, self.voice_channel_id)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What was already done for one occurrence of a room."""

    meeting_id: int
    occurrence: str
    override: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    cleared_at: datetime | None


@dataclass(frozen=True, slots=True)
class Removal:
    """A person kept out of a room until `until`."""

    id: int
    meeting_id: int
    guild_id: int
    user_id: int
    occurrence: str
    until: datetime


_LINK_COLUMNS = "meeting_id, guild_id, category_id, text_channel_id, voice_channel_id, stage"
_REMOVAL_COLUMNS = "id, meeting_id, guild_id, user_id, occurrence, until"


def _link(row: Any) -> RoomLink:
    return RoomLink(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _removal(row: Any) -> Removal:
    return Removal(row[0], row[1], row[2], row[3], row[4], from_unix(row[5]))


def _maybe_time(value: str | None) -> datetime | None:
    return utc_from_iso(value) if value else None


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
        privacy.register(
            UserData(
                "room_removals",
                "user_id",
                purpose=(
                    "If a moderator removed you from a meeting room: that removal, until that "
                    "meeting's room closes; forget-me does not lift it."
                ),
                kept=True,
            )
        )

    # -- links -----------------------------------------------------------------------------

    async def link(self, meeting_id: int) -> RoomLink | None:
        """The room of a meeting, if it has one."""
        row = await self.db.fetchone(
            f"SELECT {_LINK_COLUMNS} FROM room_links WHERE meeting_id = ?",  # noqa: S608
            (meeting_id,),
        )
        return _link(row) if row else None

    async def link_for_channels(self, guild_id: int, channel_ids: Iterable[int]) -> RoomLink | None:
        """The room one of these channels (or categories) belongs to, in this guild."""
        ids = [i for i in channel_ids if i]
        if not ids:
            return None
        marks = ", ".join("?" for _ in ids)
        row = await self.db.fetchone(
            f"SELECT {_LINK_COLUMNS} FROM room_links WHERE guild_id = ? AND "  # noqa: S608
            f"(category_id IN ({marks}) OR text_channel_id IN ({marks}) "
            f"OR voice_channel_id IN ({marks})) ORDER BY meeting_id LIMIT 1",
            (guild_id, *ids, *ids, *ids),
        )
        return _link(row) if row else None

    async def links(self) -> list[RoomLink]:
        """Every room link (for reconciling at start)."""
        rows = await self.db.fetchall(
            f"SELECT {_LINK_COLUMNS} FROM room_links ORDER BY meeting_id"  # noqa: S608
        )
        return [_link(r) for r in rows]

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
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO room_links (meeting_id, guild_id, category_id, text_channel_id, "
                "voice_channel_id, stage, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (meeting_id) DO UPDATE SET category_id = excluded.category_id, "
                "text_channel_id = excluded.text_channel_id, "
                "voice_channel_id = excluded.voice_channel_id, stage = excluded.stage",
                (
                    meeting.id,
                    meeting.guild_id,
                    category_id,
                    text_channel_id,
                    voice_channel_id,
                    int(stage),
                    iso(self.clock.now()),
                ),
            )
            await self.meetings.update(
                tx,
                meeting.id,
                room_category_id=category_id,
                room_text_channel_id=text_channel_id,
                room_voice_channel_id=voice_channel_id,
            )
        await self.schedule(meeting.id)
        return RoomLink(
            meeting.id, meeting.guild_id, category_id, text_channel_id, voice_channel_id, stage
        )

    async def forget_link(self, meeting_id: int) -> None:
        """Unlink a meeting's room (its channels are gone or kept) and drop its pending jobs."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM room_links WHERE meeting_id = ?", (meeting_id,))
            exists = await tx.fetchall("SELECT 1 FROM meetings WHERE id = ?", (meeting_id,))
            if exists:
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
            await tx.execute("DELETE FROM room_removals WHERE meeting_id = ?", (meeting_id,))

    # -- state -----------------------------------------------------------------------------

    async def policy(self, meeting: Meeting) -> RoomPolicy:
        """The room policy of a meeting (its overrides, else the guild's defaults)."""
        return policy_for(meeting, await self.guilds.get(meeting.guild_id))

    async def overrides(self, meeting_id: int) -> dict[str, str]:
        """Manual open/close per occurrence key."""
        rows = await self.db.fetchall(
            "SELECT occurrence, override FROM room_occurrences "
            "WHERE meeting_id = ? AND override IS NOT NULL",
            (meeting_id,),
        )
        return {r[0]: r[1] for r in rows}

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
            await self._ensure_ledger(tx, meeting.id, meeting.guild_id, key)
            await tx.execute(
                "UPDATE room_occurrences SET override = ? WHERE meeting_id = ? AND occurrence = ?",
                (value, meeting.id, key),
            )

    # -- ledger ----------------------------------------------------------------------------

    async def _ensure_ledger(
        self, tx: Transaction, meeting_id: int, guild_id: int, key: str
    ) -> None:
        await tx.execute(
            "INSERT INTO room_occurrences (meeting_id, guild_id, occurrence) VALUES (?, ?, ?) "
            "ON CONFLICT (meeting_id, occurrence) DO NOTHING",
            (meeting_id, guild_id, key),
        )

    async def ledger(self, meeting_id: int, key: str) -> LedgerEntry | None:
        """What was done for one occurrence of a room."""
        row = await self.db.fetchone(
            "SELECT meeting_id, occurrence, override, opened_at, closed_at, cleared_at "
            "FROM room_occurrences WHERE meeting_id = ? AND occurrence = ?",
            (meeting_id, key),
        )
        if row is None:
            return None
        return LedgerEntry(
            row[0], row[1], row[2], _maybe_time(row[3]), _maybe_time(row[4]), _maybe_time(row[5])
        )

    async def record_opened(self, meeting: Meeting, key: str) -> None:
        """The room opened for this occurrence (card posted): remember it and tell others."""
        now = iso(self.clock.now())
        async with self.db.transaction() as tx:
            await self._ensure_ledger(tx, meeting.id, meeting.guild_id, key)
            await tx.execute(
                "UPDATE room_occurrences SET opened_at = COALESCE(opened_at, ?), "
                "closed_at = NULL, cleared_at = NULL WHERE meeting_id = ? AND occurrence = ?",
                (now, meeting.id, key),
            )
        await self.schedule(meeting.id)
        await self.events.emit(
            ROOM_OPENED, meeting_id=meeting.id, guild_id=meeting.guild_id, occurrence=key
        )

    async def record_closed(
        self, meeting: Meeting, key: str, *, cleared: bool, announce: bool = True
    ) -> None:
        """The room closed for this occurrence: remember it and (if it had opened) tell others."""
        now = iso(self.clock.now())
        async with self.db.transaction() as tx:
            await self._ensure_ledger(tx, meeting.id, meeting.guild_id, key)
            await tx.execute(
                "UPDATE room_occurrences SET closed_at = ?, "
                "cleared_at = CASE WHEN ? THEN ? ELSE cleared_at END "
                "WHERE meeting_id = ? AND occurrence = ?",
                (now, int(cleared), now, meeting.id, key),
            )
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
            ledger = {
                r[0]: (r[1], r[2], r[3])
                for r in await self.db.fetchall(
                    "SELECT occurrence, opened_at, closed_at, override FROM room_occurrences "
                    "WHERE meeting_id = ?",
                    (meeting_id,),
                )
            }
            for w in windows:
                opened, closed, override = ledger.get(w.key, (None, None, None))
                if opened is None and override != CLOSED:
                    wanted.append(NewJob(JOB_OPEN, meeting.guild_id, w.opens_at, meeting.id, w.key))
                if closed is None:
                    wanted.append(
                        NewJob(JOB_CLOSE, meeting.guild_id, w.closes_at, meeting.id, w.key)
                    )
            # Opened earlier but never closed (cancelled, moved, or the bot was down): close now.
            for key, (opened, closed, _) in ledger.items():
                if opened is not None and closed is None and key not in keys:
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
        """Materialise every room's jobs and lift jobs; prune old ledger rows (reconciler)."""
        for link in await self.links():
            try:
                await self.schedule(link.meeting_id)
            except Exception:
                log.exception("could not schedule a room's jobs")
        await self.schedule_lifts()
        cutoff = (self.clock.now() - LEDGER_KEEP).date().isoformat()
        await self.db.execute(
            "DELETE FROM room_occurrences WHERE occurrence < ? AND "
            "(closed_at IS NOT NULL OR opened_at IS NULL)",
            (cutoff,),
        )

    async def finish(self, job: Job) -> None:
        """Mark a room job done."""
        async with self.db.transaction() as tx:
            await self.jobs.complete(tx, job)

    # -- removals --------------------------------------------------------------------------

    async def add_removal(self, meeting: Meeting, user_id: int, window: RoomWindow) -> Removal:
        """Keep a person out of the room until this window closes (stored, lifted by a job)."""
        until = window.closes_at
        if until <= self.clock.now():
            raise UserFacingError("That occurrence is already over; nothing to remove them from.")
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO room_removals (meeting_id, guild_id, user_id, occurrence, until, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (meeting_id, user_id, occurrence) DO UPDATE SET until = excluded.until",
                (
                    meeting.id,
                    meeting.guild_id,
                    user_id,
                    window.key,
                    to_unix(until),
                    iso(self.clock.now()),
                ),
            )
            row = await tx.fetchall(
                f"SELECT {_REMOVAL_COLUMNS} FROM room_removals "  # noqa: S608
                "WHERE meeting_id = ? AND user_id = ? AND occurrence = ?",
                (meeting.id, user_id, window.key),
            )
            earliest = await self.jobs.add(
                tx, [NewJob(JOB_LIFT, meeting.guild_id, until, meeting.id, window.key)]
            )
        self.jobs.wake_for(earliest)
        return _removal(row[0])

    async def removals(self, meeting_id: int) -> list[Removal]:
        """Every stored removal of a meeting's room."""
        rows = await self.db.fetchall(
            f"SELECT {_REMOVAL_COLUMNS} FROM room_removals WHERE meeting_id = ? "  # noqa: S608
            "ORDER BY until, id",
            (meeting_id,),
        )
        return [_removal(r) for r in rows]

    async def delete_removals(self, ids: Iterable[int]) -> None:
        """Forget lifted removals."""
        id_list = list(ids)
        if not id_list:
            return
        async with self.db.transaction() as tx:
            await tx.executemany("DELETE FROM room_removals WHERE id = ?", [(i,) for i in id_list])

    async def schedule_lifts(self) -> None:
        """Make sure every stored removal has a job that lifts it."""
        rows = await self.db.fetchall(
            "SELECT meeting_id, guild_id, occurrence, MIN(until) FROM room_removals "
            "GROUP BY meeting_id, guild_id, occurrence"
        )
        if not rows:
            return
        async with self.db.transaction() as tx:
            earliest = await self.jobs.add(
                tx, [NewJob(JOB_LIFT, r[1], from_unix(r[3]), r[0], r[2]) for r in rows]
            )
        self.jobs.wake_for(earliest)


def validate_slowmode(seconds: int) -> int:
    """Slowmode seconds within Discord's range, or a friendly error."""
    if not 0 <= seconds <= SLOWMODE_MAX:
        raise UserFacingError(
            f"Slowmode must be between 0 (off) and {SLOWMODE_MAX} seconds (6 hours)."
        )
    return seconds
