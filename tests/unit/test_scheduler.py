"""The durable job engine: batch claims, re-arming, crash reclaim, handler failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import bot.jobs as jobs_module
from bot.clock import FakeClock
from bot.db import Database, Transaction
from bot.jobs import GroupCommit, Job, JobEngine, NewJob

pytestmark = pytest.mark.both_backends

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def start() -> datetime:
    """When `clock` (tests/unit/conftest.py) starts."""
    return T0


def _jobs(n: int, at: datetime, kind: str = "t") -> list[NewJob]:
    return [NewJob(kind, guild_id=1, fire_at=at, meeting_id=i, slot="15") for i in range(n)]


async def test_due_jobs_are_claimed_in_one_batch_and_completed(
    db: Database, clock: FakeClock
) -> None:
    engine = JobEngine(db, clock)
    batches: list[list[Job]] = []

    async def handler(jobs: list[Job]) -> None:
        batches.append(jobs)
        async with db.transaction() as tx:
            await engine.complete_many(tx, jobs)

    engine.register("t", handler)
    async with db.transaction() as tx:
        earliest = await engine.add(tx, _jobs(500, T0 + timedelta(minutes=10)))
        await engine.add(tx, _jobs(1, T0 + timedelta(hours=1), kind="later"))
    assert earliest == T0 + timedelta(minutes=10)
    assert await engine.run_due() == 0
    clock.advance(timedelta(minutes=10))
    assert await engine.run_due() == 500
    await engine.drain()
    # A burst of this size is claimed in one statement and handed off as one batch on either
    # store: one set of reads for it, and no second chunk waiting behind the first's hand-offs.
    assert [len(b) for b in batches] == [500]
    assert [j.kind for j in await engine.pending()] == ["later"]
    assert await engine.next_fire_at() == T0 + timedelta(hours=1)


async def test_adding_the_same_key_twice_keeps_one_row(db: Database, clock: FakeClock) -> None:
    engine = JobEngine(db, clock)
    for _ in range(2):
        async with db.transaction() as tx:
            await engine.add(tx, _jobs(3, T0 + timedelta(minutes=5)))
    assert len(await engine.pending()) == 3


async def test_add_bulk_stores_rows_like_add_and_keeps_existing_keys(
    db: Database, clock: FakeClock
) -> None:
    engine = JobEngine(db, clock)
    snowflake = 1_234_567_890_123_456_789  # a real guild id: beyond a double's exact integers
    at = int(T0.timestamp())
    async with db.transaction() as tx:
        await engine.add(tx, [NewJob("t", snowflake, T0, 1, "2027-03-08", "60")])
        earliest = await engine.add_bulk(
            tx,
            "t",
            [
                (snowflake, 1, "2027-03-08", "60", at + 999),  # same key: kept as it was
                (snowflake, 1, "2027-03-08", "15", at + 2700),
                (snowflake, 2, "2027-03-09", "1440", at + 600),
            ],
        )
        assert await engine.add_bulk(tx, "t", []) is None
    assert earliest == T0 + timedelta(minutes=10)
    jobs = await engine.pending()
    assert [(j.guild_id, j.meeting_id, j.occurrence, j.slot, j.fire_at) for j in jobs] == [
        (snowflake, 1, "2027-03-08", "60", T0),
        (snowflake, 2, "2027-03-09", "1440", T0 + timedelta(minutes=10)),
        (snowflake, 1, "2027-03-08", "15", T0 + timedelta(minutes=45)),
    ]
    assert all(j.payload == {} and j.kind == "t" for j in jobs)
    if db.dialect == "sqlite":  # PostgreSQL's column types refuse any other storage
        types = await db.fetchall(
            "SELECT DISTINCT typeof(guild_id), typeof(slot), typeof(fire_at) FROM jobs"
        )
        assert [tuple(r) for r in types] == [("integer", "text", "integer")]


async def test_add_bulk_copies_new_rows_in_on_postgres_and_keeps_existing_keys(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's COPY wrote 265,738 rows in 3.1-3.4 s against 6.0-6.3 s by unnest; a batch
    that meets a key written meanwhile is written again by the upsert, which keeps that row."""
    if db.dialect != "postgres":
        pytest.skip("PostgreSQL only (SQLite's bulk path is one json_each statement)")
    import asyncpg

    copies: list[int] = []
    real = asyncpg.Connection.copy_records_to_table

    async def spy(self: Any, table: str, *, records: Any, **kw: Any) -> Any:
        copies.append(len(records))
        return await real(self, table, records=records, **kw)

    monkeypatch.setattr(asyncpg.Connection, "copy_records_to_table", spy)
    engine = JobEngine(db, clock)
    at = int(T0.timestamp())
    async with db.transaction() as tx:
        await engine.add_bulk(tx, "t", [(1, m, "2027-03-08", "15", at) for m in range(100)])
    async with db.transaction() as tx:
        await engine.add(tx, [NewJob("t", 1, T0, 200, "2027-03-08", "15")])
        rows = [(1, m, "2027-03-08", "15", at + 60) for m in range(150, 250)]
        earliest = await engine.add_bulk(tx, "t", rows)  # meeting 200's key exists
    assert copies == [100, 100]
    assert earliest == T0 + timedelta(minutes=1)
    jobs = {j.meeting_id: j.fire_at for j in await engine.pending()}
    assert len(jobs) == 200 and jobs[200] == T0 and jobs[201] == T0 + timedelta(minutes=1)


async def test_claimed_jobs_left_by_a_crash_are_reclaimed_as_recovered(
    db: Database, clock: FakeClock
) -> None:
    first = JobEngine(db, clock)
    async with db.transaction() as tx:
        await first.add(tx, _jobs(2, T0))

    async def crashes(jobs: list[Job]) -> None:
        raise SystemExit  # simulates the process dying mid-delivery (not an Exception)

    first.register("t", crashes)
    await db.execute("UPDATE jobs SET status = 'claimed'")  # as if claimed, then killed

    second = JobEngine(db, clock)
    seen: list[Job] = []

    async def handler(jobs: list[Job]) -> None:
        seen.extend(jobs)
        async with db.transaction() as tx:
            for job in jobs:
                await second.complete(tx, job)

    second.register("t", handler)
    assert await second.start() == 2
    try:
        await second.run_due()
        await second.drain()
    finally:
        await second.stop()
    assert len(seen) == 2 and all(j.recovered for j in seen)
    assert await second.pending() == []


async def test_failing_handler_puts_jobs_back_for_retry_then_fails_them(
    db: Database, clock: FakeClock
) -> None:
    engine = JobEngine(db, clock)
    calls = 0

    async def broken(jobs: list[Job]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("discord down")

    engine.register("t", broken)
    async with db.transaction() as tx:
        await engine.add(tx, _jobs(1, T0))
    for _ in range(10):
        await engine.run_due()
        await engine.drain()
        clock.advance(timedelta(minutes=2))
    assert calls == 5
    row = await db.fetchone("SELECT status, attempts, last_error FROM jobs")
    assert row is not None
    assert row["status"] == "failed" and row["last_error"] == "handler kept failing"


async def test_remove_pending_by_meeting_and_kind(db: Database, clock: FakeClock) -> None:
    engine = JobEngine(db, clock)
    async with db.transaction() as tx:
        await engine.add(tx, _jobs(3, T0, kind="a") + _jobs(3, T0, kind="b"))
        removed = await engine.remove_pending(tx, meeting_id=1, kinds=["a"])
    assert removed == 1
    assert len(await engine.pending(meeting_id=1)) == 1


async def test_unknown_kind_is_failed_not_lost(db: Database, clock: FakeClock) -> None:
    engine = JobEngine(db, clock)
    async with db.transaction() as tx:
        await engine.add(tx, _jobs(1, T0, kind="mystery"))
    await engine.run_due()
    assert await db.fetchval("SELECT status FROM jobs") == "failed"


async def test_group_commit_writes_what_was_handed_in_together_in_one_transaction(
    db: Database, clock: FakeClock
) -> None:
    engine = JobEngine(db, clock)
    groups: list[list[int]] = []

    async def write(tx: Transaction, items: Sequence[int]) -> datetime | None:
        groups.append(list(items))
        return await engine.add(tx, [_jobs(10, T0 + timedelta(minutes=i))[i] for i in items])

    group = GroupCommit(engine, write)
    await asyncio.gather(*(group.submit(i) for i in range(5)))
    assert groups == [[0, 1, 2, 3, 4]]
    assert len(await engine.pending()) == 5
    # Handed in after that commit: the next group.
    await group.submit(7)
    assert groups[1:] == [[7]]


async def test_group_commit_fails_only_the_bad_item_of_a_group(
    db: Database, clock: FakeClock
) -> None:
    engine = JobEngine(db, clock)
    groups: list[list[int]] = []

    async def write(tx: Transaction, items: Sequence[int]) -> datetime | None:
        groups.append(list(items))
        earliest = await engine.add(tx, [_jobs(10, T0)[i] for i in items])
        if 2 in items:
            raise ValueError("a bad row")
        return earliest

    group = GroupCommit(engine, write)
    results = await asyncio.gather(*(group.submit(i) for i in range(4)), return_exceptions=True)
    # The group failed as a whole and rolled back; then each item was written alone.
    assert groups == [[0, 1, 2, 3], [0], [1], [2], [3]]
    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "ValueError", "NoneType"]
    assert sorted(j.meeting_id for j in await engine.pending()) == [0, 1, 3]


async def test_a_burst_larger_than_a_chunk_is_claimed_a_chunk_at_a_time_on_postgres(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = JobEngine(db, clock)
    batches: list[list[Job]] = []

    async def handler(jobs: list[Job]) -> None:
        batches.append(jobs)
        async with db.transaction() as tx:
            await engine.complete_many(tx, jobs)

    engine.register("t", handler)
    monkeypatch.setattr(jobs_module, "CLAIM_CHUNK", 100)
    async with db.transaction() as tx:
        await engine.add(tx, _jobs(250, T0))
    assert await engine.run_due() == 250
    await engine.drain()
    if db.dialect == "postgres":  # bounded statements; each chunk handed off at once
        assert [len(b) for b in batches] == [100, 100, 50]
    else:
        assert [len(b) for b in batches] == [250]
    assert await engine.pending() == []


async def test_the_postgres_pool_plans_without_jit(db: Database) -> None:
    """JIT compiling cost 616 ms on a 236 ms reconcile query at 100,000 meetings (its estimate
    crossed jit_above_cost): a bot runs short queries only, so its pool turns JIT off."""
    if db.dialect != "postgres":
        pytest.skip("PostgreSQL only")
    assert await db.fetchval("SHOW jit") == "off"
    async with db.transaction() as tx:
        assert await tx.fetchval("SHOW jit") == "off"


async def test_group_commit_lingers_before_a_burst_and_prepares_each_group(
    db: Database, clock: FakeClock
) -> None:
    engine = JobEngine(db, clock)
    groups: list[list[int]] = []
    prepared: list[list[int]] = []
    slept: list[float] = []
    arrivals: list[asyncio.Future[None]] = []

    def prepare(items: Sequence[int]) -> Sequence[int]:
        prepared.append(list(items))
        return [i * 10 for i in items]

    async def write(tx: Transaction, items: Sequence[int]) -> datetime | None:
        groups.append(list(items))
        return None

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        arrivals.append(asyncio.ensure_future(group.submit(2)))  # finished during the linger
        await asyncio.sleep(0)

    group = GroupCommit(engine, write, prepare=prepare, sleep=sleep)
    await group.submit(1, linger=0.2)
    await asyncio.gather(*arrivals)
    # The burst's bookkeeping waited (its hand-offs go first) and took in what came meanwhile.
    assert slept == [0.2]
    assert prepared == [[1, 2]] and groups == [[10, 20]]
    await group.submit(3)  # no linger asked: written at once
    assert slept == [0.2] and groups[1:] == [[30]]


async def test_a_kind_registered_ahead_is_claimed_by_the_timer_before_it_falls_due(
    db: Database, clock: FakeClock
) -> None:
    """The timer claims a burst of reminders up to a second early, so the handler has read
    everything by the due instant (its hand-offs wait for it); other kinds wait to be due."""
    engine = JobEngine(db, clock)
    seen: list[tuple[str, datetime]] = []

    async def handler(jobs: list[Job]) -> None:
        seen.extend((j.kind, clock.now()) for j in jobs)
        async with db.transaction() as tx:
            await engine.complete_many(tx, jobs)

    engine.register("early", handler, ahead=timedelta(seconds=1))
    engine.register("t", handler)
    due = T0 + timedelta(minutes=10)
    async with db.transaction() as tx:
        await engine.add(tx, [NewJob("early", 1, due, 1), NewJob("t", 1, due, 2)])
    clock.set(due - timedelta(seconds=0.7))
    assert await engine.run_due() == 0  # asked directly: only what is due
    assert await engine.run_due(ahead=True) == 1  # the timer's way
    await engine.drain()
    assert seen == [("early", due - timedelta(seconds=0.7))]
    clock.set(due)
    assert await engine.run_due(ahead=True) == 1
    await engine.drain()
    assert [kind for kind, _ in seen] == ["early", "t"]


async def test_the_timer_is_armed_ahead_only_for_a_kind_registered_ahead(
    db: Database, clock: FakeClock
) -> None:
    engine = JobEngine(db, clock)

    async def handler(jobs: list[Job]) -> None:
        return None

    engine.register("early", handler, ahead=timedelta(seconds=1))
    engine.register("t", handler)
    async with db.transaction() as tx:
        await engine.add(tx, [NewJob("t", 1, T0 + timedelta(minutes=5), 2)])
        await engine.add(tx, [NewJob("early", 1, T0 + timedelta(minutes=10), 1)])
    await engine.start()
    try:
        assert engine.armed_at == T0 + timedelta(minutes=5)  # a plain job: at its time
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM jobs WHERE kind = 't'")
        await engine.rearm()
        assert engine.armed_at == T0 + timedelta(minutes=10, seconds=-1)
    finally:
        await engine.stop()


async def test_re_arming_keeps_the_timer_armed_and_a_wake_that_came_meanwhile(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two NOTIFYs re-armed at once: one read None between the other's reset and its arm
    (tests/unit/test_cluster.py failed on it under load); a job written during the read was
    armed, then overwritten by the read's later result."""
    engine = JobEngine(db, clock)

    async def handler(jobs: list[Job]) -> None:
        return None

    engine.register("t", handler)
    async with db.transaction() as tx:
        await engine.add(tx, _jobs(1, T0 + timedelta(hours=1)))
    await engine.start()
    try:
        during: list[datetime | None] = []
        real = db.fetchone

        async def reading(sql: str, params: Any = ()) -> Any:
            during.append(engine.armed_at)
            row = await real(sql, params)
            engine.wake_for(T0 + timedelta(minutes=5))  # a job written while this read ran
            return row

        monkeypatch.setattr(db, "fetchone", reading)
        await engine.rearm()
        assert during == [T0 + timedelta(hours=1)]
        assert engine.armed_at == T0 + timedelta(minutes=5)
    finally:
        await engine.stop()


async def test_the_claim_ahead_reads_the_fire_time_index_not_the_whole_table(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the lead's OR alone, SQLite scanned every pending row to claim (391 ms of the
    bench's 0.3 s head start at 265,738 rows)."""
    engine = JobEngine(db, clock)

    async def handler(jobs: list[Job]) -> None:
        return None

    engine.register("early", handler, ahead=timedelta(seconds=1))
    claims: list[tuple[str, Any]] = []
    real = db.transaction

    @asynccontextmanager
    async def spying() -> AsyncIterator[Any]:
        async with real() as tx:
            fetchall = tx.fetchall

            async def noting(sql: str, params: Any = ()) -> Any:
                if sql.startswith("UPDATE jobs SET status = 'claimed'"):
                    claims.append((sql, params))
                return await fetchall(sql, params)

            tx.fetchall = noting  # type: ignore[method-assign]
            yield tx

    monkeypatch.setattr(db, "transaction", spying)
    await engine.run_due(ahead=True)
    monkeypatch.undo()
    assert len(claims) == 1
    sql, params = claims[0]
    if db.dialect == "postgres":
        from bot.db.dialect import to_postgres

        pool: Any = db
        rows = await pool.pool.fetch("EXPLAIN " + to_postgres(sql)[0], *params)
        plan = "\n".join(r[0] for r in rows)
        assert "Index Scan using jobs_pending_fire_at" in plan, plan
        assert "Index Cond: (fire_at <=" in plan, plan
    else:
        rows = await db.fetchall("EXPLAIN QUERY PLAN " + sql, params)
        plan = "\n".join(str(r[-1]) for r in rows)
        assert "SEARCH jobs USING INDEX jobs_pending_fire_at (fire_at<?)" in plan, plan
