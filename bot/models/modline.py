"""The anonymous line to moderators as plain data: conversations by pseudonym, never by person."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Conversation:
    """One open conversation, as moderators know it: a pseudonym and a thread."""

    id: int
    guild_id: int
    pseudonym: str
    thread_id: int


@dataclass(frozen=True, slots=True)
class Opening:
    """Where a peer's message goes: an existing conversation, or a new pseudonym to open one."""

    conversation: Conversation | None
    pseudonym: str
