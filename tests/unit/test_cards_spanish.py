"""Spanish card text: `[i18n.es]` blocks validate like English, and only sourced cards carry one."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from bot.services.shipped_cards import (
    Card,
    CardError,
    Contact,
    crisis_cards_for,
    emergency_line,
    load_card,
    load_default_cards,
)

TODAY = date(2026, 11, 25)

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

[[contacts]]
kind = "url"
value = "https://example.org"

[i18n.es]
title = "Línea de ejemplo"
summary = "Una línea gratuita. ¿Abre todo el día? Sí, todo el día."
source_url = "https://example.org/es"
verified_on = 2026-11-23
contact_labels = ["Llama", "Sitio web"]
"""

#: Cards whose Spanish facts are graded in shared/resources/facts.md (988 press 2 and its Spanish
#: text and chat; SAMHSA's helpline in English and Spanish). No other card may carry Spanish text.
SOURCED_IN_SPANISH = {"us-988", "us-samhsa-helpline"}

#: Words that label people rather than describe a service; NA's own name for itself is the exception.
STIGMA = re.compile(r"\b(adict[oa]s?|drogadict[oa]s?|toxic[oó]man[oa]s?|abuso de sustancias)\b")


def _write(tmp_path: Path, text: str, card_id: str = "test-card") -> Path:
    """Write a card file named after its id."""
    path = tmp_path / f"{card_id}.toml"
    path.write_text(text.replace("{id}", card_id), encoding="utf-8")
    return path


def _expect_error(path: Path, field: str, match: str | None) -> CardError:
    """Load a card that must fail, naming the file and the field."""
    with pytest.raises(CardError, match=match) as info:
        load_card(path, today=TODAY)
    assert info.value.field == field
    assert path.name in str(info.value)
    return info.value


@pytest.fixture(scope="module")
def cards() -> dict[str, Card]:
    """The shipped default set."""
    return load_default_cards(today=TODAY)


# --- the block and the reader's language --------------------------------------------------------


def test_a_spanish_block_loads_and_is_picked_for_a_spanish_reader(tmp_path: Path) -> None:
    card = load_card(_write(tmp_path, GOOD), today=TODAY)
    assert card.language == "en" and card.has_text_in("es") and card.has_text_in("en")
    es = card.in_language("es")
    assert es.language == "es" and es.id == card.id
    assert es.title == "Línea de ejemplo"
    assert es.summary.startswith("Una línea gratuita.")
    assert es.source_url == "https://example.org/es"
    assert es.verified_on == date(2026, 11, 23)
    # Numbers and links are the service's own: only the labels change.
    assert es.contacts == (
        Contact("phone", "1-800-555-0100", "Llama"),
        Contact("url", "https://example.org", "Sitio web"),
    )
    assert card.in_language("en") == card


def test_a_card_without_spanish_stays_english_for_a_spanish_reader(tmp_path: Path) -> None:
    text = GOOD[: GOOD.index("[i18n.es]")]
    card = load_card(_write(tmp_path, text), today=TODAY)
    assert not card.has_text_in("es")
    shown = card.in_language("es")
    assert shown == card and shown.language == "en"


def test_a_card_is_due_when_its_oldest_text_is(tmp_path: Path) -> None:
    older = GOOD.replace("verified_on = 2026-11-23", "verified_on = 2026-11-20")
    card = load_card(_write(tmp_path, older), today=TODAY)
    # English: 2026-11-22 + 180 days = 2027-05-21; the Spanish text was checked two days earlier.
    assert card.review_due() == date(2027, 5, 19)
    assert card.is_stale(date(2027, 5, 20)) and card.in_language("es").is_stale(date(2027, 5, 20))
    assert not card.is_stale(date(2027, 5, 19))
    rechecked = card.verified(date(2027, 5, 20))
    assert rechecked.in_language("es").verified_on == date(2027, 5, 20)
    assert rechecked.review_due() == date(2027, 11, 16)


# --- a bad block is refused like a bad English card ---------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "match"),
    [
        ('title = "Línea de ejemplo"', f'title = "{"T" * 101}"', "i18n.es.title", "limit is 100"),
        (
            "Una línea gratuita. ¿Abre todo el día? Sí, todo el día.",
            "Uno. Dos. Tres. ¿Cuatro?",
            "i18n.es.summary",
            "4 sentences",
        ),
        (
            "Una línea gratuita. ¿Abre todo el día? Sí, todo el día.",
            "Ú" + "a" * 400 + ".",
            "i18n.es.summary",
            "limit is 400",
        ),
        ("Una línea gratuita.", "Una línea @everyone.", "i18n.es.summary", "mention"),
        ('title = "Línea de ejemplo"', 'title = "Línea\\u200bde"', "i18n.es.title", "invisible"),
        ('title = "Línea de ejemplo"', 'title = "   "', "i18n.es.title", "empty"),
        (
            '"https://example.org/es"',
            '"http://example.org/es"',
            "i18n.es.source_url",
            "https://",
        ),
        (
            '"https://example.org/es"',
            '"javascript:alert(1)"',
            "i18n.es.source_url",
            "javascript",
        ),
        ("verified_on = 2026-11-23", "verified_on = 2026-11-26", "i18n.es.verified_on", "future"),
        ("verified_on = 2026-11-23", 'verified_on = "2026-11-23"', "i18n.es.verified_on", "date"),
        ("verified_on = 2026-11-23\n", "", "i18n.es.verified_on", "missing"),
        ('source_url = "https://example.org/es"\n', "", "i18n.es.source_url", "missing"),
        ('["Llama", "Sitio web"]', '["Llama"]', "i18n.es.contact_labels", "one label per contact"),
        ('["Llama", "Sitio web"]', '["Llama", ""]', "i18n.es.contact_labels[1]", "empty"),
        ('["Llama", "Sitio web"]', '"Llama"', "i18n.es.contact_labels", "one label per contact"),
        ('["Llama", "Sitio web"]', '["Llama", "<@&42>"]', "i18n.es.contact_labels[1]", "mention"),
        ("contact_labels", "etiquetas", "i18n.es", "unknown keys: etiquetas"),
        ("[i18n.es]", "[i18n.fr]", "i18n", "unknown language 'fr'"),
        ("[i18n.es]", "[i18n.en]", "i18n", "unknown language 'en'"),
    ],
)
def test_a_bad_spanish_block_is_refused(
    tmp_path: Path, old: str, new: str, field: str, match: str
) -> None:
    assert old in GOOD
    _expect_error(_write(tmp_path, GOOD.replace(old, new)), field, match)


def test_i18n_must_be_a_table_of_tables(tmp_path: Path) -> None:
    text = GOOD[: GOOD.index("[i18n.es]")]
    _expect_error(_write(tmp_path, 'i18n = "es"\n' + text), "i18n", "table")
    _expect_error(_write(tmp_path, text + '[i18n]\nes = "sí"\n'), "i18n.es", "table")


def test_a_spanish_crisis_block_must_name_the_emergency_number_in_spanish(tmp_path: Path) -> None:
    crisis = GOOD.replace('tags = ["helpline"]', 'tags = ["crisis", "helpline"]').replace(
        "It is open all day.", "If someone may be dying, call 911."
    )
    _expect_error(_write(tmp_path, crisis), "i18n.es.summary", "llama al 911")
    fixed = crisis.replace("Sí, todo el día.", "Si alguien se está muriendo, llama al 911.")
    assert load_card(_write(tmp_path, fixed), today=TODAY).has_text_in("es")
    assert emergency_line("IE", "es") == "llama al 112 o al 999"
    assert emergency_line("IE") == "call 112 or 999"


def test_a_disclaimer_is_never_dropped_in_spanish(tmp_path: Path) -> None:
    with_disclaimer = GOOD.replace(
        "enabled_by_default = true", 'enabled_by_default = true\ndisclaimer = "Not medical advice."'
    )
    _expect_error(_write(tmp_path, with_disclaimer), "i18n.es.disclaimer", "English card has one")
    fixed = with_disclaimer.replace(
        "contact_labels", 'disclaimer = "No es consejo médico."\ncontact_labels'
    )
    card = load_card(_write(tmp_path, fixed), today=TODAY)
    assert card.in_language("es").disclaimer == "No es consejo médico."


# --- the shipped Spanish text ------------------------------------------------------------------


def test_only_cards_sourced_in_spanish_carry_spanish_text(cards: dict[str, Card]) -> None:
    assert {cid for cid, c in cards.items() if c.has_text_in("es")} == SOURCED_IN_SPANISH


def test_988_in_spanish_says_press_2_and_never_press_3(cards: dict[str, Card]) -> None:
    es = cards["us-988"].in_language("es")
    text = " ".join([es.title, es.summary, *(c.label or "" for c in es.contacts)])
    assert "marca 2" in text and "español" in text and "llama al 911" in es.summary
    assert not re.search(r"\b3\b", text)
    assert [c.value for c in es.contacts] == [c.value for c in cards["us-988"].contacts]


def test_samhsa_in_spanish_keeps_the_text_line_english_only(cards: dict[str, Card]) -> None:
    es = cards["us-samhsa-helpline"].in_language("es")
    assert "en inglés y en español" in es.summary
    text_line = next(c for c in es.contacts if c.kind == "text")
    assert "solo en inglés" in (text_line.label or "")


def test_spanish_text_is_plain_and_never_stigmatising(cards: dict[str, Card]) -> None:
    for card in cards.values():
        if not card.has_text_in("es"):
            continue
        es = card.in_language("es")
        text = " ".join([es.title, es.summary, es.disclaimer or ""])
        text += " " + " ".join(c.label or "" for c in es.contacts)
        assert not STIGMA.search(text.lower()), card.id
        assert "usted" not in text.lower().split(), card.id  # "tú", warm and plain
        assert es.verified_on is not None and es.verified_on <= TODAY


def test_crisis_cards_for_a_spanish_reader(cards: dict[str, Card]) -> None:
    shown = crisis_cards_for(cards, "US", "es")
    by_id = {c.id: c for c in shown}
    assert by_id["us-988"].language == "es"
    assert by_id["us-crisis-text-line"].language == "en"
    assert [c.id for c in shown] == [c.id for c in crisis_cards_for(cards, "US")]
