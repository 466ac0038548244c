"""FakeDiscord's HTTP front: REST requests to routes, with auth, faults and rate limits."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any

from aiohttp import web

from . import rest
from .core import ServerCore
from .rest import Call
from .validation import DiscordError

log = logging.getLogger(__name__)


def _json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly `application/json`: with `; charset=utf-8` discord.py reads the body as text.
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(status=status, body=json.dumps(data).encode(), headers=hdrs)


class Transport(ServerCore):
    """The HTTP side: route matching, auth, injected faults, rate-limit headers, the CDN."""

    async def _attachment(self, request: web.Request) -> web.Response:
        """The CDN: serve an uploaded file back (Attachment.read())."""
        aid = request.match_info["attachment_id"]
        for msg in self.state.messages.values():
            for att in msg.attachments:
                if att["id"] == aid:
                    return web.Response(body=msg.files[att["filename"]])
        return web.Response(status=404)

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
        # Interaction callbacks and webhook-token routes are not bound to the global limit.
        if self.global_limit_per_second and route.auth:
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
