"""Hostile input for the bad-input tests: hypothesis strategies and the error-message contract.

Shared by tests/unit/test_bad_input_parsers.py (every parser) and
tests/e2e/test_bad_input_commands.py (every command option through the fake Discord).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from hypothesis import strategies as st

from bot.parsing import all_timezones

#: The longest slice of the input an error message may repeat (parsers quote at most 40).
ECHO_MAX = 40
#: An error message is a sentence or two, never a wall of text.
MESSAGE_MAX_LEN = 600

# --- building blocks of hostile input ---------------------------------------------------------

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"]
BIDI = [
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
    "\u200e",
    "\u200f",
    "\u061c",
]
CONTROL = [*(chr(c) for c in range(0x00, 0x20)), "\x7f", *(chr(c) for c in range(0x80, 0xA0))]
SEPARATORS = ["\u2028", "\u2029"]
INVISIBLE = set(ZERO_WIDTH) | set(BIDI) | set(SEPARATORS)
MARKDOWN = [
    "**bold**",
    "__under__",
    "~~strike~~",
    "*i*",
    "_i_",
    "`code`",
    "```py\nblock\n```",
    "> quote",
    "# Heading",
    "-# small",
    "[click](https://evil.example/x)",
    "||spoiler||",
    "\\",
    "*",
    "_",
    "`",
    "~",
    "|",
    ">",
]
MENTIONS = [
    "@everyone",
    "@here",
    "@EVERYONE",
    "<@&1>",
    "<@!1>",
    "<@1>",
    "<#1>",
    "<@&123456789012345678>",
    "</meeting list:1>",
    "<t:0:R>",
    "<:emoji:1>",
]
URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript://example.org/%0aalert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "http://example.org",
    "https://example.org",
    "https://example.org/" + "a" * 520,
    "https://exämple.org/page",
    "https://xn--exmple-cua.org/page",
    "https://пример.рф/",
    "https://\u0430pple.com/",
    "https://user:pw@example.org/",
    "https://example.org:8443/",
    "https://example.org:99999/",
    "https://[::1]/",
    "https://127.0.0.1/",
    "https://localhost/",
    "https://example/",
    "ftp://example.org/",
    "https://",
    "//example.org/x",
    "https://example.org/<@&1>",
    "https://example.org/\u200b",
    "https://exa mple.org/",
    "https://example.org/\x00",
    "https://" + "a" * 64 + ".org/",
    "https://" + ".".join(["a" * 60] * 5) + ".org/",
]
TIMES = [
    "2027-01-12 19:00",
    "2027-01-12T19:00",
    "2027-1-2 7:05",
    "2027-02-29 10:00",
    "2028-02-29 10:00",
    "2027-13-01 10:00",
    "2027-01-32 10:00",
    "2027-01-12 24:00",
    "2027-01-12 23:60",
    "0001-01-01 00:00",
    "9999-12-31 23:59",
    "2027-03-14 02:30",  # inside New York's spring-forward gap
    "2027-11-07 01:30",  # New York's fall-back fold
    "next tuesday 7pm",
    "19:00",
    "2027-01-12",
    "２０２７-01-12 19:00",  # full-width digits
    "2027-01-12 19:00 \u202e",
    "-1-01-01 00:00",
]
ZONES = [
    "America/New_York",
    "america/new_york",
    " Europe/London ",
    "europe london",
    "UTC",
    "utc",
    "EST",
    "EST5EDT",
    "UTC+2",
    "GMT-5",
    "localtime",
    "Factory",
    "posixrules",
    "../../etc/passwd",
    "America/New_York\x00",
    "America/\u200bNew_York",
    "Mars/Olympus_Mons",
    "/",
    "",
]
LONG = [
    "x" * 4000,
    "é" * 4000,
    "e\u0301" * 2000,
    "\u200b" * 4000,
    "@everyone " * 400,
    "🙂" * 4000,
    "**" * 2000,
    "<@&1>" * 800,
    "a\n" * 2000,
]
PIECES = [*ZERO_WIDTH, *BIDI, *CONTROL, *SEPARATORS, *MARKDOWN, *MENTIONS, *URLS[:6], " ", "`"]


def assembled() -> st.SearchStrategy[str]:
    return st.lists(
        st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), min_size=1, max_size=10
    ).map("".join)


def repeated() -> st.SearchStrategy[str]:
    return st.builds(
        lambda piece, n: (piece * n)[:4000],
        st.sampled_from([*PIECES, "word ", "ü"]),
        st.integers(1, 4000),
    )


#: Free text a hostile or careless person might type into any text option.
NASTY_TEXT: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=80),
    st.sampled_from([*MARKDOWN, *MENTIONS, *URLS, *TIMES, *ZONES, *LONG]),
    assembled(),
    repeated(),
)
#: Text that is plausible for the field, made hostile by an inserted piece.
SPICED = st.builds(
    lambda base, piece, at: base[:at] + piece + base[at:],
    st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "Zs"]), max_size=30),
    st.sampled_from(PIECES),
    st.integers(0, 30),
)


def times() -> st.SearchStrategy[str]:
    structured = st.builds(
        lambda y, mo, d, h, mi, sep: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}",
        st.integers(0, 9999),
        st.integers(0, 14),
        st.integers(0, 33),
        st.integers(0, 25),
        st.integers(0, 61),
        st.sampled_from([" ", "T", "  ", "t"]),
    )
    real = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda dt: dt.strftime("%Y-%m-%d %H:%M")
    )
    return st.one_of(st.sampled_from(TIMES), structured, real, NASTY_TEXT)


def dates() -> st.SearchStrategy[str]:
    structured = st.builds(
        lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
    )
    real = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
    return st.one_of(
        structured, real, st.sampled_from(["2027-1-5", "20270105", "tomorrow"]), NASTY_TEXT
    )


def zones() -> st.SearchStrategy[str]:
    real = st.sampled_from(all_timezones())
    mangled = st.builds(
        lambda name, how: {
            0: name.lower(),
            1: name.upper(),
            2: name.replace("_", " "),
            3: f" {name} ",
        }[how],
        real,
        st.integers(0, 3),
    )
    return st.one_of(real, mangled, st.sampled_from(ZONES), NASTY_TEXT)


def offsets() -> st.SearchStrategy[str]:
    part = st.builds(
        lambda n, unit, space: f"{n}{' ' if space else ''}{unit}",
        st.integers(-5, 99999),
        st.sampled_from(
            ["m", "h", "d", "min", "mins", "minutes", "hour", "days", "w", "s", "", "M"]
        ),
        st.booleans(),
    )
    listed = st.lists(part, min_size=1, max_size=8).map(",".join)
    return st.one_of(
        listed, st.sampled_from(["24h,15m", "", ",", "15m,,1h", "default"]), NASTY_TEXT
    )


NUMBERS = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.sampled_from([0, -1, 1, 4, 5, 600, 601, 2**31, -(2**31), 2**53 - 1]),
)

# --- the contract ------------------------------------------------------------------------------


def assert_specific_message(message: str, *typed: object) -> None:
    """Short, not empty, no hidden characters, and repeats at most ECHO_MAX chars of any input."""
    assert message.strip(), "an empty error message"
    assert len(message) <= MESSAGE_MAX_LEN, f"a {len(message)}-character error message"
    assert "Something went wrong" not in message
    for ch in message:
        assert ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"), (
            f"the message carries an invisible character U+{ord(ch):04X}"
        )
    for value in typed:
        if not isinstance(value, str) or len(value) <= ECHO_MAX:
            continue
        for i in range(len(value) - ECHO_MAX):
            window = value[i : i + ECHO_MAX + 1]
            assert window not in message, f"the message repeats {len(window)}+ typed characters"


#: What could ping someone: @everyone, @here, a user or a role mention.
PING = re.compile(r"@(everyone|here)|<@[!&]?\d+>")
