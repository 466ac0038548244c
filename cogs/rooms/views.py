"""The room's dialogs: confirming a room's deletion."""

from __future__ import annotations

import discord

from bot.errors import UserFacingError
from bot.i18n import Msg
from bot.services.meetings import Meeting
from bot.services.rooms import MISSING_PERMISSION, RoomLink, RoomService
from cogs._kit import Choice, ConfirmView, safe_title
from cogs._kit.i18n import _
from cogs.rooms.effects import DiscordRoomEffects


def delete_view(
    rooms: RoomService,
    effects: DiscordRoomEffects,
    meeting: Meeting,
    link: RoomLink,
    owner_id: int,
) -> ConfirmView:
    """Confirm or cancel deleting a room; only the person who asked can press."""

    async def confirmed(interaction: discord.Interaction, _choice: str) -> None:
        await interaction.response.edit_message(content=_("Deleting the room…"), view=None)
        try:
            await rooms.delete_room(link)
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await effects.modlog(link.guild_id, Msg("Room deleted"), interaction.user.id, meeting, link)
        try:
            await interaction.edit_original_response(
                content=_("The room of **{title}** was deleted.").format(
                    title=safe_title(meeting.title)
                )
            )
        except discord.HTTPException:
            pass  # the confirmation went with the deleted room

    return ConfirmView(
        owner_id,
        [Choice(_("Delete the room"), "delete")],
        confirmed,
        cancelled=_("The room was kept."),
        prefix="haven-room-delete",
        timeout=120,
    )
