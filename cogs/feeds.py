"""Feeds glue: `/setup feeds` (declared in cogs/setup.py) and the Discord side of room invites.

The feed HTTP server runs with the bot (bot/runtime/app.py); invite sync is FeedService's, through
the InviteMaker this cog installs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import discord
from discord.ext import commands

from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from bot.services.feeds import InviteSync
from cogs._kit import modlog_embed
from cogs._kit.i18n import _, ngettext, use_locale

log = logging.getLogger(__name__)

INVITE_REASON = "Haven public feeds: the link finders and calendars show for this meeting"

FeedAction = Literal["enable", "disable", "rotate"]


def public_text(include_closed: bool) -> str:
    """Exactly what the feeds make public, in plain words (current locale)."""
    closed = (
        _(
            "**Closed meetings are included too** in the calendar and Meeting Guide feeds, "
            "because you asked for it."
        )
        if include_closed
        else _(
            "Closed meetings are never published unless you include them (`include_closed:True`)."
        )
    )
    return (
        _(
            "**What becomes public** (anyone with a link can read it): the titles, days, times, time "
            "zones, kind (NA-style, family, other), access and formats of this server's open "
            "meetings, and for each meeting that has a room, a permanent discord.gg invite to that "
            "room. {closed}\n"
            "**Never published:** descriptions, opening formats, facilitators, attendance, or "
            "anything else about people."
        ).format(closed=closed)
        + "\n"
        + _("The schedule page shows only open meetings that are not family meetings.")
    )


def feed_urls(base: str | None, token: str) -> tuple[str, str]:
    """The calendar and Meeting Guide URLs (paths only when no public base URL is set)."""
    prefix = base.rstrip("/") if base else ""
    return (f"{prefix}/feeds/{token}/meetings.ics", f"{prefix}/feeds/{token}/meetings.json")


def sync_summary(sync: InviteSync) -> str:
    """What an invite sync means for the moderator, as lines (empty when all went well)."""
    lines = []
    if sync.created:
        lines.append(
            ngettext(
                "Created {count} permanent room invite for the feeds.",
                "Created {count} permanent room invites for the feeds.",
                sync.created,
            ).format(count=sync.created)
        )
    if sync.failed:
        lines.append(
            ngettext(
                "⚠️ {count} meeting room got no invite: I need the *Create Invite* permission in "
                "its text channel. That meeting is listed without a link.",
                "⚠️ {count} meeting rooms got no invite: I need the *Create Invite* permission in "
                "their text channels. Those meetings are listed without a link.",
                sync.failed,
            ).format(count=sync.failed)
        )
    if sync.undeleted:
        count = len(sync.undeleted)
        lines.append(
            ngettext(
                "⚠️ {count} old invite could not be deleted (I need *Manage Channels* there). "
                "Delete it in Server Settings → Invites: {codes}",
                "⚠️ {count} old invites could not be deleted (I need *Manage Channels* there). "
                "Delete them in Server Settings → Invites: {codes}",
                count,
            ).format(count=count, codes=", ".join(f"`{c}`" for c in sync.undeleted[:10]))
        )
    return "\n".join(lines)


def _links(base: str | None, token: str) -> str:
    """The three public links, one bullet each (current locale)."""
    ics, js = feed_urls(base, token)
    return _(
        "• Calendar (iCalendar): {ics}\n• Meeting Guide JSON: {json}\n"
        "• Schedule page (times in each reader's own zone): {page}"
    ).format(ics=ics, json=js, page=ics.removesuffix("meetings.ics"))


class DiscordInviteMaker:
    """FeedService's InviteMaker for discord.py: permanent invites to meeting rooms."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    async def create(self, channel_id: int) -> str | None:
        """A permanent, unlimited invite to a channel, or None when Discord refuses."""
        create = getattr(self.bot.get_channel(channel_id), "create_invite", None)
        if create is None:
            return None
        try:
            invite = await create(max_age=0, max_uses=0, unique=True, reason=INVITE_REASON)
        except discord.HTTPException as exc:
            log.warning("could not create a feed invite: HTTP %s", exc.status)
            return None
        return str(invite.code)

    async def delete(self, code: str) -> bool:
        """Delete an invite; False when Discord refuses (one already gone counts as deleted)."""
        try:
            await self.bot.delete_invite(code, reason="Haven public feeds: link replaced or off")
        except discord.NotFound:
            return True
        except discord.HTTPException as exc:
            log.warning("could not delete a feed invite: HTTP %s", exc.status)
            return False
        return True

    def guild_name(self, guild_id: int) -> str | None:
        """The guild's name once the bot is ready and sees the guild."""
        guild = self.bot.get_guild(guild_id) if self.bot.is_ready() else None
        return None if guild is None else guild.name


async def run_setup_feeds(
    bot: HavenBot,
    interaction: discord.Interaction,
    action: FeedAction,
    include_closed: bool | None,
) -> None:
    """Enable, disable or rotate the guild's feeds and report exactly what that means."""
    feeds = bot.services.feeds
    if feeds.invite_maker is None:
        await reply_ephemeral(interaction, _("Feeds are not available on this Haven right now."))
        return
    guild_id = interaction.guild_id
    assert guild_id is not None
    await interaction.response.defer(ephemeral=True, thinking=True)
    if action == "disable":
        await _disable(bot, interaction, guild_id)
    elif action == "rotate":
        await _rotate(bot, interaction, guild_id)
    else:
        await _enable(bot, interaction, guild_id, include_closed)


async def _modlog(bot: HavenBot, guild_id: int, entry: Callable[[], discord.Embed]) -> None:
    """Write a mod-log entry built in the guild's language (not the moderator's)."""
    settings = await bot.services.guilds.get(guild_id)
    with use_locale(settings.language):
        embed = entry()
    await bot.post_modlog(guild_id, embed)


async def _disable(bot: HavenBot, interaction: discord.Interaction, guild_id: int) -> None:
    """Turn the feeds off, delete their invites, and say so."""
    feeds = bot.services.feeds
    now = bot.clock.now()
    was_on, invites = await feeds.disable(guild_id)
    if not was_on:
        await reply_ephemeral(interaction, _("Feeds are already off in this server."))
        return
    undeleted = await feeds.delete_invites(invites)
    note = sync_summary(InviteSync(undeleted=undeleted))
    await reply_ephemeral(
        interaction,
        _(
            "Feeds are off. Their URLs now answer *not found*, and the feeds' room invites "
            "were deleted."
        )
        + (f"\n{note}" if note else ""),
    )
    await _modlog(
        bot,
        guild_id,
        lambda: modlog_embed(
            _("Public feeds turned off"),
            interaction.user,
            now,
            invites_deleted=str(len(invites) - len(undeleted)),
        ),
    )


async def _rotate(bot: HavenBot, interaction: discord.Interaction, guild_id: int) -> None:
    """New URLs and new room invites; the old ones stop working."""
    feeds = bot.services.feeds
    settings = bot.services.settings
    now = bot.clock.now()
    token = await feeds.rotate(guild_id)
    if interaction.guild is not None:
        await feeds.set_calendar_name(guild_id, interaction.guild.name)
    config = await feeds.get(guild_id)
    sync = await feeds.sync_invites(guild_id, renew=True)
    text = (
        _("New feed URLs (the old ones stopped working just now):")
        + "\n"
        + _links(settings.public_base_url, token)
        + "\n"
        + _("Room invites were replaced too; the old invites were deleted.")
        + "\n\n"
        + public_text(bool(config and config.include_closed))
    )
    await reply_ephemeral(interaction, _with_notes(text, sync, settings))
    await _modlog(
        bot,
        guild_id,
        lambda: modlog_embed(
            _("Public feed URLs rotated"),
            interaction.user,
            now,
            details=_(
                "Old URLs and room invites no longer work; the new URLs were shown only to the "
                "moderator above."
            ),
        ),
    )


async def _enable(
    bot: HavenBot, interaction: discord.Interaction, guild_id: int, include_closed: bool | None
) -> None:
    """Turn the feeds on (or change what they include) and show the URLs once."""
    feeds = bot.services.feeds
    settings = bot.services.settings
    now = bot.clock.now()
    config = await feeds.get(guild_id)
    wanted = (
        include_closed if include_closed is not None else bool(config and config.include_closed)
    )
    name = interaction.guild.name if interaction.guild is not None else ""
    fresh, changed = await feeds.enable(guild_id, wanted, name)
    if name:
        await feeds.set_calendar_name(guild_id, name)
    sync = await feeds.sync_invites(guild_id)
    if fresh is None:
        if not changed:
            head = _("Feeds were already on; nothing changed.")
        elif wanted:
            head = _("Feeds were already on; they now include closed meetings.")
        else:
            head = _("Feeds were already on; they now leave closed meetings out.")
        text = (
            head
            + " "
            + _(
                "Their URLs are unchanged. Haven keeps only a fingerprint of them, so it cannot "
                "show them again: use `/setup feeds action:rotate` for new ones (the old ones "
                "stop working)."
            )
            + "\n\n"
            + public_text(wanted)
        )
    else:
        text = (
            _("**Public feeds are on.** Give these links to calendars and meeting finders:")
            + "\n"
            + _links(settings.public_base_url, fresh)
            + "\n"
            + _(
                "The JSON feed lists weekly meetings only (the Meeting Guide format has no other "
                "rules); every meeting is in the calendar feed.\n"
                "These URLs are shown only now: Haven keeps only a fingerprint of them. "
                "`/setup feeds action:rotate` makes new ones and stops the old ones."
            )
            + "\n\n"
            + public_text(wanted)
        )
    await reply_ephemeral(interaction, _with_notes(text, sync, settings))
    if changed or sync.created:
        await _modlog(
            bot,
            guild_id,
            lambda: modlog_embed(
                _("Public feeds turned on") if fresh else _("Public feeds changed"),
                interaction.user,
                now,
                closed_meetings=_("included") if wanted else _("not published"),
                room_invites=str(sync.created),
            ),
        )


def _with_notes(text: str, sync: InviteSync, settings: Any) -> str:
    notes = [n for n in (sync_summary(sync),) if n]
    if settings.public_base_url is None:
        notes.append(
            _(
                "These are paths: put the address your reverse proxy serves Haven's feeds at in "
                "front of them (the bot's operator can set `PUBLIC_BASE_URL` to show full links)."
            )
        )
    if settings.http_port is None:
        notes.append(
            _(
                "⚠️ The feed server is off on this Haven (`HTTP_PORT` is not set), so nobody can "
                "read these feeds yet. Ask the bot's operator (see docs/feeds.md)."
            )
        )
    return text + ("\n\n" + "\n".join(notes) if notes else "")


class FeedsCog(commands.Cog, name="feeds"):
    """Installs the Discord side of the feeds' room invites."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Plug the invite maker into the feeds service (it follows meeting changes from then)."""
        self.bot.services.feeds.install(DiscordInviteMaker(self.bot))

    async def cog_unload(self) -> None:
        """Unplug the invite maker."""
        self.bot.services.feeds.uninstall()


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(FeedsCog(bot))
