"""Benchmark: Haven at scale: 100,000 meetings on PostgreSQL, 3 processes x 2 of 6 shards.

Beside the naive design measured in the same run on the same database (``bench/reminders.py``'s
peer: APScheduler 3, one in-memory job per reminder, rebuilt from the meetings at every start),
with ``bench/reminders.py``'s own workload, clock and sender (imported, not copied):

- schedule: the reminders of 100,000 meetings written to an empty jobs table, by one process, and
  by 3 processes started together (each ``ReminderService.reconcile()``), wall time until all end;
- restart: 3 new processes each starting its ``JobEngine`` (its 2 shards' locks, reclaim,
  reconcile, arm) at the same instant; the slowest, and the memory each held;
- lateness: the 1,000 reminders due in one second, spread over the 6 shards, claimed by the 3
  processes' own timers on a clock that only moves forward; from the due instant to the hand-off,
  p50/p95/max over all 1,000;
- burst: 1,000 channel reminders through 3 real bot processes (``tests/e2e/fleet_child.py``,
  discord.py) to the local fake Discord enforcing Discord's 50 requests/s global limit, each
  process keeping to its shards' share; total time against the 20 s floor.

Run: ``.venv/bin/python bench/scale.py [--meetings 100000] [--no-burst] [--quick]
[--postgres postgresql://user@host:port/postgres]``. Without ``--postgres`` it starts a throwaway
server as the tests do (``tests/support/postgres.py``). Exit code 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import reminders as base  # noqa: E402  (bench/reminders.py: workload, clock, sender, naive peer)

from bot.clock import FakeClock, to_unix  # noqa: E402
from bot.cluster import Shards  # noqa: E402
from bot.db import Database  # noqa: E402

SHARDS = 6
GROUPS = ((0, 1), (2, 3), (4, 5))
GOALS = {"schedule_s": 5.0, "restart_s": 1.0, "p95_ms": 100.0, "burst_ratio": 1.2}
RATE = 50  # Discord's global REST limit, requests per second, shared by the fleet
BURST = base.BURST
FLOOR_S = BURST / RATE
BURST_LEAD_S = 45.0  # wall seconds from spawning the burst fleet to its due second


# -- inside one bench process (``--role``) -----------------------------------------------------


def emit(**values: Any) -> None:
    """One JSON line to the parent."""
    print(json.dumps(values), flush=True)


async def go() -> None:
    """Wait for the parent's "go" line, so the processes act at the same instant."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit(f"expected go, got {line!r}")


def sharded(db: Database, clock: Any, shards: Shards | None) -> tuple[Any, Any, Any]:
    """bench/reminders.py's reminder stack, its engine owning only `shards` (None: all)."""
    jobs, service, sender = base.build(db, clock)
    jobs.shards = shards
    return jobs, service, sender


async def role_schedule(url: str, shards: Shards | None) -> None:
    """Schedule every meeting's reminders when the parent says go."""
    db = await Database.open(url)
    _, service, _ = sharded(db, FakeClock(base.NOW), shards)
    await service.guilds.preload()
    emit(ready=True)
    await go()
    rss0 = base.rss_mb()
    t0 = time.perf_counter()
    await service.reconcile()
    emit(schedule_s=time.perf_counter() - t0, schedule_rss_added_mb=base.rss_mb() - rss0)
    await db.close()


async def role_restart(url: str, shards: Shards) -> None:
    """A new process on the scheduled database: start the engine, then the same-second burst."""
    db = await Database.open(url)
    clock = base.ShiftedClock(base.NOW)
    jobs, service, sender = sharded(db, clock, shards)
    await service.guilds.preload()  # both designs need it; neither is timed for it
    gc.collect()
    base.reset_peak()
    rss0 = base.rss_mb()
    emit(ready=True)
    await go()
    t0 = time.perf_counter()
    await jobs.start()
    restart_s = time.perf_counter() - t0
    gc.collect()  # then freeze the start-up heap, as HavenBot does once its engine started
    rss1, peak = base.rss_mb(), base.proc_mb("VmHWM")
    gc.freeze()
    emit(restart_s=restart_s, rss_mb=rss1, restart_rss_mb=rss1 - rss0, restart_peak_mb=peak - rss0)

    # As bench/reminders.py: settle what fell due well before the burst, check the burst is
    # still pending and the clock short of it, then (all processes at once) move it forward.
    clock.jump_to(base.DUE - base.SETTLE_BEFORE)
    await jobs.run_due()
    await jobs.drain()
    rows = await db.fetchall(
        "SELECT guild_id FROM jobs WHERE status = 'pending' AND fire_at = ?",
        (to_unix(base.DUE),),
    )
    due_now = sum(shards.owns(r[0]) for r in rows)
    if clock.now() >= base.DUE - base.LEAD:
        raise RuntimeError(f"settling ran into the burst ({clock.now()})")
    sender.lateness.clear()
    sender.expect(due_now)
    emit(settled=due_now)
    await go()
    clock.jump_to(base.DUE - base.LEAD)  # forward: each engine's real timer wakes it ahead of DUE
    await jobs.rearm()
    if due_now:
        await asyncio.wait_for(sender.all_handed_off.wait(), timeout=60)
    await jobs.drain()
    await jobs.stop()
    await db.close()
    emit(lateness=sender.lateness, others=sender.others)


async def role_naive(url: str) -> None:
    """bench/reminders.py's naive design starting on the same (PostgreSQL) database."""
    emit(**await base.naive_restart(url))  # a URL opens PostgreSQL (Database.open)


# -- the parent ------------------------------------------------------------------------------------


class Step:
    """Bench processes of one step, driven in lock step through their stdin and stdout."""

    # The processes' logs (warnings, a traceback if one fails) go here, not into the table.
    log = Path(tempfile.gettempdir()) / "haven-bench-scale.log"

    def __init__(self, role: str, url: str, groups: list[tuple[int, ...] | None]) -> None:
        self.procs = []
        for group in groups:
            cmd = [sys.executable, __file__, "--role", role, "--url", url]
            if group is not None:
                cmd += ["--shards", ",".join(map(str, group))]
            with self.log.open("a") as err:
                proc = subprocess.Popen(
                    cmd,
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            self.procs.append(proc)

    def read(self) -> list[dict[str, Any]]:
        """The next JSON line of every process."""
        out = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                proc.wait()
                raise SystemExit(
                    f"a bench process ended early (exit code {proc.returncode}): see {self.log}"
                )
            out.append(json.loads(line))
        return out

    def go(self) -> float:
        """Tell every process to go at once; return the instant."""
        at = time.perf_counter()
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        return at

    def wait(self) -> None:
        """Wait for every process to exit cleanly."""
        for proc in self.procs:
            if proc.wait(timeout=120):
                raise SystemExit(
                    f"a bench process failed (exit code {proc.returncode}): see {self.log}"
                )


def schedule(url: str, groups: list[tuple[int, ...] | None]) -> dict[str, float]:
    """Processes scheduling together on an empty jobs table: wall time from go to the last."""
    step = Step("schedule", url, groups)
    step.read()
    t0 = step.go()
    results = step.read()
    wall = time.perf_counter() - t0
    step.wait()
    return {"schedule_s": wall, "slowest_s": max(r["schedule_s"] for r in results)}


async def count_jobs(url: str) -> int:
    """Pending reminder rows."""
    db = await Database.open(url)
    try:
        return int(await db.fetchval("SELECT COUNT(*) FROM jobs WHERE status = 'pending'"))
    finally:
        await db.close()


async def reset_jobs(url: str) -> None:
    """An empty jobs table (and ledger) again, for the next schedule measurement."""
    db = await Database.open(url)
    try:
        async with db.transaction() as tx:
            await tx.execute("TRUNCATE jobs, reminder_deliveries")
    finally:
        await db.close()


async def populate(url: str, meetings: int, seed: int) -> None:
    """bench/reminders.py's meetings, with guild ids spread over the 6 shards by the formula."""
    db = await Database.open(url)
    try:
        await base.populate(db, meetings, seed)
        async with db.transaction() as tx:
            # populate numbers guilds 1000.. (all on shard 0): shift them so guild g is on g % 6.
            for table in ("meetings", "guild_settings"):
                await tx.execute(f"UPDATE {table} SET guild_id = guild_id * 4194304")  # noqa: S608
        await db.execute("ANALYZE")
    finally:
        await db.close()


def restart(url: str) -> dict[str, Any]:
    """3 new processes start together, then take the same-second burst together."""
    step = Step("restart", url, list(GROUPS))
    step.read()
    step.go()
    started = step.read()
    settled = step.read()
    step.go()
    finished = step.read()
    step.wait()
    lateness = [x for r in finished for x in r["lateness"]]
    return {
        "restart_s": max(r["restart_s"] for r in started),
        "rss_mb": max(r["rss_mb"] for r in started),
        "restart_rss_mb": sum(r["restart_rss_mb"] for r in started),
        "restart_peak_mb": sum(r["restart_peak_mb"] for r in started),
        "due": sum(r["settled"] for r in settled),
        "handed_off": len(lateness),
        **base.percentiles(lateness),
        "per_process": [
            {"due": len(r["lateness"]), **base.percentiles(r["lateness"])} for r in finished
        ],
    }


def naive(url: str) -> dict[str, Any]:
    """The naive design in a fresh process on the same database."""
    step = Step("naive", url, [None])
    (result,) = step.read()
    step.wait()
    return result


async def burst(url: str, tmp: Path) -> dict[str, Any]:
    """1,000 channel reminders due together through 3 real bot processes at 50 requests/s."""
    from tests.e2e.fleet import Fleet, build_guilds, prepare_fleet
    from tests.e2e.harness import discord_py_endpoints
    from tests.fakediscord import FakeDiscord

    start = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)
    fire = start - timedelta(minutes=15)
    with discord_py_endpoints():
        server = await FakeDiscord(shards=SHARDS, max_concurrency=SHARDS).start()
        try:
            server.gateway.identify_window = 5.0  # Discord's: one IDENTIFY per bucket per 5 s
            guilds = build_guilds(server, SHARDS, 10)
            await prepare_fleet(url, guilds, BURST, start, rooms=False)
            channels = [g.announcements.id for g in guilds]
            fire_mono = time.monotonic() + BURST_LEAD_S
            shift = fire - datetime.now(UTC) - timedelta(seconds=BURST_LEAD_S)
            fleet = Fleet(server, url, shift.total_seconds(), tmp, SHARDS, GROUPS)
            try:
                for index in range(len(GROUPS)):
                    await fleet.spawn(index)
                await server.wait_for(
                    lambda: len(fleet.ready_at()) == len(GROUPS) or fleet.exited(),
                    timeout=BURST_LEAD_S + 30,
                    message=f"the fleet did not start: see {fleet.log}",
                )
                ready = max(fleet.ready_at().values())
                server.global_limit_per_second = RATE
                server.global_limit_window = 1.0

                def delivered() -> int:
                    return sum(len(server.state.channel_messages.get(c, ())) for c in channels)

                await server.wait_for(
                    lambda: delivered() >= BURST or fleet.exited(),
                    timeout=BURST_LEAD_S + 3 * FLOOR_S,
                    message=f"the burst did not finish: see {fleet.log}",
                )
                done = time.monotonic()
            finally:
                await fleet.stop_all()
        finally:
            await server.stop()
    begun = max(fire_mono, ready)
    return {
        "posted": delivered(),
        "total_s": done - begun,
        "ratio": (done - begun) / FLOOR_S,
        "ready_before_due_s": fire_mono - ready,
        "429s": len(server.find_calls(status=429)),
        "identify_rejections": server.gateway.identify_rejections,
    }


def bare_loop_s() -> float:
    """Seconds for a bare Python loop of 10 M additions: this machine's speed at the moment."""
    t0 = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t0


def ratio(naive_value: float, haven_value: float) -> str:
    """naive / Haven, as a factor."""
    return f"{naive_value / max(haven_value, 1e-9):.1f}x"


def main() -> int:
    """Fill PostgreSQL, run each step in fresh processes, print Haven beside the naive design."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meetings", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--postgres", help="a server's URL (default: start a throwaway one)")
    parser.add_argument("--no-burst", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 meetings, no burst")
    parser.add_argument("--role", choices=("schedule", "restart", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--shards", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        group = Shards(SHARDS, tuple(map(int, args.shards.split(",")))) if args.shards else None
        if args.role == "schedule":
            asyncio.run(role_schedule(args.url, group))
        elif args.role == "restart":
            assert group is not None
            asyncio.run(role_restart(args.url, group))
        else:
            asyncio.run(role_naive(args.url))
        return 0
    meetings = 2000 if args.quick else args.meetings

    from tests.support.postgres import PostgresServer, start_postgres

    server: PostgresServer | None = None
    if args.postgres:
        admin = args.postgres
    else:
        started = start_postgres()
        if isinstance(started, str):
            raise SystemExit(f"no PostgreSQL: {started}")
        server, admin = started, started.url()
    name = f"haven_scale_{int(time.time())}"
    url = admin.rsplit("/", 1)[0] + "/" + name
    results: dict[str, Any] = {}
    try:
        asyncio.run(create_database(admin, name))
        loop_before = bare_loop_s()
        t0 = time.perf_counter()
        asyncio.run(populate(url, meetings, args.seed))
        print(f"PostgreSQL: {meetings:,} meetings written in {time.perf_counter() - t0:.1f} s")
        one = schedule(url, [None])
        asyncio.run(reset_jobs(url))
        fleet = schedule(url, list(GROUPS))
        jobs = asyncio.run(count_jobs(url))
        haven = restart(url)
        peer = naive(url)
        results = {"one": one, "fleet": fleet, "jobs": jobs, "haven": haven, "naive": peer}
        results["loop_s"] = (loop_before, bare_loop_s())
        if not (args.no_burst or args.quick):
            name2 = name + "_burst"
            asyncio.run(create_database(admin, name2))
            with tempfile.TemporaryDirectory() as tmp:
                results["burst"] = asyncio.run(
                    burst(admin.rsplit("/", 1)[0] + "/" + name2, Path(tmp))
                )
    finally:
        if server is not None:
            server.stop()
    return report(meetings, results)


async def create_database(admin: str, name: str) -> None:
    """A new database migrated for Haven."""
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    db = await Database.open(admin.rsplit("/", 1)[0] + "/" + name)
    try:
        await db.migrate()
    finally:
        await db.close()


def report(meetings: int, r: dict[str, Any]) -> int:
    """Print the table and the verdicts; 1 when a goal is missed."""
    h, n = r["haven"], r["naive"]
    print(
        f"{meetings:,} meetings, {r['jobs']:,} pending reminder rows; Haven: 3 processes x 2 of "
        f"{SHARDS} shards; naive: APScheduler 3 rebuilt in one process (bench/reminders.py)"
    )
    print(f"{'figure':<34} {'Haven':>12} {'naive':>12} {'naive/Haven':>12}  goal")
    rows = [
        (
            "schedule, 3 processes together",
            f"{r['fleet']['schedule_s']:.2f} s",
            f"{n['restart_s']:.2f} s",  # the naive design schedules by rebuilding, at every start
            ratio(n["restart_s"], r["fleet"]["schedule_s"]),
            "< 5 s",
        ),
        ("schedule, 1 process", f"{r['one']['schedule_s']:.2f} s", "-", "-", ""),
        (
            "restart (slowest of 3)",
            f"{h['restart_s']:.3f} s",
            f"{n['restart_s']:.3f} s",
            ratio(n["restart_s"], h["restart_s"]),
            "< 1 s",
        ),
        (
            "held memory (sum of 3)",
            f"{h['restart_rss_mb']:.1f} MB",
            f"{n['restart_rss_mb']:.1f} MB",
            ratio(n["restart_rss_mb"], max(h["restart_rss_mb"], 0.1)),
            "",
        ),
        (
            f"lateness p50, {h['handed_off']:,} due together",
            f"{h['p50_ms']:.1f} ms",
            f"{n['p50_ms']:.1f} ms",
            ratio(n["p50_ms"], h["p50_ms"]),
            "",
        ),
        (
            "lateness p95",
            f"{h['p95_ms']:.1f} ms",
            f"{n['p95_ms']:.1f} ms",
            ratio(n["p95_ms"], h["p95_ms"]),
            "< 100 ms",
        ),
        ("lateness max", f"{h['max_ms']:.1f} ms", f"{n['max_ms']:.1f} ms", "", ""),
    ]
    for figure, mine, theirs, factor, goal in rows:
        print(f"{figure:<34} {mine:>12} {theirs:>12} {factor:>12}  {goal}")
    print(
        "the naive design's schedule is its rebuild, which it does at every start. This machine: "
        f"a bare Python loop of 10 M additions {r['loop_s'][0]:.2f} s before the run, "
        f"{r['loop_s'][1]:.2f} s after (its speed drifts; compare the ratios)"
    )
    print(
        "lateness per process (due, p50 / p95 ms): "
        + "; ".join(f"{p['due']}, {p['p50_ms']:.0f} / {p['p95_ms']:.0f}" for p in h["per_process"])
    )
    verdicts = {
        "schedule_s": r["fleet"]["schedule_s"] < GOALS["schedule_s"],
        "restart_s": h["restart_s"] < GOALS["restart_s"],
        "p95_ms": h["p95_ms"] < GOALS["p95_ms"],
    }
    if "burst" in r:
        b = r["burst"]
        verdicts["burst_ratio"] = b["ratio"] < GOALS["burst_ratio"]
        print(
            f"burst: {b['posted']:,} channel reminders through 3 bot processes at {RATE} req/s in "
            f"{b['total_s']:.1f} s = {b['ratio']:.2f} x the {FLOOR_S:.0f} s floor (goal < 1.2; "
            f"{b['429s']} global 429s; {b['identify_rejections']} IDENTIFYs refused; the fleet was "
            f"ready {b['ready_before_due_s']:.1f} s before the due second)"
        )
    print("goals: " + ", ".join(f"{k} {'OK' if ok else 'MISSED'}" for k, ok in verdicts.items()))
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
