"""Tests for the occurrence engine: DST transitions, rules, exceptions, and properties vs rrule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo, available_timezones

import pytest
from dateutil import rrule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.occurrences import (
    Occurrence,
    OccurrenceException,
    Repeat,
    Schedule,
    current_or_next,
    from_meeting_guide_day,
    is_scheduled_date,
    iso_weekday,
    localize,
    next_occurrences,
    next_starts,
    nth_weekday_of,
    occurrence_for_key,
    occurrences_between,
    scheduled_dates,
    to_meeting_guide_day,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def sched(
    zone: str,
    first: date,
    at: time,
    repeat: Repeat,
    duration: int = 60,
    paused_until: date | None = None,
    exceptions: dict[date, OccurrenceException] | None = None,
) -> Schedule:
    return Schedule(
        timezone=zone,
        first_date=first,
        start_time=at,
        repeat=repeat,
        duration_minutes=duration,
        paused_until=paused_until,
        exceptions=exceptions or {},
    )


def starts(occs: list[Occurrence]) -> list[datetime]:
    return [o.start for o in occs]


# --- DST transitions ------------------------------------------------------------------------


def test_new_york_weekly_keeps_local_time_across_spring_forward() -> None:
    s = sched("America/New_York", date(2027, 3, 7), time(19, 0), Repeat.WEEKLY)
    occs = next_occurrences(s, utc(2027, 3, 1), 3)
    assert starts(occs) == [utc(2027, 3, 8, 0), utc(2027, 3, 14, 23), utc(2027, 3, 21, 23)]
    assert all(o.local_start.time() == time(19, 0) for o in occs)
    assert [o.local_start.tzinfo for o in occs] == [NY] * 3
    assert [o.end - o.start for o in occs] == [timedelta(hours=1)] * 3


def test_new_york_weekly_keeps_local_time_across_fall_back() -> None:
    s = sched("America/New_York", date(2027, 3, 7), time(19, 0), Repeat.WEEKLY)
    occs = occurrences_between(s, utc(2027, 10, 25), utc(2027, 11, 15))
    assert starts(occs) == [utc(2027, 10, 31, 23), utc(2027, 11, 8, 0), utc(2027, 11, 15, 0)][:2]
    assert [o.key for o in occs] == [date(2027, 10, 31), date(2027, 11, 7)]
    assert all(o.local_start.replace(tzinfo=None).time() == time(19, 0) for o in occs)


def test_london_weekly_across_both_2027_transitions() -> None:
    s = sched("Europe/London", date(2027, 3, 21), time(18, 0), Repeat.WEEKLY, duration=90)
    spring = next_occurrences(s, utc(2027, 3, 20), 2)
    assert starts(spring) == [utc(2027, 3, 21, 18), utc(2027, 3, 28, 17)]
    autumn = occurrences_between(s, utc(2027, 10, 24), utc(2027, 11, 1))
    assert starts(autumn) == [utc(2027, 10, 24, 17), utc(2027, 10, 31, 18)]
    assert autumn[1].end == utc(2027, 10, 31, 19, 30)


def test_london_gap_and_overlap_times() -> None:
    # 01:30 is in London's gap on 2027-03-28 and ambiguous on 2027-10-31.
    gap = occurrence_for_key(
        sched("Europe/London", date(2027, 3, 28), time(1, 30), Repeat.ONCE), date(2027, 3, 28)
    )
    assert gap is not None
    assert gap.start == utc(2027, 3, 28, 1, 30)
    assert gap.local_start.replace(tzinfo=None) == datetime(2027, 3, 28, 2, 30)
    amb = occurrence_for_key(
        sched("Europe/London", date(2027, 10, 31), time(1, 30), Repeat.ONCE), date(2027, 10, 31)
    )
    assert amb is not None
    assert amb.start == utc(2027, 10, 31, 0, 30)  # BST, the first instance


def test_spring_forward_gap_moves_forward_by_the_gap() -> None:
    s = sched("America/New_York", date(2027, 3, 14), time(2, 30), Repeat.WEEKLY)
    occ = next_occurrences(s, utc(2027, 3, 1), 2)
    assert occ[0].key == date(2027, 3, 14)
    assert occ[0].local_start.replace(tzinfo=None) == datetime(2027, 3, 14, 3, 30)
    assert occ[0].start == utc(2027, 3, 14, 7, 30)
    assert occ[1].local_start.replace(tzinfo=None) == datetime(2027, 3, 21, 2, 30)
    assert occ[1].start == utc(2027, 3, 21, 6, 30)


def test_fall_back_ambiguous_time_is_first_instance_without_duplicate() -> None:
    s = sched("America/New_York", date(2027, 10, 31), time(1, 30), Repeat.WEEKLY)
    day = occurrences_between(s, utc(2027, 11, 7, 4), utc(2027, 11, 8, 5))
    assert len(day) == 1
    assert day[0].start == utc(2027, 11, 7, 5, 30)  # 01:30 EDT
    assert day[0].local_start.utcoffset() == timedelta(hours=-4)
    # Asking again just after the first 01:30 (and during the repeated hour) must not yield
    # the second 01:30 (06:30Z): the next one is a week later.
    for after in (utc(2027, 11, 7, 5, 30), utc(2027, 11, 7, 6, 0), utc(2027, 11, 7, 6, 30)):
        nxt = next_occurrences(s, after, 1)
        assert starts(nxt) == [utc(2027, 11, 14, 6, 30)]


def test_skipped_calendar_day_is_found_after_local_midnight() -> None:
    # Samoa skipped 2011-12-30 entirely (UTC-10 -> UTC+14). A Friday meeting keyed on the missing
    # day is moved forward by the gap, to Saturday 19:00, and must still be found from Saturday's
    # local midnight, even though its key is the day before.
    s = sched("Pacific/Apia", date(2011, 12, 2), time(19, 0), Repeat.WEEKLY)
    after = datetime(2011, 12, 31, 0, 30, tzinfo=ZoneInfo("Pacific/Apia"))
    occ = next_occurrences(s, after, 1)
    assert [o.key for o in occ] == [date(2011, 12, 30)]
    assert occ[0].local_start.replace(tzinfo=None) == datetime(2011, 12, 31, 19, 0)
    assert occ[0].start == utc(2011, 12, 31, 5)


def test_localize_policy() -> None:
    assert localize(datetime(2027, 3, 14, 2, 30), NY) == datetime(2027, 3, 14, 3, 30, tzinfo=NY)
    assert localize(datetime(2027, 3, 14, 2, 30), NY).astimezone(UTC) == utc(2027, 3, 14, 7, 30)
    first = localize(datetime(2027, 11, 7, 1, 30), NY)
    assert first.astimezone(UTC) == utc(2027, 11, 7, 5, 30)
    assert localize(datetime(2027, 6, 1, 19), NY).astimezone(UTC) == utc(2027, 6, 1, 23)
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # 30-minute DST
    assert localize(datetime(2027, 10, 3, 2, 15), lord_howe).replace(tzinfo=None) == datetime(
        2027, 10, 3, 2, 45
    )
    st_johns = ZoneInfo("America/St_Johns")
    assert localize(datetime(2027, 3, 14, 2, 30), st_johns).astimezone(UTC) == utc(2027, 3, 14, 6)
    with pytest.raises(ValueError):
        localize(datetime(2027, 3, 14, 2, 30, tzinfo=UTC), NY)


# --- rules ----------------------------------------------------------------------------------


def test_biweekly_is_anchored_on_first_date_across_53_week_year() -> None:
    # 2026 has 53 ISO weeks: ISO-week parity would fire on both 2026-12-28 (W53) and 2027-01-04 (W1).
    s = sched("America/Chicago", date(2026, 12, 21), time(20, 0), Repeat.BIWEEKLY)
    keys = [o.key for o in next_occurrences(s, utc(2026, 12, 1), 4)]
    assert keys == [date(2026, 12, 21), date(2027, 1, 4), date(2027, 1, 18), date(2027, 2, 1)]
    assert not is_scheduled_date(s, date(2026, 12, 28))
    many = [o.key for o in next_occurrences(s, utc(2026, 1, 1), 60)]
    assert all((b - a).days == 14 for a, b in zip(many, many[1:], strict=False))
    # Starting the search mid-stream lands on the same anchored dates.
    assert [o.key for o in next_occurrences(s, utc(2027, 6, 30), 2)] == [
        date(2027, 7, 5),
        date(2027, 7, 19),
    ]


def test_monthly_fifth_weekday_skips_months_without_one() -> None:
    s = sched("Europe/Berlin", date(2027, 1, 29), time(19, 0), Repeat.MONTHLY)  # 5th Friday
    assert nth_weekday_of(date(2027, 1, 29)) == 5
    keys = [o.key for o in next_occurrences(s, utc(2027, 1, 1), 5)]
    assert keys == [
        date(2027, 1, 29),
        date(2027, 4, 30),
        date(2027, 7, 30),
        date(2027, 10, 29),
        date(2027, 12, 31),
    ]
    assert not is_scheduled_date(s, date(2027, 2, 26))  # 4th Friday of February


def test_monthly_nth_weekday() -> None:
    s = sched("Asia/Kathmandu", date(2027, 2, 9), time(18, 15), Repeat.MONTHLY)  # 2nd Tuesday
    keys = [o.key for o in next_occurrences(s, utc(2027, 3, 20), 3)]
    assert keys == [date(2027, 4, 13), date(2027, 5, 11), date(2027, 6, 8)]
    assert next_occurrences(s, utc(2027, 3, 20), 1)[0].start == utc(2027, 4, 13, 12, 30)


def test_monthly_last_weekday() -> None:
    s = sched("America/New_York", date(2027, 1, 25), time(19, 0), Repeat.MONTHLY_LAST)
    keys = [o.key for o in next_occurrences(s, utc(2027, 1, 1), 5)]
    assert keys == [
        date(2027, 1, 25),
        date(2027, 2, 22),
        date(2027, 3, 29),
        date(2027, 4, 26),
        date(2027, 5, 31),
    ]
    # A first date that is not the last Monday: the first occurrence is that month's last Monday.
    s2 = sched("America/New_York", date(2027, 1, 11), time(19, 0), Repeat.MONTHLY_LAST)
    assert [o.key for o in next_occurrences(s2, utc(2026, 12, 1), 2)] == [
        date(2027, 1, 25),
        date(2027, 2, 22),
    ]
    assert not is_scheduled_date(s2, date(2027, 1, 11))


def test_once_yields_one_then_nothing() -> None:
    s = sched("UTC", date(2027, 5, 1), time(12, 0), Repeat.ONCE)
    assert starts(next_occurrences(s, utc(2027, 1, 1), 3)) == [utc(2027, 5, 1, 12)]
    assert next_occurrences(s, utc(2027, 5, 1, 12), 3) == []
    assert list(scheduled_dates(s, date(2027, 5, 2))) == []
    assert current_or_next(s, utc(2027, 5, 1, 12, 30)) is not None
    assert current_or_next(s, utc(2027, 5, 1, 13)) is None


def test_nothing_before_first_date() -> None:
    s = sched("UTC", date(2027, 5, 3), time(12, 0), Repeat.WEEKLY)
    assert next_occurrences(s, utc(2020, 1, 1), 1)[0].key == date(2027, 5, 3)
    assert not is_scheduled_date(s, date(2027, 4, 26))
    assert list(islice(scheduled_dates(s, date(2027, 5, 4)), 2)) == [
        date(2027, 5, 10),
        date(2027, 5, 17),
    ]


# --- exceptions and pause -------------------------------------------------------------------


def test_cancelled_occurrence_is_skipped() -> None:
    exc = {date(2027, 6, 8): OccurrenceException(cancelled=True, moved_to=None)}
    s = sched("Europe/London", date(2027, 6, 1), time(19, 0), Repeat.WEEKLY, exceptions=exc)
    keys = [o.key for o in next_occurrences(s, utc(2027, 6, 1), 3)]
    assert keys == [date(2027, 6, 1), date(2027, 6, 15), date(2027, 6, 22)]
    assert occurrence_for_key(s, date(2027, 6, 8)) is None
    assert [o.key for o in occurrences_between(s, utc(2027, 6, 7), utc(2027, 6, 14))] == []


def test_moved_occurrence_keeps_key_and_appears_at_new_time() -> None:
    moved_to = datetime(2027, 6, 9, 20, 0)  # Wednesday 20:00 instead of Tuesday 19:00
    exc = {date(2027, 6, 8): OccurrenceException(cancelled=False, moved_to=moved_to)}
    s = sched("Europe/London", date(2027, 6, 1), time(19, 0), Repeat.WEEKLY, exceptions=exc)
    occs = next_occurrences(s, utc(2027, 6, 2), 2)
    assert [o.key for o in occs] == [date(2027, 6, 8), date(2027, 6, 15)]
    assert occs[0].moved and not occs[1].moved
    assert occs[0].start == utc(2027, 6, 9, 19)
    assert occs[0].local_start.replace(tzinfo=None) == moved_to
    assert occurrence_for_key(s, date(2027, 6, 8)) == occs[0]
    # Once the moved occurrence has started, nothing else appears at the old time.
    assert [o.key for o in next_occurrences(s, utc(2027, 6, 8, 19), 1)] == [date(2027, 6, 8)]
    assert [o.key for o in next_occurrences(s, utc(2027, 6, 9, 19), 1)] == [date(2027, 6, 15)]


def test_moved_past_the_following_occurrence_is_ordered_and_not_lost() -> None:
    exc = {
        date(2027, 6, 8): OccurrenceException(cancelled=False, moved_to=datetime(2027, 6, 17, 19))
    }
    s = sched("America/New_York", date(2027, 6, 1), time(19, 0), Repeat.WEEKLY, exceptions=exc)
    occs = next_occurrences(s, utc(2027, 6, 2), 3)
    assert [o.key for o in occs] == [date(2027, 6, 15), date(2027, 6, 8), date(2027, 6, 22)]
    assert starts(occs) == sorted(starts(occs))
    # Searching from after the 15th still finds the occurrence moved to the 17th.
    assert [o.key for o in next_occurrences(s, utc(2027, 6, 16), 1)] == [date(2027, 6, 8)]
    # Moved earlier than "after": gone.
    assert date(2027, 6, 8) not in [o.key for o in next_occurrences(s, utc(2027, 6, 18), 3)]
    between = occurrences_between(s, utc(2027, 6, 14), utc(2027, 6, 19))
    assert [o.key for o in between] == [date(2027, 6, 15), date(2027, 6, 8)]


def test_moved_earlier_into_the_past_of_its_slot() -> None:
    exc = {
        date(2027, 6, 15): OccurrenceException(cancelled=False, moved_to=datetime(2027, 6, 5, 10))
    }
    s = sched("UTC", date(2027, 6, 1), time(19, 0), Repeat.WEEKLY, exceptions=exc)
    occs = next_occurrences(s, utc(2027, 6, 2), 3)
    assert [(o.key, o.start) for o in occs] == [
        (date(2027, 6, 15), utc(2027, 6, 5, 10)),
        (date(2027, 6, 8), utc(2027, 6, 8, 19)),
        (date(2027, 6, 22), utc(2027, 6, 22, 19)),
    ]


def test_exception_on_unscheduled_date_is_ignored() -> None:
    exc = {
        date(2027, 6, 9): OccurrenceException(cancelled=False, moved_to=datetime(2027, 6, 10, 19))
    }
    s = sched("UTC", date(2027, 6, 1), time(19, 0), Repeat.WEEKLY, exceptions=exc)
    assert [o.key for o in next_occurrences(s, utc(2027, 6, 2), 2)] == [
        date(2027, 6, 8),
        date(2027, 6, 15),
    ]


def test_paused_meeting_resumes_on_paused_until() -> None:
    exc = {
        date(2027, 6, 8): OccurrenceException(cancelled=False, moved_to=datetime(2027, 7, 1, 19))
    }
    s = sched(
        "Europe/Paris",
        date(2027, 6, 1),
        time(19, 0),
        Repeat.WEEKLY,
        paused_until=date(2027, 6, 29),
        exceptions=exc,
    )
    occs = next_occurrences(s, utc(2027, 5, 1), 2)
    assert [o.key for o in occs] == [date(2027, 6, 29), date(2027, 7, 6)]
    assert occs[0].start == utc(2027, 6, 29, 17)
    assert occurrences_between(s, utc(2027, 6, 1), utc(2027, 6, 29)) == []
    assert occurrence_for_key(s, date(2027, 6, 22)) is None
    assert occurrence_for_key(s, date(2027, 6, 8)) is None  # paused by its key, even if moved
    assert occurrence_for_key(s, date(2027, 6, 29)) == occs[0]


# --- queries --------------------------------------------------------------------------------


def test_occurrences_between_overlap_semantics() -> None:
    s = sched("UTC", date(2027, 6, 1), time(19, 0), Repeat.WEEKLY, duration=60)
    # In progress at the window start: included; starting exactly at the window end: excluded.
    assert [
        o.key for o in occurrences_between(s, utc(2027, 6, 1, 19, 30), utc(2027, 6, 8, 19))
    ] == [date(2027, 6, 1)]
    assert occurrences_between(s, utc(2027, 6, 1, 20), utc(2027, 6, 8, 19)) == []
    assert occurrences_between(s, utc(2027, 6, 2), utc(2027, 6, 1)) == []


def test_current_or_next() -> None:
    s = sched("UTC", date(2027, 6, 1), time(19, 0), Repeat.WEEKLY, duration=90)
    cur = current_or_next(s, utc(2027, 6, 8, 19))
    assert cur is not None and cur.key == date(2027, 6, 8)
    cur = current_or_next(s, utc(2027, 6, 8, 20, 29))
    assert cur is not None and cur.key == date(2027, 6, 8)
    nxt = current_or_next(s, utc(2027, 6, 8, 20, 30))
    assert nxt is not None and nxt.key == date(2027, 6, 15)


def test_naive_instants_are_rejected() -> None:
    s = sched("UTC", date(2027, 6, 1), time(19, 0), Repeat.WEEKLY)
    with pytest.raises(ValueError):
        next_occurrences(s, datetime(2027, 6, 1), 1)
    with pytest.raises(ValueError):
        Schedule("UTC", date(2027, 6, 1), time(19), Repeat.WEEKLY, -5)
    assert next_occurrences(s, utc(2027, 6, 1), 0) == []


def test_weekday_encodings() -> None:
    assert iso_weekday(date(2027, 6, 6)) == 7  # Sunday
    assert iso_weekday(date(2027, 6, 7)) == 1  # Monday
    assert [to_meeting_guide_day(i) for i in range(1, 8)] == [1, 2, 3, 4, 5, 6, 0]
    assert [from_meeting_guide_day(d) for d in range(7)] == [7, 1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError):
        to_meeting_guide_day(0)
    with pytest.raises(ValueError):
        from_meeting_guide_day(7)
    assert [nth_weekday_of(date(2027, 1, d)) for d in (1, 7, 8, 14, 15, 28, 29, 31)] == [
        1,
        1,
        2,
        2,
        3,
        4,
        5,
        5,
    ]


# --- properties -----------------------------------------------------------------------------

ODD_ZONES = [
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Asia/Kolkata",
    "Australia/Eucla",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Antarctica/Troll",
    "Europe/Dublin",
    "America/Santiago",
    "Asia/Tehran",
    "America/New_York",
    "Europe/London",
]
ALL_ZONES = sorted(available_timezones())
zones = st.one_of(st.sampled_from(ODD_ZONES), st.sampled_from(ALL_ZONES))
repeating = st.sampled_from([Repeat.WEEKLY, Repeat.BIWEEKLY, Repeat.MONTHLY, Repeat.MONTHLY_LAST])
first_dates = st.dates(min_value=date(1950, 1, 1), max_value=date(2080, 12, 31))
times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 45, 59]))
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_WD = [rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU]


def _rrule_for(s: Schedule) -> rrule.rrule:
    dtstart = datetime.combine(s.first_date, s.start_time)
    wd = _WD[s.first_date.weekday()]
    if s.repeat == Repeat.WEEKLY:
        return rrule.rrule(rrule.WEEKLY, dtstart=dtstart)
    if s.repeat == Repeat.BIWEEKLY:
        return rrule.rrule(rrule.WEEKLY, interval=2, dtstart=dtstart)
    if s.repeat == Repeat.MONTHLY:
        return rrule.rrule(
            rrule.MONTHLY, dtstart=dtstart, byweekday=wd(+nth_weekday_of(s.first_date))
        )
    return rrule.rrule(rrule.MONTHLY, dtstart=dtstart, byweekday=wd(-1))


def _in_gap(naive: datetime, tz: ZoneInfo) -> bool:
    """Independent gap test: in a gap the later reading (fold=1) has the larger UTC offset."""
    off0 = naive.replace(tzinfo=tz, fold=0).utcoffset()
    off1 = naive.replace(tzinfo=tz, fold=1).utcoffset()
    assert off0 is not None and off1 is not None
    return off1 > off0


@PROPS
@given(
    zone=zones,
    first=first_dates,
    at=times,
    repeat=repeating,
    after_days=st.integers(-60, 5 * 366),
    after_seconds=st.integers(0, 86_399),
    n=st.integers(1, 6),
)
def test_matches_rrule_in_naive_local_time(
    zone: str, first: date, at: time, repeat: Repeat, after_days: int, after_seconds: int, n: int
) -> None:
    tz = ZoneInfo(zone)
    s = sched(zone, first, at, repeat)
    after = datetime.combine(first, time(), tzinfo=UTC) + timedelta(
        days=after_days, seconds=after_seconds
    )
    got = next_occurrences(s, after, n)

    # Reference: rrule over naive local wall times, localised with the same policy, compared in UTC.
    expected: list[tuple[date, datetime]] = []
    horizon = (after.astimezone(tz) - timedelta(days=3)).replace(tzinfo=None)
    for naive in _rrule_for(s).xafter(horizon, inc=True):
        instant = localize(naive, tz).astimezone(UTC)
        if instant > after:
            expected.append((naive.date(), instant))
            if len(expected) == n:
                break
    assert [(o.key, o.start) for o in got] == expected

    # Invariants.
    assert len(got) == n
    assert all(o.start > after for o in got)
    assert all(a.start < b.start for a, b in zip(got, got[1:], strict=False))
    for o in got:
        assert o.start.tzinfo is UTC and o.end - o.start == timedelta(minutes=60)
        assert o.local_start.tzinfo is tz and o.local_start.astimezone(UTC) == o.start
        assert is_scheduled_date(s, o.key) and not o.moved
        naive = datetime.combine(o.key, at)
        wall = o.local_start.replace(tzinfo=None)
        if _in_gap(naive, tz):
            off0 = naive.replace(tzinfo=tz, fold=0).utcoffset()
            off1 = naive.replace(tzinfo=tz, fold=1).utcoffset()
            assert off0 is not None and off1 is not None
            assert wall == naive + (off1 - off0)
        else:
            assert wall == naive
            assert (
                o.local_start.fold == 0
                or o.local_start.utcoffset() == o.local_start.replace(fold=0).utcoffset()
            )
        assert occurrence_for_key(s, o.key) == o


@PROPS
@given(
    zone=zones,
    first=st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31)),
    at=times,
    repeat=repeating,
    after_days=st.integers(-30, 2 * 366),
)
def test_scheduled_dates_agree_with_is_scheduled_date(
    zone: str, first: date, at: time, repeat: Repeat, after_days: int
) -> None:
    s = sched(zone, first, at, repeat)
    start = first + timedelta(days=after_days)
    dates = list(islice(scheduled_dates(s, start), 4))
    assert all(d >= start and d >= first for d in dates)
    assert all(is_scheduled_date(s, d) for d in dates)
    lo = max(start, first)
    day = lo
    while day < dates[-1]:
        assert is_scheduled_date(s, day) == (day in dates)
        day += timedelta(days=1)


exceptions_st = st.dictionaries(
    keys=st.integers(0, 120),  # index of a scheduled date
    values=st.one_of(
        st.just(None),
        st.tuples(st.integers(-60 * 24 * 40, 60 * 24 * 40)),  # move by this many minutes
    ),
    max_size=6,
)


@PROPS
@given(
    zone=zones,
    first=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    at=times,
    repeat=st.sampled_from(list(Repeat)),
    raw_exceptions=exceptions_st,
    pause_days=st.one_of(st.none(), st.integers(-30, 300)),
    after_days=st.integers(-30, 400),
    after_seconds=st.integers(0, 86_399),
    n=st.integers(1, 5),
    duration=st.integers(0, 240),
)
def test_exceptions_and_pause_against_brute_force(
    zone: str,
    first: date,
    at: time,
    repeat: Repeat,
    raw_exceptions: dict[int, tuple[int] | None],
    pause_days: int | None,
    after_days: int,
    after_seconds: int,
    n: int,
    duration: int,
) -> None:
    base = sched(zone, first, at, repeat)
    keys = list(islice(scheduled_dates(base, first), 200))
    exceptions: dict[date, OccurrenceException] = {}
    for index, change in raw_exceptions.items():
        if index >= len(keys):
            continue
        key = keys[index]
        if change is None:
            exceptions[key] = OccurrenceException(cancelled=True, moved_to=None)
        else:
            moved_to = datetime.combine(key, at) + timedelta(minutes=change[0])
            exceptions[key] = OccurrenceException(cancelled=False, moved_to=moved_to)
    paused = None if pause_days is None else first + timedelta(days=pause_days)
    s = sched(
        zone, first, at, repeat, duration=duration, paused_until=paused, exceptions=exceptions
    )
    after = datetime.combine(first, time(), tzinfo=UTC) + timedelta(
        days=after_days, seconds=after_seconds
    )

    every = [o for o in (occurrence_for_key(s, k) for k in keys) if o is not None]
    every.sort(key=lambda o: (o.start, o.key))
    # Only trust the brute force up to where its key list surely covers all occurrences.
    if repeat == Repeat.ONCE:
        trusted_until = datetime.max.replace(tzinfo=UTC)
    else:
        trusted_until = datetime.combine(keys[-1], time(), tzinfo=UTC) - timedelta(days=45)

    got = next_occurrences(s, after, n)
    want = [o for o in every if o.start > after][:n]
    if not want or want[-1].start < trusted_until:
        assert got == want
    assert all(o.start > after for o in got)
    assert [(o.start, o.key) for o in got] == sorted((o.start, o.key) for o in got)

    window_end = after + timedelta(days=50)
    if window_end < trusted_until:
        between = occurrences_between(s, after, window_end)
        assert between == [o for o in every if o.start < window_end and o.end > after]
        current = current_or_next(s, after)
        in_progress = [o for o in every if o.start <= after < o.end]
        if in_progress:
            assert current == in_progress[0]
        elif want:
            assert current == want[0]


@PROPS
@given(
    zone=zones,
    first=first_dates,
    at=times,
    repeat=st.sampled_from(list(Repeat)),
    pause_days=st.one_of(st.none(), st.integers(-30, 300)),
    cancel=st.integers(0, 3),
    after_days=st.integers(-60, 5 * 366),
    after_seconds=st.integers(0, 86_399),
    after_zone=st.sampled_from(["UTC", "America/New_York", "Pacific/Chatham"]),
    n=st.integers(1, 5),
)
def test_next_starts_are_next_occurrences_keys_and_instants(
    zone: str,
    first: date,
    at: time,
    repeat: Repeat,
    pause_days: int | None,
    cancel: int,
    after_days: int,
    after_seconds: int,
    after_zone: str,
    n: int,
) -> None:
    """The planner's fast path gives the same occurrences, by the same DST policy."""
    keys = list(islice(scheduled_dates(sched(zone, first, at, repeat), first), 4))
    exceptions = {keys[cancel]: OccurrenceException(cancelled=True)} if cancel < len(keys) else {}
    paused = None if pause_days is None else first + timedelta(days=pause_days)
    after = (
        datetime.combine(first, time(), tzinfo=UTC)
        + timedelta(days=after_days, seconds=after_seconds)
    ).astimezone(ZoneInfo(after_zone))
    for s in (
        sched(zone, first, at, repeat, paused_until=paused),
        sched(zone, first, at, repeat, paused_until=paused, exceptions=exceptions),
    ):
        want = [(o.key, int(o.start.timestamp())) for o in next_occurrences(s, after, n)]
        assert next_starts(s, after, n) == want


def test_next_starts_in_new_yorks_gap_and_fold() -> None:
    """02:30 on the spring-forward day is 03:30 EDT; 01:30 at fall-back is the first (EDT) one."""
    spring = sched("America/New_York", date(2027, 3, 14), time(2, 30), Repeat.WEEKLY)
    fall = sched("America/New_York", date(2027, 11, 7), time(1, 30), Repeat.WEEKLY)
    assert next_starts(spring, utc(2027, 3, 13), 1) == [
        (date(2027, 3, 14), int(utc(2027, 3, 14, 7, 30).timestamp()))
    ]
    assert next_starts(fall, utc(2027, 11, 6), 1) == [
        (date(2027, 11, 7), int(utc(2027, 11, 7, 5, 30).timestamp()))
    ]
