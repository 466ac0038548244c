"""Parsers of user input: each bad value gets a specific message."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import UserFacingError
from bot.parsing import (
    all_timezones,
    clean_text,
    contains_mention,
    format_offsets,
    parse_date,
    parse_local_datetime,
    parse_offsets,
    parse_region,
    parse_timezone,
)


def test_timezone_accepts_iana_names_case_insensitively() -> None:
    assert parse_timezone("america/new_york") == "America/New_York"
    assert parse_timezone(" Europe/London ") == "Europe/London"
    assert parse_timezone("UTC") == "UTC"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "EST5EDT/x", "localtime", "../etc/passwd"])
def test_timezone_rejects_unknown(bad: str) -> None:
    with pytest.raises(UserFacingError, match="not a time zone I know"):
        parse_timezone(bad)


def test_offsets_parse_and_sort() -> None:
    assert parse_offsets("24h,15m") == [1440, 15]
    assert parse_offsets("15m, 1d, 90m, 15 minutes") == [1440, 90, 15]
    assert format_offsets(parse_offsets("2d,1h,5m")) == "2d,1h,5m"


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("-5m", "not a reminder offset"),
        ("abc", "not a reminder offset"),
        ("", "comma-separated"),
        ("15m,,1h", "comma-separated"),
        ("0m", "out of range"),
        ("15d", "out of range"),
        ("1m,2m,3m,4m,5m,6m", "At most 5"),
    ],
)
def test_offsets_reject_bad_input(bad: str, fragment: str) -> None:
    with pytest.raises(UserFacingError, match=fragment):
        parse_offsets(bad)


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_offsets_never_crash(text: str) -> None:
    try:
        result = parse_offsets(text)
    except UserFacingError as exc:
        assert exc.message and len(exc.message) < 300
    else:
        assert result == sorted(set(result), reverse=True)
        assert all(1 <= m <= 14 * 1440 for m in result)


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_timezone_never_crashes(text: str) -> None:
    try:
        name = parse_timezone(text)
    except UserFacingError as exc:
        assert "`" in exc.message
    else:
        assert name in all_timezones()


def test_local_datetime() -> None:
    assert parse_local_datetime("2027-01-05 19:00") == datetime(2027, 1, 5, 19, 0)
    assert parse_local_datetime("2027-01-05T07:30") == datetime(2027, 1, 5, 7, 30)
    for bad in ("tomorrow", "2027-13-01 10:00", "2027-01-05", "19:00"):
        with pytest.raises(UserFacingError, match="YYYY-MM-DD HH:MM"):
            parse_local_datetime(bad)


def test_date_and_region() -> None:
    assert parse_date("2027-02-01").isoformat() == "2027-02-01"
    with pytest.raises(UserFacingError, match="YYYY-MM-DD"):
        parse_date("Feb 1")
    assert parse_region("uk") == "GB"
    assert parse_region("us") == "US"
    with pytest.raises(UserFacingError, match="Use one of"):
        parse_region("Mars")


def test_clean_text() -> None:
    assert clean_text("  hello  ", field="title", max_len=10) == "hello"
    with pytest.raises(UserFacingError, match="cannot be empty"):
        clean_text("   ", field="title", max_len=10)
    with pytest.raises(UserFacingError, match="limit is 10"):
        clean_text("x" * 11, field="title", max_len=10)
    with pytest.raises(UserFacingError, match="invisible or control"):
        clean_text("a\u200bb", field="title", max_len=10)
    with pytest.raises(UserFacingError, match="invisible or control"):
        clean_text("a\x07b", field="title", max_len=10)
    assert clean_text("a\nb", field="text", max_len=10, multiline=True) == "a\nb"


def test_contains_mention() -> None:
    assert contains_mention("hi @everyone")
    assert contains_mention("<@&123>")
    assert contains_mention("<@!42>")
    assert not contains_mention("email me at a@b.c")
