"""The room permission model as plain values: no server needed."""

from __future__ import annotations

import discord

from cogs.rooms.overwrites import (
    AUDIENCE_BASE,
    REMOVAL_DENY,
    STAGE_SPEAKING,
    TEXT_SPEAKING,
    VOICE_SPEAKING,
    audience_overwrite,
    is_removal,
    removal_overwrite,
)

CONNECT = discord.Permissions(connect=True).value


def pair(ow: discord.PermissionOverwrite) -> tuple[int, int]:
    allow, deny = ow.pair()
    return allow.value, deny.value


def test_opening_allows_and_closing_denies_speaking_per_channel_kind() -> None:
    base = AUDIENCE_BASE.value
    assert pair(audience_overwrite("text", True)) == (base | TEXT_SPEAKING.value, 0)
    assert pair(audience_overwrite("text", False)) == (base, TEXT_SPEAKING.value)
    assert pair(audience_overwrite("voice", False)) == (base, VOICE_SPEAKING.value)
    assert pair(audience_overwrite("stage", True)) == (base | STAGE_SPEAKING.value, 0)
    assert pair(audience_overwrite("category", True)) == (base, 0)


def test_a_lock_denies_connect_on_voice_only() -> None:
    base = AUDIENCE_BASE.value
    locked = audience_overwrite("voice", True, locked=True)
    assert pair(locked) == ((base | VOICE_SPEAKING.value) & ~CONNECT, CONNECT)
    assert pair(audience_overwrite("text", True, locked=True)) == (base | TEXT_SPEAKING.value, 0)


def test_only_the_exact_removal_shape_counts_as_a_removal() -> None:
    assert pair(removal_overwrite()) == (0, REMOVAL_DENY.value)
    assert is_removal(removal_overwrite())
    assert not is_removal(audience_overwrite("text", False))
    almost = discord.PermissionOverwrite.from_pair(
        discord.Permissions.none(),
        discord.Permissions(REMOVAL_DENY.value | discord.Permissions(add_reactions=True).value),
    )
    assert not is_removal(almost)
