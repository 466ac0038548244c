"""Per-guild settings as plain data."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

WELCOME_MODES = ("off", "channel", "dm")


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """Everything a guild has configured; defaults for a guild that configured nothing."""

    guild_id: int
    moderator_role_id: int | None = None
    facilitator_role_id: int | None = None
    member_role_id: int | None = None
    family_role_id: int | None = None
    announce_channel_id: int | None = None
    modlog_channel_id: int | None = None
    review_channel_id: int | None = None
    moderators_channel_id: int | None = None
    welcome_channel_id: int | None = None
    timezone: str = "UTC"
    region: str | None = None
    reminder_offsets: str = "1440,15"
    room_open_minutes: int = 10
    room_close_minutes: int = 15
    room_clear_chat: bool = False
    native_events: bool = False
    cancel_notices: bool = True
    welcome_mode: str = "off"
    welcome_mention: bool = False
    role_approval: bool = False
    panel_channel_id: int | None = None
    panel_message_id: int | None = None
    language: str = "en"  # its public posts and new meetings ("en" or "es"; bot.i18n.SUPPORTED)

    @property
    def offsets_minutes(self) -> list[int]:
        """Default reminder offsets in minutes, largest first."""
        return sorted((int(p) for p in self.reminder_offsets.split(",") if p), reverse=True)


# The settings a guild can change (every field but the guild id), in declaration order.
SETTING_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(GuildSettings) if f.name != "guild_id"
)


@dataclass(frozen=True, slots=True)
class Change:
    """One setting that changed."""

    field: str
    old: Any
    new: Any
