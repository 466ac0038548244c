"""The room permission model: who may see, speak in and run a room, as Discord overwrites."""

from __future__ import annotations

from typing import Any

import discord

from bot.errors import UserFacingError
from bot.permissions import permission_labels
from bot.services.guilds import GuildSettings
from bot.services.meetings import Access, Kind, Meeting
from cogs._kit.i18n import _

P = discord.Permissions

# Who may see and join a room at all (the audience: @everyone, the member or the family role).
AUDIENCE_BASE = P(view_channel=True, read_message_history=True, connect=True)
# What opening a room allows its audience, and closing denies, per channel kind.
TEXT_SPEAKING = P(
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    create_private_threads=True,
    add_reactions=True,
)
VOICE_SPEAKING = P(send_messages=True, speak=True)
STAGE_SPEAKING = P(send_messages=True, speak=True, request_to_speak=True)
# Facilitators and moderators always run the room.
STAFF_ALLOW = P(
    view_channel=True,
    read_message_history=True,
    send_messages=True,
    embed_links=True,
    connect=True,
    speak=True,
    manage_messages=True,
    mute_members=True,
    move_members=True,
)
# The bot itself, whatever the audience's overwrites say.
BOT_ALLOW = P(
    view_channel=True,
    read_message_history=True,
    send_messages=True,
    embed_links=True,
    manage_messages=True,
    connect=True,
)
# A closed meeting's room is hidden from @everyone.
HIDDEN = P(view_channel=True, connect=True)
# A person removed from a room; the exact shape marks Haven's removals (lifted automatically).
REMOVAL_DENY = P(view_channel=True, connect=True, send_messages=True, speak=True)

ALL_ROOM_BITS = (
    AUDIENCE_BASE.value
    | TEXT_SPEAKING.value
    | STAGE_SPEAKING.value
    | STAFF_ALLOW.value
    | BOT_ALLOW.value
    | REMOVAL_DENY.value
)
CREATE_NEEDS = P(manage_channels=True, manage_roles=True).value | ALL_ROOM_BITS
STATE_NEEDS = P(manage_roles=True).value | ALL_ROOM_BITS
SLOWMODE_NEEDS = P(manage_channels=True).value
DELETE_NEEDS = P(manage_channels=True).value


def permission_names(value: int) -> list[str]:
    """Discord's names of the permission bits in value, each once, in Discord's order."""
    flags = [n for n, f in P.VALID_FLAGS.items() if value & f and f & (f - 1) == 0]
    return permission_labels(flags)


def missing_bot_permissions(guild: discord.Guild, needed: int) -> list[str]:
    """What the bot lacks at guild level out of `needed` (empty if it has all)."""
    have = guild.me.guild_permissions
    if have.administrator:
        return []
    missing = needed & ~have.value
    first = P(manage_channels=True, manage_roles=True).value
    return permission_names(missing & first) + permission_names(missing & ~first)


def require_bot_permissions(guild: discord.Guild, needed: int) -> None:
    """Refuse before doing anything when the bot lacks a permission, naming each one."""
    missing = missing_bot_permissions(guild, needed)
    if missing:
        raise UserFacingError(
            _(
                "I can't do that yet: I'm missing these server permissions: {permissions}. "
                "Ask a moderator to grant them to my role, then try again. Nothing was changed."
            ).format(permissions=", ".join(missing))
        )


def _merge(
    ows: dict[Any, discord.PermissionOverwrite], target: Any, allow: P, deny: P | None = None
) -> None:
    current = ows.get(target)
    cur_allow, cur_deny = current.pair() if current is not None else (P.none(), P.none())
    new_allow = P(cur_allow.value | allow.value)
    new_deny = P((cur_deny.value | (deny.value if deny else 0)) & ~new_allow.value)
    ows[target] = discord.PermissionOverwrite.from_pair(new_allow, new_deny)


def audience_role(guild: discord.Guild, meeting: Meeting, settings: GuildSettings) -> discord.Role:
    """The role a meeting's room is for: @everyone, the member role or the family role."""
    if meeting.access is Access.OPEN:
        return guild.default_role
    if meeting.kind is Kind.FAMILY:
        role_id = settings.family_role_id
        unset = _(
            "This meeting is closed, so its room is for the family role, and none is set. "
            "Set it with `/setup roles family:` first."
        )
    else:
        role_id = settings.member_role_id
        unset = _(
            "This meeting is closed, so its room is for the member role, and none is set. "
            "Set it with `/setup roles member:` first."
        )
    role = guild.get_role(role_id) if role_id else None
    if role is None:
        raise UserFacingError(unset)
    return role


def speaking_bits(channel_kind: str) -> P:
    """What opening allows (and closing denies) on one kind of room channel."""
    if channel_kind == "text":
        return TEXT_SPEAKING
    if channel_kind == "stage":
        return STAGE_SPEAKING
    return VOICE_SPEAKING


def audience_overwrite(
    channel_kind: str, is_open: bool, locked: bool = False
) -> discord.PermissionOverwrite:
    """The audience's overwrite on a room channel in a state."""
    allow = P(AUDIENCE_BASE.value)
    deny = P.none()
    if channel_kind != "category":
        speaking = speaking_bits(channel_kind)
        if is_open:
            allow = P(allow.value | speaking.value)
        else:
            deny = P(speaking.value)
    if locked and channel_kind in ("voice", "stage"):
        allow = P(allow.value & ~P(connect=True).value)
        deny = P(deny.value | P(connect=True).value)
    return discord.PermissionOverwrite.from_pair(allow, deny)


def room_overwrites(
    guild: discord.Guild,
    meeting: Meeting,
    settings: GuildSettings,
    channel_kind: str,
    is_open: bool,
) -> dict[Any, discord.PermissionOverwrite]:
    """Every overwrite of one room channel: audience, hidden @everyone, staff roles, the bot."""
    ows: dict[Any, discord.PermissionOverwrite] = {}
    audience = audience_role(guild, meeting, settings)
    if not audience.is_default():
        _merge(ows, guild.default_role, P.none(), HIDDEN)
    ows[audience] = audience_overwrite(channel_kind, is_open)
    for role_id in (settings.facilitator_role_id, settings.moderator_role_id):
        role = guild.get_role(role_id) if role_id else None
        if role is not None and not role.is_default():
            _merge(ows, role, STAFF_ALLOW)
    _merge(ows, guild.me, BOT_ALLOW)
    return ows


def removal_overwrite() -> discord.PermissionOverwrite:
    """The overwrite that keeps a removed person out of every room channel."""
    return discord.PermissionOverwrite.from_pair(P.none(), REMOVAL_DENY)


def is_removal(overwrite: discord.PermissionOverwrite) -> bool:
    """Whether an overwrite has the exact shape of Haven's removals."""
    allow, deny = overwrite.pair()
    return (allow.value, deny.value) == (0, REMOVAL_DENY.value)
