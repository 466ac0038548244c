"""The websocket gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME, dispatches, faults."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

JSON = dict[str, Any]

HEARTBEAT_INTERVAL_MS = 41250


class Intents:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


_EVENT_INTENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "GUILD_CREATE",
            "GUILD_UPDATE",
            "GUILD_DELETE",
            "GUILD_ROLE_CREATE",
            "GUILD_ROLE_UPDATE",
            "GUILD_ROLE_DELETE",
            "CHANNEL_CREATE",
            "CHANNEL_UPDATE",
            "CHANNEL_DELETE",
            "CHANNEL_PINS_UPDATE",
            "THREAD_CREATE",
            "THREAD_UPDATE",
            "THREAD_DELETE",
            "THREAD_LIST_SYNC",
            "THREAD_MEMBER_UPDATE",
        ],
        Intents.GUILDS,
    ),
    **dict.fromkeys(
        [
            "GUILD_MEMBER_ADD",
            "GUILD_MEMBER_UPDATE",
            "GUILD_MEMBER_REMOVE",
            "THREAD_MEMBERS_UPDATE",
        ],
        Intents.GUILD_MEMBERS,
    ),
    "WEBHOOKS_UPDATE": Intents.GUILD_WEBHOOKS,
    "INVITE_CREATE": Intents.GUILD_INVITES,
    "INVITE_DELETE": Intents.GUILD_INVITES,
    "VOICE_STATE_UPDATE": Intents.GUILD_VOICE_STATES,
    **dict.fromkeys(
        [
            "GUILD_SCHEDULED_EVENT_CREATE",
            "GUILD_SCHEDULED_EVENT_UPDATE",
            "GUILD_SCHEDULED_EVENT_DELETE",
            "GUILD_SCHEDULED_EVENT_USER_ADD",
            "GUILD_SCHEDULED_EVENT_USER_REMOVE",
        ],
        Intents.GUILD_SCHEDULED_EVENTS,
    ),
}
_MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"}
_GUILD_EVENTS = {"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"}  # the guild's id is `id`


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's formula: the shard whose session receives a guild's events."""
    return (guild_id >> 22) % shard_count


def _guild_of(event: str, data: JSON) -> int | None:
    """The guild an event belongs to; None for DMs and other events without a guild."""
    raw = data.get("id") if event in _GUILD_EVENTS else data.get("guild_id")
    return int(raw) if raw else None


@dataclass(eq=False)
class GatewaySession:
    session_id: str
    intents: int
    shard: tuple[int, int] = (0, 1)  # [shard_id, shard_count] from IDENTIFY; unsharded = [0, 1]
    seq: int = 0
    ws: web.WebSocketResponse | None = None
    sent: list[JSON] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session receives the guild's events (DMs: shard 0 only)."""
        shard_id, shard_count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(guild_id, shard_count) == shard_id


@dataclass(frozen=True)
class IdentifyAttempt:
    """One IDENTIFY that passed the token, intents and shard checks, and whether it was in time."""

    at: float  # the gateway's identify clock
    shard: tuple[int, int]
    bucket: int  # Discord's rate_limit_key: shard_id % max_concurrency
    accepted: bool


class Gateway:
    """All gateway sessions of the server. Frames are plain text JSON (no compression)."""

    def __init__(self, server: FakeDiscord) -> None:
        self.server = server
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[web.WebSocketResponse] = set()
        self.identifies = 0
        self.resumes = 0
        self.received: list[JSON] = []  # every frame a client sent, in order
        self.dispatched: list[tuple[str, JSON]] = []  # every dispatch, in order (pre-filter)
        self.presence_updates: list[JSON] = []
        # Discord allows one IDENTIFY per bucket (shard_id % max_concurrency) per 5 s and answers
        # a too-early one with op 9. None: not enforced; tests set a scaled window such as 0.2.
        self.identify_window: float | None = None
        self.identify_clock: Callable[[], float] = time.monotonic
        self.identify_log: list[IdentifyAttempt] = []
        self.identify_rejections = 0
        self._last_identify: dict[int, float] = {}  # bucket -> when its last IDENTIFY was accepted

    # -- connection handling -------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections.add(ws)
        session: GatewaySession | None = None
        try:
            await self._send_raw(ws, {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.received.append(frame)
                session = await self._on_frame(ws, frame, session)
                self.server.notify()
        finally:
            self.connections.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
                # A client that closes cleanly (bot.close()) ends its session, as on Discord.
                if ws.close_code in (1000, 1001) and not getattr(ws, "_server_closed", False):
                    self.sessions.pop(session.session_id, None)
            self.server.notify()
        return ws

    async def _on_frame(
        self, ws: web.WebSocketResponse, frame: JSON, session: GatewaySession | None
    ) -> GatewaySession | None:
        op = frame.get("op")
        data: Any = frame.get("d")
        if op == 1:
            await self._send_raw(ws, {"op": 11})
        elif op == 2:
            return await self._identify(ws, data)
        elif op == 3:
            self.presence_updates.append(data)
        elif op == 4:
            pass  # voice state updates: no voice server is modelled
        elif op == 6:
            return await self._resume(ws, data)
        elif op == 8:
            await self._request_members(ws, session, data)
        else:
            await self._close(ws, 4001)
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: JSON) -> GatewaySession | None:
        server = self.server
        if data.get("token") != server.token:
            await self._close(ws, 4004)
            return None
        intents = int(data.get("intents", 0))
        if intents & Intents.PRIVILEGED & ~server.privileged_intents:
            await self._close(ws, 4014)
            return None
        shard = self._shard(data.get("shard"))
        if shard is None:
            await self._close(ws, 4010)  # Invalid shard
            return None
        if not self._identify_in_time(shard):
            await self._send_raw(ws, {"op": 9, "d": False})  # the client must IDENTIFY again
            return None
        self.identifies += 1
        session = GatewaySession(
            session_id=secrets.token_hex(16), intents=intents, shard=shard, ws=ws
        )
        self.sessions[session.session_id] = session
        bot = server.state.bot_user
        guilds = [g for g in server.bot_guilds() if session.owns(g.id)]
        ready = {
            "v": 10,
            "user": bot.me_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": server.gateway_url,
            "session_type": "normal",
            "application": {"id": str(server.state.application_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "user_settings": {},
            "auth": {},
        }
        if data.get("shard"):
            ready["shard"] = data["shard"]
        await self._send_dispatch(session, "READY", ready)
        for guild in guilds:
            await self._send_dispatch(session, "GUILD_CREATE", server.guild_create_payload(guild))
        return session

    def _identify_in_time(self, shard: tuple[int, int]) -> bool:
        """Log an IDENTIFY; False (and counted) when its bucket identified less than a window ago."""
        bucket = shard[0] % max(1, self.server.max_concurrency)
        now = self.identify_clock()
        last = self._last_identify.get(bucket)
        window = self.identify_window
        accepted = window is None or last is None or now - last >= window
        self.identify_log.append(IdentifyAttempt(now, shard, bucket, accepted))
        if accepted:
            self._last_identify[bucket] = now
        else:
            self.identify_rejections += 1
        return accepted

    @staticmethod
    def _shard(value: Any) -> tuple[int, int] | None:
        """IDENTIFY's `shard` as (id, count): absent is (0, 1); None when Discord rejects it."""
        if value is None:
            return (0, 1)
        if not isinstance(value, list) or len(value) != 2:
            return None
        shard_id, shard_count = value
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return None
        if shard_count < 1 or not 0 <= shard_id < shard_count:
            return None
        return (shard_id, shard_count)

    async def _resume(self, ws: web.WebSocketResponse, data: JSON) -> GatewaySession | None:
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self.server.token:
            await self._close(ws, 4004)
            return None
        if session is None:
            await self._send_raw(ws, {"op": 9, "d": False})
            return None
        self.resumes += 1
        old = session.ws
        if old is not None and old is not ws and not old.closed:
            old._server_closed = True  # type: ignore[attr-defined]
            await old.close(code=4000)
        session.ws = ws
        last = int(data.get("seq") or 0)
        async with session.lock:
            for frame in session.sent:
                if frame["s"] > last:
                    await self._send_raw(ws, frame)
        await self._send_dispatch(session, "RESUMED", {})
        return session

    async def _request_members(
        self, ws: web.WebSocketResponse, session: GatewaySession | None, data: JSON
    ) -> None:
        if session is None:
            return
        guild = self.server.state.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        query = data.get("query")
        user_ids = {int(u) for u in data.get("user_ids") or []}
        limit = int(data.get("limit") or 0)
        members = list(guild.members.values())
        if user_ids:
            members = [m for m in members if m.user.id in user_ids]
        elif query:
            q = str(query).lower()
            members = [
                m
                for m in members
                if m.user.username.lower().startswith(q) or (m.nick or "").lower().startswith(q)
            ]
        if limit:
            members = members[:limit]
        found = {m.user.id for m in members}
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in user_ids - found],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if data.get("presences"):
            chunk["presences"] = []
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- sending -------------------------------------------------------------------------

    async def _send_raw(self, ws: web.WebSocketResponse, frame: JSON) -> None:
        frame.setdefault("s", None)
        frame.setdefault("t", None)
        if ws.closed:
            return
        try:
            await ws.send_str(json.dumps(frame))
        except (ConnectionError, RuntimeError):
            log.debug("gateway send on a closing socket dropped")

    async def _send_dispatch(self, session: GatewaySession, event: str, data: JSON) -> None:
        async with session.lock:
            session.seq += 1
            frame = {"op": 0, "t": event, "s": session.seq, "d": data}
            session.sent.append(frame)
            if session.ws is not None:
                await self._send_raw(session.ws, frame)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send a dispatch to every session of the guild's shard whose intents ask for it."""
        self.dispatched.append((event, data))
        bot_id = str(self.server.state.bot_user.id)
        guild_id = _guild_of(event, data)
        for session in list(self.sessions.values()):
            if not session.owns(guild_id):
                continue
            needed = _EVENT_INTENTS.get(event)
            if event in _MESSAGE_EVENTS:
                needed = Intents.GUILD_MESSAGES if data.get("guild_id") else Intents.DIRECT_MESSAGES
            if event == "GUILD_MEMBER_UPDATE" and (data.get("user") or {}).get("id") == bot_id:
                needed = None
            if needed is not None and not session.intents & needed:
                continue
            payload = data
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
                payload = self._without_content(session, data, bot_id)
            await self._send_dispatch(session, event, payload)
        self.server.notify()

    @staticmethod
    def _without_content(session: GatewaySession, data: JSON, bot_id: str) -> JSON:
        if session.intents & Intents.MESSAGE_CONTENT or not data.get("guild_id"):
            return data
        if (data.get("author") or {}).get("id") == bot_id:
            return data
        if any(u.get("id") == bot_id for u in data.get("mentions", [])):
            return data
        stripped = dict(data)
        stripped.update(content="", embeds=[], attachments=[], components=[])
        stripped.pop("poll", None)
        return stripped

    # -- faults --------------------------------------------------------------------------

    async def _close(self, ws: web.WebSocketResponse, code: int) -> None:
        ws._server_closed = True  # type: ignore[attr-defined]
        await ws.close(code=code)

    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if s.connected]

    async def send_op(self, op: int, data: Any = None) -> int:
        sessions = self.live_sessions()
        for s in sessions:
            assert s.ws is not None
            await self._send_raw(s.ws, {"op": op, "d": data})
        return len(sessions)

    async def reconnect(self) -> int:
        """op 7: the client should close and RESUME."""
        return await self.send_op(7)

    async def invalid_session(self, resumable: bool) -> int:
        """op 9; when not resumable the session is forgotten and the client must IDENTIFY."""
        count = await self.send_op(9, resumable)
        if not resumable:
            for s in self.live_sessions():
                self.sessions.pop(s.session_id, None)
        return count

    async def drop(self, code: int = 4000) -> int:
        """Close every socket from the server side without notice; sessions stay resumable."""
        sessions = self.live_sessions()
        for s in sessions:
            assert s.ws is not None
            await self._close(s.ws, code)
        return len(sessions)

    async def close_all(self) -> None:
        for ws in list(self.connections):
            await self._close(ws, 1001)
