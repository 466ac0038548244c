"""Anonymous check-in, counts, proof slips and anonymous shares. Thin glue over AttendanceService."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.models.attendance import pseudonym
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from bot.services.attendance import ROOM_NOT_OPEN, ProofSlip, SharePost, slip_name
from bot.services.rooms import RoomLink
from cogs._kit import (
    COLOR,
    DAY,
    ID,
    MeetingArg,
    PersistentButton,
    bot_of,
    ensure_level,
    ensure_meeting_manager,
    escape,
    fit_embed,
    modlog_embed,
    room_admits,
    safe_title,
    services_of,
    truncate,
)
from cogs._kit.i18n import _T, N_, _

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Haven anonymous shares"  # i18n: keep (found again by name after restarts)

CHECKED_IN = N_(
    "✅ You're checked in. Haven counts check-ins without recording who: nobody, not the "
    "facilitators, the moderators or Haven itself, can tell it was you.\n"
    "Need a signed attendance slip? Use `/attendance proof` before the room closes or up to an "
    "hour after."
)
ALREADY = N_("You're already checked in for this meeting: you're counted once.")
VERIFY_LIMITS = N_(
    "What it does not prove: that the name is that person's real name (Haven never sees an ID), "
    "who stood behind the check-in, or how long they stayed. Each check-in gets one slip."
)


def _channel_ids(interaction: discord.Interaction) -> list[int]:
    """The channel an interaction came from, and its parent when it is a thread."""
    channel = interaction.channel
    if interaction.guild_id is None or channel is None:
        raise app_commands.NoPrivateMessage()
    ids = [channel.id]
    parent = getattr(channel, "parent_id", None)
    if parent:
        ids.append(parent)
    return ids


async def _ensure_in_room(
    interaction: discord.Interaction, meeting_id: int, link: RoomLink | None
) -> None:
    """Only from the meeting's own room channels, and only from people its room admits.

    The button's id names the meeting, so without this a click sent from any channel, or by
    someone the room keeps out, would be counted and could ask for a slip.
    """
    services = services_of(interaction)
    room = {link.text_channel_id, link.voice_channel_id} if link is not None else set()
    if not room.intersection(_channel_ids(interaction)):
        raise UserFacingError(
            _(
                "Check in from the meeting's own room: the button on its opening card, or "
                "`/checkin` in the room's text channel."
            )
        )
    meeting = await services.meetings.get(meeting_id, guild_id=interaction.guild_id)
    admits = await room_admits(interaction)
    if meeting is None or not admits(meeting):
        raise UserFacingError(
            _(
                "This meeting's room is not open to your roles, so you can't check in or share "
                "there. `/meeting list mine:True` shows the meetings you can join."
            )
        )
    if await services.rooms.is_removed(meeting_id, interaction.user.id):
        raise UserFacingError(
            _(
                "A moderator removed you from this meeting's room until it closes, so you can't "
                "check in or share there this time."
            )
        )


async def _room_meeting(interaction: discord.Interaction) -> tuple[int, str]:
    """The meeting whose open room this channel belongs to, and its occurrence key."""
    ids = _channel_ids(interaction)
    assert interaction.guild_id is not None
    services = services_of(interaction)
    link = await services.rooms.link_for_channels(interaction.guild_id, ids)
    if link is None:
        raise UserFacingError(
            _("Use this in a meeting room's text channel while the room is open.")
        )
    await _ensure_in_room(interaction, link.meeting_id, link)
    occurrence = services.attendance.open_occurrence(link.meeting_id)
    if occurrence is None:
        raise UserFacingError(ROOM_NOT_OPEN)
    return link.meeting_id, occurrence


async def _check_in(interaction: discord.Interaction, meeting_id: int, occurrence: str) -> None:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    new = await services_of(interaction).attendance.check_in(
        meeting_id, occurrence, interaction.guild_id, interaction.user.id
    )
    await reply_ephemeral(interaction, _(CHECKED_IN) if new else _(ALREADY))


class CheckInButton(
    PersistentButton,
    prefix="haven:checkin",
    fields={"meeting_id": ID, "occurrence": DAY},
    label=N_("Check in"),
    emoji="✅",
    style=discord.ButtonStyle.success,
):
    """The Check in button on a room's opening card; works after restarts."""

    meeting_id: int
    occurrence: str

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Count the presser once; the answer is private."""
        link = await services_of(interaction).rooms.link(self.meeting_id)
        await _ensure_in_room(interaction, self.meeting_id, link)
        await _check_in(interaction, self.meeting_id, self.occurrence)


class SilenceButton(
    PersistentButton,
    prefix="haven:silence",
    fields={"meeting_id": ID, "occurrence": DAY, "number": ID},
    label=N_("Silence this peer"),
):
    """'Silence this peer' under an anonymous share: moderators only, reveals nobody."""

    meeting_id: int
    occurrence: str
    number: int

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Silence the pseudonym; the moderator never learns who it is."""
        await ensure_level(
            interaction, Level.MODERATOR, _("Only moderators can silence an anonymous sharer.")
        )
        assert interaction.guild_id is not None
        services = services_of(interaction)
        changed = services.attendance.silence(
            self.meeting_id, self.occurrence, interaction.guild_id, self.number
        )
        meeting = await services.meetings.get(self.meeting_id)
        # The pseudonym as the room shows it: in the meeting's language.
        name = pseudonym(self.number, meeting.language if meeting else "en")
        if not changed:
            await reply_ephemeral(
                interaction, _("{name} is already silenced for this meeting.").format(name=name)
            )
            return
        await reply_ephemeral(
            interaction,
            _(
                "{name} can't share anonymously again until this meeting ends. "
                "Nobody, you included, learns who it is."
            ).format(name=name),
        )
        bot = bot_of(interaction)
        await bot.post_modlog(
            interaction.guild_id,
            modlog_embed(
                _("Anonymous sharer silenced"),
                interaction.user,
                services.clock.now(),
                meeting=safe_title(meeting.title) if meeting else f"#{self.meeting_id}",
                pseudonym=_("{name} (for the occurrence of {date})").format(
                    name=name, date=self.occurrence
                ),
            ),
        )


def slip_embed(slip: ProofSlip) -> discord.Embed:
    """A proof-of-attendance slip as the peer sees it (only them)."""
    embed = discord.Embed(title=_("Proof of attendance"), colour=COLOR)
    embed.add_field(name=_("Meeting"), value=escape(slip.title) or "—", inline=False)
    embed.add_field(name=_("Date"), value=slip.occurrence.isoformat(), inline=True)
    embed.add_field(name=_("Name"), value=escape(slip.name) if slip.name else _("(not given)"))
    embed.add_field(name=_("Verification code"), value=f"```\n{slip.code}\n```", inline=False)
    embed.set_footer(
        text=_(
            "Anyone can check this slip with /attendance verify. Haven stores no record of it; "
            "one slip per check-in, held in memory only until an hour after the room closes."
        )
    )
    return fit_embed(embed)


class AttendanceCog(
    commands.GroupCog, name="attendance", description=_T("Anonymous attendance counts and slips")
):
    """/attendance counts|proof|verify."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        name="counts", description=_T("Check-in counts of a meeting's last 12 occurrences")
    )
    @app_commands.describe(meeting=_T("The meeting (start typing its title)"))
    @app_commands.guild_only()
    async def counts(
        self,
        interaction: discord.Interaction,
        meeting: MeetingArg,
    ) -> None:
        """Show counts as a small bar chart with the trend (facilitators of it, moderators)."""
        await ensure_meeting_manager(interaction, meeting)
        report = await self.bot.services.attendance.counts(meeting.id)
        embed = discord.Embed(
            title=truncate(_("Attendance: {title}").format(title=safe_title(meeting.title)), 256),
            description=f"```\n{report.chart()}\n```",
            colour=COLOR,
        )
        embed.add_field(name=_("Trend"), value=str(report.trend), inline=False)
        embed.set_footer(
            text=_(
                "Closed occurrences only. Counts under 5 show as 'fewer than 5'. Haven never "
                "records who checked in."
            )
        )
        await reply_ephemeral(interaction, embed=fit_embed(embed))

    @app_commands.command(
        name="proof",
        description=_T("A signed slip for a meeting you checked in to (only you see it)"),
    )
    @app_commands.describe(name=_T("The name to print on the slip (optional; never stored)"))
    @app_commands.guild_only()
    async def proof(self, interaction: discord.Interaction, name: str | None = None) -> None:
        """Sign a slip for each occurrence the caller checked in to that is still in memory."""
        assert interaction.guild_id is not None
        services = self.bot.services
        attended = services.attendance.attended(interaction.guild_id, interaction.user.id)
        titles: dict[int, str] = {}
        for occ in attended:
            meeting = await services.meetings.get(occ.meeting_id, guild_id=interaction.guild_id)
            if meeting is not None:
                titles[occ.meeting_id] = meeting.title
        slips = services.attendance.proof(interaction.guild_id, interaction.user.id, titles, name)
        asked = slip_name(name)
        note = _("Keep this slip: Haven forgets it an hour after the room closes.")
        if asked and any(s.name != asked for s in slips):
            note += " " + _(
                "One check-in gives one slip, so this is the slip you already have, as it was "
                "first asked for."
            )
        await interaction.response.send_message(
            note, embeds=[slip_embed(s) for s in slips[:10]], ephemeral=True
        )

    @app_commands.command(
        name="verify", description=_T("Check whether an attendance slip is genuine")
    )
    @app_commands.describe(code=_T("The verification code printed on the slip"))
    async def verify(self, interaction: discord.Interaction, code: str) -> None:
        """Say whether a slip is genuine, and for which meeting and date."""
        slip = self.bot.services.attendance.verify(code)
        if slip is None:
            await reply_ephemeral(
                interaction,
                _("❌ Not genuine: this code was not signed by this Haven, or it was changed."),
            )
            return
        name = (
            _("They gave the name **{name}** for the slip.").format(name=escape(slip.name))
            if slip.name
            else _("They gave no name.")
        )
        genuine = _(
            "✅ Genuine: this Haven signed it. Someone checked in to **{title}** on **{date}** "
            "and asked for this one slip."
        ).format(title=escape(slip.title), date=slip.occurrence.isoformat())
        await reply_ephemeral(interaction, f"{genuine} {name}\n{_(VERIFY_LIMITS)}")


class RoomPresenceCog(commands.Cog, name="room-presence"):
    """The top-level /checkin and /share, used inside an open room."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        self._webhooks: dict[int, discord.Webhook] = {}

    @app_commands.command(
        name="checkin", description=_T("Check in to this room's meeting anonymously")
    )
    @app_commands.guild_only()
    async def checkin(self, interaction: discord.Interaction) -> None:
        """Count the caller once for the open occurrence of this room."""
        meeting_id, occurrence = await _room_meeting(interaction)
        await _check_in(interaction, meeting_id, occurrence)

    @app_commands.command(name="share", description=_T("Share in this room under a pseudonym"))
    @app_commands.describe(
        text=_T("What you want to say; posted as 'Peer N', never with your name")
    )
    @app_commands.guild_only()
    async def share(self, interaction: discord.Interaction, text: str) -> None:
        """Post the text through the room's webhook under this occurrence's pseudonym."""
        assert interaction.guild_id is not None
        meeting_id, occurrence = await _room_meeting(interaction)
        attendance = self.bot.services.attendance
        meeting = await self.bot.services.meetings.get(meeting_id)
        post = attendance.prepare_share(
            meeting_id,
            occurrence,
            interaction.guild_id,
            interaction.user.id,
            text,
            meeting.language if meeting is not None else "en",
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            await self._post(interaction, post)
        except BaseException:
            attendance.share_failed(post, interaction.guild_id, interaction.user.id)
            raise
        await reply_ephemeral(
            interaction,
            _("Shared as **{pseudonym}**. Nobody can see it was you.").format(
                pseudonym=post.pseudonym
            ),
        )

    async def _post(self, interaction: discord.Interaction, post: SharePost) -> None:
        channel = interaction.channel
        thread: discord.Thread | None = None
        if isinstance(channel, discord.Thread):
            thread, channel = channel, channel.parent
        if not isinstance(channel, discord.TextChannel | discord.VoiceChannel):
            raise UserFacingError(_("Anonymous shares work in a room's text channel."))
        webhook = await self._webhook(channel)
        view = discord.ui.View(timeout=None)
        view.add_item(SilenceButton(post.meeting_id, post.occurrence, post.number))
        kwargs: dict[str, Any] = {}
        if thread is not None:
            kwargs["thread"] = thread
        try:
            await webhook.send(
                content=post.text,
                username=post.pseudonym,
                allowed_mentions=discord.AllowedMentions.none(),
                view=view,
                wait=True,
                **kwargs,
            )
        except discord.NotFound:
            self._webhooks.pop(channel.id, None)
            raise UserFacingError(
                _("The room's share hook was removed; please try again.")
            ) from None

    async def _webhook(
        self, channel: discord.TextChannel | discord.VoiceChannel
    ) -> discord.Webhook:
        cached = self._webhooks.get(channel.id)
        if cached is not None:
            return cached
        me = self.bot.user
        try:
            hooks = await channel.webhooks()
            mine = [
                h for h in hooks if h.token and h.user is not None and me and h.user.id == me.id
            ]
            hook = mine[0] if mine else await channel.create_webhook(name=WEBHOOK_NAME)
        except discord.Forbidden:
            raise UserFacingError(
                _(
                    "I need the Manage Webhooks permission in this room to post anonymous "
                    "shares. Ask a moderator to grant it."
                )
            ) from None
        self._webhooks[channel.id] = hook
        return hook


async def setup(bot: HavenBot) -> None:
    """Load the cog and the persistent buttons."""
    bot.add_dynamic_items(CheckInButton, SilenceButton)
    await bot.add_cog(AttendanceCog(bot))
    await bot.add_cog(RoomPresenceCog(bot))
