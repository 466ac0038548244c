"""The moderators' desk in Discord: where cards are reviewed, stale flags and the mod log."""

from __future__ import annotations

import logging

import discord

from bot.models.resources import Card, Status
from bot.runtime.app import HavenBot
from cogs._kit import bot_of, escape, modlog_embed
from cogs._kit.i18n import _, use_locale
from cogs.resources.render import review_embed, stale_embed

log = logging.getLogger(__name__)


async def guild_language(bot: HavenBot, guild_id: int) -> str:
    """The language of the guild's own posts (review desk, stale flags, mod log)."""
    return (await bot.services.guilds.get(guild_id)).language


async def moderator_channel(bot: HavenBot, guild_id: int) -> discord.abc.Messageable | None:
    """The review channel, else the mod-log channel, if the bot can use one."""
    settings = await bot.services.guilds.get(guild_id)
    for channel_id in (settings.review_channel_id, settings.modlog_channel_id):
        if channel_id is None:
            continue
        channel = bot.get_channel(channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
    return None


class DiscordReviewDesk:
    """ReviewDesk for discord.py: the bot's guilds, and the weekly stale-card note."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    def guild_ids(self) -> list[int]:
        """The guilds the bot is in now."""
        return [guild.id for guild in self.bot.guilds]

    async def flag_stale(self, guild_id: int, cards: list[Card]) -> None:
        """Post the stale cards where the guild's moderators review (if there is such a place)."""
        channel = await moderator_channel(self.bot, guild_id)
        if channel is None:
            return
        with use_locale(await guild_language(self.bot, guild_id)):
            embed = stale_embed(cards)
        try:
            await channel.send(embed=embed)
        except discord.HTTPException as exc:
            log.warning("could not flag stale cards: HTTP %s", exc.status)


async def close_review_message(bot: HavenBot, card: Card, heading: str) -> None:
    """Take the buttons off a card's earlier review message and say what happened.

    `heading` is an `N_`-marked text, rendered in the guild's language like the message itself.
    """
    if not (card.review_channel_id and card.review_message_id):
        return
    channel = bot.get_channel(card.review_channel_id)
    if not isinstance(channel, discord.TextChannel | discord.Thread):
        return
    with use_locale(await guild_language(bot, channel.guild.id)):
        embed = review_embed(card, bot.services.resources.today(), _(heading))
    try:
        await channel.get_partial_message(card.review_message_id).edit(embed=embed, view=None)
    except discord.HTTPException as exc:
        log.info("could not update a review message: HTTP %s", exc.status)


async def after_review(interaction: discord.Interaction, card: Card, title: str) -> None:
    """Close the review message (no more buttons) and write the mod log (`title` is N_-marked)."""
    assert interaction.guild_id is not None
    bot = bot_of(interaction)
    await close_review_message(bot, card, title)
    fields = {"card": f"{escape(card.title)} (`{card.id}`)"}
    if card.status is Status.APPROVED:
        fields["source"] = card.source_url or "—"
        fields["verified_on"] = card.verified_on.isoformat() if card.verified_on else "—"
    with use_locale(await guild_language(bot, interaction.guild_id)):
        embed = modlog_embed(_(title), interaction.user, bot.clock.now(), **fields)
    await bot.post_modlog(interaction.guild_id, embed)


async def log_change(interaction: discord.Interaction, title: str, card: Card) -> None:
    """Write a card change to the mod log, in the guild's language (`title` is N_-marked)."""
    assert interaction.guild_id is not None
    bot = bot_of(interaction)
    with use_locale(await guild_language(bot, interaction.guild_id)):
        embed = modlog_embed(
            _(title), interaction.user, bot.clock.now(), card=f"{escape(card.title)} (`{card.id}`)"
        )
    await bot.post_modlog(interaction.guild_id, embed)
