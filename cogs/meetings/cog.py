"""/meeting: schedule, list, show and change meetings. Thin glue over ``MeetingService``, which
holds every rule and the native event mirror's plan (this cog installs its Discord calls).
Cancellation notices belong to the reminders feature.
"""

from __future__ import annotations

from datetime import datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.occurrences import Occurrence
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from bot.services.meetings import (
    Actor,
    Meeting,
    MeetingEdit,
    MeetingService,
    move_request,
)
from cogs._kit import (
    MeetingArg,
    caller_level,
    requires,
    room_admits,
    timezone_autocomplete,
)
from cogs._kit.i18n import _T, LanguageArg
from cogs.meetings import words
from cogs.meetings.event_mirror import DiscordNativeEvents
from cogs.meetings.notices import announce, modlog
from cogs.meetings.options import (
    ACCESS_CHOICES,
    EDIT_OPTIONS,
    KIND_CHOICES,
    REPEAT_CHOICES,
    SCHEDULE_OPTIONS,
    can_facilitate,
    format_autocomplete,
    multiline,
    occurrence_autocomplete,
)
from cogs.meetings.render import list_pages, meeting_card
from cogs.meetings.views import delete_dialog, list_pager


class MeetingsCog(
    commands.GroupCog, name="meeting", description=_T("Meetings: find, schedule, change")
):
    """The /meeting commands."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    @property
    def service(self) -> MeetingService:
        """The meeting rules."""
        return self.bot.services.meeting_service

    async def cog_load(self) -> None:
        """Install the native event mirror's Discord calls."""
        self.service.native_events = DiscordNativeEvents(self.bot)

    async def cog_unload(self) -> None:
        """Remove them: the service stops mirroring."""
        self.service.native_events = None

    async def _actor(self, interaction: discord.Interaction) -> Actor:
        return Actor(interaction.user.id, await caller_level(interaction))

    def _next(self, meeting: Meeting, n: int = 3) -> list[Occurrence]:
        return self.service.next_occurrences(meeting, n)

    def _next_start(self, meeting: Meeting) -> datetime | None:
        upcoming = self._next(meeting, 1)
        return upcoming[0].start if upcoming else None

    async def _answer(
        self, interaction: discord.Interaction, content: str, meeting: Meeting
    ) -> None:
        await reply_ephemeral(
            interaction, content, embed=meeting_card(meeting, self._next(meeting))
        )

    @app_commands.command(name="schedule", description=_T("Schedule a meeting (facilitators)"))
    @app_commands.describe(**SCHEDULE_OPTIONS)
    @app_commands.choices(repeat=REPEAT_CHOICES, kind=KIND_CHOICES, access=ACCESS_CHOICES)
    @app_commands.rename(formats="format")
    @app_commands.autocomplete(timezone=timezone_autocomplete, formats=format_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def schedule(
        self,
        interaction: discord.Interaction,
        title: str,
        start: str,
        repeat: str,
        kind: str,
        timezone: str | None = None,
        duration: int = 60,
        access: str = "open",
        formats: str | None = None,
        description: str | None = None,
        language: LanguageArg | None = None,
    ) -> None:
        """Schedule a meeting; the caller becomes its facilitator."""
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        meeting = await self.service.schedule(
            interaction.guild_id,
            await self._actor(interaction),
            title=title,
            start=start,
            timezone=timezone,
            repeat=repeat,
            duration=duration,
            kind=kind,
            access=access,
            formats=formats,
            description=multiline(description),
            language=language,
        )
        await self._answer(interaction, words.scheduled_answer(), meeting)
        await modlog(
            interaction, words.SCHEDULED, meeting, lambda: words.scheduled_details(meeting)
        )

    @app_commands.command(name="list", description=_T("Every meeting, by its next date"))
    @app_commands.describe(
        days=_T(
            "Days ahead to list every date, 1 to 31 (default 7); other meetings show only their next"
        ),
        mine=_T("Only meetings your roles let you join"),
    )
    @app_commands.guild_only()
    async def list_(
        self, interaction: discord.Interaction, days: int = 7, mine: bool = False
    ) -> None:
        """Dates in the window, then every other meeting with its next date, paginated."""
        assert interaction.guild_id is not None
        listing = await self.service.listing(interaction.guild_id, days)
        items, later = listing.upcoming, listing.later
        if mine:
            admits = await room_admits(interaction)
            items = [i for i in items if admits(i.meeting)]
            later = [x for x in later if admits(x.meeting)]
        if not items and not later:
            await reply_ephemeral(interaction, words.no_meetings(mine=mine))
            return
        await list_pager(list_pages(items, later, days, mine), interaction.user.id).send(
            interaction
        )

    @app_commands.command(name="info", description=_T("A meeting's details and next dates"))
    @app_commands.describe(meeting=_T("Start typing the meeting's title"))
    @app_commands.guild_only()
    async def info(self, interaction: discord.Interaction, meeting: MeetingArg) -> None:
        """Show a meeting's card."""
        await reply_ephemeral(interaction, embed=meeting_card(meeting, self._next(meeting)))

    @app_commands.command(name="edit", description=_T("Change a meeting, or move one occurrence"))
    @app_commands.describe(**EDIT_OPTIONS)
    @app_commands.choices(repeat=REPEAT_CHOICES, kind=KIND_CHOICES, access=ACCESS_CHOICES)
    @app_commands.rename(formats="format")
    @app_commands.autocomplete(
        timezone=timezone_autocomplete,
        formats=format_autocomplete,
        occurrence=occurrence_autocomplete,
    )
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def edit(
        self,
        interaction: discord.Interaction,
        meeting: MeetingArg,
        title: str | None = None,
        start: str | None = None,
        timezone: str | None = None,
        repeat: str | None = None,
        duration: int | None = None,
        kind: str | None = None,
        access: str | None = None,
        formats: str | None = None,
        description: str | None = None,
        opening_text: str | None = None,
        reminder_offsets: str | None = None,
        room_open_minutes: int | None = None,
        room_close_minutes: int | None = None,
        clear_chat: bool | None = None,
        add_facilitator: discord.Member | None = None,
        remove_facilitator: discord.User | None = None,
        occurrence: str | None = None,
        move_to: str | None = None,
        language: LanguageArg | None = None,
    ) -> None:
        """Change any field, add or remove facilitators, or move one occurrence."""
        assert interaction.guild_id is not None
        actor = await self._actor(interaction)
        change = MeetingEdit(
            title=title,
            start=start,
            timezone=timezone,
            repeat=repeat,
            duration=duration,
            kind=kind,
            access=access,
            formats=formats,
            description=multiline(description),
            opening_text=multiline(opening_text),
            reminder_offsets=reminder_offsets,
            room_open_minutes=room_open_minutes,
            room_close_minutes=room_close_minutes,
            clear_chat=clear_chat,
            add_facilitator=add_facilitator.id if add_facilitator else None,
            add_facilitator_eligible=await can_facilitate(self.bot.services, add_facilitator),
            remove_facilitator=remove_facilitator.id if remove_facilitator else None,
            language=language,
        )
        move = move_request(change, occurrence, move_to)
        if move is not None:
            await self._move(interaction, meeting, actor, *move)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.service.edit(interaction.guild_id, meeting.id, actor, change)
        updated = result.meeting
        await self._answer(interaction, words.saved(result.changed), updated)
        if result.timing_changed:
            nxt = self._next_start(updated)
            await announce(interaction, updated, lambda: words.schedule_notice(updated, nxt))
        await modlog(
            interaction,
            words.EDITED,
            updated,
            lambda: {"changed": words.changed_fields(result.changed)},
        )

    async def _move(
        self,
        interaction: discord.Interaction,
        meeting: Meeting,
        actor: Actor,
        occurrence: str,
        move_to: str,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        before = {o.key: o for o in self._next(meeting, 60)}
        updated, moved = await self.service.move(
            meeting.guild_id, meeting.id, actor, occurrence, move_to
        )
        old = before.get(moved.key)
        await self._answer(interaction, words.moved_answer(old, moved), updated)
        await announce(interaction, updated, lambda: words.moved_notice(updated, old, moved))
        # The mod log keeps the exact figures a moderator may need to check against.
        await modlog(
            interaction,
            words.MOVED,
            updated,
            lambda: {
                "occurrence": moved.key.isoformat(),
                "moved_to": f"{moved.local_start:%Y-%m-%d %H:%M} {updated.timezone}",
            },
        )

    @app_commands.command(name="cancel", description=_T("Cancel (or restore) one occurrence"))
    @app_commands.describe(
        meeting=_T("Start typing the meeting's title"),
        date=_T("The occurrence's date, YYYY-MM-DD"),
        restore=_T("Bring back a cancelled or moved occurrence instead"),
    )
    @app_commands.autocomplete(date=occurrence_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def cancel(
        self,
        interaction: discord.Interaction,
        meeting: MeetingArg,
        date: str,
        restore: bool = False,
    ) -> None:
        """Cancel one occurrence; the rest of the series stays."""
        assert interaction.guild_id is not None
        actor = await self._actor(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        before = self.service.next_occurrences(meeting, 60)
        updated, key = await self.service.cancel(
            interaction.guild_id, meeting.id, actor, date, restore=restore
        )
        if restore:
            await self._answer(interaction, words.restored_answer(key), updated)
            await modlog(
                interaction, words.RESTORED, updated, lambda: {"occurrence": key.isoformat()}
            )
            return
        gone = next((o for o in before if o.key == key), None)
        # The channel notice (guild setting cancel_notices) is the reminders feature's: it is
        # posted when the first reminder would have come, not weeks early.
        await self._answer(interaction, words.cancelled_answer(gone, key), updated)
        await modlog(interaction, words.CANCELLED, updated, lambda: {"occurrence": key.isoformat()})

    @app_commands.command(name="pause", description=_T("Pause a meeting until a date"))
    @app_commands.describe(
        meeting=_T("Start typing the meeting's title"),
        until=_T("The date it meets again from, YYYY-MM-DD"),
    )
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def pause(
        self, interaction: discord.Interaction, meeting: MeetingArg, until: str
    ) -> None:
        """Temporary closure: skip every occurrence before a date."""
        assert interaction.guild_id is not None
        actor = await self._actor(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        updated = await self.service.pause(interaction.guild_id, meeting.id, actor, until)
        day = updated.paused_until
        assert day is not None
        nxt = self._next_start(updated)
        await self._answer(interaction, words.paused_answer(day, nxt), updated)
        await announce(interaction, updated, lambda: words.paused_notice(updated, day, nxt))
        await modlog(interaction, words.PAUSED, updated, lambda: {"until": day.isoformat()})

    @app_commands.command(name="resume", description=_T("End a meeting's pause now"))
    @app_commands.describe(meeting=_T("Start typing the meeting's title"))
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def resume(self, interaction: discord.Interaction, meeting: MeetingArg) -> None:
        """Resume a paused meeting."""
        assert interaction.guild_id is not None
        actor = await self._actor(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        updated = await self.service.resume(interaction.guild_id, meeting.id, actor)
        nxt = self._next_start(updated)
        await self._answer(interaction, words.resumed_answer(nxt), updated)
        await announce(interaction, updated, lambda: words.resumed_notice(updated, nxt))
        await modlog(interaction, words.RESUMED, updated)

    @app_commands.command(name="delete", description=_T("Delete a meeting (asks to confirm)"))
    @app_commands.describe(meeting=_T("Start typing the meeting's title"))
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def delete(self, interaction: discord.Interaction, meeting: MeetingArg) -> None:
        """Ask to confirm, and what to do with the room."""
        self.service.check_delete(meeting, await self._actor(interaction))

        async def chosen(pressed: discord.Interaction, key: str) -> None:
            await self._delete_confirmed(pressed, meeting.id, delete_room=key == "room")

        await delete_dialog(meeting, interaction.user.id, chosen).send(
            interaction,
            words.delete_question(meeting),
            embed=meeting_card(meeting, self._next(meeting)),
        )

    async def _delete_confirmed(
        self, interaction: discord.Interaction, meeting_id: int, *, delete_room: bool
    ) -> None:
        """Delete (the service re-checks permission), drop its native event, announce, log."""
        assert interaction.guild_id is not None
        await interaction.response.defer()
        # The rooms feature deletes or releases the room on MEETING_CHANGED "deleted"
        # (detail room:delete / room:keep); its link row outlives the meeting for that.
        # On an error the buttons stay usable (the error is answered privately).
        actor = await self._actor(interaction)
        meeting = await self.service.delete(
            interaction.guild_id, meeting_id, actor, delete_room=delete_room
        )
        await interaction.edit_original_response(
            content=words.deleted_answer(meeting, with_room=delete_room), embed=None, view=None
        )
        await self.service.remove_native_event(meeting)
        await announce(interaction, meeting, lambda: words.deleted_notice(meeting))
        await modlog(
            interaction,
            words.DELETED,
            meeting,
            lambda: words.deleted_details(with_room=delete_room),
        )
