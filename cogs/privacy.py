"""/privacy: what Haven stores, and forget-me."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from cogs._kit import COLOR, Choice, ConfirmView, fit_embed

PRIVACY_TEXT = (
    "**What Haven never stores**\n"
    "• Who attended a meeting. Check-ins are counted with a one-time key held only in memory; "
    "when the meeting closes only the number remains.\n"
    "• The text of your messages. Haven does not read message content and never logs what you "
    "type.\n\n"
    "**What Haven stores about you, and why**\n"
    "{stores}\n\n"
    "**What Discord itself shows**\n"
    "People in a voice or text room can see who else is there; that is Discord, not Haven.\n\n"
    "Use `/privacy forget-me` to delete everything Haven keeps keyed to you, in every server, "
    "except a room removal (it ends when the room closes). "
    "When you leave a server, the same happens for that server."
)

_DEFAULT_STORES = [
    "Server settings name roles and channels, never members.",
]
FORGET_TIMEOUT = 180.0  # seconds the Forget me / Cancel buttons stay usable


class PrivacyCog(commands.GroupCog, name="privacy", description="What Haven stores about you"):
    """The /privacy commands."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        name="info", description="What Haven stores about you, and what it never stores"
    )
    async def info(self, interaction: discord.Interaction) -> None:
        """Explain storage plainly."""
        stores = _DEFAULT_STORES + self.bot.services.privacy.describe()
        text = PRIVACY_TEXT.format(stores="\n".join(f"• {s}" for s in stores))
        embed = discord.Embed(title="Your privacy on Haven", description=text, colour=COLOR)
        await reply_ephemeral(interaction, embed=fit_embed(embed))

    @app_commands.command(
        name="forget-me", description="Delete everything Haven keeps keyed to you"
    )
    async def forget_me(self, interaction: discord.Interaction) -> None:
        """Ask for confirmation, then delete."""
        view = ConfirmView(
            interaction.user.id,
            [Choice("Forget me", "forget")],
            self._forget,
            cancelled="Nothing was deleted.",
            prefix="haven-forget",
            timeout=FORGET_TIMEOUT,
        )
        await view.send(
            interaction,
            "This deletes everything Haven keeps keyed to you in every server: reminder "
            "subscriptions, facilitator assignments and open conversations with moderators. If a "
            "moderator removed you from a meeting room, that removal stays until the room closes: "
            "forget-me does not lift it. It cannot be undone.",
        )

    async def _forget(self, interaction: discord.Interaction, key: str) -> None:
        """Run forget-me for whoever confirmed (only the requester can press)."""
        count = await self.bot.services.privacy.forget_user(interaction.user.id)
        await interaction.response.edit_message(
            content=(
                f"Done. I deleted {count} record{'s' if count != 1 else ''} keyed to you "
                "(subscriptions, facilitator roles on meetings, and anything else tied to your "
                "account). Attendance was never stored against you."
            ),
            view=None,
        )


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(PrivacyCog(bot))
