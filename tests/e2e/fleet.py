"""Run a fleet of Haven processes (``tests/e2e/fleet_child.py``) on one PostgreSQL and a FakeDiscord.

Used by ``tests/e2e/test_fleet_e2e.py`` (3 processes x 2 shards, one killed mid-burst) and
``bench/scale.py`` (the same fleet at Discord's real 50 requests/s). The parent prepares guilds
(``build_guilds``) and their meetings (``prepare_fleet``), spawns the processes with ``Fleet``
and reads when each reached a phase of its start from the file the children write.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import FakeClock, to_unix
from bot.config import Settings, load_settings
from bot.db import open_database
from bot.occurrences import Repeat
from bot.services import build_services
from bot.services.meetings import Access, Kind
from tests.e2e.harness import TEST_SECRET_KEY
from tests.fakediscord import Channel, FakeDiscord, Guild, Member

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FleetGuild:
    """A guild of the fleet: its shard, announcement and mod-log channels, and a meeting room."""

    guild: Guild
    shard: int
    announcements: Channel
    modlog: Channel
    room_text: Channel
    room_voice: Channel
    category: Channel

    @property
    def owner(self) -> Member:
        """The guild's owner (may run every command)."""
        return self.guild.members[self.guild.owner_id]

    @property
    def channel_ids(self) -> tuple[int, ...]:
        """The channels the bot posts to in this guild."""
        return (self.announcements.id, self.room_text.id, self.modlog.id)


@dataclass
class Child:
    """One spawned process: its shards and the OS process."""

    shards: tuple[int, ...]
    proc: asyncio.subprocess.Process
    spawned_at: float


@dataclass
class Fleet:
    """Spawns `python -m tests.e2e.fleet_child` processes, one per shard group, on one database.

    `shift` is added to the wall clock in every process (one shared clock); `limits` are extra
    settings (e.g. Discord's limits scaled to the fake's windows).
    """

    server: FakeDiscord
    url: str
    shift: float
    tmp: Path
    shard_count: int
    groups: tuple[tuple[int, ...], ...]
    limits: dict[str, str] = field(default_factory=dict)
    children: dict[int, Child] = field(default_factory=dict)
    phases_file: Path = field(init=False)
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.phases_file = self.tmp / "phases"
        self.phases_file.touch()
        self.log = self.tmp / "fleet.log"

    def env(self, shards: tuple[int, ...], *, sync: bool) -> dict[str, str]:
        """`python -m bot`'s environment for one process (inherited settings dropped)."""
        inherited = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        return {
            **inherited,
            "DISCORD_TOKEN": self.server.token,
            "DATABASE_URL": self.url,
            "DATABASE_PATH": str(self.tmp / "unused.db"),
            "DISCORD_API_BASE": self.server.api_base,
            "DISCORD_GATEWAY_URL": self.server.gateway_url,
            "HAVEN_SECRET_KEY": TEST_SECRET_KEY,
            "SHARD_COUNT": str(self.shard_count),
            "SHARD_IDS": ",".join(map(str, shards)),
            "LOG_LEVEL": "WARNING",
            **self.limits,
            "HAVEN_FLEET_SHIFT": repr(self.shift),
            "HAVEN_FLEET_READY": str(self.phases_file),
            "HAVEN_FLEET_SYNC": "1" if sync else "0",
            "PYTHONPATH": str(ROOT),
        }

    async def spawn(self, index: int, *, sync: bool = False) -> Child:
        """Start (or restart) the process of shard group `index`."""
        shards = self.groups[index]
        with self.log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.e2e.fleet_child",
                cwd=ROOT,
                env=self.env(shards, sync=sync),
                stdout=out,
                stderr=out,
            )
        child = Child(shards, proc, time.monotonic())
        self.children[index] = child
        return child

    def phases(self) -> dict[int, dict[str, float]]:
        """pid -> {phase: the monotonic instant the process reached it} (see fleet_child)."""
        out: dict[int, dict[str, float]] = {}
        for line in self.phases_file.read_text().splitlines():
            pid, phase, at = line.split()
            out.setdefault(int(pid), {})[phase] = float(at)
        return out

    def ready_at(self) -> dict[int, float]:
        """pid -> the monotonic instant its job engine started."""
        return {pid: p["jobs"] for pid, p in self.phases().items() if "jobs" in p}

    def ready(self, child: Child) -> float | None:
        """When this process's job engine started (None: not yet)."""
        return self.ready_at().get(child.proc.pid)

    def exited(self) -> list[int]:
        """The shard groups whose current process has exited."""
        return [i for i, c in self.children.items() if c.proc.returncode is not None]

    async def stop_all(self) -> None:
        """SIGTERM every process still running and wait (SIGKILL after 15 s)."""
        for child in self.children.values():
            if child.proc.returncode is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                await asyncio.wait_for(child.proc.wait(), timeout=15)
            except TimeoutError:
                child.proc.kill()
                await child.proc.wait()


def build_guilds(server: FakeDiscord, shard_count: int, per_shard: int) -> list[FleetGuild]:
    """`per_shard` guilds on each shard (by Discord's formula), each with its channels."""
    out = []
    for shard in range(shard_count):
        for n in range(per_shard):
            guild = server.create_guild(f"shard {shard} guild {n}", shard=shard)
            category = server.create_channel(guild, "Meeting room", "category")
            out.append(
                FleetGuild(
                    guild=guild,
                    shard=shard,
                    announcements=server.create_channel(guild, "announcements"),
                    modlog=server.create_channel(guild, "mod-log"),
                    room_text=server.create_channel(guild, "room", parent=category),
                    room_voice=server.create_channel(guild, "room-voice", "voice", parent=category),
                    category=category,
                )
            )
    assert [(g.guild.id >> 22) % shard_count for g in out] == [g.shard for g in out]
    return out


async def prepare_fleet(
    url: str, guilds: list[FleetGuild], meetings: int, start: datetime, *, rooms: bool
) -> None:
    """Settings and `meetings` one-off meetings at `start` spread over the guilds, each with a
    15-minute channel reminder; with `rooms`, each guild's first meeting has a room that opens
    15 minutes before too. Reminders and room jobs are materialised, all due together."""
    settings = load_settings(
        _env_file=None, discord_token="x", database_url=url, haven_secret_key=TEST_SECRET_KEY
    )
    fire = start - timedelta(minutes=15)
    db = await open_database(url, Path("unused.db"))
    try:
        services = build_services(settings, db, FakeClock(fire - timedelta(seconds=1)), b"k" * 32)
        for g in guilds:
            await services.guilds.update(
                g.guild.id,
                announce_channel_id=g.announcements.id,
                modlog_channel_id=g.modlog.id,
                reminder_offsets="15",
                room_open_minutes=15,
                timezone="UTC",
            )
        ids: list[int] = []
        async with db.transaction() as tx:
            for i in range(meetings):
                ids.append(
                    await services.meetings.create(
                        tx,
                        guild_id=guilds[i % len(guilds)].guild.id,
                        title=f"Fleet {i}",
                        kind=Kind.NA,
                        access=Access.OPEN,
                        formats=(),
                        timezone="UTC",
                        first_date=start.date(),
                        start_time=start.time(),
                        duration_minutes=60,
                        repeat=Repeat.ONCE,
                    )
                )
        for g, meeting_id in zip(guilds, ids if rooms else [], strict=False):
            meeting = await services.meetings.get(meeting_id)
            assert meeting is not None
            await services.rooms.save_link(
                meeting,
                category_id=g.category.id,
                text_channel_id=g.room_text.id,
                voice_channel_id=g.room_voice.id,
                stage=False,
            )
        await services.reminders.reconcile()
        counts = dict(
            await db.fetchall(
                "SELECT kind, COUNT(*) FROM jobs WHERE fire_at = ? GROUP BY kind", (to_unix(fire),)
            )
        )
        expected = {"reminder": meetings} | ({"room_open": len(guilds)} if rooms else {})
        assert counts == expected, counts
    finally:
        await db.close()


def shard_of_channel(guilds: list[FleetGuild], channel_id: int) -> int | None:
    """The shard of the guild a channel belongs to (None: not a fleet guild's)."""
    for g in guilds:
        if channel_id in g.channel_ids:
            return g.shard
    return None
