"""Rooms as data: a room's policy, its windows and derived state, its channels, ledger and removals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.occurrences import Occurrence

OPEN = "open"
CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class RoomPolicy:
    """Minutes a room opens before start and closes after end, and whether chat is cleared."""

    open_minutes: int
    close_minutes: int
    clear_chat: bool


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


@dataclass(frozen=True, slots=True)
class LiftDue:
    """When the earliest removal of one occurrence of a room ends (its lift job's time)."""

    meeting_id: int
    guild_id: int
    occurrence: str
    until: datetime
