"""The public feeds over HTTP: a small aiohttp app for a reverse proxy, inside the bot process
or alone (`python -m bot.feeds`, ``run_feed_process``) when several bot processes share a database.

Routes: ``GET /feeds/{token}/meetings.ics`` and ``GET /feeds/{token}/meetings.json``. Anything
else, and any unknown or rotated token, gets the same plain 404, so a response never tells
whether a guild exists. Every request (404s included, which slows token guessing) spends a token
from a per-client bucket; an empty bucket answers 429 with Retry-After. Access logging is off:
the URL holds the feed's secret token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import signal
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db import Database, open_database
from bot.errors import ConfigError, DatabaseUnavailableError
from bot.models.feeds import FeedKind, RenderedFeed
from bot.services.feeds import FeedService
from bot.services.meetings import MeetingStore
from bot.services.privacy import PrivacyService
from bot.services.schedule_page import PAGE_HEADERS, schedule_page

log = logging.getLogger(__name__)

__all__ = [
    "FeedServer",
    "RateLimiter",
    "client_key",
    "create_app",
    "open_feed_store",
    "run_feed_process",
    "serve_feeds",
]

CACHE_CONTROL = "public, max-age=900"
_NOT_FOUND = "Not found.\n"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # seconds since the epoch of the last refill


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``per_minute``."""

    def __init__(
        self, clock: Clock, *, per_minute: float = 30, burst: int = 30, max_clients: int = 10_000
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.clock = clock
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one request for a client: 0 when allowed, else seconds until the next one."""
        now = self.clock.now().timestamp()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[key] = bucket
            self._evict()
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _evict(self) -> None:
        """Bound memory: drop the least recently seen clients beyond ``max_clients``."""
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)


FEEDS_KEY = web.AppKey("feeds", FeedService)
LIMITER_KEY = web.AppKey("limiter", RateLimiter)


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def client_key(request: web.Request) -> str:
    """The client's address; behind a reverse proxy on loopback, the one it forwarded."""
    remote = request.remote or "unknown"
    if _is_loopback(remote):
        # Only a proxy on this machine can reach a loopback-bound server, so its header is
        # trusted; the last hop is the address the proxy itself saw.
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
        real = request.headers.get("X-Real-IP", "").strip()
        if real:
            return real
    return remote


def _http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _not_found() -> web.Response:
    return web.Response(
        status=404,
        text=_NOT_FOUND,
        content_type="text/plain",
        headers={"Cache-Control": "no-store"},
    )


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of If-None-Match against our entity tag (RFC 9110 13.1.2)."""
    ours = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == ours:
            return True
    return False


def _not_modified(request: web.Request, rendered: RenderedFeed) -> bool:
    """Whether the client's validators still match (If-None-Match wins over If-Modified-Since)."""
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        return _etag_matches(inm, rendered.etag)
    ims = request.headers.get("If-Modified-Since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return rendered.last_modified <= since
    return False


async def _serve(request: web.Request, kind: FeedKind) -> web.StreamResponse:
    feeds = request.app[FEEDS_KEY]
    rendered = await feeds.render(request.match_info["token"], kind)
    if rendered is None:
        return _not_found()
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": _http_date(rendered.last_modified),
        "Cache-Control": CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
        "X-Robots-Tag": "noindex",
    }
    if _not_modified(request, rendered):
        return web.Response(status=304, headers=headers)
    if kind == "ics":
        headers["Content-Disposition"] = 'inline; filename="meetings.ics"'
        return web.Response(
            body=rendered.body, content_type="text/calendar", charset="utf-8", headers=headers
        )
    return web.Response(body=rendered.body, content_type="application/json", headers=headers)


async def _ics(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "ics")


async def _json(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "json")


async def _page(request: web.Request) -> web.StreamResponse:
    """The public schedule page (bot/services/schedule_page.py): same token, same 404."""
    page = await schedule_page(request.app[FEEDS_KEY], request.match_info["token"], request.query)
    if page is None:
        return _not_found()
    # Revalidated on every load: a cancelled or moved meeting shows at once (304 when unchanged).
    headers = {**PAGE_HEADERS, "ETag": page.etag, "Cache-Control": "no-cache"}
    inm = request.headers.get("If-None-Match")
    if inm is not None and _etag_matches(inm, page.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=page.body, content_type="text/html", charset="utf-8", headers=headers)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Rate-limit every request; answer unknown paths and failures without detail."""
    wait = request.app[LIMITER_KEY].take(client_key(request))
    if wait > 0:
        return web.Response(
            status=429,
            text="Too many requests. Try again later.\n",
            content_type="text/plain",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _not_found()
    except web.HTTPException:
        raise
    except Exception as exc:
        # Never log the URL: it carries the token.
        log.error("feed request failed: %s", type(exc).__name__)
        return web.Response(
            status=503,
            text="The feed is unavailable right now. Try again later.\n",
            content_type="text/plain",
            headers={"Retry-After": "60"},
        )


def create_app(
    feeds: FeedService, clock: Clock, *, per_minute: float = 30, burst: int = 30
) -> web.Application:
    """The feeds web application (routes, rate limit, uniform 404s)."""
    app = web.Application(middlewares=[_guard])
    app[FEEDS_KEY] = feeds
    app[LIMITER_KEY] = RateLimiter(clock, per_minute=per_minute, burst=burst)
    app.router.add_get("/feeds/{token}/meetings.ics", _ics)
    app.router.add_get("/feeds/{token}/meetings.json", _json)
    app.router.add_get("/feeds/{token}/", _page)
    return app


class FeedServer:
    """Runs the feeds app on one host and port; start and stop are idempotent."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    @property
    def port(self) -> int | None:
        """The port it listens on (the one the system chose for port 0), or None when stopped."""
        addresses = self._runner.addresses if self._runner is not None else []
        return int(addresses[0][1]) if addresses else None

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (no access log: URLs carry tokens)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site

    async def stop(self) -> None:
        """Stop listening and release the port."""
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()


async def serve_feeds(
    feeds: FeedService, clock: Clock, host: str, port: int | None
) -> FeedServer | None:
    """The running feed server, or None when no port is set or it cannot listen (logged)."""
    if port is None:
        log.info("HTTP_PORT is not set: the feed server is off")
        return None
    server = FeedServer(create_app(feeds, clock))
    try:
        await server.start(host, port)
    except OSError as exc:
        # The bot keeps running; only the feeds are unavailable.
        log.error("feed server could not listen on %s:%s: %s", host, port, exc.strerror)
        return None
    log.info("Feed server listening on %s:%s", host, port)
    return server


# --- `python -m bot.feeds`: the feeds alone, for several bot processes ------------------------


async def open_feed_store(settings: Settings) -> Database:
    """The bots' database, for the feeds: never created, migrated or claimed from here."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    if url is None and not settings.database_path.is_file():
        raise DatabaseUnavailableError(
            f"There is no database at {settings.database_path}: set DATABASE_PATH (or "
            "DATABASE_URL) to the bot's database, and start the bot once first."
        )
    db = await open_database(url, settings.database_path)
    try:
        if "feed_versions" not in await db.tables():
            raise DatabaseUnavailableError(
                "The database is older than this Haven's feeds (no feed_versions table): run "
                "`python -m bot migrate` or start the bot once first."
            )
    except BaseException:
        await db.close()
        raise
    return db


async def run_feed_process(
    settings: Settings, host: str, port: int, *, clock: Clock | None = None
) -> None:
    """Serve the feeds without Discord until SIGINT or SIGTERM, reading the bots' database.

    Its only write is a feed's content version (feed_versions), shared with every feed server.
    """
    db = await open_feed_store(settings)
    clock = clock or SystemClock()
    feeds = FeedService(db, clock, MeetingStore(db, clock, PrivacyService(db)))
    server = FeedServer(create_app(feeds, clock))
    try:
        try:
            await server.start(host, port)
        except OSError as exc:
            raise ConfigError(
                f"The feed server cannot listen on {host}:{port} ({exc.strerror}): set HTTP_HOST "
                "and HTTP_PORT (or --host/--port) to a free address."
            ) from None
        log.info("Feed server listening on %s:%s", host, server.port)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stopping.set)
            except NotImplementedError:  # pragma: no cover - Windows
                pass
        await stopping.wait()
        log.info("Shutting down")
    finally:
        await server.stop()
        await db.close()
