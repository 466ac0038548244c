"""/crisis rendering: every region names its emergency number and points outside the region."""

from __future__ import annotations

import pytest

from bot.services.shipped_cards import EMERGENCY_NUMBERS, load_default_cards
from cogs.crisis import FALLBACK, crisis_embed


def _text(embed: object) -> str:
    data = embed.to_dict()  # type: ignore[attr-defined]
    parts = [data.get("title", ""), data.get("description", "")]
    for field in data.get("fields", []):
        parts += [field["name"], field["value"]]
    parts.append(data.get("footer", {}).get("text", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("region", ["US", "CA", "GB", "IE", "AU"])
def test_each_region_shows_its_lines_and_the_outside_line(region: str) -> None:
    cards = {k: c for k, c in load_default_cards().items() if c.is_crisis}
    text = _text(crisis_embed(cards, region))
    assert f"call {EMERGENCY_NUMBERS[region]} now" in text
    assert "Outside" in text and "/resource list tag:crisis" in text
    assert "no medical advice" in text
    assert "Last verified" in text or "last verified on" in text
    for card in cards.values():
        assert (card.title in text) == (card.region == region)


def test_unset_region_lists_every_country_compactly() -> None:
    cards = {k: c for k, c in load_default_cards().items() if c.is_crisis}
    embed = crisis_embed(cards, None)
    text = _text(embed)
    assert "call your local emergency number" in text
    for number in ("911", "999", "112 or 999", "000"):
        assert number in text
    assert len(embed) < 6000


def test_no_cards_still_gives_the_emergency_numbers() -> None:
    text = _text(crisis_embed({}, "US"))
    assert FALLBACK in text and "911" in text
