"""FakeDiscord's messages: storing, editing and deleting them as Discord does, and reading them."""

from __future__ import annotations

import mimetypes
import re
from datetime import datetime

from .core import JSON, ServerCore
from .interactions import APPLICATION_COMMAND, AUTOCOMPLETE, InteractionResult
from .state import Channel, Member, Message, P, User, user_id_of


class Messaging(ServerCore):
    """Messages: create, edit, delete, mentions, attachments, and reading them back."""

    def messages_in(self, channel: Channel | int, *, ephemeral: bool = False) -> list[Message]:
        """Messages of a channel, oldest first (ephemeral ones only when asked)."""
        cid = channel.id if isinstance(channel, Channel) else int(channel)
        msgs = sorted(
            (self.state.messages[m] for m in self.state.channel_messages.get(cid, [])),
            key=lambda m: m.id,
        )
        return [m for m in msgs if not m.deleted and (ephemeral or not m.ephemeral)]

    def dms_to(self, user: User | Member) -> list[Message]:
        """Messages the bot sent to a user's DM channel."""
        uid = user_id_of(user)
        cid = self.state.dm_channels.get(uid)
        return self.messages_in(cid) if cid else []

    def _attachments(self, channel_id: int, files: list[tuple[str, bytes]]) -> list[JSON]:
        out = []
        for filename, data in files:
            aid = str(self.new_id())
            url = f"{self.url}/attachments/{channel_id}/{aid}/{filename}"
            out.append(
                {
                    "id": aid,
                    "filename": filename,
                    "size": len(data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
                }
            )
        return out

    def _mentions(
        self, channel: Channel, content: str, allowed: JSON | None, author_id: int
    ) -> tuple[list[JSON], list[int], bool]:
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
        ok_users = {int(u) for u in (allowed or {}).get("users", [])}
        ok_roles = {int(r) for r in (allowed or {}).get("roles", [])}
        guild = self.state.guilds.get(channel.guild_id or 0)
        perms = self.permissions_for(channel.guild_id, channel.id, author_id) if guild else 0
        users = []
        for raw in re.findall(r"<@!?(\d+)>", content):
            uid = int(raw)
            known = uid in self.state.users and ("users" in parse or uid in ok_users)
            if known and self.state.users[uid].payload() not in users:
                users.append(self.state.users[uid].payload())
        roles = []
        for raw in re.findall(r"<@&(\d+)>", content):
            rid = int(raw)
            role = guild.roles.get(rid) if guild else None
            if role is None or not ("roles" in parse or rid in ok_roles):
                continue
            if role.mentionable or perms & P.MENTION_EVERYONE:
                roles.append(rid)
        everyone = bool(
            re.search(r"@(everyone|here)", content)
            and "everyone" in parse
            and perms & P.MENTION_EVERYONE
        )
        return users, roles, everyone

    async def create_message(
        self,
        channel: Channel,
        author: JSON,
        body: JSON,
        *,
        webhook_id: int | None = None,
        mtype: int = 0,
        flags: int = 0,
        interaction: InteractionResult | None = None,
        when: datetime | None = None,
    ) -> Message:
        """Store a message and dispatch MESSAGE_CREATE unless it is ephemeral."""
        author_id = int(author["id"])
        content = body.get("content") or ""
        users, roles, everyone = self._mentions(
            channel, content, body.get("allowed_mentions"), author_id
        )
        guild = self.state.guilds.get(channel.guild_id or 0)
        member = guild.members.get(author_id) if guild and webhook_id is None else None
        msg = Message(
            id=self.new_id(when),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=content,
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            # Settable flags: suppress embeds/notifications, components v2; ephemeral only
            # on interaction responses.
            flags=flags
            | (
                int(body.get("flags") or 0)
                & ((Message.EPHEMERAL if interaction else 0) | 4 | 4096 | 32768)
            ),
            type=mtype,
            nonce=body.get("nonce"),
            tts=bool(body.get("tts")),
            webhook_id=webhook_id,
            application_id=self.state.application_id if interaction else None,
            allowed_mentions=body.get("allowed_mentions"),
            mentions=users,
            mention_roles=roles,
            mention_everyone=everyone,
            member=member.payload(with_user=False) if member else None,
            poll=body.get("poll"),
        )
        if interaction is not None:
            msg.interaction_id = interaction.id
            msg.interaction_user_id = interaction.user.id
        uploads = body.get("_files") or []
        msg.attachments = self._attachments(channel.id, uploads)
        msg.files = dict(uploads)
        self.state.messages[msg.id] = msg
        self.state.channel_messages.setdefault(channel.id, []).append(msg.id)
        if msg.nonce is not None:
            self.state.nonce_index.setdefault((channel.id, str(msg.nonce)), msg.id)
        if not msg.ephemeral:
            channel.last_message_id = msg.id
            if channel.is_thread:
                channel.message_count += 1
            payload = msg.payload()
            if interaction is not None:
                payload["interaction_metadata"] = {
                    "id": str(interaction.id),
                    "type": interaction.kind,
                    "user": interaction.user.payload(),
                    "authorizing_integration_owners": {"0": str(channel.guild_id or 0)},
                }
            await self.dispatch("MESSAGE_CREATE", payload)
        return msg

    async def edit_message(
        self, msg: Message, body: JSON, *, finish_loading: bool = False
    ) -> Message:
        """Apply an edit and dispatch MESSAGE_UPDATE unless the message is ephemeral."""
        was_loading = msg.loading
        if "content" in body:
            msg.content = body["content"] or ""
        if "embeds" in body:
            msg.embeds = body.get("embeds") or []
        if "components" in body:
            msg.components = body["components"] or []
        if "flags" in body and body["flags"] is not None:
            keep = msg.flags & (Message.EPHEMERAL | Message.LOADING)
            msg.flags = keep | (int(body["flags"]) & ~(Message.EPHEMERAL | Message.LOADING))
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        if "attachments" in body:
            keep_ids = {str(a.get("id")) for a in body["attachments"] or []}
            kept = [a for a in msg.attachments if a["id"] in keep_ids]
            uploads = body.get("_files") or []
            msg.attachments = kept + self._attachments(msg.channel_id, uploads)
            msg.files = {
                **{a["filename"]: msg.files[a["filename"]] for a in kept},
                **dict(uploads),
            }
        channel = self.state.channels[msg.channel_id]
        msg.mentions, msg.mention_roles, msg.mention_everyone = self._mentions(
            channel, msg.content, msg.allowed_mentions, msg.author_id
        )
        if finish_loading and was_loading:
            msg.flags &= ~Message.LOADING
        else:
            msg.edited_at = self.now()
        msg.edits += 1
        if not msg.ephemeral:
            await self.dispatch("MESSAGE_UPDATE", msg.payload())
        return msg

    async def delete_message(self, msg: Message) -> None:
        msg.deleted = True
        if not msg.ephemeral:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id:
                data["guild_id"] = str(msg.guild_id)
            await self.dispatch("MESSAGE_DELETE", data)

    async def interaction_message(
        self,
        result: InteractionResult,
        body: JSON,
        *,
        loading: bool = False,
        followup: bool = False,
    ) -> Message:
        channel = self.state.channels[result.channel_id]
        flags = Message.LOADING if loading else 0
        mtype = 20 if result.kind in (APPLICATION_COMMAND, AUTOCOMPLETE) else 19
        if followup:
            mtype = 20 if result.kind == APPLICATION_COMMAND else 0
        return await self.create_message(
            channel,
            self.state.bot_user.payload(),
            body,
            webhook_id=self.state.application_id,
            mtype=mtype,
            flags=flags,
            interaction=result,
        )

    async def send_user_message(
        self,
        channel: Channel,
        user: User | Member,
        content: str,
        *,
        when: datetime | None = None,
    ) -> Message:
        """A person posts a message (MESSAGE_CREATE)."""
        u = self.state.users[user_id_of(user)]
        return await self.create_message(channel, u.payload(), {"content": content}, when=when)
