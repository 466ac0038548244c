"""FakeDiscord: the aiohttp server, its state, factories and test-side driving helpers."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import rest
from .faults import Fault, FaultInjector, FaultKind
from .gateway import Gateway, Intents
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionResult,
    InvocationError,
    build_options,
    find_command,
    nest_options,
)
from .rest import Call
from .snowflake import SnowflakeGenerator
from .state import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE,
    Channel,
    ChannelType,
    Guild,
    Invite,
    Member,
    Message,
    P,
    Role,
    ScheduledEvent,
    StoredCommand,
    User,
    Webhook,
    compute_base_permissions,
    compute_channel_permissions,
    iso,
)
from .validation import DiscordError

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Predicate = Callable[[], object]  # truthy, or an awaitable of a truthy value

_CHANNEL_TYPE_NAMES = {
    "text": ChannelType.TEXT,
    "voice": ChannelType.VOICE,
    "category": ChannelType.CATEGORY,
    "news": ChannelType.NEWS,
    "stage": ChannelType.STAGE,
    "forum": ChannelType.FORUM,
}


class State:
    """Everything the fake Discord knows."""

    def __init__(self, application_id: int, bot_user: User) -> None:
        self.application_id = application_id
        self.bot_user = bot_user
        self.users: dict[int, User] = {bot_user.id: bot_user}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.events: dict[int, ScheduledEvent] = {}
        self.invites: dict[str, Invite] = {}
        self.commands: dict[int | None, list[StoredCommand]] = {}
        self.nonce_index: dict[tuple[int, str], int] = {}
        self.dm_channels: dict[int, int] = {}

    def commands_for(self, guild_id: int | None) -> list[StoredCommand]:
        return list(self.commands.get(guild_id, []))

    def set_commands(self, guild_id: int | None, commands: list[StoredCommand]) -> None:
        self.commands[guild_id] = commands


def _json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly `application/json`: with `; charset=utf-8` discord.py reads the body as text.
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(status=status, body=json.dumps(data).encode(), headers=hdrs)


class FakeDiscord:
    """A Discord-compatible REST + gateway server on loopback, for end-to-end tests.

    Use `await server.start()`, point discord.py at `server.api_base` / `server.gateway_url`
    and log in with `server.token`. Unknown REST calls answer 404 and land in `unmodelled`.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_name: str = "Haven",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._ids = SnowflakeGenerator()
        self.token = token or f"fake.{secrets.token_urlsafe(16)}"
        app_id = self.new_id()
        bot = User(self.new_id(), bot_name, bot=True)
        self.state = State(app_id, bot)
        self.owner_user = User(self.new_id(), "app-owner")
        self.state.users[self.owner_user.id] = self.owner_user
        self.gateway = Gateway(self)
        self.faults = FaultInjector()
        self.calls: list[Call] = []
        self.unmodelled: list[Call] = []
        self.nonce_hits: list[Message] = []
        self.interactions: dict[int, InteractionResult] = {}
        # Privileged intents switched on in the "Developer Portal"; IDENTIFY asking for one
        # that is off is closed with 4014, as on Discord.
        self.privileged_intents = Intents.PRIVILEGED
        self.response_timeout = 3.0
        self.global_limit_per_second: int | None = None  # e.g. 50, as Discord's global limit
        self.global_limit_window = 1.0  # seconds; tests may shrink it to stay fast
        self._recent: list[float] = []
        self._mono_offset = 0.0
        self._changed = asyncio.Event()
        self._outbox: asyncio.Queue[tuple[str, JSON, asyncio.Future[None] | None]] | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle_rest)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{name}", self._attachment)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.1
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        assert sockets, "the server did not bind"
        self.port = sockets[0].getsockname()[1]
        self._outbox = asyncio.Queue()
        self._outbox_task = asyncio.create_task(self._drain_outbox())
        return self

    async def stop(self) -> None:
        self._stopping.set()
        await self.gateway.close_all()
        if self._outbox_task is not None:
            self._outbox_task.cancel()
            try:
                await self._outbox_task
            except asyncio.CancelledError:
                pass
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/"

    # -- time and ids ------------------------------------------------------------------------

    def now(self) -> datetime:
        """Discord's wall clock (follows a test FakeClock when the harness links one)."""
        return self.clock()

    def monotonic(self) -> float:
        """The clock of interaction deadlines; `advance()` moves it without sleeping."""
        return time.monotonic() + self._mono_offset

    def advance(self, seconds: float) -> None:
        """Move the interaction-deadline clock forward (e.g. past the 3 s reply deadline)."""
        self._mono_offset += seconds

    def new_id(self, when: datetime | None = None) -> int:
        """A fresh snowflake for now, or (backdated, not monotonic) for `when`."""
        return self._ids.next(self.now()) if when is None else self._ids.at(when)

    # -- events and waiting ----------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every `wait_for` (called on each REST call and gateway frame)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self,
        predicate: Predicate,
        timeout: float | None = 5.0,  # noqa: ASYNC109 - a deadline on state, not a sleep
        *,
        message: str | None = None,
        raise_on_timeout: bool = True,
    ) -> bool:
        """Wait until `predicate()` is true, re-checking on every server event and every 10 ms."""
        loop = asyncio.get_running_loop()
        timeout = 5.0 if timeout is None else timeout
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                if raise_on_timeout:
                    raise AssertionError(message or f"condition not met within {timeout}s")
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), min(0.01, remaining))
            except TimeoutError:
                pass

    async def _drain_outbox(self) -> None:
        assert self._outbox is not None
        while True:
            event, data, fut = await self._outbox.get()
            try:
                if event != "__NOOP__":
                    await self.gateway.dispatch(event, data)
            except Exception as exc:  # pragma: no cover - surfaced through the future
                log.exception("dispatch of %s failed", event)
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                continue
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send a gateway dispatch (in order with every other dispatch) and wait until sent."""
        if self._outbox is None:
            self.gateway.dispatched.append((event, data))
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((event, data, fut))
        await fut

    def dispatch_soon(self, event: str, data: JSON) -> None:
        """Queue a dispatch from synchronous code (factories); `flush()` waits for it."""
        if self._outbox is None:
            return
        self._outbox.put_nowait((event, data, None))

    async def flush(self) -> None:
        """Wait until every queued dispatch has been sent (not until the bot handled it)."""
        if self._outbox is None:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait(("__NOOP__", {}, fut))
        await fut

    # -- REST plumbing ----------------------------------------------------------------------------

    async def _attachment(self, request: web.Request) -> web.Response:
        """The CDN: serve an uploaded file back (Attachment.read())."""
        aid = request.match_info["attachment_id"]
        for msg in self.state.messages.values():
            for att in msg.attachments:
                if att["id"] == aid:
                    return web.Response(body=msg.files[att["filename"]])
        return web.Response(status=404)

    def _attachments(self, channel_id: int, files: list[tuple[str, bytes]]) -> list[JSON]:
        out = []
        for filename, data in files:
            aid = str(self.new_id())
            url = f"{self.url}/attachments/{channel_id}/{aid}/{filename}"
            out.append(
                {
                    "id": aid,
                    "filename": filename,
                    "size": len(data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
                }
            )
        return out

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        call = Call(request.method, "?", request.path, {}, None, dict(request.query), {})
        call.status = 404
        self.calls.append(call)
        self.unmodelled.append(call)
        self.notify()
        return _json_response(404, {"message": "404: Not Found", "code": 0})

    async def _read_body(self, request: web.Request) -> Any:
        if not request.can_read_body:
            return None
        ctype = request.content_type
        if ctype == "application/json":
            return await request.json()
        if ctype.startswith("multipart/"):
            body: Any = None
            files: list[tuple[str, bytes]] = []
            reader = await request.multipart()
            async for part in reader:
                name = getattr(part, "name", None)
                if name == "payload_json":
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    data = await part.read()  # type: ignore[union-attr]
                    files.append((getattr(part, "filename", None) or "file", bytes(data)))
            if isinstance(body, dict):
                body["_files"] = files
            return body
        return await request.text()

    def _ratelimit_headers(self, template: str) -> dict[str, str]:
        reset = time.time() + 1
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{reset:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": hashlib.md5(template.encode()).hexdigest()[:16],
        }

    def _rate_limited(self, template: str, retry_after: float, is_global: bool) -> web.Response:
        headers = {
            **self._ratelimit_headers(template),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "Retry-After": str(max(1, int(retry_after + 0.999))),
            "X-RateLimit-Scope": "global" if is_global else "user",
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
            "code": 0,
        }
        return _json_response(429, body, headers)

    async def _handle_rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        method = request.method
        try:
            body = await self._read_body(request)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        keep = ("Authorization", "Content-Type", "X-Audit-Log-Reason", "User-Agent")
        headers = {k: request.headers[k] for k in keep if k in request.headers}
        call = Call(method, "?", path, {}, body, dict(request.query), headers, at=self.monotonic())
        self.calls.append(call)
        try:
            return await self._serve(call)
        finally:
            self.notify()

    async def _serve(self, call: Call) -> web.Response:
        found = rest.match(call.method, call.path)
        if found is None:
            call.status = 404
            self.unmodelled.append(call)
            log.error("unmodelled Discord call %s %s", call.method, call.path)
            return _json_response(404, {"message": "404: Not Found", "code": 0})
        route, params = found
        call.route, call.params = route.template, params
        rl_headers = self._ratelimit_headers(route.template)
        if route.auth and call.headers.get("Authorization") != f"Bot {self.token}":
            call.status = 401
            return _json_response(401, {"message": "401: Unauthorized", "code": 0}, rl_headers)
        if self.global_limit_per_second:
            now = time.monotonic()
            window = self.global_limit_window
            self._recent = [t for t in self._recent if now - t < window]
            if len(self._recent) >= self.global_limit_per_second:
                call.status, call.fault = 429, "global"
                return self._rate_limited(route.template, window - (now - self._recent[0]), True)
            self._recent.append(now)
        fault = self.faults.take(call.method, route.template)
        if fault is not None:
            call.fault = str(fault.status)
            if fault.status == "hang":
                await self._stopping.wait()
                call.status = 503
                return _json_response(503, {"message": "stopping", "code": 0})
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if isinstance(fault.status, int):
                call.status = fault.status
                if fault.status == 429:
                    return self._rate_limited(route.template, fault.retry_after, fault.global_)
                return _json_response(
                    fault.status,
                    {"message": fault.error_message, "code": fault.error_code},
                    rl_headers,
                )
        try:
            data = await route.handler(self, call)
        except DiscordError as exc:
            call.status = exc.status
            call.response = exc.body()
            return _json_response(exc.status, exc.body(), rl_headers)
        if data is None:
            call.status = 204
            return web.Response(status=204, headers=rl_headers)
        call.status = 200
        call.response = data
        return _json_response(200, data, rl_headers)

    # -- inspection helpers ------------------------------------------------------------------------

    def find_calls(
        self,
        method: str | None = None,
        route: str | None = None,
        *,
        path: str | None = None,
        status: int | None = None,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """REST calls in order, filtered by method, route template, path regex or status."""
        out = []
        for c in self.calls:
            if method is not None and c.method != method:
                continue
            if route is not None and c.route != route:
                continue
            if path is not None and not re.search(path, c.path):
                continue
            if status is not None and c.status != status:
                continue
            if where is not None and not where(c):
                continue
            out.append(c)
        return out

    def messages_in(self, channel: Channel | int, *, ephemeral: bool = False) -> list[Message]:
        """Messages of a channel, oldest first (ephemeral ones only when asked)."""
        cid = channel.id if isinstance(channel, Channel) else int(channel)
        msgs = sorted(
            (self.state.messages[m] for m in self.state.channel_messages.get(cid, [])),
            key=lambda m: m.id,
        )
        return [m for m in msgs if not m.deleted and (ephemeral or not m.ephemeral)]

    def dms_to(self, user: User | Member) -> list[Message]:
        """Messages the bot sent to a user's DM channel."""
        uid = _user_id(user)
        cid = self.state.dm_channels.get(uid)
        return self.messages_in(cid) if cid else []

    def commands(self, guild: Guild | int | None = None) -> list[StoredCommand]:
        gid = _guild_id(guild) if guild is not None else None
        return self.state.commands_for(gid)

    def command_names(self, guild: Guild | int | None = None) -> set[str]:
        """Names of synced chat-input commands with their subcommands: {'setup roles', ...}."""
        names: set[str] = set()
        for cmd in self.commands(guild):
            names.add(cmd.name)
            for opt in cmd.payload.get("options") or []:
                if opt["type"] == 1:
                    names.add(f"{cmd.name} {opt['name']}")
                elif opt["type"] == 2:
                    for sub in opt.get("options") or []:
                        names.add(f"{cmd.name} {opt['name']} {sub['name']}")
        return names

    # -- fault injection ------------------------------------------------------------------------------

    def inject(
        self,
        method: str,
        route_template: str,
        status: FaultKind,
        count: int = 1,
        *,
        retry_after: float = 0.05,
        code: int | None = None,
        message: str | None = None,
        global_: bool = False,
        delay: float = 0.0,
    ) -> Fault:
        """Make the next `count` calls of a route fail.

        status: an HTTP status (429 with `Via`, `retry_after` and X-RateLimit-*; 403 with
        `code`, default 50013; 500/503...), "timeout" (answer normally after `delay` seconds)
        or "hang" (never answer until the server stops).
        """
        if not rest.known_template(route_template):
            raise ValueError(f"no modelled route {route_template!r}")
        if status == "timeout" and not delay:
            delay = 0.2
        return self.faults.add(
            Fault(
                method.upper(),
                route_template,
                status,
                count,
                retry_after=retry_after,
                code=code,
                message=message,
                global_=global_,
                delay=delay,
            )
        )

    async def gateway_reconnect(self) -> int:
        """Send op 7 Reconnect; the client resumes on a new socket."""
        return await self.gateway.reconnect()

    async def gateway_invalid_session(self, resumable: bool = False) -> int:
        """Send op 9 Invalid Session."""
        return await self.gateway.invalid_session(resumable)

    async def gateway_drop(self, code: int = 4000) -> int:
        """Close the sockets without notice; the client should reconnect and RESUME."""
        return await self.gateway.drop(code)

    # -- payloads ------------------------------------------------------------------------------------

    def application_payload(self) -> JSON:
        return {
            "id": str(self.state.application_id),
            "name": self.state.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "flags": 0,
            "owner": self.owner_user.payload(),
            "team": None,
            "bot": self.state.bot_user.payload(),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "approximate_guild_count": len(self.bot_guilds()),
            "integration_types_config": {"0": {}},
        }

    def guild_create_payload(self, guild: Guild, *, joined: bool = False) -> JSON:
        """GUILD_CREATE; `joined` for a guild the bot just joined (no `unavailable` key, which
        discord.py reads as on_guild_join rather than on_guild_available)."""
        bot_id = self.state.bot_user.id
        channels = [self.state.channels[c] for c in guild.channel_ids]
        me = guild.members.get(bot_id)
        data: JSON = {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": iso(me.joined_at) if me and me.joined_at else iso(self.now()),
            "large": len(guild.members) > 250,
            "unavailable": False,
            "member_count": len(guild.members),
            "voice_states": [
                {k: v for k, v in self.voice_state_payload(guild, uid).items() if k != "member"}
                for uid in guild.voice_states
            ],
            # Like Discord: only the bot itself (and people in voice); the rest comes by chunking.
            "members": [
                guild.members[uid].payload()
                for uid in guild.members
                if uid == bot_id or uid in guild.voice_states
            ],
            "channels": [c.payload() for c in channels if not c.is_thread and not c.deleted],
            "threads": [
                c.payload() for c in channels if c.is_thread and not c.deleted and not c.archived
            ],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [
                self.state.events[e].payload(self.state.users)
                for e in guild.event_ids
                if not self.state.events[e].deleted
            ],
            "soundboard_sounds": [],
        }
        if joined:
            del data["unavailable"]
        return data

    def invite_payload(self, invite: Invite) -> JSON:
        guild = self.state.guilds[invite.guild_id]
        channel = self.state.channels[invite.channel_id]
        expires = None
        if invite.max_age:
            from datetime import timedelta

            expires = iso(invite.created_at + timedelta(seconds=invite.max_age))
        return {
            "type": 0,
            "code": invite.code,
            "guild": {
                "id": str(guild.id),
                "name": guild.name,
                "splash": None,
                "banner": None,
                "description": None,
                "icon": None,
                "features": [],
                "verification_level": 0,
                "vanity_url_code": None,
                "nsfw_level": 0,
                "premium_subscription_count": 0,
            },
            "channel": {"id": str(channel.id), "name": channel.name, "type": int(channel.type)},
            "inviter": self.state.users[invite.inviter_id].payload(),
            "uses": invite.uses,
            "max_uses": invite.max_uses,
            "max_age": invite.max_age,
            "temporary": invite.temporary,
            "created_at": iso(invite.created_at),
            "expires_at": expires,
        }

    # -- state helpers used by the routes -----------------------------------------------------------

    def bot_guilds(self) -> list[Guild]:
        bot_id = self.state.bot_user.id
        return [g for g in self.state.guilds.values() if not g.removed and bot_id in g.members]

    def guild_or_404(self, guild_id: int) -> Guild:
        guild = self.state.guilds.get(guild_id)
        if guild is None or guild.removed or self.state.bot_user.id not in guild.members:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    def channel_or_404(self, channel_id: int) -> Channel:
        channel = self.state.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise DiscordError(404, 10003, "Unknown Channel")
        if channel.guild_id is not None:
            self.guild_or_404(channel.guild_id)
        return channel

    def permissions_for(
        self, guild_id: int | None, channel_id: int | None, user_id: int | None
    ) -> int:
        """Computed permissions of a user (default: the bot) in a guild or channel."""
        if guild_id is None:
            return P.VIEW_CHANNEL | P.SEND_MESSAGES | P.EMBED_LINKS | P.READ_MESSAGE_HISTORY
        guild = self.state.guilds[guild_id]
        uid = self.state.bot_user.id if user_id is None else user_id
        if channel_id is None:
            return compute_base_permissions(guild, uid)
        channel = self.state.channels[channel_id]
        parent = self.state.channels.get(channel.parent_id or 0) if channel.is_thread else None
        return compute_channel_permissions(guild, channel, uid, parent)

    def bot_permissions(self, channel: Channel) -> int:
        return self.permissions_for(channel.guild_id, channel.id, self.state.bot_user.id)

    def add_channel(
        self,
        guild: Guild,
        name: str,
        ctype: ChannelType,
        *,
        parent_id: int | None = None,
        topic: str | None = None,
        rate_limit_per_user: int = 0,
        nsfw: bool = False,
        bitrate: int = 64000,
        user_limit: int = 0,
        position: int | None = None,
        overwrites: dict[int, Any] | None = None,
        thread_id: int | None = None,
    ) -> Channel:
        if position is None:
            position = sum(1 for c in guild.channel_ids if not self.state.channels[c].is_thread)
        channel = Channel(
            id=thread_id or self.new_id(),
            type=ctype,
            guild_id=guild.id,
            name=name,
            position=position,
            parent_id=parent_id,
            topic=topic,
            nsfw=nsfw,
            rate_limit_per_user=rate_limit_per_user,
            bitrate=bitrate,
            user_limit=user_limit,
            overwrites=dict(overwrites or {}),
            created_at=self.now(),
        )
        self.state.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        return channel

    async def remove_channel(self, channel: Channel) -> None:
        channel.deleted = True
        guild = self.state.guilds[channel.guild_id or 0]
        if channel.id in guild.channel_ids:
            guild.channel_ids.remove(channel.id)
        for uid, cid in list(guild.voice_states.items()):
            if cid == channel.id:  # Discord disconnects everyone in a deleted voice channel
                await self.set_voice(guild, uid, None)
        event = "THREAD_DELETE" if channel.is_thread else "CHANNEL_DELETE"
        payload = channel.payload()
        if channel.is_thread:
            payload = {
                "id": str(channel.id),
                "guild_id": str(channel.guild_id),
                "parent_id": str(channel.parent_id),
                "type": int(channel.type),
            }
        await self.dispatch(event, payload)
        if channel.type == ChannelType.CATEGORY:
            for cid in list(guild.channel_ids):
                child = self.state.channels[cid]
                if child.parent_id == channel.id and not child.is_thread:
                    child.parent_id = None
                    await self.dispatch("CHANNEL_UPDATE", child.payload())

    def dm_channel(self, user: User) -> Channel:
        cid = self.state.dm_channels.get(user.id)
        if cid is None:
            channel = Channel(id=self.new_id(), type=ChannelType.DM, recipient_ids=[user.id])
            self.state.channels[channel.id] = channel
            self.state.dm_channels[user.id] = channel.id
            cid = channel.id
        return self.state.channels[cid]

    def _mentions(
        self, channel: Channel, content: str, allowed: JSON | None, author_id: int
    ) -> tuple[list[JSON], list[int], bool]:
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
        ok_users = {int(u) for u in (allowed or {}).get("users", [])}
        ok_roles = {int(r) for r in (allowed or {}).get("roles", [])}
        guild = self.state.guilds.get(channel.guild_id or 0)
        perms = self.permissions_for(channel.guild_id, channel.id, author_id) if guild else 0
        users = []
        for raw in re.findall(r"<@!?(\d+)>", content):
            uid = int(raw)
            known = uid in self.state.users and ("users" in parse or uid in ok_users)
            if known and self.state.users[uid].payload() not in users:
                users.append(self.state.users[uid].payload())
        roles = []
        for raw in re.findall(r"<@&(\d+)>", content):
            rid = int(raw)
            role = guild.roles.get(rid) if guild else None
            if role is None or not ("roles" in parse or rid in ok_roles):
                continue
            if role.mentionable or perms & P.MENTION_EVERYONE:
                roles.append(rid)
        everyone = bool(
            re.search(r"@(everyone|here)", content)
            and "everyone" in parse
            and perms & P.MENTION_EVERYONE
        )
        return users, roles, everyone

    async def create_message(
        self,
        channel: Channel,
        author: JSON,
        body: JSON,
        *,
        webhook_id: int | None = None,
        mtype: int = 0,
        flags: int = 0,
        interaction: InteractionResult | None = None,
        when: datetime | None = None,
    ) -> Message:
        """Store a message and dispatch MESSAGE_CREATE unless it is ephemeral."""
        author_id = int(author["id"])
        content = body.get("content") or ""
        users, roles, everyone = self._mentions(
            channel, content, body.get("allowed_mentions"), author_id
        )
        guild = self.state.guilds.get(channel.guild_id or 0)
        member = guild.members.get(author_id) if guild and webhook_id is None else None
        msg = Message(
            id=self.new_id(when),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=content,
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            # Settable flags: suppress embeds/notifications, components v2; ephemeral only
            # on interaction responses.
            flags=flags
            | (
                int(body.get("flags") or 0)
                & ((Message.EPHEMERAL if interaction else 0) | 4 | 4096 | 32768)
            ),
            type=mtype,
            nonce=body.get("nonce"),
            tts=bool(body.get("tts")),
            webhook_id=webhook_id,
            application_id=self.state.application_id if interaction else None,
            allowed_mentions=body.get("allowed_mentions"),
            mentions=users,
            mention_roles=roles,
            mention_everyone=everyone,
            member=member.payload(with_user=False) if member else None,
            poll=body.get("poll"),
        )
        if interaction is not None:
            msg.interaction_id = interaction.id
            msg.interaction_user_id = interaction.user.id
        uploads = body.get("_files") or []
        msg.attachments = self._attachments(channel.id, uploads)
        msg.files = dict(uploads)
        self.state.messages[msg.id] = msg
        self.state.channel_messages.setdefault(channel.id, []).append(msg.id)
        if msg.nonce is not None:
            self.state.nonce_index.setdefault((channel.id, str(msg.nonce)), msg.id)
        if not msg.ephemeral:
            channel.last_message_id = msg.id
            if channel.is_thread:
                channel.message_count += 1
            payload = msg.payload()
            if interaction is not None:
                payload["interaction_metadata"] = {
                    "id": str(interaction.id),
                    "type": interaction.kind,
                    "user": interaction.user.payload(),
                    "authorizing_integration_owners": {"0": str(channel.guild_id or 0)},
                }
            await self.dispatch("MESSAGE_CREATE", payload)
        return msg

    async def edit_message(
        self, msg: Message, body: JSON, *, finish_loading: bool = False
    ) -> Message:
        """Apply an edit and dispatch MESSAGE_UPDATE unless the message is ephemeral."""
        was_loading = msg.loading
        if "content" in body:
            msg.content = body["content"] or ""
        if "embeds" in body:
            msg.embeds = body.get("embeds") or []
        if "components" in body:
            msg.components = body["components"] or []
        if "flags" in body and body["flags"] is not None:
            keep = msg.flags & (Message.EPHEMERAL | Message.LOADING)
            msg.flags = keep | (int(body["flags"]) & ~(Message.EPHEMERAL | Message.LOADING))
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        if "attachments" in body:
            keep_ids = {str(a.get("id")) for a in body["attachments"] or []}
            kept = [a for a in msg.attachments if a["id"] in keep_ids]
            uploads = body.get("_files") or []
            msg.attachments = kept + self._attachments(msg.channel_id, uploads)
            msg.files = {
                **{a["filename"]: msg.files[a["filename"]] for a in kept},
                **dict(uploads),
            }
        channel = self.state.channels[msg.channel_id]
        msg.mentions, msg.mention_roles, msg.mention_everyone = self._mentions(
            channel, msg.content, msg.allowed_mentions, msg.author_id
        )
        if finish_loading and was_loading:
            msg.flags &= ~Message.LOADING
        else:
            msg.edited_at = self.now()
        msg.edits += 1
        if not msg.ephemeral:
            await self.dispatch("MESSAGE_UPDATE", msg.payload())
        return msg

    async def delete_message(self, msg: Message) -> None:
        msg.deleted = True
        if not msg.ephemeral:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id:
                data["guild_id"] = str(msg.guild_id)
            await self.dispatch("MESSAGE_DELETE", data)

    async def interaction_message(
        self,
        result: InteractionResult,
        body: JSON,
        *,
        loading: bool = False,
        followup: bool = False,
    ) -> Message:
        channel = self.state.channels[result.channel_id]
        flags = Message.LOADING if loading else 0
        mtype = 20 if result.kind in (APPLICATION_COMMAND, AUTOCOMPLETE) else 19
        if followup:
            mtype = 20 if result.kind == APPLICATION_COMMAND else 0
        return await self.create_message(
            channel,
            self.state.bot_user.payload(),
            body,
            webhook_id=self.state.application_id,
            mtype=mtype,
            flags=flags,
            interaction=result,
        )

    # -- factories (synchronous; they queue gateway dispatches when a bot is connected) --------------

    def create_user(self, name: str, *, bot: bool = False, dms_closed: bool = False) -> User:
        user = User(self.new_id(), name, bot=bot, dms_closed=dms_closed)
        self.state.users[user.id] = user
        return user

    def create_guild(self, name: str = "Test Guild", owner: User | None = None) -> Guild:
        """A guild with @everyone, a #general channel, its owner and the bot (with a role)."""
        owner = owner or self.create_user(f"{name.lower().replace(' ', '-')}-owner")
        guild = Guild(id=self.new_id(), name=name, owner_id=owner.id)
        guild.roles[guild.id] = Role(guild.id, guild.id, "@everyone", DEFAULT_EVERYONE, 0)
        bot = self.state.bot_user
        bot_role = Role(
            self.new_id(),
            guild.id,
            bot.username,
            DEFAULT_BOT_PERMISSIONS,
            1,
            managed=True,
            bot_id=bot.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        self.state.guilds[guild.id] = guild
        now = self.now()
        guild.members[owner.id] = Member(owner, guild.id, [], now)
        guild.members[bot.id] = Member(bot, guild.id, [bot_role.id], now)
        self.add_channel(guild, "general", ChannelType.TEXT)
        self.dispatch_soon("GUILD_CREATE", self.guild_create_payload(guild, joined=True))
        return guild

    def bot_role(self, guild: Guild) -> Role:
        assert guild.bot_role_id is not None
        return guild.roles[guild.bot_role_id]

    def general(self, guild: Guild) -> Channel:
        """The guild's first text channel (#general)."""
        return next(
            self.state.channels[c]
            for c in guild.channel_ids
            if self.state.channels[c].type == ChannelType.TEXT
        )

    def create_role(
        self,
        guild: Guild,
        name: str,
        *,
        permissions: int = 0,
        position: int | None = None,
        mentionable: bool = False,
        color: int = 0,
    ) -> Role:
        """A role; by default at position 1 (below the bot's role, as new roles are)."""
        pos = 1 if position is None else position
        for role in guild.roles.values():
            if role.id != guild.id and role.position >= pos:
                role.position += 1
                self.dispatch_soon(
                    "GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.payload()}
                )
        role = Role(self.new_id(), guild.id, name, permissions, pos, color, mentionable=mentionable)
        guild.roles[role.id] = role
        self.dispatch_soon("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        return role

    def set_role_permissions(self, role: Role, permissions: int) -> None:
        """Change a role's permissions (e.g. lower the bot's) and dispatch GUILD_ROLE_UPDATE."""
        role.permissions = permissions
        self.dispatch_soon(
            "GUILD_ROLE_UPDATE", {"guild_id": str(role.guild_id), "role": role.payload()}
        )

    async def delete_role(self, role: Role) -> None:
        guild = self.state.guilds[role.guild_id]
        guild.roles.pop(role.id, None)
        for member in guild.members.values():
            if role.id in member.roles:
                member.roles.remove(role.id)
        await self.dispatch(
            "GUILD_ROLE_DELETE", {"guild_id": str(guild.id), "role_id": str(role.id)}
        )

    def create_channel(
        self,
        guild: Guild,
        name: str,
        type: ChannelType | str | int = ChannelType.TEXT,
        *,
        parent: Channel | None = None,
        overwrites: Iterable[Any] = (),
        topic: str | None = None,
    ) -> Channel:
        ctype = _CHANNEL_TYPE_NAMES[type] if isinstance(type, str) else ChannelType(int(type))
        from .state import Overwrite

        ows = {}
        for ow in overwrites:
            if isinstance(ow, Overwrite):
                ows[ow.id] = ow
            else:
                target, allow, deny = ow
                ows[target.id if hasattr(target, "id") else int(target)] = Overwrite(
                    _target_id(target), 0 if isinstance(target, Role) else 1, allow, deny
                )
        channel = self.add_channel(
            guild,
            rest._channel_name(ctype, name),
            ctype,
            parent_id=parent.id if parent else None,
            topic=topic,
            overwrites=ows,
        )
        self.dispatch_soon("CHANNEL_CREATE", channel.payload())
        return channel

    def create_member(
        self, guild: Guild, user: User | str, roles: Iterable[Role] = (), *, nick: str | None = None
    ) -> Member:
        """Add a member (dispatching GUILD_MEMBER_ADD if a bot is connected)."""
        if isinstance(user, str):
            user = self.create_user(user)
        member = Member(user, guild.id, [r.id for r in roles], self.now(), nick=nick)
        guild.members[user.id] = member
        self.dispatch_soon("GUILD_MEMBER_ADD", {"guild_id": str(guild.id), **member.payload()})
        return member

    async def add_member(
        self, guild: Guild, user: User | str, roles: Iterable[Role] = (), *, nick: str | None = None
    ) -> Member:
        """Someone joins: GUILD_MEMBER_ADD, sent before this returns."""
        member = self.create_member(guild, user, roles, nick=nick)
        await self.flush()
        return member

    def voice_state_payload(self, guild: Guild, user_id: int) -> JSON:
        channel_id = guild.voice_states.get(user_id)
        member = guild.members[user_id]
        stage = channel_id is not None and self.state.channels[channel_id].type == ChannelType.STAGE
        return {
            "guild_id": str(guild.id),
            "channel_id": str(channel_id) if channel_id else None,
            "user_id": str(user_id),
            "member": member.payload(),
            "session_id": f"voice-{user_id}",
            "deaf": member.deaf,
            "mute": member.mute,
            "self_deaf": False,
            "self_mute": False,
            "self_stream": False,
            "self_video": False,
            "suppress": stage,
            "request_to_speak_timestamp": None,
        }

    async def set_voice(self, guild: Guild, user_id: int, channel_id: int | None) -> None:
        """Move someone into a voice/stage channel, or out of voice (None): VOICE_STATE_UPDATE."""
        if channel_id is None:
            if guild.voice_states.pop(user_id, None) is None:
                return
        else:
            guild.voice_states[user_id] = channel_id
        payload = self.voice_state_payload(guild, user_id)
        await self.dispatch("VOICE_STATE_UPDATE", payload)

    async def join_voice(self, guild: Guild, user: User | Member, channel: Channel) -> None:
        """A person joins a voice or stage channel (needs Connect there, as in the client)."""
        uid = _user_id(user)
        if channel.type not in (ChannelType.VOICE, ChannelType.STAGE):
            raise InvocationError(f"#{channel.name} is not a voice or stage channel")
        if not self.permissions_for(guild.id, channel.id, uid) & P.CONNECT:
            raise InvocationError(f"the user cannot connect to #{channel.name}")
        await self.set_voice(guild, uid, channel.id)

    async def leave_voice(self, guild: Guild, user: User | Member) -> None:
        """A person leaves voice."""
        await self.set_voice(guild, _user_id(user), None)

    def voice_channel_of(self, guild: Guild, user: User | Member) -> Channel | None:
        cid = guild.voice_states.get(_user_id(user))
        return self.state.channels[cid] if cid else None

    async def remove_member(self, guild: Guild, user: User | Member) -> None:
        """Someone leaves: GUILD_MEMBER_REMOVE."""
        uid = _user_id(user)
        await self.set_voice(guild, uid, None)
        member = guild.members.pop(uid)
        await self.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": member.user.payload()}
        )

    async def set_member_roles(
        self, guild: Guild, user: User | Member, roles: Iterable[Role]
    ) -> None:
        member = guild.members[_user_id(user)]
        member.roles = [r.id for r in roles]
        await self.dispatch("GUILD_MEMBER_UPDATE", {"guild_id": str(guild.id), **member.payload()})

    async def remove_guild(self, guild: Guild) -> None:
        """The bot is removed from the guild: GUILD_DELETE without `unavailable`."""
        guild.removed = True
        await self.dispatch("GUILD_DELETE", {"id": str(guild.id)})

    guild_delete = remove_guild

    async def rejoin_guild(self, guild: Guild) -> None:
        """The bot is added back to a guild it was removed from: GUILD_CREATE."""
        guild.removed = False
        await self.dispatch("GUILD_CREATE", self.guild_create_payload(guild, joined=True))

    async def send_user_message(
        self,
        channel: Channel,
        user: User | Member,
        content: str,
        *,
        when: datetime | None = None,
    ) -> Message:
        """A person posts a message (MESSAGE_CREATE)."""
        u = self.state.users[_user_id(user)]
        return await self.create_message(channel, u.payload(), {"content": content}, when=when)

    # -- driving interactions --------------------------------------------------------------------

    def _interaction_base(
        self,
        kind: int,
        guild: Guild | None,
        user: User,
        channel: Channel,
        data: JSON,
        description: str,
        age: float,
        locale: str,
    ) -> InteractionResult:
        iid = self.new_id()
        token = f"aW50ZXJhY3Rpb246{iid}:{secrets.token_urlsafe(24)}"
        payload: JSON = {
            "id": str(iid),
            "application_id": str(self.state.application_id),
            "type": kind,
            "data": data,
            "channel_id": str(channel.id),
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id) if guild else "0"},
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(self.permissions_for(channel.guild_id, channel.id, None)),
        }
        if guild is not None:
            member = guild.members.get(user.id)
            if member is None:
                raise InvocationError(f"{user.username} is not a member of {guild.name}")
            if not self.permissions_for(guild.id, channel.id, user.id) & P.VIEW_CHANNEL:
                raise InvocationError(f"{user.username} cannot see #{channel.name}")
            mdata = member.payload()
            mdata["permissions"] = str(self.permissions_for(guild.id, channel.id, user.id))
            cdata = channel.payload()
            cdata["permissions"] = mdata["permissions"]
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=mdata,
                channel=cdata,
                context=0,
            )
        else:
            payload.update(
                user=user.payload(), channel=channel.payload(self.state.users), context=1
            )
        result = InteractionResult(
            server=self,
            id=iid,
            token=token,
            kind=kind,
            user=user,
            guild_id=guild.id if guild else None,
            channel_id=channel.id,
            payload=payload,
            description=description,
            created=self.monotonic() - age,
        )
        self.interactions[iid] = result
        return result

    def _resolve_context(
        self, guild: Guild | int | None, user: User | Member, channel: Channel | None
    ) -> tuple[Guild | None, User, Channel]:
        g = self.state.guilds[_guild_id(guild)] if guild is not None else None
        u = self.state.users[_user_id(user)]
        if channel is None:
            channel = self.general(g) if g is not None else self.dm_channel(u)
        return g, u, channel

    async def invoke(
        self,
        guild: Guild | int | None,
        user: User | Member,
        command: str,
        /,
        *,
        _channel: Channel | None = None,
        _age: float = 0.0,
        _locale: str = "en-US",
        _wait: bool = True,
        _override_permissions: bool = False,
        **options: Any,
    ) -> InteractionResult:
        """Run a slash command as a user would: `await server.invoke(g, u, "setup roles", x=1)`.

        Looks the command up in what the bot synced (guild, then global), validates options
        as Discord's client does (raising InvocationError), sends INTERACTION_CREATE and, by
        default, waits for the bot's response (AssertionError "did not respond" otherwise).
        """
        g, u, channel = self._resolve_context(guild, user, _channel)
        cmd, leaf, subs = self._command(g, command)
        self._check_command_permissions(g, u, channel, cmd, _override_permissions)
        opts, resolved = build_options(self, g.id if g else None, leaf, options)
        data: JSON = {
            "id": str(cmd.id),
            "name": cmd.name,
            "type": 1,
            "options": nest_options(subs, opts, cmd),
        }
        if resolved:
            data["resolved"] = resolved
        if cmd.guild_id is not None:
            data["guild_id"] = str(cmd.guild_id)
        result = self._interaction_base(
            APPLICATION_COMMAND, g, u, channel, data, f"/{command}", _age, _locale
        )
        await self.dispatch("INTERACTION_CREATE", result.payload)
        if _wait:
            await result.wait()
        return result

    async def autocomplete(
        self,
        guild: Guild | int | None,
        user: User | Member,
        command: str,
        /,
        *,
        focused: str,
        _channel: Channel | None = None,
        **options: Any,
    ) -> list[JSON]:
        """Ask the bot for autocomplete choices for option `focused`; returns the choices."""
        g, u, channel = self._resolve_context(guild, user, _channel)
        cmd, leaf, subs = self._command(g, command)
        spec = next((o for o in leaf if o["name"] == focused), None)
        if spec is None or not spec.get("autocomplete"):
            raise InvocationError(f"option {focused!r} of /{command} has no autocomplete")
        opts, _ = build_options(self, g.id if g else None, leaf, options, focused=focused)
        data: JSON = {
            "id": str(cmd.id),
            "name": cmd.name,
            "type": 1,
            "options": nest_options(subs, opts, cmd),
        }
        if cmd.guild_id is not None:
            data["guild_id"] = str(cmd.guild_id)
        result = self._interaction_base(
            AUTOCOMPLETE, g, u, channel, data, f"autocomplete of /{command} {focused}", 0.0, "en-US"
        )
        await self.dispatch("INTERACTION_CREATE", result.payload)
        await result.wait()
        return result.choices or []

    def _command(
        self, guild: Guild | None, path: str
    ) -> tuple[StoredCommand, list[JSON], list[str]]:
        commands = (self.state.commands_for(guild.id) if guild else []) + self.state.commands_for(
            None
        )
        return find_command(commands, path)

    def _check_command_permissions(
        self, guild: Guild | None, user: User, channel: Channel, cmd: StoredCommand, override: bool
    ) -> None:
        contexts = cmd.payload.get("contexts")
        if guild is None:
            if (
                cmd.guild_id is not None
                or cmd.payload.get("dm_permission") is False
                or (contexts is not None and 1 not in contexts)
            ):
                raise InvocationError(f"/{cmd.name} is not available in DMs")
            return
        if contexts is not None and 0 not in contexts:
            raise InvocationError(f"/{cmd.name} is not available in servers")
        here = self.permissions_for(guild.id, channel.id, user.id)
        if here & P.VIEW_CHANNEL and not here & P.USE_APPLICATION_COMMANDS:
            raise InvocationError(f"{user.username} may not use application commands here")
        needed = cmd.payload.get("default_member_permissions")
        if needed is None or override:
            return
        perms = self.permissions_for(guild.id, channel.id, user.id)
        if int(needed) == 0 and not perms & P.ADMINISTRATOR or (perms & int(needed)) != int(needed):
            raise InvocationError(
                f"{user.username} cannot see /{cmd.name}: Discord hides it from members without "
                f"permissions {needed} (pass _override_permissions=True to model a server "
                "admin's override in Integrations settings)"
            )

    async def click(
        self,
        message: Message | InteractionResult | int,
        custom_id: str,
        user: User | Member,
        *,
        values: list[Any] | None = None,
        _age: float = 0.0,
        _wait: bool = True,
    ) -> InteractionResult:
        """Click a button (by custom_id or label), or pick select `values`, as `user`."""
        msg = self._message_of(message)
        if msg.deleted:
            raise InvocationError("the message was deleted")
        comp = msg.find_component(custom_id)
        if comp is None or "custom_id" not in comp:
            raise InvocationError(
                f"no component {custom_id!r} on the message: {msg.custom_ids()} {msg.labels()}"
            )
        custom_id = comp["custom_id"]
        if comp.get("disabled"):
            raise InvocationError(f"component {custom_id!r} is disabled")
        u = self.state.users[_user_id(user)]
        if msg.ephemeral and msg.interaction_user_id != u.id:
            raise InvocationError("only the person an ephemeral message was for can see it")
        guild = self.state.guilds.get(msg.guild_id or 0)
        channel = self.state.channels[msg.channel_id]
        data: JSON = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] in (3, 5, 6, 7, 8):
            data["values"], resolved = self._select_values(comp, values or [], guild)
            if resolved:
                data["resolved"] = resolved
        elif values:
            raise InvocationError("values are only for select menus")
        result = self._interaction_base(
            MESSAGE_COMPONENT, guild, u, channel, data, f"click on {custom_id!r}", _age, "en-US"
        )
        result.payload["message"] = msg.payload()
        result.source_message_id = msg.id
        await self.dispatch("INTERACTION_CREATE", result.payload)
        if _wait:
            await result.wait()
        return result

    def _select_values(
        self, comp: JSON, values: list[Any], guild: Guild | None
    ) -> tuple[list[str], JSON]:
        lo, hi = comp.get("min_values", 1), comp.get("max_values", 1)
        if not lo <= len(values) <= hi:
            raise InvocationError(f"select {comp['custom_id']!r} takes {lo}..{hi} values")
        if comp["type"] == 3:
            allowed = [o["value"] for o in comp.get("options", [])]
            for v in values:
                if v not in allowed:
                    raise InvocationError(f"{v!r} is not an option of the select: {allowed}")
            return [str(v) for v in values], {}
        resolved: JSON = {}
        out = []
        for v in values:
            sid = _target_id(v)
            out.append(str(sid))
            if sid in self.state.users:
                resolved.setdefault("users", {})[str(sid)] = self.state.users[sid].payload()
                if guild and sid in guild.members:
                    resolved.setdefault("members", {})[str(sid)] = guild.members[sid].payload(
                        with_user=False
                    )
            elif guild and sid in guild.roles:
                resolved.setdefault("roles", {})[str(sid)] = guild.roles[sid].payload()
            elif sid in self.state.channels:
                ch = self.state.channels[sid]
                resolved.setdefault("channels", {})[str(sid)] = {
                    "id": str(sid),
                    "name": ch.name,
                    "type": int(ch.type),
                    "permissions": "0",
                }
        return out, resolved

    def _message_of(self, message: Message | InteractionResult | int) -> Message:
        if isinstance(message, InteractionResult):
            if message.message is None:
                raise InvocationError(f"{message.description} has no response message")
            return message.message
        if isinstance(message, Message):
            return self.state.messages[message.id]
        return self.state.messages[int(message)]

    async def submit_modal(
        self,
        target: InteractionResult | str,
        user: User | Member | None,
        values: dict[str, Any],
        *,
        _age: float = 0.0,
        _wait: bool = True,
    ) -> InteractionResult:
        """Fill in and submit the modal the bot opened (values by field custom_id)."""
        if isinstance(target, str):
            origin = next(
                (
                    r
                    for r in reversed(self.interactions.values())
                    if r.modal and r.modal.get("custom_id") == target
                ),
                None,
            )
            if origin is None:
                raise InvocationError(f"the bot never opened a modal {target!r}")
        else:
            origin = target
        if origin.modal is None:
            raise InvocationError(f"{origin.description} did not open a modal")
        u = self.state.users[_user_id(user)] if user is not None else origin.user
        fields: dict[str, JSON] = {}

        def fill(comp: JSON) -> JSON:
            ctype = comp["type"]
            if ctype == 1:
                return {"type": 1, "components": [fill(c) for c in comp["components"]]}
            if ctype == 18:
                return {"type": 18, "id": comp.get("id", 0), "component": fill(comp["component"])}
            cid = comp.get("custom_id")
            if cid is None:
                return {"type": ctype, "id": comp.get("id", 0)}
            fields[cid] = comp
            value = values.get(cid)
            if ctype == 4:
                text = "" if value is None else str(value)
                if comp.get("required", True) and not text:
                    raise InvocationError(f"modal field {cid!r} is required")
                if text and len(text) < comp.get("min_length", 0):
                    raise InvocationError(f"modal field {cid!r} needs ≥ {comp['min_length']} chars")
                if len(text) > comp.get("max_length", 4000):
                    raise InvocationError(
                        f"modal field {cid!r} allows ≤ {comp['max_length']} chars"
                    )
                return {"type": 4, "id": comp.get("id", 0), "custom_id": cid, "value": text}
            picked = list(value or [])
            return {"type": ctype, "id": comp.get("id", 0), "custom_id": cid, "values": picked}

        components = [fill(c) for c in origin.modal.get("components", [])]
        unknown = set(values) - set(fields)
        if unknown:
            raise InvocationError(
                f"the modal has no fields {sorted(unknown)}; it has {sorted(fields)}"
            )
        guild = self.state.guilds.get(origin.guild_id or 0)
        channel = self.state.channels[origin.channel_id]
        data = {"custom_id": origin.modal["custom_id"], "components": components}
        result = self._interaction_base(
            MODAL_SUBMIT, guild, u, channel, data, f"modal {data['custom_id']!r}", _age, "en-US"
        )
        if origin.source_message_id is not None:
            result.source_message_id = origin.source_message_id
            result.payload["message"] = self.state.messages[origin.source_message_id].payload()
        await self.dispatch("INTERACTION_CREATE", result.payload)
        if _wait:
            await result.wait()
        return result


def _user_id(user: User | Member | int) -> int:
    if isinstance(user, Member):
        return user.user.id
    if isinstance(user, User):
        return user.id
    return int(user)


def _guild_id(guild: Guild | int) -> int:
    return guild.id if isinstance(guild, Guild) else int(guild)


def _target_id(target: Any) -> int:
    if isinstance(target, Member):
        return target.user.id
    if hasattr(target, "id"):
        return int(target.id)
    return int(target)
