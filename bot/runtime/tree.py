"""One error path for every command, button and modal."""

from __future__ import annotations

import logging
import secrets
import traceback
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.errors import UserFacingError

if TYPE_CHECKING:
    from bot.runtime.app import HavenBot  # noqa: F401

log = logging.getLogger(__name__)


class Refused(app_commands.CheckFailure):
    """A check failed; the message is shown to the user as written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
            return f"`{str(error.value)[:50]}` is not a valid value for this option."
        return None
    if isinstance(error, UserFacingError):
        return error.message
    if isinstance(error, Refused):
        return error.message
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only inside a server."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} seconds."
    if isinstance(error, app_commands.MissingPermissions | app_commands.MissingRole):
        return "You don't have permission to do this."
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(p.replace("_", " ").title() for p in error.missing_permissions)
        return f"I'm missing these permissions here: {missing}. Ask a moderator to grant them."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, app_commands.CommandNotFound):
        return "That command is not available any more. Discord may still be updating its list."
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
    """Turn any error into one ephemeral message; log unexpected ones under an ID."""
    message = user_message_for(error)
    if message is None:
        error_id = new_error_id()
        _log_unexpected(error_id, where, error)
        message = (
            "Something went wrong on my side and nothing was changed. "
            f"If it keeps happening, give this error ID to the server's moderators: `{error_id}`."
        )
    await reply_ephemeral(interaction, message)


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
    """A View whose errors take the same path as commands'."""

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        await handle_interaction_error(interaction, error, f"component {item.type.name}")


class HavenModal(discord.ui.Modal):
    """A Modal whose errors take the same path as commands'."""

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await handle_interaction_error(interaction, error, f"modal {type(self).__name__}")
