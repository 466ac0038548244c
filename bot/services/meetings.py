"""Meetings: the model, its storage, and the rules around it. No Discord imports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from bot.bus import MEETING_CHANGED, EventBus
from bot.clock import Clock, iso
from bot.db import Database, Transaction
from bot.errors import NotFoundError, PermissionDeniedError, UserFacingError
from bot.jobs import JobEngine, NewJob
from bot.occurrences import (
    Occurrence,
    OccurrenceException,
    Repeat,
    Schedule,
    is_scheduled_date,
    localize,
    next_occurrences,
    nth_weekday_of,
    occurrence_for_key,
    occurrences_between,
    zone,
)
from bot.parsing import (
    clean_text,
    parse_date,
    parse_local_datetime,
    parse_offsets,
    parse_timezone,
    quote_input,
)
from bot.permissions import Level, refusal
from bot.services.guilds import GuildSettingsService
from bot.services.privacy import PrivacyService, UserData


class Kind(StrEnum):
    """What a meeting is for."""

    NA = "na"
    FAMILY = "family"
    OTHER = "other"


class Access(StrEnum):
    """Who may attend."""

    OPEN = "open"
    CLOSED = "closed"


# Format key -> (label, Meeting Guide type code or None where the spec has none).
FORMATS: dict[str, tuple[str, str | None]] = {
    "speaker": ("Speaker", "SP"),
    "discussion": ("Discussion", "D"),
    "step-study": ("Step study", "ST"),
    "literature-study": ("Literature study", "LIT"),
    "newcomer": ("Newcomer", "BE"),
    "candlelight": ("Candlelight", "CAN"),
    "meditation": ("Meditation", "MED"),
    "qa": ("Q&A", None),
    "other": ("Other", None),
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
        """The local start written out with its zone, e.g. '19:00 America/New_York'."""
        return f"{self.start_time.strftime('%H:%M')} {self.timezone}"

    @property
    def format_labels(self) -> list[str]:
        """Human labels of the formats."""
        return [FORMATS[f][0] for f in self.formats if f in FORMATS]


_COLUMNS = (
    "id, guild_id, title, kind, access, formats, timezone, first_date, start_time, "
    "duration_minutes, repeat, description, opening_text, reminder_offsets, room_open_minutes, "
    "room_close_minutes, room_clear_chat, room_category_id, room_text_channel_id, "
    "room_voice_channel_id, paused_until, native_event_id"
)

# Fields that `update` may change, with their storage conversion.
EDITABLE = {
    "title",
    "kind",
    "access",
    "formats",
    "timezone",
    "first_date",
    "start_time",
    "duration_minutes",
    "repeat",
    "description",
    "opening_text",
    "reminder_offsets",
    "room_open_minutes",
    "room_close_minutes",
    "room_clear_chat",
    "room_category_id",
    "room_text_channel_id",
    "room_voice_channel_id",
    "paused_until",
    "native_event_id",
}


def _to_db(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "formats":
        return ",".join(value)
    if name == "reminder_offsets":
        return ",".join(str(m) for m in value)
    if name in ("first_date", "paused_until"):
        return value.isoformat()
    if name == "start_time":
        return value.strftime("%H:%M")
    if name == "room_clear_chat":
        return int(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


# Stored enum values -> members by dict lookup (Enum's own call is ~10x slower); a value not
# in these still goes through the Enum, which raises for it.
_KINDS = {k.value: k for k in Kind}
_ACCESS = {a.value: a for a in Access}
_REPEATS = {r.value: r for r in Repeat}


def _from_row(
    row: Any, exceptions: dict[date, OccurrenceException], facilitators: frozenset[int]
) -> Meeting:
    return Meeting(
        id=row[0],
        guild_id=row[1],
        title=row[2],
        kind=_KINDS.get(row[3]) or Kind(row[3]),
        access=_ACCESS.get(row[4]) or Access(row[4]),
        formats=tuple(f for f in row[5].split(",") if f),
        timezone=row[6],
        first_date=date.fromisoformat(row[7]),
        start_time=time.fromisoformat(row[8]),
        duration_minutes=row[9],
        repeat=_REPEATS.get(row[10]) or Repeat(row[10]),
        description=row[11],
        opening_text=row[12],
        reminder_offsets=(
            tuple(int(m) for m in row[13].split(",") if m) if row[13] is not None else None
        ),
        room_open_minutes=row[14],
        room_close_minutes=row[15],
        room_clear_chat=None if row[16] is None else bool(row[16]),
        room_category_id=row[17],
        room_text_channel_id=row[18],
        room_voice_channel_id=row[19],
        paused_until=date.fromisoformat(row[20]) if row[20] else None,
        native_event_id=row[21],
        exceptions=exceptions,
        facilitator_ids=facilitators,
    )


class MeetingStore:
    """Reads and writes meetings, their exceptions and facilitators."""

    def __init__(self, db: Database, clock: Clock, privacy: PrivacyService) -> None:
        self.db = db
        self.clock = clock
        privacy.register(
            UserData(
                "meeting_facilitators",
                "user_id",
                purpose="Meetings you facilitate list you as a facilitator.",
            )
        )

    async def get(self, meeting_id: int, guild_id: int | None = None) -> Meeting | None:
        """A meeting by id; when guild_id is given, only if it belongs to that guild."""
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM meetings WHERE id = ?",
            (meeting_id,),  # noqa: S608
        )
        if row is None or (guild_id is not None and row[1] != guild_id):
            return None
        return (await self._hydrate([row]))[0]

    async def list_guild(self, guild_id: int) -> list[Meeting]:
        """Every meeting of a guild, by title."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM meetings WHERE guild_id = ? ORDER BY title COLLATE NOCASE, id",  # noqa: S608
            (guild_id,),
        )
        return await self._hydrate(rows)

    async def list_all(self) -> list[Meeting]:
        """Every meeting (for reconciling timers at start)."""
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM meetings ORDER BY id")  # noqa: S608
        return await self._hydrate(rows)

    async def get_many(self, meeting_ids: Iterable[int]) -> dict[int, Meeting]:
        """Meetings by id, of any guild; ids that no longer exist are left out.

        One query for the meetings and one each for their exceptions and facilitators, however
        many ids (a burst of reminders reads 1,000 meetings this way).
        """
        ids = sorted(set(meeting_ids))
        if not ids:
            return {}
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM meetings "  # noqa: S608 - constant columns
            "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ids),),
        )
        return {m.id: m for m in await self._hydrate(rows)}

    async def _hydrate(self, rows: list[Any]) -> list[Meeting]:
        """Meetings from their rows, with exceptions and facilitators (two queries for all)."""
        if not rows:
            return []
        # The ids go in as one JSON array: no limit on how many, one statement to prepare.
        ids = (json.dumps([r[0] for r in rows]),)
        exc_rows = await self.db.fetchall(
            "SELECT meeting_id, occurrence, cancelled, moved_to FROM meeting_exceptions "
            "WHERE meeting_id IN (SELECT value FROM json_each(?))",
            ids,
        )
        fac_rows = await self.db.fetchall(
            "SELECT meeting_id, user_id FROM meeting_facilitators "
            "WHERE meeting_id IN (SELECT value FROM json_each(?))",
            ids,
        )
        excs: dict[int, dict[date, OccurrenceException]] = {}
        for r in exc_rows:
            moved = datetime.strptime(r[3], "%Y-%m-%d %H:%M") if r[3] else None  # noqa: DTZ007 - local wall time
            excs.setdefault(r[0], {})[date.fromisoformat(r[1])] = OccurrenceException(
                cancelled=bool(r[2]), moved_to=moved
            )
        facs: dict[int, set[int]] = {}
        for r in fac_rows:
            facs.setdefault(r[0], set()).add(r[1])
        none: frozenset[int] = frozenset()
        return [
            _from_row(
                r,
                excs.get(r[0]) or {},  # each meeting its own dict
                frozenset(facs[r[0]]) if r[0] in facs else none,
            )
            for r in rows
        ]

    async def create(
        self,
        tx: Transaction,
        *,
        guild_id: int,
        title: str,
        kind: Kind,
        access: Access,
        formats: tuple[str, ...],
        timezone: str,
        first_date: date,
        start_time: time,
        duration_minutes: int,
        repeat: Repeat,
        description: str = "",
        facilitator_id: int | None = None,
    ) -> int:
        """Insert a meeting (and its first facilitator) inside a transaction; return its id."""
        now = iso(self.clock.now())
        meeting_id = await tx.insert(
            "INSERT INTO meetings (guild_id, title, kind, access, formats, timezone, first_date, "
            "start_time, weekday, duration_minutes, repeat, description, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                title,
                kind.value,
                access.value,
                ",".join(formats),
                timezone,
                first_date.isoformat(),
                start_time.strftime("%H:%M"),
                first_date.isoweekday(),
                duration_minutes,
                repeat.value,
                description,
                now,
                now,
            ),
        )
        if facilitator_id is not None:
            await tx.execute(
                "INSERT INTO meeting_facilitators (meeting_id, guild_id, user_id) VALUES (?, ?, ?)",
                (meeting_id, guild_id, facilitator_id),
            )
        return meeting_id

    async def update(self, tx: Transaction, meeting_id: int, **fields: Any) -> None:
        """Change stored fields of a meeting inside a transaction."""
        unknown = set(fields) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        if not fields:
            return
        cols = list(fields)
        values = [_to_db(c, fields[c]) for c in cols]
        extra = ""
        if "first_date" in fields:
            extra = ", weekday = ?"
            values.append(fields["first_date"].isoweekday())
        sets = ", ".join(f"{c} = ?" for c in cols)
        await tx.execute(
            f"UPDATE meetings SET {sets}{extra}, updated_at = ? WHERE id = ?",  # noqa: S608
            (*values, iso(self.clock.now()), meeting_id),
        )

    async def set_exception(
        self, tx: Transaction, meeting_id: int, occurrence: date, exc: OccurrenceException | None
    ) -> None:
        """Cancel or move one occurrence; None removes the exception."""
        if exc is None:
            await tx.execute(
                "DELETE FROM meeting_exceptions WHERE meeting_id = ? AND occurrence = ?",
                (meeting_id, occurrence.isoformat()),
            )
            return
        moved = exc.moved_to.strftime("%Y-%m-%d %H:%M") if exc.moved_to else None
        await tx.execute(
            "INSERT INTO meeting_exceptions (meeting_id, occurrence, cancelled, moved_to) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (meeting_id, occurrence) "
            "DO UPDATE SET cancelled = excluded.cancelled, moved_to = excluded.moved_to",
            (meeting_id, occurrence.isoformat(), int(exc.cancelled), moved),
        )

    async def add_facilitator(self, tx: Transaction, meeting: Meeting, user_id: int) -> None:
        """Make a user a facilitator of a meeting."""
        await tx.execute(
            "INSERT INTO meeting_facilitators (meeting_id, guild_id, user_id) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (meeting.id, meeting.guild_id, user_id),
        )

    async def remove_facilitator(self, tx: Transaction, meeting_id: int, user_id: int) -> None:
        """Remove a facilitator from a meeting."""
        await tx.execute(
            "DELETE FROM meeting_facilitators WHERE meeting_id = ? AND user_id = ?",
            (meeting_id, user_id),
        )

    async def delete(self, tx: Transaction, meeting_id: int) -> None:
        """Delete a meeting; exceptions and facilitators go with it."""
        await tx.execute("DELETE FROM meetings WHERE id = ?", (meeting_id,))


# --- rules -------------------------------------------------------------------------------------
#
# MEETING_CHANGED payloads emitted by MeetingService (after the commit), for subscribers:
#   created   detail ""
#   edited    detail "fields:<comma-separated field names>" or "restored:YYYY-MM-DD"
#   cancelled detail "occurrence:YYYY-MM-DD"             (the occurrence's scheduled local date)
#   moved     detail "occurrence:YYYY-MM-DD to:YYYY-MM-DD HH:MM"   (new local wall time)
#   paused    detail "until:YYYY-MM-DD"
#   resumed   detail ""
#   deleted   detail "room:delete" or "room:keep"       (the meeting row is already gone)

TITLE_MAX = 100
DESCRIPTION_MAX = 1000
OPENING_TEXT_MAX = 1500
DURATION_MIN = 5
DURATION_MAX = 600
ROOM_OPEN_MAX = 120
ROOM_CLOSE_MAX = 240
MOVE_MAX_DAYS = 30
PAUSE_MAX_DAYS = 730
EVENT_ROLL = "event_roll"

_FORMAT_ALIASES: dict[str, str] = {
    "step": "step-study",
    "steps": "step-study",
    "literature": "literature-study",
    "lit": "literature-study",
    "newcomers": "newcomer",
    "beginner": "newcomer",
    "beginners": "newcomer",
    "q-a": "qa",
    "q-and-a": "qa",
    "question-and-answer": "qa",
    "speakers": "speaker",
}

KIND_LABELS: dict[Kind, str] = {
    Kind.NA: "NA-style",
    Kind.FAMILY: "👪 Family",
    Kind.OTHER: "Peer support",
}

_E = TypeVar("_E", bound=StrEnum)

_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th"}
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def access_label(meeting: Meeting) -> str:
    """Kind and access as one clear label, e.g. '🔒 Closed · 👪 Family (family role)'."""
    kind = KIND_LABELS[meeting.kind]
    if meeting.access is Access.OPEN:
        return f"🟢 Open · {kind}"
    who = {
        Kind.NA: "members: for people in their own recovery",
        Kind.FAMILY: "family role: for people who love someone who uses",
        Kind.OTHER: "members only",
    }[meeting.kind]
    return f"🔒 Closed · {kind} ({who})"


def describe_repeat(meeting: Meeting) -> str:
    """The rule in words, e.g. 'Weekly on Tuesday at 19:00 America/New_York'."""
    day = _DAY_NAMES[meeting.first_date.isoweekday() - 1]
    at = f"at {meeting.home_time}"
    first = meeting.first_date.isoformat()
    if meeting.repeat is Repeat.ONCE:
        return f"Once, on {day} {first} {at}"
    if meeting.repeat is Repeat.WEEKLY:
        return f"Weekly on {day} {at}"
    if meeting.repeat is Repeat.BIWEEKLY:
        return f"Every 2 weeks on {day} (counted from {first}) {at}"
    if meeting.repeat is Repeat.MONTHLY:
        nth = nth_weekday_of(meeting.first_date)
        skipped = " (months without one are skipped)" if nth == 5 else ""
        return f"Monthly on the {_ORDINALS[nth]} {day}{skipped} {at}"
    return f"Monthly on the last {day} {at}"


def parse_title(text: str) -> str:
    """A meeting title: 1–100 visible characters."""
    return clean_text(text, field="title", max_len=TITLE_MAX)


def parse_description(
    text: str, *, field: str = "description", max_len: int = DESCRIPTION_MAX
) -> str:
    """A description or opening text: up to the limit; '-' or 'none' clears it."""
    if text.strip().lower() in ("-", "none", "clear"):
        return ""
    return clean_text(text, field=field, max_len=max_len, min_len=0, multiline=True)


def parse_duration(minutes: int) -> int:
    """A duration in minutes, 5–600."""
    if not DURATION_MIN <= minutes <= DURATION_MAX:
        raise UserFacingError(
            f"The duration is in minutes, from {DURATION_MIN} to {DURATION_MAX} "
            f"(10 hours); you gave {minutes}. For example `60` or `90`."
        )
    return minutes


def _choice(text: str, allowed: type[_E], what: str) -> _E:
    value = text.strip().lower()
    try:
        return allowed(value)
    except ValueError:
        names = ", ".join(f"`{m.value}`" for m in allowed)
        raise UserFacingError(
            f"`{quote_input(text)}` is not a {what}. Use one of: {names}."
        ) from None


def parse_kind(text: str) -> Kind:
    """na, family or other."""
    return _choice(text, Kind, "meeting kind")


def parse_access(text: str) -> Access:
    """open or closed."""
    return _choice(text, Access, "meeting access")


def parse_repeat(text: str) -> Repeat:
    """once, weekly, biweekly, monthly or monthly-last."""
    return _choice(text, Repeat, "repeat rule")


def _format_key(item: str) -> str | None:
    norm = item.strip().lower().replace("&", "-").replace("_", "-").replace(" ", "-")
    norm = "-".join(p for p in norm.split("-") if p)
    if norm in FORMATS:
        return norm
    if norm in _FORMAT_ALIASES:
        return _FORMAT_ALIASES[norm]
    for key, (label, code) in FORMATS.items():
        if norm == label.lower().replace("&", "-").replace(" ", "-").replace("--", "-"):
            return key
        if code is not None and norm == code.lower():
            return key
    return None


def parse_formats(text: str) -> tuple[str, ...]:
    """Comma-separated formats (keys, labels or Meeting Guide codes), without duplicates."""
    out: list[str] = []
    for item in text.split(","):
        if not item.strip():
            continue
        key = _format_key(item)
        if key is None:
            choices = ", ".join(f"`{label}`" for label, _ in FORMATS.values())
            raise UserFacingError(
                f"`{quote_input(item.strip(), 40)}` is not a meeting format I know. "
                f"Use a comma-separated list of: {choices}."
            )
        if key not in out:
            out.append(key)
    return tuple(out)


def format_suggestions(current: str, limit: int = 25) -> list[tuple[str, str]]:
    """Autocomplete for a comma-separated format list: complete the last item typed."""
    parts = current.split(",")
    done_raw = [p.strip() for p in parts[:-1] if p.strip()]
    last = parts[-1].strip().lower() if parts else ""
    done: list[str] = []
    for raw in done_raw:
        key = _format_key(raw)
        if key is not None and key not in done:
            done.append(key)
    prefix = ", ".join(FORMATS[k][0] for k in done)
    out: list[tuple[str, str]] = []
    for key, (label, _) in FORMATS.items():
        if key in done:
            continue
        if last and last not in label.lower() and last not in key:
            continue
        value = f"{prefix}, {label}" if prefix else label
        out.append((value[:100], value[:100]))
    return out[:limit]


def visible_to(meeting: Meeting, *, member: bool, family: bool, staff: bool) -> bool:
    """Whether someone with these roles may attend: open always; closed by kind's role."""
    if staff or meeting.access is Access.OPEN:
        return True
    if meeting.kind is Kind.FAMILY:
        return family
    return member


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: their user id and permission level in the guild."""

    user_id: int
    level: Level


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
            )
        )


# Fields whose change moves occurrences (announced as a schedule change).
TIMING_FIELDS = frozenset({"first_date", "start_time", "timezone", "repeat", "duration_minutes"})

FIELD_LABELS: dict[str, str] = {
    "title": "title",
    "kind": "kind",
    "access": "access",
    "formats": "formats",
    "timezone": "time zone",
    "first_date": "first date",
    "start_time": "start time",
    "duration_minutes": "duration",
    "repeat": "repeat",
    "description": "description",
    "opening_text": "opening text",
    "reminder_offsets": "reminder offsets",
    "room_open_minutes": "room opening",
    "room_close_minutes": "room closing",
    "room_clear_chat": "chat clearing",
    "facilitators": "facilitators",
}


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

    # -- reading -------------------------------------------------------------------------------

    async def get(self, guild_id: int, meeting_id: int) -> Meeting:
        """A meeting of this guild, or NotFoundError (ids never cross guilds)."""
        meeting = await self.store.get(meeting_id, guild_id)
        if meeting is None:
            raise NotFoundError(
                "I can't find that meeting in this server. Start typing its title and pick it "
                "from the list."
            )
        return meeting

    async def resolve(self, guild_id: int, text: str) -> Meeting:
        """The meeting an option names: its id (from autocomplete) or its exact title."""
        cleaned = text.strip()
        if cleaned.isascii() and cleaned.isdigit() and len(cleaned) < 19:
            found = await self.store.get(int(cleaned), guild_id)
            if found is not None:
                return found
        matches = [
            (mid, title)
            for mid, title in await self.titles(guild_id)
            if title.casefold() == cleaned.casefold()
        ]
        if len(matches) == 1:
            return await self.get(guild_id, matches[0][0])
        if len(matches) > 1:
            raise UserFacingError(
                f"Several meetings are called `{quote_input(cleaned)}`. Start typing the title and "
                "pick the right one from the list."
            )
        raise NotFoundError(
            f"No meeting called `{quote_input(cleaned)}` in this server. Start typing its title and "
            "pick it from the list."
        )

    async def titles(self, guild_id: int) -> list[tuple[int, str]]:
        """(id, title) of every meeting of a guild, by title."""
        rows = await self.db.fetchall(
            "SELECT id, title FROM meetings WHERE guild_id = ? ORDER BY title COLLATE NOCASE, id",
            (guild_id,),
        )
        return [(r[0], r[1]) for r in rows]

    async def search(self, guild_id: int, text: str, limit: int = 25) -> list[tuple[int, str]]:
        """Meetings whose title contains the text (prefix matches first), for autocomplete."""
        needle = text.strip().casefold()
        found = [(i, t) for i, t in await self.titles(guild_id) if needle in t.casefold()]
        found.sort(key=lambda it: (not it[1].casefold().startswith(needle), it[1].casefold()))
        return found[:limit]

    def next_occurrences(self, meeting: Meeting, n: int = 3) -> list[Occurrence]:
        """The next n occurrences after now."""
        return next_occurrences(meeting.schedule, self.clock.now(), n)

    async def upcoming(self, guild_id: int, days: int) -> list[Upcoming]:
        """Occurrences starting within the next `days` days (1–31), in order."""
        return (await self.listing(guild_id, days)).upcoming

    async def listing(self, guild_id: int, days: int) -> Listing:
        """Occurrences in the next `days` days (1–31), and every other meeting's next date."""
        if not 1 <= days <= 31:
            raise UserFacingError(f"`days` goes from 1 to 31; you gave {days}.")
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
                "Only this meeting's facilitators or a moderator can change it. Ask one of them, "
                "or a moderator can add you with `/meeting edit add_facilitator:`."
            )

    # -- validation helpers ---------------------------------------------------------------------

    def _future_start(self, text: str, timezone: str) -> datetime:
        """A local start that is still to come, as naive local wall time."""
        local = parse_local_datetime(text)
        if local.year < 2000 or local.year > 2200:
            raise UserFacingError(
                f"`{quote_input(text)}` is too far from today. Pick a date within the next few years."
            )
        instant = localize(local, zone(timezone))
        if instant <= self.clock.now():
            raise UserFacingError(
                f"`{local:%Y-%m-%d %H:%M}` in {timezone} has already passed. Give a start "
                "that is still to come, as `YYYY-MM-DD HH:MM`."
            )
        return local

    def _local_today(self, meeting: Meeting) -> date:
        return self.clock.now().astimezone(zone(meeting.timezone)).date()

    def _occurrence_key(self, meeting: Meeting, text: str) -> date:
        """The scheduled date an option names (or the new date of a moved occurrence)."""
        day = parse_date(text, "date")
        schedule = meeting.schedule
        if is_scheduled_date(schedule, day):
            return day
        moved = [
            key
            for key, exc in meeting.exceptions.items()
            if exc.moved_to is not None and not exc.cancelled and exc.moved_to.date() == day
        ]
        if len(moved) == 1:
            return moved[0]
        upcoming = ", ".join(f"`{o.key.isoformat()}`" for o in self.next_occurrences(meeting, 3))
        hint = f" Its next dates are {upcoming}." if upcoming else ""
        raise UserFacingError(
            f"`{day.isoformat()}` is not a date this meeting meets ({describe_repeat(meeting)}).{hint}"
        )

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
    ) -> Meeting:
        """Validate everything, store the meeting with the caller as facilitator, emit created."""
        if actor.level < Level.FACILITATOR:
            raise PermissionDeniedError(refusal(Level.FACILITATOR))
        clean_title = parse_title(title)
        zone_name = (
            parse_timezone(timezone)
            if timezone is not None
            else (await self.guilds.get(guild_id)).timezone
        )
        local = self._future_start(start, zone_name)
        rule = parse_repeat(repeat)
        minutes = parse_duration(duration)
        meeting_kind = parse_kind(kind)
        meeting_access = parse_access(access)
        format_keys = parse_formats(formats) if formats else ()
        text = parse_description(description) if description else ""
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
        if edit.is_empty():
            raise UserFacingError("Nothing to change: give at least one option besides `meeting`.")
        fields: dict[str, Any] = {}
        if edit.title is not None:
            fields["title"] = parse_title(edit.title)
        zone_name = meeting.timezone
        if edit.timezone is not None:
            zone_name = parse_timezone(edit.timezone)
            fields["timezone"] = zone_name
        if edit.start is not None:
            local = self._future_start(edit.start, zone_name)
            fields["first_date"] = local.date()
            fields["start_time"] = local.time()
        if edit.repeat is not None:
            fields["repeat"] = parse_repeat(edit.repeat)
        if edit.duration is not None:
            fields["duration_minutes"] = parse_duration(edit.duration)
        if edit.kind is not None:
            fields["kind"] = parse_kind(edit.kind)
        if edit.access is not None:
            fields["access"] = parse_access(edit.access)
        if edit.formats is not None:
            fields["formats"] = (
                () if edit.formats.strip().lower() in ("-", "none") else parse_formats(edit.formats)
            )
        if edit.description is not None:
            fields["description"] = parse_description(edit.description)
        if edit.opening_text is not None:
            fields["opening_text"] = parse_description(
                edit.opening_text, field="opening text", max_len=OPENING_TEXT_MAX
            )
        if edit.reminder_offsets is not None:
            if edit.reminder_offsets.strip().lower() in ("default", "-", "none"):
                fields["reminder_offsets"] = None
            else:
                fields["reminder_offsets"] = tuple(parse_offsets(edit.reminder_offsets))
        if edit.room_open_minutes is not None:
            if not 0 <= edit.room_open_minutes <= ROOM_OPEN_MAX:
                raise UserFacingError(
                    f"`room_open_minutes` goes from 0 to {ROOM_OPEN_MAX} minutes before the start; "
                    f"you gave {edit.room_open_minutes}."
                )
            fields["room_open_minutes"] = edit.room_open_minutes
        if edit.room_close_minutes is not None:
            if not 0 <= edit.room_close_minutes <= ROOM_CLOSE_MAX:
                raise UserFacingError(
                    f"`room_close_minutes` goes from 0 to {ROOM_CLOSE_MAX} minutes after the end; "
                    f"you gave {edit.room_close_minutes}."
                )
            fields["room_close_minutes"] = edit.room_close_minutes
        if edit.clear_chat is not None:
            fields["room_clear_chat"] = edit.clear_chat
        add = edit.add_facilitator
        remove = edit.remove_facilitator
        if add is not None and remove is not None and add == remove:
            raise UserFacingError("Add and remove the same person? Give only one of the two.")
        if add is not None:
            if add in meeting.facilitator_ids:
                raise UserFacingError("That person is already a facilitator of this meeting.")
            if not edit.add_facilitator_eligible:
                raise UserFacingError(
                    "Facilitators must hold the facilitator role (see `/setup roles`). Ask a "
                    "moderator to give them the role first, then add them again."
                )
        if remove is not None and remove not in meeting.facilitator_ids:
            raise UserFacingError("That person is not a facilitator of this meeting.")

        changed = {k: v for k, v in fields.items() if getattr(meeting, k) != v}
        if add is not None or remove is not None:
            changed_names = [*changed, "facilitators"]
        else:
            changed_names = list(changed)
        if not changed_names:
            raise UserFacingError("Those are already the meeting's settings; nothing changed.")
        new_schedule = replace(meeting, **changed).schedule
        if TIMING_FIELDS & set(changed) and not next_occurrences(new_schedule, self.clock.now(), 1):
            raise UserFacingError(
                "After this change the meeting would never meet again. Give a new `start` "
                "(still to come) together with it."
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
        key = self._occurrence_key(meeting, day)
        exc = meeting.exceptions.get(key)
        if restore:
            if exc is None:
                raise UserFacingError(
                    f"The occurrence of {key.isoformat()} is neither cancelled nor moved; "
                    "nothing to restore."
                )
            regular = replace(meeting, exceptions={}).schedule
            original = occurrence_for_key(regular, key)
            if original is None or original.start <= self.clock.now():
                raise UserFacingError(
                    f"The occurrence of {key.isoformat()} would already have started; "
                    "only future occurrences can be restored."
                )
            async with self.db.transaction() as tx:
                await self.store.set_exception(tx, meeting.id, key, None)
            updated = await self.get(guild_id, meeting.id)
            await self._emit(updated, "edited", f"restored:{key.isoformat()}")
            return updated, key
        if exc is not None and exc.cancelled:
            raise UserFacingError(
                f"The occurrence of {key.isoformat()} is already cancelled. To bring it back, "
                "use `/meeting cancel` with `restore: True`."
            )
        if meeting.paused_until is not None and key < meeting.paused_until:
            raise UserFacingError(
                f"The meeting is paused until {meeting.paused_until.isoformat()}, so "
                f"{key.isoformat()} is already skipped."
            )
        occ = occurrence_for_key(meeting.schedule, key)
        if occ is None or occ.start <= self.clock.now():
            raise UserFacingError(
                f"The occurrence of {key.isoformat()} has already started or passed; only "
                "future occurrences can be cancelled."
            )
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
        key = self._occurrence_key(meeting, day)
        if meeting.paused_until is not None and key < meeting.paused_until:
            raise UserFacingError(
                f"The meeting is paused until {meeting.paused_until.isoformat()}, so "
                f"{key.isoformat()} is skipped; resume the meeting first."
            )
        current = occurrence_for_key(replace(meeting, exceptions={}).schedule, key)
        exc = meeting.exceptions.get(key)
        if exc is not None and exc.moved_to is not None and not exc.cancelled:
            current = occurrence_for_key(meeting.schedule, key)
        now = self.clock.now()
        if current is None or current.start <= now:
            raise UserFacingError(
                f"The occurrence of {key.isoformat()} has already started or passed; only "
                "future occurrences can be moved."
            )
        target = self._future_start(new_start, meeting.timezone)
        if abs((target.date() - key).days) > MOVE_MAX_DAYS:
            raise UserFacingError(
                f"An occurrence can move by at most {MOVE_MAX_DAYS} days. For a bigger change, "
                "cancel it, or change the meeting with `/meeting edit start:`."
            )
        if current.local_start.replace(tzinfo=None) == target and (
            exc is None or not exc.cancelled
        ):
            raise UserFacingError("That is already when this occurrence meets; nothing changed.")
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
        if meeting.repeat is Repeat.ONCE:
            raise UserFacingError(
                "A one-time meeting can't be paused. Cancel its date with `/meeting cancel`, "
                "or delete it."
            )
        day = parse_date(until, "date to resume on")
        today = self._local_today(meeting)
        if day <= today:
            raise UserFacingError(
                f"`until` is the date the meeting starts again, so it must be after today "
                f"({today.isoformat()} in {meeting.timezone})."
            )
        if (day - today).days > PAUSE_MAX_DAYS:
            raise UserFacingError(
                "A pause can last at most two years. For a longer break, delete the meeting."
            )
        if meeting.paused_until == day:
            raise UserFacingError(f"The meeting is already paused until {day.isoformat()}.")
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
            raise UserFacingError("This meeting is not paused.")
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

    # -- native event mirror bookkeeping ---------------------------------------------------------

    async def record_native_event(
        self, meeting_id: int, guild_id: int, event_id: int | None, roll_after: Occurrence | None
    ) -> bool:
        """Store the mirrored event's id and arm one roll-forward job at the occurrence's end.

        False when the meeting was deleted meanwhile (the caller then drops the event it made).
        """
        async with self.db.transaction() as tx:
            exists = await tx.fetchone("SELECT 1 FROM meetings WHERE id = ?", (meeting_id,))
            if exists is None:
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
