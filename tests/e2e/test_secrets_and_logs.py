"""The token, the instance key and what people type never reach a log line, at any level.

The real bot runs a realistic session with logging configured by `setup_logging("DEBUG")` and
every library logger (discord.py's REST and gateway included) turned up to DEBUG on top, then
every captured record (message, template, arguments, exception text) and the handler's own
output are searched for each secret and each piece of user-typed text.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import discord
import pytest

from bot.logging_setup import register_secret, reset_logging, setup_logging
from tests.e2e.harness import TEST_SECRET_KEY, Community, HavenRunner, moderators_channel
from tests.fakediscord import FakeDiscord
from tests.support.clock import haven_clock_at, run_jobs_at
from tests.support.store import HavenStore

# The bot runs on SQLite and on PostgreSQL (tests/conftest.py); on PostgreSQL its DATABASE_URL
# carries a password (the test server trusts local connections, so any will do) that must never
# be logged either.
pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parents[2]
# Tuesday 5 January 2027, noon UTC; the meeting is at 19:00 New York (00:00 UTC the next day).
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
OPENS = datetime(2027, 1, 5, 23, 51, tzinfo=UTC)
CLOSES = datetime(2027, 1, 6, 1, 16, tzinfo=UTC)
LIBRARY_LOGGERS = (
    "discord",
    "discord.http",
    "discord.gateway",
    "discord.client",
    "discord.state",
    "discord.webhook.async_",
    "discord.app_commands.tree",
    "discord.ui.view",
    "discord.ui.modal",
    "aiohttp",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "aiosqlite",
    "asyncpg",
    "apscheduler",
    "apscheduler.scheduler",
    "apscheduler.executors.default",
    "asyncio",
)

# Everything a person types in the session (each distinctive, so a hit is a real leak).
TYPED = {
    "title": "Zephyr Lantern Circle",
    "description": "Quokka marmalade on the porch swing",
    "share": "Ninety days thanks to saffron tuesdays",
    "modline": "Whispering about the velvet relapse",
    "proof": "Ottoline Brambleworth",
    "card_title": "Periwinkle Naloxone Depot",
    "summary": "Glockenspiel kits handed out at the ferry terminal",
    "link": "https://periwinkle-depot.example.org/kits",
    "contact": "555-0199 ask for Thaddeus",
    "message": "Chartreuse walrus says hello",
    "error": "Cobalt pelican exploded",
}
NEEDLES = {
    **TYPED,
    "link host": "periwinkle-depot",
    "contact name": "Thaddeus",
}


DB_PASSWORD = "Sienna-Otter-Passphrase-7"

haven_clock = haven_clock_at(T0)


def _with_password(url: str) -> str:
    """The test server's URL with a password in it."""
    return url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)


@pytest.fixture
def debug_logging(
    caplog: pytest.LogCaptureFixture,
) -> Iterator[tuple[pytest.LogCaptureFixture, io.StringIO]]:
    """`setup_logging("DEBUG")` (its handler printing into a buffer), caplog on root, and every
    library logger at DEBUG."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    setup_logging("DEBUG", [])  # the token and the key are registered by create_bot
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    printed = io.StringIO()
    handler.setStream(printed)
    root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    for name in LIBRARY_LOGGERS:  # deliberately undo setup_logging's quieter library levels
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        yield caplog, printed
    finally:
        reset_logging()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def _secrets(server: FakeDiscord, key: bytes) -> dict[str, str]:
    return {
        "token": server.token,
        "HAVEN_SECRET_KEY": TEST_SECRET_KEY,
        "key hex": key.hex(),
        "key HEX": key.hex().upper(),
        "key repr": repr(key)[2:-1],
        "database password": DB_PASSWORD,
    }


def _record_texts(record: logging.LogRecord) -> list[str]:
    texts = [str(record.msg), repr(record.args), record.exc_text or "", record.stack_info or ""]
    try:
        texts.append(record.getMessage())
    except Exception as exc:  # pragma: no cover - reported by the assertion below
        texts.append(f"unformattable record: {exc!r}")
    texts.append(logging.Formatter().format(record))  # what any handler would print
    return texts


def _assert_clean(where: str, text: str, needles: dict[str, str]) -> None:
    for name, needle in needles.items():
        assert needle not in text, f"{name} ({needle!r}) appears in {where}:\n{text[:2000]}"


async def test_a_whole_session_at_debug_logs_no_secret_and_no_typed_text(
    debug_logging: tuple[pytest.LogCaptureFixture, io.StringIO],
    discord_server: FakeDiscord,
    community: Community,
    haven_runner: HavenRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, c = discord_server, community
    caplog, handler_output = debug_logging
    if haven_runner.store.url is not None:
        haven_runner.settings_overrides["database_url"] = _with_password(haven_runner.store.url)
    mods_channel = moderators_channel(server, c)
    review = server.create_channel(c.guild, "resource-review")
    await server.flush()

    # Startup and sync.
    bot = await haven_runner.start()
    g = c.guild

    # /setup, as a moderator types it.
    roles = await server.invoke(
        g,
        c.moderator,
        "setup roles",
        moderator=c.moderators_role,
        facilitator=c.facilitators_role,
        member=c.members_role,
        family=c.family_role,
    )
    assert "error ID" not in roles.all_text
    channels = await server.invoke(
        g,
        c.moderator,
        "setup channels",
        announcements=c.announcements,
        modlog=c.modlog,
        review=review,
        moderators=mods_channel,
    )
    assert "error ID" not in channels.all_text

    # A meeting with a distinctive title and description; its mod-log post first meets a 500.
    server.inject("POST", "/channels/{channel_id}/messages", 500)
    scheduled = await server.invoke(
        g,
        c.facilitator,
        "meeting schedule",
        title=TYPED["title"],
        description=TYPED["description"],
        start="2027-01-05 19:00",
        timezone="America/New_York",
        repeat="weekly",
        kind="na",
    )
    assert "Scheduled." in scheduled.all_text, scheduled.all_text
    (meeting,) = await bot.services.meetings.list_guild(g.id)
    await server.wait_for(
        lambda: any(TYPED["title"] in m.text for m in server.messages_in(c.modlog))
    )

    # Its room opens; a peer checks in and shares (the webhook post first meets a 500 too).
    created = await server.invoke(g, c.facilitator, "room create", meeting=str(meeting.id))
    assert "Created the room" in created.all_text, created.all_text
    await run_jobs_at(haven_runner, OPENS)
    link = await bot.services.rooms.link(meeting.id)
    assert link is not None
    room = server.state.channels[link.text_channel_id]
    checked = await server.invoke(g, c.peer, "checkin", _channel=room)
    assert "checked in" in checked.text
    server.inject("POST", "/webhooks/{webhook_id}/{webhook_token}", 500)
    shared = await server.invoke(g, c.peer, "share", _channel=room, text=TYPED["share"])
    assert "Shared as" in shared.all_text, shared.all_text
    assert any(TYPED["share"] in m.content for m in server.messages_in(room))

    # The anonymous line to moderators.
    sent = await server.invoke(g, c.peer, "moderators message", text=TYPED["modline"])
    assert "Anon-" in sent.all_text, sent.all_text

    # A resource suggestion through the modal.
    opened = await server.invoke(g, c.peer, "resource suggest")
    assert opened.modal is not None
    fields = {k: TYPED[k] for k in ("summary", "link", "contact")}
    fields.update(title=TYPED["card_title"], region_tags="US: naloxone")  # tags are a fixed list
    suggested = await server.submit_modal(opened, c.peer, fields)
    assert "error ID" not in suggested.all_text, suggested.all_text
    await server.wait_for(
        lambda: any(TYPED["card_title"] in m.text for m in server.messages_in(review))
    )

    # A proof slip with a name on it, after the room closed.
    await run_jobs_at(haven_runner, CLOSES)
    slip = await server.invoke(g, c.peer, "attendance proof", name=TYPED["proof"])
    assert TYPED["proof"] in slip.text, slip.text

    # Message content: a member's message that mentions the bot (so the gateway carries it),
    # and a listener that fails on it with the text in the exception's message.
    failed = asyncio.Event()

    async def on_message(message: discord.Message) -> None:
        if TYPED["message"] in message.content:
            failed.set()
            raise ValueError(f"could not handle {message.content!r}")

    bot.add_listener(on_message)
    await server.send_user_message(c.general, c.peer, f"<@{bot.user.id}> {TYPED['message']}")
    await asyncio.wait_for(failed.wait(), 5)
    await server.flush()

    # An unexpected error inside a command, whose message echoes typed text.
    def broken() -> list[str]:
        raise RuntimeError(TYPED["error"])

    monkeypatch.setattr(bot.services.privacy, "describe", broken)
    oops = await server.invoke(g, c.peer, "privacy info")
    assert "error ID" in oops.content

    key = bot.services.key
    await haven_runner.stop()

    assert server.faults.pending() == [], "both injected 500s were met"
    records = caplog.records
    assert any(r.name.startswith("discord.http") for r in records), "discord.http was captured"
    assert any(r.name.startswith("discord.gateway") for r in records), "gateway was captured"
    assert any("Unexpected error" in r.getMessage() for r in records)
    assert any(r.exc_text and "ValueError" in r.exc_text for r in records)
    needles = {**NEEDLES, **_secrets(server, key)}
    for record in records:
        for text in _record_texts(record):
            _assert_clean(f"a {record.levelname} record of {record.name}", text, needles)
    _assert_clean("caplog's text", caplog.text, needles)
    printed = handler_output.getvalue()
    assert "discord.http" in printed and "DEBUG" in printed, "setup_logging's handler printed"
    _assert_clean("setup_logging's stderr", printed, needles)


def test_setup_logging_scrubs_library_payloads_and_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Directly: discord.py's debug lines keep their shape but lose bodies, payloads, tokens."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    http, gateway = logging.getLogger("discord.http"), logging.getLogger("discord.gateway")
    saved = http.level, gateway.level
    setup_logging("DEBUG", ["tok.en.s3cret-value"])
    http.setLevel(logging.DEBUG)
    gateway.setLevel(logging.DEBUG)
    try:
        http.debug(
            "%s %s with %s has returned %s",
            "POST",
            "http://127.0.0.1:1/api/v10/webhooks/123/abcDEF-token_42",
            '{"content": "Zephyr Lantern Circle"}',
            200,
        )
        http.debug("%s %s has received %s", "GET", "/x", {"content": "Zephyr Lantern Circle"})
        gateway.debug("For Shard ID %s: WebSocket Event: %s", None, {"d": {"content": "Zephyr"}})
        logging.getLogger("bot.test").info("started with tok.en.s3cret-value in hand")
        register_secret(bytes(range(32)))  # as create_bot registers the instance key
        logging.getLogger("bot.test").debug("key %s", bytes(range(32)).hex())
        logging.getLogger("bot.test").debug("raw %r", bytes(range(32)))
        detail = "Quokka" + " marmalade"  # not on the raising source line, which tracebacks show
        try:
            raise RuntimeError(detail)
        except RuntimeError:
            logging.getLogger("discord.client").exception("Ignoring exception in %s", "on_x")
    finally:
        reset_logging()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        http.setLevel(saved[0])
        gateway.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "POST http://127.0.0.1:1/api/v10/webhooks/123/[token] with [withheld]" in err
    assert "has returned 200" in err
    assert "GET /x has received [withheld]" in err
    assert "WebSocket Event: [withheld]" in err
    assert "started with [redacted] in hand" in err
    assert "key [redacted]" in err and "raw b'[redacted]'" in err
    assert "Ignoring exception in on_x" in err and "RuntimeError: [withheld]" in err
    for leak in ("Zephyr", "abcDEF-token_42", "tok.en.s3cret-value", "Quokka", "1c1d1e1f"):
        assert leak not in err


async def test_python_m_bot_at_debug_never_prints_the_token(
    discord_server: FakeDiscord, community: Community, tmp_path: Path, store: HavenStore
) -> None:
    """`python -m bot --sync` with LOG_LEVEL=DEBUG: startup, a command, shutdown; no secret.

    On SQLite the bot makes its own key file; on PostgreSQL every process is given the key."""
    server, c = discord_server, community
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "HAVEN_"))},
        **store.environment(),
        "DISCORD_TOKEN": server.token,
        "DISCORD_API_BASE": server.api_base,
        "DISCORD_GATEWAY_URL": server.gateway_url,
        "LOG_LEVEL": "DEBUG",
        "HTTP_PORT": "",
        "DEV_GUILD_ID": "",
        "OWNER_IDS": "",
        "PYTHONPATH": str(ROOT),
    }
    if store.url is not None:
        env.update(DATABASE_URL=_with_password(store.url), HAVEN_SECRET_KEY=TEST_SECRET_KEY)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--sync",
        cwd=tmp_path,  # no .env from the repository
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await server.wait_for(
            lambda: "meeting schedule" in server.command_names() or proc.returncode is not None,
            timeout=30,
            message="the bot never synced its commands",
        )
        assert proc.returncode is None
        answered = None
        for _ in range(50):  # the first commands may arrive before the guild is ready
            attempt = await server.invoke(c.guild, c.owner, "help", _wait=False)
            try:
                answered = await attempt.wait(timeout=1)
                break
            except AssertionError:
                continue
        assert answered is not None, "the bot never answered /help"
        await server.invoke(
            c.guild,
            c.owner,
            "setup roles",
            moderator=c.moderators_role,
            facilitator=c.facilitators_role,
        )
        scheduled = await server.invoke(
            c.guild,
            c.owner,
            "meeting schedule",
            title=TYPED["title"],
            description=TYPED["description"],
            start="2030-01-08 19:00",
            timezone="America/New_York",
            repeat="weekly",
            kind="na",
        )
        assert "Scheduled." in scheduled.all_text, scheduled.all_text
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    printed = out.decode() + err.decode()
    assert proc.returncode == 0, printed[-3000:]
    assert "Synced" in printed and "DEBUG" in printed and "Dispatching event interaction" in printed
    if store.url is None:
        key_hex = (tmp_path / "haven.key").read_text().strip()
    else:
        assert not (tmp_path / "haven.key").exists(), "a key file beside nothing"
        key_hex = hashlib.sha256(TEST_SECRET_KEY.encode()).hexdigest()
    needles = {
        "HAVEN_SECRET_KEY": TEST_SECRET_KEY,
        "database password": DB_PASSWORD,
        "token": server.token,
        "key hex": key_hex,
        "key HEX": key_hex.upper(),
        "key repr": repr(bytes.fromhex(key_hex)[:32])[2:-1],
        "title": TYPED["title"],
        "description": TYPED["description"],
    }
    _assert_clean("the output of python -m bot", printed, needles)
