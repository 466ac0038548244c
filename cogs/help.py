"""/help: what the caller may do, and nothing they may not."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from cogs._kit import COLOR, caller_level, command_level, fit_embed, truncate

_SECTION = {
    Level.PEER: "For everyone",
    Level.FACILITATOR: "For facilitators",
    Level.MODERATOR: "For moderators",
}


def help_lines(tree: app_commands.CommandTree, level: Level) -> dict[Level, list[str]]:
    """Command lines grouped by the level they need, limited to what `level` may use."""
    grouped: dict[Level, list[str]] = {lvl: [] for lvl in Level}
    for cmd in tree.walk_commands():
        if isinstance(cmd, app_commands.Group):
            continue
        if cmd.extras.get("hidden"):
            continue
        needed = command_level(cmd)
        if needed <= level:
            grouped[needed].append(f"`/{cmd.qualified_name}` — {cmd.description}")
    return grouped


class HelpCog(commands.Cog):
    """The /help command."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What Haven can do for you here")
    async def help(self, interaction: discord.Interaction) -> None:
        """List commands the caller may use."""
        level = await caller_level(interaction)
        grouped = help_lines(self.bot.tree, level)
        embed = discord.Embed(
            title="Haven",
            description=(
                "Haven schedules meetings, reminds you, opens meeting rooms and keeps attendance "
                "anonymous. If you need help right now, use `/crisis`."
            ),
            colour=COLOR,
        )
        for lvl in Level:
            lines = sorted(grouped[lvl])
            if not lines:
                continue
            chunk: list[str] = []
            part = 1
            for line in lines:
                if sum(len(x) + 1 for x in chunk) + len(line) > 1000:
                    embed.add_field(
                        name=f"{_SECTION[lvl]} ({part})", value="\n".join(chunk), inline=False
                    )
                    chunk, part = [], part + 1
                chunk.append(truncate(line, 1000))
            name = _SECTION[lvl] if part == 1 else f"{_SECTION[lvl]} ({part})"
            embed.add_field(name=name, value="\n".join(chunk), inline=False)
        embed.set_footer(text=f"You are seen here as: {level.label}")
        await reply_ephemeral(interaction, embed=fit_embed(embed))


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(HelpCog(bot))
