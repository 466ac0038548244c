"""Discord snowflakes that encode real (or test-controlled) time."""

from __future__ import annotations

from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1420070400000


def snowflake_at(when: datetime, increment: int = 0) -> int:
    """The smallest snowflake for an instant (plus an increment in the low bits)."""
    ms = int(when.timestamp() * 1000)
    return ((ms - DISCORD_EPOCH_MS) << 22) | (increment & 0x3FFFFF)


def snowflake_time(snowflake: int) -> datetime:
    """The instant a snowflake encodes."""
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


class SnowflakeGenerator:
    """Strictly increasing snowflakes whose timestamp bits follow the given clock."""

    def __init__(self) -> None:
        self._last = 0
        self._backdated: set[int] = set()

    def next(self, when: datetime) -> int:
        """The next id; it encodes `when` unless that would not be above the last one."""
        candidate = snowflake_at(when)
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate

    def next_on_shard(self, when: datetime, shard: int, shard_count: int) -> int:
        """The next id with `(id >> 22) % shard_count == shard` (at most a few ms ahead)."""
        candidate = self.next(when)
        behind = (shard - (candidate >> 22)) % shard_count
        if behind:
            candidate = ((candidate >> 22) + behind) << 22
            self._last = candidate
        return candidate

    def at(self, when: datetime) -> int:
        """A unique id for a past instant (e.g. a message backdated by a test)."""
        candidate = snowflake_at(when, 0x200000)  # upper half of the increment bits
        while candidate in self._backdated:
            candidate += 1
        self._backdated.add(candidate)
        return candidate
