"""Onboarding: self-service roles (with optional moderator approval) and the newcomer welcome.

No Discord imports: the glue passes role positions and permissions in as plain data and turns the
answers into Discord calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.clock import Clock, iso, utc_from_iso
from bot.db import Database
from bot.occurrences import next_occurrences
from bot.services.guilds import GuildSettings
from bot.services.meetings import Access, Meeting
from bot.services.privacy import PrivacyService, UserData

WELCOME_MEETINGS = 3


class RoleKind(StrEnum):
    """The two self-service roles of the panel."""

    MEMBER = "member"
    FAMILY = "family"

    @property
    def setting(self) -> str:
        """The guild setting that holds this role's id."""
        return f"{self.value}_role_id"

    @property
    def label(self) -> str:
        """The role's name in Haven's words."""
        return "member role" if self is RoleKind.MEMBER else "family role"

    @property
    def meetings(self) -> str:
        """Which meetings the role opens."""
        if self is RoleKind.MEMBER:
            return "closed NA-style meetings"
        return "closed family meetings"

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


def press_action(*, has_role: bool, approval: bool, pending: bool) -> PressAction:
    """Decide a panel press: holding the role drops it (never needs approval), else add or ask."""
    if has_role:
        return PressAction.REMOVE
    if not approval:
        return PressAction.ADD
    if pending:
        return PressAction.WITHDRAW
    return PressAction.REQUEST


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


# -- can the bot hand out the roles? ---------------------------------------------------------


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


def role_setup_problems(slots: list[RoleSlot], bot: BotStanding) -> list[str]:
    """Every reason the bot cannot hand out these roles, each saying exactly what to fix."""
    problems: list[str] = []
    where = "Server Settings → Roles"
    if not bot.manage_roles:
        if bot.top_is_default:
            problems.append(
                f"I have no role with the **Manage Roles** permission: in {where}, give my bot "
                "role **Manage Roles** (or re-invite me with the link from the README)."
            )
        else:
            problems.append(
                f"My role <@&{bot.top_role_id}> needs the **Manage Roles** permission: in {where} → "
                f"<@&{bot.top_role_id}> → Permissions, turn on **Manage Roles**."
            )
    for slot in slots:
        if slot.role_id is None:
            problems.append(
                f"The {slot.kind.label} (for {slot.kind.meetings}) is not set: run "
                f"`/setup roles {slot.kind.value}:` and pick the role."
            )
            continue
        if slot.position is None:
            problems.append(
                f"The {slot.kind.label} set in Haven no longer exists: pick one again with "
                f"`/setup roles {slot.kind.value}:`."
            )
            continue
        if slot.managed:
            problems.append(
                f"<@&{slot.role_id}> belongs to an integration, so nobody can hand it out: pick "
                f"another role with `/setup roles {slot.kind.value}:`."
            )
            continue
        if slot.position >= bot.top_position:
            mine = "my highest role" if bot.top_is_default else f"my role <@&{bot.top_role_id}>"
            problems.append(
                f"In {where}, drag {mine} above <@&{slot.role_id}>: Discord lets a bot give only "
                "roles that sit below its own highest role."
            )
    return problems


# -- the welcome -----------------------------------------------------------------------------


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


def next_open_meetings(
    meetings: Iterable[Meeting], now: datetime, limit: int = WELCOME_MEETINGS
) -> list[UpcomingMeeting]:
    """The open meetings that start soonest after now, each once, with its next start."""
    upcoming: list[UpcomingMeeting] = []
    for meeting in meetings:
        if meeting.access is not Access.OPEN:
            continue
        following = next_occurrences(meeting.schedule, now, 1)
        if not following:
            continue
        upcoming.append(
            UpcomingMeeting(
                meeting_id=meeting.id,
                title=meeting.title,
                kind=meeting.kind.value,
                start=following[0].start,
                home_time=meeting.home_time,
            )
        )
    upcoming.sort(key=lambda u: (u.start, u.meeting_id))
    return upcoming[:limit]


def welcome_for(
    settings: GuildSettings, meetings: Iterable[Meeting], now: datetime
) -> Welcome | None:
    """The welcome to send a newcomer, or None when the guild has it off (or has no channel)."""
    if settings.welcome_mode == "off":
        return None
    if settings.welcome_mode == "channel" and settings.welcome_channel_id is None:
        return None
    return Welcome(
        guild_id=settings.guild_id,
        mode=settings.welcome_mode,
        channel_id=settings.welcome_channel_id,
        mention=settings.welcome_mention and settings.welcome_mode == "channel",
        meetings=tuple(next_open_meetings(meetings, now)),
        panel_channel_id=settings.panel_channel_id,
        panel_message_id=settings.panel_message_id,
    )


def _request_from_row(row: Any) -> RoleRequest:
    return RoleRequest(
        id=row[0],
        guild_id=row[1],
        user_id=row[2],
        kind=RoleKind(row[3]),
        requested_at=utc_from_iso(row[4]),
        channel_id=row[5],
        message_id=row[6],
    )


_REQUEST_COLUMNS = "id, guild_id, user_id, kind, requested_at, channel_id, message_id"


class OnboardingService:
    """Pending role requests: filed from the panel, closed by a moderator or the peer."""

    def __init__(self, db: Database, clock: Clock, privacy: PrivacyService) -> None:
        self.db = db
        self.clock = clock
        privacy.register(
            UserData(
                "role_requests",
                "user_id",
                purpose=(
                    "A role you asked for from the role panel, while it waits for a moderator "
                    "(deleted once approved, declined or withdrawn)."
                ),
            )
        )

    # -- role requests ---------------------------------------------------------------------

    async def pending(self, guild_id: int, user_id: int, kind: RoleKind) -> RoleRequest | None:
        """The user's pending request for this role, if any."""
        row = await self.db.fetchone(
            f"SELECT {_REQUEST_COLUMNS} FROM role_requests "  # noqa: S608
            "WHERE guild_id = ? AND user_id = ? AND kind = ?",
            (guild_id, user_id, kind.value),
        )
        return None if row is None else _request_from_row(row)

    async def get_request(self, request_id: int) -> RoleRequest | None:
        """A pending request by id."""
        row = await self.db.fetchone(
            f"SELECT {_REQUEST_COLUMNS} FROM role_requests WHERE id = ?",  # noqa: S608
            (request_id,),
        )
        return None if row is None else _request_from_row(row)

    async def request(
        self, guild_id: int, user_id: int, kind: RoleKind
    ) -> tuple[RoleRequest, bool]:
        """File a request (or find the pending one); True when it is new."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT {_REQUEST_COLUMNS} FROM role_requests "  # noqa: S608
                "WHERE guild_id = ? AND user_id = ? AND kind = ?",
                (guild_id, user_id, kind.value),
            )
            if row is not None:
                return _request_from_row(row), False
            now = self.clock.now()
            request_id = await tx.insert(
                "INSERT INTO role_requests (guild_id, user_id, kind, requested_at) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, user_id, kind.value, iso(now)),
            )
        return (
            RoleRequest(request_id, guild_id, user_id, kind, utc_from_iso(iso(now))),
            True,
        )

    async def attach_message(self, request_id: int, channel_id: int, message_id: int) -> None:
        """Remember where the request's Approve / Decline card was posted."""
        await self.db.execute(
            "UPDATE role_requests SET channel_id = ?, message_id = ? WHERE id = ?",
            (channel_id, message_id, request_id),
        )

    async def take(self, request_id: int, guild_id: int) -> RoleRequest | None:
        """Close a pending request of this guild (approve or decline); None if already closed."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT {_REQUEST_COLUMNS} FROM role_requests "  # noqa: S608
                "WHERE id = ? AND guild_id = ?",
                (request_id, guild_id),
            )
            if row is None:
                return None
            await tx.execute("DELETE FROM role_requests WHERE id = ?", (request_id,))
        return _request_from_row(row)

    async def withdraw(self, guild_id: int, user_id: int, kind: RoleKind) -> RoleRequest | None:
        """Close the user's own pending request for a role; None if there was none."""
        request = await self.pending(guild_id, user_id, kind)
        if request is None:
            return None
        return await self.take(request.id, guild_id)

    async def restore(self, request: RoleRequest) -> None:
        """Put a taken request back (the role could not be given after all)."""
        await self.db.execute(
            f"INSERT INTO role_requests ({_REQUEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            (
                request.id,
                request.guild_id,
                request.user_id,
                request.kind.value,
                iso(request.requested_at),
                request.channel_id,
                request.message_id,
            ),
        )

    async def pending_count(self, guild_id: int) -> int:
        """How many requests of a guild wait for a moderator."""
        value = await self.db.fetchval(
            "SELECT count(*) FROM role_requests WHERE guild_id = ?", (guild_id,)
        )
        return int(value or 0)
