"""The weekly stale-card check is the library's job; Discord is reached only through a ReviewDesk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.db import Database
from bot.jobs import JobEngine
from bot.models.resources import Card
from bot.services.privacy import PrivacyService
from bot.services.resources import STALE_JOB, ResourceLibrary, next_weekly
from bot.services.shipped_cards import load_default_cards

G, OTHER_G = 1001, 2002
SUNDAY = datetime(2027, 2, 21, 12, 0, tzinfo=UTC)  # us-988 (verified 2026-11-22, 90 days) is due


@dataclass
class FakeDesk:
    """Records what the library asks the Discord glue to post."""

    guilds: list[int]
    flags: list[tuple[int, list[str]]] = field(default_factory=list)

    def guild_ids(self) -> list[int]:
        return list(self.guilds)

    async def flag_stale(self, guild_id: int, cards: list[Card]) -> None:
        self.flags.append((guild_id, [c.id for c in cards]))


@dataclass
class World:
    clock: FakeClock
    jobs: JobEngine
    lib: ResourceLibrary


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = await Database.open(tmp_path / "h.db")
    await db.migrate()
    clock = FakeClock(SUNDAY)
    jobs = JobEngine(db, clock)
    shipped = {"us-988": load_default_cards()["us-988"]}
    try:
        yield World(clock, jobs, ResourceLibrary(db, clock, PrivacyService(db), shipped, jobs=jobs))
    finally:
        await db.close()


def test_next_weekly_is_the_next_monday_at_three_utc() -> None:
    assert next_weekly(SUNDAY) == datetime(2027, 2, 22, 15, 0, tzinfo=UTC)
    monday = datetime(2027, 2, 22, 15, 0, tzinfo=UTC)
    assert next_weekly(monday) == datetime(2027, 3, 1, 15, 0, tzinfo=UTC)


async def test_no_check_is_scheduled_until_the_glue_installs_a_desk(world: World) -> None:
    await world.jobs.reconcile()
    assert await world.jobs.pending(kind=STALE_JOB) == []

    world.lib.desk = FakeDesk([G])
    await world.jobs.reconcile()
    await world.jobs.reconcile()
    pending = await world.jobs.pending(kind=STALE_JOB)
    assert [j.fire_at for j in pending] == [datetime(2027, 2, 22, 15, 0, tzinfo=UTC)]


async def test_the_weekly_job_flags_each_guild_with_stale_cards_then_reschedules(
    world: World,
) -> None:
    desk = FakeDesk([G, OTHER_G])
    world.lib.desk = desk
    await world.lib.set_enabled(OTHER_G, "us-988", False)  # not shareable there: nothing to flag
    await world.jobs.reconcile()

    world.clock.set(datetime(2027, 2, 22, 15, 1, tzinfo=UTC))
    assert await world.jobs.run_due() == 1
    await world.jobs.drain()

    assert desk.flags == [(G, ["us-988"])]
    pending = await world.jobs.pending(kind=STALE_JOB)
    assert [j.fire_at for j in pending] == [datetime(2027, 3, 1, 15, 0, tzinfo=UTC)]


async def test_with_shards_each_shard_gets_its_own_weekly_check(world: World) -> None:
    """Each process holds only its shards' guilds, so one check for shard 0 missed the rest."""
    from bot.cluster import Shards, shard_of

    world.jobs.shards = Shards.of(3)
    world.lib.desk = FakeDesk([G])
    await world.jobs.reconcile()
    await world.jobs.reconcile()
    pending = await world.jobs.pending(kind=STALE_JOB)
    assert sorted(shard_of(j.guild_id, 3) for j in pending) == [0, 1, 2]
    assert {j.fire_at for j in pending} == {datetime(2027, 2, 22, 15, 0, tzinfo=UTC)}
