"""/remind and the reminder messages: render, send with nonces, persistent buttons. Thin glue."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import PermissionDeniedError, UserFacingError
from bot.i18n_format import duration, format_list
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from bot.services.meetings import Access, Kind, Meeting, home_time_words
from bot.services.reminders import (
    SENT,
    Message,
    NoticeMessage,
    Outcome,
    ReminderMessage,
    ReminderService,
    SendResult,
)
from cogs._kit import (
    COLOR,
    COLOR_WARN,
    ID,
    MeetingArg,
    PersistentButton,
    escape,
    fit_embed,
    modlog_embed,
    room_admits,
    safe_title,
    services_of,
    truncate,
    ts,
    ts_pair,
)
from cogs._kit.i18n import _T, N_, _

log = logging.getLogger(__name__)

SEND_TIMEOUT = 20.0  # seconds; a hung request becomes a retry, not a stuck job
KIND_LABELS = {
    Kind.NA: N_("NA-style meeting"),
    Kind.FAMILY: N_("Family and friends meeting"),
    Kind.OTHER: N_("Peer-support meeting"),
}
ACCESS_LABELS = {
    Access.OPEN: N_("Open: anyone is welcome"),
    Access.CLOSED: N_("Closed: members only"),
}
ACCESS_FAMILY_CLOSED = N_("Closed: for family and friends")


class RemindMeButton(
    PersistentButton,
    prefix="haven:remind:me",
    fields={"meeting_id": ID},
    label=N_("Remind me by DM"),
    style=discord.ButtonStyle.primary,
):
    """'Remind me by DM' under a channel reminder; works after restarts."""

    meeting_id: int

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Subscribe the presser (the service re-reads the meeting first)."""
        if interaction.guild_id is None:
            raise UserFacingError(_("This button works only inside a server."))
        services = services_of(interaction)
        # A missing meeting is refused by subscribe (it re-reads it) with its own message.
        current = await services.meetings.get(self.meeting_id, interaction.guild_id)
        if current is not None:
            await ensure_admitted(interaction, current)
        meeting, created = await services.reminders.subscribe(
            interaction.guild_id, interaction.user.id, self.meeting_id, str(interaction.locale)
        )
        await reply_ephemeral(interaction, subscribed_text(meeting, created))


class StopRemindersButton(
    PersistentButton,
    prefix="haven:remind:stop",
    fields={"guild_id": ID, "meeting_id": ID},
    label=N_("Stop these reminders"),
):
    """'Stop these reminders' under every DM; works after restarts."""

    guild_id: int
    meeting_id: int

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Unsubscribe the presser from this meeting's DMs."""
        await services_of(interaction).reminders.unsubscribe(
            self.guild_id, interaction.user.id, self.meeting_id
        )
        await reply_ephemeral(
            interaction,
            _(
                "Done: you won't get DM reminders for this meeting any more. "
                "You can start them again with `/remind me` in the server."
            ),
        )


async def ensure_admitted(interaction: discord.Interaction, meeting: Meeting) -> None:
    """Refuse reminders of a closed meeting to someone its room would not admit."""
    if (await room_admits(interaction))(meeting):
        return
    title = escape(truncate(meeting.title, 100))
    if meeting.kind is Kind.FAMILY:
        text = _(
            "**{title}** is a closed meeting: its room is only for the family and friends role, "
            "so I can't send you its reminders. If you think you should have that role, ask a "
            "moderator."
        )
    else:
        text = _(
            "**{title}** is a closed meeting: its room is only for the member role, so I can't "
            "send you its reminders. If you think you should have that role, ask a moderator."
        )
    raise PermissionDeniedError(text.format(title=title))


def subscribed_text(meeting: Meeting, created: bool) -> str:
    """The answer to a subscription."""
    title = escape(truncate(meeting.title, 100))
    if not created:
        return _("You already get DM reminders for **{title}**.").format(title=title)
    return _(
        "You'll get DM reminders for **{title}** at its reminder times. Each DM has a button to "
        "stop them. If your DMs from server members are closed, I can't reach you and will stop "
        "trying."
    ).format(title=title)


def _access_label(meeting: Meeting) -> str:
    if meeting.access is Access.CLOSED and meeting.kind is Kind.FAMILY:
        return _(ACCESS_FAMILY_CLOSED)
    return _(ACCESS_LABELS[meeting.access])


def _before_text(minutes: int) -> str:
    return _("Reminder {duration} before").format(duration=duration(minutes))


def reminder_embed(message: ReminderMessage) -> discord.Embed:
    """The reminder embed: title, when, kind, access, formats, room; no pings."""
    meeting = message.meeting
    start = message.occurrence.start
    suffix = " " + _("(sent late)") if message.late else ""
    title = _("Reminder: {title}").format(title=safe_title(meeting.title))
    embed = discord.Embed(
        title=title[: 256 - len(suffix)] + suffix,
        description=_("Starts {when}\nHome time: {home_time}").format(
            when=ts_pair(start), home_time=home_time_words(meeting)
        ),
        colour=COLOR_WARN if message.late else COLOR,
    )
    embed.add_field(name=_("Kind"), value=_(KIND_LABELS[meeting.kind]), inline=True)
    embed.add_field(name=_("Access"), value=_access_label(meeting), inline=True)
    embed.add_field(name=_("Duration"), value=duration(meeting.duration_minutes), inline=True)
    if meeting.format_labels:
        embed.add_field(
            name=_("Formats"),
            value=format_list(_(label) for label in meeting.format_labels),
            inline=False,
        )
    if meeting.room_text_channel_id:
        embed.add_field(name=_("Room"), value=f"<#{meeting.room_text_channel_id}>", inline=False)
    if message.occurrence.moved:
        embed.add_field(name=_("Note"), value=_("This week's meeting was moved to this time."))
    footer = _before_text(message.offset_minutes)
    if message.late:
        footer += " · " + _("sent late: Haven was offline at the reminder time")
    embed.set_footer(text=footer)
    return fit_embed(embed)


def notice_embed(message: NoticeMessage) -> discord.Embed:
    """A change notice: cancelled this week, moved, paused or deleted."""
    title = escape(truncate(message.title, 200))
    nxt = (
        _("The next meeting is {when}.").format(when=ts_pair(message.next_start))
        if message.next_start
        else ""
    )
    if message.change == "cancelled":
        heading = _("Cancelled this week")
        if message.occurrence_start:
            body = _("**{title}** is cancelled this week ({when}).").format(
                title=title, when=ts(message.occurrence_start)
            )
        else:
            body = _("**{title}** is cancelled this week.").format(title=title)
        body = f"{body} {nxt}"
    elif message.change == "moved":
        heading = _("Meeting moved")
        if message.next_start:
            body = _("**{title}** has moved: it now meets {when}.").format(
                title=title, when=ts_pair(message.next_start)
            )
        else:
            body = _("**{title}** has moved to a new time.").format(title=title)
    elif message.change == "paused":
        heading = _("Meeting paused")
        body = _("**{title}** is paused for a while.").format(title=title) + f" {nxt}"
    else:
        heading = _("Meeting removed")
        body = _(
            "**{title}** was removed from the schedule, so its DM reminders have ended."
        ).format(title=title)
    embed = discord.Embed(title=heading, description=body.strip(), colour=COLOR_WARN)
    return fit_embed(embed)


def _render(
    message: Message, *, guild_id: int, dm: bool
) -> tuple[discord.Embed, discord.ui.View | None]:
    """The embed and persistent buttons of a message."""
    view = discord.ui.View(timeout=None)
    if isinstance(message, ReminderMessage):
        embed = reminder_embed(message)
        meeting_id = message.meeting.id
    else:
        embed = notice_embed(message)
        meeting_id = message.meeting_id
        if message.change == "deleted":
            return embed, None
    if dm:
        view.add_item(StopRemindersButton(guild_id, meeting_id))
    else:
        view.add_item(RemindMeButton(meeting_id))
    return embed, view


def classify(exc: BaseException) -> SendResult:
    """Map a send failure to an outcome the service understands (no message text kept)."""
    if isinstance(exc, discord.Forbidden):
        if exc.code == 50007:
            return SendResult(Outcome.DM_CLOSED, "HTTP 403 (50007)")
        return SendResult(Outcome.NO_ACCESS, f"HTTP 403 ({exc.code})")
    if isinstance(exc, discord.NotFound):
        return SendResult(Outcome.NO_ACCESS, f"HTTP 404 ({exc.code})")
    if isinstance(exc, discord.DiscordServerError):
        return SendResult(Outcome.RETRY, f"HTTP {exc.status}")
    if isinstance(exc, discord.RateLimited):
        return SendResult(Outcome.RETRY, "rate limited")
    if isinstance(exc, discord.HTTPException) and exc.status == 429:
        # discord.py gave up after its own retries (a long global limit under a burst): the
        # message was not posted, so try again later rather than record it failed.
        return SendResult(Outcome.RETRY, "rate limited (HTTP 429)")
    if isinstance(exc, discord.HTTPException):
        return SendResult(Outcome.FAILED, f"HTTP {exc.status} ({exc.code})")
    if isinstance(exc, TimeoutError):
        return SendResult(Outcome.RETRY, "timeout")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return SendResult(Outcome.RETRY, f"connection: {type(exc).__name__}")
    raise exc


class DiscordReminderSender:
    """Sends reminders and notices through discord.py, every message with its nonce."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    async def to_channel(self, guild_id: int, channel_id: int, message: Message) -> SendResult:
        """Post in the announcement channel."""
        channel = self.bot.get_channel(channel_id)
        if channel is None or not isinstance(channel, discord.abc.Messageable):
            return SendResult(Outcome.NO_ACCESS, "channel missing")
        embed, view = _render(message, guild_id=guild_id, dm=False)
        try:
            if view is None:
                await asyncio.wait_for(
                    channel.send(embed=embed, nonce=message.nonce), timeout=SEND_TIMEOUT
                )
            else:
                await asyncio.wait_for(
                    channel.send(embed=embed, view=view, nonce=message.nonce),
                    timeout=SEND_TIMEOUT,
                )
        except Exception as exc:
            return classify(exc)
        return SENT

    async def to_user(self, guild_id: int, user_id: int, message: Message) -> SendResult:
        """Send a DM (opening the DM channel if needed)."""
        embed, view = _render(message, guild_id=guild_id, dm=True)
        try:
            dm = await asyncio.wait_for(
                self.bot.create_dm(discord.Object(id=user_id)), timeout=SEND_TIMEOUT
            )
            if view is None:
                await asyncio.wait_for(dm.send(embed=embed, nonce=message.nonce), SEND_TIMEOUT)
            else:
                await asyncio.wait_for(
                    dm.send(embed=embed, view=view, nonce=message.nonce), SEND_TIMEOUT
                )
        except Exception as exc:
            return classify(exc)
        return SENT

    async def alert(self, guild_id: int, channel_id: int, reason: str) -> None:
        """Tell the mod log once that reminders cannot be posted."""
        embed = modlog_embed(
            _("Reminders cannot be posted"),
            None,
            self.bot.clock.now(),
            channel=f"<#{channel_id}>",
            reason=reason,
            fix=_(
                "Give Haven View Channel, Send Messages and Embed Links there, or choose another "
                "announcement channel with `/setup channels`. This is reported once until a "
                "reminder gets through."
            ),
        )
        await self.bot.post_modlog(guild_id, embed)


async def subscribed_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The caller's subscribed meetings whose title contains what was typed."""
    if interaction.guild_id is None:
        return []
    subs = await services_of(interaction).reminders.subscriptions(
        interaction.guild_id, interaction.user.id
    )
    needle = current.strip().lower()
    return [
        app_commands.Choice(name=truncate(s.meeting.title, 100) or "?", value=str(s.meeting.id))
        for s in subs
        if needle in s.meeting.title.lower()
    ][:25]


@app_commands.guild_only()
class RemindersCog(commands.GroupCog, name="remind", description=_T("Reminders of meetings by DM")):
    """The /remind commands and the reminder sender."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    @property
    def service(self) -> ReminderService:
        """The reminder service."""
        return self.bot.services.reminders

    async def cog_load(self) -> None:
        """Install the sender and the persistent buttons."""
        self.bot.add_dynamic_items(RemindMeButton, StopRemindersButton)
        self.service.sender = DiscordReminderSender(self.bot)

    async def cog_unload(self) -> None:
        """Remove the sender and the buttons."""
        self.bot.remove_dynamic_items(RemindMeButton, StopRemindersButton)
        self.service.sender = None

    @app_commands.command(name="me", description=_T("Get a DM before a meeting"))
    @app_commands.describe(meeting=_T("The meeting (start typing its title)"))
    async def me(
        self,
        interaction: discord.Interaction,
        meeting: MeetingArg,
    ) -> None:
        """Subscribe to DM reminders of a meeting."""
        assert interaction.guild_id is not None
        await ensure_admitted(interaction, meeting)
        found, created = await self.service.subscribe(
            interaction.guild_id, interaction.user.id, meeting.id, str(interaction.locale)
        )
        await reply_ephemeral(interaction, subscribed_text(found, created))

    @app_commands.command(name="stop", description=_T("Stop DM reminders of a meeting"))
    @app_commands.describe(meeting=_T("The meeting (start typing its title)"))
    @app_commands.autocomplete(meeting=subscribed_autocomplete)  # only the caller's meetings
    async def stop(
        self,
        interaction: discord.Interaction,
        meeting: MeetingArg,
    ) -> None:
        """Unsubscribe from DM reminders of a meeting."""
        assert interaction.guild_id is not None
        removed = await self.service.unsubscribe(
            interaction.guild_id, interaction.user.id, meeting.id
        )
        title = escape(truncate(meeting.title, 100))
        if removed:
            text = _("Done: no more DM reminders for **{title}**.")
        else:
            text = _("You weren't getting DM reminders for **{title}**.")
        await reply_ephemeral(interaction, text.format(title=title))

    @app_commands.command(name="mine", description=_T("The meetings you get DM reminders for"))
    async def mine(self, interaction: discord.Interaction) -> None:
        """List the caller's subscriptions, privately."""
        assert interaction.guild_id is not None
        subs = await self.service.subscriptions(interaction.guild_id, interaction.user.id)
        if not subs:
            await reply_ephemeral(
                interaction,
                _(
                    "You don't get DM reminders for any meeting here. Use `/remind me` or the "
                    "“Remind me by DM” button under a reminder."
                ),
            )
            return
        lines = []
        for sub in subs:
            when = ts_pair(sub.next_start) if sub.next_start else _("no upcoming meeting")
            lines.append(f"• **{escape(truncate(sub.meeting.title, 100))}**: {when}")
        embed = discord.Embed(
            title=_("Your DM reminders"), description="\n".join(lines), colour=COLOR
        )
        embed.set_footer(text=_("Stop one with /remind stop, or the button in any reminder DM."))
        await reply_ephemeral(interaction, embed=fit_embed(embed))


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(RemindersCog(bot))
