"""/crisis: always answers, privately, from the shipped crisis cards held in memory.

No database read on this path: the region comes from the in-memory settings cache and the cards
are taken once at cog load, so /crisis still answers when the database is locked, closed or broken.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import current_locale
from bot.models.resources import Card
from bot.runtime.app import HavenBot
from bot.services.card_drafts import NA_DISCLAIMER
from bot.services.shipped_cards import EMERGENCY_NUMBERS, crisis_cards_for, known_region
from cogs._kit import COLOR_ALERT, escape, fit_embed, truncate
from cogs._kit.i18n import _T, N_, _
from cogs.resources.render import IN_ENGLISH

log = logging.getLogger(__name__)

REGION_NAMES: dict[str, str] = {
    "US": N_("United States"),
    "CA": N_("Canada"),
    "GB": N_("United Kingdom"),
    "IE": N_("Ireland"),
    "AU": N_("Australia"),
    "intl": N_("elsewhere"),
}
# "Outside the United States?" / "Outside Canada?": English needs "the" for some names.
_OUTSIDE = {
    "US": N_("Outside the United States?"),
    "CA": N_("Outside Canada?"),
    "GB": N_("Outside the United Kingdom?"),
    "IE": N_("Outside Ireland?"),
    "AU": N_("Outside Australia?"),
}
_REGION_ORDER = ("US", "CA", "GB", "IE", "AU")
NO_ADVICE = N_("Haven gives no medical advice. These services are run by others; they are free.")


def fallback_text() -> str:
    """What /crisis says if no card could be loaded at all: still the emergency numbers."""
    return _(
        "If someone may be dying or is not breathing, call your local emergency number now: "
        "{numbers}."
    ).format(numbers=", ".join(f"{EMERGENCY_NUMBERS[r]} ({r})" for r in _REGION_ORDER))


#: The fallback in English (kept for callers that show it before any locale is known).
FALLBACK = fallback_text()


def emergency_sentence(region: str | None) -> str:
    """'If someone may be dying or is not breathing, call 911 now.' for a region."""
    if region is None or region == "intl":
        return _(
            "If someone may be dying or is not breathing, call your local emergency number now "
            "({numbers})."
        ).format(numbers=", ".join(f"{r} {EMERGENCY_NUMBERS[r]}" for r in _REGION_ORDER))
    return _("If someone may be dying or is not breathing, call {number} now.").format(
        number=EMERGENCY_NUMBERS[region]
    )


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


def _in_reader_language(card: Card) -> tuple[Card, str]:
    """The card in the reader's language where its text there is sourced, else English + a note.

    Crisis text is never machine-translated: a card without a sourced Spanish text stays English.
    """
    language = current_locale.get()
    shown = card.in_language(language)
    in_english = shown.language is not None and shown.language != language
    return shown, (" " + _(IN_ENGLISH) if in_english else "")


def crisis_embed(cards: dict[str, Card], region: str | None) -> discord.Embed:
    """The crisis answer in the reader's language: this region's lines, or every region's."""
    embed = discord.Embed(title=_("Crisis support"), colour=COLOR_ALERT)
    if not cards:
        embed.description = fallback_text()
        embed.set_footer(text=_(NO_ADVICE))
        return embed
    if region is None:
        embed.description = "**{sentence}**\n\n{lines}".format(
            sentence=emergency_sentence(None),
            lines=_(
                "Free lines by country (a moderator can set this server's region with "
                "`/setup defaults region:`):"
            ),
        )
        for code in _REGION_ORDER:
            chosen = [c for c in crisis_cards_for(cards, code) if c.region == code]
            if not chosen:
                continue
            lines = []
            for card in chosen:
                shown, note = _in_reader_language(card)
                lines.append(f"**{escape(shown.title)}**: {primary_contact(shown)}{note}")
            embed.add_field(
                name=_("{country} (emergency {number})").format(
                    country=_(REGION_NAMES[code]), number=EMERGENCY_NUMBERS[code]
                ),
                value=truncate("\n".join(lines), 1024),
                inline=False,
            )
    else:
        embed.description = f"**{emergency_sentence(region)}**"
        for card in crisis_cards_for(cards, region):
            shown, note = _in_reader_language(card)
            value = "{summary}\n{contacts}\n{vetting}".format(
                summary=escape(shown.summary) + note,
                contacts=contact_lines(shown),
                vetting=_("Source: <{url}> · last verified on {day}").format(
                    url=shown.source_url, day=shown.verified_on
                ),
            )
            if card.disclaimer and NA_DISCLAIMER in card.disclaimer:  # its sourced translation
                own = shown.disclaimer if shown.language != card.language else None
                value += f"\n{escape(own) if own else NA_DISCLAIMER}"
            embed.add_field(
                name=truncate(shown.title, 256), value=truncate(value, 1024), inline=False
            )
        others = [
            f"{_(REGION_NAMES[code])}: {EMERGENCY_NUMBERS[code]}"
            for code in _REGION_ORDER
            if code != region
        ]
        embed.add_field(
            name=_(_OUTSIDE[region]) if region in _OUTSIDE else _(REGION_NAMES["intl"]),
            value=_(
                "Call your local emergency number ({numbers}). Use `/resource list tag:crisis` "
                "to see lines for other countries."
            ).format(numbers="; ".join(others)),
            inline=False,
        )
    embed.set_footer(text=_(NO_ADVICE))
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

    @app_commands.command(
        name="crisis", description=_T("Crisis lines and what to do in an emergency")
    )
    async def crisis(self, interaction: discord.Interaction) -> None:
        """Always answer, privately, even if the database is down."""
        try:
            embed = crisis_embed(self.cards, self.region_for(interaction.guild_id))
        except Exception:
            log.exception("could not build the crisis answer; sending the fallback")
            embed = discord.Embed(
                title=_("Crisis support"), description=fallback_text(), colour=COLOR_ALERT
            )
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(CrisisCog(bot))
