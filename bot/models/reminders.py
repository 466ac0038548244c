"""Reminders as data: messages to render, send outcomes, ledger records, stored notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple

from bot.models.meetings import Meeting
from bot.occurrences import Occurrence


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


@dataclass(frozen=True, slots=True)
class Subscription:
    """A member's DM subscription to a meeting, with the meeting."""

    meeting: Meeting
    next_start: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One target's entry in the delivery ledger: delivered, failed or skipped, and why."""

    target: int
    status: str
    reason: str = ""
    late: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """A stored change notice waiting to be sent (to a member, or to the channel as target 0)."""

    id: int
    guild_id: int
    meeting_id: int
    user_id: int
    change: str
    title: str
    occurrence: str | None
    starts_at: int | None  # Unix seconds of the occurrence it names, if any
    locale: str | None = None  # a deleted meeting's subscriber's language, kept by the trigger


class MeetingTiming(NamedTuple):
    """Only what planning a meeting's reminders needs, as stored (read for every meeting)."""

    id: int
    guild_id: int
    timezone: str
    first_date: str
    start_time: str
    repeat: str
    duration_minutes: int
    paused_until: str | None
    reminder_offsets: str | None


class StoredException(NamedTuple):
    """A meeting's exception to one occurrence, as stored (dates in the meeting's zone)."""

    meeting_id: int
    occurrence: str
    cancelled: bool
    moved_to: str | None  # "YYYY-MM-DD HH:MM", local wall time


class QueuedNotice(NamedTuple):
    """A stored notice that has no job yet."""

    id: int
    guild_id: int
    meeting_id: int
