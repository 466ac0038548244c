"""Benchmark: the public schedule page's weight and time to first render, beside a naive peer.

For 50 and 500 published meetings (varied zones and rules, a seeded SQLite database, the real
feeds app on 127.0.0.1 with a fixed clock):
- **server**: build + render time of the page (``build_schedule`` + ``render_page``), median of
  repeated runs, and the HTML's size raw and gzip-compressed;
- **browser**: Debian Chromium (Playwright, headless), fresh context per load: first contentful
  paint, DOMContentLoaded and load, median of the loads, and the bytes transferred;
- **naive peer**, measured in the same run: what a group would otherwise write, a small page whose
  script fetches the Meeting Guide JSON feed and builds the list in the browser (``Intl`` for the
  reader's zone). It pays a second request and renders nothing without JS, and the JSON lists weekly
  meetings only, so it shows fewer meetings. Its "first render" is when the list is on screen (a
  ``performance.mark`` after the DOM is built). TSML UI's bundle (663 KB, 209 KB gzip, measured in
  design/schedule-page.md) is quoted, not loaded: it is not in this repository.
Run: ``.venv/bin/python bench/schedule_page.py [--sizes 50,500] [--loads 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import FakeClock  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.models.feeds import FeedInvite  # noqa: E402
from bot.models.meetings import FORMATS, Access, Kind  # noqa: E402
from bot.occurrences import Repeat  # noqa: E402
from bot.runtime.feeds_http import create_app  # noqa: E402
from bot.services.feeds import FeedService  # noqa: E402
from bot.services.meetings import MeetingStore  # noqa: E402
from bot.services.privacy import PrivacyService  # noqa: E402
from bot.services.schedule_page import build_schedule, parse_query, render_page  # noqa: E402

NOW = datetime(2027, 3, 16, 12, tzinfo=UTC)
GUILD = 1
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Mexico_City",
    "Europe/London",
    "Europe/Madrid",
    "Asia/Tokyo",
    "Australia/Sydney",
)
RULES = [Repeat.WEEKLY] * 7 + [Repeat.BIWEEKLY, Repeat.MONTHLY, Repeat.MONTHLY_LAST, Repeat.ONCE]
TSML_UI = (663_000, 209_000)  # app.js raw / gzip -9, design/schedule-page.md

# The naive peer: the feed's JSON, fetched and rendered in the browser.
NAIVE_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Meetings</title>
<style>body{font:1rem/1.5 system-ui,sans-serif;margin:0 auto;max-width:46rem;padding:0 1rem}
li{border:1px solid #888;border-radius:.5rem;margin:.5rem 0;padding:.75rem}</style></head>
<body><h1>Meetings</h1><p id="status">Loading…</p><ul id="list"></ul><script>
const days=['Sunday','Monday','Tuesday','Wednesday','Thursday','Friday','Saturday'];
fetch('FEED').then(r=>r.json()).then(ms=>{
 const now=new Date(NOW), zone=Intl.DateTimeFormat().resolvedOptions().timeZone, out=[];
 for(const m of ms){
  // The instant of this week's meeting in its own zone, found by probing the zone's offset.
  const [h,mi]=m.time.split(':').map(Number);
  let d=new Date(now); d.setUTCDate(d.getUTCDate()+((m.day-d.getUTCDay()+7)%7));
  const guess=Date.UTC(d.getUTCFullYear(),d.getUTCMonth(),d.getUTCDate(),h,mi);
  const parts=new Intl.DateTimeFormat('en-US',{timeZone:m.timezone,hourCycle:'h23',year:'numeric',
   month:'numeric',day:'numeric',hour:'numeric',minute:'numeric'}).formatToParts(new Date(guess));
  const p={};parts.forEach(x=>p[x.type]=x.value);
  const off=Date.UTC(p.year,p.month-1,p.day,p.hour,p.minute)-guess;
  out.push([guess-off,m]);
 }
 out.sort((a,b)=>a[0]-b[0]);
 const f=new Intl.DateTimeFormat('en-GB',{timeZone:zone,weekday:'long',hour:'2-digit',minute:'2-digit'});
 const ul=document.getElementById('list');
 for(const [t,m] of out){const li=document.createElement('li');const h=document.createElement('h3');
  h.textContent=m.name;li.appendChild(h);const p=document.createElement('p');
  p.textContent=f.format(new Date(t))+' ('+m.timezone+')';li.appendChild(p);
  if(m.conference_url){const a=document.createElement('a');a.href=m.conference_url;
   a.textContent='Join on Discord';li.appendChild(a)}ul.appendChild(li)}
 document.getElementById('status').textContent=out.length+' meetings';
 performance.mark('rendered');
});
</script></body></html>
"""


def find_chromium() -> str | None:
    """The Debian Chromium binary, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def seed(db: Database, store: MeetingStore, feeds: FeedService, count: int) -> str:
    """``count`` varied published meetings (a fifth with an invite); the feeds' token."""
    rng = random.Random(count)
    kinds = [Kind.NA] * 8 + [Kind.OTHER] * 2  # what the page shows: no family meetings
    keys = list(FORMATS)
    ids = []
    async with db.transaction() as tx:
        for i in range(count):
            rule = rng.choice(RULES)
            first = NOW.date() + timedelta(days=rng.randint(0, 6))
            if rule is not Repeat.ONCE:
                first -= timedelta(days=7 * rng.randint(1, 80))
            ids.append(
                await store.create(
                    tx,
                    guild_id=GUILD,
                    title=f"{rng.choice(('Hope', 'Serenity', 'Just for today', 'Newcomers'))} {i}",
                    kind=rng.choice(kinds),
                    access=Access.OPEN,
                    formats=tuple(rng.sample(keys, rng.randint(1, 3))),
                    timezone=rng.choice(ZONES),
                    first_date=first,
                    start_time=time(rng.randint(6, 22), rng.choice((0, 15, 30, 45))),
                    duration_minutes=rng.choice((60, 60, 90)),
                    repeat=rule,
                )
            )
    token, _ = await feeds.enable(GUILD, calendar_name="Bench")
    assert token is not None
    for n, meeting_id in enumerate(ids[::5]):
        await feeds.set_invite(GUILD, FeedInvite(meeting_id, 1000 + n, f"code{n:05d}"))
    return token


class Site:
    """The real feeds app (schedule page included) plus the naive peer, in a background loop."""

    def __init__(self, root: Path, count: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clock = FakeClock(NOW)
        self.token, self.port = self.call(self._start(root / f"bench-{count}.db", count))

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    async def _start(self, path: Path, count: int) -> tuple[str, int]:
        self.db = await Database.open(path)
        await self.db.migrate()
        store = MeetingStore(self.db, self.clock, PrivacyService(self.db))
        self.feeds = FeedService(self.db, self.clock, store)
        token = await seed(self.db, store, self.feeds, count)
        app = create_app(self.feeds, self.clock, per_minute=1e6, burst=1_000_000)
        naive = NAIVE_PAGE.replace("FEED", f"/feeds/{token}/meetings.json")
        naive = naive.replace("NOW", "'" + NOW.strftime("%Y-%m-%dT%H:%M:%SZ") + "'")

        async def peer(request: web.Request) -> web.Response:
            return web.Response(text=naive, content_type="text/html")

        app.router.add_get("/naive/", peer)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return token, int(self.runner.addresses[0][1])

    def close(self) -> None:
        """Stop everything."""
        self.call(self.runner.cleanup())
        self.call(self.db.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def server_figures(site: Site, rounds: int) -> dict[str, float]:
    """Median build + render time and the HTML's size, raw and gzip."""
    config = site.call(site.feeds.get(GUILD))
    meetings = site.call(site.feeds.published(config))
    invites = site.call(site.feeds.invites(GUILD))
    query = parse_query({})
    times = []
    html = ""
    for _ in range(rounds):
        started = clock.perf_counter()
        html = render_page(build_schedule(meetings, invites, NOW, query, name="Bench"))
        times.append(clock.perf_counter() - started)
    body = html.encode()
    feed = site.call(site.feeds.render_guild(config, "json")).body
    return {
        "render_ms": statistics.median(times) * 1000,
        "raw": len(body),
        "gzip": len(gzip.compress(body, 9)),
        "json_raw": len(feed),
        "json_gzip": len(gzip.compress(feed, 9)),
        "entries": html.count('<li class="m"'),
    }


PAINT = """() => new Promise(done => {
  const wait = () => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const mark = performance.getEntriesByName('rendered')[0];
    if (!nav || nav.loadEventEnd === 0 || !fcp || (WANT_MARK && !mark)) return setTimeout(wait, 10);
    const bytes = performance.getEntriesByType('resource').reduce((s, r) => s + r.transferSize, 0)
      + nav.transferSize;
    done({fcp: fcp.startTime, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          listed: mark ? mark.startTime : fcp.startTime, bytes,
          items: document.querySelectorAll('li').length});
  };
  wait();
})"""


def browser_figures(browser: Any, url: str, loads: int, naive: bool) -> dict[str, float]:
    """Medians over fresh contexts (a reader in Tokyo): paint, DOMContentLoaded, load, bytes."""
    runs = []
    script = PAINT.replace("WANT_MARK", "true" if naive else "false")
    for _ in range(loads):
        context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
        page = context.new_page()
        page.goto(url, wait_until="load")
        runs.append(page.evaluate(script))
        context.close()
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> int:
    """Print the figures for each size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="50,500")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    executable = find_chromium()
    playwright_cm: Any = None
    browser: Any = None
    if executable is not None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            print("playwright is not installed: browser figures skipped (pip install -e '.[dev]')")
        else:
            playwright_cm = sync_playwright()
            pw = playwright_cm.__enter__()
            started = clock.perf_counter()
            browser = pw.chromium.launch(
                executable_path=executable,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            print(f"Chromium {browser.version} launched in {clock.perf_counter() - started:.2f} s")
    else:
        print("no Chromium found (apt-get install chromium): browser figures skipped")
    print(
        f"TSML UI (quoted, not loaded): app.js {TSML_UI[0] / 1000:.0f} KB, gzip {TSML_UI[1] / 1000:.0f} KB"
    )
    with tempfile.TemporaryDirectory() as root:
        for count in (int(s) for s in args.sizes.split(",")):
            site = Site(Path(root), count)
            try:
                s = server_figures(site, args.rounds)
                print(
                    f"\n{count} meetings ({s['entries']:.0f} occurrences in 7 days): server render "
                    f"{s['render_ms']:.1f} ms; HTML {s['raw'] / 1000:.1f} KB, gzip "
                    f"{s['gzip'] / 1000:.1f} KB; the JSON feed {s['json_raw'] / 1000:.1f} KB, "
                    f"gzip {s['json_gzip'] / 1000:.1f} KB"
                )
                if browser is None:
                    continue
                origin = f"http://127.0.0.1:{site.port}"
                ours = browser_figures(browser, f"{origin}/feeds/{site.token}/", args.loads, False)
                peer = browser_figures(browser, f"{origin}/naive/", args.loads, True)
                for name, r in (("Haven page", ours), ("naive JSON+JS", peer)):
                    print(
                        f"  {name:14} first paint {r['fcp']:6.1f} ms, list on screen "
                        f"{r['listed']:6.1f} ms, DOMContentLoaded {r['dcl']:6.1f} ms, load "
                        f"{r['load']:6.1f} ms, {r['bytes'] / 1000:6.1f} KB transferred, "
                        f"{r['items']:.0f} items"
                    )
            finally:
                site.close()
    if browser is not None:
        browser.close()
        playwright_cm.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
