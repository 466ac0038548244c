"""The onboarding cog: answers the persistent buttons and welcomes newcomers."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.runtime.app import HavenBot
from bot.services.onboarding import welcome_for
from cogs._kit.i18n import _, use_locale
from cogs.onboarding.render import welcome_embed
from cogs.onboarding.views import DecisionButton, RoleButton

log = logging.getLogger(__name__)


class OnboardingCog(commands.Cog, name="onboarding"):
    """The role panel, role requests and the newcomer welcome."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Make the panel and request buttons answer, including on messages sent before a restart."""
        self.bot.add_dynamic_items(RoleButton, DecisionButton)

    async def cog_unload(self) -> None:
        """Stop answering the buttons."""
        self.bot.remove_dynamic_items(RoleButton, DecisionButton)

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
        with use_locale(settings.language):  # a guild post, in the guild's language
            embed = welcome_embed(member.guild, welcome)
            greeting = _("Welcome, {mention}!").format(mention=member.mention)
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
            content = greeting if welcome.mention else None
            await channel.send(content=content, embed=embed)
        except discord.HTTPException as exc:
            log.info("welcome not delivered (%s): HTTP %s", welcome.mode, exc.status)
