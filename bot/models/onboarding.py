"""Onboarding as plain data: the self-service roles, role requests and the newcomer welcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.i18n import Msg, Text
from bot.models.guilds import GuildSettings


class RoleKind(StrEnum):
    """The two self-service roles of the panel."""

    MEMBER = "member"
    FAMILY = "family"

    @property
    def setting(self) -> str:
        """The guild setting that holds this role's id."""
        return f"{self.value}_role_id"

    @property
    def label(self) -> Msg:
        """The role's name in Haven's words."""
        return Msg("member role") if self is RoleKind.MEMBER else Msg("family role")

    @property
    def meetings(self) -> Msg:
        """Which meetings the role opens."""
        if self is RoleKind.MEMBER:
            return Msg("closed NA-style meetings")
        return Msg("closed family meetings")

    def role_id(self, settings: GuildSettings) -> int | None:
        """The configured role id of this kind in a guild, if any."""
        value: int | None = getattr(settings, self.setting)
        return value


class PressAction(StrEnum):
    """What a press on a panel button does."""

    ADD = "add"
    REMOVE = "remove"
    REQUEST = "request"
    WITHDRAW = "withdraw"


@dataclass(frozen=True, slots=True)
class RoleRequest:
    """A role request waiting for a moderator."""

    id: int
    guild_id: int
    user_id: int
    kind: RoleKind
    requested_at: datetime
    channel_id: int | None = None
    message_id: int | None = None


class Verdict(StrEnum):
    """How a moderator's Approve or Decline ended a request."""

    APPROVED = "approved"
    DECLINED = "declined"
    MEMBER_LEFT = "member left"  # closed on Approve: nobody is left to give the role to
    BLOCKED = "blocked"  # still waiting: the bot cannot give the role until set-up is fixed


@dataclass(frozen=True, slots=True)
class Decision:
    """What a moderator's press came to, for the glue to show."""

    request: RoleRequest
    verdict: Verdict
    problems: tuple[Text, ...] = ()


@dataclass(frozen=True, slots=True)
class RoleSlot:
    """One configured role as the glue sees it: id (None if unset), position (None if deleted)."""

    kind: RoleKind
    role_id: int | None
    position: int | None = None
    managed: bool = False


@dataclass(frozen=True, slots=True)
class BotStanding:
    """The bot's own standing in a guild: Manage Roles, and its highest role."""

    manage_roles: bool
    top_role_id: int
    top_position: int
    top_is_default: bool = False


@dataclass(frozen=True, slots=True)
class UpcomingMeeting:
    """An open meeting and its next start, for the welcome."""

    meeting_id: int
    title: str
    kind: str
    start: datetime
    home_time: str


@dataclass(frozen=True, slots=True)
class Welcome:
    """What a newcomer is sent, and where."""

    guild_id: int
    mode: str
    channel_id: int | None
    mention: bool
    meetings: tuple[UpcomingMeeting, ...]
    panel_channel_id: int | None
    panel_message_id: int | None
