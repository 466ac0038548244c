"""/room: create, open, close and moderate a meeting's room; the lifecycle is RoomService's."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.i18n import Msg
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from bot.services.meetings import Meeting
from bot.services.rooms import (
    CLOSED,
    MISSING_PERMISSION,
    OPEN,
    RoomLink,
    RoomService,
    validate_slowmode,
)
from cogs._kit import (
    MeetingArg,
    ensure_meeting_manager,
    requires,
    safe_title,
    ts,
)
from cogs._kit.i18n import _T, _, ngettext, use_locale
from cogs.rooms.effects import DiscordRoomEffects
from cogs.rooms.overwrites import (
    CREATE_NEEDS,
    DELETE_NEEDS,
    SLOWMODE_NEEDS,
    STATE_NEEDS,
    audience_role,
    require_bot_permissions,
)
from cogs.rooms.render import opens_when, removed_dm
from cogs.rooms.views import delete_view


class RoomCog(
    commands.GroupCog, name="room", description=_T("A meeting's room: create and moderate it")
):
    """Room commands; installs the Discord effects the room lifecycle runs through."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        self.rooms: RoomService = bot.services.rooms
        self.effects = DiscordRoomEffects(bot)
        super().__init__()

    async def cog_load(self) -> None:
        """Let the room service act on Discord and follow meeting changes."""
        self.rooms.install(self.effects)

    async def cog_unload(self) -> None:
        """Stop acting on Discord."""
        self.rooms.uninstall()

    # -- command helpers -------------------------------------------------------------------

    async def _target(
        self, interaction: discord.Interaction, named: Meeting | None
    ) -> tuple[Meeting, RoomLink | None]:
        """The meeting named, or the one whose room this channel is in; managers only."""
        assert interaction.guild_id is not None
        if named is not None:
            meeting = named
            link = await self.rooms.link(meeting.id)
        else:
            channel = interaction.channel
            ids = [getattr(channel, "id", 0), getattr(channel, "category_id", None) or 0]
            parent = getattr(channel, "parent", None)
            if parent is not None:
                ids += [parent.id, getattr(parent, "category_id", None) or 0]
            link = await self.rooms.link_for_channels(interaction.guild_id, ids)
            found = (
                await self.bot.services.meetings.get(link.meeting_id, interaction.guild_id)
                if link
                else None
            )
            if found is None:
                raise UserFacingError(
                    _("Use this inside a meeting's room, or name the meeting with `meeting:`.")
                )
            meeting = found
        await ensure_meeting_manager(interaction, meeting)
        return meeting, link

    async def _room(
        self, interaction: discord.Interaction, named: Meeting | None, needs: int
    ) -> tuple[Meeting, RoomLink, discord.Guild]:
        meeting, link = await self._target(interaction, named)
        if link is None:
            raise UserFacingError(
                _("**{title}** has no room yet. Create one with `/room create`.").format(
                    title=safe_title(meeting.title)
                )
            )
        guild = interaction.guild
        assert guild is not None
        require_bot_permissions(guild, needs)
        _guild, _category, text, voice = self.effects.channels(link)
        if text is None or voice is None:
            raise UserFacingError(
                _(
                    "This room's channels were deleted in Discord. Use `/room delete` to unlink "
                    "it, then `/room create` to make a new one."
                )
            )
        return meeting, link, guild

    # -- commands --------------------------------------------------------------------------

    @app_commands.command(
        name="create", description=_T("Create a meeting's room: a category with text and voice")
    )
    @app_commands.describe(
        meeting=_T("The meeting (start typing its title)"),
        stage=_T("Use a stage channel instead of a voice channel (speaker meetings)"),
    )
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def create(
        self, interaction: discord.Interaction, meeting: MeetingArg, stage: bool = False
    ) -> None:
        """Create the room with overwrites from the meeting's access."""
        found, link = await self._target(interaction, meeting)
        guild = interaction.guild
        assert guild is not None
        if link is not None:
            _guild, _category, text, voice = self.effects.channels(link)
            if text is not None and voice is not None:
                await reply_ephemeral(
                    interaction,
                    _("**{title}** already has a room: <#{text_id}> and <#{voice_id}>.").format(
                        title=safe_title(found.title), text_id=text.id, voice_id=voice.id
                    ),
                )
                return
            await self.rooms.forget_link(found.id)  # its channels were deleted in Discord
        require_bot_permissions(guild, CREATE_NEEDS)
        settings = await self.bot.services.guilds.get(guild.id)
        audience_role(guild, found, settings)  # refuses early when the role is not set
        state = await self.rooms.state(found)
        await interaction.response.defer(ephemeral=True, thinking=True)
        category, text_channel, voice_channel = await self.effects.create_channels(
            guild, found, stage, state.open
        )
        link = await self.rooms.save_link(
            found,
            category_id=category.id,
            text_channel_id=text_channel.id,
            voice_channel_id=voice_channel.id,
            stage=stage,
        )
        await self.effects.modlog(
            guild.id,
            Msg("Room created"),
            interaction.user.id,
            found,
            link,
            channel=voice_channel.mention,
        )
        await reply_ephemeral(
            interaction,
            _("Created the room of **{title}**: <#{text_id}> and <#{voice_id}>.").format(
                title=safe_title(found.title), text_id=text_channel.id, voice_id=voice_channel.id
            )
            + " "
            + opens_when(state.open, state.window),
        )

    @app_commands.command(name="open", description=_T("Open the room now, for this occurrence"))
    @app_commands.describe(meeting=_T("The meeting (or use this inside its room)"))
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def open(
        self, interaction: discord.Interaction, meeting: MeetingArg | None = None
    ) -> None:
        """Open by hand."""
        found, link, _guild = await self._room(interaction, meeting, STATE_NEEDS)
        state = await self.rooms.state(found)
        if state.window is None:
            raise UserFacingError(
                _("This meeting has no upcoming occurrence to open the room for.")
            )
        if state.open:
            await self.effects.apply_state(found, link, True)
            await reply_ephemeral(interaction, _("The room is already open."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.rooms.set_override(found, state.window.key, OPEN)
        try:
            await self.rooms.open_room(found, link, state.window, actor_id=interaction.user.id)
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await reply_ephemeral(
            interaction,
            _("Opened the room until {until}, when it closes as scheduled.").format(
                until=ts(state.window.closes_at, "t")  # i18n: keep
            ),
        )

    @app_commands.command(name="close", description=_T("Close the room now, for this occurrence"))
    @app_commands.describe(meeting=_T("The meeting (or use this inside its room)"))
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def close(
        self, interaction: discord.Interaction, meeting: MeetingArg | None = None
    ) -> None:
        """Close by hand."""
        found, link, _guild = await self._room(interaction, meeting, STATE_NEEDS)
        state = await self.rooms.state(found)
        if not state.open or state.window is None:
            await self.effects.apply_state(found, link, False)
            await reply_ephemeral(interaction, _("The room is already closed."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.rooms.set_override(found, state.window.key, CLOSED)
        try:
            await self.rooms.close_room(found, link, state.window.key, actor_id=interaction.user.id)
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await self.rooms.schedule(found.id)
        await reply_ephemeral(interaction, _("Closed the room for this occurrence."))

    async def _set_lock(
        self, interaction: discord.Interaction, meeting: Meeting | None, locked: bool
    ) -> None:
        found, link, guild = await self._room(interaction, meeting, STATE_NEEDS)
        state = await self.rooms.state(found)
        try:
            await self.effects.set_lock(found, link, state.open, locked)
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        title = Msg("Room locked") if locked else Msg("Room unlocked")
        await self.effects.modlog(guild.id, title, interaction.user.id, found, link)
        await reply_ephemeral(
            interaction,
            _(
                "Locked: nobody new can join the voice channel; those inside stay. It unlocks "
                "with `/room unlock` or when the room next opens."
            )
            if locked
            else _("Unlocked: people can join the voice channel again."),
        )

    @app_commands.command(
        name="lock", description=_T("Stop new people joining the room's voice channel")
    )
    @app_commands.describe(meeting=_T("The meeting (or use this inside its room)"))
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def lock(
        self, interaction: discord.Interaction, meeting: MeetingArg | None = None
    ) -> None:
        """Deny Connect to the audience."""
        await self._set_lock(interaction, meeting, True)

    @app_commands.command(
        name="unlock", description=_T("Let people join the room's voice channel again")
    )
    @app_commands.describe(meeting=_T("The meeting (or use this inside its room)"))
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def unlock(
        self, interaction: discord.Interaction, meeting: MeetingArg | None = None
    ) -> None:
        """Allow Connect again."""
        await self._set_lock(interaction, meeting, False)

    @app_commands.command(
        name="slowmode", description=_T("Set slowmode in the room's text channel")
    )
    @app_commands.describe(
        seconds=_T("Seconds between messages per person: 0 (off) to 21600 (6 hours)"),
        meeting=_T("The meeting (or use this inside its room)"),
    )
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def slowmode(
        self,
        interaction: discord.Interaction,
        seconds: app_commands.Range[int, 0, 21600],
        meeting: MeetingArg | None = None,
    ) -> None:
        """Set the text channel's slowmode."""
        validate_slowmode(seconds)
        found, link, guild = await self._room(interaction, meeting, SLOWMODE_NEEDS)
        try:
            await self.effects.set_slowmode(link, seconds)
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await self.effects.modlog(
            guild.id, Msg("Room slowmode"), interaction.user.id, found, link, seconds=str(seconds)
        )
        await reply_ephemeral(
            interaction,
            ngettext(
                "Slowmode is now {count} second.", "Slowmode is now {count} seconds.", seconds
            ).format(count=seconds)
            if seconds
            else _("Slowmode is off."),
        )

    @app_commands.command(
        name="remove", description=_T("Keep someone out of the room until this meeting ends")
    )
    @app_commands.describe(
        member=_T("Who to remove from the room"),
        meeting=_T("The meeting (or use this inside its room)"),
    )
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def remove(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        meeting: MeetingArg | None = None,
    ) -> None:
        """Deny the member the room until the occurrence's room closes, then lift it."""
        found, link, guild = await self._room(interaction, meeting, STATE_NEEDS)
        if member.bot or member.id == interaction.user.id:
            raise UserFacingError(_("Pick someone else: you can't remove yourself or a bot."))
        settings = await self.bot.services.guilds.get(guild.id)
        mod_role = settings.moderator_role_id
        if member.guild_permissions.manage_guild or any(r.id == mod_role for r in member.roles):
            raise UserFacingError(_("Moderators can't be removed from a room."))
        state = await self.rooms.state(found)
        if state.window is None:
            raise UserFacingError(_("This meeting has no current or upcoming occurrence."))
        window = state.window
        await interaction.response.defer(ephemeral=True, thinking=True)
        removal = await self.rooms.add_removal(found, member.id, window)
        try:
            await self.effects.deny_member(link, member)
        except discord.Forbidden as exc:
            await self.rooms.delete_removals([removal.id])
            raise UserFacingError(MISSING_PERMISSION) from exc
        await self.effects.disconnect(link, member)
        with use_locale(settings.language):  # we don't know their language: the guild's
            contact = (
                _("<#{channel_id}> or `/moderators message`").format(
                    channel_id=settings.moderators_channel_id
                )
                if settings.moderators_channel_id
                else _("`/moderators message` in the server")
            )
            dm = removed_dm(found, guild.name, removal.until, contact)
        told = True
        try:
            await member.send(dm)
        except discord.HTTPException:
            told = False
        await self.effects.modlog(
            guild.id,
            Msg("Member removed from room"),
            interaction.user.id,
            found,
            link,
            member=f"{member.mention} (`{member.id}`)",
            until=ts(removal.until, "f"),
        )
        text = _(
            "Removed <@{user_id}> from the room until {until}; it lifts automatically."
        ).format(user_id=member.id, until=ts(removal.until, "f"))
        if not told:
            text += " " + _("I couldn't message them (their DMs are closed).")
        await reply_ephemeral(interaction, text)

    @app_commands.command(
        name="delete", description=_T("Delete a meeting's room (asks to confirm)")
    )
    @app_commands.describe(meeting=_T("The meeting (or use this inside its room)"))
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def delete(
        self, interaction: discord.Interaction, meeting: MeetingArg | None = None
    ) -> None:
        """Ask for confirmation, then delete the channels."""
        found, link = await self._target(interaction, meeting)
        if link is None:
            raise UserFacingError(
                _("**{title}** has no room.").format(title=safe_title(found.title))
            )
        guild = interaction.guild
        assert guild is not None
        require_bot_permissions(guild, DELETE_NEEDS)
        await delete_view(self.rooms, self.effects, found, link, interaction.user.id).send(
            interaction,
            _(
                "Delete the room of **{title}**: its category, text and voice channels, and every "
                "message in them? The meeting itself stays."
            ).format(title=safe_title(found.title)),
        )
