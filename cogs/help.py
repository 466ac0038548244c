"""/help: what the caller may do, and nothing they may not."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import current_locale, gettext_in
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from cogs._kit import COLOR, caller_level, command_level, fit_embed, truncate
from cogs._kit.i18n import _T, N_, _

_SECTION = {
    Level.PEER: N_("For everyone"),
    Level.FACILITATOR: N_("For facilitators"),
    Level.MODERATOR: N_("For moderators"),
}


def help_lines(tree: app_commands.CommandTree, level: Level) -> dict[Level, list[str]]:
    """Command lines grouped by the level they need, limited to what `level` may use.

    Descriptions are in the current locale (the same catalogue Discord's own list shows).
    """
    language = current_locale.get()
    grouped: dict[Level, list[str]] = {lvl: [] for lvl in Level}
    for cmd in tree.walk_commands():
        if isinstance(cmd, app_commands.Group):
            continue
        if cmd.extras.get("hidden"):
            continue
        needed = command_level(cmd)
        if needed <= level:
            described = gettext_in(language, cmd.description)
            grouped[needed].append(f"`/{cmd.qualified_name}` — {described}")
    return grouped


class HelpCog(commands.Cog):
    """The /help command."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description=_T("What Haven can do for you here"))
    async def help(self, interaction: discord.Interaction) -> None:
        """List commands the caller may use."""
        level = await caller_level(interaction)
        grouped = help_lines(self.bot.tree, level)
        embed = discord.Embed(
            title="Haven",  # i18n: keep
            description=_(
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
                        name=f"{_(_SECTION[lvl])} ({part})", value="\n".join(chunk), inline=False
                    )
                    chunk, part = [], part + 1
                chunk.append(truncate(line, 1000))
            name = _(_SECTION[lvl]) if part == 1 else f"{_(_SECTION[lvl])} ({part})"
            embed.add_field(name=name, value="\n".join(chunk), inline=False)
        embed.set_footer(text=_("You are seen here as: {level}").format(level=level.label))
        await reply_ephemeral(interaction, embed=fit_embed(embed))


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(HelpCog(bot))
