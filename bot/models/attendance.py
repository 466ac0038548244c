"""Attendance as data: counts of closed occurrences, proof slips and anonymous share posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.i18n import Msg, Text

SMALL_COUNT = 5
BAR_WIDTH = 16


def shown_count(count: int) -> str:
    """A count as shown to facilitators: small numbers are never shown exactly."""
    return str(Msg("fewer than 5")) if count < SMALL_COUNT else str(count)


@dataclass(frozen=True, slots=True)
class OccurrenceCount:
    """How many checked in at one closed occurrence."""

    occurrence: date
    checkins: int

    @property
    def shown(self) -> str:
        """The count as it may be shown."""
        return shown_count(self.checkins)


@dataclass(frozen=True, slots=True)
class CountReport:
    """The last closed occurrences of a meeting, oldest first, with a trend in words."""

    meeting_id: int
    rows: tuple[OccurrenceCount, ...]
    trend: Text

    def chart(self) -> str:
        """A small text bar chart; counts under 5 get one fixed mark so no size is implied."""
        if not self.rows:
            return str(Msg("No closed occurrences yet."))
        top = max((r.checkins for r in self.rows), default=0)
        lines = []
        for r in self.rows:
            if r.checkins < SMALL_COUNT:
                bar = "░"
            else:
                bar = "█" * max(1, round(r.checkins / top * BAR_WIDTH))
            lines.append(f"{r.occurrence.isoformat()} {bar} {r.shown}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ProofSlip:
    """What a slip says; the code carries all of it, signed."""

    meeting_id: int
    title: str
    occurrence: date
    name: str
    code: str


@dataclass(frozen=True, slots=True)
class LiveOccurrence:
    """A public view of an occurrence held in memory (no secrets)."""

    meeting_id: int
    guild_id: int
    occurrence: str
    is_open: bool


@dataclass(frozen=True, slots=True)
class SharePost:
    """What to post for an anonymous share."""

    meeting_id: int
    occurrence: str
    number: int
    text: str
    language: str = "en"  # the meeting's: the room reads one name for each sharer

    @property
    def pseudonym(self) -> str:
        """The display name in the meeting's language, e.g. 'Peer 7' / 'Persona 7'."""
        return pseudonym(self.number, self.language)


def pseudonym(number: int, language: str = "en") -> str:
    """An anonymous sharer's name in a meeting's room, in the meeting's language."""
    return Msg("Peer {number}", number=number).render(language)
