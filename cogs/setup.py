"""/setup: roles, channels, defaults, public feeds and the settings overview (moderators only)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import resolve, use_locale
from bot.keys import KeySource, key_source
from bot.parsing import (
    REGIONS,
    format_offsets,
    parse_language,
    parse_offsets,
    parse_region,
    parse_timezone,
)
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from bot.services.guilds import Change, GuildSettings
from cogs._kit import COLOR, fit_embed, modlog_embed, requires, timezone_autocomplete
from cogs._kit.i18n import _T, N_, LanguageArg, _
from cogs.feeds import FeedAction, run_setup_feeds
from cogs.onboarding.panel import post_panel

_LABELS: dict[str, str] = {
    "moderator_role_id": N_("Moderator role"),
    "facilitator_role_id": N_("Facilitator role"),
    "member_role_id": N_("Member role (closed NA-style meetings)"),
    "family_role_id": N_("Family role (closed family meetings)"),
    "announce_channel_id": N_("Announcement channel"),
    "modlog_channel_id": N_("Mod-log channel"),
    "review_channel_id": N_("Resource review channel"),
    "moderators_channel_id": N_("Anonymous moderator line channel"),
    "welcome_channel_id": N_("Welcome channel"),
    "timezone": N_("Default time zone"),
    "region": N_("Region (crisis lines)"),
    "reminder_offsets": N_("Default reminder offsets"),
    "room_open_minutes": N_("Rooms open before start (minutes)"),
    "room_close_minutes": N_("Rooms close after end (minutes)"),
    "room_clear_chat": N_("Clear room chat after close"),
    "native_events": N_("Mirror meetings as Discord events"),
    "cancel_notices": N_("Post a notice for cancelled occurrences"),
    "welcome_mode": N_("Welcome newcomers"),
    "welcome_mention": N_("Name newcomers in the welcome channel"),
    "role_approval": N_("Role requests need moderator approval"),
    "panel_channel_id": N_("Role panel channel"),
    "language": N_("Language of posts and new meetings"),
}

# "@everyone cannot be the moderator role": one whole sentence per role, for the translators.
_EVERYONE = {
    "moderator_role_id": N_(
        "@everyone cannot be the moderator role: pick or create a dedicated role."
    ),
    "facilitator_role_id": N_(
        "@everyone cannot be the facilitator role: pick or create a dedicated role."
    ),
    "member_role_id": N_("@everyone cannot be the member role: pick or create a dedicated role."),
    "family_role_id": N_("@everyone cannot be the family role: pick or create a dedicated role."),
}

NATIVE_EVENTS_WARNING = N_(
    'Discord shows everyone who marks a native event as "interested". Haven itself never '
    "records who attends, but that list is visible to the server."
)

KEY_BESIDE_DATABASE_WARNING = N_(
    "It sits in the database's folder, so a copy of that folder carries the key with it: "
    "set HAVEN_KEY_PATH to keep the key apart."
)


_LANGUAGE_NAMES = {"en": "English", "es": "Español"}  # each named in itself
_WELCOME_MODES = {
    "off": N_("off"),
    "channel": N_("in the welcome channel"),
    "dm": N_("by direct message"),
}


def render_value(field: str, value: Any) -> str:
    """A setting's value as shown in Discord, in the current locale."""
    if value is None:
        return _("not set")
    if field.endswith("_role_id"):
        return f"<@&{value}>"
    if field.endswith("_channel_id"):
        return f"<#{value}>"
    if isinstance(value, bool):
        return _("on") if value else _("off")
    if field == "reminder_offsets":
        return format_offsets([int(p) for p in str(value).split(",") if p]) or _("none")
    if field == "region":
        name = REGIONS.get(str(value))
        return f"{value} ({_(name) if name else '?'})"
    if field == "language":
        return _LANGUAGE_NAMES.get(str(value), str(value))
    if field == "welcome_mode" and value in _WELCOME_MODES:
        return _(_WELCOME_MODES[value])
    return str(value)


def settings_embed(settings: GuildSettings) -> discord.Embed:
    """Every setting of the guild, grouped."""
    embed = discord.Embed(title=_("Haven settings"), colour=COLOR)
    groups = {
        N_("Roles"): [f for f in _LABELS if f.endswith("_role_id")],
        N_("Channels"): [f for f in _LABELS if f.endswith("_channel_id")],
        N_("Meetings and reminders"): [
            "language",
            "timezone",
            "region",
            "reminder_offsets",
            "native_events",
            "cancel_notices",
        ],
        N_("Rooms"): ["room_open_minutes", "room_close_minutes", "room_clear_chat"],
        N_("Onboarding"): ["welcome_mode", "welcome_mention", "role_approval"],
    }
    for name, fields in groups.items():
        lines = [f"**{_(_LABELS[f])}**: {render_value(f, getattr(settings, f))}" for f in fields]
        embed.add_field(name=_(name), value="\n".join(lines), inline=False)
    return fit_embed(embed)


def key_source_text(source: KeySource) -> str:
    """Where the instance key comes from, with a warning when it sits with the database."""
    if source.file is None:
        text = _("from the environment (HAVEN_SECRET_KEY)")
        if source.ignored_file is not None:
            text += _("; HAVEN_KEY_PATH is ignored while it is set")
        return text
    text = _("key file `{path}`").format(path=source.file)
    if source.beside_database:
        text += f"\n⚠️ {_(KEY_BESIDE_DATABASE_WARNING)}"
    return text


def changes_text(changes: list[Change]) -> str:
    """Changes as lines 'label: old → new'."""
    return "\n".join(
        f"{_(_LABELS[c.field]) if c.field in _LABELS else c.field}: "
        f"{render_value(c.field, c.old)} → "
        f"{render_value(c.field, c.new)}"
        for c in changes
    )


class SetupCog(commands.GroupCog, name="setup", description=_T("Configure Haven for this server")):
    """Moderator configuration commands."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    async def apply(self, interaction: discord.Interaction, **changes: Any) -> None:
        """Store changes, report them to the caller and the mod log."""
        assert interaction.guild_id is not None
        if not changes:
            await reply_ephemeral(interaction, _("Nothing to change: give at least one option."))
            return
        guilds = self.bot.services.guilds
        if (
            "language" not in changes
            and resolve(interaction.guild_locale) == "es"
            and not await guilds.is_configured(interaction.guild_id)
        ):
            # A Community server whose Discord language is Spanish starts with Spanish posts;
            # the moderator sees it among the changes and can set it back.
            changes["language"] = "es"
        diff = await self.bot.services.guilds.update(interaction.guild_id, **changes)
        if not diff:
            await reply_ephemeral(interaction, _("Those settings were already in place."))
            return
        text = changes_text(diff)
        notes = ""
        if any(c.field == "native_events" and c.new for c in diff):
            notes = f"\n\n⚠️ {_(NATIVE_EVENTS_WARNING)}"
        await reply_ephemeral(interaction, _("Saved.") + f"\n{text}{notes}")
        settings = await self.bot.services.guilds.get(interaction.guild_id)
        with use_locale(settings.language):  # the mod log is written in the server's language
            entry = modlog_embed(
                _("Settings changed"),
                interaction.user,
                self.bot.clock.now(),
                changes=changes_text(diff),
            )
        await self.bot.post_modlog(interaction.guild_id, entry)

    @app_commands.command(
        name="roles", description=_T("Set the moderator, facilitator, member and family roles")
    )
    @app_commands.describe(
        moderator=_T("Role whose holders moderate Haven"),
        facilitator=_T("Role whose holders schedule and run meetings"),
        member=_T("Role for closed NA-style meetings (people in their own recovery)"),
        family=_T("Role for closed family meetings (people who love someone who uses)"),
    )
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def roles(
        self,
        interaction: discord.Interaction,
        moderator: discord.Role | None = None,
        facilitator: discord.Role | None = None,
        member: discord.Role | None = None,
        family: discord.Role | None = None,
    ) -> None:
        """Set roles."""
        picked = {
            "moderator_role_id": moderator,
            "facilitator_role_id": facilitator,
            "member_role_id": member,
            "family_role_id": family,
        }
        for field, role in picked.items():
            if role is not None and role.is_default():
                await reply_ephemeral(
                    interaction,
                    _(_EVERYONE[field]),
                )
                return
        await self.apply(interaction, **{f: r.id for f, r in picked.items() if r is not None})

    @app_commands.command(
        name="channels", description=_T("Set the announcement, mod-log and other channels")
    )
    @app_commands.describe(
        announcements=_T("Where meeting reminders and schedule changes are posted"),
        modlog=_T("Where every moderator-relevant change is logged"),
        review=_T("Where suggested resource cards wait for review (default: the mod log)"),
        moderators=_T("Private channel for the anonymous line to moderators"),
        welcome=_T("Where newcomers are welcomed (when the welcome is on)"),
    )
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def channels(
        self,
        interaction: discord.Interaction,
        announcements: discord.TextChannel | None = None,
        modlog: discord.TextChannel | None = None,
        review: discord.TextChannel | None = None,
        moderators: discord.TextChannel | None = None,
        welcome: discord.TextChannel | None = None,
    ) -> None:
        """Set channels."""
        picked = {
            "announce_channel_id": announcements,
            "modlog_channel_id": modlog,
            "review_channel_id": review,
            "moderators_channel_id": moderators,
            "welcome_channel_id": welcome,
        }
        await self.apply(interaction, **{f: c.id for f, c in picked.items() if c is not None})

    @app_commands.command(
        name="defaults",
        description=_T("Set the default language, time zone, region, reminders and room timing"),
    )
    @app_commands.describe(
        timezone=_T("Default IANA time zone for new meetings, e.g. America/New_York"),
        region=_T("Region whose crisis lines /crisis shows: US, CA, GB, IE, AU or INTL"),
        reminder_offsets=_T("Default reminders before each meeting, e.g. 24h,15m"),
        room_open_minutes=_T("Minutes before a meeting its room opens (0-120)"),
        room_close_minutes=_T("Minutes after a meeting its room closes (0-240)"),
        clear_chat=_T("Clear a room's chat after each meeting closes"),
        native_events=_T("Mirror each meeting's next occurrence as a Discord event"),
        cancel_notices=_T("Post a notice when a single occurrence is cancelled"),
        language=_T(
            "Language of reminders, room cards and notices of new meetings, and the mod log"
        ),
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def defaults(
        self,
        interaction: discord.Interaction,
        timezone: str | None = None,
        region: str | None = None,
        reminder_offsets: str | None = None,
        room_open_minutes: app_commands.Range[int, 0, 120] | None = None,
        room_close_minutes: app_commands.Range[int, 0, 240] | None = None,
        clear_chat: bool | None = None,
        native_events: bool | None = None,
        cancel_notices: bool | None = None,
        language: LanguageArg | None = None,
    ) -> None:
        """Set defaults; every value is validated before anything is stored."""
        changes: dict[str, Any] = {}
        if language is not None:
            changes["language"] = parse_language(language)
        if timezone is not None:
            changes["timezone"] = parse_timezone(timezone)
        if region is not None:
            changes["region"] = parse_region(region)
        if reminder_offsets is not None:
            changes["reminder_offsets"] = ",".join(str(m) for m in parse_offsets(reminder_offsets))
        if room_open_minutes is not None:
            changes["room_open_minutes"] = room_open_minutes
        if room_close_minutes is not None:
            changes["room_close_minutes"] = room_close_minutes
        if clear_chat is not None:
            changes["room_clear_chat"] = clear_chat
        if native_events is not None:
            changes["native_events"] = native_events
        if cancel_notices is not None:
            changes["cancel_notices"] = cancel_notices
        await self.apply(interaction, **changes)

    @app_commands.command(name="show", description=_T("Show every Haven setting of this server"))
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def show(self, interaction: discord.Interaction) -> None:
        """Show settings."""
        assert interaction.guild_id is not None
        settings = await self.bot.services.guilds.get(interaction.guild_id)
        embed = settings_embed(settings)
        feeds = await self.bot.services.feeds.get(interaction.guild_id)
        if feeds is None:
            feed_text = _("off (`/setup feeds action:enable` publishes open meetings)")
        elif feeds.include_closed:
            feed_text = _("on · closed meetings included · token last rotated {day}")
        else:
            feed_text = _("on · closed meetings not included · token last rotated {day}")
        embed.add_field(
            name=_("Public feeds"),
            value=feed_text.format(day=f"{feeds.rotated_at:%Y-%m-%d}") if feeds else feed_text,
            inline=False,
        )
        embed.add_field(
            name=_("Instance key (whole bot)"),
            value=key_source_text(key_source(self.bot.services.settings)),
            inline=False,
        )
        await reply_ephemeral(interaction, embed=fit_embed(embed))

    @app_commands.command(
        name="onboarding",
        description=_T("Set the newcomer welcome and whether role requests need approval"),
    )
    @app_commands.describe(
        welcome=_T("Welcome newcomers: off, in the welcome channel (/setup channels), or by DM"),
        mention=_T("Name newcomers in the welcome channel (off: the welcome never names anyone)"),
        approval=_T("Role panel requests wait for Approve / Decline in the mod-log channel"),
    )
    @app_commands.choices(
        welcome=[
            app_commands.Choice(name=_T("off"), value="off"),
            app_commands.Choice(name=_T("in the welcome channel"), value="channel"),
            app_commands.Choice(name=_T("by direct message"), value="dm"),
        ]
    )
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def onboarding(
        self,
        interaction: discord.Interaction,
        welcome: str | None = None,
        mention: bool | None = None,
        approval: bool | None = None,
    ) -> None:
        """Set the welcome mode, naming newcomers, and role approval."""
        assert interaction.guild_id is not None
        settings = await self.bot.services.guilds.get(interaction.guild_id)
        if welcome == "channel" and settings.welcome_channel_id is None:
            await reply_ephemeral(
                interaction,
                _(
                    "Pick the welcome channel first with `/setup channels welcome:`, then run this "
                    "again. Nothing was changed."
                ),
            )
            return
        if approval and settings.modlog_channel_id is None:
            await reply_ephemeral(
                interaction,
                _(
                    "Role requests wait for moderators in the mod-log channel, and none is set: "
                    "run `/setup channels modlog:` first. Nothing was changed."
                ),
            )
            return
        changes: dict[str, Any] = {}
        if welcome is not None:
            changes["welcome_mode"] = welcome
        if mention is not None:
            changes["welcome_mention"] = mention
        if approval is not None:
            changes["role_approval"] = approval
        await self.apply(interaction, **changes)

    @app_commands.command(
        name="panel",
        description=_T("Post the role panel where peers choose their closed meetings"),
    )
    @app_commands.describe(channel=_T("Where to post the panel (posting again moves it)"))
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def panel(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        """Post the role panel (cogs/onboarding/panel.py does the work)."""
        # Without the onboarding extension nobody would answer the panel's buttons.
        if "cogs.onboarding" not in self.bot.extensions:
            await reply_ephemeral(interaction, _("Onboarding is not loaded on this bot."))
            return
        await post_panel(interaction, channel)

    @app_commands.command(
        name="feeds",
        description=_T("Publish open meetings as calendar and meeting-finder feeds"),
    )
    @app_commands.describe(
        action=_T(
            "enable: start publishing; disable: stop; rotate: new URLs, old ones stop working"
        ),
        include_closed=_T("Also publish closed meetings (default: only open meetings)"),
    )
    @app_commands.choices(
        action=[
            app_commands.Choice(name=_T("enable"), value="enable"),
            app_commands.Choice(name=_T("disable"), value="disable"),
            app_commands.Choice(name=_T("rotate"), value="rotate"),
        ]
    )
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def feeds(
        self,
        interaction: discord.Interaction,
        action: FeedAction,
        include_closed: bool | None = None,
    ) -> None:
        """Turn the public feeds on or off, or replace their URLs (cogs/feeds.py does the work)."""
        await run_setup_feeds(self.bot, interaction, action, include_closed)


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(SetupCog(bot))
