"""/crisis: always answers, privately, from the shipped crisis cards held in memory.

No database read on this path: the region comes from the in-memory settings cache and the cards
are taken once at cog load, so /crisis still answers when the database is locked, closed or broken.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.models.resources import Card
from bot.runtime.app import HavenBot
from bot.services.resources import NA_DISCLAIMER
from bot.services.shipped_cards import EMERGENCY_NUMBERS, crisis_cards_for, known_region
from cogs._kit import COLOR_ALERT, escape, fit_embed, truncate

log = logging.getLogger(__name__)

REGION_NAMES: dict[str, str] = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "AU": "Australia",
    "intl": "elsewhere",
}
_REGION_ORDER = ("US", "CA", "GB", "IE", "AU")
NO_ADVICE = "Haven gives no medical advice. These services are run by others; they are free."

#: What /crisis says if no card could be loaded at all: still the emergency numbers.
FALLBACK = (
    "If someone may be dying or is not breathing, call your local emergency number now: "
    + ", ".join(f"{EMERGENCY_NUMBERS[r]} ({r})" for r in _REGION_ORDER)
    + "."
)


def emergency_sentence(region: str | None) -> str:
    """'If someone may be dying or is not breathing, call 911 now.' for a region."""
    if region is None or region == "intl":
        return (
            "If someone may be dying or is not breathing, call your local emergency number now ("
            + ", ".join(f"{r} {EMERGENCY_NUMBERS[r]}" for r in _REGION_ORDER)
            + ")."
        )
    return f"If someone may be dying or is not breathing, call {EMERGENCY_NUMBERS[region]} now."


def primary_contact(card: Card) -> str:
    """The card's first contact, compactly (e.g. 'Call 988')."""
    c = card.contacts[0]
    if c.label:
        return f"{escape(c.label)}: {c.value if c.kind in ('url', 'chat') else escape(c.value)}"
    return c.value if c.kind in ("url", "chat") else escape(c.value)


def contact_lines(card: Card) -> str:
    """Every contact of a card, one per line."""
    lines = []
    for c in card.contacts:
        value = c.value if c.kind in ("url", "chat") else f"**{escape(c.value)}**"
        lines.append(f"{escape(c.label)}: {value}" if c.label else value)
    return "\n".join(lines)


def crisis_embed(cards: dict[str, Card], region: str | None) -> discord.Embed:
    """The crisis answer: this region's lines in full, or every region compactly."""
    embed = discord.Embed(title="Crisis support", colour=COLOR_ALERT)
    if not cards:
        embed.description = FALLBACK
        embed.set_footer(text=NO_ADVICE)
        return embed
    if region is None:
        embed.description = (
            f"**{emergency_sentence(None)}**\n\n"
            "Free lines by country (a moderator can set this server's region with "
            "`/setup defaults region:`):"
        )
        for code in _REGION_ORDER:
            chosen = [c for c in crisis_cards_for(cards, code) if c.region == code]
            if not chosen:
                continue
            lines = [f"**{escape(c.title)}**: {primary_contact(c)}" for c in chosen]
            embed.add_field(
                name=f"{REGION_NAMES[code]} (emergency {EMERGENCY_NUMBERS[code]})",
                value=truncate("\n".join(lines), 1024),
                inline=False,
            )
    else:
        embed.description = f"**{emergency_sentence(region)}**"
        for card in crisis_cards_for(cards, region):
            value = (
                f"{escape(card.summary)}\n{contact_lines(card)}\n"
                f"Source: <{card.source_url}> · last verified on {card.verified_on}"
            )
            if card.disclaimer and NA_DISCLAIMER in card.disclaimer:
                value += f"\n{NA_DISCLAIMER}"
            embed.add_field(
                name=truncate(card.title, 256), value=truncate(value, 1024), inline=False
            )
        others = [
            f"{REGION_NAMES[code]}: {EMERGENCY_NUMBERS[code]}"
            for code in _REGION_ORDER
            if code != region
        ]
        embed.add_field(
            name=f"Outside the {REGION_NAMES.get(region, region)}?"
            if region in ("US", "GB")
            else f"Outside {REGION_NAMES.get(region, region)}?",
            value=(
                "Call your local emergency number ("
                + "; ".join(others)
                + "). Use `/resource list tag:crisis` to see lines for other countries."
            ),
            inline=False,
        )
    embed.set_footer(text=NO_ADVICE)
    return fit_embed(embed)


class CrisisCog(commands.Cog):
    """The /crisis command."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        self.cards: dict[str, Card] = {}

    async def cog_load(self) -> None:
        """Take the shipped cards once; nothing on the command's path touches the database."""
        try:
            self.cards = {
                cid: c for cid, c in self.bot.services.resources.shipped.items() if c.is_crisis
            }
        except Exception:
            log.exception("crisis cards unavailable; /crisis will show emergency numbers only")
            self.cards = {}

    def region_for(self, guild_id: int | None) -> str | None:
        """The guild's region from memory only (None when unset, worldwide or unknown)."""
        if guild_id is None:
            return None
        settings = self.bot.services.guilds.cached(guild_id)
        region = known_region(settings.region if settings is not None else None)
        return None if region == "intl" else region  # no worldwide crisis card: show every country

    @app_commands.command(name="crisis", description="Crisis lines and what to do in an emergency")
    async def crisis(self, interaction: discord.Interaction) -> None:
        """Always answer, privately, even if the database is down."""
        try:
            embed = crisis_embed(self.cards, self.region_for(interaction.guild_id))
        except Exception:
            log.exception("could not build the crisis answer; sending the fallback")
            embed = discord.Embed(title="Crisis support", description=FALLBACK, colour=COLOR_ALERT)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(CrisisCog(bot))
