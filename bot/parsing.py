"""Parsers for what users type. Each raises UserFacingError saying what to type instead."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from bot.errors import UserFacingError
from bot.i18n import N_, SUPPORTED, Msg

MAX_OFFSETS = 5
MAX_OFFSET_MINUTES = 14 * 24 * 60

_OFFSET_PART = re.compile(r"^(\d{1,5})\s*(d|h|m|min|mins|minutes?|hours?|days?)$")
_UNIT_MINUTES = {"d": 1440, "h": 60, "m": 1}

# Unicode categories of characters that hide or reorder text (zero-width, bidi, separators).
_HIDDEN_CATEGORIES = frozenset({"Cf", "Cs", "Zl", "Zp"})
_MENTION = re.compile(r"<@[!&]?\d+>|<#\d+>|@(everyone|here)\b", re.IGNORECASE)

REGIONS: dict[str, str] = {  # names marked for translation; show them with _()
    "US": N_("United States"),
    "CA": N_("Canada"),
    "GB": N_("United Kingdom"),
    "IE": N_("Ireland"),
    "AU": N_("Australia"),
    "INTL": N_("Elsewhere / international"),
}
# The field names services pass to clean_text / parse_date, shown in the reader's language.
_FIELD_NAMES = frozenset(
    {
        N_("title"),
        N_("description"),
        N_("opening text"),
        N_("name"),
        N_("share"),
        N_("message"),
        N_("date"),
        N_("date to resume on"),
    }
)


def _field(name: str) -> str | Msg:
    """A field's name as a message parameter: translated when it is one of Haven's own."""
    return Msg.of(name) if name in _FIELD_NAMES else name


_REGION_ALIASES = {"UK": "GB", "USA": "US", "INTERNATIONAL": "INTL", "OTHER": "INTL"}


@lru_cache(maxsize=1)
def all_timezones() -> tuple[str, ...]:
    """Every IANA zone name known here, sorted, without legacy aliases like 'localtime'."""
    names = {n for n in available_timezones() if "/" in n or n == "UTC"}
    names -= {"localtime", "posixrules", "Factory"}
    return tuple(sorted(names))


@lru_cache(maxsize=1)
def _zones_lower() -> dict[str, str]:
    return {n.lower(): n for n in all_timezones()}


def parse_timezone(text: str) -> str:
    """An IANA zone name, case-insensitively; e.g. 'America/New_York'."""
    cleaned = text.strip().replace(" ", "_")
    name = _zones_lower().get(cleaned.lower())
    if name is None:
        shown = quote_input(text, 40)
        raise UserFacingError(
            Msg(
                "`{value}` is not a time zone I know. Use an IANA name such as "
                "`America/New_York`, `Europe/London` or `Australia/Sydney` (start typing to see "
                "choices).",
                value=shown,
            )
        )
    ZoneInfo(name)  # loadable
    return name


def parse_offsets(text: str) -> list[int]:
    """Reminder offsets like '24h,15m' as minutes, largest first, without duplicates."""
    parts = [p.strip().lower() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise UserFacingError(
            Msg(
                "Reminder offsets are a comma-separated list such as `24h,15m` "
                "(units: `d` days, `h` hours, `m` minutes)."
            )
        )
    minutes: set[int] = set()
    for part in parts:
        m = _OFFSET_PART.match(part)
        if not m:
            raise UserFacingError(
                Msg(
                    "`{value}` is not a reminder offset. Write a positive amount and a unit, like "
                    "`24h`, `90m` or `2d`, separated by commas.",
                    value=quote_input(part, 20),
                )
            )
        unit = m.group(2)[0]
        value = int(m.group(1)) * _UNIT_MINUTES[unit]
        if value < 1 or value > MAX_OFFSET_MINUTES:
            raise UserFacingError(
                Msg(
                    "`{value}` is out of range: offsets go from 1 minute to 14 days before a meeting.",
                    value=part,
                )
            )
        minutes.add(value)
    if len(minutes) > MAX_OFFSETS:
        raise UserFacingError(Msg("At most {count} reminder offsets, please.", count=MAX_OFFSETS))
    return sorted(minutes, reverse=True)


def format_offsets(minutes: list[int]) -> str:
    """Minutes back to the compact form, e.g. [1440, 15] -> '24h,15m'."""
    return ",".join(format_offset(m) for m in minutes)


def format_offset(minutes: int) -> str:
    """One offset in its most natural unit."""
    if minutes % 1440 == 0 and minutes >= 2880:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def parse_region(text: str) -> str:
    """A supported region code (US, CA, GB, IE, AU or INTL)."""
    code = text.strip().upper()
    code = _REGION_ALIASES.get(code, code)
    if code not in REGIONS:
        raise UserFacingError(
            Msg(
                "`{value}` is not a region I have crisis lines for. Use one of: {codes}.",
                value=quote_input(text, 20),
                codes=", ".join(REGIONS),
            )
        )
    return code


def parse_language(text: str) -> str:
    """A language Haven posts in: "en" or "es" (a Discord locale such as "es-419" works too)."""
    code = text.strip().lower().replace("_", "-")
    language = code.split("-", 1)[0]
    if language not in SUPPORTED or not code:
        raise UserFacingError(
            Msg(
                "`{value}` is not a language I speak. Use `en` (English) or `es` (Spanish).",
                value=quote_input(text, 20),
            )
        )
    return language


def parse_local_datetime(text: str) -> datetime:
    """A naive local 'YYYY-MM-DD HH:MM' wall time (the zone is applied by the caller)."""
    cleaned = " ".join(text.strip().replace("T", " ").split())
    try:
        value = datetime.strptime(cleaned, "%Y-%m-%d %H:%M")  # noqa: DTZ007 - local wall time
    except ValueError:
        raise UserFacingError(
            Msg(
                "`{value}` is not a start time. Write it as `YYYY-MM-DD HH:MM` in the meeting's own "
                "time zone, e.g. `2027-01-05 19:00`.",
                value=quote_input(text, 30),
            )
        ) from None
    return value


def parse_date(text: str, what: str = "date") -> date:
    """A 'YYYY-MM-DD' date; ``what`` names it in the error (Haven's own names are translated)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UserFacingError(
            Msg(
                "`{value}` is not a valid {what}. Write it as `YYYY-MM-DD`, e.g. `2027-01-05`.",
                value=quote_input(text, 30),
                what=_field(what),
            )
        ) from None


def clean_text(
    text: str, *, field: str, max_len: int, min_len: int = 1, multiline: bool = False
) -> str:
    """User text with invisible and control characters refused and length checked."""
    value = unicodedata.normalize("NFC", text).strip()
    bad = [
        ch
        for ch in value
        if (unicodedata.category(ch) == "Cc" and not (multiline and ch in "\n\t"))
        # Format characters (zero-width, bidi controls, LRM/RLM, soft hyphen...) and line
        # separators hide or reorder text.
        or unicodedata.category(ch) in _HIDDEN_CATEGORIES
    ]
    if bad:
        raise UserFacingError(
            Msg(
                "The {field} contains invisible or control characters; please retype it as plain "
                "text.",
                field=_field(field),
            )
        )
    if len(value) < min_len:
        raise UserFacingError(Msg("The {field} cannot be empty.", field=_field(field)))
    if len(value) > max_len:
        raise UserFacingError(
            Msg(
                "The {field} is {length} characters long; the limit is {limit}.",
                field=_field(field),
                length=len(value),
                limit=max_len,
            )
        )
    return value


def fold_name(text: str) -> str:
    """A name as typed, to compare with a list's: lower case without accents, words joined by '-'
    ('Discusión' and 'discusion' meet, so do 'Reducción de daños' and 'reduccion-de-danos')."""
    bare = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    norm = bare.strip().lower().replace("&", "-").replace("_", "-").replace(" ", "-")
    return "-".join(p for p in norm.split("-") if p)


def contains_mention(text: str) -> bool:
    """Whether text holds a user, role or channel mention, @everyone or @here."""
    return _MENTION.search(text) is not None


def quote_input(text: str, limit: int = 30) -> str:
    """User text safe to echo inside backticks in an error message (printable, bounded)."""
    text = "".join(ch for ch in text if ch.isprintable()).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# No \b before the scheme: Discord links "0http://x" and "_http://x" too.
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]{1,20})://([^\s/?#<>]*)", re.IGNORECASE)
_BARE_HOST = re.compile(
    r"\b((?:www\.)?(?:[a-z0-9\-]+\.)+[a-z]{2,})(?=[/:])|\bwww\.((?:[a-z0-9\-]+\.)+[a-z]{2,})\b",
    re.IGNORECASE,
)


def _defang_host(host: str) -> str:
    return host.replace(".", "[.]")


def neutralize(text: str) -> str:
    """Text that can neither ping anyone nor carry a clickable link."""

    def scheme(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.lower().startswith("http"):
            name = "hxxp" + name[4:]
        return f"{name}[:]//{_defang_host(m.group(2))}"

    out = text
    while True:  # again until stable: a match's host part can swallow the next scheme's name
        changed = _SCHEME.sub(scheme, out)
        if changed == out:
            break
        out = changed

    def bare(m: re.Match[str]) -> str:
        return _defang_host(m.group(0))

    out = _BARE_HOST.sub(bare, out)
    # A zero-width space after every @ breaks user, role, @everyone and @here mentions.
    return out.replace("@", "@\u200b")
