"""Logging: one format, levels from settings, secrets and payloads never printed.

Two layers, so that no level (not even LOG_LEVEL=DEBUG, nor a logger someone turns up later)
prints a secret or what people typed:

- a record factory scrubs every record as it is created, before any handler sees it:
  libraries' records (discord.py, aiohttp, APScheduler) keep scalar arguments only
  (REST bodies, gateway payloads, reprs of views and jobs become a placeholder, and tokens in
  webhook and interaction URLs are cut), every record's exception keeps its types and stack but
  not its messages (they may echo user input), and registered secrets are replaced;
- the handler's RedactFilter replaces registered secrets again, as a last line.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Callable
from enum import Enum
from typing import Any

import yarl

REDACTED = "[redacted]"
WITHHELD = "[withheld]"
# Loggers of libraries that log request bodies, gateway payloads or object reprs at DEBUG.
LIBRARY_LOGGERS = ("discord", "aiohttp", "aiosqlite", "apscheduler", "websockets", "asyncio")
_TOKEN_IN_URL = re.compile(r"/(webhooks|interactions)/(\d+)/[^/?#\s'\"]+")
_SAFE_STRING = re.compile(r"[\w.:/@%+=,-]{0,120}")
_MAX_ARG = 120

_secrets: list[str] = []
_base_factory: Callable[..., logging.LogRecord] | None = None


def register_secret(value: str | bytes) -> None:
    """Never print this value (and, for bytes, neither its hex nor its repr) from now on."""
    forms = [value.hex(), repr(value)[2:-1]] if isinstance(value, bytes) else [value]
    for form in forms:
        if form and form not in _secrets:
            _secrets.append(form)
    _secrets.sort(key=len, reverse=True)


def redact(text: str) -> str:
    """Replace every registered secret (and tokens inside Discord URLs) in a text."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _TOKEN_IN_URL.sub(r"/\1/\2/[token]", text)


def _is_library(name: str) -> bool:
    return any(name == n or name.startswith(n + ".") for n in LIBRARY_LOGGERS)


def _scrub_arg(value: Any) -> Any:
    """A library's log argument, kept only when it cannot carry a payload or user text."""
    if value is None or isinstance(value, bool | int | float | Enum):
        return value
    if isinstance(value, yarl.URL):
        value = str(value)
    if isinstance(value, str) and _SAFE_STRING.fullmatch(value):
        return redact(value)
    return WITHHELD


def _scrub_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(_scrub_arg(a) for a in args)
    if isinstance(args, dict):  # logging's single-mapping form: "%(name)s"
        return {k: _scrub_arg(v) for k, v in args.items()}
    return args


def safe_exception_text(exc_info: Any) -> str:
    """A traceback with each exception's type and stack, never its message."""
    _, exc, _ = exc_info
    chain: list[BaseException] = []
    while isinstance(exc, BaseException) and exc not in chain and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    parts: list[str] = []
    for err in reversed(chain):
        if parts:
            parts.append("\nwhich led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(err.__traceback__))
        status, code = getattr(err, "status", None), getattr(err, "code", None)
        detail = WITHHELD
        if isinstance(status, int):  # discord.HTTPException, aiohttp errors: no body
            detail = f"HTTP {status}" + (f" (code {code})" if isinstance(code, int) else "")
        parts.append(f"{type(err).__module__}.{type(err).__qualname__}: {detail}")
    return redact("".join(parts))


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Make a record safe to print, in place (see the module docstring)."""
    if _is_library(record.name):
        record.args = _scrub_args(record.args)
        record.msg = redact(record.msg) if isinstance(record.msg, str) else WITHHELD
        try:
            record.getMessage()
        except Exception:  # a placeholder where the template wanted a number
            record.msg, record.args = f"{record.msg} [arguments withheld]", None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = safe_exception_text(record.exc_info)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    if _secrets:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: print its template only
            message = str(record.msg)
            record.msg, record.args = message, None
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
    return record


def _scrubbing_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    return scrub(_base_factory(*args, **kwargs))


class RedactFilter(logging.Filter):
    """Replace any registered secret with a placeholder in every record."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [*self._secrets, *_secrets]
        if not secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in secrets:
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def setup_logging(level: str, secrets: list[str]) -> None:
    """Configure the root logger once for the process."""
    global _base_factory
    for secret in secrets:
        if secret:
            register_secret(secret)
    if _base_factory is None:
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_scrubbing_factory)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries' debug output is noise even when scrubbed (every REST call, every gateway frame).
    logging.getLogger("discord.http").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("discord.gateway").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def forget_secrets() -> None:
    """Drop every registered secret (for tests: one test's fake token is another's plain text)."""
    _secrets.clear()


def reset_logging() -> None:
    """Undo `setup_logging`'s record factory (for tests); registered secrets are kept."""
    global _base_factory
    if _base_factory is not None:
        logging.setLogRecordFactory(_base_factory)
        _base_factory = None
