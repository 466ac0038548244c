"""Meetings as data: the stored meeting, its kind and access, edits and list entries. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from enum import StrEnum

from bot.i18n import N_
from bot.occurrences import Occurrence as Occurrence
from bot.occurrences import OccurrenceException as OccurrenceException
from bot.occurrences import Repeat as Repeat
from bot.occurrences import Schedule as Schedule


class Kind(StrEnum):
    """What a meeting is for."""

    NA = "na"
    FAMILY = "family"
    OTHER = "other"


class Access(StrEnum):
    """Who may attend."""

    OPEN = "open"
    CLOSED = "closed"


# Format key -> (English label, Meeting Guide type code or None where the spec has none).
# Labels are catalogue messages: show them with ``_(label)`` (the schedule page holds their Spanish).
FORMATS: dict[str, tuple[str, str | None]] = {
    "speaker": (N_("Speaker"), "SP"),
    "discussion": (N_("Discussion"), "D"),
    "step-study": (N_("Step study"), "ST"),
    "literature-study": (N_("Literature study"), "LIT"),
    "newcomer": (N_("Newcomer"), "BE"),
    "candlelight": (N_("Candlelight"), "CAN"),
    "meditation": (N_("Meditation"), "MED"),
    "qa": (N_("Q&A"), None),
    "other": (N_("Other"), None),
}


@dataclass(frozen=True, slots=True)
class Meeting:
    """One meeting as stored: local wall time and IANA zone."""

    id: int
    guild_id: int
    title: str
    kind: Kind
    access: Access
    formats: tuple[str, ...]
    timezone: str
    first_date: date
    start_time: time
    duration_minutes: int
    repeat: Repeat
    description: str = ""
    opening_text: str = ""
    reminder_offsets: tuple[int, ...] | None = None
    room_open_minutes: int | None = None
    room_close_minutes: int | None = None
    room_clear_chat: bool | None = None
    room_category_id: int | None = None
    room_text_channel_id: int | None = None
    room_voice_channel_id: int | None = None
    paused_until: date | None = None
    native_event_id: int | None = None
    language: str = "en"  # what its reminders, room cards and notices are posted in
    exceptions: dict[date, OccurrenceException] = field(default_factory=dict)
    facilitator_ids: frozenset[int] = frozenset()

    @property
    def schedule(self) -> Schedule:
        """The recurrence as the occurrence engine takes it."""
        return Schedule(
            timezone=self.timezone,
            first_date=self.first_date,
            start_time=self.start_time,
            repeat=self.repeat,
            duration_minutes=self.duration_minutes,
            paused_until=self.paused_until,
            exceptions=self.exceptions,
        )

    @property
    def weekday(self) -> int:
        """ISO weekday (Monday = 1) of the first occurrence."""
        return self.first_date.isoweekday()

    @property
    def home_time(self) -> str:
        """The local start and IANA zone, e.g. '19:00 America/New_York' (in words: home_time_words)."""
        return f"{self.start_time.strftime('%H:%M')} {self.timezone}"

    @property
    def format_labels(self) -> list[str]:
        """English labels of the formats (catalogue messages: show each as ``_(label)``)."""
        return [FORMATS[f][0] for f in self.formats if f in FORMATS]


@dataclass(frozen=True, slots=True)
class MeetingEdit:
    """Requested changes to a meeting, as typed (None = leave as it is)."""

    title: str | None = None
    start: str | None = None
    timezone: str | None = None
    repeat: str | None = None
    duration: int | None = None
    kind: str | None = None
    access: str | None = None
    formats: str | None = None
    description: str | None = None
    opening_text: str | None = None
    reminder_offsets: str | None = None  # e.g. "24h,15m"; "default" = the guild's
    room_open_minutes: int | None = None
    room_close_minutes: int | None = None
    clear_chat: bool | None = None
    add_facilitator: int | None = None
    add_facilitator_eligible: bool = False  # the cog's check: holds the facilitator role
    remove_facilitator: int | None = None
    language: str | None = None  # "en" or "es"

    def is_empty(self) -> bool:
        """Whether nothing was asked for."""
        return all(
            getattr(self, f) is None
            for f in (
                "title",
                "start",
                "timezone",
                "repeat",
                "duration",
                "kind",
                "access",
                "formats",
                "description",
                "opening_text",
                "reminder_offsets",
                "room_open_minutes",
                "room_close_minutes",
                "clear_chat",
                "add_facilitator",
                "remove_facilitator",
                "language",
            )
        )


# Fields whose change moves occurrences (announced as a schedule change).
TIMING_FIELDS = frozenset({"first_date", "start_time", "timezone", "repeat", "duration_minutes"})


@dataclass(frozen=True, slots=True)
class EditResult:
    """What an edit changed."""

    meeting: Meeting
    changed: tuple[str, ...]  # field names (FIELD_LABELS keys)

    @property
    def timing_changed(self) -> bool:
        """Whether the occurrences moved."""
        return bool(TIMING_FIELDS & set(self.changed))


@dataclass(frozen=True, slots=True)
class Upcoming:
    """One occurrence of one meeting, for lists."""

    meeting: Meeting
    occurrence: Occurrence


@dataclass(frozen=True, slots=True)
class Later:
    """A meeting with no occurrence in a list's window: its next one (None if none is left)."""

    meeting: Meeting
    next: Occurrence | None
    paused_until: date | None  # set while a pause is what keeps it out of the window


@dataclass(frozen=True, slots=True)
class Listing:
    """Every meeting of a guild: occurrences in the window, then the others by next date."""

    upcoming: list[Upcoming]
    later: list[Later]


@dataclass(frozen=True, slots=True)
class NativeEventPlan:
    """What a meeting's native scheduled event should show: its next occurrence, or none."""

    meeting: Meeting
    occurrence: Occurrence | None  # None: the meeting should have no event (setting off, no date)
