"""Helpers shared by the cogs: permission checks, safe text, timestamps, embed limits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.clock import to_unix
from bot.parsing import all_timezones
from bot.permissions import Level, level_for, refusal
from bot.runtime.tree import Refused

if TYPE_CHECKING:
    from bot.runtime.app import HavenBot
    from bot.services import Services
    from bot.services.meetings import Meeting

T = TypeVar("T")

COLOR = discord.Colour(0x4E8F7A)
COLOR_WARN = discord.Colour(0xC98A2B)
COLOR_ALERT = discord.Colour(0xB5473A)

EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_TOTAL = 6000


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
    interaction: discord.Interaction, level: Level, message: str | None = None
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


def escape(text: str) -> str:
    """User text made literal: markdown escaped and mentions neutralised."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def truncate(text: str, limit: int) -> str:
    """Cut text to a length, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_title(text: str) -> str:
    """User text for an embed title: escaped and within Discord's limit."""
    return truncate(escape(text), EMBED_TITLE)


def ts(dt: datetime, style: str = "F") -> str:
    """A Discord timestamp that each reader sees in their own zone."""
    return f"<t:{to_unix(dt)}:{style}>"


def ts_pair(dt: datetime) -> str:
    """Full date and relative time, e.g. 'Tuesday, 5 January 2027 19:00 (in 3 days)'."""
    return f"{ts(dt, 'F')} ({ts(dt, 'R')})"


def embed_length(embed: discord.Embed) -> int:
    """Characters Discord counts toward an embed's 6000 limit."""
    return len(embed)


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Trim an embed so it never exceeds Discord's limits."""
    if embed.title:
        embed.title = truncate(embed.title, EMBED_TITLE)
    if embed.description:
        embed.description = truncate(embed.description, EMBED_DESCRIPTION)
    fields = embed.fields[:EMBED_FIELDS]
    embed.clear_fields()
    for f in fields:
        embed.add_field(
            name=truncate(f.name or "\u200b", EMBED_FIELD_NAME),
            value=truncate(f.value or "\u200b", EMBED_FIELD_VALUE),
            inline=f.inline,
        )
    while len(embed) > EMBED_TOTAL and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > EMBED_TOTAL and embed.description:
        over = len(embed) - EMBED_TOTAL
        embed.description = truncate(embed.description, max(1, len(embed.description) - over - 1))
    return embed


async def timezone_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """IANA zone names matching what was typed; the guild default first."""
    default = None
    if interaction.guild_id is not None:
        default = (await services_of(interaction).guilds.get(interaction.guild_id)).timezone
    needle = current.strip().lower().replace(" ", "_")
    names = [n for n in all_timezones() if needle in n.lower()] if needle else []
    if not needle:
        names = [
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Los_Angeles",
            "Europe/London",
            "Europe/Dublin",
            "America/Toronto",
            "Australia/Sydney",
            "UTC",
        ]
    names.sort(key=lambda n: (not n.lower().startswith(needle), n))
    if default and (not needle or needle in default.lower()):
        names = [default] + [n for n in names if n != default]
    return [app_commands.Choice(name=n, value=n) for n in names[:25]]


def modlog_embed(
    title: str, actor: discord.abc.User | None, when: datetime | None = None, **fields: str
) -> discord.Embed:
    """A compact mod-log entry: what happened, by whom, when, and details."""
    embed = discord.Embed(title=truncate(title, EMBED_TITLE), colour=COLOR_WARN)
    if actor is not None:
        embed.add_field(name="By", value=f"{actor.mention} (`{actor.id}`)", inline=True)
    for name, value in fields.items():
        embed.add_field(
            name=name.replace("_", " ").capitalize(), value=truncate(value or "—", 1024)
        )
    embed.timestamp = when or discord.utils.utcnow()
    return fit_embed(embed)


# -- meetings: shared by every cog whose commands take `meeting:` -------------------------


def _meeting_choice_name(meeting: Meeting) -> str:
    """Title, marks for closed and family meetings, and the home time."""
    marks = ("🔒" if meeting.access.value == "closed" else "") + (
        "👪" if meeting.kind.value == "family" else ""
    )
    return f"{meeting.title}{' ' + marks if marks else ''} ({meeting.home_time})"


async def meeting_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Meetings of this guild whose title contains what was typed (value = meeting id)."""
    if interaction.guild_id is None:
        return []
    meetings = await services_of(interaction).meetings.list_guild(interaction.guild_id)
    needle = current.strip().lower()
    hits = [m for m in meetings if needle in m.title.lower()] if needle else meetings
    hits.sort(key=lambda m: (not m.title.lower().startswith(needle), m.title.lower()))
    return [
        app_commands.Choice(name=truncate(_meeting_choice_name(m), 100), value=str(m.id))
        for m in hits[:25]
    ]


async def resolve_meeting(interaction: discord.Interaction, value: str) -> Meeting:
    """The meeting named by an autocomplete value (its id) or its exact title, in this guild."""
    from bot.errors import NotFoundError, UserFacingError

    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    store = services_of(interaction).meetings
    text = value.strip()
    # ASCII digits only ('²'.isdigit() is true, int() refuses it) and within SQLite's integers.
    if text.isascii() and text.isdigit() and len(text) < 19:
        meeting = await store.get(int(text), guild_id=interaction.guild_id)
        if meeting is not None:
            return meeting
    matches = [
        m for m in await store.list_guild(interaction.guild_id) if m.title.lower() == text.lower()
    ]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UserFacingError(
            "Several meetings have that title: pick one from the list that appears as you type."
        )
    raise NotFoundError(
        "I can't find that meeting in this server. Start typing its title and pick it from the list."
    )


async def room_admits(interaction: discord.Interaction) -> Callable[[Meeting], bool]:
    """A test of whether a meeting's room admits the caller: open to all, closed by role or staff."""
    from bot.services.meetings import visible_to

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
    raise Refused("Only this meeting's facilitators and moderators can do this.")
