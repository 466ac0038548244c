"""Feeds glue: the feed HTTP server's lifetime, `/setup feeds`, and room invites for the feeds."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.bus import MEETING_CHANGED
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.feeds_http import FeedServer, create_app
from bot.runtime.tree import reply_ephemeral
from bot.services.feeds import FeedInvite, FeedService
from cogs._kit import bot_of, modlog_embed, requires

log = logging.getLogger(__name__)

INVITE_REASON = "Haven public feeds: the link finders and calendars show for this meeting"

Action = Literal["enable", "disable", "rotate"]


def public_text(include_closed: bool) -> str:
    """Exactly what the feeds make public, in plain words."""
    closed = (
        "**Closed meetings are included too**, because you asked for it."
        if include_closed
        else "Closed meetings are never published unless you include them (`include_closed:True`)."
    )
    return (
        "**What becomes public** (anyone with a link can read it): the titles, days, times, time "
        "zones, kind (NA-style, family, other), access and formats of this server's open "
        "meetings, and for each meeting that has a room, a permanent discord.gg invite to that "
        f"room. {closed}\n"
        "**Never published:** descriptions, opening formats, facilitators, attendance, or "
        "anything else about people."
    )


def feed_urls(base: str | None, token: str) -> tuple[str, str]:
    """The calendar and Meeting Guide URLs (paths only when no public base URL is set)."""
    prefix = base.rstrip("/") if base else ""
    return (f"{prefix}/feeds/{token}/meetings.ics", f"{prefix}/feeds/{token}/meetings.json")


@dataclass
class InviteSync:
    """What one invite sync did."""

    created: int = 0
    failed: int = 0
    removed: int = 0
    undeleted: list[str] = field(default_factory=list)  # codes Discord refused to delete

    def summary(self) -> str:
        """Lines for the moderator."""
        lines = []
        if self.created:
            lines.append(f"Created {self.created} permanent room invite(s) for the feeds.")
        if self.failed:
            lines.append(
                f"⚠️ {self.failed} meeting room(s) got no invite: I need the *Create Invite* "
                "permission in their text channels. Those meetings are listed without a link."
            )
        if self.undeleted:
            lines.append(
                f"⚠️ {len(self.undeleted)} old invite(s) could not be deleted (I need *Manage "
                "Channels* there). Delete them in Server Settings → Invites: "
                + ", ".join(f"`{c}`" for c in self.undeleted[:10])
            )
        return "\n".join(lines)


class FeedsCog(commands.Cog, name="feeds"):
    """Runs the feed server and adds `/setup feeds`."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        self.server: FeedServer | None = None
        self._command: app_commands.Command[Any, ..., Any] | None = None
        self._locks: dict[int, asyncio.Lock] = {}
        self._loaded = False

    @property
    def feeds(self) -> FeedService:
        """The feeds service."""
        return self.bot.services.feeds

    # -- lifetime ----------------------------------------------------------------------------

    async def cog_load(self) -> None:
        """Attach `/setup feeds`, follow meeting changes, start the HTTP server if configured."""
        self._loaded = True
        self._attach_command()
        self.bot.services.events.subscribe(MEETING_CHANGED, self.on_meeting_changed)
        self.bot.services.jobs.add_reconciler(self.reconcile)
        settings = self.bot.services.settings
        if settings.http_port is None:
            log.info("HTTP_PORT is not set: the feed server is off")
            return
        server = FeedServer(create_app(self.feeds, self.bot.clock))
        try:
            await server.start(settings.http_host, settings.http_port)
        except OSError as exc:
            # The bot keeps running; only the feeds are unavailable.
            log.error(
                "feed server could not listen on %s:%s: %s",
                settings.http_host,
                settings.http_port,
                exc.strerror,
            )
            return
        self.server = server
        log.info("Feed server listening on %s:%s", settings.http_host, settings.http_port)

    async def cog_unload(self) -> None:
        """Detach the command, stop following changes, stop the HTTP server."""
        self._loaded = False
        self._detach_command()
        self.bot.services.events.unsubscribe(MEETING_CHANGED, self.on_meeting_changed)
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop the HTTP server (called when the bot closes; safe to call twice)."""
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    def _setup_group(self) -> app_commands.Group | None:
        cog = self.bot.get_cog("setup")
        group = getattr(cog, "app_command", None) if cog is not None else None
        return group if isinstance(group, app_commands.Group) else None

    def _attach_command(self) -> None:
        group = self._setup_group()
        if group is None:
            log.warning("the /setup group is not loaded: /setup feeds is unavailable")
            return
        self._command = build_feeds_command()
        group.add_command(self._command, override=True)

    def _detach_command(self) -> None:
        group = self._setup_group()
        command = self._command
        if group is not None and command is not None and group.get_command(command.name) is command:
            group.remove_command(command.name)
        self._command = None

    # -- invites -----------------------------------------------------------------------------

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())

    async def sync_invites(self, guild_id: int, *, renew: bool = False) -> InviteSync:
        """Give each published meeting with a room one invite; drop the others (renew: all new)."""
        result = InviteSync()
        async with self._lock(guild_id):
            config = await self.feeds.get(guild_id)
            if config is None:
                return result
            wanted = FeedService.wanted_invites(await self.feeds.published(config))
            have = await self.feeds.invites(guild_id)
            stale: list[FeedInvite] = []
            for meeting_id, invite in have.items():
                if wanted.get(meeting_id) != invite.channel_id:
                    dropped = await self.feeds.drop_invite(meeting_id)
                    if dropped is not None:
                        stale.append(dropped)
                        result.removed += 1
            for meeting_id, channel_id in wanted.items():
                current = have.get(meeting_id)
                if not renew and current is not None and current.channel_id == channel_id:
                    continue
                code = await self._create_invite(channel_id)
                if code is None:
                    result.failed += 1
                    continue
                try:
                    replaced = await self.feeds.set_invite(
                        guild_id, FeedInvite(meeting_id, channel_id, code)
                    )
                except LookupError:  # the meeting was deleted meanwhile
                    stale.append(FeedInvite(meeting_id, channel_id, code))
                    continue
                result.created += 1
                if replaced is not None:
                    stale.append(replaced)
            for invite in stale:
                if not await self._delete_invite(invite.code):
                    result.undeleted.append(invite.code)
        return result

    async def delete_invites(self, invites: list[FeedInvite]) -> list[str]:
        """Delete invites on Discord; return the codes that could not be deleted."""
        return [i.code for i in invites if not await self._delete_invite(i.code)]

    async def _create_invite(self, channel_id: int) -> str | None:
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

    async def _delete_invite(self, code: str) -> bool:
        try:
            await self.bot.delete_invite(code, reason="Haven public feeds: link replaced or off")
        except discord.NotFound:
            return True
        except discord.HTTPException as exc:
            log.warning("could not delete a feed invite: HTTP %s", exc.status)
            return False
        return True

    async def on_meeting_changed(
        self, *, meeting_id: int, guild_id: int, change: str, detail: str = ""
    ) -> None:
        """Keep invites in step when a meeting of a guild with feeds is created or edited."""
        # Deleted meetings keep their invite row (no cascade) until this sync deletes the invite.
        if change in ("created", "edited", "deleted") and await self.feeds.get(guild_id):
            await self.sync_invites(guild_id)

    async def reconcile(self) -> None:
        """At start and every few minutes: rooms created since give their meeting an invite."""
        if not self._loaded or not self.bot.is_ready():
            return
        for guild_id in await self.feeds.enabled_guilds():
            guild = self.bot.get_guild(guild_id)
            if guild is None:
                continue
            try:
                await self.feeds.set_calendar_name(guild_id, guild.name)
                await self.sync_invites(guild_id)
            except Exception:
                log.exception("feed invite sync failed")

    # -- the command -------------------------------------------------------------------------

    async def run(
        self, interaction: discord.Interaction, action: Action, include_closed: bool | None
    ) -> None:
        """Enable, disable or rotate the guild's feeds and report exactly what that means."""
        guild_id = interaction.guild_id
        assert guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = self.bot.services.settings
        actor = interaction.user
        now = self.bot.clock.now()
        if action == "disable":
            async with self._lock(guild_id):
                was_on, invites = await self.feeds.disable(guild_id)
            if not was_on:
                await reply_ephemeral(interaction, "Feeds are already off in this server.")
                return
            undeleted = await self.delete_invites(invites)
            note = InviteSync(undeleted=undeleted).summary()
            await reply_ephemeral(
                interaction,
                "Feeds are off. Their URLs now answer *not found*, and the feeds' room invites "
                "were deleted." + (f"\n{note}" if note else ""),
            )
            await self.bot.post_modlog(
                guild_id,
                modlog_embed(
                    "Public feeds turned off",
                    actor,
                    now,
                    invites_deleted=str(len(invites) - len(undeleted)),
                ),
            )
            return
        if action == "rotate":
            token = await self.feeds.rotate(guild_id)
            if interaction.guild is not None:
                await self.feeds.set_calendar_name(guild_id, interaction.guild.name)
            config = await self.feeds.get(guild_id)
            sync = await self.sync_invites(guild_id, renew=True)
            ics, js = feed_urls(settings.public_base_url, token)
            text = (
                "New feed URLs (the old ones stopped working just now):\n"
                f"• Calendar (iCalendar): {ics}\n• Meeting Guide JSON: {js}\n"
                "Room invites were replaced too; the old invites were deleted.\n\n"
                + public_text(bool(config and config.include_closed))
            )
            await reply_ephemeral(interaction, _with_notes(text, sync, settings))
            await self.bot.post_modlog(
                guild_id,
                modlog_embed(
                    "Public feed URLs rotated",
                    actor,
                    now,
                    details="Old URLs and room invites no longer work; the new URLs were shown "
                    "only to the moderator above.",
                ),
            )
            return
        # enable
        config = await self.feeds.get(guild_id)
        wanted = (
            include_closed if include_closed is not None else bool(config and config.include_closed)
        )
        name = interaction.guild.name if interaction.guild is not None else ""
        fresh, changed = await self.feeds.enable(guild_id, wanted, name)
        if name:
            await self.feeds.set_calendar_name(guild_id, name)
        sync = await self.sync_invites(guild_id)
        if fresh is None:
            state = "now include closed meetings" if wanted else "now leave closed meetings out"
            head = (
                f"Feeds were already on; they {state}."
                if changed
                else "Feeds were already on; nothing changed."
            )
            text = (
                f"{head} Their URLs are unchanged. Haven keeps only a fingerprint of them, so it "
                "cannot show them again: use `/setup feeds action:rotate` for new ones (the old "
                "ones stop working).\n\n" + public_text(wanted)
            )
        else:
            ics, js = feed_urls(settings.public_base_url, fresh)
            text = (
                "**Public feeds are on.** Give these links to calendars and meeting finders:\n"
                f"• Calendar (iCalendar): {ics}\n• Meeting Guide JSON: {js}\n"
                "The JSON feed lists weekly meetings only (the Meeting Guide format has no other "
                "rules); every meeting is in the calendar feed.\n"
                "These URLs are shown only now: Haven keeps only a fingerprint of them. "
                "`/setup feeds action:rotate` makes new ones and stops the old ones.\n\n"
                + public_text(wanted)
            )
        await reply_ephemeral(interaction, _with_notes(text, sync, settings))
        if changed or sync.created:
            await self.bot.post_modlog(
                guild_id,
                modlog_embed(
                    "Public feeds turned on" if fresh else "Public feeds changed",
                    actor,
                    now,
                    closed_meetings="included" if wanted else "not published",
                    room_invites=str(sync.created),
                ),
            )


def _with_notes(text: str, sync: InviteSync, settings: Any) -> str:
    notes = [n for n in (sync.summary(),) if n]
    if settings.public_base_url is None:
        notes.append(
            "These are paths: put the address your reverse proxy serves Haven's feeds at in front "
            "of them (the bot's operator can set `PUBLIC_BASE_URL` to show full links)."
        )
    if settings.http_port is None:
        notes.append(
            "⚠️ The feed server is off on this Haven (`HTTP_PORT` is not set), so nobody can "
            "read these feeds yet. Ask the bot's operator (see docs/feeds.md)."
        )
    return text + ("\n\n" + "\n".join(notes) if notes else "")


def build_feeds_command() -> app_commands.Command[Any, ..., Any]:
    """A fresh `/setup feeds` command object (its parent is set when it joins the group)."""

    @app_commands.command(
        name="feeds", description="Publish open meetings as calendar and meeting-finder feeds"
    )
    @app_commands.describe(
        action="enable: start publishing; disable: stop; rotate: new URLs, old ones stop working",
        include_closed="Also publish closed meetings (default: only open meetings)",
    )
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def feeds(
        interaction: discord.Interaction, action: Action, include_closed: bool | None = None
    ) -> None:
        """Turn the public feeds on or off, or replace their URLs."""
        cog = bot_of(interaction).get_cog("feeds")
        if not isinstance(cog, FeedsCog):
            await reply_ephemeral(interaction, "Feeds are not available on this Haven right now.")
            return
        await cog.run(interaction, action, include_closed)

    return feeds


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(FeedsCog(bot))
