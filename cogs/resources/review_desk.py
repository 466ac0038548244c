"""The moderators' desk in Discord: where cards are reviewed, stale flags and the mod log."""

from __future__ import annotations

import logging

import discord

from bot.models.resources import Card, Status
from bot.runtime.app import HavenBot
from cogs._kit import bot_of, escape, modlog_embed
from cogs.resources.render import review_embed, stale_embed

log = logging.getLogger(__name__)


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
        try:
            await channel.send(embed=stale_embed(cards))
        except discord.HTTPException as exc:
            log.warning("could not flag stale cards: HTTP %s", exc.status)


async def close_review_message(bot: HavenBot, card: Card, heading: str) -> None:
    """Take the buttons off a card's earlier review message and say what happened."""
    if not (card.review_channel_id and card.review_message_id):
        return
    channel = bot.get_channel(card.review_channel_id)
    if not isinstance(channel, discord.TextChannel | discord.Thread):
        return
    try:
        await channel.get_partial_message(card.review_message_id).edit(
            embed=review_embed(card, bot.services.resources.today(), heading), view=None
        )
    except discord.HTTPException as exc:
        log.info("could not update a review message: HTTP %s", exc.status)


async def after_review(interaction: discord.Interaction, card: Card, title: str) -> None:
    """Close the review message (no more buttons) and write the mod log."""
    assert interaction.guild_id is not None
    bot = bot_of(interaction)
    await close_review_message(bot, card, title)
    fields = {"card": f"{escape(card.title)} (`{card.id}`)"}
    if card.status is Status.APPROVED:
        fields["source"] = card.source_url or "—"
        fields["verified_on"] = card.verified_on.isoformat() if card.verified_on else "—"
    await bot.post_modlog(
        interaction.guild_id, modlog_embed(title, interaction.user, bot.clock.now(), **fields)
    )


async def log_change(interaction: discord.Interaction, title: str, card: Card) -> None:
    """Write a card change to the mod log."""
    assert interaction.guild_id is not None
    bot = bot_of(interaction)
    await bot.post_modlog(
        interaction.guild_id,
        modlog_embed(
            title, interaction.user, bot.clock.now(), card=f"{escape(card.title)} (`{card.id}`)"
        ),
    )
