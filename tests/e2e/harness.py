"""Run a real discord.py client (plain, or the Haven bot) against the local FakeDiscord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord.gateway import DiscordWebSocket

from tests.fakediscord import Channel, FakeDiscord, Guild, Member, P, Role

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings
    from bot.runtime.app import HavenBot
    from tests.support.store import HavenStore

READY_TIMEOUT = 5.0
# The tasks discord.py runs a bot's handling in: slash commands, buttons and forms, listeners.
HANDLER_TASKS = ("CommandTree-invoker", "discord-ui-", "discord.py: ")
TEST_SECRET_KEY = "e2e-" + "0123456789abcdef" * 4
IDENTIFY_WINDOW_S = 0.2


@contextlib.contextmanager
def discord_py_endpoints() -> Iterator[None]:
    """Restore discord.py's global REST base and gateway URL afterwards."""
    base = discord.http.Route.BASE
    gateway = DiscordWebSocket.DEFAULT_GATEWAY
    try:
        yield
    finally:
        discord.http.Route.BASE = base
        DiscordWebSocket.DEFAULT_GATEWAY = gateway


def point_discord_py_at(server: FakeDiscord) -> None:
    """The two hook points: every REST call and the gateway go to the fake server."""
    discord.http.Route.BASE = server.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)


async def start_client(
    client: discord.Client,
    token: str,
    *,
    timeout: float = READY_TIMEOUT,  # noqa: ASYNC109 - a deadline for readiness, not a sleep
) -> asyncio.Task[None]:
    """login, connect in a task, and wait for on_ready racing the connect task."""
    await client.login(token)
    connect = asyncio.create_task(client.connect(), name="e2e-client-connect")
    ready = asyncio.create_task(client.wait_until_ready(), name="e2e-client-ready")
    done, _ = await asyncio.wait(
        {connect, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if ready in done:
        return connect
    ready.cancel()
    if connect in done:
        connect.result()  # raises why the connection failed
        raise AssertionError("the client's connect() returned before it was ready")
    connect.cancel()
    raise AssertionError(f"the client did not become ready within {timeout}s")


async def stop_client(client: discord.Client, connect: asyncio.Task[None] | None) -> None:
    """Close the client and wait for its connect task to end."""
    await client.close()
    if connect is not None:
        try:
            await asyncio.wait_for(connect, timeout=5)
        except asyncio.CancelledError:
            pass


@dataclass
class Community:
    """A guild with the people and roles a peer-support server has."""

    guild: Guild
    owner: Member
    moderator: Member  # holds a role with Manage Server
    facilitator: Member
    peer: Member
    family: Member
    moderators_role: Role
    facilitators_role: Role
    members_role: Role
    family_role: Role
    general: Channel
    modlog: Channel
    announcements: Channel


def build_community(server: FakeDiscord, name: str = "Recovery Haven") -> Community:
    """Create the standard test guild (before or after the bot connects)."""
    guild = server.create_guild(name)
    mods = server.create_role(guild, "Moderators", permissions=P.MANAGE_GUILD | P.MANAGE_MESSAGES)
    facil = server.create_role(guild, "Facilitators")
    members = server.create_role(guild, "In recovery")
    family = server.create_role(guild, "Family & friends")
    return Community(
        guild=guild,
        owner=guild.members[guild.owner_id],
        moderator=server.create_member(guild, "mod-mara", [mods, members]),
        facilitator=server.create_member(guild, "fac-felix", [facil, members]),
        peer=server.create_member(guild, "peer-pat", [members]),
        family=server.create_member(guild, "fam-fran", [family]),
        moderators_role=mods,
        facilitators_role=facil,
        members_role=members,
        family_role=family,
        general=server.general(guild),
        modlog=server.create_channel(guild, "mod-log"),
        announcements=server.create_channel(guild, "announcements"),
    )


def moderators_channel(server: FakeDiscord, community: Community) -> Channel:
    """A channel only moderators and the bot can see, as the anonymous line's threads need."""
    guild = community.guild
    return server.create_channel(
        guild,
        "moderators",
        overwrites=[
            (guild.everyone, 0, P.VIEW_CHANNEL),
            (community.moderators_role, P.VIEW_CHANNEL, 0),
            (server.bot_role(guild), P.VIEW_CHANNEL, 0),
        ],
    )


class HavenRunner:
    """Start, stop and restart the real Haven bot on one database against a FakeDiscord."""

    def __init__(
        self,
        server: FakeDiscord,
        database_path: Path,
        *,
        clock: Clock | None = None,
        link_clock: bool = True,
        **settings: Any,
    ) -> None:
        self.server = server
        self.database_path = database_path
        self.clock = clock
        self.settings_overrides = settings
        self.bot: HavenBot | None = None
        self._connect: asyncio.Task[None] | None = None
        self.starts = 0
        if clock is not None and link_clock:
            # Discord's own "now" (snowflakes, scheduled-event checks) follows the test clock.
            server.clock = clock.now

    def settings(self, **overrides: Any) -> Settings:
        """Settings pointing at the fake server; no `.env` and no stray environment knobs."""
        from bot.config import load_settings

        values: dict[str, Any] = {
            "_env_file": None,
            "discord_token": self.server.token,
            "database_path": self.database_path,
            "discord_api_base": self.server.api_base,
            "discord_gateway_url": self.server.gateway_url,
            "haven_secret_key": TEST_SECRET_KEY,
            "dev_guild_id": None,
            "http_port": None,
            "owner_ids": "",
            "log_level": "INFO",
            # The fake has no IDENTIFY limit: a restart or a second shard need not wait Discord's
            # 5 s (on PostgreSQL the wait is fleet-wide, kept in the database across restarts).
            "identify_window_s": IDENTIFY_WINDOW_S,
        }
        values.update(self.settings_overrides)
        values.update(overrides)
        return load_settings(**values)

    async def start(
        self,
        *,
        sync: bool = True,
        extensions: Sequence[str] | None = None,
        **settings: Any,
    ) -> HavenBot:
        """create_bot (migrations, cogs), connect, wait for ready, then sync commands."""
        from bot.runtime.app import EXTENSIONS, create_bot

        assert self.bot is None, "Haven is already running; use restart()"
        bot = await create_bot(
            self.settings(**settings),
            clock=self.clock,
            extensions=EXTENSIONS if extensions is None else extensions,
            guild_ready_timeout=0.05,
        )
        self.bot = bot
        try:
            self._connect = await start_client(bot, self.server.token)
            # Fully started means the durable job engine runs too (it starts after on_ready);
            # stopping the bot before that races the engine's first reconcile.
            jobs_started = getattr(bot, "jobs_started", None)
            if jobs_started is not None:
                await asyncio.wait_for(jobs_started.wait(), READY_TIMEOUT)
            if sync:
                await bot.sync_commands()
        except BaseException:
            await self.stop()
            raise
        self.starts += 1
        return bot

    async def stop(self) -> None:
        """Close the bot (its jobs, gateway and database)."""
        bot, self.bot = self.bot, None
        if bot is not None:
            await stop_client(bot, self._connect)
        self._connect = None

    async def restart(self, **settings: Any) -> HavenBot:
        """Stop and start again on the same database (commands are not re-synced)."""
        await self.stop()
        return await self.start(sync=False, **settings)

    async def idle(self, timeout: float = READY_TIMEOUT) -> None:  # noqa: ASYNC109 - a deadline
        """Wait until the bot finished handling what it was sent, not only answered it.

        A handler goes on after its answer (a review post, a mod-log entry and their writes), so
        a test that compares stored data before and after a command waits for this first.
        """
        await self.server.flush()  # what the server queued has reached the bot
        me = asyncio.current_task()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while busy := [
            t
            for t in asyncio.all_tasks()
            if t is not me and not t.done() and t.get_name().startswith(HANDLER_TASKS)
        ]:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"the bot is still handling {[t.get_name() for t in busy]}")
            await asyncio.wait(busy, timeout=left)

    @classmethod
    def on(
        cls, server: FakeDiscord, store: HavenStore, *, clock: Clock | None = None, **settings: Any
    ) -> HavenRunner:
        """A runner on a test's store (SQLite file or PostgreSQL database)."""
        if store.url is not None:
            settings.setdefault("database_url", store.url)
        return cls(server, store.path, clock=clock, **settings)

    @property
    def store(self) -> HavenStore:
        """The data this runner's bot uses, to read from outside it."""
        from tests.support.store import HavenStore

        return HavenStore(self.database_path, self.settings_overrides.get("database_url"))

    @property
    def running(self) -> HavenBot:
        assert self.bot is not None, "Haven is not running"
        return self.bot
