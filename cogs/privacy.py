"""/privacy: what Haven stores, and forget-me."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from cogs._kit import COLOR, Choice, ConfirmView, fit_embed
from cogs._kit.i18n import _T, N_, _, ngettext

log = logging.getLogger(__name__)

PRIVACY_TEXT = N_(
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
    N_("Server settings name roles and channels, never members."),
]
FORGET_TIMEOUT = 180.0  # seconds the Forget me / Cancel buttons stay usable


class PrivacyCog(commands.GroupCog, name="privacy", description=_T("What Haven stores about you")):
    """The /privacy commands."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Keep the language a person's DMs are written in the one they now use Haven in."""
        try:
            await self.bot.services.reminders.note_locale(
                interaction.user.id, str(interaction.locale)
            )
        except Exception as exc:  # never in the way of the interaction itself
            log.warning("could not refresh a subscriber's language: %s", type(exc).__name__)

    @app_commands.command(
        name="info", description=_T("What Haven stores about you, and what it never stores")
    )
    async def info(self, interaction: discord.Interaction) -> None:
        """Explain storage plainly, in the reader's language."""
        stores = _DEFAULT_STORES + self.bot.services.privacy.describe()
        text = _(PRIVACY_TEXT).format(stores="\n".join(f"• {_(s)}" for s in stores))
        embed = discord.Embed(title=_("Your privacy on Haven"), description=text, colour=COLOR)
        await reply_ephemeral(interaction, embed=fit_embed(embed))

    @app_commands.command(
        name="forget-me", description=_T("Delete everything Haven keeps keyed to you")
    )
    async def forget_me(self, interaction: discord.Interaction) -> None:
        """Ask for confirmation, then delete."""
        view = ConfirmView(
            interaction.user.id,
            [Choice(_("Forget me"), "forget")],
            self._forget,
            cancelled=_("Nothing was deleted."),
            prefix="haven-forget",
            timeout=FORGET_TIMEOUT,
        )
        await view.send(
            interaction,
            _(
                "This deletes everything Haven keeps keyed to you in every server: reminder "
                "subscriptions, facilitator assignments and open conversations with moderators. "
                "If a moderator removed you from a meeting room, that removal stays until the room "
                "closes: forget-me does not lift it. It cannot be undone."
            ),
        )

    async def _forget(self, interaction: discord.Interaction, key: str) -> None:
        """Run forget-me for whoever confirmed (only the requester can press)."""
        count = await self.bot.services.privacy.forget_user(interaction.user.id)
        await interaction.response.edit_message(
            content=ngettext(
                "Done. I deleted {count} record keyed to you (subscriptions, facilitator roles on "
                "meetings, and anything else tied to your account). Attendance was never stored "
                "against you.",
                "Done. I deleted {count} records keyed to you (subscriptions, facilitator roles on "
                "meetings, and anything else tied to your account). Attendance was never stored "
                "against you.",
                count,
            ).format(count=count),
            view=None,
        )


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(PrivacyCog(bot))
