"""Per-guild settings: one row per guild, cached in memory, every change reported."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.clock import Clock, iso, utc_from_iso
from bot.db import Database

WELCOME_MODES = ("off", "channel", "dm")


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """Everything a guild has configured; defaults for a guild that configured nothing."""

    guild_id: int
    moderator_role_id: int | None = None
    facilitator_role_id: int | None = None
    member_role_id: int | None = None
    family_role_id: int | None = None
    announce_channel_id: int | None = None
    modlog_channel_id: int | None = None
    review_channel_id: int | None = None
    moderators_channel_id: int | None = None
    welcome_channel_id: int | None = None
    timezone: str = "UTC"
    region: str | None = None
    reminder_offsets: str = "1440,15"
    room_open_minutes: int = 10
    room_close_minutes: int = 15
    room_clear_chat: bool = False
    native_events: bool = False
    cancel_notices: bool = True
    welcome_mode: str = "off"
    welcome_mention: bool = False
    role_approval: bool = False
    panel_channel_id: int | None = None
    panel_message_id: int | None = None

    @property
    def offsets_minutes(self) -> list[int]:
        """Default reminder offsets in minutes, largest first."""
        return sorted((int(p) for p in self.reminder_offsets.split(",") if p), reverse=True)


_FIELDS = [f.name for f in dataclasses.fields(GuildSettings) if f.name != "guild_id"]
_BOOL_FIELDS = {f.name for f in dataclasses.fields(GuildSettings) if f.type in ("bool", bool)}


@dataclass(frozen=True, slots=True)
class Change:
    """One setting that changed."""

    field: str
    old: Any
    new: Any


class GuildSettingsService:
    """Reads and writes guild settings; reads are served from memory after the first."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._cache: dict[int, GuildSettings] = {}

    async def get(self, guild_id: int) -> GuildSettings:
        """The guild's settings (defaults if never configured)."""
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        row = await self.db.fetchone(
            f"SELECT {', '.join(_FIELDS)} FROM guild_settings WHERE guild_id = ?",  # noqa: S608
            (guild_id,),
        )
        if row is None:
            settings = GuildSettings(guild_id=guild_id)
        else:
            values = {
                name: (bool(row[name]) if name in _BOOL_FIELDS else row[name]) for name in _FIELDS
            }
            settings = GuildSettings(guild_id=guild_id, **values)  # type: ignore[arg-type]
        self._cache[guild_id] = settings
        return settings

    def cached(self, guild_id: int) -> GuildSettings | None:
        """Settings from memory only (no database read), if loaded before."""
        return self._cache.get(guild_id)

    async def update(self, guild_id: int, **changes: Any) -> list[Change]:
        """Store changed fields; return what actually changed."""
        unknown = set(changes) - set(_FIELDS)
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
        cols = [c.field for c in diff]
        values = [int(c.new) if isinstance(c.new, bool) else c.new for c in diff]
        assignments = ", ".join(f"{c} = excluded.{c}" for c in cols)
        async with self.db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO guild_settings (guild_id, {', '.join(cols)}, updated_at) "  # noqa: S608
                f"VALUES (?, {', '.join('?' for _ in cols)}, ?) "
                f"ON CONFLICT(guild_id) DO UPDATE SET {assignments}, updated_at = excluded.updated_at",
                (guild_id, *values, iso(self.clock.now())),
            )
        self._cache[guild_id] = dataclasses.replace(current, **{c.field: c.new for c in diff})
        return diff

    async def preload(self) -> None:
        """Load every configured guild into memory (used at start so /crisis needs no read)."""
        rows = await self.db.fetchall("SELECT guild_id FROM guild_settings")
        for row in rows:
            self._cache.pop(row[0], None)
            await self.get(row[0])

    def forget_cache(self, guild_id: int) -> None:
        """Drop a guild from memory (after its data is purged)."""
        self._cache.pop(guild_id, None)

    # -- guild departures (bot removed from a guild) -------------------------

    async def mark_departed(self, guild_id: int) -> None:
        """Remember when the bot left a guild, so its data is purged after a grace period."""
        await self.db.execute(
            "INSERT INTO guild_departures (guild_id, left_at) VALUES (?, ?) "
            "ON CONFLICT(guild_id) DO NOTHING",
            (guild_id, iso(self.clock.now())),
        )

    async def mark_returned(self, guild_id: int) -> None:
        """The bot is back in a guild: cancel its pending purge."""
        await self.db.execute("DELETE FROM guild_departures WHERE guild_id = ?", (guild_id,))

    async def departed_before(self, grace: timedelta) -> list[int]:
        """Guilds the bot left longer ago than the grace period."""
        cutoff = self.clock.now() - grace
        rows = await self.db.fetchall("SELECT guild_id, left_at FROM guild_departures")
        return [r[0] for r in rows if utc_from_iso(r[1]) <= cutoff]
