"""FakeDiscord: the server assembled from its parts, its lifecycle, inspection and faults."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from aiohttp import web

from . import rest
from .building import Building
from .driving import Driving
from .faults import Fault, FaultKind
from .messaging import Messaging
from .permissions import Permissions
from .rest import Call
from .state import Guild, StoredCommand, guild_id_of
from .transport import Transport
from .voice import Voice


class FakeDiscord(Building, Messaging, Voice, Driving, Permissions, Transport):
    """A Discord-compatible REST + gateway server on loopback, for end-to-end tests.

    Use `await server.start()`, point discord.py at `server.api_base` / `server.gateway_url`
    and log in with `server.token`. Unknown REST calls answer 404 and land in `unmodelled`.
    """

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
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/"

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

    def commands(self, guild: Guild | int | None = None) -> list[StoredCommand]:
        gid = guild_id_of(guild) if guild is not None else None
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
