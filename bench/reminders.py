"""Benchmark: the reminder scheduler at 1,000 / 10,000 / 100,000 meetings x 3 offsets.

For each size, in a fresh subprocess (so resident memory is not muddied by earlier sizes):
time to schedule every meeting's reminders (the reconciler on an empty jobs table), restart time
(a new engine's ``start()``: reclaim, reconcile, re-arm), resident memory, and the lateness of
1,000 reminders due in the same second (from the due time to the hand-off to a sender that
accepts instantly, DM pacing off, woken by the real APScheduler timer). Then a burst of 1,000
channel reminders through the real discord.py client to the local fake Discord with a 50
requests/s global limit: total time and its ratio to the 20 s floor.

Run: ``.venv/bin/python bench/reminders.py [--sizes 1000,10000,100000] [--no-burst]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.bus import EventBus  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.jobs import JobEngine  # noqa: E402
from bot.services.guilds import GuildSettingsService  # noqa: E402
from bot.services.meetings import MeetingStore  # noqa: E402
from bot.services.privacy import PrivacyService  # noqa: E402
from bot.services.reminders import (  # noqa: E402
    SENT,
    Message,
    ReminderMessage,
    ReminderService,
    SendResult,
)

GOALS_100K = {"schedule_s": 2.0, "restart_s": 0.5, "rss_added_mb": 60.0, "p95_ms": 50.0}
BURST = 1000
FLOOR_S = BURST / 50
# The 1,000 same-second reminders: weekly meetings at 12:00 UTC, 15 minutes before.
SAME_START = datetime(2027, 3, 11, 12, 0, tzinfo=UTC)
DUE = SAME_START - timedelta(minutes=15)
NOW = SAME_START - timedelta(minutes=50)  # the 24 h and 1 h reminders of those are past
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Asia/Kolkata",
    "UTC",
]
RULES = ["weekly"] * 6 + ["biweekly", "biweekly", "monthly", "monthly-last", "once"]


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class ShiftedClock:
    """Real time moved by an adjustable offset (so a fixed instant can fall due for real)."""

    def __init__(self, at: datetime) -> None:
        self.shift = at - datetime.now(UTC)

    def set(self, at: datetime) -> None:
        """Make now() read `at` from this moment on."""
        self.shift = at - datetime.now(UTC)

    def now(self) -> datetime:
        """Return the shifted instant (aware, UTC)."""
        return datetime.now(UTC) + self.shift


class InstantSender:
    """Accepts every send at once and records its lateness."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.lateness: list[float] = []
        self.expected = 0
        self.all_handed_off = asyncio.Event()

    def expect(self, count: int) -> None:
        """Set `all_handed_off` once this many reminders were handed off."""
        self.expected = count

    def _note(self, message: Message) -> SendResult:
        if isinstance(message, ReminderMessage):
            due = message.occurrence.start - timedelta(minutes=message.offset_minutes)
            self.lateness.append((self.clock.now() - due).total_seconds())
            if self.expected and len(self.lateness) >= self.expected:
                self.all_handed_off.set()
        return SENT

    async def to_channel(self, guild_id: int, channel_id: int, message: Message) -> SendResult:
        """Accept a channel post."""
        return self._note(message)

    async def to_user(self, guild_id: int, user_id: int, message: Message) -> SendResult:
        """Accept a DM."""
        return self._note(message)

    async def alert(self, guild_id: int, channel_id: int, reason: str) -> None:
        """Nothing to tell."""


async def populate(db: Database, count: int, seed: int) -> None:
    """Insert `count` varied meetings in 1 per 100 guilds, the first 1,000 due together."""
    rng = random.Random(seed)
    today = NOW.date()
    guilds = max(1, count // 100)
    stamp = NOW.isoformat()
    rows = []
    for i in range(count):
        if i < BURST:
            zone, rule, first, start = "UTC", "weekly", SAME_START.date(), "12:00"
        else:
            zone = rng.choice(ZONES)
            rule = rng.choice(RULES)
            back = rng.randint(-20, 120) if rule == "once" else rng.randint(0, 3 * 365)
            first = today - timedelta(days=back)
            start = f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30, 45)):02d}"
        rows.append(
            (
                1000 + i % guilds,
                f"Meeting {i}",
                "na",
                "open",
                "",
                zone,
                first.isoformat(),
                start,
                first.isoweekday(),
                60,
                rule,
                "",
                stamp,
                stamp,
            )
        )
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO meetings (guild_id, title, kind, access, formats, timezone, first_date, "
            "start_time, weekday, duration_minutes, repeat, description, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        await tx.executemany(
            "INSERT INTO guild_settings (guild_id, announce_channel_id, reminder_offsets) "
            "VALUES (?, ?, '1440,60,15')",
            [(1000 + g, 5_000_000 + g) for g in range(guilds)],
        )
        # A few cancelled occurrences, as real schedules have.
        exceptions = [
            (BURST + i, (today + timedelta(days=rng.randint(0, 30))).isoformat(), 1)
            for i in rng.sample(range(max(0, count - BURST)), min(count - BURST, count // 50))
        ]
        await tx.executemany(
            "INSERT OR IGNORE INTO meeting_exceptions (meeting_id, occurrence, cancelled) "
            "VALUES (?, ?, ?)",
            exceptions,
        )


def build(db: Database, clock: Any) -> tuple[JobEngine, ReminderService, InstantSender]:
    """The reminder stack over a database, pacing off, with an instant sender."""
    settings = load_settings(_env_file=None, discord_token="bench")
    privacy = PrivacyService(db)
    guilds = GuildSettingsService(db, clock)
    jobs = JobEngine(db, clock)
    store = MeetingStore(db, clock, privacy)
    service = ReminderService(
        db, clock, settings, jobs, store, guilds, privacy, EventBus(), dm_rate_per_second=0
    )
    sender = InstantSender(clock)
    service.sender = sender
    return jobs, service, sender


async def measure_size(count: int, seed: int) -> dict[str, Any]:
    """Schedule, restart and same-second lateness for one size (run in its own process)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        db = await Database.open(path)
        await db.migrate()
        await populate(db, count, seed)
        await db.close()

        db = await Database.open(path)
        clock = FakeClock(NOW)
        jobs, service, _ = build(db, clock)
        await service.guilds.preload()
        rss0 = rss_mb()
        t0 = time.perf_counter()
        await service.reconcile()
        schedule_s = time.perf_counter() - t0
        rss_scheduled = rss_mb()
        pending = await db.fetchval("SELECT COUNT(*) FROM jobs WHERE status = 'pending'")
        await db.close()

        # Restart: a new process would open the database and start the engine.
        db = await Database.open(path)
        clock2 = ShiftedClock(NOW)
        jobs, service, sender = build(db, clock2)
        await service.guilds.preload()
        t0 = time.perf_counter()
        await jobs.start()
        restart_s = time.perf_counter() - t0
        gc.collect()  # then freeze the start-up heap, as HavenBot does once its engine started
        gc.freeze()
        rss_started = rss_mb()

        # Settle what fell due between NOW and just before DUE (mostly skipped as too old), so
        # the measurement sees only the same-second burst.
        clock2.set(DUE - timedelta(seconds=1))
        await jobs.run_due()
        await jobs.drain()
        sender.lateness.clear()
        # 1,000 (or more) reminders due in the same second, woken by the real timer.
        due_now = await db.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND fire_at = ?",
            (int(DUE.timestamp()),),
        )
        sender.expect(due_now)
        clock2.set(DUE - timedelta(seconds=0.3))
        await jobs.rearm()
        await asyncio.wait_for(sender.all_handed_off.wait(), timeout=30)
        await jobs.drain()
        await jobs.stop()
        await db.close()
    late = sorted(sender.lateness)
    return {
        "meetings": count,
        "pending_jobs": pending,
        "schedule_s": schedule_s,
        "restart_s": restart_s,
        "rss_mb": rss_started,
        "rss_added_mb": max(rss_scheduled, rss_started) - rss0,
        "due_same_second": due_now,
        "handed_off": len(late),
        "p50_ms": statistics.median(late) * 1000 if late else float("nan"),
        "p95_ms": late[int(0.95 * (len(late) - 1))] * 1000 if late else float("nan"),
        "max_ms": late[-1] * 1000 if late else float("nan"),
    }


async def measure_burst() -> dict[str, Any]:
    """1,000 channel reminders through discord.py to the fake Discord at 50 requests/s."""
    from bot.occurrences import Repeat
    from bot.services.meetings import Access, Kind
    from tests.e2e.harness import HavenRunner, build_community, discord_py_endpoints
    from tests.fakediscord import FakeDiscord

    with discord_py_endpoints(), tempfile.TemporaryDirectory() as tmp:
        server = await FakeDiscord().start()
        try:
            community = build_community(server)
            clock = FakeClock(NOW)
            runner = HavenRunner(server, Path(tmp) / "burst.db", clock=clock)
            bot = await runner.start(sync=False, extensions=("cogs.reminders",))
            await bot.jobs_started.wait()
            services = bot.services
            await services.guilds.update(
                community.guild.id,
                announce_channel_id=community.announcements.id,
                reminder_offsets="15",
            )
            async with services.db.transaction() as tx:
                for i in range(BURST):
                    await services.meetings.create(
                        tx,
                        guild_id=community.guild.id,
                        title=f"Meeting {i}",
                        kind=Kind.NA,
                        access=Access.OPEN,
                        formats=("speaker",),
                        timezone="UTC",
                        first_date=SAME_START.date(),
                        start_time=SAME_START.time(),
                        duration_minutes=60,
                        repeat=Repeat.WEEKLY,
                    )
            await services.reminders.reconcile()
            server.global_limit_per_second = 50
            clock.set(DUE)
            t0 = time.perf_counter()
            await services.jobs.run_due()
            await server.wait_for(
                lambda: len(server.messages_in(community.announcements)) >= BURST, timeout=120
            )
            total = time.perf_counter() - t0
            await services.jobs.drain()
            limited = len([c for c in server.calls if c.status == 429])
            posted = len(server.messages_in(community.announcements))
            await runner.stop()
        finally:
            await server.stop()
    return {
        "burst": BURST,
        "total_s": total,
        "ratio": total / FLOOR_S,
        "posted": posted,
        "429s": limited,
    }


def main() -> int:
    """Run every size in a subprocess, then the burst; print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-burst", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(measure_size(args.one, args.seed))))
        return 0

    print(
        f"{'meetings':>9} {'jobs':>8} {'schedule':>9} {'restart':>8} {'RSS':>7} {'added':>7} "
        f"{'due':>5} {'p50':>7} {'p95':>7} {'max':>7}"
    )
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{r['meetings']:>9} {r['pending_jobs']:>8} {r['schedule_s']:>8.2f}s "
            f"{r['restart_s']:>7.3f}s {r['rss_mb']:>5.0f}MB {r['rss_added_mb']:>5.1f}MB "
            f"{r['handed_off']:>5} {r['p50_ms']:>5.1f}ms {r['p95_ms']:>5.1f}ms {r['max_ms']:>5.1f}ms"
        )
    big = next((r for r in results if r["meetings"] == 100_000), None)
    if big is not None:
        verdicts = [
            f"{k} {big[k]:.3g} (goal < {v:g}): {'OK' if big[k] < v else 'OVER'}"
            for k, v in GOALS_100K.items()
        ]
        print("100k goals: " + "; ".join(verdicts))
    if not args.no_burst:
        b = asyncio.run(measure_burst())
        verdict = "OK" if b["ratio"] < 1.2 else "OVER"
        print(
            f"burst: {b['posted']} channel reminders via discord.py at 50 req/s in "
            f"{b['total_s']:.1f} s = {b['ratio']:.2f} x the {FLOOR_S:.0f} s floor "
            f"(goal < 1.2: {verdict}; {b['429s']} global 429s answered)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
