"""Onboarding: self-service roles (with optional moderator approval) and the newcomer welcome.

No Discord imports: the glue passes role positions and permissions in as plain data and turns the
answers into Discord calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from bot.clock import Clock, iso, utc_from_iso
from bot.db import Database
from bot.db.repositories import onboarding as repo
from bot.errors import UserFacingError
from bot.i18n import N_, Msg
from bot.models.onboarding import (
    BotStanding,
    Decision,
    PressAction,
    RoleKind,
    RoleRequest,
    RoleSlot,
    UpcomingMeeting,
    Verdict,
    Welcome,
)
from bot.occurrences import next_occurrences
from bot.services.guilds import GuildSettings
from bot.services.meetings import Access, Meeting, home_time_words
from bot.services.privacy import PrivacyService, UserData

__all__ = [
    "PROBLEM_REPORT_INTERVAL",
    "WELCOME_MEETINGS",
    "BotStanding",
    "Decision",
    "OnboardingService",
    "PressAction",
    "RoleKind",
    "RoleRequest",
    "RoleSlot",
    "UpcomingMeeting",
    "Verdict",
    "Welcome",
    "next_open_meetings",
    "press_action",
    "role_setup_problems",
    "welcome_for",
]

WELCOME_MEETINGS = 3
# A setup problem seen at a button press is reported to the mod log at most this often.
PROBLEM_REPORT_INTERVAL = timedelta(hours=1)


def press_action(*, has_role: bool, approval: bool, pending: bool) -> PressAction:
    """Decide a panel press: holding the role drops it (never needs approval), else add or ask."""
    if has_role:
        return PressAction.REMOVE
    if not approval:
        return PressAction.ADD
    if pending:
        return PressAction.WITHDRAW
    return PressAction.REQUEST


# -- can the bot hand out the roles? ---------------------------------------------------------


def role_setup_problems(slots: list[RoleSlot], bot: BotStanding) -> list[Msg]:
    """Every reason the bot cannot hand out these roles, each saying exactly what to fix."""
    problems: list[Msg] = []
    if not bot.manage_roles:
        if bot.top_is_default:
            problems.append(
                Msg(
                    "I have no role with the **Manage Roles** permission: in Server Settings → "
                    "Roles, give my bot role **Manage Roles** (or re-invite me with the link "
                    "from the README)."
                )
            )
        else:
            problems.append(
                Msg(
                    "My role <@&{role_id}> needs the **Manage Roles** permission: in Server "
                    "Settings → Roles → <@&{role_id}> → Permissions, turn on **Manage Roles**.",
                    role_id=bot.top_role_id,
                )
            )
    for slot in slots:
        kind = slot.kind
        if slot.role_id is None:
            problems.append(
                Msg(
                    "The {label} (for {meetings}) is not set: run `/setup roles {option}:` and "
                    "pick the role.",
                    label=kind.label,
                    meetings=kind.meetings,
                    option=kind.value,
                )
            )
            continue
        if slot.position is None:
            problems.append(
                Msg(
                    "The {label} set in Haven no longer exists: pick one again with "
                    "`/setup roles {option}:`.",
                    label=kind.label,
                    option=kind.value,
                )
            )
            continue
        if slot.managed:
            problems.append(
                Msg(
                    "<@&{role_id}> belongs to an integration, so nobody can hand it out: pick "
                    "another role with `/setup roles {option}:`.",
                    role_id=slot.role_id,
                    option=kind.value,
                )
            )
            continue
        if slot.position >= bot.top_position:
            if bot.top_is_default:
                problems.append(
                    Msg(
                        "In Server Settings → Roles, drag my highest role above <@&{role_id}>: "
                        "Discord lets a bot give only roles that sit below its own highest role.",
                        role_id=slot.role_id,
                    )
                )
            else:
                problems.append(
                    Msg(
                        "In Server Settings → Roles, drag my role <@&{mine}> above "
                        "<@&{role_id}>: Discord lets a bot give only roles that sit below its "
                        "own highest role.",
                        mine=bot.top_role_id,
                        role_id=slot.role_id,
                    )
                )
    return problems


# -- the welcome -----------------------------------------------------------------------------


def next_open_meetings(
    meetings: Iterable[Meeting], now: datetime, limit: int = WELCOME_MEETINGS, language: str = "en"
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
                home_time=home_time_words(meeting, language),
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
        meetings=tuple(next_open_meetings(meetings, now, language=settings.language)),
        panel_channel_id=settings.panel_channel_id,
        panel_message_id=settings.panel_message_id,
    )


class OnboardingService:
    """Pending role requests: filed from the panel, closed by a moderator or the peer."""

    def __init__(self, db: Database, clock: Clock, privacy: PrivacyService) -> None:
        self.db = db
        self.clock = clock
        self._problem_reported: dict[int, datetime] = {}
        privacy.register(
            UserData(
                "role_requests",
                "user_id",
                purpose=N_(
                    "A role you asked for from the role panel, while it waits for a moderator "
                    "(deleted once approved, declined or withdrawn)."
                ),
            )
        )

    def report_due(self, guild_id: int) -> bool:
        """Whether to tell a guild's moderators about a setup problem now (once an hour at most)."""
        now = self.clock.now()
        last = self._problem_reported.get(guild_id)
        if last is not None and now - last < PROBLEM_REPORT_INTERVAL:
            return False
        self._problem_reported[guild_id] = now
        return True

    # -- role requests ---------------------------------------------------------------------

    async def pending(self, guild_id: int, user_id: int, kind: RoleKind) -> RoleRequest | None:
        """The user's pending request for this role, if any."""
        return await repo.pending(self.db, guild_id, user_id, kind)

    async def get_request(self, request_id: int) -> RoleRequest | None:
        """A pending request by id."""
        return await repo.by_id(self.db, request_id)

    async def request(
        self, guild_id: int, user_id: int, kind: RoleKind
    ) -> tuple[RoleRequest, bool]:
        """File a request (or find the pending one); True when it is new."""
        async with self.db.transaction() as tx:
            existing = await repo.pending(tx, guild_id, user_id, kind)
            if existing is not None:
                return existing, False
            # Read back at the stored precision, so the new request equals its stored row.
            now = utc_from_iso(iso(self.clock.now()))
            new = RoleRequest(0, guild_id, user_id, kind, now)
            request_id = await repo.insert(tx, new)
        return RoleRequest(request_id, guild_id, user_id, kind, now), True

    async def attach_message(self, request_id: int, channel_id: int, message_id: int) -> None:
        """Remember where the request's Approve / Decline card was posted."""
        async with self.db.transaction() as tx:
            await repo.attach_message(tx, request_id, channel_id, message_id)

    async def take(self, request_id: int, guild_id: int) -> RoleRequest | None:
        """Close a pending request of this guild (approve or decline); None if already closed."""
        async with self.db.transaction() as tx:
            request = await repo.in_guild(tx, request_id, guild_id)
            if request is None:
                return None
            await repo.delete(tx, request_id)
        return request

    async def withdraw(self, guild_id: int, user_id: int, kind: RoleKind) -> RoleRequest | None:
        """Close the user's own pending request for a role; None if there was none."""
        request = await self.pending(guild_id, user_id, kind)
        if request is None:
            return None
        return await self.take(request.id, guild_id)

    async def restore(self, request: RoleRequest) -> None:
        """Put a taken request back (the role could not be given after all)."""
        async with self.db.transaction() as tx:
            await repo.restore(tx, request)

    async def pending_count(self, guild_id: int) -> int:
        """How many requests of a guild wait for a moderator."""
        return await repo.count_pending(self.db, guild_id)

    # -- a moderator's Approve / Decline -----------------------------------------------------

    async def waiting(self, request_id: int, guild_id: int) -> RoleRequest:
        """A request still waiting in this guild, or a clear refusal."""
        request = await self.get_request(request_id)
        if request is None or request.guild_id != guild_id:
            raise UserFacingError(
                Msg(
                    "This request is no longer waiting: it was already decided, or the member "
                    "withdrew it or left the server."
                )
            )
        return request

    async def decide(
        self,
        request: RoleRequest,
        *,
        approve: bool,
        member_present: bool,
        slot: RoleSlot,
        standing: BotStanding,
        grant: Callable[[], Awaitable[None]],
    ) -> Decision:
        """Close a request as a moderator chose; on Approve, ``grant`` gives the role.

        Approving for someone who left just closes the request; a role the bot cannot give keeps
        it waiting (BLOCKED, with what to fix). If ``grant`` fails, the request is put back.
        """
        if approve and not member_present:
            await self.take(request.id, request.guild_id)
            return Decision(request, Verdict.MEMBER_LEFT)
        if approve:
            problems = role_setup_problems([slot], standing)
            if problems:
                return Decision(request, Verdict.BLOCKED, tuple(problems))
        taken = await self.take(request.id, request.guild_id)
        if taken is None:
            raise UserFacingError(Msg("Another moderator decided this request a moment ago."))
        if not approve:
            return Decision(request, Verdict.DECLINED)
        try:
            await grant()
        except UserFacingError:
            await self.restore(taken)
            raise
        return Decision(request, Verdict.APPROVED)
