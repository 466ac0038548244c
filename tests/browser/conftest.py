"""Real-browser fixtures: one Debian Chromium per session (driven by Playwright) and the real feeds
app on 127.0.0.1 over a seeded SQLite database, with an injected clock the tests move.

The server runs in its own thread and event loop, so the tests use Playwright's sync API. No
browser is downloaded: Playwright is pointed at the system's Chromium (the Debian `chromium`
package, which `.ci/run` installs). Without one, every test here is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from bot.clock import FakeClock
from bot.db import Database
from bot.models.feeds import FeedInvite
from bot.models.meetings import Access, Kind
from bot.occurrences import Repeat
from bot.runtime.feeds_http import create_app
from bot.services.feeds import FeedService
from bot.services.meetings import MeetingStore
from bot.services.privacy import PrivacyService

T = TypeVar("T")
GUILD = 4711
# The server's "now" unless a test moves it: Tuesday 16 March 2027, 12:00 UTC (New York has been
# on daylight time since 14 March; London and Madrid change only on 28 March).
DEFAULT_NOW = datetime(2027, 3, 16, 12, tzinfo=UTC)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LONG_TITLE = "Newcomers" + "welcome" * 9  # one 72-character word: must wrap at 320 px


def find_chromium() -> str | None:
    """The system Chromium: $HAVEN_CHROMIUM, else the Debian package's binary on PATH."""
    for candidate in (
        os.environ.get("HAVEN_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass(frozen=True)
class Seeded:
    """What the seeded guild holds, for assertions."""

    open_titles: tuple[str, ...]
    never_titles: tuple[str, ...]  # closed (the feeds include them) and family meetings


class LiveSite:
    """The feeds app (schedule page included) served on loopback from a background loop."""

    def __init__(self, root: Path) -> None:
        self.clock = FakeClock(DEFAULT_NOW)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.db: Database = self.call(self._open(root / "browser.db"))
        self.store = MeetingStore(self.db, self.clock, PrivacyService(self.db))
        self.feeds = FeedService(self.db, self.clock, self.store)
        self.seeded, self.token = self.call(self._seed())
        self._runner: web.AppRunner = self.call(self._serve())
        sockets = self._runner.addresses
        self.origin = f"http://127.0.0.1:{sockets[0][1]}"

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def url(self, query: str = "") -> str:
        """The schedule page's URL, with an optional query string ('?tz=…')."""
        return f"{self.origin}/feeds/{self.token}/{query}"

    async def _open(self, path: Path) -> Database:
        db = await Database.open(path)
        await db.migrate()
        return db

    async def _add(
        self,
        title: str,
        tz: str,
        first: date,
        at: time,
        *,
        kind: Kind = Kind.NA,
        access: Access = Access.OPEN,
        formats: tuple[str, ...] = ("discussion",),
        repeat: Repeat = Repeat.WEEKLY,
    ) -> int:
        async with self.db.transaction() as tx:
            return await self.store.create(
                tx,
                guild_id=GUILD,
                title=title,
                kind=kind,
                access=access,
                formats=formats,
                timezone=tz,
                first_date=first,
                start_time=at,
                duration_minutes=60,
                repeat=repeat,
                description="Private notes that are never published",
            )

    async def _seed(self) -> tuple[Seeded, str]:
        evening = await self._add(
            "Evening in New York",
            "America/New_York",
            date(2027, 1, 5),
            time(19),
            formats=("speaker", "discussion"),
        )
        await self._add(
            "London morning",
            "Europe/London",
            date(2027, 1, 6),
            time(8),
            formats=("literature-study",),
        )
        await self._add(
            "Tokyo step study",
            "Asia/Tokyo",
            date(2027, 1, 7),
            time(20),
            kind=Kind.OTHER,
            formats=("step-study",),
        )
        await self._add(
            "Mexico newcomers",
            "America/Mexico_City",
            date(2027, 1, 9),
            time(10),
            formats=("newcomer", "speaker"),
        )
        await self._add(
            "Monthly candlelight",
            "Europe/Madrid",
            date(2027, 1, 19),
            time(21),
            formats=("candlelight",),
            repeat=Repeat.MONTHLY,
        )
        await self._add(LONG_TITLE, "Australia/Sydney", date(2027, 1, 3), time(18))
        await self._add("<img src=x onerror=alert(1)>", "UTC", date(2027, 1, 8), time(12))
        await self._add(
            "Closed NA secret", "Europe/London", date(2027, 1, 5), time(20), access=Access.CLOSED
        )
        await self._add(
            "Closed family circle",
            "Europe/London",
            date(2027, 1, 6),
            time(20),
            kind=Kind.FAMILY,
            access=Access.CLOSED,
        )
        await self._add(
            "Open family hope", "Europe/London", date(2027, 1, 7), time(19), kind=Kind.FAMILY
        )
        # The feeds include closed meetings here; the page must still show none of them.
        token, _ = await self.feeds.enable(
            GUILD, include_closed=True, calendar_name="Haven Recovery"
        )
        assert token is not None
        await self.feeds.set_invite(GUILD, FeedInvite(evening, 555, "havenTest"))
        seeded = Seeded(
            open_titles=(
                "Evening in New York",
                "London morning",
                "Tokyo step study",
                "Mexico newcomers",
                "Monthly candlelight",
                LONG_TITLE,
                "<img src=x onerror=alert(1)>",
            ),
            never_titles=("Closed NA secret", "Closed family circle", "Open family hope"),
        )
        return seeded, token

    async def _serve(self) -> web.AppRunner:
        app = create_app(self.feeds, self.clock, per_minute=100_000, burst=100_000)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    def close(self) -> None:
        """Stop serving, close the database and the loop."""
        self.call(self._runner.cleanup())
        self.call(self.db.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """The live page server for the browser tests; tests set `site.clock` as they need."""
    live = LiveSite(tmp_path_factory.mktemp("browser-site"))
    try:
        yield live
    finally:
        live.close()


@pytest.fixture(autouse=True)
def _default_now(request: pytest.FixtureRequest) -> None:
    """Each test starts at DEFAULT_NOW (tests that move the clock do not leak into others)."""
    if "site" in request.fixturenames:
        request.getfixturevalue("site").clock.set(DEFAULT_NOW)


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and every async test after the browser tests would find it running.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for the browser tests (skipped when there is none)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (dev extra)"
    )
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "no Chromium found (install the Debian `chromium` package, or set HAVEN_CHROMIUM); "
            ".ci/run installs it"
        )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()
