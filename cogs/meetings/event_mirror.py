"""The native scheduled-event mirror's Discord calls; MeetingService decides what each shows."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.occurrences import Occurrence
from bot.runtime.app import HavenBot
from bot.services.meetings import Meeting, access_label, describe_repeat
from cogs._kit import truncate
from cogs._kit.i18n import _, use_locale
from cogs.meetings.render import why

log = logging.getLogger(__name__)

EVENT_LOCATION = "Discord"  # i18n: keep (the product's name)
PRIVACY_GUILD_ONLY = 2
ENTITY_STAGE, ENTITY_VOICE, ENTITY_EXTERNAL = 1, 2, 3


def event_payload(
    meeting: Meeting, occ: Occurrence, voice: discord.abc.GuildChannel | None
) -> dict[str, Any]:
    """The REST body of the one native scheduled event mirroring an occurrence (its language)."""
    with use_locale(meeting.language):  # everyone in the server reads it
        text = f"{access_label(meeting)} · {describe_repeat(meeting)}"
        if meeting.description:
            text += f"\n\n{meeting.description}"
        text += "\n\n" + _("Kept in step by Haven: see /meeting info for the schedule.")
    payload: dict[str, Any] = {
        "name": truncate(meeting.title, 100),
        "description": truncate(text, 1000),
        "privacy_level": PRIVACY_GUILD_ONLY,
        "scheduled_start_time": occ.start.isoformat(),
        "scheduled_end_time": occ.end.isoformat(),
    }
    if isinstance(voice, discord.StageChannel | discord.VoiceChannel):
        stage = isinstance(voice, discord.StageChannel)
        payload["entity_type"] = ENTITY_STAGE if stage else ENTITY_VOICE
        payload["channel_id"] = str(voice.id)
        payload["entity_metadata"] = None
    else:
        payload["entity_type"] = ENTITY_EXTERNAL
        payload["channel_id"] = None
        payload["entity_metadata"] = {"location": EVENT_LOCATION}
    return payload


class DiscordNativeEvents:
    """NativeEvents for discord.py: one non-recurring scheduled event per meeting."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    def knows_guild(self, guild_id: int) -> bool:
        """Whether the bot is in the guild."""
        return self.bot.get_guild(guild_id) is not None

    async def show(self, meeting: Meeting, occurrence: Occurrence) -> int | None:
        """Edit the meeting's event to show the occurrence, or replace it; None if Discord refused."""
        voice = None
        if meeting.room_voice_channel_id is not None:
            channel = self.bot.get_channel(meeting.room_voice_channel_id)
            voice = channel if isinstance(channel, discord.abc.GuildChannel) else None
        payload = event_payload(meeting, occurrence, voice)
        if meeting.native_event_id is not None:
            try:
                await self.bot.http.edit_scheduled_event(
                    meeting.guild_id, meeting.native_event_id, **payload
                )
                return meeting.native_event_id
            except discord.NotFound:
                pass
            except discord.HTTPException as exc:
                # e.g. someone started or ended the event by hand: replace it.
                log.info(
                    "replacing the scheduled event of meeting %d (HTTP %s)", meeting.id, exc.status
                )
                await self.remove(meeting.guild_id, meeting.native_event_id)
        try:
            data = await self.bot.http.create_guild_scheduled_event(meeting.guild_id, **payload)
        except discord.HTTPException as exc:
            log.warning(
                "could not create the scheduled event of meeting %d (%s)", meeting.id, why(exc)
            )
            return None
        return int(data["id"])

    async def remove(self, guild_id: int, event_id: int) -> None:
        """Delete a scheduled event; one already gone is fine."""
        try:
            await self.bot.http.delete_scheduled_event(guild_id, event_id)
        except discord.NotFound:
            pass
        except discord.HTTPException as exc:
            log.warning("could not delete a scheduled event: HTTP %s", exc.status)
