"""FakeDiscord's voice: who is in which voice or stage channel."""

from __future__ import annotations

from .core import JSON, ServerCore
from .interactions import InvocationError
from .state import Channel, ChannelType, Guild, Member, P, User, user_id_of


class Voice(ServerCore):
    """Voice states: joining, leaving and moving people, VOICE_STATE_UPDATE."""

    def voice_state_payload(self, guild: Guild, user_id: int) -> JSON:
        channel_id = guild.voice_states.get(user_id)
        member = guild.members[user_id]
        stage = channel_id is not None and self.state.channels[channel_id].type == ChannelType.STAGE
        return {
            "guild_id": str(guild.id),
            "channel_id": str(channel_id) if channel_id else None,
            "user_id": str(user_id),
            "member": member.payload(),
            "session_id": f"voice-{user_id}",
            "deaf": member.deaf,
            "mute": member.mute,
            "self_deaf": False,
            "self_mute": False,
            "self_stream": False,
            "self_video": False,
            "suppress": stage,
            "request_to_speak_timestamp": None,
        }

    async def set_voice(self, guild: Guild, user_id: int, channel_id: int | None) -> None:
        """Move someone into a voice/stage channel, or out of voice (None): VOICE_STATE_UPDATE."""
        if channel_id is None:
            if guild.voice_states.pop(user_id, None) is None:
                return
        else:
            guild.voice_states[user_id] = channel_id
        payload = self.voice_state_payload(guild, user_id)
        await self.dispatch("VOICE_STATE_UPDATE", payload)

    async def join_voice(self, guild: Guild, user: User | Member, channel: Channel) -> None:
        """A person joins a voice or stage channel (needs Connect there, as in the client)."""
        uid = user_id_of(user)
        if channel.type not in (ChannelType.VOICE, ChannelType.STAGE):
            raise InvocationError(f"#{channel.name} is not a voice or stage channel")
        if not self.permissions_for(guild.id, channel.id, uid) & P.CONNECT:
            raise InvocationError(f"the user cannot connect to #{channel.name}")
        await self.set_voice(guild, uid, channel.id)

    async def leave_voice(self, guild: Guild, user: User | Member) -> None:
        """A person leaves voice."""
        await self.set_voice(guild, user_id_of(user), None)

    def voice_channel_of(self, guild: Guild, user: User | Member) -> Channel | None:
        cid = guild.voice_states.get(user_id_of(user))
        return self.state.channels[cid] if cid else None
