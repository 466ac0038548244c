"""FakeDiscord's world building: guilds, roles, channels and members, and their payloads."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from . import rest
from .core import JSON, ServerCore
from .state import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE,
    Channel,
    ChannelType,
    Guild,
    Invite,
    Member,
    Role,
    User,
    iso,
    target_id_of,
    user_id_of,
)
from .validation import DiscordError

_CHANNEL_TYPE_NAMES = {
    "text": ChannelType.TEXT,
    "voice": ChannelType.VOICE,
    "category": ChannelType.CATEGORY,
    "news": ChannelType.NEWS,
    "stage": ChannelType.STAGE,
    "forum": ChannelType.FORUM,
}


class Building(ServerCore):
    """Guilds, roles, channels and members: factories, their payloads and removal."""

    # -- factories (synchronous; they queue gateway dispatches when a bot is connected) --------------

    def create_user(self, name: str, *, bot: bool = False, dms_closed: bool = False) -> User:
        user = User(self.new_id(), name, bot=bot, dms_closed=dms_closed)
        self.state.users[user.id] = user
        return user

    def create_guild(
        self, name: str = "Test Guild", owner: User | None = None, *, shard: int | None = None
    ) -> Guild:
        """A guild with @everyone, a #general channel, its owner and the bot (with a role).

        `shard` picks an id that Discord's formula puts on that shard of the server's `shards`.
        """
        owner = owner or self.create_user(f"{name.lower().replace(' ', '-')}-owner")
        guild = Guild(id=self.new_guild_id(shard), name=name, owner_id=owner.id)
        guild.roles[guild.id] = Role(guild.id, guild.id, "@everyone", DEFAULT_EVERYONE, 0)
        bot = self.state.bot_user
        bot_role = Role(
            self.new_id(),
            guild.id,
            bot.username,
            DEFAULT_BOT_PERMISSIONS,
            1,
            managed=True,
            bot_id=bot.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        self.state.guilds[guild.id] = guild
        now = self.now()
        guild.members[owner.id] = Member(owner, guild.id, [], now)
        guild.members[bot.id] = Member(bot, guild.id, [bot_role.id], now)
        self.add_channel(guild, "general", ChannelType.TEXT)
        self.dispatch_soon("GUILD_CREATE", self.guild_create_payload(guild, joined=True))
        return guild

    def bot_role(self, guild: Guild) -> Role:
        assert guild.bot_role_id is not None
        return guild.roles[guild.bot_role_id]

    def general(self, guild: Guild) -> Channel:
        """The guild's first text channel (#general)."""
        return next(
            self.state.channels[c]
            for c in guild.channel_ids
            if self.state.channels[c].type == ChannelType.TEXT
        )

    def create_role(
        self,
        guild: Guild,
        name: str,
        *,
        permissions: int = 0,
        position: int | None = None,
        mentionable: bool = False,
        color: int = 0,
    ) -> Role:
        """A role; by default at position 1 (below the bot's role, as new roles are)."""
        pos = 1 if position is None else position
        for role in guild.roles.values():
            if role.id != guild.id and role.position >= pos:
                role.position += 1
                self.dispatch_soon(
                    "GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.payload()}
                )
        role = Role(self.new_id(), guild.id, name, permissions, pos, color, mentionable=mentionable)
        guild.roles[role.id] = role
        self.dispatch_soon("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        return role

    def set_role_permissions(self, role: Role, permissions: int) -> None:
        """Change a role's permissions (e.g. lower the bot's) and dispatch GUILD_ROLE_UPDATE."""
        role.permissions = permissions
        self.dispatch_soon(
            "GUILD_ROLE_UPDATE", {"guild_id": str(role.guild_id), "role": role.payload()}
        )

    async def delete_role(self, role: Role) -> None:
        guild = self.state.guilds[role.guild_id]
        guild.roles.pop(role.id, None)
        for member in guild.members.values():
            if role.id in member.roles:
                member.roles.remove(role.id)
        await self.dispatch(
            "GUILD_ROLE_DELETE", {"guild_id": str(guild.id), "role_id": str(role.id)}
        )

    def create_channel(
        self,
        guild: Guild,
        name: str,
        type: ChannelType | str | int = ChannelType.TEXT,
        *,
        parent: Channel | None = None,
        overwrites: Iterable[Any] = (),
        topic: str | None = None,
    ) -> Channel:
        ctype = _CHANNEL_TYPE_NAMES[type] if isinstance(type, str) else ChannelType(int(type))
        from .state import Overwrite

        ows = {}
        for ow in overwrites:
            if isinstance(ow, Overwrite):
                ows[ow.id] = ow
            else:
                target, allow, deny = ow
                ows[target.id if hasattr(target, "id") else int(target)] = Overwrite(
                    target_id_of(target), 0 if isinstance(target, Role) else 1, allow, deny
                )
        channel = self.add_channel(
            guild,
            rest._channel_name(ctype, name),
            ctype,
            parent_id=parent.id if parent else None,
            topic=topic,
            overwrites=ows,
        )
        self.dispatch_soon("CHANNEL_CREATE", channel.payload())
        return channel

    def create_member(
        self, guild: Guild, user: User | str, roles: Iterable[Role] = (), *, nick: str | None = None
    ) -> Member:
        """Add a member (dispatching GUILD_MEMBER_ADD if a bot is connected)."""
        if isinstance(user, str):
            user = self.create_user(user)
        member = Member(user, guild.id, [r.id for r in roles], self.now(), nick=nick)
        guild.members[user.id] = member
        self.dispatch_soon("GUILD_MEMBER_ADD", {"guild_id": str(guild.id), **member.payload()})
        return member

    async def add_member(
        self, guild: Guild, user: User | str, roles: Iterable[Role] = (), *, nick: str | None = None
    ) -> Member:
        """Someone joins: GUILD_MEMBER_ADD, sent before this returns."""
        member = self.create_member(guild, user, roles, nick=nick)
        await self.flush()
        return member

    async def remove_member(self, guild: Guild, user: User | Member) -> None:
        """Someone leaves: GUILD_MEMBER_REMOVE."""
        uid = user_id_of(user)
        await self.set_voice(guild, uid, None)
        member = guild.members.pop(uid)
        await self.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": member.user.payload()}
        )

    async def set_member_roles(
        self, guild: Guild, user: User | Member, roles: Iterable[Role]
    ) -> None:
        member = guild.members[user_id_of(user)]
        member.roles = [r.id for r in roles]
        await self.dispatch("GUILD_MEMBER_UPDATE", {"guild_id": str(guild.id), **member.payload()})

    async def remove_guild(self, guild: Guild) -> None:
        """The bot is removed from the guild: GUILD_DELETE without `unavailable`."""
        guild.removed = True
        await self.dispatch("GUILD_DELETE", {"id": str(guild.id)})

    guild_delete = remove_guild

    async def rejoin_guild(self, guild: Guild) -> None:
        """The bot is added back to a guild it was removed from: GUILD_CREATE."""
        guild.removed = False
        await self.dispatch("GUILD_CREATE", self.guild_create_payload(guild, joined=True))

    # -- payloads ------------------------------------------------------------------------------------

    def application_payload(self) -> JSON:
        return {
            "id": str(self.state.application_id),
            "name": self.state.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "flags": 0,
            "owner": self.owner_user.payload(),
            "team": None,
            "bot": self.state.bot_user.payload(),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "approximate_guild_count": len(self.bot_guilds()),
            "integration_types_config": {"0": {}},
        }

    def guild_create_payload(self, guild: Guild, *, joined: bool = False) -> JSON:
        """GUILD_CREATE; `joined` for a guild the bot just joined (no `unavailable` key, which
        discord.py reads as on_guild_join rather than on_guild_available)."""
        bot_id = self.state.bot_user.id
        channels = [self.state.channels[c] for c in guild.channel_ids]
        me = guild.members.get(bot_id)
        data: JSON = {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.preferred_locale,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": iso(me.joined_at) if me and me.joined_at else iso(self.now()),
            "large": len(guild.members) > 250,
            "unavailable": False,
            "member_count": len(guild.members),
            "voice_states": [
                {k: v for k, v in self.voice_state_payload(guild, uid).items() if k != "member"}
                for uid in guild.voice_states
            ],
            # Like Discord: only the bot itself (and people in voice); the rest comes by chunking.
            "members": [
                guild.members[uid].payload()
                for uid in guild.members
                if uid == bot_id or uid in guild.voice_states
            ],
            "channels": [c.payload() for c in channels if not c.is_thread and not c.deleted],
            "threads": [
                c.payload() for c in channels if c.is_thread and not c.deleted and not c.archived
            ],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [
                self.state.events[e].payload(self.state.users)
                for e in guild.event_ids
                if not self.state.events[e].deleted
            ],
            "soundboard_sounds": [],
        }
        if joined:
            del data["unavailable"]
        return data

    def invite_payload(self, invite: Invite) -> JSON:
        guild = self.state.guilds[invite.guild_id]
        channel = self.state.channels[invite.channel_id]
        expires = None
        if invite.max_age:
            from datetime import timedelta

            expires = iso(invite.created_at + timedelta(seconds=invite.max_age))
        return {
            "type": 0,
            "code": invite.code,
            "guild": {
                "id": str(guild.id),
                "name": guild.name,
                "splash": None,
                "banner": None,
                "description": None,
                "icon": None,
                "features": [],
                "verification_level": 0,
                "vanity_url_code": None,
                "nsfw_level": 0,
                "premium_subscription_count": 0,
            },
            "channel": {"id": str(channel.id), "name": channel.name, "type": int(channel.type)},
            "inviter": self.state.users[invite.inviter_id].payload(),
            "uses": invite.uses,
            "max_uses": invite.max_uses,
            "max_age": invite.max_age,
            "temporary": invite.temporary,
            "created_at": iso(invite.created_at),
            "expires_at": expires,
        }

    # -- state helpers used by the routes -----------------------------------------------------------

    def bot_guilds(self) -> list[Guild]:
        bot_id = self.state.bot_user.id
        return [g for g in self.state.guilds.values() if not g.removed and bot_id in g.members]

    def guild_or_404(self, guild_id: int) -> Guild:
        guild = self.state.guilds.get(guild_id)
        if guild is None or guild.removed or self.state.bot_user.id not in guild.members:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    def channel_or_404(self, channel_id: int) -> Channel:
        channel = self.state.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise DiscordError(404, 10003, "Unknown Channel")
        if channel.guild_id is not None:
            self.guild_or_404(channel.guild_id)
        return channel

    def add_channel(
        self,
        guild: Guild,
        name: str,
        ctype: ChannelType,
        *,
        parent_id: int | None = None,
        topic: str | None = None,
        rate_limit_per_user: int = 0,
        nsfw: bool = False,
        bitrate: int = 64000,
        user_limit: int = 0,
        position: int | None = None,
        overwrites: dict[int, Any] | None = None,
        thread_id: int | None = None,
    ) -> Channel:
        if position is None:
            position = sum(1 for c in guild.channel_ids if not self.state.channels[c].is_thread)
        channel = Channel(
            id=thread_id or self.new_id(),
            type=ctype,
            guild_id=guild.id,
            name=name,
            position=position,
            parent_id=parent_id,
            topic=topic,
            nsfw=nsfw,
            rate_limit_per_user=rate_limit_per_user,
            bitrate=bitrate,
            user_limit=user_limit,
            overwrites=dict(overwrites or {}),
            created_at=self.now(),
        )
        self.state.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        return channel

    async def remove_channel(self, channel: Channel) -> None:
        channel.deleted = True
        guild = self.state.guilds[channel.guild_id or 0]
        if channel.id in guild.channel_ids:
            guild.channel_ids.remove(channel.id)
        for uid, cid in list(guild.voice_states.items()):
            if cid == channel.id:  # Discord disconnects everyone in a deleted voice channel
                await self.set_voice(guild, uid, None)
        event = "THREAD_DELETE" if channel.is_thread else "CHANNEL_DELETE"
        payload = channel.payload()
        if channel.is_thread:
            payload = {
                "id": str(channel.id),
                "guild_id": str(channel.guild_id),
                "parent_id": str(channel.parent_id),
                "type": int(channel.type),
            }
        await self.dispatch(event, payload)
        if channel.type == ChannelType.CATEGORY:
            for cid in list(guild.channel_ids):
                child = self.state.channels[cid]
                if child.parent_id == channel.id and not child.is_thread:
                    child.parent_id = None
                    await self.dispatch("CHANNEL_UPDATE", child.payload())

    def dm_channel(self, user: User) -> Channel:
        cid = self.state.dm_channels.get(user.id)
        if cid is None:
            channel = Channel(id=self.new_id(), type=ChannelType.DM, recipient_ids=[user.id])
            self.state.channels[channel.id] = channel
            self.state.dm_channels[user.id] = channel.id
            cid = channel.id
        return self.state.channels[cid]
