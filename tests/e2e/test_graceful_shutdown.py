"""Graceful shutdown: SIGTERM to `python -m bot` mid-burst, and closing before the engine started.

The fake Discord runs in the test process; `python -m bot` (the real entry point) runs as a
subprocess on the test's store (DATABASE_PATH, or DATABASE_URL for PostgreSQL), pointed at it with
DISCORD_API_BASE / DISCORD_GATEWAY_URL. A burst
of reminders is due the moment it starts (the meetings begin a quarter of an hour from now) and
the server's global limit stretches it over several seconds, so SIGTERM lands mid-burst.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.bursts import prepare_burst
from tests.e2e.harness import (
    IDENTIFY_WINDOW_S,
    TEST_SECRET_KEY,
    Community,
    HavenRunner,
    start_client,
)
from tests.fakediscord import FakeDiscord
from tests.support.store import HavenStore

pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parents[2]
MEETINGS = 150
SUBSCRIBERS = 10
EXIT_WITHIN_S = 10.0


async def spawn_bot(
    server: FakeDiscord, store: HavenStore, log: Path, cwd: Path
) -> asyncio.subprocess.Process:
    """`python -m bot` with the environment a self-hoster sets, pointed at the fake server."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        **store.environment(),
        "IDENTIFY_WINDOW_S": str(IDENTIFY_WINDOW_S),  # the fake has no IDENTIFY limit
        "DISCORD_TOKEN": server.token,
        "DISCORD_API_BASE": server.api_base,
        "DISCORD_GATEWAY_URL": server.gateway_url,
        "HAVEN_SECRET_KEY": TEST_SECRET_KEY,
        "DM_RATE_PER_SECOND": "50",
        "LOG_LEVEL": "INFO",
    }
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=cwd, env=env, stdout=out, stderr=out
        )


async def sigterm(proc: asyncio.subprocess.Process) -> tuple[int, float]:
    """SIGTERM, then the exit code and how long it took (killed after 15 s)."""
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(proc.wait(), timeout=15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -9, time.monotonic() - began
    return code, time.monotonic() - began


async def jobs_left(store: HavenStore, kind: str = "reminder") -> int:
    """Jobs of `kind` still stored (-1 while SQLite's write lock holds)."""
    return await store.count_while_running("SELECT COUNT(*) FROM jobs WHERE kind = ?", (kind,))


def wal_bytes(db_path: Path) -> int:
    """The size of SQLite's write-ahead log beside the database (0 when there is none)."""
    wal = Path(f"{db_path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def assert_closed_cleanly(server: FakeDiscord, store: HavenStore) -> None:
    """The store passes its own checks and the exited process left nothing behind in it.

    SQLite: no WAL frames (checkpointed at close). PostgreSQL has no file of the bot's to
    leave: no session of the process stays connected and no advisory lock stays held.
    """
    assert await store.integrity_problems() == []
    if store.url is None:
        assert wal_bytes(store.path) == 0, "the WAL was not checkpointed at close"
        return

    async def left_nothing() -> bool:
        held = await store.query(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return await store.sessions_left() == 0 and held == [(0,)]

    await server.wait_for(left_nothing, timeout=5, message="the bot left a session or a lock")


async def test_sigterm_mid_burst_exits_0_and_every_reminder_is_delivered_once(
    discord_server: FakeDiscord, community: Community, tmp_path: Path, store: HavenStore
) -> None:
    server = discord_server
    # ~25 REST calls a second: the burst takes several seconds, longer than the shutdown grace.
    server.global_limit_per_second = 25
    subscribers = [
        server.create_member(community.guild, f"sub-{i}", [community.members_role])
        for i in range(SUBSCRIBERS)
    ]
    # Reminders fire 15 minutes before the start: due now (up to a minute late, within grace).
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=15)
    await prepare_burst(store, community, subscribers, start, MEETINGS)
    log = tmp_path / "bot.log"
    expected = MEETINGS + SUBSCRIBERS

    def delivered() -> int:
        dms = sum(len(server.dms_to(m)) for m in subscribers)
        return len(server.messages_in(community.announcements)) + dms

    proc = await spawn_bot(server, store, log, tmp_path)
    try:
        await server.wait_for(lambda: delivered() >= 20, timeout=20, message=f"see {log}")
    finally:
        code, took = await sigterm(proc)
    first_run = log.read_text()
    assert code == 0, first_run[-3000:]
    assert took < EXIT_WITHIN_S, f"exit took {took:.1f}s"
    assert "Shutting down" in first_run and "Stopped; the database is closed" in first_run
    assert "Traceback" not in first_run and "closed database" not in first_run
    await assert_closed_cleanly(server, store)
    assert delivered() < expected, "the burst ended before SIGTERM: it proves nothing"

    async def finished() -> bool:
        return delivered() >= expected and await jobs_left(store) == 0

    proc = await spawn_bot(server, store, log, tmp_path)
    try:
        await server.wait_for(
            finished,
            timeout=30,
            message=f"not every reminder was delivered after the restart: see {log}",
        )
    finally:
        code, took = await sigterm(proc)
    assert code == 0 and took < EXIT_WITHIN_S, (code, took)
    await assert_closed_cleanly(server, store)

    channel = server.messages_in(community.announcements)
    titles = [m.embeds[0]["title"] for m in channel]
    assert len(titles) == len(set(titles)) == MEETINGS, "a channel reminder was lost or doubled"
    assert [len(server.dms_to(m)) for m in subscribers] == [1] * SUBSCRIBERS
    rows = await store.query("SELECT status, COUNT(*) FROM reminder_deliveries GROUP BY status")
    assert rows == [("delivered", expected)]
    assert "Traceback" not in log.read_text()


async def test_close_during_the_first_reconcile_waits_for_it_before_the_database_closes(
    discord_server: FakeDiscord,
    community: Community,
    haven_runner: HavenRunner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping right after READY, while the engine's first reconcile still reads the database."""
    from bot.runtime.app import create_bot

    bot = await create_bot(
        haven_runner.settings(), extensions=("cogs.reminders",), guild_ready_timeout=0.05
    )
    entered = asyncio.Event()
    outcome: list[str] = []

    async def slow_reconciler() -> None:
        entered.set()
        try:
            while True:  # a long reconcile: keeps reading until it is told to stop
                await bot.services.db.fetchval("SELECT COUNT(*) FROM jobs")
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        except Exception as exc:
            outcome.append(type(exc).__name__)
            raise

    bot.services.jobs.add_reconciler(slow_reconciler)
    caplog.set_level(logging.INFO)
    connect = await start_client(bot, discord_server.token)
    await asyncio.wait_for(entered.wait(), 5)
    await bot.close()
    await asyncio.wait_for(connect, 5)
    assert bot.services.db.closed
    assert outcome == ["cancelled"]
    assert not bot.jobs_started.is_set()
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]
