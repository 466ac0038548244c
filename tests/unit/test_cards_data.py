"""The shipped default resource cards are valid, complete and safe; the loader rejects bad input."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.services.shipped_cards import (
    DEFAULT_DIR,
    EMERGENCY_NUMBERS,
    KNOWN_REGIONS,
    KNOWN_TAGS,
    Card,
    CardError,
    Contact,
    cards_by_id,
    clean_text,
    count_sentences,
    crisis_cards_for,
    load_card,
    load_default_cards,
    normalize_region,
    validate_url,
)

TODAY = date(2026, 11, 25)
VERIFIED = date(2026, 11, 22)
CARD_FILES = sorted(DEFAULT_DIR.glob("*.toml"))

REQUIRED_IDS = {
    "us-samhsa-helpline",
    "us-988",
    "us-findtreatment",
    "us-poison-help",
    "us-naloxone-otc",
    "us-overdose-response",
    "us-moud-methadone",
    "us-moud-bup",
    "us-moud-naltrexone",
    "fel-na-meetings",
    "fel-na-virtual",
    "fel-nar-anon",
    "fel-smart-recovery",
    "fel-smart-family-friends",
    "fel-al-anon",
    "uk-samaritans",
    "uk-frank",
    "ie-samaritans",
    "ie-hse-drugs-helpline",
    "ca-988",
    "ca-good-samaritan",
    "au-lifeline",
    "au-nada-hotline",
    "au-family-drug-support",
    "us-never-use-alone",
    "ca-nors",
    "us-fentanyl-test-strips",
}
HARM_REDUCTION_IDS = {"us-never-use-alone", "ca-nors", "us-fentanyl-test-strips"}
NA_DISCLAIMER = "Haven is not affiliated with or endorsed by"
# Numbers graded U (unverified) in the research notes, old numbers, and retired menu options.
FORBIDDEN_NUMBERS = ("800-477-6291", "800-736-9805", "0300 999 1212", "0800 77 66 00")


def _digits(text: str) -> str:
    """Only the digits of a string."""
    return re.sub(r"\D", "", text)


def _all_text(card: Card) -> str:
    """Every piece of text a reader could see on a card."""
    parts = [card.id, card.title, card.summary, card.source_url, card.notes or ""]
    parts.append(card.disclaimer or "")
    for c in card.contacts:
        parts.extend([c.kind, c.value, c.label or ""])
    return "\n".join(parts)


@pytest.fixture(scope="module")
def cards() -> dict[str, Card]:
    """The shipped default set."""
    return load_default_cards(today=TODAY)


# --- the shipped data ---------------------------------------------------------------------------


def test_default_dir_is_repo_data_resources() -> None:
    """DEFAULT_DIR points at data/resources in the repository."""
    repo = Path(__file__).resolve().parents[2]
    assert repo / "data" / "resources" == DEFAULT_DIR
    assert DEFAULT_DIR.is_dir()


@pytest.mark.parametrize("path", CARD_FILES, ids=[p.stem for p in CARD_FILES])
def test_every_file_loads_and_follows_the_schema(path: Path) -> None:
    """Each shipped file passes strict validation and basic data policy."""
    card = load_card(path, today=TODAY)
    assert card.id == path.stem
    assert card.region in KNOWN_REGIONS
    assert card.tags <= KNOWN_TAGS
    assert card.source_url.startswith("https://")
    for contact in card.contacts:
        if contact.kind in ("url", "chat"):
            assert contact.value.startswith("https://")
    assert 1 <= len(card.title) <= 100
    assert 1 <= len(card.summary) <= 400
    assert 1 <= count_sentences(card.summary) <= 3
    assert card.verified_on == VERIFIED
    assert card.verified_on <= TODAY
    assert card.review_days == 90 if "crisis" in card.tags else card.review_days <= 180


def test_files_parse_as_plain_toml_with_a_real_date() -> None:
    """verified_on is a TOML date, not a string."""
    for path in CARD_FILES:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert type(data["verified_on"]) is date, path.name


def test_required_cards_exist(cards: dict[str, Card]) -> None:
    """Every card the issue asks for ships."""
    assert set(cards) >= REQUIRED_IDS, sorted(REQUIRED_IDS - set(cards))
    assert len(cards) == len(CARD_FILES)


def test_no_duplicate_ids_across_files() -> None:
    """Ids are unique across the folder."""
    ids = [tomllib.loads(p.read_text(encoding="utf-8"))["id"] for p in CARD_FILES]
    assert len(ids) == len(set(ids))


def test_harm_reduction_cards_ship_disabled(cards: dict[str, Card]) -> None:
    """Harm-reduction cards are off until moderators turn them on."""
    harm = {c.id for c in cards.values() if "harm-reduction" in c.tags}
    assert harm >= HARM_REDUCTION_IDS
    for card_id in harm:
        assert cards[card_id].enabled_by_default is False, card_id
    for card_id in set(cards) - harm:
        assert cards[card_id].enabled_by_default is True, card_id


def test_every_region_has_an_enabled_crisis_card(cards: dict[str, Card]) -> None:
    """/crisis has something to show for every country."""
    for region in KNOWN_REGIONS - {"intl"}:
        assert crisis_cards_for(cards, region), region


def test_crisis_cards_carry_their_regions_emergency_number(cards: dict[str, Card]) -> None:
    """Every crisis card says to call the local emergency number if someone may be dying."""
    crisis = [c for c in cards.values() if "crisis" in c.tags]
    assert crisis
    for card in crisis:
        number = EMERGENCY_NUMBERS[card.region]
        assert "If someone may be dying" in card.summary, card.id
        assert f"call {number}" in card.summary, card.id
        assert card.review_days == 90, card.id
    expected = {"US": "911", "CA": "911", "GB": "999", "IE": "112 or 999", "AU": "000"}
    assert {k: EMERGENCY_NUMBERS[k] for k in expected} == expected


def test_na_related_cards_say_haven_is_not_affiliated(cards: dict[str, Card]) -> None:
    """Any card about NA carries the non-affiliation line."""
    na_related = [
        c
        for c in cards.values()
        if "-na-" in c.id
        or "nar-anon" in c.id
        or "Narcotics Anonymous" in _all_text(c)
        or re.search(r"\bNA\b", _all_text(c))
    ]
    assert {"fel-na-meetings", "fel-na-virtual", "fel-nar-anon"} <= {c.id for c in na_related}
    for card in na_related:
        assert card.disclaimer and NA_DISCLAIMER in card.disclaimer, card.id
        assert "Narcotics Anonymous" in card.disclaimer, card.id


def test_no_na_literature_or_logos(cards: dict[str, Card]) -> None:
    """No reading titles or NA wording that would copy NA literature."""
    banned = (
        "Who Is an Addict",
        "What Is the NA Program",
        "Why Are We Here",
        "How It Works",
        "We Do Recover",
        "Just for Today:",
        "only requirement for membership",
    )
    for card in cards.values():
        text = _all_text(card)
        for phrase in banned:
            assert phrase.lower() not in text.lower(), (card.id, phrase)
    assert not list(DEFAULT_DIR.glob("*.png")) and not list(DEFAULT_DIR.glob("*.svg"))


def test_no_press_3(cards: dict[str, Card]) -> None:
    """The retired 988 'Press 3' option appears nowhere, including raw files and comments."""
    for path in CARD_FILES:
        assert "press 3" not in path.read_text(encoding="utf-8").lower(), path.name
    for card in cards.values():
        assert "press 3" not in _all_text(card).lower(), card.id


def test_no_unverified_or_outdated_numbers() -> None:
    """Numbers graded U (and FRANK's old number) appear in no file."""
    for path in [*CARD_FILES, DEFAULT_DIR / "README.md"]:
        raw = path.read_text(encoding="utf-8")
        digits = _digits(raw)
        for number in FORBIDDEN_NUMBERS:
            # FRANK's file may name its old number in a comment, only to forbid it.
            if path.name == "uk-frank.toml" and number == "0800 77 66 00":
                continue
            assert number not in raw, (path.name, number)
            assert _digits(number) not in digits, (path.name, number)


def test_nar_anon_has_no_phone(cards: dict[str, Card]) -> None:
    """Nar-Anon's phone number is unverified, so the card has none."""
    kinds = {c.kind for c in cards["fel-nar-anon"].contacts}
    assert not kinds & {"phone", "text", "tty"}


def test_no_medical_dosing(cards: dict[str, Card]) -> None:
    """Cards give no doses."""
    dose = re.compile(r"\b\d+(\.\d+)?\s*(mg|mcg|ml|milligram)s?\b", re.IGNORECASE)
    for card in cards.values():
        assert not dose.search(_all_text(card)), card.id


def test_crisis_cards_for_region_and_intl(cards: dict[str, Card]) -> None:
    """crisis_cards_for picks enabled crisis cards for the region, plus worldwide ones."""
    us = crisis_cards_for(cards, "US")
    assert {"us-988", "us-overdose-response", "us-poison-help"} <= {c.id for c in us}
    assert all(c.region in ("US", "intl") and c.enabled_by_default for c in us)
    assert [c.id for c in crisis_cards_for(cards, "uk")] == ["uk-samaritans"]
    assert [c.id for c in crisis_cards_for(cards.values(), "ie")] == ["ie-samaritans"]
    assert [c.id for c in crisis_cards_for(cards, "AU")] == ["au-lifeline"]
    assert "ca-nors" not in {c.id for c in crisis_cards_for(cards, "CA")}


def test_crisis_cards_for_includes_intl_and_skips_disabled() -> None:
    """Worldwide crisis cards come after the region's own; disabled ones never show."""
    base = Card(
        id="xx-one",
        title="t",
        summary="s. If someone may be dying, call your local emergency number.",
        contacts=(Contact("phone", "123"),),
        region="intl",
        tags=frozenset({"crisis"}),
        source_url="https://example.org",
        verified_on=VERIFIED,
        review_days=90,
        enabled_by_default=True,
    )
    local = replace(base, id="gb-local", region="GB")
    off = replace(base, id="gb-off", region="GB", enabled_by_default=False)
    other = replace(base, id="us-other", region="US")
    got = crisis_cards_for([base, local, off, other], "GB")
    assert [c.id for c in got] == ["gb-local", "xx-one"]
    assert [c.id for c in crisis_cards_for([base, local], "nowhere")] == ["xx-one"]


def test_staleness() -> None:
    """A card is stale the day after verified_on + review_days."""
    card = load_card(DEFAULT_DIR / "us-988.toml", today=TODAY)
    assert card.review_due() == date(2027, 2, 20)
    assert not card.is_stale(date(2027, 2, 20))
    assert card.is_stale(date(2027, 2, 21))


# --- the loader rejects bad cards ---------------------------------------------------------------

GOOD = """\
id = "{id}"
title = "Example helpline"
summary = "A free line. It is open all day."
region = "US"
tags = ["helpline"]
source_url = "https://example.org/help"
verified_on = 2026-11-22
review_days = 180
enabled_by_default = true

[[contacts]]
kind = "phone"
value = "1-800-555-0100"
label = "Call"
"""


def _write(tmp_path: Path, text: str, card_id: str = "test-card") -> Path:
    """Write a card file named after its id."""
    path = tmp_path / f"{card_id}.toml"
    path.write_text(text.replace("{id}", card_id), encoding="utf-8")
    return path


def _expect_error(path: Path, field: str, match: str | None) -> CardError:
    """Load a card that must fail, naming the file and the field."""
    with pytest.raises(CardError, match=match) as info:
        load_card(path, today=TODAY)
    err = info.value
    assert err.field == field
    assert path.name in str(err)
    assert f"field '{field}'" in str(err)
    assert isinstance(err, ValueError)
    return err


def test_good_template_loads(tmp_path: Path) -> None:
    """The template used by the negative tests is itself valid."""
    card = load_card(_write(tmp_path, GOOD), today=TODAY)
    assert card.contacts == (Contact("phone", "1-800-555-0100", "Call"),)
    assert card.tags == frozenset({"helpline"})


@pytest.mark.parametrize(
    "bad",
    [
        "http://example.org/help",
        "ftp://example.org",
        "https://",
        "https:///path-only",
        "example.org",
        "https://user:pw@example.org",
        "https://exa mple.org",
        "https://localhost/x",
        "https://example.org:8443/x",
        "https://" + "a" * 520 + ".org",
    ],
)
def test_rejects_bad_source_url(tmp_path: Path, bad: str) -> None:
    """Only plain https links to a named public host, at most 512 characters."""
    path = _write(tmp_path, GOOD.replace("https://example.org/help", bad))
    _expect_error(path, "source_url", None)


def test_rejects_javascript_url(tmp_path: Path) -> None:
    """javascript: links are refused with a specific message."""
    text = GOOD.replace(
        'kind = "phone"\nvalue = "1-800-555-0100"', 'kind = "url"\nvalue = "javascript:alert(1)"'
    )
    _expect_error(_write(tmp_path, text), "contacts[0].value", "javascript")
    with pytest.raises(CardError, match="javascript"):
        validate_url("JavaScript:alert(1)")
    with pytest.raises(CardError, match="javascript"):
        validate_url("https://example.org/?next=javascript:alert(1)")


@pytest.mark.parametrize("mention", ["@everyone", "@here", "<@123456789>", "<@!42>", "<@&987>"])
def test_rejects_mentions(tmp_path: Path, mention: str) -> None:
    """Nothing in a card can ping a user, a role or everyone."""
    path = _write(tmp_path, GOOD.replace("A free line.", f"A free line {mention}."))
    _expect_error(path, "summary", "mention")


def test_rejects_duplicate_ids(tmp_path: Path) -> None:
    """Two cards with the same id are refused."""
    card = load_card(_write(tmp_path, GOOD), today=TODAY)
    with pytest.raises(CardError, match="duplicate card id 'test-card'"):
        cards_by_id([card, card])


def test_rejects_id_not_matching_file_name(tmp_path: Path) -> None:
    """The id must equal the file name, so a copied file cannot shadow another card."""
    path = tmp_path / "copy-of-card.toml"
    path.write_text(GOOD.replace("{id}", "test-card"), encoding="utf-8")
    _expect_error(path, "id", "file name")


@pytest.mark.parametrize("bad_id", ["AB", "Has-Caps", "under_score", "x" * 65])
def test_rejects_bad_id(tmp_path: Path, bad_id: str) -> None:
    """Ids are 3-64 characters of a-z, 0-9 and hyphens."""
    path = tmp_path / "whatever.toml"
    path.write_text(GOOD.replace("{id}", bad_id), encoding="utf-8")
    _expect_error(path, "id", "lower-case")


def test_rejects_future_date(tmp_path: Path) -> None:
    """verified_on cannot be later than today."""
    path = _write(tmp_path, GOOD.replace("2026-11-22", "2026-11-26"))
    _expect_error(path, "verified_on", "future")
    assert load_card(path, today=date(2026, 11, 26)).verified_on == date(2026, 11, 26)


def test_rejects_date_as_string_or_datetime(tmp_path: Path) -> None:
    """verified_on must be a bare TOML date."""
    _expect_error(
        _write(tmp_path, GOOD.replace("2026-11-22", '"2026-11-22"')), "verified_on", "TOML date"
    )
    _expect_error(
        _write(tmp_path, GOOD.replace("2026-11-22", "2026-11-22T10:00:00Z")),
        "verified_on",
        "TOML date",
    )


def test_rejects_too_long_summary(tmp_path: Path) -> None:
    """Summaries are at most 400 characters."""
    long = "A" + "a" * 400 + "."
    _expect_error(
        _write(tmp_path, GOOD.replace("A free line. It is open all day.", long)),
        "summary",
        "limit is 400",
    )


def test_rejects_too_many_sentences(tmp_path: Path) -> None:
    """Summaries are 1 to 3 sentences."""
    text = GOOD.replace("A free line. It is open all day.", "One. Two. Three. Four.")
    _expect_error(_write(tmp_path, text), "summary", "4 sentences")


@pytest.mark.parametrize(
    "char", ["\\u0007", "\\u0000", "\\u200b", "\\u202e", "\\u2066", "\\ufeff", "\\n"]
)
def test_rejects_control_and_invisible_characters(tmp_path: Path, char: str) -> None:
    """Control, zero-width and bidi characters are refused (written as TOML escapes)."""
    path = _write(tmp_path, GOOD.replace("Example helpline", f"Example{char}helpline"))
    _expect_error(path, "title", "invisible or control character")


def test_rejects_long_title(tmp_path: Path) -> None:
    """Titles are at most 100 characters."""
    _expect_error(
        _write(tmp_path, GOOD.replace("Example helpline", "T" * 101)), "title", "limit is 100"
    )


def test_rejects_unknown_region_and_tag(tmp_path: Path) -> None:
    """Regions and tags come from fixed lists."""
    _expect_error(_write(tmp_path, GOOD.replace('"US"', '"UK"')), "region", "unknown region")
    _expect_error(_write(tmp_path, GOOD.replace('"helpline"', '"cures"')), "tags", "unknown tag")


def test_rejects_missing_and_unknown_fields(tmp_path: Path) -> None:
    """Required fields must be there; misspelt ones are refused."""
    _expect_error(
        _write(tmp_path, GOOD.replace("review_days = 180\n", "")), "review_days", "missing"
    )
    path = _write(tmp_path, GOOD.replace("verified_on", "verifed_on"))
    with pytest.raises(CardError, match="unknown keys: verifed_on"):
        load_card(path, today=TODAY)


def test_rejects_wrong_types(tmp_path: Path) -> None:
    """Booleans are booleans and day counts are whole numbers."""
    _expect_error(
        _write(tmp_path, GOOD.replace("enabled_by_default = true", 'enabled_by_default = "yes"')),
        "enabled_by_default",
        "true or false",
    )
    _expect_error(
        _write(tmp_path, GOOD.replace("review_days = 180", "review_days = true")),
        "review_days",
        "whole number",
    )


def test_rejects_bad_contact(tmp_path: Path) -> None:
    """Contact kinds come from a fixed list and phone values look like numbers."""
    _expect_error(
        _write(tmp_path, GOOD.replace('kind = "phone"', 'kind = "fax"')),
        "contacts[0].kind",
        "must be one of",
    )
    _expect_error(
        _write(tmp_path, GOOD.replace('"1-800-555-0100"', '"call <script>"')),
        "contacts[0].value",
        "phone or text number",
    )
    no_contacts = GOOD[: GOOD.index("[[contacts]]")]
    _expect_error(_write(tmp_path, no_contacts), "contacts", "missing")


def test_crisis_card_without_emergency_line_is_refused(tmp_path: Path) -> None:
    """A crisis card must name its region's emergency number."""
    text = GOOD.replace('tags = ["helpline"]', 'tags = ["crisis", "helpline"]')
    _expect_error(_write(tmp_path, text), "summary", "call 911")
    fixed = text.replace("It is open all day.", "If someone may be dying, call 911.")
    assert load_card(_write(tmp_path, fixed), today=TODAY).tags >= {"crisis"}


def test_enabled_harm_reduction_card_is_refused(tmp_path: Path) -> None:
    """Harm-reduction cards must ship disabled."""
    text = GOOD.replace('tags = ["helpline"]', 'tags = ["harm-reduction"]')
    _expect_error(_write(tmp_path, text), "enabled_by_default", "disabled")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    """A syntax error names the file."""
    path = _write(tmp_path, GOOD + "\nthis is not toml\n")
    with pytest.raises(CardError, match=r"test-card\.toml: is not valid TOML"):
        load_card(path, today=TODAY)


def test_load_default_cards_rejects_empty_or_missing_directory(tmp_path: Path) -> None:
    """A missing or empty card folder is an error, not an empty set."""
    with pytest.raises(CardError, match="no \\*.toml"):
        load_default_cards(tmp_path, today=TODAY)
    with pytest.raises(CardError, match="does not exist"):
        load_default_cards(tmp_path / "nope", today=TODAY)


def test_load_default_cards_stops_at_first_bad_file(tmp_path: Path) -> None:
    """One bad file fails the whole load, naming that file."""
    _write(tmp_path, GOOD, "good-card")
    _write(tmp_path, GOOD.replace("https://example.org/help", "http://x.org"), "bad-card")
    with pytest.raises(CardError, match="bad-card.toml"):
        load_default_cards(tmp_path, today=TODAY)


# --- the reusable validators --------------------------------------------------------------------


def test_clean_text_strips_and_checks() -> None:
    """clean_text trims, enforces length, and gives specific messages."""
    assert clean_text("  hello  ", 10, "name") == "hello"
    assert clean_text("a\r\nb", 10, "notes", multiline=True) == "a\nb"
    with pytest.raises(CardError, match="must not be empty") as info:
        clean_text("   ", 10, "name")
    assert info.value.field == "name" and info.value.path is None
    assert str(info.value) == "field 'name': must not be empty"
    with pytest.raises(CardError, match="limit is 3"):
        clean_text("abcd", 3, "name")
    with pytest.raises(CardError, match="U\\+200D"):
        clean_text("a\u200db", 10, "name")
    with pytest.raises(CardError, match="mention"):
        clean_text("hi @Everyone", 50, "name")
    with pytest.raises(CardError, match="must be text"):
        clean_text(3, 10, "name")


def test_validate_url_accepts_plain_https() -> None:
    """validate_url returns a trimmed https link."""
    assert validate_url("  https://988lifeline.org  ") == "https://988lifeline.org"
    assert validate_url("https://www.na.org/meetingsearch/") == "https://www.na.org/meetingsearch/"
    with pytest.raises(CardError, match="https://") as info:
        validate_url("http://example.org", field="link")
    assert info.value.field == "link"


def test_normalize_region() -> None:
    """User spellings of regions map to codes."""
    assert normalize_region("uk") == "GB"
    assert normalize_region(" us ") == "US"
    assert normalize_region("INTL") == "intl"
    with pytest.raises(CardError, match="unknown region"):
        normalize_region("FR")


@pytest.mark.parametrize(
    "call",
    [
        lambda: validate_url("http://private-words.example.org"),
        lambda: validate_url("https://private_words"),
        lambda: clean_text("private words @everyone", 100, "text"),
        lambda: clean_text("private words\u202e", 100, "text"),
        lambda: normalize_region("private-words"),
    ],
)
def test_validator_messages_never_echo_user_input(call: Callable[[], object]) -> None:
    """Errors about user input can be logged without logging what the user typed."""
    with pytest.raises(CardError) as info:
        call()
    assert "private" not in str(info.value)
