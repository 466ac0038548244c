"""Onboarding's words and embeds: the role panel, the welcome, role request cards and DMs."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.i18n import Text
from bot.services.onboarding import RoleKind, RoleRequest, Verdict, Welcome
from cogs._kit import (
    COLOR,
    COLOR_ALERT,
    COLOR_WARN,
    escape,
    fit_embed,
    safe_title,
    truncate,
    ts,
    ts_pair,
)
from cogs._kit.i18n import N_, _

NOT_AFFILIATED = N_(
    "Haven is a community tool, not affiliated with Narcotics Anonymous World Services."
)

PANEL_TITLE = N_("Which meetings are for you?")
PANEL_TEXT = N_(
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
PANEL_PRIVACY = N_(
    "Your choice gives you a server role, and like any Discord role it shows on your profile to "
    "members of this server. Haven never records which meetings you attend."
)

BUTTON_LABELS = {
    RoleKind.MEMBER: N_("I'm here for my own recovery"),
    RoleKind.FAMILY: N_("I'm here for someone I love"),
}

WELCOME_TEXT = N_(
    "This is a peer-support community for people in recovery from drug addiction and for the "
    "families and friends who love them. Everyone here is a peer, and nobody has to share "
    "anything to belong."
)
CRISIS_TEXT = N_(
    "Type `/crisis` any time for crisis and overdose lines near you. It always answers, and only "
    "you see the answer."
)


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    """The link that opens a message in Discord."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def bullet_list(items: Sequence[Text]) -> str:
    """Lines as a bulleted list."""
    return "\n".join(f"• {item}" for item in items)


def panel_embed() -> discord.Embed:
    """The role panel's text, in Haven's own words."""
    embed = discord.Embed(title=_(PANEL_TITLE), description=_(PANEL_TEXT), colour=COLOR)
    embed.add_field(name=_("Good to know"), value=_(PANEL_PRIVACY), inline=False)
    embed.set_footer(text=_(NOT_AFFILIATED))
    return fit_embed(embed)


def welcome_embed(guild: discord.Guild, welcome: Welcome) -> discord.Embed:
    """The newcomer welcome: purpose, next open meetings, the panel and /crisis; no names."""
    embed = discord.Embed(
        title=_("Welcome to {server}").format(server=safe_title(guild.name)),
        description=_(WELCOME_TEXT),
        colour=COLOR,
    )
    if welcome.meetings:
        lines = [
            f"• **{truncate(escape(m.title), 100)}**: {ts_pair(m.start)} · {m.home_time}"
            for m in welcome.meetings
        ]
        meetings = "\n".join(lines) + "\n" + _("`/meeting list` shows them all.")
    else:
        meetings = _("None is scheduled right now; `/meeting list` will show them when there are.")
    embed.add_field(name=_("Next open meetings (anyone may join)"), value=meetings, inline=False)
    if welcome.panel_channel_id is not None and welcome.panel_message_id is not None:
        link = jump_url(guild.id, welcome.panel_channel_id, welcome.panel_message_id)
        closed = _(
            "Closed meetings are kept for the people they are meant for. Say which are for "
            "you on the [role panel]({link})."
        ).format(link=link)
    else:
        closed = _(
            "Closed meetings are kept for the people they are meant for; the moderators can "
            "tell you which are for you."
        )
    embed.add_field(name=_("Closed meetings"), value=closed, inline=False)
    embed.add_field(name=_("Need help right now?"), value=_(CRISIS_TEXT), inline=False)
    embed.set_footer(text=_(NOT_AFFILIATED))
    return fit_embed(embed)


def request_embed(
    request: RoleRequest,
    role_id: int | None,
    *,
    outcome: str | None = None,
    approved: bool = False,
) -> discord.Embed:
    """The mod-log card of a role request (with its outcome once decided)."""
    colour = COLOR_WARN if outcome is None else (COLOR if approved else COLOR_ALERT)
    title = _("Role request") if outcome is None else _("Role request: {outcome}")
    embed = discord.Embed(title=title.format(outcome=outcome), colour=colour)
    embed.add_field(name=_("Member"), value=f"<@{request.user_id}> (`{request.user_id}`)")
    role = f"<@&{role_id}>" if role_id is not None else str(request.kind.label)
    embed.add_field(name=_("Role"), value=f"{role} ({request.kind.meetings})")
    embed.add_field(name=_("Asked"), value=ts(request.requested_at, "R"))  # i18n: keep
    embed.timestamp = request.requested_at
    return fit_embed(embed)


def verdict_note(verdict: Verdict, moderator: str) -> str:
    """How a decided request's card names its outcome."""
    if verdict is Verdict.MEMBER_LEFT:
        return _("closed: they left the server")
    if verdict is Verdict.APPROVED:
        return _("approved by {moderator}").format(moderator=moderator)
    return _("declined by {moderator}").format(moderator=moderator)


def verdict_dm(guild_name: str, kind: RoleKind, *, approved: bool) -> str:
    """The DM that tells a peer how their request was decided."""
    where = escape(guild_name)
    if approved:
        return _(
            "A moderator of **{server}** approved your request: you can now join the "
            "{meetings}. You can drop the role any time from the same panel."
        ).format(server=where, meetings=kind.meetings)
    return _(
        "A moderator of **{server}** did not approve your request for the {label} this time. "
        "Open meetings are still open to you, and you can ask the moderators about it."
    ).format(server=where, label=kind.label)
