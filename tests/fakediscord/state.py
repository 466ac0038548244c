"""In-memory Discord state and the payloads discord.py reads from it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from .snowflake import snowflake_time

JSON = dict[str, Any]


class ChannelType(IntEnum):
    TEXT = 0
    DM = 1
    VOICE = 2
    CATEGORY = 4
    NEWS = 5
    NEWS_THREAD = 10
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    STAGE = 13
    FORUM = 15


THREAD_TYPES = {ChannelType.NEWS_THREAD, ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD}
GUILD_CHANNEL_TYPES = {
    ChannelType.TEXT,
    ChannelType.VOICE,
    ChannelType.CATEGORY,
    ChannelType.NEWS,
    ChannelType.STAGE,
    ChannelType.FORUM,
}
MESSAGEABLE_TYPES = {
    ChannelType.TEXT,
    ChannelType.DM,
    ChannelType.VOICE,
    ChannelType.NEWS,
    ChannelType.STAGE,
    *THREAD_TYPES,
}


class P:
    """Permission bits (subset Haven uses, plus the ones Discord checks here)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    MOVE_MEMBERS = 1 << 24
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40
    CREATE_EVENTS = 1 << 44
    ALL = (1 << 51) - 1


# What @everyone gets in a new guild (Discord's default, roughly).
DEFAULT_EVERYONE = (
    P.CREATE_INSTANT_INVITE
    | P.ADD_REACTIONS
    | P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.USE_EXTERNAL_EMOJIS
    | P.CONNECT
    | P.SPEAK
    | P.CHANGE_NICKNAME
    | P.USE_APPLICATION_COMMANDS
    | P.REQUEST_TO_SPEAK
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.SEND_MESSAGES_IN_THREADS
)

# What the bot's managed role gets unless a test lowers it: what Haven's invite link asks for.
DEFAULT_BOT_PERMISSIONS = (
    DEFAULT_EVERYONE
    | P.MANAGE_CHANNELS
    | P.MANAGE_ROLES
    | P.MANAGE_MESSAGES
    | P.MANAGE_WEBHOOKS
    | P.MANAGE_EVENTS
    | P.MANAGE_THREADS
    | P.MOVE_MEMBERS
    | P.MUTE_MEMBERS
    | P.MODERATE_MEMBERS
)


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="microseconds")


@dataclass(eq=False)
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    avatar: str | None = None
    dms_closed: bool = False
    system: bool = False
    locale: str = "en-US"  # the client's language, sent as interaction.locale

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        if self.bot:
            data["bot"] = True
        if self.system:
            data["system"] = True
        return data

    def me_payload(self) -> JSON:
        data = self.payload()
        data.update(verified=True, mfa_enabled=False, locale="en-US", email=None, bio="")
        return data

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass(eq=False)
class Member:
    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)
    joined_at: datetime | None = None
    nick: str | None = None
    pending: bool = False
    mute: bool = False
    deaf: bool = False
    timed_out_until: datetime | None = None

    def payload(self, *, with_user: bool = True) -> JSON:
        data: JSON = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at) if self.joined_at else None,
            "premium_since": None,
            "deaf": self.deaf,
            "mute": self.mute,
            "pending": self.pending,
            "flags": 0,
            "communication_disabled_until": (
                iso(self.timed_out_until) if self.timed_out_until else None
            ),
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass(eq=False)
class Channel:
    id: int
    type: ChannelType
    guild_id: int | None = None
    name: str | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    bitrate: int = 64000
    user_limit: int = 0
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    recipient_ids: list[int] = field(default_factory=list)
    last_message_id: int | None = None
    # threads
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    thread_member_ids: list[int] = field(default_factory=list)
    message_count: int = 0
    created_at: datetime | None = None
    deleted: bool = False

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def payload(self, users: dict[int, User] | None = None) -> JSON:
        t = self.type
        data: JSON = {"id": str(self.id), "type": int(t), "flags": 0}
        if t == ChannelType.DM:
            data["last_message_id"] = str(self.last_message_id) if self.last_message_id else None
            data["recipients"] = [
                users[u].payload() for u in self.recipient_ids if users and u in users
            ]
            return data
        data.update(
            guild_id=str(self.guild_id),
            name=self.name,
            parent_id=str(self.parent_id) if self.parent_id else None,
        )
        if self.is_thread:
            data.update(
                owner_id=str(self.owner_id) if self.owner_id else None,
                last_message_id=str(self.last_message_id) if self.last_message_id else None,
                rate_limit_per_user=self.rate_limit_per_user,
                message_count=self.message_count,
                member_count=len(self.thread_member_ids),
                total_message_sent=self.message_count,
                thread_metadata={
                    "archived": self.archived,
                    "auto_archive_duration": self.auto_archive_duration,
                    "archive_timestamp": iso(self.created_at) if self.created_at else None,
                    "locked": self.locked,
                    "invitable": self.invitable,
                    "create_timestamp": iso(self.created_at) if self.created_at else None,
                },
            )
            return data
        data.update(
            position=self.position,
            permission_overwrites=[o.payload() for o in self.overwrites.values()],
            nsfw=self.nsfw,
        )
        if t in (ChannelType.TEXT, ChannelType.NEWS, ChannelType.FORUM):
            data.update(
                topic=self.topic,
                rate_limit_per_user=self.rate_limit_per_user,
                last_message_id=str(self.last_message_id) if self.last_message_id else None,
                default_auto_archive_duration=1440,
                default_thread_rate_limit_per_user=0,
            )
        elif t in (ChannelType.VOICE, ChannelType.STAGE):
            data.update(
                bitrate=self.bitrate,
                user_limit=self.user_limit,
                rtc_region=None,
                video_quality_mode=1,
                rate_limit_per_user=self.rate_limit_per_user,
                last_message_id=str(self.last_message_id) if self.last_message_id else None,
                topic=self.topic,
            )
        return data


@dataclass(eq=False)
class Message:
    """A message as the server knows it, including ephemeral ones (never dispatched)."""

    id: int
    channel_id: int
    guild_id: int | None
    author: JSON
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    nonce: str | int | None = None
    tts: bool = False
    edited_at: datetime | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    allowed_mentions: JSON | None = None
    mentions: list[JSON] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    interaction_id: int | None = None
    interaction_user_id: int | None = None
    member: JSON | None = None
    thread_id: int | None = None
    deleted: bool = False
    pinned: bool = False
    poll: JSON | None = None
    edits: int = 0
    attachments: list[JSON] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # uploaded file contents by name

    EPHEMERAL = 1 << 6
    LOADING = 1 << 7

    @property
    def author_id(self) -> int:
        return int(self.author["id"])

    @property
    def created_at(self) -> datetime:
        return snowflake_time(self.id)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & self.EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & self.LOADING)

    @property
    def text(self) -> str:
        """Content plus every embed's visible text, for assertions."""
        return "\n".join([self.content, *(embed_text(e) for e in self.embeds)]).strip()

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in iter_components(self.components) if "custom_id" in c]

    def find_component(self, custom_id_or_label: str) -> JSON | None:
        """A component by custom_id, else a button by its label."""
        comps = iter_components(self.components)
        for comp in comps:
            if comp.get("custom_id") == custom_id_or_label:
                return comp
        for comp in comps:
            if comp.get("type") == 2 and comp.get("label") == custom_id_or_label:
                return comp
        return None

    def labels(self) -> list[str]:
        """Button labels, in order."""
        return [c["label"] for c in iter_components(self.components) if c.get("type") == 2]

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author,
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at) if self.edited_at else None,
            "tts": self.tts,
            "mention_everyone": self.mention_everyone,
            "mentions": self.mentions,
            "mention_roles": [str(r) for r in self.mention_roles],
            "attachments": self.attachments,
            "embeds": self.embeds,
            "components": self.components,
            "pinned": self.pinned,
            "type": self.type,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.member is not None:
            data["member"] = self.member
        if self.poll is not None:
            data["poll"] = self.poll
        return data


def iter_components(components: list[JSON]) -> list[JSON]:
    """Every component, depth first (rows, sections, containers, labels)."""
    out: list[JSON] = []
    for comp in components:
        out.append(comp)
        if "components" in comp:
            out.extend(iter_components(comp["components"]))
        if "component" in comp:
            out.extend(iter_components([comp["component"]]))
        if "accessory" in comp:
            out.extend(iter_components([comp["accessory"]]))
    return out


def embed_text(embed: JSON) -> str:
    parts = [embed.get("title") or "", embed.get("description") or ""]
    for f in embed.get("fields", []):
        parts += [f.get("name", ""), f.get("value", "")]
    parts.append((embed.get("footer") or {}).get("text", ""))
    parts.append((embed.get("author") or {}).get("name", ""))
    return "\n".join(p for p in parts if p)


@dataclass(eq=False)
class Webhook:
    id: int
    channel_id: int
    guild_id: int
    name: str
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    creator_id: int | None = None
    avatar: str | None = None

    def payload(self, users: dict[int, User]) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "type": 1,
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id),
            "name": self.name,
            "avatar": self.avatar,
            "token": self.token,
            "application_id": None,
        }
        if self.creator_id in users:
            data["user"] = users[self.creator_id].payload()
        return data


@dataclass(eq=False)
class ScheduledEvent:
    id: int
    guild_id: int
    name: str
    scheduled_start_time: datetime
    entity_type: int
    scheduled_end_time: datetime | None = None
    channel_id: int | None = None
    description: str | None = None
    location: str | None = None
    status: int = 1  # scheduled
    privacy_level: int = 2
    creator_id: int | None = None
    recurrence_rule: JSON | None = None
    deleted: bool = False

    def payload(self, users: dict[int, User]) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id) if self.channel_id else None,
            "creator_id": str(self.creator_id) if self.creator_id else None,
            "name": self.name,
            "description": self.description,
            "scheduled_start_time": iso(self.scheduled_start_time),
            "scheduled_end_time": (
                iso(self.scheduled_end_time) if self.scheduled_end_time else None
            ),
            "privacy_level": self.privacy_level,
            "status": self.status,
            "entity_type": self.entity_type,
            "entity_id": None,
            "entity_metadata": {"location": self.location} if self.location else None,
            "user_count": 0,
            "image": None,
            "recurrence_rule": self.recurrence_rule,
        }
        if self.creator_id in users:
            data["creator"] = users[self.creator_id].payload()
        return data


@dataclass(eq=False)
class Invite:
    code: str
    guild_id: int
    channel_id: int
    inviter_id: int
    created_at: datetime
    max_age: int = 86400
    max_uses: int = 0
    temporary: bool = False
    uses: int = 0


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    bot_role_id: int | None = None
    voice_states: dict[int, int] = field(default_factory=dict)  # user id -> voice channel id
    unavailable: bool = False
    removed: bool = False
    preferred_locale: str = "en-US"  # sent as guild_locale on interactions

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]


@dataclass
class StoredCommand:
    """An application command as Discord stored it after a sync."""

    id: int
    guild_id: int | None
    payload: JSON

    @property
    def name(self) -> str:
        return str(self.payload["name"])

    @property
    def type(self) -> int:
        return int(self.payload.get("type", 1))


def compute_base_permissions(guild: Guild, user_id: int) -> int:
    if user_id == guild.owner_id:
        return P.ALL
    member = guild.members.get(user_id)
    perms = guild.everyone.permissions
    if member is not None:
        for rid in member.roles:
            role = guild.roles.get(rid)
            if role is not None:
                perms |= role.permissions
    if perms & P.ADMINISTRATOR:
        return P.ALL
    return perms


def compute_channel_permissions(
    guild: Guild, channel: Channel | None, user_id: int, parent: Channel | None = None
) -> int:
    """Discord's permission algorithm: base, then @everyone, role and member overwrites."""
    base = compute_base_permissions(guild, user_id)
    if base & P.ADMINISTRATOR or channel is None:
        return base
    target = parent if channel.is_thread and parent is not None else channel
    perms = base
    everyone = target.overwrites.get(guild.id)
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    member = guild.members.get(user_id)
    allow = deny = 0
    for rid in member.roles if member else []:
        ow = target.overwrites.get(rid)
        if ow is not None and ow.type == 0:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    mow = target.overwrites.get(user_id)
    if mow is not None and mow.type == 1:
        perms = (perms & ~mow.deny) | mow.allow
    if not perms & P.VIEW_CHANNEL:
        return 0
    return perms


def top_role_position(guild: Guild, user_id: int) -> int:
    member = guild.members.get(user_id)
    if member is None:
        return 0
    return max((guild.roles[r].position for r in member.roles if r in guild.roles), default=0)


class State:
    """Everything the fake Discord knows."""

    def __init__(self, application_id: int, bot_user: User) -> None:
        self.application_id = application_id
        self.bot_user = bot_user
        self.users: dict[int, User] = {bot_user.id: bot_user}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.events: dict[int, ScheduledEvent] = {}
        self.invites: dict[str, Invite] = {}
        self.commands: dict[int | None, list[StoredCommand]] = {}
        self.nonce_index: dict[tuple[int, str], int] = {}
        self.dm_channels: dict[int, int] = {}

    def commands_for(self, guild_id: int | None) -> list[StoredCommand]:
        return list(self.commands.get(guild_id, []))

    def set_commands(self, guild_id: int | None, commands: list[StoredCommand]) -> None:
        self.commands[guild_id] = commands


def user_id_of(user: User | Member | int) -> int:
    if isinstance(user, Member):
        return user.user.id
    if isinstance(user, User):
        return user.id
    return int(user)


def guild_id_of(guild: Guild | int) -> int:
    return guild.id if isinstance(guild, Guild) else int(guild)


def target_id_of(target: Any) -> int:
    if isinstance(target, Member):
        return target.user.id
    if hasattr(target, "id"):
        return int(target.id)
    return int(target)
