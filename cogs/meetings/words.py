"""The words of /meeting's answers, change notices and mod-log entries, in the current locale.

Answers render in the reader's language; notices inside ``use_locale(meeting.language)`` and
mod-log entries in the server's (``cogs.meetings.notices`` makes each current).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from bot.i18n_format import format_list, full_date, occurrence_words, zone_label
from bot.occurrences import Occurrence
from bot.services.meetings import Meeting, access_label, describe_repeat, field_label
from cogs._kit import escape, ts, ts_pair
from cogs._kit.i18n import N_, _
from cogs.meetings.render import meeting_name

# Mod-log titles (translated by cogs.meetings.notices.modlog, in the server's language).
SCHEDULED = N_("Meeting scheduled")
EDITED = N_("Meeting edited")
MOVED = N_("Meeting occurrence moved")
RESTORED = N_("Meeting occurrence restored")
CANCELLED = N_("Meeting occurrence cancelled")
PAUSED = N_("Meeting paused")
RESUMED = N_("Meeting resumed")
DELETED = N_("Meeting deleted")


def scheduled_answer() -> str:
    """The answer to /meeting schedule."""
    return _("Scheduled. Set reminders, opening text or co-facilitators with `/meeting edit`.")


def scheduled_details(meeting: Meeting) -> dict[str, str]:
    """The mod-log details of a new meeting: its schedule and who it is for."""
    return {"schedule": describe_repeat(meeting), "who": access_label(meeting)}


def no_meetings(*, mine: bool) -> str:
    """The answer to /meeting list when there is nothing to list."""
    if mine:
        return _("No meetings that your roles let you join are scheduled in this server.")
    return _("No meetings are scheduled in this server.")


def changed_fields(changed: Iterable[str]) -> str:
    """The changed fields as a list, e.g. 'title and time zone'."""
    return format_list(field_label(name) for name in changed)


def saved(changed: Iterable[str]) -> str:
    """The answer to an edit."""
    return _("Saved: {fields}.").format(fields=changed_fields(changed))


def schedule_notice(meeting: Meeting, next_start: datetime | None) -> str:
    """The notice of a new schedule, with the next date."""
    name, rule = meeting_name(meeting), describe_repeat(meeting)
    if next_start is None:
        return _("🕒 {meeting} has a new schedule: {schedule}.").format(meeting=name, schedule=rule)
    return _("🕒 {meeting} has a new schedule: {schedule}. Next: {when}.").format(
        meeting=name, schedule=rule, when=ts_pair(next_start)
    )


def occurrence_was(old: Occurrence | None, key: date) -> str:
    """When an occurrence was to meet: its timestamp, or its date when it is no longer listed."""
    return ts(old.start, "F") if old is not None else full_date(key)


def moved_answer(old: Occurrence | None, moved: Occurrence) -> str:
    """The answer to a move."""
    return _("Moved the meeting of {was} to {when}.").format(
        was=occurrence_was(old, moved.key), when=ts_pair(moved.start)
    )


def moved_notice(meeting: Meeting, old: Occurrence | None, moved: Occurrence) -> str:
    """The notice of a move, with the new wall time at home."""
    home = _("{when} in {zone}").format(
        when=occurrence_words(moved.local_start), zone=zone_label(meeting.timezone)
    )
    return _("📅 {meeting}: the meeting of {was} moves to {when} ({home}).").format(
        meeting=meeting_name(meeting),
        was=occurrence_was(old, moved.key),
        when=ts_pair(moved.start),
        home=home,
    )


def restored_answer(key: date) -> str:
    """The answer to a restore."""
    return _("Restored the meeting of {date}.").format(date=full_date(key))


def cancelled_answer(gone: Occurrence | None, key: date) -> str:
    """The answer to a cancellation."""
    return _("Cancelled the meeting of {when}.").format(when=occurrence_was(gone, key))


def paused_answer(until: date, next_start: datetime | None) -> str:
    """The answer to a pause."""
    if next_start is None:
        return _("Paused until {date}.").format(date=full_date(until))
    return _("Paused until {date}. It meets again {when}.").format(
        date=full_date(until), when=ts_pair(next_start)
    )


def paused_notice(meeting: Meeting, until: date, next_start: datetime | None) -> str:
    """The notice of a pause."""
    name = meeting_name(meeting)
    if next_start is None:
        return _("⏸️ {meeting} is paused until {date}.").format(meeting=name, date=full_date(until))
    return _("⏸️ {meeting} is paused until {date}. It meets again {when}.").format(
        meeting=name, date=full_date(until), when=ts_pair(next_start)
    )


def resumed_answer(next_start: datetime | None) -> str:
    """The answer to a resume."""
    if next_start is None:
        return _("Resumed.")
    return _("Resumed. Next: {when}.").format(when=ts_pair(next_start))


def resumed_notice(meeting: Meeting, next_start: datetime | None) -> str:
    """The notice of a resume."""
    name = meeting_name(meeting)
    if next_start is None:
        return _("▶️ {meeting} meets again.").format(meeting=name)
    return _("▶️ {meeting} meets again. Next: {when}.").format(
        meeting=name, when=ts_pair(next_start)
    )


def delete_question(meeting: Meeting) -> str:
    """The confirmation asked before a deletion."""
    return _("Delete {meeting} and every future date? This cannot be undone.").format(
        meeting=meeting_name(meeting)
    )


def deleted_answer(meeting: Meeting, *, with_room: bool) -> str:
    """The answer once a meeting is deleted."""
    title = escape(meeting.title)
    if with_room:
        return _("Deleted **{title}** and its room.").format(title=title)
    return _("Deleted **{title}**.").format(title=title)


def deleted_notice(meeting: Meeting) -> str:
    """The notice of a deletion."""
    return _("🗑️ {meeting} has been removed from the schedule.").format(
        meeting=meeting_name(meeting)
    )


def deleted_details(*, with_room: bool) -> dict[str, str]:
    """The mod-log detail of a deletion: what happened to the room ("Room: deleted")."""
    return {"room": _("deleted") if with_room else _("kept")}
