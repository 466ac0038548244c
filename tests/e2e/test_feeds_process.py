"""`python -m bot.feeds`: the feeds served alone, without Discord, beside the bot processes.

Real subprocesses on loopback: no DISCORD_TOKEN, the database only (a SQLite file the bot holds
open, or PostgreSQL as a role with only the grants docs/feeds.md documents), and the same ETag,
Last-Modified and body from every feed server and after a restart.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path

import aiohttp
import pytest

from bot.clock import FakeClock
from bot.db import Database
from bot.occurrences import Repeat
from bot.services.feeds import FeedService
from bot.services.meetings import Access, Kind, MeetingStore
from bot.services.privacy import PrivacyService
from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord
from tests.support.meetings import make_meeting
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
GUILD = 7100
# The role docs/feeds.md tells operators to create (README links it), with exactly these grants.
FEEDS_ROLE = "haven_feeds"
FEEDS_GRANTS = (
    "GRANT SELECT ON meetings, meeting_exceptions, meeting_facilitators, guild_feeds, "
    f"feed_invites, feed_versions, guild_settings TO {FEEDS_ROLE}",
    f"GRANT INSERT, UPDATE ON feed_versions TO {FEEDS_ROLE}",
)
_LISTENING = re.compile(r"Feed server listening on 127\.0\.0\.1:(\d+)")
START_TIMEOUT = 30.0


class FeedProcess:
    """One `python -m bot.feeds` with only the settings given (no DISCORD_TOKEN, no .env)."""

    def __init__(self, cwd: Path, settings: dict[str, str]) -> None:
        self.cwd = cwd
        self.settings = settings
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.stderr: list[str] = []

    def env(self) -> dict[str, str]:
        """The child's whole environment: what Python needs and the settings, nothing else."""
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        return {**base, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "INFO", **self.settings}

    async def run(self, *args: str) -> tuple[int, str]:
        """Run to completion (for refusals); the exit code and stderr."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.feeds", *args, env=self.env(), cwd=self.cwd,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT)
        return proc.returncode or 0, err.decode()

    async def start(self, *args: str) -> FeedProcess:
        """Start it and wait for the line that says where it listens."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.feeds", "--port", "0", *args, env=self.env(),
            cwd=self.cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stderr is not None
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                line = (await self.proc.stderr.readline()).decode()
                self.stderr.append(line)
                if not line:
                    raise AssertionError("bot.feeds ended before listening:\n" + self.log)
                found = _LISTENING.search(line)
                if found:
                    self.port = int(found.group(1))
                    return self

    @property
    def log(self) -> str:
        """What it wrote to stderr so far."""
        return "".join(self.stderr)

    def url(self, token: str, kind: str) -> str:
        """A feed's URL on this process."""
        return f"http://127.0.0.1:{self.port}/feeds/{token}/meetings.{kind}"

    async def stop(self) -> int:
        """SIGTERM, then its exit code."""
        assert self.proc is not None and self.proc.stderr is not None
        self.proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(self.proc.stderr.read(), START_TIMEOUT)
        self.stderr.append(rest.decode())
        return await asyncio.wait_for(self.proc.wait(), START_TIMEOUT)

    async def kill(self) -> None:
        """End it whatever its state (test clean-up)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def processes() -> AsyncIterator[list[FeedProcess]]:
    """Feed processes a test starts; every one still running is killed afterwards."""
    started: list[FeedProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            await proc.kill()


Response = tuple[int, Mapping[str, str], bytes]


async def fetch(url: str, **headers: str) -> Response:
    """GET a URL: status, headers (any case) and body."""
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


def validators(response: Response) -> tuple[int, str, str, bytes]:
    """What must be identical on every feed server: status, ETag, Last-Modified, body."""
    status, headers, body = response
    return status, headers["ETag"], headers["Last-Modified"], body


async def publish(db: Database, clock: FakeClock) -> tuple[FeedService, MeetingStore, int, str]:
    """A guild with feeds on and one weekly meeting; (feeds, store, meeting id, token)."""
    store = MeetingStore(db, clock, PrivacyService(db))
    feeds = FeedService(db, clock, store)
    async with db.transaction() as tx:
        meeting_id = await store.create(
            tx,
            guild_id=GUILD,
            title="Thursday Serenity",
            kind=Kind.NA,
            access=Access.OPEN,
            formats=("speaker",),
            timezone="Europe/London",
            first_date=date(2027, 1, 7),
            start_time=time(19, 30),
            duration_minutes=60,
            repeat=Repeat.WEEKLY,
            facilitator_id=424242,
        )
    token, _ = await feeds.enable(GUILD, calendar_name="Serenity")
    assert token is not None
    return feeds, store, meeting_id, token


async def test_feeds_process_serves_a_sqlite_feed_without_a_discord_token(
    tmp_path: Path, processes: list[FeedProcess]
) -> None:
    path = tmp_path / "haven.db"
    db = await Database.open(path)  # stays open, as the running bot's connection would
    try:
        await db.migrate()
        _, _, _, token = await publish(db, FakeClock(datetime(2026, 12, 1, tzinfo=UTC)))
        feeds = FeedProcess(tmp_path, {"DATABASE_PATH": str(path)})
        processes.append(await feeds.start())
        status, headers, body = await fetch(feeds.url(token, "ics"))
        assert status == 200, feeds.log
        assert headers["Content-Type"].startswith("text/calendar")
        assert b"SUMMARY:Thursday Serenity" in body and b"424242" not in body
        status, _, body = await fetch(feeds.url(token, "json"))
        assert status == 200 and b'"name": "Thursday Serenity"' in body
        # Unknown tokens and paths get the same plain 404 as from the bot's own server.
        assert (await fetch(feeds.url("x" * 43, "ics")))[::2] == (404, b"Not found.\n")
        assert (await fetch(f"http://127.0.0.1:{feeds.port}/"))[::2] == (404, b"Not found.\n")
        # Its one write: the content versions every feed server shares.
        kinds = await db.fetchall("SELECT kind FROM feed_versions WHERE guild_id = ?", (GUILD,))
        assert sorted(r[0] for r in kinds) == ["ics", "json"]
        assert await feeds.stop() == 0
        assert token not in feeds.log  # no access log: the URL carries the token
    finally:
        await db.close()


async def test_feeds_process_refuses_clearly_without_a_database_or_a_port(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nowhere" / "haven.db"
    code, err = await FeedProcess(tmp_path, {"DATABASE_PATH": str(missing)}).run("--port", "0")
    assert code == 2 and "DATABASE_PATH" in err and "Traceback" not in err
    assert not missing.parent.exists()  # it never creates a database of its own
    code, err = await FeedProcess(tmp_path, {"DATABASE_PATH": str(missing)}).run()
    assert code == 2 and "HTTP_PORT" in err


async def test_two_feed_processes_and_a_restart_serve_identical_validators(
    postgres_server: PostgresServer, tmp_path: Path, processes: list[FeedProcess]
) -> None:
    name = await postgres_server.fresh_database()
    db = await Database.open(postgres_server.url(name))
    try:
        # A feed server rendered this feed the day before (another process, or before a restart).
        clock = FakeClock(datetime(2026, 11, 30, 8, 15, 42, tzinfo=UTC))
        feeds, store, meeting_id, token = await publish(db, clock)
        earlier = await feeds.render(token, "ics")
        assert earlier is not None
        await db.execute(
            f"DO $$ BEGIN CREATE ROLE {FEEDS_ROLE} LOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        for grant in FEEDS_GRANTS:
            await db.execute(grant)
        url = postgres_server.url(name).replace("postgres@", f"{FEEDS_ROLE}@")
        first, second = (FeedProcess(tmp_path, {"DATABASE_URL": url}) for _ in range(2))
        for proc in (first, second):
            processes.append(await proc.start())

        for kind in ("ics", "json"):
            one = validators(await fetch(first.url(token, kind)))
            two = validators(await fetch(second.url(token, kind)))
            assert one == two, (kind, first.log, second.log)
        ics = validators(await fetch(first.url(token, "ics")))
        assert ics[1:] == (earlier.etag, "Mon, 30 Nov 2026 08:15:42 GMT", earlier.body)
        # The schedule page, like the feeds' text, reads the guild's language as this role.
        page = await fetch(first.url(token, "ics").removesuffix("meetings.ics"))
        assert page[0] == 200 and b"Thursday Serenity" in page[2], first.log
        # A validator from one process is honoured by the other.
        assert (await fetch(second.url(token, "ics"), **{"If-None-Match": ics[1]}))[0] == 304

        assert await first.stop() == 0
        restarted = FeedProcess(tmp_path, {"DATABASE_URL": url})
        processes.append(await restarted.start())
        assert validators(await fetch(restarted.url(token, "ics"))) == ics

        # New content: a new ETag, the same on both processes.
        clock.set(datetime(2026, 12, 1, tzinfo=UTC))
        async with db.transaction() as tx:
            await store.update(tx, meeting_id, title="Thursday Serenity (new room)")
        changed = validators(await fetch(restarted.url(token, "ics")))
        assert changed[0] == 200 and changed[1] != ics[1]
        assert b"Thursday Serenity (new room)" in changed[3]
        assert validators(await fetch(second.url(token, "ics"))) == changed
        mine = await feeds.render(token, "ics")
        assert mine is not None and (mine.etag, mine.body) == (changed[1], changed[3])
    finally:
        await db.close()
        await postgres_server.drop_database(name)


async def test_the_bot_leaves_http_port_to_the_feeds_process(
    discord_server: FakeDiscord,
    community: Community,
    haven_runner: HavenRunner,
    tmp_path: Path,
    processes: list[FeedProcess],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await haven_runner.start(http_port=port, feeds_in_bot=False)
    try:
        services = haven_runner.running.services
        await make_meeting(services, community.guild.id, title="Tuesday Hope")
        result = await discord_server.invoke(
            community.guild, community.moderator, "setup feeds", action="enable"
        )
        found = re.search(r"/feeds/([A-Za-z0-9_-]{43})/meetings\.ics", result.content)
        assert found is not None, result.content
        assert "HTTP_PORT" not in result.content  # the feeds are served, just not by the bot
        # The bot did not take HTTP_PORT: the feeds process listens there, on the bot's file.
        feeds = FeedProcess(tmp_path, {"DATABASE_PATH": str(haven_runner.database_path)})
        processes.append(await feeds.start("--port", str(port)))
        assert feeds.port == port
        status, _, body = await fetch(feeds.url(found.group(1), "ics"))
        assert status == 200 and b"SUMMARY:Tuesday Hope" in body
    finally:
        await haven_runner.stop()
