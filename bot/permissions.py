"""Who may do what: peer < facilitator < moderator. Pure; the glue supplies role ids."""

from __future__ import annotations

from collections.abc import Collection
from enum import IntEnum

from bot.i18n import N_, Msg, _

_LABELS = {0: N_("peer"), 1: N_("facilitator"), 2: N_("moderator")}


class Level(IntEnum):
    """Permission levels, ordered."""

    PEER = 0
    FACILITATOR = 1
    MODERATOR = 2

    @property
    def label(self) -> str:
        """Human name of the level, in the current locale."""
        return _(_LABELS[self.value])


def level_for(
    role_ids: Collection[int],
    *,
    manage_guild: bool,
    moderator_role_id: int | None,
    facilitator_role_id: int | None,
) -> Level:
    """The level a member holds from their roles and Manage Server permission."""
    if manage_guild or (moderator_role_id is not None and moderator_role_id in role_ids):
        return Level.MODERATOR
    if facilitator_role_id is not None and facilitator_role_id in role_ids:
        return Level.FACILITATOR
    return Level.PEER


def refusal(needed: Level) -> Msg:
    """The message shown when the caller's level is too low (rendered in the reader's locale)."""
    if needed is Level.MODERATOR:
        return Msg(
            "Only moderators can do this (Manage Server, or the moderator role set with "
            "`/setup roles`)."
        )
    return Msg(
        "Only facilitators and moderators can do this (the facilitator role from `/setup roles`)."
    )
