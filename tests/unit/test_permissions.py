"""Permission names as a person reads them in a refusal."""

from __future__ import annotations

from bot.i18n import use_locale
from bot.permissions import permission_labels


def test_permissions_are_named_as_discord_names_them_once_each_in_the_readers_language() -> None:
    """discord.py names some flags twice (read_messages is view_channel): a refusal said both."""
    flags = ["read_messages", "view_channel", "manage_permissions", "manage_roles", "speak"]
    assert permission_labels(flags) == ["View Channels", "Manage Roles", "Speak"]
    with use_locale("es"):
        assert permission_labels(flags) == ["Ver canales", "Gestionar roles", "Hablar"]
    assert permission_labels(["priority_speaker"]) == ["Priority Speaker"]
