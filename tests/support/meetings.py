"""Meetings stored directly through the meeting store: fast set-up for tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from typing import Any

from bot.occurrences import Repeat
from bot.services import Services
from bot.services.meetings import Access, Kind

# A weekly Tuesday 19:00 New York NA meeting, open to all; tests override what they care about.
MEETING_DEFAULTS: Mapping[str, Any] = {
    "title": "Tuesday night",
    "kind": Kind.NA,
    "access": Access.OPEN,
    "formats": ("discussion",),
    "timezone": "America/New_York",
    "first_date": date(2027, 1, 5),
    "start_time": time(19, 0),
    "duration_minutes": 60,
    "repeat": Repeat.WEEKLY,
}


async def make_meeting(
    services: Services,
    guild_id: int,
    *,
    update: Mapping[str, Any] | None = None,
    **fields: Any,
) -> int:
    """Store a meeting (MEETING_DEFAULTS with `fields` over them), then `update` it; its id."""
    async with services.db.transaction() as tx:
        meeting_id = await services.meetings.create(
            tx, guild_id=guild_id, **{**MEETING_DEFAULTS, **fields}
        )
        if update:
            await services.meetings.update(tx, meeting_id, **update)
    return meeting_id
