"""Dates, weekdays, times, durations, lists, zones and repeat rules in the reader's language.

Babel (CLDR) does the words; the phrases around them are catalogue messages. Moments people act
on stay Discord timestamps (``<t:…>``), which every client shows in its own language and zone;
these helpers are for the rest: a meeting's rule and home time, headings, durations, lists.

Zones are named by city ("Ciudad de México", "Bogotá"): CLDR's Spanish zone names call zones
without DST "hora de verano" all year (measured, Babel 2.19), so they are never used.
Every function takes an optional ``locale``; by default the current one (``bot.i18n``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from babel.core import Locale
from babel.dates import format_date, format_datetime, get_day_names, get_timezone_location
from babel.lists import format_list as babel_list
from babel.units import format_unit

from bot.i18n import N_, _, current_locale, ngettext, resolve, use_locale
from bot.occurrences import Repeat, nth_weekday_of, zone

# The CLDR locale whose rules each catalogue language formats with (neutral Latin American).
BABEL_LOCALES = {"en": "en", "es": "es_419"}
# Weekday with day and month, no year: "Tuesday, March 10" / "martes 10 de marzo".
_DAY_MONTH = {"en": "EEEE, MMMM d", "es": "EEEE d 'de' MMMM"}
# Home times on a 24-hour clock in both languages ("19:00"); Spanish drops the leading zero
# ("a la 1:30"), English keeps it as Haven always has.
_TIME = {"en": "HH:mm", "es": "H:mm"}

_NTH_WEEKDAY = {
    1: N_("The first {weekday} of every month"),
    2: N_("The second {weekday} of every month"),
    3: N_("The third {weekday} of every month"),
    4: N_("The fourth {weekday} of every month"),
    5: N_("The fifth {weekday} of every month (months without one are skipped)"),
}


def _language(locale: object) -> str:
    return current_locale.get() if locale is None else resolve(locale)


@lru_cache(maxsize=8)
def babel_locale(language: str) -> Locale:
    """The parsed Babel locale for a catalogue language ("en" or "es")."""
    return Locale.parse(BABEL_LOCALES.get(language, "en"))


def weekday(iso: int, locale: object = None) -> str:
    """A weekday's name (ISO: Monday = 1), e.g. "Tuesday" / "martes"."""
    return get_day_names("wide", locale=babel_locale(_language(locale)))[iso - 1]


def time_of_day(value: time | datetime, locale: object = None) -> str:
    """A wall time as written in that language, e.g. "19:00" (of an aware datetime: its own)."""
    language = _language(locale)
    return format_datetime(
        value if isinstance(value, datetime) else datetime.combine(date(2000, 1, 1), value),
        _TIME.get(language, _TIME["en"]),
        locale=babel_locale(language),
    )


def day_and_month(day: date, locale: object = None) -> str:
    """A date as a heading, e.g. "Tuesday, March 10" / "martes 10 de marzo"."""
    language = _language(locale)
    return format_date(day, _DAY_MONTH.get(language, _DAY_MONTH["en"]), babel_locale(language))


def full_date(day: date, locale: object = None) -> str:
    """A date with its year, e.g. "Tuesday, March 10, 2026" / "martes, 10 de marzo de 2026"."""
    return format_date(day, "full", locale=babel_locale(_language(locale)))


def format_list(items: Iterable[str], locale: object = None) -> str:
    """Items joined as the language does, e.g. "a, b, and c" / "a, b y c"."""
    return babel_list(list(items), locale=babel_locale(_language(locale)))


def duration(minutes: int, locale: object = None) -> str:
    """A duration exact to the minute: "1 hour and 30 minutes" / "1 hora y 30 minutos"."""
    language = _language(locale)
    where = babel_locale(language)
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(format_unit(hours, "duration-hour", length="long", locale=where))
    if rest or not hours:
        parts.append(format_unit(rest, "duration-minute", length="long", locale=where))
    return babel_list(parts, locale=where)


def timedelta_words(delta: timedelta, locale: object = None) -> str:
    """A timedelta in whole minutes as words (see ``duration``)."""
    return duration(int(delta.total_seconds() // 60), locale)


def zone_label(timezone: str, locale: object = None) -> str:
    """A zone by its city ("Mexico City" / "Ciudad de México"); the IANA id when it has none."""
    return _zone_label(timezone, _language(locale))


@lru_cache(maxsize=4096)
def _zone_label(timezone: str, language: str) -> str:
    try:
        zone(timezone)
    except (KeyError, ValueError, OSError):
        return timezone
    city = get_timezone_location(timezone, locale=babel_locale(language), return_city=True)
    return city or timezone


def repeat_phrase(repeat: Repeat, first_date: date, locale: object = None) -> str:
    """A repeat rule in words, e.g. "The last Friday of every month" / "El último viernes de cada mes"."""
    with use_locale(_language(locale)) as language:
        day = weekday(first_date.isoweekday(), language)
        if repeat is Repeat.ONCE:
            return _("Once, on {date}").format(date=full_date(first_date, language))
        if repeat is Repeat.WEEKLY:
            return _("Every {weekday}").format(weekday=day)
        if repeat is Repeat.BIWEEKLY:
            return _("Every other {weekday}").format(weekday=day)
        if repeat is Repeat.MONTHLY:
            return _(_NTH_WEEKDAY[nth_weekday_of(first_date)]).format(weekday=day)
        return _("The last {weekday} of every month").format(weekday=day)


def schedule_phrase(
    repeat: Repeat, first_date: date, start: time, timezone: str, locale: object = None
) -> str:
    """Rule, home time and zone: "Every Tuesday at 19:00 (New York)"."""
    with use_locale(_language(locale)) as language:
        # A plural on the hour: Spanish says "a la 1:00" but "a las 19:00" (English: one form).
        template = ngettext("{rule} at {time} ({zone})", "{rule} at {time} ({zone})", start.hour)
        return template.format(
            rule=repeat_phrase(repeat, first_date, language),
            time=time_of_day(start, language),
            zone=zone_label(timezone, language),
        )


def occurrence_words(local_start: datetime, locale: object = None) -> str:
    """An occurrence at home: its date and wall time, e.g. "Tuesday, March 10, 19:00"."""
    with use_locale(_language(locale)) as language:
        return _("{day}, {time}").format(
            day=day_and_month(local_start.date(), language),
            time=time_of_day(local_start, language),
        )
