"""FakeDiscord's permission checks: computed bits and command visibility."""

from __future__ import annotations

from .core import ServerCore
from .interactions import InvocationError
from .state import (
    Channel,
    Guild,
    P,
    StoredCommand,
    User,
    compute_base_permissions,
    compute_channel_permissions,
)


class Permissions(ServerCore):
    """Computed permissions, and who may see and use a synced command."""

    def permissions_for(
        self, guild_id: int | None, channel_id: int | None, user_id: int | None
    ) -> int:
        """Computed permissions of a user (default: the bot) in a guild or channel."""
        if guild_id is None:
            return P.VIEW_CHANNEL | P.SEND_MESSAGES | P.EMBED_LINKS | P.READ_MESSAGE_HISTORY
        guild = self.state.guilds[guild_id]
        uid = self.state.bot_user.id if user_id is None else user_id
        if channel_id is None:
            return compute_base_permissions(guild, uid)
        channel = self.state.channels[channel_id]
        parent = self.state.channels.get(channel.parent_id or 0) if channel.is_thread else None
        return compute_channel_permissions(guild, channel, uid, parent)

    def bot_permissions(self, channel: Channel) -> int:
        return self.permissions_for(channel.guild_id, channel.id, self.state.bot_user.id)

    def _check_command_permissions(
        self, guild: Guild | None, user: User, channel: Channel, cmd: StoredCommand, override: bool
    ) -> None:
        contexts = cmd.payload.get("contexts")
        if guild is None:
            if (
                cmd.guild_id is not None
                or cmd.payload.get("dm_permission") is False
                or (contexts is not None and 1 not in contexts)
            ):
                raise InvocationError(f"/{cmd.name} is not available in DMs")
            return
        if contexts is not None and 0 not in contexts:
            raise InvocationError(f"/{cmd.name} is not available in servers")
        here = self.permissions_for(guild.id, channel.id, user.id)
        if here & P.VIEW_CHANNEL and not here & P.USE_APPLICATION_COMMANDS:
            raise InvocationError(f"{user.username} may not use application commands here")
        needed = cmd.payload.get("default_member_permissions")
        if needed is None or override:
            return
        perms = self.permissions_for(guild.id, channel.id, user.id)
        if int(needed) == 0 and not perms & P.ADMINISTRATOR or (perms & int(needed)) != int(needed):
            raise InvocationError(
                f"{user.username} cannot see /{cmd.name}: Discord hides it from members without "
                f"permissions {needed} (pass _override_permissions=True to model a server "
                "admin's override in Integrations settings)"
            )
