"""One error path for every command, button and modal."""

from __future__ import annotations

import logging
import secrets
import traceback
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import ShownMessage, UserFacingError
from bot.i18n import (
    SUPPORTED,
    _,
    current_locale,
    ngettext,
    resolve,
    use_locale,
)
from bot.i18n import translation as catalogue_translation
from bot.permissions import permission_labels

if TYPE_CHECKING:
    from bot.runtime.app import HavenBot  # noqa: F401

log = logging.getLogger(__name__)


class Refused(ShownMessage, app_commands.CheckFailure):
    """A check failed; the message is shown to the user in their language."""


def new_error_id() -> str:
    """A short ID a user can quote to the bot's operator."""
    return secrets.token_hex(3).upper()


def user_message_for(error: BaseException) -> str | None:
    """The friendly message for an expected error, or None for an unexpected one."""
    if isinstance(error.__cause__, UserFacingError):
        return error.__cause__.message
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        inner = error.__cause__ or getattr(error, "original", None)
        if isinstance(inner, UserFacingError):
            return inner.message
        if isinstance(error, app_commands.TransformerError):
            return _("`{value}` is not a valid value for this option.").format(
                value=str(error.value)[:50]
            )
        return None
    if isinstance(error, UserFacingError):
        return error.message
    if isinstance(error, Refused):
        return error.message
    if isinstance(error, app_commands.NoPrivateMessage):
        return _("This command works only inside a server.")
    if isinstance(error, app_commands.CommandOnCooldown):
        seconds = round(error.retry_after)
        return ngettext(
            "Slow down a little: try again in {count} second.",
            "Slow down a little: try again in {count} seconds.",
            seconds,
        ).format(count=seconds)
    if isinstance(error, app_commands.MissingPermissions | app_commands.MissingRole):
        return _("You don't have permission to do this.")
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(permission_labels(error.missing_permissions))
        return _(
            "I'm missing these permissions here: {permissions}. Ask a moderator to grant them."
        ).format(permissions=missing)
    if isinstance(error, app_commands.CheckFailure):
        return _("You can't use this command here.")
    if isinstance(error, app_commands.CommandNotFound):
        return _("That command is not available any more. Discord may still be updating its list.")
    return None


def _log_unexpected(error_id: str, where: str, error: BaseException) -> None:
    original = getattr(error, "original", None) or error.__cause__ or error
    # The exception's message may echo user input, so only its type and the stack are logged.
    stack = "".join(traceback.format_tb(original.__traceback__))
    log.error("Unexpected error %s in %s: %s\n%s", error_id, where, type(original).__name__, stack)


async def reply_ephemeral(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
) -> None:
    """Answer privately, whether or not the interaction was already answered or deferred."""
    kwargs: dict = {"ephemeral": True}
    if content is not None:
        kwargs["content"] = content
    if embed is not None:
        kwargs["embed"] = embed
    try:
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)
    except discord.NotFound:
        log.debug("interaction expired before the answer could be sent")
    except discord.HTTPException as exc:
        log.warning("could not answer an interaction: HTTP %s", exc.status)


async def handle_interaction_error(
    interaction: discord.Interaction, error: BaseException, where: str
) -> None:
    """Turn any error into one ephemeral message in the user's language; log unexpected ones."""
    with use_locale(interaction.locale):
        message = user_message_for(error)
        if message is None:
            error_id = new_error_id()
            _log_unexpected(error_id, where, error)
            message = _(
                "Something went wrong on my side and nothing was changed. If it keeps happening, "
                "give this error ID to the server's moderators: `{error_id}`."
            ).format(error_id=error_id)
    await reply_ephemeral(interaction, message)


def enter_locale(interaction: discord.Interaction) -> str:
    """Make the user's client language current for the rest of this interaction's task."""
    language = resolve(interaction.locale)
    current_locale.set(language)
    return language


class HavenTranslator(app_commands.Translator):
    """Command and option descriptions and choice names from the catalogues; names stay English.

    Discord has two Spanish locales, es-ES and es-419; both use the one neutral ``es`` catalogue.
    """

    _kept = frozenset(
        {
            app_commands.TranslationContextLocation.command_name,
            app_commands.TranslationContextLocation.group_name,
            app_commands.TranslationContextLocation.parameter_name,
        }
    )

    async def load(self) -> None:
        """Read the catalogues once, at start."""
        from bot import i18n

        i18n.load()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The catalogue's text for ``string`` in ``locale``, or None to leave it English."""
        if context.location in self._kept:
            return None
        language = resolve(locale)
        if language not in SUPPORTED:
            return None
        return catalogue_translation(language, string.message)


class HavenTree(app_commands.CommandTree["HavenBot"]):
    """Command tree whose on_error answers every failure privately and gently."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        where = f"/{interaction.command.qualified_name}" if interaction.command else "a command"
        await handle_interaction_error(interaction, error, where)

    async def _call(self, interaction: discord.Interaction[HavenBot]) -> None:
        # discord.py routes only AppCommandError to on_error; anything else raised by a check or a
        # transformer would leave the user with "The application did not respond".
        enter_locale(interaction)  # this runs in the interaction's own task: nothing to reset
        try:
            await super()._call(interaction)
        except app_commands.AppCommandError:
            raise
        except Exception as exc:
            if interaction.type is discord.InteractionType.autocomplete:
                log.error("Autocomplete failed: %s", type(exc).__name__)
                return
            wrapped = app_commands.AppCommandError("unexpected error outside the callback")
            wrapped.__cause__ = exc
            await self.on_error(interaction, wrapped)


class HavenView(discord.ui.View):
    """A View whose errors take the commands' path; it answers in the user's language."""

    async def _scheduled_task(
        self, item: discord.ui.Item, interaction: discord.Interaction
    ) -> None:
        # discord.py runs each click in its own task: the locale set here stays in that task.
        enter_locale(interaction)
        await super()._scheduled_task(item, interaction)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        await handle_interaction_error(interaction, error, f"component {item.type.name}")


class HavenModal(discord.ui.Modal):
    """A Modal whose errors take the commands' path; it answers in the user's language."""

    async def _scheduled_task(  # type: ignore[override]
        self, interaction: discord.Interaction, *args: Any
    ) -> None:
        enter_locale(interaction)
        await super()._scheduled_task(interaction, *args)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await handle_interaction_error(interaction, error, f"modal {type(self).__name__}")
