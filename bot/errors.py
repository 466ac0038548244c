"""Errors shared by the domain and the Discord glue."""

from __future__ import annotations

from bot.i18n import Msg, PluralMsg, render


class HavenError(Exception):
    """Base class of every error Haven raises on purpose."""


class ShownMessage(Exception):
    """An error whose message a person reads: kept lazy, rendered in the locale current when shown.

    Give it a ``Msg`` (or ``PluralMsg``); a plain ``str`` is shown as it is.
    """

    def __init__(self, message: str | Msg | PluralMsg) -> None:
        super().__init__(message)
        self.text = message

    @property
    def message(self) -> str:
        """The message in the current locale."""
        return render(self.text)

    def __str__(self) -> str:
        return self.message


class UserFacingError(ShownMessage, HavenError):
    """A problem the user can fix; its message is shown to them, ephemerally, in their language."""


class NotFoundError(UserFacingError):
    """The thing the user named does not exist (in this guild)."""


class PermissionDeniedError(UserFacingError):
    """The caller's role does not allow this action."""


class ConfigError(HavenError):
    """A setting is missing or malformed; the message names it and says how to fix it."""


class DatabaseUnavailableError(HavenError):
    """The database cannot be opened or used; the message says why."""
