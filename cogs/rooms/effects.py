"""RoomEffects for discord.py: what the room lifecycle and commands do to a room's channels."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import discord

from bot.errors import UserFacingError
from bot.i18n import Text, render
from bot.runtime.app import HavenBot
from bot.services.meetings import Meeting
from bot.services.rooms import RoomLink, RoomWindow
from cogs._kit import modlog_embed, safe_title, ts
from cogs._kit.i18n import _, use_locale
from cogs.rooms.overwrites import (
    audience_overwrite,
    audience_role,
    is_removal,
    removal_overwrite,
    room_overwrites,
)
from cogs.rooms.render import REOPENED, closing_line, nonce, opening_card, room_name

log = logging.getLogger(__name__)

BULK_MAX = 100
BULK_AGE = timedelta(days=14)

Channels = tuple[discord.Guild | None, Any, Any, Any]


def _voice_kind(voice: Any) -> str:
    return "stage" if isinstance(voice, discord.StageChannel) else "voice"


class DiscordRoomEffects:
    """Sets overwrites, posts and clears messages and makes or deletes a room's channels."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    def channels(self, link: RoomLink) -> Channels:
        """The room's guild, category, text and voice channel (None where missing)."""
        guild = self.bot.get_guild(link.guild_id)
        if guild is None:
            return None, None, None, None
        return (
            guild,
            guild.get_channel(link.category_id),
            guild.get_channel(link.text_channel_id),
            guild.get_channel(link.voice_channel_id),
        )

    def refused(self, exc: Exception) -> bool:
        """Whether an error is Discord refusing for a missing permission."""
        return isinstance(exc, discord.Forbidden)

    async def modlog(
        self,
        guild_id: int,
        title: Text,
        actor_id: int | None,
        meeting: Meeting | None,
        link: RoomLink | None,
        **fields: Text | datetime,
    ) -> None:
        """One compact mod-log entry for a room action (never who attended), in the guild's language."""
        settings = await self.bot.services.guilds.get(guild_id)
        with use_locale(settings.language):
            room = safe_title(meeting.title) if meeting else _("a deleted meeting")
            if link is not None:
                room += f" (<#{link.text_channel_id}>)"
            by = (
                f"<@{actor_id}> (`{actor_id}`)" if actor_id is not None else _("Haven, on schedule")
            )
            shown = {k: ts(v) if isinstance(v, datetime) else render(v) for k, v in fields.items()}
            embed = modlog_embed(
                render(title), None, self.bot.clock.now(), by=by, room=room, **shown
            )
        await self.bot.post_modlog(guild_id, embed)

    # -- state -----------------------------------------------------------------------------

    async def apply_state(
        self,
        meeting: Meeting,
        link: RoomLink,
        is_open: bool,
        *,
        unlock: bool = False,
        force: bool = False,
    ) -> bool:
        """Set the audience's send/speak overwrites for a state; True if anything changed."""
        # Without `force` a channel whose cached overwrite already matches is left alone (start,
        # meeting edits); transitions force the write because the cache may lag behind.
        guild, _category, text, voice = self.channels(link)
        if guild is None or text is None or voice is None:
            log.warning("room channels of meeting %d are missing", meeting.id)
            return False
        settings = await self.bot.services.guilds.get(guild.id)
        audience = audience_role(guild, meeting, settings)
        changed = False
        for channel, kind in ((text, "text"), (voice, _voice_kind(voice))):
            current = channel.overwrites_for(audience)
            locked = kind != "text" and current.connect is False and not unlock
            wanted = audience_overwrite(kind, is_open, locked)
            if force or current.pair() != wanted.pair():
                await channel.set_permissions(
                    audience,
                    overwrite=wanted,
                    reason="Haven: room " + ("opened" if is_open else "closed"),
                )
                changed = True
        return changed

    async def set_lock(self, meeting: Meeting, link: RoomLink, is_open: bool, locked: bool) -> None:
        """Deny (or allow again) Connect to the audience on the voice channel."""
        guild, _category, _text, voice = self.channels(link)
        assert guild is not None
        settings = await self.bot.services.guilds.get(guild.id)
        await voice.set_permissions(
            audience_role(guild, meeting, settings),
            overwrite=audience_overwrite(_voice_kind(voice), is_open, locked),
            reason="Haven: room " + ("locked" if locked else "unlocked"),
        )

    async def set_slowmode(self, link: RoomLink, seconds: int) -> None:
        """Set the text channel's slowmode."""
        _guild, _category, text, _voice = self.channels(link)
        await text.edit(slowmode_delay=seconds, reason="Haven: room slowmode")

    async def rebuild_overwrites(self, meeting: Meeting, link: RoomLink, is_open: bool) -> None:
        """Rewrite every overwrite from the meeting's access, keeping removals."""
        guild, category, text, voice = self.channels(link)
        if guild is None:
            return
        settings = await self.bot.services.guilds.get(guild.id)
        for channel, kind in ((category, "category"), (text, "text"), (voice, _voice_kind(voice))):
            if channel is None:
                continue
            wanted = room_overwrites(guild, meeting, settings, kind, is_open)
            for target, ow in channel.overwrites.items():
                if not isinstance(target, discord.Role) and is_removal(ow):
                    wanted[target] = ow
            await channel.edit(overwrites=wanted, reason="Haven: meeting access changed")

    # -- messages --------------------------------------------------------------------------

    async def post_opening(
        self, meeting: Meeting, link: RoomLink, window: RoomWindow, nonce_key: str | None
    ) -> None:
        """Post the opening card in the room's text channel."""
        _guild, _category, text, _voice = self.channels(link)
        if isinstance(text, discord.abc.Messageable):
            embed, view = opening_card(meeting, window)
            await text.send(embed=embed, view=view, **nonce(nonce_key))

    async def post_reopened(self, link: RoomLink) -> None:
        """Say the room is open again."""
        _guild, _category, text, _voice = self.channels(link)
        if isinstance(text, discord.abc.Messageable):
            await text.send(_(REOPENED))

    async def post_closing(
        self, link: RoomLink, next_start: datetime | None, cleared: bool, nonce_key: str | None
    ) -> None:
        """Post the closing line."""
        _guild, _category, text, _voice = self.channels(link)
        if isinstance(text, discord.abc.Messageable):
            await text.send(closing_line(next_start, cleared), **nonce(nonce_key))

    async def clear_messages(self, link: RoomLink, after: datetime, before: datetime) -> bool:
        """Delete an occurrence's messages: bulk under 14 days in chunks of 100, older one by one."""
        _guild, _category, channel, _voice = self.channels(link)
        if not isinstance(channel, discord.TextChannel):
            return False
        recent: list[discord.Message] = []
        old: list[discord.Message] = []
        cutoff = self.bot.clock.now() - BULK_AGE + timedelta(minutes=1)
        async for message in channel.history(limit=None, after=after, before=before):
            if not message.type.is_deletable() or message.pinned:
                continue
            (recent if message.created_at > cutoff else old).append(message)
        for i in range(0, len(recent), BULK_MAX):
            chunk = recent[i : i + BULK_MAX]
            if len(chunk) == 1:
                await chunk[0].delete()
            else:
                await channel.delete_messages(chunk, reason="Haven: room chat cleared after close")
        for message in old:
            try:
                await message.delete()
            except discord.NotFound:
                pass
        return True

    # -- removals --------------------------------------------------------------------------

    async def deny_member(self, link: RoomLink, member: discord.Member) -> None:
        """Keep a member out of every channel of the room, and out of its voice now."""
        _guild, category, text, voice = self.channels(link)
        for channel in (category, text, voice):
            if channel is not None:
                await channel.set_permissions(
                    member, overwrite=removal_overwrite(), reason="Haven: removed from room"
                )

    async def disconnect(self, link: RoomLink, member: discord.Member) -> None:
        """Take a removed member out of the room's voice channel if they are in it."""
        state = member.voice
        if state is None or state.channel is None or state.channel.id != link.voice_channel_id:
            return
        try:
            await member.move_to(None, reason="Haven: removed from room")
        except discord.HTTPException:
            log.info("could not disconnect a removed member from voice")

    async def lift_removals(self, link: RoomLink, keep_user_ids: Iterable[int]) -> int:
        """Remove Haven's removal overwrites from the room, except for `keep_user_ids`."""
        keep = set(keep_user_ids)
        _guild, category, text, voice = self.channels(link)
        lifted: set[int] = set()
        for channel in (category, text, voice):
            if channel is None:
                continue
            for target, ow in list(channel.overwrites.items()):
                if isinstance(target, discord.Role) or target.id in keep:
                    continue
                if isinstance(target, discord.Object) and target.type is not discord.Member:
                    continue
                if not is_removal(ow):
                    continue
                try:
                    await self.bot.http.delete_channel_permissions(
                        channel.id, target.id, reason="Haven: room removal lifted"
                    )
                except discord.NotFound:
                    pass
                lifted.add(target.id)
        return len(lifted)

    # -- channels --------------------------------------------------------------------------

    async def create_channels(
        self, guild: discord.Guild, meeting: Meeting, stage: bool, is_open: bool
    ) -> tuple[discord.CategoryChannel, discord.TextChannel, discord.abc.GuildChannel]:
        """Create the category, text and voice (or stage) channel; remove them all on failure."""
        settings = await self.bot.services.guilds.get(guild.id)
        voice_kind = "stage" if stage else "voice"
        reason = "Haven: room created"
        created: list[discord.abc.GuildChannel] = []
        try:
            category = await guild.create_category(
                room_name(meeting.title),
                overwrites=room_overwrites(guild, meeting, settings, "category", is_open),
                reason=reason,
            )
            created.append(category)
            text = await guild.create_text_channel(
                "chat",
                category=category,
                overwrites=room_overwrites(guild, meeting, settings, "text", is_open),
                reason=reason,
            )
            created.append(text)
            voice_ows = room_overwrites(guild, meeting, settings, voice_kind, is_open)
            voice: discord.VoiceChannel | discord.StageChannel
            if stage:
                voice = await guild.create_stage_channel(
                    "stage", category=category, overwrites=voice_ows, reason=reason
                )
            else:
                voice = await guild.create_voice_channel(
                    "voice", category=category, overwrites=voice_ows, reason=reason
                )
            created.append(voice)
        except discord.HTTPException as exc:
            for channel in reversed(created):
                try:
                    await channel.delete(reason="Haven: room creation failed")
                except discord.HTTPException:
                    log.warning("could not remove a half-created room channel")
            if isinstance(exc, discord.Forbidden) and exc.code == 50013:
                raise UserFacingError(
                    _(
                        "Discord refused to create the room: I'm missing a permission (error "
                        "50013). Ask a moderator to give my role Manage Channels and Manage "
                        "Roles, plus the permissions I grant in rooms (View Channels, Send "
                        "Messages, Connect, Speak, Manage Messages, Mute and Move Members). "
                        "Nothing was left behind."
                    )
                ) from exc
            if stage:
                raise UserFacingError(
                    _(
                        "Discord refused to create a stage channel here (it may need a Community "
                        "server). Try again without `stage:`. Nothing was left behind."
                    )
                ) from exc
            raise
        return category, text, voice

    async def rename(self, link: RoomLink, title: str) -> None:
        """Name the room's category after the meeting."""
        category = self.channels(link)[1]
        if category is not None:
            await category.edit(name=room_name(title))

    async def delete_channels(self, link: RoomLink) -> None:
        """Delete a room's channels: voice, text, then category."""
        _guild, category, text, voice = self.channels(link)
        for channel in (voice, text, category):
            if channel is None:
                continue
            try:
                await channel.delete(reason="Haven: room deleted")
            except discord.NotFound:
                pass
