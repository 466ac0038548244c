"""Onboarding glue: the role panel, moderator approval of role requests, and the welcome."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import discord
from discord.ext import commands

from bot.errors import UserFacingError
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import guarded, reply_ephemeral
from bot.services.guilds import GuildSettings
from bot.services.onboarding import (
    BotStanding,
    PressAction,
    RoleKind,
    RoleRequest,
    RoleSlot,
    Welcome,
    press_action,
    role_setup_problems,
    welcome_for,
)
from cogs._kit import (
    COLOR,
    COLOR_ALERT,
    COLOR_WARN,
    bot_of,
    ensure_level,
    escape,
    fit_embed,
    modlog_embed,
    safe_title,
    truncate,
    ts,
    ts_pair,
)

log = logging.getLogger(__name__)

# A setup problem seen at a button press is reported to the mod log at most this often.
PROBLEM_REPORT_INTERVAL = timedelta(hours=1)

NOT_AFFILIATED = (
    "Haven is a community tool, not affiliated with Narcotics Anonymous World Services."
)

PANEL_TITLE = "Which meetings are for you?"
PANEL_TEXT = (
    "This server holds two kinds of meetings.\n\n"
    "**Open meetings** welcome anyone: people in recovery, people who are not sure yet, family, "
    "friends, or someone who is simply curious. You don't need to press anything to join one.\n\n"
    "**Closed meetings** are kept for the people they are meant for, so everyone in the room "
    "can speak freely:\n"
    "• **closed NA-style meetings** are for people who want help with their own drug use;\n"
    "• **closed family meetings** are for people who love someone who uses drugs.\n\n"
    "Press the button that fits you (or both). Press it again whenever you like to take the role "
    "back off: nobody has to approve that. Only you see my answer."
)
PANEL_PRIVACY = (
    "Your choice gives you a server role, and like any Discord role it shows on your profile to "
    "members of this server. Haven never records which meetings you attend."
)

BUTTON_LABELS = {
    RoleKind.MEMBER: "I'm here for my own recovery",
    RoleKind.FAMILY: "I'm here for someone I love",
}

WELCOME_TEXT = (
    "This is a peer-support community for people in recovery from drug addiction and for the "
    "families and friends who love them. Everyone here is a peer, and nobody has to share "
    "anything to belong."
)
CRISIS_TEXT = (
    "Type `/crisis` any time for crisis and overdose lines near you. It always answers, and only "
    "you see the answer."
)


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    """The link that opens a message in Discord."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def panel_embed() -> discord.Embed:
    """The role panel's text, in Haven's own words."""
    embed = discord.Embed(title=PANEL_TITLE, description=PANEL_TEXT, colour=COLOR)
    embed.add_field(name="Good to know", value=PANEL_PRIVACY, inline=False)
    embed.set_footer(text=NOT_AFFILIATED)
    return fit_embed(embed)


def panel_view() -> discord.ui.View:
    """The panel's two persistent buttons."""
    view = discord.ui.View(timeout=None)
    for kind in RoleKind:
        view.add_item(RoleButton(kind))
    return view


def welcome_embed(guild: discord.Guild, welcome: Welcome) -> discord.Embed:
    """The newcomer welcome: purpose, next open meetings, the panel and /crisis; no names."""
    embed = discord.Embed(
        title=safe_title(f"Welcome to {guild.name}"), description=WELCOME_TEXT, colour=COLOR
    )
    if welcome.meetings:
        lines = [
            f"• **{truncate(escape(m.title), 100)}**: {ts_pair(m.start)} · {m.home_time}"
            for m in welcome.meetings
        ]
        meetings = "\n".join(lines) + "\n`/meeting list` shows them all."
    else:
        meetings = "None is scheduled right now; `/meeting list` will show them when there are."
    embed.add_field(name="Next open meetings (anyone may join)", value=meetings, inline=False)
    if welcome.panel_channel_id is not None and welcome.panel_message_id is not None:
        link = jump_url(guild.id, welcome.panel_channel_id, welcome.panel_message_id)
        closed = (
            "Closed meetings are kept for the people they are meant for. Say which are for "
            f"you on the [role panel]({link})."
        )
    else:
        closed = (
            "Closed meetings are kept for the people they are meant for; the moderators can "
            "tell you which are for you."
        )
    embed.add_field(name="Closed meetings", value=closed, inline=False)
    embed.add_field(name="Need help right now?", value=CRISIS_TEXT, inline=False)
    embed.set_footer(text=NOT_AFFILIATED)
    return fit_embed(embed)


def request_embed(
    request: RoleRequest, role_id: int | None, *, outcome: str | None = None
) -> discord.Embed:
    """The mod-log card of a role request (with its outcome once decided)."""
    colour = COLOR_WARN if outcome is None else (COLOR if "approved" in outcome else COLOR_ALERT)
    embed = discord.Embed(
        title="Role request" if outcome is None else f"Role request: {outcome}", colour=colour
    )
    embed.add_field(name="Member", value=f"<@{request.user_id}> (`{request.user_id}`)")
    role = f"<@&{role_id}>" if role_id is not None else f"the {request.kind.label}"
    embed.add_field(name="Role", value=f"{role} ({request.kind.meetings})")
    embed.add_field(name="Asked", value=ts(request.requested_at, "R"))
    embed.timestamp = request.requested_at
    return fit_embed(embed)


def standing_of(guild: discord.Guild) -> BotStanding:
    """The bot's Manage Roles permission and highest role, as plain data."""
    me = guild.me
    top = me.top_role
    return BotStanding(
        manage_roles=me.guild_permissions.manage_roles,
        top_role_id=top.id,
        top_position=top.position,
        top_is_default=top.is_default(),
    )


def slot_of(guild: discord.Guild, settings: GuildSettings, kind: RoleKind) -> RoleSlot:
    """One configured role as plain data (position None when it was deleted)."""
    role_id = kind.role_id(settings)
    role = guild.get_role(role_id) if role_id is not None else None
    return RoleSlot(
        kind=kind,
        role_id=role_id,
        position=role.position if role is not None else None,
        managed=role.managed if role is not None else False,
    )


def bullet_list(items: list[str]) -> str:
    """Lines as a bulleted list."""
    return "\n".join(f"• {item}" for item in items)


class RoleButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"haven:onboard:role:(?P<kind>member|family)",
):
    """A panel button that toggles one self-service role; works after a restart."""

    def __init__(self, kind: RoleKind) -> None:
        super().__init__(
            discord.ui.Button(
                label=BUTTON_LABELS[kind],
                style=(
                    discord.ButtonStyle.primary
                    if kind is RoleKind.MEMBER
                    else discord.ButtonStyle.success
                ),
                custom_id=f"haven:onboard:role:{kind.value}",
            )
        )
        self.kind = kind

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /
    ) -> RoleButton:
        """Rebuild the button from its custom id."""
        return cls(RoleKind(match["kind"]))

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        """Toggle the role (or file / withdraw a request) for whoever pressed."""
        await _cog(interaction).press(interaction, self.kind)


class DecisionButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"haven:onboard:req:(?P<action>approve|decline):(?P<id>[0-9]{1,18})",
):
    """Approve or Decline on a role request card in the mod log; works after a restart."""

    def __init__(self, approve: bool, request_id: int) -> None:
        action = "approve" if approve else "decline"
        super().__init__(
            discord.ui.Button(
                label="Approve" if approve else "Decline",
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.secondary,
                custom_id=f"haven:onboard:req:{action}:{request_id}",
            )
        )
        self.approve = approve
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /
    ) -> DecisionButton:
        """Rebuild the button from its custom id."""
        return cls(match["action"] == "approve", int(match["id"]))

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        """Decide the request (moderators only)."""
        await _cog(interaction).decide(interaction, self.request_id, approve=self.approve)


def decision_view(request_id: int) -> discord.ui.View:
    """Approve / Decline for one request."""
    view = discord.ui.View(timeout=None)
    view.add_item(DecisionButton(True, request_id))
    view.add_item(DecisionButton(False, request_id))
    return view


def _cog(interaction: discord.Interaction) -> OnboardingCog:
    cog = bot_of(interaction).get_cog(OnboardingCog.__cog_name__)
    if not isinstance(cog, OnboardingCog):
        raise UserFacingError("Onboarding is switched off on this bot right now.")
    return cog


class OnboardingCog(commands.Cog, name="onboarding"):
    """The role panel, role requests and the newcomer welcome."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        self._problem_reported: dict[int, datetime] = {}

    async def cog_load(self) -> None:
        """Make the panel and request buttons answer, including on messages sent before a restart."""
        self.bot.add_dynamic_items(RoleButton, DecisionButton)

    async def cog_unload(self) -> None:
        """Stop answering the buttons."""
        self.bot.remove_dynamic_items(RoleButton, DecisionButton)

    # -- /setup panel ------------------------------------------------------------------------

    async def post_panel(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        """Post (or move) the role panel after checking the bot can hand out both roles."""
        guild = interaction.guild
        if guild is None:
            raise UserFacingError("This command works only inside a server.")
        settings = await self.bot.services.guilds.get(guild.id)
        problems = role_setup_problems(
            [slot_of(guild, settings, kind) for kind in RoleKind], standing_of(guild)
        )
        perms = channel.permissions_for(guild.me)
        missing = [
            name
            for name, ok in (
                ("View Channel", perms.view_channel),
                ("Send Messages", perms.send_messages),
                ("Embed Links", perms.embed_links),
            )
            if not ok
        ]
        if missing:
            problems.append(
                f"In {channel.mention} I need {', '.join(f'**{m}**' for m in missing)}: edit that "
                "channel's permissions for my role."
            )
        if problems:
            raise UserFacingError(
                "I can't post a working role panel yet. Fix this, then run `/setup panel` again:\n"
                + bullet_list(problems)
            )
        message = await channel.send(embed=panel_embed(), view=panel_view())
        replaced = await self._delete_old_panel(guild, settings, message.id)
        await self.bot.services.guilds.update(
            guild.id, panel_channel_id=channel.id, panel_message_id=message.id
        )
        note = " The old panel was removed." if replaced else ""
        await reply_ephemeral(
            interaction, f"Posted the role panel in {channel.mention}: {message.jump_url}{note}"
        )
        await self.bot.post_modlog(
            guild.id,
            modlog_embed(
                "Role panel posted",
                interaction.user,
                self.bot.clock.now(),
                channel=channel.mention,
                panel=message.jump_url,
            ),
        )

    async def _delete_old_panel(
        self, guild: discord.Guild, settings: GuildSettings, new_id: int
    ) -> bool:
        """Remove the previous panel message, if there was one; True when it was removed."""
        old_id = settings.panel_message_id
        if settings.panel_channel_id is None or old_id is None or old_id == new_id:
            return False
        old = guild.get_channel(settings.panel_channel_id)
        if not isinstance(old, discord.TextChannel):
            return False
        try:
            await old.get_partial_message(old_id).delete()
        except discord.HTTPException:
            return False
        return True

    # -- the panel buttons ---------------------------------------------------------------------

    async def press(self, interaction: discord.Interaction, kind: RoleKind) -> None:
        """A peer pressed a panel button: add, drop, request or withdraw the role."""
        guild = interaction.guild
        member = interaction.user
        if guild is None or not isinstance(member, discord.Member):
            raise UserFacingError("The role panel works only inside its server.")
        services = self.bot.services
        settings = await services.guilds.get(guild.id)
        role_id = kind.role_id(settings)
        has_role = role_id is not None and any(r.id == role_id for r in member.roles)
        pending = await services.onboarding.pending(guild.id, member.id, kind)
        action = press_action(
            has_role=has_role, approval=settings.role_approval, pending=pending is not None
        )
        if action is PressAction.WITHDRAW:
            await self._withdraw(interaction, kind, role_id)
            return
        problems = role_setup_problems([slot_of(guild, settings, kind)], standing_of(guild))
        if problems:
            await self._report_problems(guild.id, problems)
            raise UserFacingError(
                "I can't change this role right now because of a setup problem only a moderator "
                "can fix (I've told them in the mod log):\n" + bullet_list(problems)
            )
        assert role_id is not None  # no problems means the role is set and exists
        role = discord.Object(id=role_id)
        if action is PressAction.REMOVE:
            await self._change_role(member, role, add=False, reason="Dropped from the role panel")
            if pending is not None:
                await self._close_pending(
                    guild.id, member.id, kind, role_id, "closed: role dropped"
                )
            await reply_ephemeral(
                interaction,
                f"Done: I took <@&{role_id}> off. Open meetings stay open to you, and you can "
                "press the button again whenever you want it back.",
            )
        elif action is PressAction.ADD:
            await self._change_role(member, role, add=True, reason="Chosen on the role panel")
            if pending is not None:
                await self._close_pending(
                    guild.id, member.id, kind, role_id, "closed: approval off"
                )
            await reply_ephemeral(
                interaction,
                f"Done: you now have <@&{role_id}>, which opens the {kind.meetings}. Press the "
                "same button again any time to drop it.",
            )
        else:
            await self._request(interaction, member, kind, role_id, settings)

    async def _change_role(
        self, member: discord.Member, role: discord.abc.Snowflake, *, add: bool, reason: str
    ) -> None:
        """Add or remove one role, turning Discord's refusals into a clear message."""
        try:
            if add:
                await member.add_roles(role, reason=reason)
            else:
                await member.remove_roles(role, reason=reason)
        except discord.Forbidden:
            raise UserFacingError(
                "Discord refused the role change, so nothing changed. A moderator should check "
                f"that my role sits above <@&{role.id}> in Server Settings → Roles and has "
                "**Manage Roles**."
            ) from None
        except discord.HTTPException as exc:
            log.warning("role change failed: HTTP %s", exc.status)
            raise UserFacingError(
                "Discord didn't accept the change just now, so nothing changed. Please try again "
                "in a minute."
            ) from None

    async def _request(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        kind: RoleKind,
        role_id: int,
        settings: GuildSettings,
    ) -> None:
        """File a request and put its Approve / Decline card in the mod-log channel."""
        onboarding = self.bot.services.onboarding
        channel = (
            self.bot.get_channel(settings.modlog_channel_id)
            if settings.modlog_channel_id is not None
            else None
        )
        if not isinstance(channel, discord.abc.Messageable):
            raise UserFacingError(
                "This server asks a moderator to confirm these roles, but I have no mod-log "
                "channel to ask them in. Please tell a moderator to run "
                "`/setup channels modlog:`."
            )
        request, new = await onboarding.request(member.guild.id, member.id, kind)
        if new:
            try:
                card = await channel.send(
                    embed=request_embed(request, role_id), view=decision_view(request.id)
                )
            except discord.HTTPException as exc:
                log.warning("could not post a role request card: HTTP %s", exc.status)
                await onboarding.take(request.id, request.guild_id)
                raise UserFacingError(
                    "I couldn't reach the moderators just now, so nothing was sent. Please try "
                    "again in a minute."
                ) from None
            await onboarding.attach_message(request.id, card.channel.id, card.id)
        await reply_ephemeral(
            interaction,
            f"Thanks. In this server a moderator confirms these roles, so your request for "
            f"<@&{role_id}> ({kind.meetings}) is waiting for them. I'll send you a DM when it's "
            "decided, if your DMs are open. Press the button again to withdraw the request.",
        )

    async def _withdraw(
        self, interaction: discord.Interaction, kind: RoleKind, role_id: int | None
    ) -> None:
        """The peer took back a pending request; its card in the mod log says so."""
        assert interaction.guild is not None
        role = f"<@&{role_id}>" if role_id is not None else f"the {kind.label}"
        await reply_ephemeral(
            interaction, f"I withdrew your request for {role}. Nothing else changed."
        )
        await self._close_pending(
            interaction.guild.id, interaction.user.id, kind, role_id, "withdrawn by the member"
        )

    async def _close_pending(
        self, guild_id: int, user_id: int, kind: RoleKind, role_id: int | None, outcome: str
    ) -> None:
        """Close the peer's pending request and show why on its card (buttons removed)."""
        request = await self.bot.services.onboarding.withdraw(guild_id, user_id, kind)
        if request is None or request.channel_id is None or request.message_id is None:
            return
        channel = self.bot.get_channel(request.channel_id)
        if not isinstance(channel, discord.TextChannel):
            return
        try:
            await channel.get_partial_message(request.message_id).edit(
                embed=request_embed(request, role_id, outcome=outcome), view=None
            )
        except discord.HTTPException as exc:
            log.info("could not update a role request card: HTTP %s", exc.status)

    async def _report_problems(self, guild_id: int, problems: list[str]) -> None:
        """Tell the moderators what to fix, at most once an hour per guild."""
        now = self.bot.clock.now()
        last = self._problem_reported.get(guild_id)
        if last is not None and now - last < PROBLEM_REPORT_INTERVAL:
            return
        self._problem_reported[guild_id] = now
        await self.bot.post_modlog(
            guild_id,
            modlog_embed(
                "The role panel can't hand out roles", None, now, to_fix=bullet_list(problems)
            ),
        )

    # -- Approve / Decline -----------------------------------------------------------------------

    async def decide(
        self, interaction: discord.Interaction, request_id: int, *, approve: bool
    ) -> None:
        """A moderator approved or declined a role request."""
        guild = interaction.guild
        if guild is None:
            raise UserFacingError("Role requests are decided inside their server.")
        await ensure_level(
            interaction, Level.MODERATOR, "Only moderators can approve or decline role requests."
        )
        services = self.bot.services
        request = await services.onboarding.get_request(request_id)
        if request is None or request.guild_id != guild.id:
            raise UserFacingError(
                "This request is no longer waiting: it was already decided, or the member "
                "withdrew it or left the server."
            )
        settings = await services.guilds.get(guild.id)
        role_id = request.kind.role_id(settings)
        member = await self._member(guild, request.user_id)
        if approve:
            if member is None:
                await services.onboarding.take(request.id, guild.id)
                await self._finish(interaction, request, role_id, "closed: they left the server")
                return
            problems = role_setup_problems(
                [slot_of(guild, settings, request.kind)], standing_of(guild)
            )
            if problems:
                raise UserFacingError(
                    "I can't give this role yet, so the request is still waiting. Fix this, then "
                    "press Approve again:\n" + bullet_list(problems)
                )
            assert role_id is not None
            taken = await services.onboarding.take(request.id, guild.id)
            if taken is None:
                raise UserFacingError("Another moderator decided this request a moment ago.")
            try:
                await self._change_role(
                    member, discord.Object(id=role_id), add=True, reason="Role request approved"
                )
            except UserFacingError:
                await services.onboarding.restore(taken)
                raise
            outcome = "approved"
        else:
            taken = await services.onboarding.take(request.id, guild.id)
            if taken is None:
                raise UserFacingError("Another moderator decided this request a moment ago.")
            outcome = "declined"
        await self._finish(
            interaction, request, role_id, f"{outcome} by {interaction.user.mention}"
        )
        await self.bot.post_modlog(
            guild.id,
            modlog_embed(
                f"Role request {outcome}",
                interaction.user,
                self.bot.clock.now(),
                member=f"<@{request.user_id}> (`{request.user_id}`)",
                role=f"<@&{role_id}>" if role_id is not None else request.kind.label,
            ),
        )
        if member is not None:
            await self._tell_member(member, request.kind, approved=approve)

    async def _finish(
        self,
        interaction: discord.Interaction,
        request: RoleRequest,
        role_id: int | None,
        outcome: str,
    ) -> None:
        """Answer the moderator by updating the card in place (buttons removed)."""
        await interaction.response.edit_message(
            embed=request_embed(request, role_id, outcome=outcome), view=None
        )

    async def _member(self, guild: discord.Guild, user_id: int) -> discord.Member | None:
        """A member from the cache or Discord; None if they are no longer in the server."""
        member = guild.get_member(user_id)
        if member is not None:
            return member
        try:
            return await guild.fetch_member(user_id)
        except discord.NotFound:
            return None

    async def _tell_member(self, member: discord.Member, kind: RoleKind, *, approved: bool) -> None:
        """Let the peer know by DM (best effort: closed DMs are fine)."""
        where = escape(member.guild.name)
        if approved:
            text = (
                f"A moderator of **{where}** approved your request: you can now join the "
                f"{kind.meetings}. You can drop the role any time from the same panel."
            )
        else:
            text = (
                f"A moderator of **{where}** did not approve your request for the {kind.label} "
                "this time. Open meetings are still open to you, and you can ask the moderators "
                "about it."
            )
        try:
            await member.send(text)
        except discord.HTTPException as exc:
            log.info("could not DM a role request outcome: HTTP %s", exc.status)

    # -- the welcome -------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        """Welcome a newcomer in the way the guild chose (off, channel or DM)."""
        if member.bot:
            return
        services = self.bot.services
        settings = await services.guilds.get(member.guild.id)
        if settings.welcome_mode == "off":
            return
        meetings = await services.meetings.list_guild(member.guild.id)
        welcome = welcome_for(settings, meetings, services.clock.now())
        if welcome is None:
            return
        embed = welcome_embed(member.guild, welcome)
        try:
            if welcome.mode == "dm":
                await member.send(embed=embed)
                return
            channel = (
                member.guild.get_channel(welcome.channel_id)
                if welcome.channel_id is not None
                else None
            )
            if not isinstance(channel, discord.abc.Messageable):
                log.warning("welcome channel of a guild is missing")
                return
            content = f"Welcome, {member.mention}!" if welcome.mention else None
            await channel.send(content=content, embed=embed)
        except discord.HTTPException as exc:
            log.info("welcome not delivered (%s): HTTP %s", welcome.mode, exc.status)


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(OnboardingCog(bot))
