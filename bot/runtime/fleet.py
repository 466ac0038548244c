"""Discord's per-bot limits across processes: the IDENTIFY queue and this process's REST share.

Discord counts both per bot, not per process (Gateway docs, sharding; design/scale-out.md):
shards start by bucket ``shard_id % max_concurrency``, one IDENTIFY per bucket per 5 s, and a
too-early one is answered with op 9; REST allows 50 requests/s in all. discord.py 2.7.1 only
sleeps 5 s before each non-initial IDENTIFY of one process. Here a fleet on PostgreSQL shares one
queue per bucket (an advisory lock and a row per bucket), one process keeps it in memory, and
each process keeps its REST requests to its shards' share of the bot's budget.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp

from bot.config import Settings
from bot.db import Database
from bot.db.repositories import fleet

log = logging.getLogger(__name__)

# IDENTIFYs are spaced this fraction of a window wider than Discord's window: the IDENTIFY goes
# out just after the slot, and a late previous one must not land within the window of the next.
IDENTIFY_SLACK = 0.1
REST_PERIOD_S = 1.0  # Discord's global limit counts requests per second

Sleep = Callable[[float], Awaitable[Any]]


class IdentifyQueue:
    """One IDENTIFY per bucket per window: in this process, or fleet-wide on PostgreSQL."""

    def __init__(
        self,
        window_s: float,
        db: Database | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.spacing = window_s * (1 + IDENTIFY_SLACK)
        self._fleet = db if db is not None and db.dialect == "postgres" else None
        self._monotonic = monotonic
        self._sleep = sleep
        self._last: dict[int, float] = {}  # in-process: bucket -> when its last turn was taken

    async def wait(self, shard_id: int | None, max_concurrency: int) -> float:
        """Wait for this shard's turn to IDENTIFY and take it; return the seconds waited."""
        bucket = (shard_id or 0) % max(1, max_concurrency)
        waited = 0.0
        while (delay := await self._take(bucket)) > 0:
            # Another waiter may take the turn first; then this one waits for the next.
            await self._sleep(delay)
            waited += delay
        return waited

    async def _take(self, bucket: int) -> float:
        """Take the bucket's turn now (0), or say how long until it is free."""
        if self._fleet is not None:
            try:
                async with self._fleet.transaction() as tx:
                    delay = await fleet.take_identify_turn(tx, bucket, self.spacing)
            except Exception as exc:  # the store is unreachable: still connect, paced here
                log.warning(
                    "the fleet's IDENTIFY queue is unavailable (%s); pacing this process only",
                    type(exc).__name__,
                )
            else:
                if delay <= 0:
                    self._last[bucket] = self._monotonic()
                return delay
        now = self._monotonic()
        last = self._last.get(bucket)
        if last is not None and now < last + self.spacing:
            return last + self.spacing - now
        self._last[bucket] = now
        return 0.0


def rest_share(settings: Settings) -> int:
    """This process's REST requests per second: its shards' share of the bot's global limit."""
    rate = settings.rest_rate_per_second
    if settings.shard_count and settings.shard_ids:
        rate = rate * len(settings.shard_ids) / settings.shard_count
    return max(1, math.floor(rate))


class _Slot:
    """One of a limiter's slots: busy until `until` (infinity while its request runs)."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = math.inf


class RestLimiter:
    """At most `limit` requests to Discord in any `period` seconds from this process.

    A request holds its slot from its start until `period` after its answer. Discord counts a
    request when it arrives, somewhere in between, so two requests on one slot arrive at least
    `period` apart however long connecting or answering took.
    """

    def __init__(
        self,
        limit: int,
        period: float = REST_PERIOD_S,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.period = period
        self._monotonic = monotonic
        self._sleep = sleep
        self._slots: list[_Slot] = []
        self._lock = asyncio.Lock()

    async def acquire(self) -> _Slot:
        """Wait for a free slot, first come first served, and take it."""
        async with self._lock:
            while True:
                now = self._monotonic()
                self._slots = [s for s in self._slots if s.until > now]
                if len(self._slots) < self.limit:
                    slot = _Slot()
                    self._slots.append(slot)
                    return slot
                soonest = min(s.until for s in self._slots)
                # A running request's answer may free its slot's countdown sooner: look again.
                await self._sleep(min(soonest - now, self.period / 20))

    def release(self, slot: _Slot) -> None:
        """A request was answered (or failed): its slot frees `period` from now."""
        slot.until = self._monotonic() + self.period

    def trace(self, api_base: Callable[[], str]) -> aiohttp.TraceConfig:
        """An aiohttp trace that holds each request to `api_base()` (not the gateway) for a slot.

        Every attempt counts, retries after a 429 or a 5xx included, as Discord counts them.
        Requests without the bot's token (interaction answers, webhook-token routes) do not:
        Discord does not bind them to the global limit, and an answer must come within 3 s.
        """
        config = aiohttp.TraceConfig()

        async def on_request_start(
            session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            if str(params.url).startswith(api_base()) and "Authorization" in params.headers:
                context.haven_slot = await self.acquire()

        async def on_request_done(
            session: aiohttp.ClientSession, context: SimpleNamespace, params: object
        ) -> None:
            slot = getattr(context, "haven_slot", None)
            if slot is not None:
                context.haven_slot = None
                self.release(slot)

        config.on_request_start.append(on_request_start)
        config.on_request_end.append(on_request_done)
        config.on_request_exception.append(on_request_done)
        return config
