"""/meeting: schedule, list, show and change meetings; announcements, mod log, native events.

Thin glue over ``MeetingService`` (every rule lives there). Changes are announced in the
announcement channel (moves, pauses, resumes, deletions and new schedules; cancellation notices
belong to the reminders feature), written to the mod log, and mirrored as one native Discord scheduled event
per meeting when the guild turned ``native_events`` on.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.bus import MEETING_CHANGED
from bot.errors import UserFacingError
from bot.jobs import Job
from bot.occurrences import Occurrence, next_occurrences, zone
from bot.parsing import format_offset
from bot.permissions import Level, level_for
from bot.runtime.app import HavenBot
from bot.runtime.tree import HavenView, reply_ephemeral
from bot.services.meetings import (
    EVENT_ROLL,
    FIELD_LABELS,
    Actor,
    Later,
    Meeting,
    MeetingEdit,
    MeetingService,
    Upcoming,
    access_label,
    describe_repeat,
    format_suggestions,
)
from cogs._kit import (
    COLOR,
    caller_level,
    escape,
    fit_embed,
    meeting_autocomplete,
    modlog_embed,
    requires,
    resolve_meeting,
    room_admits,
    safe_title,
    services_of,
    timezone_autocomplete,
    truncate,
    ts,
    ts_pair,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 8
VIEW_TIMEOUT = 600.0
EVENT_LOCATION = "Discord"
PRIVACY_GUILD_ONLY = 2
ENTITY_STAGE, ENTITY_VOICE, ENTITY_EXTERNAL = 1, 2, 3

RepeatChoice = Literal["once", "weekly", "biweekly", "monthly", "monthly-last"]
KindChoice = Literal["na", "family", "other"]
AccessChoice = Literal["open", "closed"]


# --- rendering ---------------------------------------------------------------------------------


def occurrence_line(meeting: Meeting, occ: Occurrence) -> str:
    """One occurrence: Discord timestamps for the reader, and the home wall time beside them."""
    home = f"{occ.local_start:%a %H:%M} {meeting.timezone}"
    moved = " · **moved**" if occ.moved else ""
    return f"{ts_pair(occ.start)} · {home}{moved}"


def meeting_card(meeting: Meeting, upcoming: list[Occurrence]) -> discord.Embed:
    """The meeting's card: title, who it is for, when, the next occurrences and the home zone."""
    embed = discord.Embed(
        title=safe_title(meeting.title),
        description=escape(meeting.description) if meeting.description else None,
        colour=COLOR,
    )
    embed.add_field(name="For", value=access_label(meeting), inline=False)
    embed.add_field(
        name="When",
        value=f"{describe_repeat(meeting)} · {meeting.duration_minutes} minutes",
        inline=False,
    )
    if meeting.paused_until is not None:
        embed.add_field(
            name="Paused",
            value=f"No meetings before {meeting.paused_until.isoformat()}.",
            inline=False,
        )
    lines = [occurrence_line(meeting, o) for o in upcoming] or ["No upcoming meetings."]
    embed.add_field(name="Next", value="\n".join(lines), inline=False)
    embed.add_field(name="Formats", value=", ".join(meeting.format_labels) or "—", inline=True)
    facilitators = " ".join(f"<@{u}>" for u in sorted(meeting.facilitator_ids)) or "—"
    embed.add_field(name="Facilitators", value=facilitators, inline=True)
    reminders = (
        ", ".join(format_offset(m) for m in meeting.reminder_offsets) + " before"
        if meeting.reminder_offsets is not None
        else "server default"
    )
    embed.add_field(name="Reminders", value=reminders or "none", inline=True)
    embed.set_footer(
        text=f"Meeting #{meeting.id} · times in Discord show in your own time zone; "
        f"the meeting keeps {meeting.home_time} local time"
    )
    return fit_embed(embed)


def later_line(item: Later) -> str:
    """A meeting outside the window: when it meets next, why (a pause), or that no date is left."""
    m = item.meeting
    if item.next is None:
        when = "No upcoming date."
    elif item.paused_until is not None:
        when = (
            f"Paused until {item.paused_until.isoformat()} · next: {occurrence_line(m, item.next)}"
        )
    else:
        when = f"Next: {occurrence_line(m, item.next)}"
    return f"**{escape(truncate(m.title, 100))}** · {access_label(m)}\n{when} · `#{m.id}`"


def list_pages(
    items: list[Upcoming], later: list[Later], days: int, mine: bool
) -> list[discord.Embed]:
    """Occurrences in the window, then every other meeting's next date, PAGE_SIZE per page."""
    span = f"{days} day{'s' if days != 1 else ''}"
    scope = " you can join" if mine else ""
    title = f"Meetings{scope} in the next {span}"
    entries = [
        (
            False,
            f"**{escape(truncate(u.meeting.title, 100))}** · {access_label(u.meeting)}\n"
            f"{occurrence_line(u.meeting, u.occurrence)} · `#{u.meeting.id}`",
        )
        for u in items
    ]
    entries += [(True, later_line(x)) for x in later]
    chunks = [entries[i : i + PAGE_SIZE] for i in range(0, len(entries), PAGE_SIZE)]
    pages: list[discord.Embed] = []
    for number, chunk in enumerate(chunks, start=1):
        lines = []
        if number == 1 and not items:
            lines.append(f"Nothing in the next {span}.")
        for n, (is_later, line) in enumerate(chunk):
            # Head the later part wherever it starts, and on each page it continues onto.
            if is_later and (n == 0 or not chunk[n - 1][0]):
                lines.append(f"__**Beyond the next {span}**__")
            lines.append(line)
        embed = discord.Embed(title=title, description="\n\n".join(lines), colour=COLOR)
        embed.set_footer(
            text=f"Page {number}/{len(chunks)} · /meeting info for details · "
            "times show in your own time zone"
        )
        pages.append(fit_embed(embed))
    return pages


def event_payload(
    meeting: Meeting, occ: Occurrence, voice: discord.abc.GuildChannel | None
) -> dict[str, Any]:
    """The REST body of the one native scheduled event mirroring an occurrence."""
    text = f"{access_label(meeting)} · {describe_repeat(meeting)}"
    if meeting.description:
        text += f"\n\n{meeting.description}"
    text += "\n\nKept in step by Haven: see /meeting info for the schedule."
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


# --- native scheduled-event mirror -------------------------------------------------------------


class EventMirror:
    """One non-recurring Discord scheduled event per meeting, showing its next occurrence."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        # One sync at a time: a command and the reconciler must never both create an event.
        self._lock = asyncio.Lock()

    @property
    def service(self) -> MeetingService:
        """The meeting rules."""
        return self.bot.services.meeting_service

    async def sync(self, meeting_id: int) -> None:
        """Create, update or delete the meeting's event so it shows the next occurrence."""
        async with self._lock:
            await self._sync(meeting_id)

    async def _sync(self, meeting_id: int) -> None:
        services = self.bot.services
        meeting = await services.meetings.get(meeting_id)
        if meeting is None:
            return
        settings = await services.guilds.get(meeting.guild_id)
        occ: Occurrence | None = None
        if settings.native_events:
            upcoming = next_occurrences(meeting.schedule, services.clock.now(), 1)
            occ = upcoming[0] if upcoming else None
        if occ is None:
            if meeting.native_event_id is not None:
                await self._delete(meeting.guild_id, meeting.native_event_id)
                await self.service.record_native_event(meeting.id, meeting.guild_id, None, None)
            return
        voice = None
        if meeting.room_voice_channel_id is not None:
            channel = self.bot.get_channel(meeting.room_voice_channel_id)
            voice = channel if isinstance(channel, discord.abc.GuildChannel) else None
        payload = event_payload(meeting, occ, voice)
        event_id: int | None = None
        if meeting.native_event_id is not None:
            try:
                await self.bot.http.edit_scheduled_event(
                    meeting.guild_id, meeting.native_event_id, **payload
                )
                event_id = meeting.native_event_id
            except discord.NotFound:
                pass
            except discord.HTTPException as exc:
                # e.g. someone started or ended the event by hand: replace it.
                log.info(
                    "replacing the scheduled event of meeting %d (HTTP %s)", meeting.id, exc.status
                )
                await self._delete(meeting.guild_id, meeting.native_event_id)
        if event_id is None:
            try:
                data = await self.bot.http.create_guild_scheduled_event(meeting.guild_id, **payload)
                event_id = int(data["id"])
            except discord.HTTPException as exc:
                log.warning(
                    "could not create the scheduled event of meeting %d (%s)", meeting.id, _why(exc)
                )
        # A roll job is armed even after a failure, so the next occurrence's end retries.
        recorded = await self.service.record_native_event(
            meeting.id, meeting.guild_id, event_id, occ
        )
        if not recorded and event_id is not None:  # deleted while Discord was answering
            await self._delete(meeting.guild_id, event_id)

    async def remove(self, meeting: Meeting) -> None:
        """Delete the event of a meeting that is gone."""
        if meeting.native_event_id is not None:
            async with self._lock:
                await self._delete(meeting.guild_id, meeting.native_event_id)

    async def _delete(self, guild_id: int, event_id: int) -> None:
        try:
            await self.bot.http.delete_scheduled_event(guild_id, event_id)
        except discord.NotFound:
            pass
        except discord.HTTPException as exc:
            log.warning("could not delete a scheduled event: HTTP %s", exc.status)

    async def handle_roll(self, jobs: list[Job]) -> None:
        """An occurrence ended: move each event on to the meeting's next occurrence."""
        services = self.bot.services
        for job in jobs:
            await self.sync(job.meeting_id)
            async with services.db.transaction() as tx:
                await services.jobs.complete(tx, job)

    async def reconcile(self) -> None:
        """Mirror meetings that lack an armed event (setting just turned on); drop when off."""
        services = self.bot.services
        armed = {j.meeting_id for j in await services.jobs.pending(kind=EVENT_ROLL)}
        for meeting in await services.meetings.list_all():
            if self.bot.get_guild(meeting.guild_id) is None:
                continue
            settings = await services.guilds.get(meeting.guild_id)
            wanted = settings.native_events and meeting.id not in armed
            unwanted = not settings.native_events and meeting.native_event_id is not None
            if wanted or unwanted:
                try:
                    await self.sync(meeting.id)
                except Exception:
                    log.exception("could not mirror meeting %d as an event", meeting.id)


# --- views -------------------------------------------------------------------------------------


class _ExpiringView(HavenView):
    """A view whose buttons are removed when it times out (they would only fail after that)."""

    def __init__(self) -> None:
        super().__init__(timeout=VIEW_TIMEOUT)
        self.origin: discord.Interaction | None = None

    async def on_timeout(self) -> None:
        """Take the buttons off the message."""
        if self.origin is None:
            return
        try:
            await self.origin.edit_original_response(view=None)
        except discord.HTTPException:
            pass


class ListView(_ExpiringView):
    """Prev / Next over the pages of /meeting list."""

    def __init__(self, pages: list[discord.Embed], owner_id: int) -> None:
        super().__init__()
        self.pages = pages
        self.owner_id = owner_id
        self.index = 0
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.prev.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the person who asked turns the pages."""
        if interaction.user.id != self.owner_id:
            await reply_ephemeral(interaction, "Run `/meeting list` to get your own list.")
            return False
        return True

    async def _show(self, interaction: discord.Interaction) -> None:
        self._update_buttons()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(
        label="◀ Prev", style=discord.ButtonStyle.secondary, custom_id="meeting-list:prev"
    )
    async def prev(self, interaction: discord.Interaction, _: discord.ui.Button[ListView]) -> None:
        """Previous page."""
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(
        label="Next ▶", style=discord.ButtonStyle.secondary, custom_id="meeting-list:next"
    )
    async def next(self, interaction: discord.Interaction, _: discord.ui.Button[ListView]) -> None:
        """Next page."""
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)


class DeleteView(_ExpiringView):
    """Confirm a deletion and say what happens to the meeting's room."""

    def __init__(self, cog: MeetingsCog, meeting: Meeting, owner_id: int) -> None:
        super().__init__()
        self.cog = cog
        self.meeting_id = meeting.id
        self.owner_id = owner_id
        has_room = any(
            c is not None
            for c in (
                meeting.room_category_id,
                meeting.room_text_channel_id,
                meeting.room_voice_channel_id,
            )
        )
        if has_room:
            self._add("Delete, keep its room", "meeting-delete:keep", discord.ButtonStyle.danger)
            self._add("Delete with its room", "meeting-delete:room", discord.ButtonStyle.danger)
        else:
            self._add("Delete meeting", "meeting-delete:keep", discord.ButtonStyle.danger)
        self._add("Don't delete", "meeting-delete:abort", discord.ButtonStyle.secondary)

    def _add(self, label: str, custom_id: str, style: discord.ButtonStyle) -> None:
        button: discord.ui.Button[DeleteView] = discord.ui.Button(
            label=label, custom_id=custom_id, style=style
        )

        async def callback(interaction: discord.Interaction) -> None:
            """Pass the choice on."""
            await self.chosen(interaction, custom_id.split(":")[1])

        button.callback = callback  # type: ignore[method-assign]
        self.add_item(button)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the person who asked confirms."""
        return interaction.user.id == self.owner_id

    async def chosen(self, interaction: discord.Interaction, choice: str) -> None:
        """Delete (keeping or deleting the room), or leave everything as it is."""
        if choice == "abort":
            self.stop()
            await interaction.response.edit_message(
                content="Nothing was deleted.", embed=None, view=None
            )
            return
        await interaction.response.defer()
        # On an error the buttons stay usable (the error is answered privately).
        meeting = await self.cog.delete_meeting(interaction, self.meeting_id, choice == "room")
        self.stop()
        room = " and its room" if choice == "room" else ""
        await interaction.edit_original_response(
            content=f"Deleted **{escape(meeting.title)}**{room}.", embed=None, view=None
        )
        await self.cog.after_delete(interaction, meeting, choice == "room")


# --- the cog -----------------------------------------------------------------------------------


def _why(exc: Exception) -> str:
    """An exception's type and HTTP status, never its message (it may echo user text)."""
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__


def _lines(text: str | None) -> str | None:
    """Slash options are one line: a typed `\\n` starts a new one in long texts."""
    return None if text is None else text.replace("\\n", "\n")


async def format_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Complete the last item of a comma-separated format list."""
    return [app_commands.Choice(name=n, value=v) for n, v in format_suggestions(current)]


async def occurrence_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The chosen meeting's next dates (and its cancelled ones, to restore)."""
    value = getattr(interaction.namespace, "meeting", None)
    if not value or interaction.guild_id is None:
        return []
    try:
        meeting = await resolve_meeting(interaction, str(value))
    except UserFacingError:
        return []
    now = services_of(interaction).clock.now()
    choices: list[tuple[date, str]] = []
    for occ in next_occurrences(meeting.schedule, now, 12):
        moved = " (moved)" if occ.moved else ""
        choices.append(
            (occ.key, f"{occ.key:%a %Y-%m-%d} · {occ.local_start:%H:%M} {meeting.timezone}{moved}")
        )
    today = now.astimezone(zone(meeting.timezone)).date()
    for key, exc in meeting.exceptions.items():
        if exc.cancelled and key >= today:
            choices.append((key, f"{key:%a %Y-%m-%d} (cancelled)"))
    choices.sort()
    needle = current.strip().lower()
    return [
        app_commands.Choice(name=truncate(name, 100), value=key.isoformat())
        for key, name in choices
        if needle in name.lower()
    ][:25]


class MeetingsCog(
    commands.GroupCog, name="meeting", description="Meetings: find, schedule, change"
):
    """The /meeting commands."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        self.mirror = EventMirror(bot)
        super().__init__()

    @property
    def service(self) -> MeetingService:
        """The meeting rules."""
        return self.bot.services.meeting_service

    async def cog_load(self) -> None:
        """Follow meeting changes, and roll native events forward after each occurrence."""
        services = self.bot.services
        services.events.subscribe(MEETING_CHANGED, self.on_meeting_changed)
        services.jobs.register(EVENT_ROLL, self.mirror.handle_roll)
        services.jobs.add_reconciler(self.mirror.reconcile)

    async def cog_unload(self) -> None:
        """Stop following meeting changes."""
        self.bot.services.events.unsubscribe(MEETING_CHANGED, self.on_meeting_changed)

    async def on_meeting_changed(
        self, meeting_id: int, guild_id: int, change: str, detail: str = "", **_: Any
    ) -> None:
        """Keep the native event in step with every change (deletion is handled in place)."""
        if change != "deleted":
            await self.mirror.sync(meeting_id)

    # -- helpers -----------------------------------------------------------------------------

    async def _actor(self, interaction: discord.Interaction) -> Actor:
        return Actor(interaction.user.id, await caller_level(interaction))

    async def _meeting(self, interaction: discord.Interaction, value: str) -> Meeting:
        return await resolve_meeting(interaction, value)

    async def announce(self, guild_id: int, text: str) -> None:
        """Post to the guild's announcement channel, if it has a usable one (never pings)."""
        settings = await self.bot.services.guilds.get(guild_id)
        if settings.announce_channel_id is None:
            return
        channel = self.bot.get_channel(settings.announce_channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("announcement channel of a guild is missing")
            return
        try:
            await channel.send(text)
        except Exception as exc:  # the change is saved; a failed notice must not say otherwise
            log.warning("could not post an announcement (%s)", _why(exc))

    async def modlog(
        self, interaction: discord.Interaction, title: str, meeting: Meeting, **fields: str
    ) -> None:
        """One mod-log entry for a schedule change."""
        embed = modlog_embed(
            title,
            interaction.user,
            self.bot.clock.now(),
            meeting=f"{escape(truncate(meeting.title, 200))} (#{meeting.id})",
            **fields,
        )
        try:
            await self.bot.post_modlog(meeting.guild_id, embed)
        except Exception as exc:  # the change is saved; a failed entry must not say otherwise
            log.warning("could not write a meeting change to the mod log (%s)", _why(exc))

    def _name(self, meeting: Meeting) -> str:
        return f"**{escape(meeting.title)}** ({access_label(meeting)})"

    def _next(self, meeting: Meeting, n: int = 3) -> list[Occurrence]:
        return self.service.next_occurrences(meeting, n)

    async def _answer(
        self, interaction: discord.Interaction, content: str, meeting: Meeting | None = None
    ) -> None:
        embed = meeting_card(meeting, self._next(meeting)) if meeting is not None else None
        await reply_ephemeral(interaction, content, embed=embed)

    # -- commands ----------------------------------------------------------------------------

    @app_commands.command(name="schedule", description="Schedule a meeting (facilitators)")
    @app_commands.describe(
        title="What the meeting is called (up to 100 characters)",
        start="First meeting, local time: YYYY-MM-DD HH:MM, e.g. 2027-01-05 19:00",
        repeat="How it repeats: once, weekly, biweekly, monthly (nth weekday), monthly-last",
        kind="na (NA-style), family (family and friends), other (general peer support)",
        timezone="The meeting's IANA time zone (default: the server's)",
        duration="Minutes, 5 to 600 (default 60)",
        access="open (anyone) or closed (members; family role for family meetings)",
        formats="Comma-separated: speaker, discussion, step study, newcomer, …",
        description="What to expect (up to 1000 characters; \\n starts a new line)",
    )
    @app_commands.rename(formats="format")
    @app_commands.autocomplete(timezone=timezone_autocomplete, formats=format_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def schedule(
        self,
        interaction: discord.Interaction,
        title: str,
        start: str,
        repeat: RepeatChoice,
        kind: KindChoice,
        timezone: str | None = None,
        duration: int = 60,
        access: AccessChoice = "open",
        formats: str | None = None,
        description: str | None = None,
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
            description=_lines(description),
        )
        await self._answer(
            interaction,
            "Scheduled. Set reminders, opening text or co-facilitators with `/meeting edit`.",
            meeting,
        )
        await self.modlog(
            interaction,
            "Meeting scheduled",
            meeting,
            schedule=describe_repeat(meeting),
            who=access_label(meeting),
        )

    @app_commands.command(name="list", description="Every meeting, by its next date")
    @app_commands.describe(
        days="Days ahead to list every date, 1 to 31 (default 7); other meetings show only their next",
        mine="Only meetings your roles let you join",
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
            scope = " that your roles let you join" if mine else ""
            await reply_ephemeral(interaction, f"No meetings{scope} are scheduled in this server.")
            return
        pages = list_pages(items, later, days, mine)
        if len(pages) == 1:
            await reply_ephemeral(interaction, embed=pages[0])
            return
        view = ListView(pages, interaction.user.id)
        view.origin = interaction
        await interaction.response.send_message(embed=pages[0], view=view, ephemeral=True)

    @app_commands.command(name="info", description="A meeting's details and next dates")
    @app_commands.describe(meeting="Start typing the meeting's title")
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    async def info(self, interaction: discord.Interaction, meeting: str) -> None:
        """Show a meeting's card."""
        found = await self._meeting(interaction, meeting)
        await reply_ephemeral(interaction, embed=meeting_card(found, self._next(found)))

    @app_commands.command(name="edit", description="Change a meeting, or move one occurrence")
    @app_commands.describe(
        meeting="Start typing the meeting's title",
        title="New title",
        start="New first meeting, local time: YYYY-MM-DD HH:MM (re-anchors the repeat)",
        timezone="New IANA time zone (the local time stays the same)",
        repeat="New repeat rule",
        duration="Minutes, 5 to 600",
        kind="na, family or other",
        access="open or closed",
        formats="Comma-separated formats, or - for none",
        description="New description, or - to clear",
        opening_text="The opening format posted when the room opens (\\n = new line), or - to clear",
        reminder_offsets="Reminders before each meeting, e.g. 24h,15m; 'default' = the server's",
        room_open_minutes="Minutes before the start the room opens (0-120)",
        room_close_minutes="Minutes after the end the room closes (0-240)",
        clear_chat="Clear the room's chat after each meeting",
        add_facilitator="Someone with the facilitator role to co-facilitate",
        remove_facilitator="A facilitator to remove from this meeting",
        occurrence="Move one occurrence: its date (YYYY-MM-DD)",
        move_to="Move that occurrence to: local YYYY-MM-DD HH:MM",
    )
    @app_commands.rename(formats="format")
    @app_commands.autocomplete(
        meeting=meeting_autocomplete,
        timezone=timezone_autocomplete,
        formats=format_autocomplete,
        occurrence=occurrence_autocomplete,
    )
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def edit(
        self,
        interaction: discord.Interaction,
        meeting: str,
        title: str | None = None,
        start: str | None = None,
        timezone: str | None = None,
        repeat: RepeatChoice | None = None,
        duration: int | None = None,
        kind: KindChoice | None = None,
        access: AccessChoice | None = None,
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
    ) -> None:
        """Change any field, add or remove facilitators, or move one occurrence."""
        assert interaction.guild_id is not None
        found = await self._meeting(interaction, meeting)
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
            description=_lines(description),
            opening_text=_lines(opening_text),
            reminder_offsets=reminder_offsets,
            room_open_minutes=room_open_minutes,
            room_close_minutes=room_close_minutes,
            clear_chat=clear_chat,
            add_facilitator=add_facilitator.id if add_facilitator else None,
            add_facilitator_eligible=await self._can_facilitate(add_facilitator),
            remove_facilitator=remove_facilitator.id if remove_facilitator else None,
        )
        if occurrence is not None or move_to is not None:
            if occurrence is None or move_to is None:
                raise UserFacingError(
                    "To move one occurrence, give both `occurrence` (its date) and `move_to` "
                    "(the new local `YYYY-MM-DD HH:MM`)."
                )
            if not change.is_empty():
                raise UserFacingError(
                    "Move an occurrence on its own: give only `meeting`, `occurrence` and "
                    "`move_to`, then change other fields in a second edit."
                )
            await self._move(interaction, found, actor, occurrence, move_to)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.service.edit(interaction.guild_id, found.id, actor, change)
        updated = result.meeting
        labels = ", ".join(FIELD_LABELS.get(f, f) for f in result.changed)
        await self._answer(interaction, f"Saved: {labels}.", updated)
        if result.timing_changed:
            upcoming = self._next(updated, 1)
            nxt = f" Next: {ts_pair(upcoming[0].start)}." if upcoming else ""
            await self.announce(
                updated.guild_id,
                f"🕒 {self._name(updated)} has a new schedule: {describe_repeat(updated)}.{nxt}",
            )
        await self.modlog(interaction, "Meeting edited", updated, changed=labels)

    async def _can_facilitate(self, member: discord.Member | None) -> bool:
        if not isinstance(member, discord.Member) or member.bot:
            return False
        settings = await self.bot.services.guilds.get(member.guild.id)
        level = level_for(
            {r.id for r in member.roles},
            manage_guild=member.guild_permissions.manage_guild,
            moderator_role_id=settings.moderator_role_id,
            facilitator_role_id=settings.facilitator_role_id,
        )
        return level >= Level.FACILITATOR

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
        was = ts(old.start, "F") if old is not None else moved.key.isoformat()
        await self._answer(
            interaction, f"Moved the meeting of {was} to {ts_pair(moved.start)}.", updated
        )
        await self.announce(
            updated.guild_id,
            f"📅 {self._name(updated)}: the meeting of {was} moves to {ts_pair(moved.start)} "
            f"({moved.local_start:%Y-%m-%d %H:%M} {updated.timezone}).",
        )
        await self.modlog(
            interaction,
            "Meeting occurrence moved",
            updated,
            occurrence=moved.key.isoformat(),
            moved_to=f"{moved.local_start:%Y-%m-%d %H:%M} {updated.timezone}",
        )

    @app_commands.command(name="cancel", description="Cancel (or restore) one occurrence")
    @app_commands.describe(
        meeting="Start typing the meeting's title",
        date="The occurrence's date, YYYY-MM-DD",
        restore="Bring back a cancelled or moved occurrence instead",
    )
    @app_commands.autocomplete(meeting=meeting_autocomplete, date=occurrence_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def cancel(
        self, interaction: discord.Interaction, meeting: str, date: str, restore: bool = False
    ) -> None:
        """Cancel one occurrence; the rest of the series stays."""
        assert interaction.guild_id is not None
        found = await self._meeting(interaction, meeting)
        actor = await self._actor(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        before = self.service.next_occurrences(found, 60)
        updated, key = await self.service.cancel(
            interaction.guild_id, found.id, actor, date, restore=restore
        )
        if restore:
            await self._answer(interaction, f"Restored the meeting of {key.isoformat()}.", updated)
            await self.modlog(
                interaction, "Meeting occurrence restored", updated, occurrence=key.isoformat()
            )
            return
        gone = next((o for o in before if o.key == key), None)
        when = ts(gone.start, "F") if gone is not None else key.isoformat()
        # The channel notice (guild setting cancel_notices) is the reminders feature's: it is
        # posted when the first reminder would have come, not weeks early.
        await self._answer(interaction, f"Cancelled the meeting of {when}.", updated)
        await self.modlog(
            interaction, "Meeting occurrence cancelled", updated, occurrence=key.isoformat()
        )

    @app_commands.command(name="pause", description="Pause a meeting until a date")
    @app_commands.describe(
        meeting="Start typing the meeting's title",
        until="The date it meets again from, YYYY-MM-DD",
    )
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def pause(self, interaction: discord.Interaction, meeting: str, until: str) -> None:
        """Temporary closure: skip every occurrence before a date."""
        assert interaction.guild_id is not None
        found = await self._meeting(interaction, meeting)
        actor = await self._actor(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        updated = await self.service.pause(interaction.guild_id, found.id, actor, until)
        assert updated.paused_until is not None
        upcoming = self._next(updated, 1)
        back = f" It meets again {ts_pair(upcoming[0].start)}." if upcoming else ""
        await self._answer(
            interaction, f"Paused until {updated.paused_until.isoformat()}.{back}", updated
        )
        await self.announce(
            updated.guild_id,
            f"⏸️ {self._name(updated)} is paused until {updated.paused_until.isoformat()}.{back}",
        )
        await self.modlog(
            interaction, "Meeting paused", updated, until=updated.paused_until.isoformat()
        )

    @app_commands.command(name="resume", description="End a meeting's pause now")
    @app_commands.describe(meeting="Start typing the meeting's title")
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def resume(self, interaction: discord.Interaction, meeting: str) -> None:
        """Resume a paused meeting."""
        assert interaction.guild_id is not None
        found = await self._meeting(interaction, meeting)
        actor = await self._actor(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        updated = await self.service.resume(interaction.guild_id, found.id, actor)
        upcoming = self._next(updated, 1)
        nxt = f" Next: {ts_pair(upcoming[0].start)}." if upcoming else ""
        await self._answer(interaction, f"Resumed.{nxt}", updated)
        await self.announce(updated.guild_id, f"▶️ {self._name(updated)} meets again.{nxt}")
        await self.modlog(interaction, "Meeting resumed", updated)

    @app_commands.command(name="delete", description="Delete a meeting (asks to confirm)")
    @app_commands.describe(meeting="Start typing the meeting's title")
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def delete(self, interaction: discord.Interaction, meeting: str) -> None:
        """Ask to confirm, and what to do with the room."""
        found = await self._meeting(interaction, meeting)
        self.service.check_delete(found, await self._actor(interaction))
        view = DeleteView(self, found, interaction.user.id)
        view.origin = interaction
        await interaction.response.send_message(
            f"Delete {self._name(found)} and every future date? This cannot be undone.",
            embed=meeting_card(found, self._next(found)),
            view=view,
            ephemeral=True,
        )

    async def delete_meeting(
        self, interaction: discord.Interaction, meeting_id: int, delete_room: bool
    ) -> Meeting:
        """Delete after the confirm button (the service re-checks permission)."""
        assert interaction.guild_id is not None
        actor = await self._actor(interaction)
        # The rooms feature deletes or releases the room on MEETING_CHANGED "deleted"
        # (detail room:delete / room:keep); its link row outlives the meeting for that.
        return await self.service.delete(
            interaction.guild_id, meeting_id, actor, delete_room=delete_room
        )

    async def after_delete(
        self, interaction: discord.Interaction, meeting: Meeting, room_deleted: bool
    ) -> None:
        """Drop its native event; announce; log."""
        await self.mirror.remove(meeting)
        await self.announce(
            meeting.guild_id, f"🗑️ {self._name(meeting)} has been removed from the schedule."
        )
        await self.modlog(
            interaction,
            "Meeting deleted",
            meeting,
            room="deleted" if room_deleted else "kept",
        )


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(MeetingsCog(bot))
