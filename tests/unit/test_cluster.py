"""Several Haven processes on one PostgreSQL: shards own guilds, shard locks, leases, NOTIFY."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.cluster import Shards
from bot.config import load_settings
from bot.db import Database

pytestmark = pytest.mark.both_backends

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
# A real guild snowflake: (id >> 22) is its creation time in ms since Discord's epoch.
GUILD = 1_234_567_890_123_456_789


@pytest.fixture
def start() -> datetime:
    """When `clock` (tests/unit/conftest.py) starts."""
    return T0


def test_a_guild_belongs_to_the_shard_discords_formula_names() -> None:
    """shard_id = (guild_id >> 22) % num_shards (Discord's gateway docs, sharding)."""
    shard = (GUILD >> 22) % 6
    assert Shards(6, (shard,)).owns(GUILD)
    assert not any(Shards(6, (s,)).owns(GUILD) for s in range(6) if s != shard)
    assert Shards(6, (0, 1, 2, 3, 4, 5)).owns(GUILD)
    # A guild id below 2**22 sits on shard 0 whatever the count (not guild_id % count).
    assert Shards(4, (0,)).owns(3) and not Shards(4, (3,)).owns(3)
    assert Shards.of(4).ids == (0, 1, 2, 3) and Shards.of(1).owns(GUILD)


def test_guildless_jobs_belong_to_shard_zero() -> None:
    """guild_id 0 (the weekly stale-card job) runs on shard 0, which also gets every DM."""
    assert Shards(3, (0,)).owns(0)
    assert not Shards(3, (1, 2)).owns(0)


def test_shards_come_from_the_settings() -> None:
    url, key = "postgresql://haven@db/haven", "k" * 32
    base = {"_env_file": None, "discord_token": "t", "database_url": url, "haven_secret_key": key}
    assert Shards.from_settings(load_settings(**base)) is None  # unsharded: one owns everything
    assert Shards.from_settings(load_settings(**base, shard_count=4)) == Shards(4, (0, 1, 2, 3))
    sharded = load_settings(**base, shard_count=6, shard_ids="4,1")
    assert Shards.from_settings(sharded) == Shards(6, (1, 4))


@pytest.mark.parametrize(("count", "ids"), [(0, (0,)), (2, ()), (2, (2,)), (2, (-1,)), (2, (1, 1))])
def test_impossible_shard_sets_are_refused(count: int, ids: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shards(count, ids)


async def test_the_store_records_who_claimed_a_job_and_the_workers(db: Database) -> None:
    """Migration 0010 (both twins): jobs.claimed_by / lease_until and the workers table."""
    assert {"claimed_by", "lease_until"} <= set(await db.columns("jobs"))
    assert await db.columns("global_workers") == [
        "worker_id",
        "shard_count",
        "shard_ids",
        "started_at",
        "heartbeat_at",
    ]
