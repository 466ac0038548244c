"""The meeting options as typed: parsers with specific errors, labels and descriptions.

Pure functions (the time they check against is passed in), re-exported by bot.services.meetings.
Errors are lazy messages (shown in the reader's language); labels and phrases are rendered in the
current locale (the reader's, or the meeting's / guild's inside ``use_locale``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeVar

from bot.errors import UserFacingError
from bot.i18n import N_, SUPPORTED, Msg, _, gettext_in
from bot.i18n_format import schedule_phrase, time_of_day, weekday, zone_label
from bot.models.meetings import FORMATS, Access, Kind, Meeting, MeetingEdit
from bot.occurrences import (
    Repeat,
    is_scheduled_date,
    localize,
    next_occurrences,
    occurrence_for_key,
    zone,
)
from bot.parsing import (
    clean_text,
    fold_name,
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
PAUSE_MAX_DAYS = 730

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
    Kind.NA: N_("NA-style"),
    Kind.FAMILY: N_("👪 Family"),
    Kind.OTHER: N_("Peer support"),
}
# Who a closed meeting is for, by kind.
_CLOSED_FOR: dict[Kind, str] = {
    Kind.NA: N_("members: for people in their own recovery"),
    Kind.FAMILY: N_("family role: for people who love someone who uses"),
    Kind.OTHER: N_("members only"),
}

_E = TypeVar("_E", bound=StrEnum)


def kind_label(meeting: Meeting) -> str:
    """What the meeting is for, in the current locale, e.g. 'NA-style'."""
    label = KIND_LABELS[meeting.kind]
    return _(label)


def access_label(meeting: Meeting) -> str:
    """Kind and access as one clear label, e.g. '🔒 Closed · 👪 Family (family role: …)'."""
    if meeting.access is Access.OPEN:
        return _("🟢 Open · {kind}").format(kind=kind_label(meeting))
    who = _CLOSED_FOR[meeting.kind]
    return _("🔒 Closed · {kind} ({who})").format(kind=kind_label(meeting), who=_(who))


def describe_repeat(meeting: Meeting, locale: object = None) -> str:
    """Rule, home time and zone in words, e.g. 'Every Tuesday at 19:00 (New York)'."""
    return schedule_phrase(
        meeting.repeat, meeting.first_date, meeting.start_time, meeting.timezone, locale
    )


def home_time_words(meeting: Meeting, locale: object = None) -> str:
    """The local start with its zone named by city, e.g. '19:00 (New York)'."""
    return f"{time_of_day(meeting.start_time, locale)} ({zone_label(meeting.timezone, locale)})"


def local_start_words(meeting: Meeting, local_start: datetime, locale: object = None) -> str:
    """An occurrence's weekday and wall time at home, e.g. 'Tuesday 19:00 (New York)'."""
    day = weekday(local_start.isoweekday(), locale)
    return f"{day} {time_of_day(local_start, locale)} ({zone_label(meeting.timezone, locale)})"


def format_labels(meeting: Meeting) -> list[str]:
    """The meeting's formats in the current locale, e.g. ['Speaker', 'Step study']."""
    return [_(label) for label in meeting.format_labels]


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
            Msg(
                "The duration is in minutes, from {low} to {high} (10 hours); you gave "
                "{minutes}. For example `60` or `90`.",
                low=DURATION_MIN,
                high=DURATION_MAX,
                minutes=minutes,
            )
        )
    return minutes


def _choice(text: str, allowed: type[_E], refusal: str) -> _E:
    value = text.strip().lower()
    try:
        return allowed(value)
    except ValueError:
        names = ", ".join(f"`{m.value}`" for m in allowed)
        raise UserFacingError(Msg.of(refusal, value=quote_input(text), names=names)) from None


def parse_kind(text: str) -> Kind:
    """na, family or other."""
    return _choice(text, Kind, N_("`{value}` is not a meeting kind. Use one of: {names}."))


def parse_access(text: str) -> Access:
    """open or closed."""
    return _choice(text, Access, N_("`{value}` is not a meeting access. Use one of: {names}."))


def parse_repeat(text: str) -> Repeat:
    """once, weekly, biweekly, monthly or monthly-last."""
    return _choice(text, Repeat, N_("`{value}` is not a repeat rule. Use one of: {names}."))


@lru_cache(maxsize=1)
def _format_names() -> dict[str, str]:
    """Every name a format goes by, folded: its key, code and label in each language."""
    names: dict[str, str] = {}
    for key, (label, code) in FORMATS.items():
        for language in SUPPORTED:
            names.setdefault(fold_name(gettext_in(language, label)), key)
        if code is not None:
            names.setdefault(fold_name(code), key)
    return names


def _format_key(item: str) -> str | None:
    norm = fold_name(item)
    if norm in FORMATS:
        return norm
    if norm in _FORMAT_ALIASES:
        return _FORMAT_ALIASES[norm]
    return _format_names().get(norm)


def parse_formats(text: str) -> tuple[str, ...]:
    """Comma-separated formats (keys, labels in either language or Meeting Guide codes), once."""
    out: list[str] = []
    for item in text.split(","):
        if not item.strip():
            continue
        key = _format_key(item)
        if key is None:
            choices = ", ".join(f"`{_(label)}`" for label, _code in FORMATS.values())
            raise UserFacingError(
                Msg(
                    "`{value}` is not a meeting format I know. Use a comma-separated list of: "
                    "{choices}.",
                    value=quote_input(item.strip(), 40),
                    choices=choices,
                )
            )
        if key not in out:
            out.append(key)
    return tuple(out)


def format_suggestions(current: str, limit: int = 25) -> list[tuple[str, str]]:
    """Autocomplete for a comma-separated format list, in the current locale: the last item."""
    parts = current.split(",")
    done_raw = [p.strip() for p in parts[:-1] if p.strip()]
    last = fold_name(parts[-1]) if parts else ""
    done: list[str] = []
    for raw in done_raw:
        key = _format_key(raw)
        if key is not None and key not in done:
            done.append(key)
    prefix = ", ".join(_(FORMATS[k][0]) for k in done)
    out: list[tuple[str, str]] = []
    for key, (english, _code) in FORMATS.items():
        if key in done:
            continue
        label = _(english)
        if last and last not in fold_name(label) and last not in key:
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
    "title": N_("title"),
    "kind": N_("kind"),
    "access": N_("access"),
    "formats": N_("formats"),
    "timezone": N_("time zone"),
    "first_date": N_("first date"),
    "start_time": N_("start time"),
    "duration_minutes": N_("duration"),
    "repeat": N_("repeat"),
    "description": N_("description"),
    "opening_text": N_("opening text"),
    "reminder_offsets": N_("reminder offsets"),
    "room_open_minutes": N_("room opening"),
    "room_close_minutes": N_("room closing"),
    "room_clear_chat": N_("chat clearing"),
    "facilitators": N_("facilitators"),
    "language": N_("language"),
}


def field_label(name: str) -> str:
    """A changed field's name in the current locale, e.g. 'time zone' / 'zona horaria'."""
    label = FIELD_LABELS.get(name)
    return _(label) if label else name


def parse_future_start(text: str, timezone: str, now: datetime) -> datetime:
    """A local start that is still to come, as naive local wall time."""
    local = parse_local_datetime(text)
    if local.year < 2000 or local.year > 2200:
        raise UserFacingError(
            Msg(
                "`{value}` is too far from today. Pick a date within the next few years.",
                value=quote_input(text),
            )
        )
    instant = localize(local, zone(timezone))
    if instant <= now:
        typed = local.strftime("%Y-%m-%d %H:%M")
        raise UserFacingError(
            Msg(
                "`{start}` in {zone} has already passed. Give a start that is still to come, "
                "as `YYYY-MM-DD HH:MM`.",
                start=typed,
                zone=timezone,
            )
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
    # The phrase is rendered now, in the locale of the person who typed the date (the tree's).
    rule = describe_repeat(meeting)
    if upcoming:
        raise UserFacingError(
            Msg(
                "`{date}` is not a date this meeting meets ({schedule}). Its next dates are "
                "{dates}.",
                date=day.isoformat(),
                schedule=rule,
                dates=upcoming,
            )
        )
    raise UserFacingError(
        Msg(
            "`{date}` is not a date this meeting meets ({schedule}).",
            date=day.isoformat(),
            schedule=rule,
        )
    )


def check_cancel(meeting: Meeting, key: date, now: datetime, *, restore: bool) -> None:
    """Refuse to cancel (or restore) the occurrence of ``key`` unless that can be done now."""
    exc = meeting.exceptions.get(key)
    if restore:
        if exc is None:
            raise UserFacingError(
                Msg(
                    "The occurrence of {date} is neither cancelled nor moved; nothing to restore.",
                    date=key.isoformat(),
                )
            )
        original = occurrence_for_key(replace(meeting, exceptions={}).schedule, key)
        if original is None or original.start <= now:
            raise UserFacingError(
                Msg(
                    "The occurrence of {date} would already have started; only future "
                    "occurrences can be restored.",
                    date=key.isoformat(),
                )
            )
        return
    if exc is not None and exc.cancelled:
        raise UserFacingError(
            Msg(
                "The occurrence of {date} is already cancelled. To bring it back, use "
                "`/meeting cancel` with `restore: True`.",
                date=key.isoformat(),
            )
        )
    if meeting.paused_until is not None and key < meeting.paused_until:
        raise UserFacingError(
            Msg(
                "The meeting is paused until {until}, so {date} is already skipped.",
                until=meeting.paused_until.isoformat(),
                date=key.isoformat(),
            )
        )
    occ = occurrence_for_key(meeting.schedule, key)
    if occ is None or occ.start <= now:
        raise UserFacingError(
            Msg(
                "The occurrence of {date} has already started or passed; only future "
                "occurrences can be cancelled.",
                date=key.isoformat(),
            )
        )


def pause_date(meeting: Meeting, text: str, today: date) -> date:
    """The date a pause ends (typed as YYYY-MM-DD): after ``today`` and within two years."""
    if meeting.repeat is Repeat.ONCE:
        raise UserFacingError(
            Msg(
                "A one-time meeting can't be paused. Cancel its date with `/meeting cancel`, "
                "or delete it."
            )
        )
    day = parse_date(text, "date to resume on")
    if day <= today:
        raise UserFacingError(
            Msg(
                "`until` is the date the meeting starts again, so it must be after today "
                "({today} in {zone}).",
                today=today.isoformat(),
                zone=meeting.timezone,
            )
        )
    if (day - today).days > PAUSE_MAX_DAYS:
        raise UserFacingError(
            Msg("A pause can last at most two years. For a longer break, delete the meeting.")
        )
    if meeting.paused_until == day:
        raise UserFacingError(
            Msg("The meeting is already paused until {date}.", date=day.isoformat())
        )
    return day


def edit_fields(meeting: Meeting, edit: MeetingEdit, now: datetime) -> dict[str, Any]:
    """The fields an edit asks for, parsed, each checked against the meeting as it is."""
    if edit.is_empty():
        raise UserFacingError(Msg("Nothing to change: give at least one option besides `meeting`."))
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
                Msg(
                    "`room_open_minutes` goes from 0 to {most} minutes before the start; you "
                    "gave {value}.",
                    most=ROOM_OPEN_MAX,
                    value=edit.room_open_minutes,
                )
            )
        fields["room_open_minutes"] = edit.room_open_minutes
    if edit.room_close_minutes is not None:
        if not 0 <= edit.room_close_minutes <= ROOM_CLOSE_MAX:
            raise UserFacingError(
                Msg(
                    "`room_close_minutes` goes from 0 to {most} minutes after the end; you gave "
                    "{value}.",
                    most=ROOM_CLOSE_MAX,
                    value=edit.room_close_minutes,
                )
            )
        fields["room_close_minutes"] = edit.room_close_minutes
    if edit.clear_chat is not None:
        fields["room_clear_chat"] = edit.clear_chat
    add = edit.add_facilitator
    remove = edit.remove_facilitator
    if add is not None and remove is not None and add == remove:
        raise UserFacingError(Msg("Add and remove the same person? Give only one of the two."))
    if add is not None:
        if add in meeting.facilitator_ids:
            raise UserFacingError(Msg("That person is already a facilitator of this meeting."))
        if not edit.add_facilitator_eligible:
            raise UserFacingError(
                Msg(
                    "Facilitators must hold the facilitator role (see `/setup roles`). Ask a "
                    "moderator to give them the role first, then add them again."
                )
            )
    if remove is not None and remove not in meeting.facilitator_ids:
        raise UserFacingError(Msg("That person is not a facilitator of this meeting."))
    return fields


def move_request(
    edit: MeetingEdit, occurrence: str | None, move_to: str | None
) -> tuple[str, str] | None:
    """The occurrence and new start of a move asked with /meeting edit; None if none is asked."""
    if occurrence is None and move_to is None:
        return None
    if occurrence is None or move_to is None:
        raise UserFacingError(
            Msg(
                "To move one occurrence, give both `occurrence` (its date) and `move_to` "
                "(the new local `YYYY-MM-DD HH:MM`)."
            )
        )
    if not edit.is_empty():
        raise UserFacingError(
            Msg(
                "Move an occurrence on its own: give only `meeting`, `occurrence` and "
                "`move_to`, then change other fields in a second edit."
            )
        )
    return occurrence, move_to
