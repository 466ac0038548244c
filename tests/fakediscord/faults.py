"""Fault injection for REST routes: 429s, 403s, 5xx and slow or hanging answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FaultKind = int | Literal["timeout", "hang"]

_DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: "401: Unauthorized",
    403: "Missing Permissions",
    404: "Unknown",
    429: "You are being rate limited.",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
}
_DEFAULT_CODES = {403: 50013, 429: 0, 500: 0, 502: 0, 503: 0, 404: 0, 400: 50035}


@dataclass
class Fault:
    """One injected fault; `remaining` counts down each time it fires."""

    method: str
    route: str
    status: FaultKind
    remaining: int
    retry_after: float = 0.05
    code: int | None = None
    message: str | None = None
    global_: bool = False
    delay: float = 0.0
    fired: int = 0

    def matches(self, method: str, route: str) -> bool:
        return self.remaining > 0 and self.method in ("*", method) and self.route == route

    @property
    def error_code(self) -> int:
        if self.code is not None:
            return self.code
        return _DEFAULT_CODES.get(int(self.status), 0) if isinstance(self.status, int) else 0

    @property
    def error_message(self) -> str:
        if self.message is not None:
            return self.message
        if isinstance(self.status, int):
            return _DEFAULT_MESSAGES.get(self.status, "Error")
        return "Error"


class FaultInjector:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def take(self, method: str, route: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, route):
                fault.remaining -= 1
                fault.fired += 1
                return fault
        return None

    def pending(self) -> list[Fault]:
        return [f for f in self.faults if f.remaining > 0]
