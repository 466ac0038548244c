"""Several Haven processes on one PostgreSQL: which guilds a process owns (design/scale-out.md).

A process runs some of Discord's gateway shards and owns the guilds on them, by Discord's formula
``shard_id = (guild_id >> 22) % shard_count``. Guild-less jobs (guild_id 0) fall to shard 0, which
also receives every DM. With no shards configured one process owns everything (SQLite always).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings


def shard_of(guild_id: int, count: int) -> int:
    """The shard a guild's events arrive on, by Discord's formula (guild 0: shard 0)."""
    return (guild_id >> 22) % count


@dataclass(frozen=True, slots=True)
class Shards:
    """The gateway shards one process runs: `ids` out of `count`, sorted, each once."""

    count: int
    ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a shard count is at least 1, not {self.count}")
        if not self.ids:
            raise ValueError("a process runs at least one shard")
        for shard in self.ids:
            if not 0 <= shard < self.count:
                raise ValueError(f"shard {shard} is outside 0-{self.count - 1}")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"a shard is listed twice in {self.ids}")
        object.__setattr__(self, "ids", tuple(sorted(self.ids)))

    @classmethod
    def of(cls, count: int) -> Shards:
        """Every shard of `count` (one process running them all)."""
        return cls(count, tuple(range(count)))

    @classmethod
    def from_settings(cls, settings: Settings) -> Shards | None:
        """SHARD_COUNT / SHARD_IDS as a shard set; None when the bot runs unsharded."""
        if settings.shard_count is None:
            return None
        return cls(settings.shard_count, settings.shard_ids or tuple(range(settings.shard_count)))

    def owns(self, guild_id: int) -> bool:
        """Whether this process runs the shard of `guild_id`."""
        return shard_of(guild_id, self.count) in self.ids

    def __str__(self) -> str:
        return f"{','.join(map(str, self.ids))} of {self.count}"
