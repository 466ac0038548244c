"""The /meeting dialogs: the list's pages and the delete confirmation (custom ids as shipped)."""

from __future__ import annotations

import discord

from bot.services.meetings import Meeting
from cogs._kit import Choice, ConfirmView, Pager
from cogs._kit.i18n import _
from cogs._kit.ui import Chosen


def list_pager(pages: list[discord.Embed], owner_id: int) -> Pager:
    """Prev / Next over the pages of /meeting list."""
    return Pager(
        pages,
        owner_id,
        refusal=_("Run `/meeting list` to get your own list."),
        prefix="meeting-list",
    )


def delete_dialog(meeting: Meeting, owner_id: int, on_choice: Chosen) -> ConfirmView:
    """Confirm a deletion and say what happens to the meeting's room (keys: keep, room)."""
    rooms = (meeting.room_category_id, meeting.room_text_channel_id, meeting.room_voice_channel_id)
    if any(c is not None for c in rooms):
        choices = [
            Choice(_("Delete, keep its room"), "keep"),
            Choice(_("Delete with its room"), "room"),
        ]
    else:
        choices = [Choice(_("Delete meeting"), "keep")]
    return ConfirmView(
        owner_id,
        choices,
        on_choice,
        cancel_label=_("Don't delete"),
        cancelled=_("Nothing was deleted."),
        prefix="meeting-delete",
        cancel_key="abort",
    )
