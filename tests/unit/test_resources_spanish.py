"""The resource library's messages in Spanish, and guild cards written in Spanish."""

from __future__ import annotations

from datetime import date

import pytest

from bot.errors import UserFacingError
from bot.i18n import use_locale
from bot.models.resources import Draft
from bot.services.card_drafts import (
    contacts_text,
    parse_contacts,
    parse_region_and_tags,
    parse_tags,
    tag_names,
    validate,
)

TODAY = date(2026, 11, 25)


def draft(**overrides: str) -> Draft:
    values = {
        "title": "Línea de apoyo del barrio",
        "summary": "Una línea gratuita para familias. Atiende todos los días.",
        "source_url": "https://barrio.example.org/ayuda",
        "contacts": "phone: 555-0100 | Llama",
        "region": "US",
        "tags": "helpline, family",
    }
    values.update(overrides)
    return Draft(**values)


def refusal(**overrides: str) -> str:
    """The message a Spanish reader gets for a bad draft."""
    with use_locale("es-419"), pytest.raises(UserFacingError) as info:
        validate(draft(**overrides), today=TODAY)
    with use_locale("es-419"):
        return info.value.message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"title": "x" * 101}, "El título tiene 101 caracteres; el límite es 100."),
        ({"summary": "Uno. Dos. Tres. Cuatro."}, "El resumen tiene 4 oraciones; usa de 1 a 3."),
        ({"title": "   "}, "El título no puede quedar en blanco."),
        ({"source_url": "http://barrio.example.org"}, "El enlace de la fuente debe empezar"),
        ({"contacts": "phone: llama ya!!"}, "El contacto de la línea 1 no es un número"),
        ({"summary": "Pregunta a @everyone."}, "El resumen contiene una mención de Discord"),
        ({"region": "Marte"}, "Esa no es una región que Haven conozca."),
        ({"tags": "recetas"}, "1 etiqueta no es de las que Haven conoce."),
        ({"tags": "recetas, cocina"}, "2 etiquetas no son de las que Haven conoce."),
    ],
)
def test_a_bad_draft_is_refused_in_spanish(fields: dict[str, str], expected: str) -> None:
    assert expected in refusal(**fields)


def test_a_spanish_crisis_card_names_the_emergency_number_in_spanish() -> None:
    crisis = {"tags": "crisis, helpline"}
    card = validate(
        draft(
            summary="Apoyo en crisis. Si crees que alguien se está muriendo, llama al 911.",
            **crisis,
        ),
        today=TODAY,
    )
    assert card.is_crisis and card.language is None  # a guild's own words: no "(en inglés)" note
    english = validate(
        draft(summary="Crisis help. If someone may be dying, call 911.", **crisis), today=TODAY
    )
    assert english.is_crisis
    message = refusal(summary="Apoyo en crisis, todos los días.", **crisis)
    assert "llama al 911" in message and "call 911" in message


def test_the_default_website_label_is_in_the_writers_language() -> None:
    with use_locale("es-ES"):
        contacts = parse_contacts("", "https://barrio.example.org")
    assert contacts == [
        {"kind": "url", "value": "https://barrio.example.org", "label": "Sitio web"}
    ]


def test_english_readers_still_get_english() -> None:
    with use_locale("en-US"), pytest.raises(UserFacingError) as info:
        parse_tags("recipes")
    assert info.value.message.startswith("1 tag is not one Haven knows.")


def test_tags_and_contact_kinds_can_be_typed_in_spanish() -> None:
    """A Spanish moderator types the names the form shows them; the card stores the tags."""
    with use_locale("es-419"):
        assert parse_tags("Naloxona, reducción de daños; SALUD MENTAL") == {
            "naloxone",
            "harm-reduction",
            "mental-health",
        }
        assert parse_tags("reduccion de danos, en linea") == {"harm-reduction", "online"}
        assert parse_tags("naloxona sobredosis") == {"naloxone", "overdose"}  # spaces, as before
        assert parse_tags("naloxone, harm-reduction") == {"naloxone", "harm-reduction"}
        assert parse_region_and_tags("US: naloxona, sobredosis") == (
            "US",
            frozenset({"naloxone", "overdose"}),
        )
        contacts = parse_contacts(
            "teléfono: 988 | Llama\ntexto: 741741\ncorreo: ayuda@example.org\n"
            "enlace: https://example.org\nphone: 555-0100"
        )
        assert [c["kind"] for c in contacts] == ["phone", "text", "email", "url", "phone"]
        assert contacts[0]["value"] == "988" and contacts[3]["value"] == "https://example.org"
        with pytest.raises(UserFacingError) as info:
            parse_tags("naloxona, recetas")
        message = info.value.message  # the list in the reader's words
    assert message.startswith("1 etiqueta") and "naloxona, reducción de daños" in message


def test_an_edit_form_shows_tags_and_contact_kinds_in_the_readers_language() -> None:
    card = validate(draft(contacts="phone: 988 | Llama\ntext: 741741"), today=TODAY)
    with use_locale("es-ES"):
        tags, contacts = tag_names(card.tags), contacts_text(card.contacts)
        assert tags == "familia, línea de ayuda"
        assert contacts == "teléfono: 988 | Llama\ntexto: 741741"
        assert parse_tags(tags) == card.tags  # what the form shows is what it takes back
        assert [c["kind"] for c in parse_contacts(contacts)] == ["phone", "text"]
    with use_locale("en-US"):
        assert tag_names(card.tags) == "family, helpline"
        assert contacts_text(card.contacts) == "phone: 988 | Llama\ntext: 741741"
