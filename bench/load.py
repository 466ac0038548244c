"""Load benchmark: the real Haven bot under 200 slash commands per second.

The bench process runs the local fake Discord (``tests/fakediscord``) and the load generator;
the bot runs as ``python -m bot`` in a subprocess pointed at it through DISCORD_API_BASE and
DISCORD_GATEWAY_URL, so their CPU does not mix. Before the bot connects, the bench creates 200
guilds (roles, members, channels) and writes 2,000 meetings and each guild's settings into the
bot's database. Once the bot is ready (commands synced), it creates and opens a room in some
guilds, then sends 200 commands per second for 20 s, open loop (a command is sent on schedule
whether or not earlier ones were answered): /meeting list, /meeting info, /meeting schedule and
/checkin inside an open room.

Figures: latency from the server sending INTERACTION_CREATE to the command's callback starting
in the bot (a bench-only wrapper around discord.py's ``Command._do_call`` in the bot process;
both sides read CLOCK_MONOTONIC, which is system-wide on Linux), latency to the server receiving
the interaction response, the bot's resident memory, errors (no answer, a wrong answer, or an
"error ID" answer), and CPU shares of the load generator and of the bot.

Run: ``.venv/bin/python bench/load.py [--guilds 200] [--meetings 2000] [--rate 200]
[--seconds 20] [--rooms 50] [--profile]`` (``--profile`` runs the bot under cProfile and prints
its top functions).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))

SECRET_KEY = "bench-" + "0123456789abcdef" * 4
KINDS = ["na", "na", "na", "family", "other"]
ZONES = ["America/New_York", "America/Chicago", "Europe/London", "Europe/Berlin", "UTC"]
MIX = [("list", 30), ("info", 30), ("schedule", 15), ("checkin", 25)]
GOAL_P99_MS = 100.0


# -- the bot process ------------------------------------------------------------------------------


def child_main(out: str, profile: str | None) -> int:
    """Run `python -m bot --sync` with a timing hook; write the timings at exit."""
    from discord import app_commands

    from bot.__main__ import main

    started: dict[str, float] = {}
    original = app_commands.Command._do_call

    async def timed(self: Any, interaction: Any, params: dict[str, Any]) -> Any:
        started[str(interaction.id)] = time.monotonic()
        return await original(self, interaction, params)

    app_commands.Command._do_call = timed  # type: ignore[method-assign]
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        code = main(["--sync"])
    finally:
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        Path(out).write_text(json.dumps(started))
    return code


# -- the bench process ----------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    iid: str
    dispatched: float | None = None
    responded: float | None = None
    error: str | None = None


@dataclass
class Bench:
    samples: list[Sample] = field(default_factory=list)
    dispatched_at: dict[str, float] = field(default_factory=dict)
    responded_at: dict[str, float] = field(default_factory=dict)


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_mem_mb(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            values[line.split(":")[0]] = int(line.split()[1]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def populate(db_path: Path, communities: list[Any], meetings: int, token: str) -> None:
    """Write each guild's settings and `meetings` weekly meetings into the bot's database."""
    from bot.clock import SystemClock
    from bot.config import load_settings
    from bot.db import Database
    from bot.keys import load_or_create_key
    from bot.occurrences import Repeat
    from bot.services import build_services
    from bot.services.meetings import Access, Kind

    settings = load_settings(
        _env_file=None, discord_token=token, database_path=db_path, haven_secret_key=SECRET_KEY
    )
    db = await Database.open(db_path)
    await db.migrate()
    services = build_services(settings, db, SystemClock(), load_or_create_key(db_path, SECRET_KEY))
    rng = random.Random(7)
    today = datetime.now(UTC).date()
    for c in communities:
        await services.guilds.update(
            c.guild.id,
            moderator_role_id=c.moderators_role.id,
            facilitator_role_id=c.facilitators_role.id,
            member_role_id=c.members_role.id,
            family_role_id=c.family_role.id,
            modlog_channel_id=c.modlog.id,
            announce_channel_id=c.announcements.id,
            timezone="America/New_York",
        )
    per_guild = max(1, meetings // len(communities))
    for c in communities:
        async with db.transaction() as tx:
            for i in range(per_guild):
                await services.meetings.create(
                    tx,
                    guild_id=c.guild.id,
                    title=f"Meeting {i} of {c.guild.name}",
                    kind=Kind(rng.choice(KINDS)),
                    access=Access.OPEN if i % 4 else Access.CLOSED,
                    formats=("discussion",),
                    timezone=rng.choice(ZONES),
                    first_date=today + timedelta(days=1 + i % 7),
                    start_time=dtime(rng.randrange(6, 23), rng.choice([0, 30])),
                    duration_minutes=60,
                    repeat=Repeat.WEEKLY,
                    facilitator_id=c.facilitator.user.id,
                )
    await db.close()


def start_bot(
    env: dict[str, str], workdir: Path, timings: Path, profile: bool
) -> tuple[subprocess.Popen[bytes], Any]:
    """`python bench/load.py --child` (the bot with its timing hook), logging to bot.stderr."""
    cmd = [sys.executable, str(SCRIPT), "--child", str(timings)]
    if profile:
        cmd += ["--child-profile", str(workdir / "bot.prof")]
    stderr = (workdir / "bot.stderr").open("wb")
    return subprocess.Popen(cmd, env=env, cwd=workdir, stderr=stderr), stderr  # noqa: S603


async def run(args: argparse.Namespace) -> int:
    from tests.e2e.harness import build_community
    from tests.fakediscord import FakeDiscord, InvocationError
    from tests.fakediscord import rest as fake_rest

    workdir = Path(tempfile.mkdtemp(prefix="haven-load-"))
    db_path = workdir / "haven.db"
    timings = workdir / "started.json"
    bench = Bench()
    server = await FakeDiscord().start()
    server.response_timeout = 10.0

    # Timestamps: the INTERACTION_CREATE frame leaving the server, the callback arriving.
    send_dispatch = server.gateway._send_dispatch

    async def stamped_send(session: Any, event: str, payload: Any) -> None:
        if event == "INTERACTION_CREATE":
            bench.dispatched_at[payload["id"]] = time.monotonic()
        await send_dispatch(session, event, payload)

    server.gateway._send_dispatch = stamped_send  # type: ignore[method-assign,assignment]
    callback = fake_rest._callback

    async def stamped_callback(srv: Any, result: Any, body: Any) -> Any:
        answer = await callback(srv, result, body)
        bench.responded_at.setdefault(str(result.id), time.monotonic())
        return answer

    fake_rest._callback = stamped_callback  # type: ignore[assignment]

    t = time.monotonic()
    communities = [build_community(server, f"Guild {i}") for i in range(args.guilds)]
    peers = {
        c.guild.id: [
            c.peer,
            *(server.create_member(c.guild, f"peer-{j}", [c.members_role]) for j in range(4)),
        ]
        for c in communities
    }
    await server.flush()
    await populate(db_path, communities, args.meetings, server.token)
    print(
        f"setup: {args.guilds} guilds, {args.meetings} meetings in {time.monotonic() - t:.1f}s",
        flush=True,
    )

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "HAVEN_"))},
        "DISCORD_TOKEN": server.token,
        "DATABASE_PATH": str(db_path),
        "DISCORD_API_BASE": server.api_base,
        "DISCORD_GATEWAY_URL": server.gateway_url,
        "HAVEN_SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "INFO",  # the default
        "HTTP_PORT": "",
        "DEV_GUILD_ID": "",
        "OWNER_IDS": "",
        "PYTHONPATH": str(ROOT),
    }
    t = time.monotonic()
    proc, stderr = start_bot(env, workdir, timings, args.profile)
    try:
        await server.wait_for(
            lambda: "meeting" in server.command_names() or proc.poll() is not None,
            timeout=120,
            message="the bot did not sync its commands",
        )
        if proc.poll() is not None:
            raise SystemExit(f"the bot exited early: {(workdir / 'bot.stderr').read_text()}")
        await wait_ready(server, communities[-1])
        print(f"bot ready and synced in {time.monotonic() - t:.1f}s (pid {proc.pid})", flush=True)

        meeting_ids = await meeting_index(db_path)
        rooms = await open_rooms(server, db_path, communities[: args.rooms], meeting_ids)
        print(f"opened {len(rooms)} rooms", flush=True)
        rss_before, _ = proc_mem_mb(proc.pid)

        rng = random.Random(11)
        weights = [w for _, w in MIX]
        kinds = [k for k, _ in MIX]
        total = int(args.rate * args.seconds)
        tasks: list[asyncio.Task[None]] = []
        sem_counter = Counter[str]()

        async def one(n: int, kind: str) -> None:
            c = communities[rng.randrange(len(communities))]
            sample = Sample(kind, "")
            bench.samples.append(sample)
            try:
                if kind == "list":
                    res = await server.invoke(
                        c.guild, rng.choice(peers[c.guild.id]), "meeting list", _wait=False
                    )
                elif kind == "info":
                    ids = meeting_ids[c.guild.id]
                    res = await server.invoke(
                        c.guild,
                        rng.choice(peers[c.guild.id]),
                        "meeting info",
                        meeting=str(rng.choice(ids)),
                        _wait=False,
                    )
                elif kind == "schedule":
                    day = date.today() + timedelta(days=rng.randrange(2, 60))
                    res = await server.invoke(
                        c.guild,
                        c.facilitator,
                        "meeting schedule",
                        title=f"Load meeting {n}",
                        start=f"{day.isoformat()} {rng.randrange(6, 23):02d}:00",
                        repeat="weekly",
                        kind="na",
                        _wait=False,
                    )
                else:
                    room_guild, channel = rooms[rng.randrange(len(rooms))]
                    res = await server.invoke(
                        room_guild.guild,
                        rng.choice(peers[room_guild.guild.id]),
                        "checkin",
                        _channel=channel,
                        _wait=False,
                    )
                sample.iid = str(res.id)
                await res.wait()
                sample.error = wrong_answer(kind, res.all_text)
            except (AssertionError, InvocationError) as exc:
                sample.error = f"{type(exc).__name__}: {str(exc)[:120]}"
            sem_counter[kind] += 1

        cpu0, bot_cpu0, wall0 = time.process_time(), proc_cpu_seconds(proc.pid), time.monotonic()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        behind = 0.0
        for n in range(total):
            due = start + n / args.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind = max(behind, -delay)
            kind = rng.choices(kinds, weights)[0]
            tasks.append(asyncio.create_task(one(n, kind)))
        send_wall = time.monotonic() - wall0
        await asyncio.gather(*tasks)
        wall = time.monotonic() - wall0
        gen_cpu = time.process_time() - cpu0
        bot_cpu = proc_cpu_seconds(proc.pid) - bot_cpu0
        rss_after, rss_peak = proc_mem_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        stderr.close()
        fake_rest._callback = callback
        await server.stop()

    started = json.loads(timings.read_text()) if timings.exists() else {}
    to_callback: list[float] = []
    to_response: list[float] = []
    errors = [s for s in bench.samples if s.error]
    per_kind: dict[str, list[float]] = {}
    for s in bench.samples:
        sent = bench.dispatched_at.get(s.iid)
        if sent is None:
            continue
        if s.iid in started:
            to_callback.append((started[s.iid] - sent) * 1000)
        if s.iid in bench.responded_at:
            ms = (bench.responded_at[s.iid] - sent) * 1000
            to_response.append(ms)
            per_kind.setdefault(s.kind, []).append(ms)

    def row(name: str, values: list[float]) -> str:
        return (
            f"{name:<34} n={len(values):>5}  p50 {pct(values, 50):7.1f}  p95 {pct(values, 95):7.1f}"
            f"  p99 {pct(values, 99):7.1f}  max {max(values, default=float('nan')):7.1f} ms"
        )

    print()
    print(
        f"load: {total} commands at {args.rate}/s over {args.seconds}s "
        f"(sent in {send_wall:.1f}s, all answered after {wall:.1f}s, "
        f"generator at most {behind * 1000:.0f} ms behind schedule)"
    )
    print(row("dispatch -> callback start", to_callback))
    print(row("dispatch -> response at server", to_response))
    for kind, values in sorted(per_kind.items()):
        print(row(f"  /{kind} dispatch -> response", values))
    print(f"bot RSS: {rss_before:.0f} MB before, {rss_after:.0f} MB after, peak {rss_peak:.0f} MB")
    print(
        f"CPU over {wall:.1f}s on {os.cpu_count()} cores: load generator + fake server "
        f"{gen_cpu / wall * 100:.0f}% of one core, bot {bot_cpu / wall * 100:.0f}% of one core"
    )
    print(f"errors: {len(errors)} of {len(bench.samples)}")
    for s in errors[:10]:
        print(f"  /{s.kind}: {s.error}")
    if server.unmodelled:
        print(f"unmodelled REST calls: {len(server.unmodelled)}")
    if args.profile and (workdir / "bot.prof").exists():
        import pstats

        print()
        pstats.Stats(str(workdir / "bot.prof")).sort_stats("cumulative").print_stats(40)
    p99 = pct(to_callback, 99)
    ok = p99 < GOAL_P99_MS and not errors and len(to_callback) == total
    print(f"goal p99 < {GOAL_P99_MS:.0f} ms with no errors: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def wrong_answer(kind: str, text: str) -> str | None:
    """None when the answer is the one a user expects from this command."""
    expected = {
        "list": ("Meetings", "No meetings"),
        "info": ("Meeting ",),
        "schedule": ("Scheduled.",),
        "checkin": ("checked in",),
    }[kind]
    if "error ID" in text or not any(e in text for e in expected):
        return f"unexpected answer: {text[:160]!r}"
    return None


async def wait_ready(server: Any, c: Any) -> None:
    """The bot answers commands once its gateway is ready (after guild chunking)."""
    for _ in range(60):
        res = await server.invoke(c.guild, c.peer, "help", _wait=False)
        try:
            await res.wait(timeout=2.0)
            return
        except AssertionError:
            continue
    raise SystemExit("the bot never answered /help")


async def meeting_index(db_path: Path) -> dict[int, list[int]]:
    from bot.db import Database

    db = await Database.open(db_path)
    try:
        rows = await db.fetchall("SELECT guild_id, id FROM meetings ORDER BY id")
    finally:
        await db.close()
    index: dict[int, list[int]] = {}
    for guild_id, mid in rows:
        index.setdefault(guild_id, []).append(mid)
    return index


async def open_rooms(
    server: Any, db_path: Path, communities: list[Any], meeting_ids: dict[int, list[int]]
) -> list[tuple[Any, Any]]:
    """Create and open a room for the first open meeting of each guild; return (guild, channel)."""
    rooms: list[tuple[Any, int]] = []
    for c in communities:
        mid = meeting_ids[c.guild.id][1]  # every fourth meeting is closed; index 1 is open
        created = await server.invoke(c.guild, c.moderator, "room create", meeting=str(mid))
        if "Created the room" not in created.all_text:
            raise SystemExit(f"/room create failed: {created.all_text[:200]}")
        opened = await server.invoke(c.guild, c.moderator, "room open", meeting=str(mid))
        if "Opened the room" not in opened.all_text:
            raise SystemExit(f"/room open failed: {opened.all_text[:200]}")
        rooms.append((c, mid))
    with sqlite3.connect(db_path) as conn:
        links = dict(conn.execute("SELECT meeting_id, text_channel_id FROM room_links"))
    return [(c, server.state.channels[links[mid]]) for c, mid in rooms]
    return rooms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guilds", type=int, default=200)
    parser.add_argument("--meetings", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rooms", type=int, default=50, help="guilds with an open room")
    parser.add_argument("--profile", action="store_true", help="run the bot under cProfile")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.child, args.child_profile)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
