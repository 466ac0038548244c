"""The core FakeDiscord is built on: state, snowflakes, clocks, waiting and the dispatch outbox."""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .faults import FaultInjector
from .gateway import Gateway, Intents
from .interactions import InteractionResult
from .rest import Call
from .snowflake import SnowflakeGenerator
from .state import Message, State, User

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Predicate = Callable[[], object]  # truthy, or an awaitable of a truthy value


class ServerCore:
    """What every part of FakeDiscord shares: state, ids, the two clocks and the gateway outbox."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_name: str = "Haven",
        clock: Callable[[], datetime] | None = None,
        shards: int = 1,
        max_concurrency: int = 1,
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
        # What GET /gateway/bot recommends: the shard count and the identify concurrency. A
        # session's events follow the `[shard_id, shard_count]` it identified with, not these.
        self.shards = shards
        self.max_concurrency = max_concurrency
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

    def new_guild_id(self, shard: int | None = None) -> int:
        """A fresh snowflake; with `shard`, one that Discord's formula puts on that shard."""
        if shard is None:
            return self.new_id()
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} is not one of the server's {self.shards} shards")
        return self._ids.next_on_shard(self.now(), shard, self.shards)

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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
