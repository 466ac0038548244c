"""Crash test: a Haven process SIGKILLed at random points of a reminder burst delivers each once.

The fake Discord runs in the test process; Haven runs as a subprocess on the test's store (a
SQLite file, or a PostgreSQL database the killed process's session drops its locks on). The
burst (channel reminders of many meetings plus a few DM subscribers) falls due as Haven starts.
The test kills it with SIGKILL after a random number of messages reached the server, restarts
it, and repeats; the last run finishes. Each (meeting, target) must have exactly one message.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.bursts import child_environment, prepare_burst
from tests.e2e.harness import TEST_SECRET_KEY, Community
from tests.fakediscord import FakeDiscord
from tests.support.store import HavenStore

pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parents[2]
MEETINGS = 120
SUBSCRIBERS = 12  # the first meetings each get one DM subscriber
KILLS = 3
START = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)
FIRE = START - timedelta(minutes=15)


async def _spawn(
    server: FakeDiscord, store: HavenStore, shift: float, log: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        **child_environment(store, "HAVEN_CRASH_"),
        "HAVEN_CRASH_TOKEN": server.token,
        "HAVEN_CRASH_API": server.api_base,
        "HAVEN_CRASH_GATEWAY": server.gateway_url,
        "HAVEN_CRASH_KEY": TEST_SECRET_KEY,
        "HAVEN_CRASH_SHIFT": repr(shift),
        "PYTHONPATH": str(ROOT),
    }
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.reminders_crash_child",
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )


async def _reminder_jobs_left(store: HavenStore) -> int:
    return await store.count_while_running("SELECT COUNT(*) FROM jobs WHERE kind = 'reminder'")


async def test_sigkill_during_a_burst_then_restart_delivers_each_reminder_once(
    discord_server: FakeDiscord, community: Community, tmp_path: Path, store: HavenStore
) -> None:
    server = discord_server
    subscribers = [
        server.create_member(community.guild, f"sub-{i}", [community.members_role])
        for i in range(SUBSCRIBERS)
    ]
    await prepare_burst(store, community, subscribers, START, MEETINGS)
    # The child's clock reads FIRE (plus the time elapsed) when the test starts.
    shift = (FIRE - datetime.now(UTC)).total_seconds()
    log = tmp_path / "child.log"
    rng = random.Random(4)
    expected = MEETINGS + SUBSCRIBERS

    def delivered() -> int:
        dms = sum(len(server.dms_to(m)) for m in subscribers)
        return len(server.messages_in(community.announcements)) + dms

    kills = 0
    for _ in range(KILLS):
        before = delivered()
        if before >= expected - 1:
            break
        target = before + rng.randint(1, max(1, (expected - before) // 2))
        proc = await _spawn(server, store, shift, log)
        try:
            await server.wait_for(lambda t=target: delivered() >= t, timeout=20)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        kills += 1

    async def finished() -> bool:
        return delivered() >= expected and await _reminder_jobs_left(store) == 0

    proc = await _spawn(server, store, shift, log)
    try:
        await server.wait_for(
            finished,
            timeout=30,
            message=f"not every reminder was delivered: see {log}",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    assert kills >= 1
    channel = server.messages_in(community.announcements)
    titles = [m.embeds[0]["title"] for m in channel]
    assert sorted(titles) == sorted({t for t in titles}), "a channel reminder was posted twice"
    assert len(channel) == MEETINGS
    assert [len(server.dms_to(m)) for m in subscribers] == [1] * SUBSCRIBERS
    rows = await store.query("SELECT status, COUNT(*) FROM reminder_deliveries GROUP BY status")
    assert rows == [("delivered", expected)]
