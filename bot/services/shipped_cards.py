"""Shipped resource cards: strict validation and the loader for the default set (data/resources).

Pure Python (no Discord imports); the one Card model lives in bot.models.resources. `validate_url`,
`clean_text` and `normalize_region` are meant for user input too: their error messages never repeat
what the user typed, so they are safe to log.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.i18n import N_, Msg, render
from bot.models.resources import Card, CardText, Contact

DEFAULT_DIR: Path = Path(__file__).resolve().parent.parent.parent / "data" / "resources"

#: Region codes a card may carry: ISO 3166-1 alpha-2 (upper case) or `intl` (worldwide).
KNOWN_REGIONS: frozenset[str] = frozenset({"US", "GB", "IE", "CA", "AU", "intl"})

#: Friendly spellings accepted by `normalize_region` (never in card files).
REGION_ALIASES: dict[str, str] = {"UK": "GB", "INTL": "intl", "WORLD": "intl"}

#: The fixed tag vocabulary, each tag with its name for people (translated; the cards store the
#: tag). People may type either in a form (bot.services.card_drafts).
TAG_NAMES: dict[str, str] = {
    "crisis": N_("crisis"),
    "family": N_("family"),
    "fellowship": N_("fellowship"),
    "harm-reduction": N_("harm reduction"),
    "helpline": N_("helpline"),
    "information": N_("information"),
    "legal": N_("legal"),
    "medication": N_("medication"),
    "meetings": N_("meetings"),
    "mental-health": N_("mental health"),
    "naloxone": N_("naloxone"),
    "online": N_("online"),
    "overdose": N_("overdose"),
    "treatment": N_("treatment"),
    "youth": N_("youth"),
}
KNOWN_TAGS: frozenset[str] = frozenset(TAG_NAMES)

#: What to call if someone may be dying, per region, written as a card says it ("call <number>").
EMERGENCY_NUMBERS: dict[str, str] = {
    "US": "911",
    "CA": "911",
    "GB": "999",
    "IE": "112 or 999",
    "AU": "000",
    "intl": "your local emergency number",
}

#: The same phrase as a Spanish card says it ("llama al <número>"): checked in every crisis card's
#: `[i18n.es]` summary, so Spanish readers are told the emergency number too.
EMERGENCY_LINES_ES: dict[str, str] = {
    "US": "llama al 911",
    "CA": "llama al 911",
    "GB": "llama al 999",
    "IE": "llama al 112 o al 999",
    "AU": "llama al 000",
    "intl": "llama al número de emergencias de tu zona",
}

#: Languages a card may add in `[i18n.<code>]` next to its English text (never machine-translated).
CARD_LANGUAGES: frozenset[str] = frozenset({"es"})

#: Contact kinds, each with its name for people, as for tags.
CONTACT_KIND_NAMES: dict[str, str] = {
    "phone": N_("phone"),
    "text": N_("text"),
    "chat": N_("chat"),
    "url": N_("link"),
    "email": N_("email"),
    "tty": N_("TTY"),
}
CONTACT_KINDS: frozenset[str] = frozenset(CONTACT_KIND_NAMES)

MAX_URL_LEN = 512
MAX_TITLE_LEN = 100
MAX_SUMMARY_LEN = 400
MAX_SUMMARY_SENTENCES = 3
MAX_NOTES_LEN = 600
MAX_LABEL_LEN = 100
MAX_CONTACT_VALUE_LEN = 200
MAX_CONTACTS = 8
MIN_REVIEW_DAYS = 1
MAX_REVIEW_DAYS = 730

ID_RE = re.compile(r"^[a-z0-9-]{3,64}$")
_MENTION_RE = re.compile(r"<@[!&]?\d+>|@everyone|@here", re.IGNORECASE)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])[\"')\]»]*\s+(?=[\"'(\[«¿¡]?[A-Z0-9ÁÉÍÓÚÜÑ])")
_PHONE_RE = re.compile(r"^\+?[0-9A-Za-z][0-9A-Za-z ().\-]{1,39}$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")
_HOST_RE = re.compile(
    r"^(?=.{4,253}$)([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]{1,62}$"
)
# Control, format (zero-width, bidi), surrogate, private-use, line/paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})

_REQUIRED_KEYS = (
    "id",
    "title",
    "summary",
    "contacts",
    "region",
    "tags",
    "source_url",
    "verified_on",
    "review_days",
    "enabled_by_default",
)
_OPTIONAL_KEYS = ("notes", "disclaimer", "i18n")
_CONTACT_KEYS = frozenset({"kind", "value", "label"})
_TEXT_REQUIRED = ("title", "summary", "source_url", "verified_on", "contact_labels")
_TEXT_KEYS = frozenset({*_TEXT_REQUIRED, "disclaimer"})


class CardError(ValueError):
    """A card (or a piece of moderator input) is invalid; the message names the file and field.

    `text` is a `Msg` where a person typing a card in Discord can meet it (shown in their
    language); `reason` and `str(error)` are English, for the operator's card files and logs.
    """

    def __init__(
        self, reason: str | Msg, *, field: str | None = None, path: str | Path | None = None
    ) -> None:
        self.text = reason
        self.reason = render(reason, "en")
        self.field = field
        self.path = str(path) if path is not None else None
        parts = []
        if self.path:
            parts.append(self.path)
        if field:
            parts.append(f"field '{field}'")
        parts.append(self.reason)
        super().__init__(": ".join(parts))

    def in_file(self, path: str | Path) -> CardError:
        """Return the same error, now naming the file it came from."""
        return CardError(self.text, field=self.field, path=path)


def _today_utc() -> date:
    """Today's date in UTC."""
    return datetime.now(UTC).date()


def clean_text(text: object, max_len: int, field: str, *, multiline: bool = False) -> str:
    """Strip and check a piece of text: no control/zero-width/bidi characters, no mentions."""
    if not isinstance(text, str):
        raise CardError(f"must be text, not {type(text).__name__}", field=field)
    value = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
    if not value:
        raise CardError(Msg("must not be empty"), field=field)
    for ch in value:
        if multiline and ch == "\n":
            continue
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            character = f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"
            raise CardError(
                Msg(
                    "contains an invisible or control character ({character}); "
                    "remove it and type the text again",
                    character=character,
                ),
                field=field,
            )
    if _MENTION_RE.search(value):
        raise CardError(
            Msg("contains a Discord mention (@everyone, @here, <@user> or <@&role>); remove it"),
            field=field,
        )
    if len(value) > max_len:
        raise CardError(too_long(len(value), max_len), field=field)
    return value


def too_long(length: int, limit: int) -> Msg:
    """The reason a text is too long: 'is 120 characters; the limit is 100'."""
    return Msg("is {length} characters; the limit is {limit}", length=length, limit=limit)


def validate_url(text: object, field: str = "url") -> str:
    """Return the URL if it is a plain https link to a named host (≤ 512 chars); else raise."""
    if not isinstance(text, str):
        raise CardError(f"must be text, not {type(text).__name__}", field=field)
    url = text.strip()
    if not url:
        raise CardError(Msg("must not be empty"), field=field)
    if len(url) > MAX_URL_LEN:
        raise CardError(too_long(len(url), MAX_URL_LEN), field=field)
    if "javascript:" in url.lower():
        raise CardError(Msg("javascript: links are not allowed; use an https:// link"), field=field)
    if any(ch.isspace() or unicodedata.category(ch) in _BAD_CATEGORIES for ch in url):
        raise CardError(Msg("must not contain spaces or invisible characters"), field=field)
    if _MENTION_RE.search(url):
        raise CardError(Msg("must not contain a Discord mention"), field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise CardError(Msg("is not a valid URL"), field=field) from None
    if parts.scheme.lower() != "https":
        raise CardError(
            Msg("must start with https:// (other link types are not allowed)"), field=field
        )
    if "@" in parts.netloc:
        raise CardError(
            Msg("must not contain a user name or password before the host"), field=field
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise CardError(Msg("must name a host, like https://example.org/page"), field=field)
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise CardError(Msg("has an invalid host name"), field=field) from None
    if not _HOST_RE.match(ascii_host):
        raise CardError(Msg("must use a public domain name, like https://example.org"), field=field)
    if port is not None and port != 443:
        raise CardError(Msg("must not use a custom port"), field=field)
    return url


def normalize_region(text: str) -> str:
    """Turn user input like 'uk', 'us' or 'INTL' into a region code; raise CardError if unknown."""
    raw = text.strip()
    upper = raw.upper()
    region = REGION_ALIASES.get(upper, upper)
    if region not in KNOWN_REGIONS:
        known = ", ".join(sorted(KNOWN_REGIONS, key=str.lower))
        raise CardError(f"unknown region; use one of {known}", field="region")
    return region


def known_region(setting: str | None) -> str | None:
    """A server's region setting as a card region; None when unset or not one Haven knows."""
    try:
        return normalize_region(setting) if setting else None
    except CardError:
        return None


def count_sentences(text: str) -> int:
    """Count sentences: a new one starts after . ! or ? followed by space and a capital or digit."""
    return len(_SENTENCE_SPLIT_RE.split(text.strip()))


def emergency_line(region: str, language: str = "en") -> str:
    """The phrase every crisis card for a region must contain, e.g. 'call 911' ('llama al 911')."""
    if language == "es":
        return EMERGENCY_LINES_ES[region]
    return f"call {EMERGENCY_NUMBERS[region]}"


def _brief(value: object, limit: int = 40) -> str:
    """A value quoted in an error, cut so a huge or hostile value is never repeated in full."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _require(data: Mapping[str, Any], key: str) -> Any:
    """Fetch a required key from a table or raise."""
    if key not in data:
        raise CardError("is missing", field=key)
    return data[key]


def _parse_contact(raw: object, index: int) -> Contact:
    """Validate one `[[contacts]]` table."""
    where = f"contacts[{index}]"
    if not isinstance(raw, dict):
        raise CardError("must be a table with kind, value and optional label", field=where)
    unknown = set(raw) - _CONTACT_KEYS
    if unknown:
        raise CardError(f"has unknown keys: {', '.join(sorted(unknown))}", field=where)
    if "kind" not in raw:
        raise CardError("is missing", field=f"{where}.kind")
    kind = raw["kind"]
    if not isinstance(kind, str) or kind not in CONTACT_KINDS:
        kinds = "|".join(sorted(CONTACT_KINDS))
        raise CardError(f"must be one of {kinds}, not {_brief(kind)}", field=f"{where}.kind")
    if "value" not in raw:
        raise CardError("is missing", field=f"{where}.value")
    vfield = f"{where}.value"
    if kind in ("url", "chat"):
        value = validate_url(raw["value"], field=vfield)
    else:
        value = clean_text(raw["value"], MAX_CONTACT_VALUE_LEN, vfield)
        if kind == "email":
            if not _EMAIL_RE.match(value):
                raise CardError(Msg("is not an email address"), field=vfield)
        elif not _PHONE_RE.match(value):
            raise CardError(
                Msg("is not a phone or text number (use digits, letters, spaces, + - ( ) .)"),
                field=vfield,
            )
    label = raw.get("label")
    if label is not None:
        label = clean_text(label, MAX_LABEL_LEN, f"{where}.label")
    return Contact(kind=kind, value=value, label=label)


def parse_card(
    data: Mapping[str, Any],
    *,
    stem: str | None = None,
    today: date | None = None,
    language: str | None = "en",
) -> Card:
    """Validate a card given as a mapping (a parsed TOML file); raise CardError naming the field.

    `language` is the card text's language: "en" for shipped files; None for a guild's own card,
    which moderators may write in any language Haven speaks.
    """
    unknown = set(data) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS)
    if unknown:
        raise CardError(f"unknown keys: {', '.join(sorted(unknown))} (check the spelling)")
    for key in _REQUIRED_KEYS:
        _require(data, key)

    card_id = data["id"]
    if not isinstance(card_id, str) or not ID_RE.match(card_id):
        raise CardError(
            "must be 3-64 characters of lower-case letters, digits and hyphens", field="id"
        )
    if stem is not None and card_id != stem:
        raise CardError(f"{card_id!r} must match the file name ({stem}.toml)", field="id")

    title = clean_text(data["title"], MAX_TITLE_LEN, "title")
    summary = _summary(data["summary"], "summary")

    raw_contacts = data["contacts"]
    if not isinstance(raw_contacts, list) or not raw_contacts:
        raise CardError("must be a non-empty array of tables ([[contacts]])", field="contacts")
    if len(raw_contacts) > MAX_CONTACTS:
        raise CardError(
            f"has {len(raw_contacts)} entries; the limit is {MAX_CONTACTS}", field="contacts"
        )
    contacts = tuple(_parse_contact(raw, i) for i, raw in enumerate(raw_contacts))

    region = data["region"]
    if not isinstance(region, str) or region not in KNOWN_REGIONS:
        known = ", ".join(sorted(KNOWN_REGIONS, key=str.lower))
        raise CardError(f"unknown region {_brief(region)}; use one of {known}", field="region")

    raw_tags = data["tags"]
    if not isinstance(raw_tags, list) or not raw_tags:
        raise CardError("must be a non-empty array of tags", field="tags")
    for tag in raw_tags:
        if not isinstance(tag, str) or tag not in KNOWN_TAGS:
            raise CardError(f"unknown tag {_brief(tag)}; see KNOWN_TAGS", field="tags")
    if len(set(raw_tags)) != len(raw_tags):
        raise CardError("lists a tag twice", field="tags")
    tags = frozenset(raw_tags)

    source_url = validate_url(data["source_url"], field="source_url")

    verified_on = _verified_on(data["verified_on"], "verified_on", today)

    review_days = data["review_days"]
    if isinstance(review_days, bool) or not isinstance(review_days, int):
        raise CardError("must be a whole number of days", field="review_days")
    if not MIN_REVIEW_DAYS <= review_days <= MAX_REVIEW_DAYS:
        raise CardError(
            f"must be between {MIN_REVIEW_DAYS} and {MAX_REVIEW_DAYS}", field="review_days"
        )

    enabled = data["enabled_by_default"]
    if not isinstance(enabled, bool):
        raise CardError("must be true or false", field="enabled_by_default")

    notes = data.get("notes")
    if notes is not None:
        notes = clean_text(notes, MAX_NOTES_LEN, "notes", multiline=True)
    disclaimer = data.get("disclaimer")
    if disclaimer is not None:
        disclaimer = clean_text(disclaimer, MAX_NOTES_LEN, "disclaimer", multiline=True)

    card = Card(
        id=card_id,
        title=title,
        summary=summary,
        contacts=contacts,
        region=region,
        tags=tags,
        source_url=source_url,
        verified_on=verified_on,
        review_days=review_days,
        enabled_by_default=enabled,
        enabled=enabled,
        notes=notes,
        disclaimer=disclaimer,
        language=language,
        translations=_parse_i18n(data.get("i18n"), contacts, disclaimer, today),
    )
    _check_policy(card)
    return card


def _summary(text: object, field: str) -> str:
    """A checked summary: clean text of 1 to 3 sentences, at most 400 characters."""
    summary = clean_text(text, MAX_SUMMARY_LEN, field)
    sentences = count_sentences(summary)
    if sentences > MAX_SUMMARY_SENTENCES:
        raise CardError(
            Msg(
                "has {count} sentences; use 1 to {limit}",
                count=sentences,
                limit=MAX_SUMMARY_SENTENCES,
            ),
            field=field,
        )
    return summary


def _verified_on(value: object, field: str, today: date | None) -> date:
    """A checked verified-on date: a bare TOML date, not in the future."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise CardError("must be a TOML date like 2026-11-22 (no quotes, no time)", field=field)
    if value > (today if today is not None else _today_utc()):
        raise CardError(f"{value.isoformat()} is in the future", field=field)
    return value


def _parse_i18n(
    raw: object, contacts: tuple[Contact, ...], disclaimer: str | None, today: date | None
) -> tuple[CardText, ...]:
    """Validate the optional `[i18n.<lang>]` tables with the English fields' rules."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise CardError("must be a table of languages, like [i18n.es]", field="i18n")
    texts = []
    for language in sorted(raw):
        if language not in CARD_LANGUAGES:
            known = ", ".join(sorted(CARD_LANGUAGES))
            raise CardError(
                f"unknown language {_brief(language)}; a card may add: {known}", field="i18n"
            )
        texts.append(_parse_text(language, raw[language], contacts, disclaimer, today))
    return tuple(texts)


def _parse_text(
    language: str,
    block: object,
    contacts: tuple[Contact, ...],
    disclaimer: str | None,
    today: date | None,
) -> CardText:
    """One `[i18n.<lang>]` table: its own title, summary, labels, source and verified-on date."""
    where = f"i18n.{language}"
    if not isinstance(block, dict):
        raise CardError("must be a table, like [i18n.es]", field=where)
    unknown = set(block) - _TEXT_KEYS
    if unknown:
        raise CardError(
            f"unknown keys: {', '.join(sorted(unknown))} (check the spelling)", field=where
        )
    for key in _TEXT_REQUIRED:
        if key not in block:
            raise CardError("is missing", field=f"{where}.{key}")
    labels = block["contact_labels"]
    if not isinstance(labels, list) or len(labels) != len(contacts):
        raise CardError(
            f"needs one label per contact, in order ({len(contacts)} here)",
            field=f"{where}.contact_labels",
        )
    own_disclaimer = block.get("disclaimer")
    if own_disclaimer is not None:
        own_disclaimer = clean_text(
            own_disclaimer, MAX_NOTES_LEN, f"{where}.disclaimer", multiline=True
        )
    elif disclaimer is not None:
        raise CardError("is missing, and the English card has one", field=f"{where}.disclaimer")
    return CardText(
        language=language,
        title=clean_text(block["title"], MAX_TITLE_LEN, f"{where}.title"),
        summary=_summary(block["summary"], f"{where}.summary"),
        contact_labels=tuple(
            clean_text(label, MAX_LABEL_LEN, f"{where}.contact_labels[{i}]")
            for i, label in enumerate(labels)
        ),
        source_url=validate_url(block["source_url"], field=f"{where}.source_url"),
        verified_on=_verified_on(block["verified_on"], f"{where}.verified_on", today),
        disclaimer=own_disclaimer,
    )


def _check_policy(card: Card) -> None:
    """Cross-field rules: crisis cards name the emergency number; harm reduction ships disabled."""
    if card.is_crisis and card.language is None:  # a guild's card: in English or in Spanish
        line, line_es = emergency_line(card.region), emergency_line(card.region, "es")
        if line not in card.summary and line_es not in card.summary:
            raise CardError(
                Msg(
                    "must say to {line} (in Spanish: {line_es}) if someone may be dying, as "
                    "every crisis card does",
                    line=line,
                    line_es=line_es,
                ),
                field="summary",
            )
    elif card.is_crisis and emergency_line(card.region) not in card.summary:
        raise CardError(
            f"a crisis card must say to {emergency_line(card.region)} if someone may be dying",
            field="summary",
        )
    for text in card.translations:
        line = emergency_line(card.region, text.language)
        if card.is_crisis and line not in text.summary:
            raise CardError(
                f"a crisis card must say '{line}' if someone may be dying",
                field=f"i18n.{text.language}.summary",
            )
    if card.is_harm_reduction and card.enabled_by_default:
        raise CardError(
            "harm-reduction cards must ship disabled; moderators enable them",
            field="enabled_by_default",
        )


def load_card(path: str | Path, *, today: date | None = None) -> Card:
    """Read and strictly validate one card file; raise CardError naming the file and field."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise CardError(f"cannot be read ({exc.strerror or exc})", path=p) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"is not valid TOML ({exc})", path=p) from None
    try:
        return parse_card(data, stem=p.stem, today=today)
    except CardError as exc:
        raise exc.in_file(p) from None


def cards_by_id(cards: Iterable[Card]) -> dict[str, Card]:
    """Index cards by id, rejecting duplicates."""
    result: dict[str, Card] = {}
    for card in cards:
        if card.id in result:
            raise CardError(f"duplicate card id {card.id!r}", field="id")
        result[card.id] = card
    return result


def load_default_cards(
    directory: str | Path = DEFAULT_DIR, *, today: date | None = None
) -> dict[str, Card]:
    """Load every `*.toml` card in a directory, keyed by id (sorted); reject duplicate ids."""
    d = Path(directory)
    if not d.is_dir():
        raise CardError("card directory does not exist", path=d)
    files = sorted(d.glob("*.toml"))
    if not files:
        raise CardError("card directory has no *.toml files", path=d)
    seen: dict[str, Path] = {}
    cards: list[Card] = []
    for f in files:
        card = load_card(f, today=today)
        if card.id in seen:
            raise CardError(f"duplicate card id {card.id!r} (also in {seen[card.id].name})", path=f)
        seen[card.id] = f
        cards.append(card)
    return cards_by_id(cards)


def crisis_cards_for(
    cards: Mapping[str, Card] | Iterable[Card], region: str | None, language: str = "en"
) -> list[Card]:
    """Enabled crisis cards for a region (e.g. 'US', 'uk'), then the worldwide (`intl`) ones.

    With no region, every region's, by region. Each card is in `language` where it has sourced
    text there, else in English (`card.language` says which).
    """
    pool = list(cards.values()) if isinstance(cards, Mapping) else list(cards)
    chosen = [c for c in pool if c.enabled_by_default and c.is_crisis]
    if region is not None:
        try:
            wanted = normalize_region(region)
        except CardError:
            wanted = "intl"
        chosen = [c for c in chosen if c.region in (wanted, "intl")]
    chosen.sort(key=lambda c: (c.region == "intl", c.region, c.id))
    return [c.in_language(language) for c in chosen]


__all__ = [
    "CARD_LANGUAGES",
    "CONTACT_KINDS",
    "CONTACT_KIND_NAMES",
    "DEFAULT_DIR",
    "EMERGENCY_LINES_ES",
    "EMERGENCY_NUMBERS",
    "KNOWN_REGIONS",
    "KNOWN_TAGS",
    "TAG_NAMES",
    "REGION_ALIASES",
    "Card",
    "CardError",
    "CardText",
    "Contact",
    "cards_by_id",
    "clean_text",
    "count_sentences",
    "crisis_cards_for",
    "emergency_line",
    "load_card",
    "load_default_cards",
    "normalize_region",
    "parse_card",
    "too_long",
    "validate_url",
]
