"""When a meeting's room is open: its policy, its windows and the derived state (pure).

A room is open from ``start - open_minutes`` to ``end + close_minutes`` of each occurrence (its
*window*), unless a facilitator opened or closed it by hand for that occurrence (an *override*).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.models.rooms import OPEN, RoomPolicy, RoomState, RoomWindow
from bot.occurrences import Occurrence, Schedule, next_occurrences, occurrences_between
from bot.services.guilds import GuildSettings
from bot.services.meetings import Meeting

_TICK = timedelta(microseconds=1)


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
