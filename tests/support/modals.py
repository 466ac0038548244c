"""What the bot put in the modals it opened."""

from __future__ import annotations

from tests.fakediscord import InteractionResult


def modal_defaults(opened: InteractionResult) -> dict[str, str]:
    """The prefilled values of the modal the bot opened (Discord submits them unchanged)."""
    assert opened.modal is not None
    values = {}
    for row in opened.modal["components"]:
        for comp in row.get("components", [row.get("component", {})]):
            if comp.get("value"):
                values[comp["custom_id"]] = comp["value"]
    return values
