"""Per-guild settings: one row per guild, cached in memory, every change reported."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.cluster import Shards
from bot.db import Database
from bot.db.repositories import guilds as repo
from bot.models.guilds import SETTING_FIELDS, Change, GuildSettings

__all__ = ["Change", "GuildSettings", "GuildSettingsService"]


class GuildSettingsService:
    """Reads and writes guild settings; reads are served from memory after the first."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        shards: Shards | None = None,
        *,
        owns: Callable[[int], bool] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.shards = shards  # None: this process serves every guild
        # Whether this process acts for a guild now (the job engine's: its shard locks held).
        self._owns = owns or (lambda guild_id: shards is None or shards.owns(guild_id))
        self._cache: dict[int, GuildSettings] = {}

    async def get(self, guild_id: int) -> GuildSettings:
        """The guild's settings (defaults if never configured)."""
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        settings = await repo.settings(self.db, guild_id) or GuildSettings(guild_id=guild_id)
        self._cache[guild_id] = settings
        return settings

    async def is_configured(self, guild_id: int) -> bool:
        """Whether the guild has stored any setting yet (reads the database)."""
        return await repo.settings(self.db, guild_id) is not None

    def cached(self, guild_id: int) -> GuildSettings | None:
        """Settings from memory only (no database read), if loaded before."""
        return self._cache.get(guild_id)

    async def update(self, guild_id: int, **changes: Any) -> list[Change]:
        """Store changed fields; return what actually changed."""
        unknown = set(changes) - set(SETTING_FIELDS)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        current = await self.get(guild_id)
        diff = [
            Change(name, getattr(current, name), value)
            for name, value in changes.items()
            if getattr(current, name) != value
        ]
        if not diff:
            return []
        async with self.db.transaction() as tx:
            await repo.save_settings(tx, guild_id, {c.field: c.new for c in diff}, self.clock.now())
        self._cache[guild_id] = dataclasses.replace(current, **{c.field: c.new for c in diff})
        return diff

    async def preload(self) -> None:
        """Load this process's configured guilds into memory (so /crisis needs no read).

        With shards, only the guilds on this process's shards: the others' events go elsewhere.
        """
        for guild_id in await repo.configured_guilds(self.db):
            if self.shards is not None and not self.shards.owns(guild_id):
                continue
            self._cache.pop(guild_id, None)
            await self.get(guild_id)

    def forget_cache(self, guild_id: int) -> None:
        """Drop a guild from memory (after its data is purged)."""
        self._cache.pop(guild_id, None)

    # -- guild departures (bot removed from a guild) -------------------------

    async def mark_departed(self, guild_id: int) -> None:
        """Remember when the bot left a guild, so its data is purged after a grace period."""
        async with self.db.transaction() as tx:
            await repo.mark_departed(tx, guild_id, self.clock.now())

    async def mark_returned(self, guild_id: int) -> None:
        """The bot is back in a guild: cancel its pending purge."""
        async with self.db.transaction() as tx:
            await repo.clear_departure(tx, guild_id)

    async def departed_before(self, grace: timedelta) -> list[int]:
        """This process's guilds that the bot left longer ago than the grace period.

        With shards, only its own: whether the bot is back in a guild is known only to the
        process whose gateway cache holds it, so only that process may purge it (and only while
        it holds the shard's lock: after a takeover, the new holder decides).
        """
        cutoff = self.clock.now() - grace
        return [
            guild_id
            for guild_id, left_at in await repo.departures(self.db)
            if left_at <= cutoff and self._owns(guild_id)
        ]
