"""/setup panel's work: post (or move) the role panel once the bot can hand out both roles."""

from __future__ import annotations

import discord

from bot.errors import UserFacingError
from bot.i18n import Text
from bot.permissions import permission_labels
from bot.runtime.tree import reply_ephemeral
from bot.services.guilds import GuildSettings
from bot.services.onboarding import RoleKind, role_setup_problems
from cogs._kit import bot_of, modlog_embed
from cogs._kit.i18n import _, use_locale
from cogs.onboarding.render import bullet_list, panel_embed
from cogs.onboarding.views import panel_view, slot_of, standing_of


async def post_panel(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
    """Post (or move) the role panel after checking the bot can hand out both roles."""
    guild = interaction.guild
    if guild is None:
        raise UserFacingError(_("This command works only inside a server."))
    bot = bot_of(interaction)
    settings = await bot.services.guilds.get(guild.id)
    problems: list[Text] = [
        *role_setup_problems(
            [slot_of(guild, settings, kind) for kind in RoleKind], standing_of(guild)
        )
    ]
    perms = channel.permissions_for(guild.me)
    missing = permission_labels(
        flag
        for flag in ("view_channel", "send_messages", "embed_links")
        if not getattr(perms, flag)
    )
    if missing:
        problems.append(
            _(
                "In <#{channel_id}> I need {permissions}: edit that channel's permissions for my role."
            ).format(channel_id=channel.id, permissions=", ".join(f"**{m}**" for m in missing))
        )
    if problems:
        raise UserFacingError(
            _("I can't post a working role panel yet. Fix this, then run `/setup panel` again:")
            + "\n"
            + bullet_list(problems)
        )
    with use_locale(settings.language):  # the panel is for everyone: the guild's language
        embed = panel_embed()
        view = panel_view()
    message = await channel.send(embed=embed, view=view)
    replaced = await _delete_old_panel(guild, settings, message.id)
    await bot.services.guilds.update(
        guild.id, panel_channel_id=channel.id, panel_message_id=message.id
    )
    posted = _("Posted the role panel in <#{channel_id}>: {link}").format(
        channel_id=channel.id, link=message.jump_url
    )
    if replaced:
        posted += " " + _("The old panel was removed.")
    await reply_ephemeral(interaction, posted)
    with use_locale(settings.language):
        entry = modlog_embed(
            _("Role panel posted"),
            interaction.user,
            bot.clock.now(),
            channel=channel.mention,
            panel=message.jump_url,
        )
    await bot.post_modlog(guild.id, entry)


async def _delete_old_panel(guild: discord.Guild, settings: GuildSettings, new_id: int) -> bool:
    """Remove the previous panel message, if there was one; True when it was removed."""
    old_id = settings.panel_message_id
    if settings.panel_channel_id is None or old_id is None or old_id == new_id:
        return False
    old = guild.get_channel(settings.panel_channel_id)
    if not isinstance(old, discord.TextChannel):
        return False
    try:
        await old.get_partial_message(old_id).delete()
    except discord.HTTPException:
        return False
    return True
