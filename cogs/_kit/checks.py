"""Who is asking and what they may do: levels, command checks, meeting managers, room access."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.i18n import Msg
from bot.permissions import Level, level_for, refusal
from bot.runtime.tree import Refused
from bot.services.meetings import visible_to

if TYPE_CHECKING:
    from bot.runtime.app import HavenBot
    from bot.services import Services
    from bot.services.meetings import Meeting

T = TypeVar("T")


def services_of(interaction: discord.Interaction) -> Services:
    """The services of the bot handling this interaction."""
    client: HavenBot = interaction.client  # type: ignore[assignment]
    return client.services


def bot_of(interaction: discord.Interaction) -> HavenBot:
    """The Haven client handling this interaction."""
    return interaction.client  # type: ignore[return-value]


async def caller_level(interaction: discord.Interaction) -> Level:
    """The caller's level in the guild of the interaction."""
    if interaction.guild_id is None:
        return Level.PEER
    settings = await services_of(interaction).guilds.get(interaction.guild_id)
    user = interaction.user
    role_ids = {r.id for r in user.roles} if isinstance(user, discord.Member) else set()
    manage = interaction.permissions.manage_guild or interaction.permissions.administrator
    if isinstance(user, discord.Member):
        manage = manage or user.guild_permissions.manage_guild
    return level_for(
        role_ids,
        manage_guild=manage,
        moderator_role_id=settings.moderator_role_id,
        facilitator_role_id=settings.facilitator_role_id,
    )


async def ensure_level(
    interaction: discord.Interaction, level: Level, message: str | Msg | None = None
) -> Level:
    """Refuse (ephemerally, via the error path) a caller below `level`; return their level."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    held = await caller_level(interaction)
    if held < level:
        raise Refused(message or refusal(level))
    return held


def requires(level: Level) -> Callable[[T], T]:
    """A check that the caller holds at least `level`; also tags the command for /help."""

    async def predicate(interaction: discord.Interaction) -> bool:
        await ensure_level(interaction, level)
        return True

    check = app_commands.check(predicate)

    def decorator(func: Any) -> Any:
        target: Any = func.callback if isinstance(func, app_commands.Command) else func
        target.__haven_level__ = level
        return check(func)

    return decorator


def command_level(command: app_commands.Command[Any, ..., Any]) -> Level:
    """The level a command requires (peer unless tagged with @requires)."""
    level = getattr(command.callback, "__haven_level__", Level.PEER)
    return level if isinstance(level, Level) else Level.PEER


async def room_admits(interaction: discord.Interaction) -> Callable[[Meeting], bool]:
    """A test of whether a meeting's room admits the caller: open to all, closed by role or staff."""
    assert interaction.guild_id is not None
    settings = await services_of(interaction).guilds.get(interaction.guild_id)
    user = interaction.user
    roles = {r.id for r in user.roles} if isinstance(user, discord.Member) else set()
    staff = await caller_level(interaction) >= Level.FACILITATOR
    member = settings.member_role_id is not None and settings.member_role_id in roles
    family = settings.family_role_id is not None and settings.family_role_id in roles
    return lambda meeting: visible_to(meeting, member=member, family=family, staff=staff)


async def ensure_meeting_manager(interaction: discord.Interaction, meeting: Meeting) -> Level:
    """Allow facilitators of this meeting and moderators; refuse everyone else."""
    level = await caller_level(interaction)
    if level >= Level.MODERATOR or interaction.user.id in meeting.facilitator_ids:
        return level
    raise Refused(Msg("Only this meeting's facilitators and moderators can do this."))
