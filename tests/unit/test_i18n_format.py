"""Golden Spanish (and English) for dates, times, durations, lists, zones and every repeat rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot import i18n
from bot.i18n import use_locale
from bot.i18n_format import (
    day_and_month,
    duration,
    format_list,
    full_date,
    occurrence_words,
    repeat_phrase,
    schedule_phrase,
    time_of_day,
    weekday,
    zone_label,
)
from bot.occurrences import Repeat, Schedule, next_occurrences

# New York springs forward on 8 March 2026: 19:00 at home is 00:00Z before and 23:00Z after.
NEW_YORK = "America/New_York"
RULES = {
    Repeat.ONCE: date(2026, 3, 6),
    Repeat.WEEKLY: date(2026, 3, 3),
    Repeat.BIWEEKLY: date(2026, 2, 24),
    Repeat.MONTHLY: date(2026, 2, 10),
    Repeat.MONTHLY_LAST: date(2026, 2, 27),
}
GOLDEN = {
    (Repeat.ONCE, "en"): (
        "Once, on Friday, March 6, 2026 at 19:00 (New York)",
        ["Friday, March 6, 19:00"],
    ),
    (Repeat.ONCE, "es"): (
        "Una sola vez, el viernes, 6 de marzo de 2026 a las 19:00 (Nueva York)",
        ["viernes 6 de marzo, 19:00"],
    ),
    (Repeat.WEEKLY, "en"): (
        "Every Tuesday at 19:00 (New York)",
        ["Tuesday, March 3, 19:00", "Tuesday, March 10, 19:00", "Tuesday, March 17, 19:00"],
    ),
    (Repeat.WEEKLY, "es"): (
        "Cada martes a las 19:00 (Nueva York)",
        ["martes 3 de marzo, 19:00", "martes 10 de marzo, 19:00", "martes 17 de marzo, 19:00"],
    ),
    (Repeat.BIWEEKLY, "en"): (
        "Every other Tuesday at 19:00 (New York)",
        ["Tuesday, February 24, 19:00", "Tuesday, March 10, 19:00", "Tuesday, March 24, 19:00"],
    ),
    (Repeat.BIWEEKLY, "es"): (
        "Un martes sí y otro no a las 19:00 (Nueva York)",
        ["martes 24 de febrero, 19:00", "martes 10 de marzo, 19:00", "martes 24 de marzo, 19:00"],
    ),
    (Repeat.MONTHLY, "en"): (
        "The second Tuesday of every month at 19:00 (New York)",
        ["Tuesday, February 10, 19:00", "Tuesday, March 10, 19:00", "Tuesday, April 14, 19:00"],
    ),
    (Repeat.MONTHLY, "es"): (
        "El segundo martes de cada mes a las 19:00 (Nueva York)",
        ["martes 10 de febrero, 19:00", "martes 10 de marzo, 19:00", "martes 14 de abril, 19:00"],
    ),
    (Repeat.MONTHLY_LAST, "en"): (
        "The last Friday of every month at 19:00 (New York)",
        ["Friday, February 27, 19:00", "Friday, March 27, 19:00", "Friday, April 24, 19:00"],
    ),
    (Repeat.MONTHLY_LAST, "es"): (
        "El último viernes de cada mes a las 19:00 (Nueva York)",
        [
            "viernes 27 de febrero, 19:00",
            "viernes 27 de marzo, 19:00",
            "viernes 24 de abril, 19:00",
        ],
    ),
}


@pytest.fixture(autouse=True)
def shipped_catalogue() -> None:
    """The committed catalogues (another test may have loaded its own)."""
    i18n.load()


@pytest.mark.parametrize(("rule", "language"), sorted(GOLDEN, key=str))
def test_every_repeat_rule_in_words_across_the_spring_dst_change(
    rule: Repeat, language: str
) -> None:
    first = RULES[rule]
    schedule = Schedule(NEW_YORK, first, time(19, 0), rule, 60)
    occurrences = next_occurrences(schedule, datetime(2026, 2, 1, tzinfo=UTC), 3)
    phrase, days = GOLDEN[(rule, language)]
    assert schedule_phrase(rule, first, time(19, 0), NEW_YORK, language) == phrase
    assert [occurrence_words(o.local_start, language) for o in occurrences] == days
    if len(occurrences) > 1:  # the same home time is a different UTC time after the change
        assert [o.start.hour for o in occurrences] == [0, 23, 23]


def test_fall_back_in_madrid_keeps_the_home_time() -> None:
    schedule = Schedule("Europe/Madrid", date(2026, 10, 18), time(9, 30), Repeat.WEEKLY, 60)
    occurrences = next_occurrences(schedule, datetime(2026, 10, 1, tzinfo=UTC), 2)
    assert [occurrence_words(o.local_start, "es") for o in occurrences] == [
        "domingo 18 de octubre, 9:30",
        "domingo 25 de octubre, 9:30",
    ]
    assert [o.start.hour for o in occurrences] == [7, 8]
    assert schedule_phrase(
        Repeat.WEEKLY, date(2026, 10, 18), time(9, 30), "Europe/Madrid", "es"
    ) == ("Cada domingo a las 9:30 (Madrid)")


def test_every_nth_weekday_and_the_hour_of_one() -> None:
    words = [repeat_phrase(Repeat.MONTHLY, date(2026, 1, day), "es") for day in (1, 8, 15, 22, 29)]
    assert words == [
        "El primer jueves de cada mes",
        "El segundo jueves de cada mes",
        "El tercer jueves de cada mes",
        "El cuarto jueves de cada mes",
        "El quinto jueves de cada mes (los meses que no lo tienen se saltan)",
    ]
    assert repeat_phrase(Repeat.MONTHLY, date(2026, 1, 29), "en") == (
        "The fifth Thursday of every month (months without one are skipped)"
    )
    assert schedule_phrase(
        Repeat.WEEKLY, date(2026, 12, 1), time(1, 30), "America/Bogota", "es"
    ) == ("Cada martes a la 1:30 (Bogotá)")
    assert schedule_phrase(
        Repeat.WEEKLY, date(2026, 12, 1), time(0, 15), "America/Bogota", "es"
    ) == ("Cada martes a las 0:15 (Bogotá)")


@pytest.mark.parametrize("zone", ["America/Mexico_City", "America/Bogota"])
@pytest.mark.parametrize("language", ["es", "en"])
def test_zones_without_dst_are_named_by_city_never_summer_time(zone: str, language: str) -> None:
    label = zone_label(zone, language)
    assert "verano" not in label.lower() and "summer" not in label.lower()
    expected = {
        ("America/Mexico_City", "es"): "Ciudad de México",
        ("America/Mexico_City", "en"): "Mexico City",
        ("America/Bogota", "es"): "Bogotá",
        ("America/Bogota", "en"): "Bogotá",
    }
    assert label == expected[(zone, language)]
    december = schedule_phrase(Repeat.WEEKLY, date(2026, 12, 1), time(19, 0), zone, language)
    assert "verano" not in december and "Summer" not in december


def test_zone_labels_fall_back_to_the_iana_id() -> None:
    assert zone_label("Nowhere/Atlantis", "es") == "Nowhere/Atlantis"
    assert zone_label("UTC", "es") == "UTC"
    assert zone_label("America/Los_Angeles", "es") == "Los Ángeles"


def test_durations_lists_weekdays_dates_and_times() -> None:
    assert [duration(m, "es") for m in (45, 60, 90, 120)] == [
        "45 minutos",
        "1 hora",
        "1 hora y 30 minutos",
        "2 horas",
    ]
    assert [duration(m, "en") for m in (1, 90)] == ["1 minute", "1 hour and 30 minutes"]
    items = ["orador", "discusión", "estudio de pasos"]
    assert format_list(items, "es") == "orador, discusión y estudio de pasos"
    assert format_list(["speaker", "discussion", "step study"], "en") == (
        "speaker, discussion, and step study"
    )
    assert [weekday(d, "es") for d in range(1, 8)] == [
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
        "domingo",
    ]
    assert weekday(2, "en") == "Tuesday"
    assert day_and_month(date(2026, 12, 1), "es") == "martes 1 de diciembre"
    assert full_date(date(2026, 12, 1), "es") == "martes, 1 de diciembre de 2026"
    assert time_of_day(time(7, 5), "en") == "07:05"
    assert time_of_day(time(7, 5), "es") == "7:05"


def test_the_current_locale_is_the_default() -> None:
    assert weekday(5) == "Friday"
    with use_locale("es-419"):
        assert weekday(5) == "viernes"
        assert repeat_phrase(Repeat.MONTHLY_LAST, date(2026, 2, 27)) == (
            "El último viernes de cada mes"
        )
