"""Onboarding service: press decisions, role requests, setup problems, the welcome content."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.clock import FakeClock
from bot.db import Database
from bot.errors import UserFacingError
from bot.occurrences import OccurrenceException, Repeat
from bot.services.guilds import GuildSettings
from bot.services.meetings import Access, Kind, Meeting
from bot.services.onboarding import (
    PROBLEM_REPORT_INTERVAL,
    BotStanding,
    OnboardingService,
    PressAction,
    RoleKind,
    RoleSlot,
    Verdict,
    next_open_meetings,
    press_action,
    role_setup_problems,
    welcome_for,
)
from bot.services.privacy import PrivacyService

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

GUILD = 1001
OTHER_GUILD = 2002
PEER = 501
OTHER_PEER = 502
# Thursday 2027-01-07 12:00 in New York.
NOW = datetime(2027, 1, 7, 17, 0, tzinfo=UTC)


@pytest.fixture
def start() -> datetime:
    """When `clock` (tests/unit/conftest.py) starts."""
    return NOW


@pytest.fixture
def world(db: Database, clock: FakeClock) -> tuple[OnboardingService, PrivacyService]:
    privacy = PrivacyService(db)
    return OnboardingService(db, clock, privacy), privacy


# -- what a press does ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("has_role", "approval", "pending", "expected"),
    [
        (False, False, False, PressAction.ADD),
        (True, False, False, PressAction.REMOVE),
        (True, True, False, PressAction.REMOVE),  # dropping never needs approval
        (True, True, True, PressAction.REMOVE),
        (False, True, False, PressAction.REQUEST),
        (False, True, True, PressAction.WITHDRAW),
        (False, False, True, PressAction.ADD),  # approval turned off while a request waited
    ],
)
def test_press_action(has_role: bool, approval: bool, pending: bool, expected: PressAction) -> None:
    assert press_action(has_role=has_role, approval=approval, pending=pending) is expected


def test_role_kinds_name_their_settings_and_meetings() -> None:
    settings = GuildSettings(guild_id=GUILD, member_role_id=7, family_role_id=8)
    assert RoleKind.MEMBER.role_id(settings) == 7
    assert RoleKind.FAMILY.role_id(settings) == 8
    assert str(RoleKind.MEMBER.meetings) == "closed NA-style meetings"
    assert str(RoleKind.FAMILY.meetings) == "closed family meetings"
    assert RoleKind.FAMILY.meetings.render("es") == "reuniones cerradas para familias"


# -- role requests -------------------------------------------------------------------------------


async def test_request_is_filed_once_and_taken_once(
    world: tuple[OnboardingService, PrivacyService],
) -> None:
    service, _ = world
    request, new = await service.request(GUILD, PEER, RoleKind.MEMBER)
    assert new
    assert (request.guild_id, request.user_id, request.kind) == (GUILD, PEER, RoleKind.MEMBER)
    assert request.requested_at == NOW
    again, new_again = await service.request(GUILD, PEER, RoleKind.MEMBER)
    assert not new_again and again.id == request.id
    family, _ = await service.request(GUILD, PEER, RoleKind.FAMILY)
    assert family.id != request.id
    assert await service.pending_count(GUILD) == 2

    await service.attach_message(request.id, 33, 44)
    stored = await service.pending(GUILD, PEER, RoleKind.MEMBER)
    assert stored is not None and (stored.channel_id, stored.message_id) == (33, 44)

    assert await service.take(request.id, OTHER_GUILD) is None, "another guild cannot decide it"
    taken = await service.take(request.id, GUILD)
    assert taken is not None and taken.id == request.id
    assert await service.take(request.id, GUILD) is None, "a second decision finds nothing"
    assert await service.pending(GUILD, PEER, RoleKind.MEMBER) is None


async def test_withdraw_and_restore(world: tuple[OnboardingService, PrivacyService]) -> None:
    service, _ = world
    assert await service.withdraw(GUILD, PEER, RoleKind.FAMILY) is None
    request, _ = await service.request(GUILD, PEER, RoleKind.FAMILY)
    await service.attach_message(request.id, 1, 2)
    withdrawn = await service.withdraw(GUILD, PEER, RoleKind.FAMILY)
    assert withdrawn is not None and withdrawn.message_id == 2
    assert await service.get_request(request.id) is None
    await service.restore(withdrawn)
    assert await service.get_request(request.id) == withdrawn


async def test_requests_are_covered_by_forget_me(
    world: tuple[OnboardingService, PrivacyService],
) -> None:
    service, privacy = world
    assert ("role_requests", "user_id") in {(s.table, s.user_column) for s in privacy.stores}
    assert any("role panel" in line for line in privacy.describe())
    await service.request(GUILD, PEER, RoleKind.MEMBER)
    await service.request(OTHER_GUILD, PEER, RoleKind.MEMBER)
    await service.request(GUILD, OTHER_PEER, RoleKind.FAMILY)
    assert await privacy.forget_user(PEER, GUILD) == 1
    assert await service.pending(OTHER_GUILD, PEER, RoleKind.MEMBER) is not None
    await privacy.forget_user(PEER)
    assert await service.pending(OTHER_GUILD, PEER, RoleKind.MEMBER) is None
    await privacy.purge_guild(GUILD)
    assert await service.pending_count(GUILD) == 0


# -- a moderator's Approve / Decline --------------------------------------------------------------

STANDING = BotStanding(manage_roles=True, top_role_id=900, top_position=10)
SLOT = RoleSlot(RoleKind.MEMBER, role_id=11, position=2)


class Grant:
    """Stands in for the glue's role change: counts calls, or fails like Discord refusing."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls = 0
        self.refuse = refuse

    async def __call__(self) -> None:
        self.calls += 1
        if self.refuse:
            raise UserFacingError("Discord refused the role change, so nothing changed.")


async def test_waiting_refuses_a_request_of_another_guild_or_already_closed(
    world: tuple[OnboardingService, PrivacyService],
) -> None:
    service, _ = world
    request, _ = await service.request(GUILD, PEER, RoleKind.MEMBER)
    assert await service.waiting(request.id, GUILD) == request
    with pytest.raises(UserFacingError, match="no longer waiting"):
        await service.waiting(request.id, OTHER_GUILD)
    await service.take(request.id, GUILD)
    with pytest.raises(UserFacingError, match="no longer waiting"):
        await service.waiting(request.id, GUILD)


async def test_approve_gives_the_role_once_and_closes_the_request(
    world: tuple[OnboardingService, PrivacyService],
) -> None:
    service, _ = world
    request, _ = await service.request(GUILD, PEER, RoleKind.MEMBER)
    grant = Grant()
    decision = await service.decide(
        request, approve=True, member_present=True, slot=SLOT, standing=STANDING, grant=grant
    )
    assert (decision.verdict, decision.request, grant.calls) == (Verdict.APPROVED, request, 1)
    assert await service.get_request(request.id) is None
    with pytest.raises(UserFacingError, match="Another moderator"):
        await service.decide(
            request, approve=True, member_present=True, slot=SLOT, standing=STANDING, grant=grant
        )
    assert grant.calls == 1, "a second Approve gives nothing"


async def test_decline_closes_without_giving_anything(
    world: tuple[OnboardingService, PrivacyService],
) -> None:
    service, _ = world
    request, _ = await service.request(GUILD, PEER, RoleKind.MEMBER)
    grant = Grant()
    broken = replace(SLOT, position=None)  # a deleted role does not stop a Decline
    decision = await service.decide(
        request, approve=False, member_present=True, slot=broken, standing=STANDING, grant=grant
    )
    assert (decision.verdict, grant.calls) == (Verdict.DECLINED, 0)
    assert await service.get_request(request.id) is None


async def test_approve_for_someone_who_left_just_closes_the_request(
    world: tuple[OnboardingService, PrivacyService],
) -> None:
    service, _ = world
    request, _ = await service.request(GUILD, PEER, RoleKind.MEMBER)
    grant = Grant()
    decision = await service.decide(
        request, approve=True, member_present=False, slot=SLOT, standing=STANDING, grant=grant
    )
    assert (decision.verdict, grant.calls) == (Verdict.MEMBER_LEFT, 0)
    assert await service.get_request(request.id) is None


async def test_approve_with_a_setup_problem_keeps_the_request_waiting(
    world: tuple[OnboardingService, PrivacyService],
) -> None:
    service, _ = world
    request, _ = await service.request(GUILD, PEER, RoleKind.MEMBER)
    grant = Grant()
    above = replace(SLOT, position=STANDING.top_position)
    decision = await service.decide(
        request, approve=True, member_present=True, slot=above, standing=STANDING, grant=grant
    )
    assert decision.verdict is Verdict.BLOCKED and grant.calls == 0
    assert decision.problems == tuple(role_setup_problems([above], STANDING))
    assert await service.get_request(request.id) == request


async def test_a_refused_role_change_puts_the_request_back(
    world: tuple[OnboardingService, PrivacyService],
) -> None:
    service, _ = world
    request, _ = await service.request(GUILD, PEER, RoleKind.MEMBER)
    await service.attach_message(request.id, 33, 44)
    stored = await service.get_request(request.id)
    with pytest.raises(UserFacingError, match="Discord refused"):
        await service.decide(
            request,
            approve=True,
            member_present=True,
            slot=SLOT,
            standing=STANDING,
            grant=Grant(refuse=True),
        )
    assert await service.get_request(request.id) == stored


async def test_setup_problems_are_reported_at_most_once_an_hour_per_guild(
    world: tuple[OnboardingService, PrivacyService], clock: FakeClock
) -> None:
    service, _ = world
    assert service.report_due(GUILD)
    assert not service.report_due(GUILD)
    assert service.report_due(OTHER_GUILD), "each guild has its own hour"
    clock.advance(PROBLEM_REPORT_INTERVAL - timedelta(seconds=1))
    assert not service.report_due(GUILD)
    clock.advance(timedelta(seconds=1))
    assert service.report_due(GUILD)


# -- can the bot hand the roles out? ---------------------------------------------------------------

GOOD_BOT = BotStanding(manage_roles=True, top_role_id=900, top_position=10)


def test_no_problems_when_the_bot_sits_above_both_roles() -> None:
    slots = [RoleSlot(RoleKind.MEMBER, 7, 3), RoleSlot(RoleKind.FAMILY, 8, 9)]
    assert role_setup_problems(slots, GOOD_BOT) == []


def _problem_texts(slots: list[RoleSlot], bot: BotStanding) -> list[str]:
    """The setup problems as an English reader sees them."""
    return [str(p) for p in role_setup_problems(slots, bot)]


def test_missing_manage_roles_names_the_permission_and_where() -> None:
    bot = replace(GOOD_BOT, manage_roles=False)
    [problem] = _problem_texts([RoleSlot(RoleKind.MEMBER, 7, 3)], bot)
    assert "**Manage Roles**" in problem
    assert "<@&900>" in problem and "Server Settings → Roles" in problem


def test_role_order_names_both_roles_and_what_to_drag() -> None:
    slots = [RoleSlot(RoleKind.MEMBER, 7, 10), RoleSlot(RoleKind.FAMILY, 8, 12)]
    problems = _problem_texts(slots, GOOD_BOT)
    assert len(problems) == 2
    assert all("drag my role <@&900> above" in p for p in problems)
    assert "<@&7>" in problems[0] and "<@&8>" in problems[1]


def test_unset_deleted_and_managed_roles_say_which_command_fixes_them() -> None:
    slots = [
        RoleSlot(RoleKind.MEMBER, None),
        RoleSlot(RoleKind.FAMILY, 8, None),
    ]
    unset, deleted = _problem_texts(slots, GOOD_BOT)
    assert "`/setup roles member:`" in unset and "not set" in unset
    assert "`/setup roles family:`" in deleted and "no longer exists" in deleted
    [managed] = _problem_texts([RoleSlot(RoleKind.MEMBER, 7, 2, managed=True)], GOOD_BOT)
    assert "integration" in managed


def test_a_bot_with_only_everyone_is_told_to_get_a_role() -> None:
    bot = BotStanding(manage_roles=False, top_role_id=GUILD, top_position=0, top_is_default=True)
    problems = _problem_texts([RoleSlot(RoleKind.MEMBER, 7, 1)], bot)
    assert "no role with the **Manage Roles**" in problems[0]
    assert "drag my highest role above <@&7>" in problems[1]


# -- the welcome ---------------------------------------------------------------------------------


def _meeting(mid: int, *, access: Access, first: date, start: time, **kw: object) -> Meeting:
    return Meeting(
        id=mid,
        guild_id=GUILD,
        title=f"Meeting {mid}",
        kind=Kind.NA,
        access=access,
        formats=("discussion",),
        timezone="America/New_York",
        first_date=first,
        start_time=start,
        duration_minutes=60,
        repeat=Repeat.WEEKLY,
        **kw,  # type: ignore[arg-type]
    )


def test_next_open_meetings_are_the_three_soonest_open_ones() -> None:
    meetings = [
        _meeting(1, access=Access.OPEN, first=date(2027, 1, 4), start=time(19)),  # Mon
        _meeting(2, access=Access.CLOSED, first=date(2027, 1, 7), start=time(13)),  # closed
        _meeting(3, access=Access.OPEN, first=date(2027, 1, 7), start=time(11)),  # Thu, passed
        _meeting(4, access=Access.OPEN, first=date(2027, 1, 8), start=time(9)),  # Fri
        _meeting(5, access=Access.OPEN, first=date(2027, 1, 9), start=time(20)),  # Sat
        _meeting(
            6,
            access=Access.OPEN,
            first=date(2027, 1, 7),
            start=time(18),
            exceptions={date(2027, 1, 7): OccurrenceException(cancelled=True)},
        ),  # Thu 18:00, cancelled today: would otherwise come first
    ]
    upcoming = next_open_meetings(meetings, NOW)
    assert [u.meeting_id for u in upcoming] == [4, 5, 1]
    assert upcoming[0].start == datetime(2027, 1, 8, 14, 0, tzinfo=UTC)
    assert upcoming[0].home_time == "09:00 (New York)"
    spanish = next_open_meetings(meetings, NOW, language="es")
    assert spanish[0].home_time == "9:00 (Nueva York)"
    assert all(u.start > NOW for u in upcoming)
    # Sunday: Monday's meeting, then Thursday's two (the cancellation was only last week).
    later = next_open_meetings(meetings, NOW + timedelta(days=3))
    assert [u.meeting_id for u in later] == [1, 3, 6]


def test_welcome_follows_the_guild_setting() -> None:
    meetings = [_meeting(1, access=Access.OPEN, first=date(2027, 1, 8), start=time(9))]
    off = GuildSettings(guild_id=GUILD)
    assert welcome_for(off, meetings, NOW) is None
    no_channel = GuildSettings(guild_id=GUILD, welcome_mode="channel", welcome_mention=True)
    assert welcome_for(no_channel, meetings, NOW) is None
    channel = replace(no_channel, welcome_channel_id=55, panel_channel_id=66, panel_message_id=77)
    welcome = welcome_for(channel, meetings, NOW)
    assert welcome is not None
    assert (welcome.mode, welcome.channel_id, welcome.mention) == ("channel", 55, True)
    assert (welcome.panel_channel_id, welcome.panel_message_id) == (66, 77)
    assert [m.meeting_id for m in welcome.meetings] == [1]
    quiet = welcome_for(replace(channel, welcome_mention=False), meetings, NOW)
    assert quiet is not None and not quiet.mention
    dm = welcome_for(replace(channel, welcome_mode="dm", welcome_channel_id=None), [], NOW)
    assert dm is not None and dm.mode == "dm" and not dm.mention and dm.meetings == ()
