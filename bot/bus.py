"""A tiny in-process event bus so features react to each other without importing each other."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[None]]

# Event names used across features (payload keys in comments).
MEETING_CHANGED = "meeting_changed"  # meeting_id, guild_id, change: created|edited|cancelled|moved|paused|resumed|deleted, detail: str
GUILD_MEMBER_LEFT = "guild_member_left"  # guild_id, user_id
ROOM_OPENED = "room_opened"  # meeting_id, guild_id, occurrence (key, ISO date); also at start for a room found open
ROOM_CLOSED = "room_closed"  # meeting_id, guild_id, occurrence (key, ISO date); a manual reopen may open it again


class EventBus:
    """Publish/subscribe by name; a failing handler is logged and does not stop the others."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, name: str, handler: Handler) -> None:
        """Call handler(**payload) on every emit of name."""
        self._handlers[name].append(handler)

    def unsubscribe(self, name: str, handler: Handler) -> None:
        """Stop calling handler for name."""
        if handler in self._handlers[name]:
            self._handlers[name].remove(handler)

    async def emit(self, name: str, **payload: Any) -> None:
        """Run every handler of name in order."""
        for handler in list(self._handlers[name]):
            try:
                await handler(**payload)
            except Exception:
                log.exception("handler for %s failed", name)
