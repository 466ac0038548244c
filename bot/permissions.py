"""Who may do what: peer < facilitator < moderator. Pure; the glue supplies role ids."""

from __future__ import annotations

from collections.abc import Collection, Iterable
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


# Discord's own names for the permissions Haven ever asks for, as its settings show them (the
# Spanish catalogue carries the Spanish client's names). Other flags fall back to their words.
PERMISSION_LABELS: dict[str, str] = {
    "view_channel": N_("View Channels"),
    "manage_channels": N_("Manage Channels"),
    "manage_roles": N_("Manage Roles"),
    "manage_webhooks": N_("Manage Webhooks"),
    "manage_messages": N_("Manage Messages"),
    "manage_threads": N_("Manage Threads"),
    "manage_events": N_("Manage Events"),
    "create_instant_invite": N_("Create Invite"),
    "send_messages": N_("Send Messages"),
    "send_messages_in_threads": N_("Send Messages in Threads"),
    "create_private_threads": N_("Create Private Threads"),
    "embed_links": N_("Embed Links"),
    "attach_files": N_("Attach Files"),
    "read_message_history": N_("Read Message History"),
    "add_reactions": N_("Add Reactions"),
    "use_application_commands": N_("Use Application Commands"),
    "connect": N_("Connect"),
    "speak": N_("Speak"),
    "stream": N_("Video"),
    "use_voice_activation": N_("Use Voice Activity"),
    "request_to_speak": N_("Request to Speak"),
    "mute_members": N_("Mute Members"),
    "deafen_members": N_("Deafen Members"),
    "move_members": N_("Move Members"),
}
# discord.py names some flags twice; these are the aliases of the names above.
_ALIASES = {"read_messages": "view_channel", "manage_permissions": "manage_roles"}


def permission_label(flag: str) -> str:
    """One permission as Discord's settings name it, in the current locale."""
    flag = _ALIASES.get(flag, flag)
    label = PERMISSION_LABELS.get(flag)
    return _(label) if label is not None else flag.replace("_", " ").title()


def permission_labels(flags: Iterable[str]) -> list[str]:
    """Several permissions by name, each once (aliases merged), in the order given."""
    labels: list[str] = []
    for flag in flags:
        label = permission_label(flag)
        if label not in labels:
            labels.append(label)
    return labels
