"""Owner-only maintenance commands and background housekeeping."""

from __future__ import annotations

import logging
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.runtime.app import HavenBot
from bot.runtime.tree import Refused, reply_ephemeral
from cogs._kit.i18n import _T, _, ngettext

log = logging.getLogger(__name__)


class AdminCog(commands.Cog):
    """/sync for the bot's owner, and the purge of guilds the bot left long ago."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Start housekeeping."""
        self.purge_departed.start()

    async def cog_unload(self) -> None:
        """Stop housekeeping."""
        self.purge_departed.cancel()

    async def purge_departed_guilds(self) -> int:
        """Purge data of guilds the bot left more than the grace period ago."""
        grace = timedelta(days=self.bot.services.settings.guild_purge_days)
        purged = 0
        for guild_id in await self.bot.services.guilds.departed_before(grace):
            if self.bot.get_guild(guild_id) is not None:
                await self.bot.services.guilds.mark_returned(guild_id)
                continue
            await self.bot.services.privacy.purge_guild(guild_id)
            self.bot.services.guilds.forget_cache(guild_id)
            purged += 1
        return purged

    @tasks.loop(hours=6)
    async def purge_departed(self) -> None:
        """Every few hours, purge what the grace period allows."""
        try:
            count = await self.purge_departed_guilds()
            if count:
                log.info("Purged the data of %d departed guilds", count)
        except Exception:
            log.exception("guild purge failed")

    @purge_departed.before_loop
    async def _wait_for_the_gateway(self) -> None:
        """Purge only once the gateway cache is filled: before, every guild looks gone."""
        await self.bot.wait_until_ready()

    @app_commands.command(
        name="sync",
        description=_T("Owner only: sync Haven's slash commands"),
        extras={"hidden": True},
    )
    @app_commands.default_permissions(administrator=True)
    @app_commands.guild_only()
    async def sync(self, interaction: discord.Interaction) -> None:
        """Sync commands at run time."""
        owners = self.bot.services.settings.owner_id_set
        if interaction.user.id not in owners and not await self.bot.is_owner(interaction.user):
            raise Refused(_("Only the bot's owner can sync commands."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        count = await self.bot.sync_commands()
        await reply_ephemeral(
            interaction,
            ngettext("Synced {count} command.", "Synced {count} commands.", count).format(
                count=count
            ),
        )


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(AdminCog(bot))
