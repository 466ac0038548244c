"""The meeting options as typed: parsers with specific errors, labels and descriptions.

Pure functions (the time they check against is passed in), re-exported by bot.services.meetings.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from bot.errors import UserFacingError
from bot.models.meetings import FORMATS, Access, Kind, Meeting, MeetingEdit
from bot.occurrences import (
    Repeat,
    is_scheduled_date,
    localize,
    next_occurrences,
    nth_weekday_of,
    zone,
)
from bot.parsing import (
    clean_text,
    parse_date,
    parse_language,
    parse_local_datetime,
    parse_offsets,
    parse_timezone,
    quote_input,
)

TITLE_MAX = 100
DESCRIPTION_MAX = 1000
OPENING_TEXT_MAX = 1500
DURATION_MIN = 5
DURATION_MAX = 600
ROOM_OPEN_MAX = 120
ROOM_CLOSE_MAX = 240

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


# Field names (as in MeetingEdit results) in words, for answers and the mod log.
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


def parse_future_start(text: str, timezone: str, now: datetime) -> datetime:
    """A local start that is still to come, as naive local wall time."""
    local = parse_local_datetime(text)
    if local.year < 2000 or local.year > 2200:
        raise UserFacingError(
            f"`{quote_input(text)}` is too far from today. Pick a date within the next few years."
        )
    instant = localize(local, zone(timezone))
    if instant <= now:
        raise UserFacingError(
            f"`{local:%Y-%m-%d %H:%M}` in {timezone} has already passed. Give a start "
            "that is still to come, as `YYYY-MM-DD HH:MM`."
        )
    return local


def occurrence_key(meeting: Meeting, text: str, now: datetime) -> date:
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
    upcoming = ", ".join(f"`{o.key.isoformat()}`" for o in next_occurrences(schedule, now, 3))
    hint = f" Its next dates are {upcoming}." if upcoming else ""
    raise UserFacingError(
        f"`{day.isoformat()}` is not a date this meeting meets ({describe_repeat(meeting)}).{hint}"
    )


def edit_fields(meeting: Meeting, edit: MeetingEdit, now: datetime) -> dict[str, Any]:
    """The fields an edit asks for, parsed, each checked against the meeting as it is."""
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
        local = parse_future_start(edit.start, zone_name, now)
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
    if edit.language is not None:
        fields["language"] = parse_language(edit.language)
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
    return fields


def move_request(
    edit: MeetingEdit, occurrence: str | None, move_to: str | None
) -> tuple[str, str] | None:
    """The occurrence and new start of a move asked with /meeting edit; None if none is asked."""
    if occurrence is None and move_to is None:
        return None
    if occurrence is None or move_to is None:
        raise UserFacingError(
            "To move one occurrence, give both `occurrence` (its date) and `move_to` "
            "(the new local `YYYY-MM-DD HH:MM`)."
        )
    if not edit.is_empty():
        raise UserFacingError(
            "Move an occurrence on its own: give only `meeting`, `occurrence` and "
            "`move_to`, then change other fields in a second edit."
        )
    return occurrence, move_to
