"""The Discord client: wiring services, cogs, feed server, sync, shutdown. Logic is in services."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.bus import GUILD_MEMBER_LEFT
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db import Database, open_database, password_of
from bot.keys import key_source, load_or_create_key
from bot.logging_setup import register_secret
from bot.runtime.feeds_http import FeedServer, serve_feeds
from bot.runtime.fleet import IdentifyQueue, RestLimiter, rest_share
from bot.runtime.tree import HavenTranslator, HavenTree
from bot.services import Services, build_services

log = logging.getLogger(__name__)

# In-flight timed work gets this long at shutdown, then stays claimed and is reclaimed at the
# next start; with Discord's and the database's close this keeps SIGTERM-to-exit under 10 s.
SHUTDOWN_GRACE_S = 5.0

# Cogs load in this order; each module exposes `async def setup(bot)`.
EXTENSIONS: tuple[str, ...] = (
    "cogs.setup",
    "cogs.help",
    "cogs.privacy",
    "cogs.admin",
    "cogs.meetings",
    "cogs.rooms",
    "cogs.reminders",
    "cogs.onboarding",
    "cogs.attendance",
    "cogs.modline",
    "cogs.resources",
    "cogs.crisis",
    "cogs.feeds",
)


def apply_endpoints(settings: Settings) -> None:
    """Point discord.py at a proxy or local server when DISCORD_API_BASE/GATEWAY_URL are set."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    else:
        discord.http._set_api_version(10)
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    else:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("wss://gateway.discord.gg/")


def default_intents() -> discord.Intents:
    """Guilds, members (welcomes and leave clean-up), DMs, voice states; no message content."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.members = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.voice_states = True
    intents.guild_scheduled_events = True
    return intents


class HavenBot(commands.Bot):
    """Haven's client. Holds the services; cogs are thin glue over them."""

    def __init__(
        self,
        services: Services,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        sync_on_start: bool = False,
        **options: object,
    ) -> None:
        # Discord's limits are per bot: this process keeps to its share of the REST budget and
        # takes its IDENTIFY turns from the fleet's queue (design/scale-out.md).
        rest_limiter = RestLimiter(rest_share(services.settings))
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=default_intents(),
            tree_cls=HavenTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=rest_limiter.trace(lambda: discord.http.Route.BASE),
            **options,  # type: ignore[arg-type]
        )
        self.rest_limiter = rest_limiter
        self.identify_queue = IdentifyQueue(services.settings.identify_window_s, services.db)
        self._max_concurrency: int | None = None
        self.services = services
        self._extensions = tuple(extensions)
        self._sync_on_start = sync_on_start
        self._closing = False
        self._jobs_task: asyncio.Task[None] | None = None
        self.feed_server: FeedServer | None = None
        self.jobs_started = asyncio.Event()

    @property
    def db(self) -> Database:
        """The shared database."""
        return self.services.db

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        return self.services.clock

    async def setup_hook(self) -> None:
        """Load settings caches and cogs, start the feed server (HTTP_PORT); sync when asked."""
        await self.services.guilds.preload()
        await self.tree.set_translator(HavenTranslator())  # reads the catalogues
        for name in self._extensions:
            await self.load_extension(name)
        settings = self.services.settings
        if settings.feeds_in_bot:
            self.feed_server = await serve_feeds(
                self.services.feeds, self.clock, settings.http_host, settings.http_port
            )
        else:
            log.info("FEEDS_IN_BOT is off: `python -m bot.feeds` serves the feeds")
        if self._sync_on_start:
            await self.sync_commands()
        self._jobs_task = asyncio.create_task(self._start_jobs(), name="haven-start-jobs")

    async def _start_jobs(self) -> None:
        """Start the durable timer once the gateway is ready (handlers need the cache)."""
        await self.wait_until_ready()
        await self.services.jobs.start()
        # Start-up is over: move what it built (modules, caches) out of the collector's sight, so
        # a full collection during a reminder burst scans only newer objects (measured: one
        # landing in a 1,300-reminder burst added ~11 ms to its p95 lateness).
        gc.collect()
        gc.freeze()
        self.jobs_started.set()

    async def sync_commands(self) -> int:
        """Sync slash commands to DEV_GUILD_ID when set, else globally; return how many."""
        dev_guild = self.services.settings.dev_guild_id
        if dev_guild:
            guild = discord.Object(id=dev_guild)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to the development guild", len(synced))
        else:
            synced = await self.tree.sync()
            log.info("Synced %d commands globally", len(synced))
        return len(synced)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for this shard's IDENTIFY turn in its bucket, fleet-wide on PostgreSQL.

        Replaces discord.py's 5 s sleep, which ignores max_concurrency and other processes.
        """
        concurrency = 1 if shard_id is None else await self._identify_concurrency()
        waited = await self.identify_queue.wait(shard_id, concurrency)
        if waited > 0:
            log.debug("shard %s waited %.2f s for its IDENTIFY turn", shard_id, waited)

    async def _identify_concurrency(self) -> int:
        """Discord's max_concurrency (GET /gateway/bot's session_start_limit), asked once."""
        if self._max_concurrency is not None:
            return self._max_concurrency
        try:
            _, _, limits = await self.http.get_bot_gateway()
        except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
            log.warning("could not read max_concurrency (%s); identifying one at a time", exc)
            return 1
        self._max_concurrency = max(1, int(limits.get("max_concurrency") or 1))
        remaining = limits.get("remaining")
        if isinstance(remaining, int) and remaining < 100:
            log.warning("only %d gateway session starts left today", remaining)
        return self._max_concurrency

    async def on_ready(self) -> None:
        """Log a line at readiness (no user data)."""
        log.info(
            "Connected as bot user %s in %d guilds",
            self.user.id if self.user else "?",
            len(self.guilds),
        )

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Back in a guild: cancel a pending purge of its data."""
        await self.services.guilds.mark_returned(guild.id)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed from a guild: its data is purged after the grace period, not at once."""
        await self.services.guilds.mark_departed(guild.id)

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member left: forget what is keyed to them in this guild."""
        await self.services.privacy.forget_user(payload.user.id, payload.guild_id)
        await self.services.events.emit(
            GUILD_MEMBER_LEFT, guild_id=payload.guild_id, user_id=payload.user.id
        )

    async def post_modlog(self, guild_id: int, embed: discord.Embed) -> bool:
        """Write an entry to the guild's mod-log channel; False when none is usable."""
        settings = await self.services.guilds.get(guild_id)
        if settings.modlog_channel_id is None:
            return False
        channel = self.get_channel(settings.modlog_channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("mod-log channel of a guild is missing")
            return False
        try:
            await channel.send(embed=embed)
        except discord.HTTPException as exc:
            log.warning("could not write to the mod-log channel: HTTP %s", exc.status)
            return False
        return True

    async def close(self) -> None:
        """Stop timers, close Discord, then the database."""
        if self._closing:
            return
        self._closing = True
        # The engine may still be starting (waiting for READY or in its first reconcile): end
        # that before stopping it, or the reconcile runs on after the database is closed.
        start = self._jobs_task
        if start is not None and not start.done():
            start.cancel()
            await asyncio.gather(start, return_exceptions=True)
        await self.services.jobs.stop(grace_s=SHUTDOWN_GRACE_S)
        try:
            # Check-ins are counted in memory between saves: keep them across the restart.
            await self.services.attendance.save_all()
        except Exception:
            log.exception("could not save the open rooms' check-in counts")
        server, self.feed_server = self.feed_server, None
        if server is not None:
            try:
                await server.stop()
            except Exception:
                log.exception("could not stop the feed server")
        for cog in list(self.cogs.values()):
            stop = getattr(cog, "shutdown", None)
            if stop is not None:
                try:
                    await stop()
                except Exception:
                    log.exception("cog shutdown failed")
        await super().close()
        await self.services.db.close()
        log.info("Stopped; the database is closed")


class ShardedHavenBot(HavenBot, commands.AutoShardedBot):
    """Haven on Discord gateway shards (SHARD_COUNT / SHARD_IDS); otherwise the same client."""


async def create_bot(
    settings: Settings,
    *,
    clock: Clock | None = None,
    extensions: Sequence[str] = EXTENSIONS,
    sync_on_start: bool = False,
    **options: object,
) -> HavenBot:
    """Open and migrate the database, load the key, build services and the (sharded) client."""
    apply_endpoints(settings)
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    if database_url:
        register_secret(password_of(database_url) or "")
    db = await open_database(database_url, settings.database_path)
    try:
        await db.migrate()
        secret = settings.haven_secret_key.get_secret_value() if settings.haven_secret_key else None
        key = load_or_create_key(settings.database_path, secret, settings.haven_key_path)
    except BaseException:
        await db.close()
        raise
    if key_source(settings).ignored_file is not None:
        log.warning("HAVEN_KEY_PATH is ignored: HAVEN_SECRET_KEY is set and supplies the key")
    # The instance key (and what it came from) must never reach a log line.
    for value in (key, settings.discord_token.get_secret_value(), secret or ""):
        register_secret(value)
    services = build_services(settings, db, clock or SystemClock(), key)
    try:
        # PostgreSQL: take this process's shard locks before its gateway connects. While another
        # process runs one of these shards this waits (and says so): the shard lock guards
        # against two processes serving one shard, a restart takes over the moment it is free.
        await services.jobs.join()
    except BaseException:
        await db.close()
        raise
    if settings.shard_count is None:
        return HavenBot(services, extensions=extensions, sync_on_start=sync_on_start, **options)
    shard_ids = list(settings.shard_ids or range(settings.shard_count))
    return ShardedHavenBot(
        services,
        extensions=extensions,
        sync_on_start=sync_on_start,
        shard_count=settings.shard_count,
        shard_ids=shard_ids,
        **options,
    )


async def run(settings: Settings, *, sync: bool = False) -> None:
    """Run the bot until it is closed by a signal."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def _stop() -> None:
        stopping.set()

    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, _stop)
        except NotImplementedError:  # pragma: no cover - Windows
            pass

    waiter = asyncio.create_task(stopping.wait())
    # create_bot may wait for shard locks another process holds: a signal ends that wait too.
    creating = asyncio.create_task(create_bot(settings, sync_on_start=sync))
    await asyncio.wait({creating, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if not creating.done():
        log.info("Stopped while waiting to start")
        creating.cancel()
        await asyncio.gather(creating, return_exceptions=True)
        return
    if creating.exception() is not None:
        waiter.cancel()
    bot = creating.result()

    async def _runner() -> None:
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())

    task = asyncio.create_task(_runner())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if waiter in done:
        log.info("Shutting down")
        await bot.close()
        try:
            await asyncio.wait_for(task, timeout=2)
        except (TimeoutError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("the client ended with an error while shutting down")
    else:
        waiter.cancel()
        await bot.close()
        task.result()
