"""The panel's role buttons and the Approve / Decline buttons, and what a press does."""

from __future__ import annotations

import logging

import discord

from bot.errors import UserFacingError
from bot.permissions import Level
from bot.runtime.tree import reply_ephemeral
from bot.services.guilds import GuildSettings
from bot.services.onboarding import (
    BotStanding,
    PressAction,
    RoleKind,
    RoleSlot,
    Verdict,
    press_action,
    role_setup_problems,
)
from cogs._kit import Field, PersistentButton, bot_of, ensure_level, modlog_embed
from cogs._kit.i18n import N_, _, use_locale
from cogs.onboarding.render import (
    BUTTON_LABELS,
    bullet_list,
    request_embed,
    verdict_dm,
    verdict_note,
)

log = logging.getLogger(__name__)


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


class RoleButton(
    PersistentButton,
    prefix="haven:onboard:role",
    fields={"kind": Field("member|family", RoleKind, lambda kind: kind.value)},
):
    """A panel button that toggles one self-service role; works after a restart."""

    kind: RoleKind

    def __init__(self, kind: RoleKind) -> None:
        member = kind is RoleKind.MEMBER
        super().__init__(
            kind,
            label=_(BUTTON_LABELS[kind]),
            style=discord.ButtonStyle.primary if member else discord.ButtonStyle.success,
        )

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Toggle the role (or file / withdraw a request) for whoever pressed."""
        await press(interaction, self.kind)


_DECISION = Field(
    "approve|decline", lambda text: text == "approve", lambda ok: "approve" if ok else "decline"
)


class DecisionButton(
    PersistentButton,
    prefix="haven:onboard:req",
    fields={"approve": _DECISION, "request_id": Field("[0-9]{1,18}", int)},
):
    """Approve or Decline on a role request card in the mod log; works after a restart."""

    approve: bool
    request_id: int

    def __init__(self, approve: bool, request_id: int) -> None:
        super().__init__(
            approve,
            request_id,
            label=_("Approve") if approve else _("Decline"),
            style=discord.ButtonStyle.success if approve else discord.ButtonStyle.secondary,
        )

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Decide the request (moderators only)."""
        await decide(interaction, self.request_id, approve=self.approve)


def panel_view() -> discord.ui.View:
    """The panel's two persistent buttons."""
    view = discord.ui.View(timeout=None)
    for kind in RoleKind:
        view.add_item(RoleButton(kind))
    return view


def decision_view(request_id: int) -> discord.ui.View:
    """Approve / Decline for one request."""
    view = discord.ui.View(timeout=None)
    view.add_item(DecisionButton(True, request_id))
    view.add_item(DecisionButton(False, request_id))
    return view


async def change_role(
    member: discord.Member, role: discord.abc.Snowflake, *, add: bool, reason: str
) -> None:
    """Add or remove one role, turning Discord's refusals into a clear message."""
    try:
        if add:
            await member.add_roles(role, reason=reason)
        else:
            await member.remove_roles(role, reason=reason)
    except discord.Forbidden:
        raise UserFacingError(
            _(
                "Discord refused the role change, so nothing changed. A moderator should check "
                "that my role sits above <@&{role_id}> in Server Settings → Roles and has "
                "**Manage Roles**."
            ).format(role_id=role.id)
        ) from None
    except discord.HTTPException as exc:
        log.warning("role change failed: HTTP %s", exc.status)
        raise UserFacingError(
            _(
                "Discord didn't accept the change just now, so nothing changed. Please try "
                "again in a minute."
            )
        ) from None


# -- a press on the panel ------------------------------------------------------------------------


async def press(interaction: discord.Interaction, kind: RoleKind) -> None:
    """A peer pressed a panel button: add, drop, request or withdraw the role."""
    guild = interaction.guild
    member = interaction.user
    if guild is None or not isinstance(member, discord.Member):
        raise UserFacingError(_("The role panel works only inside its server."))
    bot = bot_of(interaction)
    services = bot.services
    settings = await services.guilds.get(guild.id)
    role_id = kind.role_id(settings)
    has_role = role_id is not None and any(r.id == role_id for r in member.roles)
    pending = await services.onboarding.pending(guild.id, member.id, kind)
    action = press_action(
        has_role=has_role, approval=settings.role_approval, pending=pending is not None
    )
    if action is PressAction.WITHDRAW:
        named = f"<@&{role_id}>" if role_id is not None else str(kind.label)
        await reply_ephemeral(
            interaction,
            _("I withdrew your request for {role}. Nothing else changed.").format(role=named),
        )
        await _close_pending(interaction, kind, role_id, N_("withdrawn by the member"), settings)
        return
    problems = role_setup_problems([slot_of(guild, settings, kind)], standing_of(guild))
    if problems:
        if services.onboarding.report_due(guild.id):
            with use_locale(settings.language):
                entry = modlog_embed(
                    _("The role panel can't hand out roles"),
                    None,
                    services.clock.now(),
                    to_fix=bullet_list(problems),
                )
            await bot.post_modlog(guild.id, entry)
        raise UserFacingError(
            _(
                "I can't change this role right now because of a setup problem only a moderator "
                "can fix (I've told them in the mod log):"
            )
            + "\n"
            + bullet_list(problems)
        )
    assert role_id is not None  # no problems means the role is set and exists
    role = discord.Object(id=role_id)
    if action is PressAction.REMOVE:
        await change_role(member, role, add=False, reason="Dropped from the role panel")
        if pending is not None:
            await _close_pending(interaction, kind, role_id, N_("closed: role dropped"), settings)
        await reply_ephemeral(
            interaction,
            _(
                "Done: I took <@&{role_id}> off. Open meetings stay open to you, and you can "
                "press the button again whenever you want it back."
            ).format(role_id=role_id),
        )
    elif action is PressAction.ADD:
        await change_role(member, role, add=True, reason="Chosen on the role panel")
        if pending is not None:
            await _close_pending(interaction, kind, role_id, N_("closed: approval off"), settings)
        await reply_ephemeral(
            interaction,
            _(
                "Done: you now have <@&{role_id}>, which opens the {meetings}. Press the same "
                "button again any time to drop it."
            ).format(role_id=role_id, meetings=kind.meetings),
        )
    else:
        await _request(interaction, member, kind, role_id, settings)


async def _request(
    interaction: discord.Interaction,
    member: discord.Member,
    kind: RoleKind,
    role_id: int,
    settings: GuildSettings,
) -> None:
    """File a request and put its Approve / Decline card in the mod-log channel."""
    bot = bot_of(interaction)
    onboarding = bot.services.onboarding
    channel = (
        bot.get_channel(settings.modlog_channel_id)
        if settings.modlog_channel_id is not None
        else None
    )
    if not isinstance(channel, discord.abc.Messageable):
        raise UserFacingError(
            _(
                "This server asks a moderator to confirm these roles, but I have no mod-log "
                "channel to ask them in. Please tell a moderator to run "
                "`/setup channels modlog:`."
            )
        )
    request, new = await onboarding.request(member.guild.id, member.id, kind)
    if new:
        with use_locale(settings.language):
            embed = request_embed(request, role_id)
            view = decision_view(request.id)
        try:
            card = await channel.send(embed=embed, view=view)
        except discord.HTTPException as exc:
            log.warning("could not post a role request card: HTTP %s", exc.status)
            await onboarding.take(request.id, request.guild_id)
            raise UserFacingError(
                _(
                    "I couldn't reach the moderators just now, so nothing was sent. Please try "
                    "again in a minute."
                )
            ) from None
        await onboarding.attach_message(request.id, card.channel.id, card.id)
    await reply_ephemeral(
        interaction,
        _(
            "Thanks. In this server a moderator confirms these roles, so your request for "
            "<@&{role_id}> ({meetings}) is waiting for them. I'll send you a DM when it's "
            "decided, if your DMs are open. Press the button again to withdraw the request."
        ).format(role_id=role_id, meetings=kind.meetings),
    )


async def _close_pending(
    interaction: discord.Interaction,
    kind: RoleKind,
    role_id: int | None,
    outcome: str,
    settings: GuildSettings,
) -> None:
    """Close the presser's pending request and show why on its card (buttons removed)."""
    assert interaction.guild_id is not None
    bot = bot_of(interaction)
    request = await bot.services.onboarding.withdraw(
        interaction.guild_id, interaction.user.id, kind
    )
    if request is None or request.channel_id is None or request.message_id is None:
        return
    channel = bot.get_channel(request.channel_id)
    if not isinstance(channel, discord.TextChannel):
        return
    with use_locale(settings.language):  # the card is the moderators': the guild's language
        embed = request_embed(request, role_id, outcome=_(outcome))
    try:
        await channel.get_partial_message(request.message_id).edit(embed=embed, view=None)
    except discord.HTTPException as exc:
        log.info("could not update a role request card: HTTP %s", exc.status)


# -- Approve / Decline ---------------------------------------------------------------------------


async def decide(interaction: discord.Interaction, request_id: int, *, approve: bool) -> None:
    """A moderator approved or declined a role request; the service decides what that means."""
    guild = interaction.guild
    if guild is None:
        raise UserFacingError(_("Role requests are decided inside their server."))
    await ensure_level(
        interaction, Level.MODERATOR, _("Only moderators can approve or decline role requests.")
    )
    bot = bot_of(interaction)
    services = bot.services
    request = await services.onboarding.waiting(request_id, guild.id)
    settings = await services.guilds.get(guild.id)
    role_id = request.kind.role_id(settings)
    member = await _member(guild, request.user_id)

    async def grant() -> None:
        """Give the requested role to the member."""
        assert member is not None and role_id is not None
        await change_role(
            member, discord.Object(id=role_id), add=True, reason="Role request approved"
        )

    decision = await services.onboarding.decide(
        request,
        approve=approve,
        member_present=member is not None,
        slot=slot_of(guild, settings, request.kind),
        standing=standing_of(guild),
        grant=grant,
    )
    if decision.verdict is Verdict.BLOCKED:
        raise UserFacingError(
            _(
                "I can't give this role yet, so the request is still waiting. Fix this, then "
                "press Approve again:"
            )
            + "\n"
            + bullet_list(decision.problems)
        )
    approved = decision.verdict is Verdict.APPROVED
    # The card, the mod-log entry and the DM are the guild's, so they follow its language.
    with use_locale(settings.language):
        card = request_embed(
            request,
            role_id,
            outcome=verdict_note(decision.verdict, interaction.user.mention),
            approved=approved,
        )
        entry = modlog_embed(
            _("Role request approved") if approved else _("Role request declined"),
            interaction.user,
            services.clock.now(),
            member=f"<@{request.user_id}> (`{request.user_id}`)",
            role=f"<@&{role_id}>" if role_id is not None else str(request.kind.label),
        )
        dm = verdict_dm(guild.name, request.kind, approved=approve)
    # Answer the moderator by updating the card in place (buttons removed).
    await interaction.response.edit_message(embed=card, view=None)
    if decision.verdict is Verdict.MEMBER_LEFT:
        return
    await bot.post_modlog(guild.id, entry)
    if member is not None:
        try:
            await member.send(dm)
        except discord.HTTPException as exc:
            log.info("could not DM a role request outcome: HTTP %s", exc.status)


async def _member(guild: discord.Guild, user_id: int) -> discord.Member | None:
    """A member from the cache or Discord; None if they are no longer in the server."""
    member = guild.get_member(user_id)
    if member is not None:
        return member
    try:
        return await guild.fetch_member(user_id)
    except discord.NotFound:
        return None
