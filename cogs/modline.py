"""/moderators: the anonymous line to moderators. Thin glue over ModLineService.

Peers write with `/moderators message`; Haven posts it in a private thread of the moderators'
channel under a pseudonym. Haven has no Message Content intent, so moderators answer with
`/moderators reply` inside that thread and Haven relays the answer by DM. Close and Block are
buttons on each relayed message.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from bot.services.modline import Conversation
from cogs._kit import (
    ID,
    Field,
    PersistentButton,
    bot_of,
    ensure_level,
    escape,
    modlog_embed,
    requires,
    services_of,
    truncate,
)
from cogs._kit.i18n import _T, _

log = logging.getLogger(__name__)

THREAD_ADD_MAX = 25  # moderators added to a new private thread (others see it via Manage Threads)
CONTENT_MAX = 2000  # Discord's limit; escaping and neutralising can double a message's length


def _line_view(conversation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(LineActionButton("close", conversation_id))
    view.add_item(LineActionButton("block", conversation_id))
    return view


async def _end_thread(thread: object, note: str) -> None:
    """Post a last line in the thread, then lock and archive it (best effort)."""
    if not isinstance(thread, discord.Thread):
        return
    try:
        await thread.send(note)
        await thread.edit(archived=True, locked=True)
    except discord.HTTPException as exc:
        log.warning("could not close a moderator-line thread: HTTP %s", exc.status)


class LineActionButton(
    PersistentButton,
    prefix="haven:modline",
    fields={"action": Field("close|block"), "conversation_id": ID},
):
    """Close or Block on a relayed message: moderators only; reveals nobody."""

    action: str
    conversation_id: int

    def __init__(self, action: str, conversation_id: int) -> None:
        block = action == "block"
        super().__init__(
            action,
            conversation_id,
            label=_("Block this person") if block else _("Close conversation"),
            style=discord.ButtonStyle.danger if block else discord.ButtonStyle.secondary,
        )

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Close the conversation (mapping deleted), or block the person behind it."""
        await ensure_level(
            interaction, Level.MODERATOR, _("Only moderators can close or block a conversation.")
        )
        assert interaction.guild_id is not None
        services = services_of(interaction)
        conv = await services.modline.by_id(self.conversation_id)
        if conv is None or conv.guild_id != interaction.guild_id:
            await reply_ephemeral(interaction, _("This conversation is already closed."))
            return
        bot = bot_of(interaction)
        thread = bot.get_channel(conv.thread_id)
        who = interaction.user.display_name
        if self.action == "close":
            user_id = await services.modline.close(conv)
            await reply_ephemeral(
                interaction,
                _("Closed. The link between {pseudonym} and a person is deleted.").format(
                    pseudonym=conv.pseudonym
                ),
            )
            if user_id is not None:
                await _dm(
                    bot,
                    user_id,
                    _(
                        "The moderators of **{server}** closed your anonymous conversation. You "
                        "can start a new one any time with `/moderators message`."
                    ).format(server=escape(interaction.guild.name if interaction.guild else "")),
                )
            await _end_thread(
                thread,
                _("🔒 Closed by {name}. Haven deleted the link to the person.").format(
                    name=escape(who)
                ),
            )
            return
        await services.modline.block(conv)
        await reply_ephemeral(
            interaction,
            _(
                "Blocked. {pseudonym} can no longer write to the moderators; nobody can read who "
                "it is (Haven keeps only a keyed hash)."
            ).format(pseudonym=conv.pseudonym),
        )
        await _end_thread(thread, _("⛔ Blocked by {name}.").format(name=escape(who)))
        await bot.post_modlog(
            interaction.guild_id,
            modlog_embed(
                _("Anonymous line: person blocked"),
                interaction.user,
                services.clock.now(),
                pseudonym=conv.pseudonym,
                note=_("Only a keyed hash is kept; nobody can read who it is."),
            ),
        )


async def _dm(bot: HavenBot, user_id: int, content: str) -> bool:
    """Send a DM; False when the person cannot be reached."""
    try:
        user = bot.get_user(user_id) or await bot.fetch_user(user_id)
        await user.send(content, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException as exc:
        log.info("a moderator-line DM could not be delivered: HTTP %s", exc.status)
        return False
    return True


class ModeratorsCog(
    commands.GroupCog, name="moderators", description=_T("Talk to the moderators anonymously")
):
    """/moderators message and /moderators reply."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        self._opening = asyncio.Lock()
        super().__init__()

    @app_commands.command(
        name="message", description=_T("Write to the moderators anonymously (they answer by DM)")
    )
    @app_commands.describe(
        text=_T("Your message; moderators see it under a pseudonym, not your name")
    )
    @app_commands.guild_only()
    async def message(self, interaction: discord.Interaction, text: str) -> None:
        """Open or continue this person's conversation and post the message there."""
        assert interaction.guild is not None
        guild = interaction.guild
        modline = self.bot.services.modline
        body = modline.peer_message(text)
        settings = await self.bot.services.guilds.get(guild.id)
        channel = (
            guild.get_channel(settings.moderators_channel_id)
            if settings.moderators_channel_id
            else None
        )
        if not isinstance(channel, discord.TextChannel):
            raise UserFacingError(
                _(
                    "This server has not set up the anonymous line yet. A moderator can choose "
                    "its channel with `/setup channels moderators:`."
                )
            )
        modline.admit(guild.id, interaction.user.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self._opening:
            conv, thread = await self._conversation(interaction, channel)
        try:
            await thread.send(
                truncate(f"**{conv.pseudonym}:**\n{escape(body)}", CONTENT_MAX),
                view=_line_view(conv.id),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.warning("could not post to a moderator-line thread: HTTP %s", exc.status)
            raise UserFacingError(
                _("I couldn't deliver your message to the moderators. Please try again later.")
            ) from None
        await reply_ephemeral(
            interaction,
            _(
                "Sent to the moderators as **{pseudonym}**; they don't see your name. They'll "
                "answer by DM from Haven, so keep DMs from this server open. Write again with "
                "`/moderators message` to continue."
            ).format(pseudonym=conv.pseudonym),
        )

    async def _conversation(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> tuple[Conversation, discord.Thread]:
        """The caller's open conversation and its thread, opening both when needed."""
        modline = self.bot.services.modline
        guild = channel.guild
        opening = await modline.begin(guild.id, interaction.user.id)
        if opening.conversation is not None:
            existing = guild.get_thread(opening.conversation.thread_id)
            if existing is None:
                try:
                    fetched = await guild.fetch_channel(opening.conversation.thread_id)
                    existing = fetched if isinstance(fetched, discord.Thread) else None
                except discord.HTTPException:
                    existing = None
            if existing is not None and not existing.locked:
                return opening.conversation, existing
            # The thread is gone or locked: start afresh under a new pseudonym.
            await modline.close(opening.conversation)
            opening = await modline.begin(guild.id, interaction.user.id)
        try:
            thread = await channel.create_thread(
                name=opening.pseudonym,
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=10080,
            )
        except discord.HTTPException as exc:
            log.warning("could not open a moderator-line thread: HTTP %s", exc.status)
            raise UserFacingError(
                _(
                    "I couldn't open a private thread in the moderators' channel (I need Create "
                    "Private Threads there). Please tell a moderator."
                )
            ) from None
        conv = await modline.register(guild.id, interaction.user.id, opening.pseudonym, thread.id)
        await self._invite_moderators(thread)
        try:
            await channel.send(
                _(
                    "📨 New anonymous conversation from **{pseudonym}**: <#{thread_id}>. "
                    "Answer with `/moderators reply` inside the thread."
                ).format(pseudonym=conv.pseudonym, thread_id=thread.id)
            )
        except discord.HTTPException as exc:
            log.warning("could not announce a moderator-line thread: HTTP %s", exc.status)
        return conv, thread

    async def _invite_moderators(self, thread: discord.Thread) -> None:
        settings = await self.bot.services.guilds.get(thread.guild.id)
        role = thread.guild.get_role(settings.moderator_role_id or 0)
        if role is None:
            return
        for member in [m for m in role.members if not m.bot][:THREAD_ADD_MAX]:
            try:
                await thread.add_user(member)
            except discord.HTTPException as exc:
                log.warning("could not add a moderator to a thread: HTTP %s", exc.status)

    @app_commands.command(
        name="reply", description=_T("Answer an anonymous conversation (use inside its thread)")
    )
    @app_commands.describe(text=_T("Your answer; Haven sends it to the person by DM"))
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def reply(self, interaction: discord.Interaction, text: str) -> None:
        """Relay a moderator's answer to the person behind this thread, by DM."""
        modline = self.bot.services.modline
        body = modline.clean_message(text)
        thread = interaction.channel
        conv = await modline.by_thread(thread.id) if isinstance(thread, discord.Thread) else None
        if conv is None or conv.guild_id != interaction.guild_id or thread is None:
            raise UserFacingError(
                _(
                    "Use `/moderators reply` inside an anonymous conversation's thread. If you "
                    "are in one, it was closed (or the person used forget-me), so there is "
                    "nobody to answer."
                )
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        user_id = await modline.recipient(conv)
        guild_name = interaction.guild.name if interaction.guild else ""
        delivered = await _dm(
            self.bot,
            user_id,
            _(
                "💬 **The moderators of {server}** replied:\n{body}\n\n"
                "Answer with `/moderators message` in the server; they still won't see your name."
            ).format(server=escape(guild_name), body=escape(body)),
        )
        if not delivered:
            await reply_ephemeral(
                interaction,
                _(
                    "I couldn't deliver this: {pseudonym} doesn't accept DMs from Haven right "
                    "now. Nothing was sent."
                ).format(pseudonym=conv.pseudonym),
            )
            return
        assert isinstance(thread, discord.Thread)
        await thread.send(
            _("↩️ **{name}** replied to {pseudonym}:\n{body}").format(
                name=escape(interaction.user.display_name),
                pseudonym=conv.pseudonym,
                body=escape(body),
            ),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await reply_ephemeral(
            interaction,
            truncate(_("Delivered to {pseudonym} by DM.").format(pseudonym=conv.pseudonym), 200),
        )


async def setup(bot: HavenBot) -> None:
    """Load the cog and its persistent buttons."""
    bot.add_dynamic_items(LineActionButton)
    await bot.add_cog(ModeratorsCog(bot))
