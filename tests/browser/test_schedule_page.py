"""The public schedule page in a real browser (Debian Chromium via Playwright): times in readers'
zones across a DST change, filters with and without JavaScript, closed and family meetings never
shown (even when the feeds include closed ones),
axe-core (WCAG 2.2 AA) in light and dark mode with a negative control, reflow at 320 px, no
third-party requests, cookies or console errors, and a screenshot for people to look at."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LONG_TITLE, LiveSite

VENDOR = Path(__file__).parent / "vendor"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # axe-core 4.14.1
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "schedule-page.png"

VISIBLE = """() => [...document.querySelectorAll('li.m')].filter(li => !li.hidden).map(li => ({
  title: li.querySelector('h3').textContent,
  time: li.querySelector('time').textContent,
  day: li.closest('section').querySelector('h2').textContent,
}))"""


@contextmanager
def reader(
    browser: Any,
    *,
    zone: str = "UTC",
    js: bool = True,
    scheme: str = "light",
    width: int = 1024,
    height: int = 800,
    locale: str = "en-GB",
    bypass_csp: bool = False,
) -> Iterator[Any]:
    """A fresh page in a new browser context for one reader (zone, JS, colour scheme, size)."""
    context = browser.new_context(
        timezone_id=zone,
        locale=locale,
        java_script_enabled=js,
        color_scheme=scheme,
        viewport={"width": width, "height": height},
        bypass_csp=bypass_csp,
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def visible(page: Any) -> list[dict[str, str]]:
    """The meetings a reader sees: title, start time and the day heading above it."""
    return list(page.evaluate(VISIBLE))


def visible_no_js(page: Any) -> list[dict[str, str]]:
    """The same, read by Playwright from the DOM (the page itself runs no script)."""
    out = []
    for li in page.locator("li.m:not([hidden])").all():
        out.append(
            {
                "title": li.locator("h3").inner_text(),
                "time": li.locator("time").first.inner_text(),
                "day": li.locator("xpath=ancestor::section/h2").inner_text(),
            }
        )
    return out


def line(items: list[dict[str, str]], title: str) -> tuple[str, str]:
    """(time, day heading) of one meeting."""
    found = [(i["time"], i["day"]) for i in items if i["title"] == title]
    assert len(found) == 1, (title, items)
    return found[0]


# --- the reader's zone across a DST change ----------------------------------------------------

# "Evening in New York" meets Tuesdays at 19:00 New York time. New York moves to daylight time on
# 14 March 2027; Mexico City has no DST; London and Tokyo do not change in these weeks.
ZONE_CASES = [
    # (server now, reader zone, time shown, day heading shown)
    (datetime(2027, 3, 9, 12, tzinfo=UTC), "America/Mexico_City", "18:00", "Tuesday, March 9"),
    (datetime(2027, 3, 9, 12, tzinfo=UTC), "Europe/London", "00:00", "Wednesday, March 10"),
    (datetime(2027, 3, 9, 12, tzinfo=UTC), "Asia/Tokyo", "09:00", "Wednesday, March 10"),
    (datetime(2027, 3, 16, 12, tzinfo=UTC), "America/Mexico_City", "17:00", "Tuesday, March 16"),
    (datetime(2027, 3, 16, 12, tzinfo=UTC), "Europe/London", "23:00", "Tuesday, March 16"),
    (datetime(2027, 3, 16, 12, tzinfo=UTC), "Asia/Tokyo", "08:00", "Wednesday, March 17"),
]


def test_times_in_three_reader_zones_across_a_dst_change(browser: Any, site: LiveSite) -> None:
    zones = sorted({zone for _, zone, _, _ in ZONE_CASES})
    with reader(browser, js=False) as plain, ExitStack() as stack:
        pages = {zone: stack.enter_context(reader(browser, zone=zone)) for zone in zones}
        for now, zone, shown, heading in ZONE_CASES:
            site.clock.set(now)
            # With JavaScript: the device's zone, nothing chosen.
            page = pages[zone]
            page.goto(site.url())
            assert line(visible(page), "Evening in New York") == (shown, heading), (now, zone)
            city = zone.split("/")[-1].replace("_", " ")  # the zones are named by their city
            assert page.locator("#zone-note").inner_text() == f"Times are shown in {city}."
            assert page.locator("#f-tz").input_value() == zone
            assert "Its own time: Tuesday 19:00 (New York)" in page.content()
            # Without JavaScript: the zone chosen with ?tz= gives the same, rendered on the server.
            plain.goto(site.url(f"?tz={zone}"))
            assert line(visible_no_js(plain), "Evening in New York") == (shown, heading)


def test_a_device_zone_outside_the_picker_is_named_by_its_city(
    browser: Any, site: LiveSite
) -> None:
    """The script adds the reader's own zone to the picker, by its city, not its IANA id."""
    site.clock.set(ZONE_CASES[0][0])
    with reader(browser, zone="Africa/Addis_Ababa") as page:
        page.goto(site.url())
        assert page.locator("#zone-note").inner_text() == "Times are shown in Addis Ababa."
        assert page.locator("#f-tz").input_value() == "Africa/Addis_Ababa"
        chosen = page.locator("#f-tz option:checked").inner_text()
        assert chosen == "Addis Ababa"
        assert page.locator(".zn").first.inner_text() == "Addis Ababa"


# --- filters -------------------------------------------------------------------------------------


def test_filters_with_and_without_javascript_agree(browser: Any, site: LiveSite) -> None:
    zone = "Asia/Tokyo"
    with reader(browser, zone=zone) as js_page, reader(browser, js=False) as plain:
        js_page.goto(site.url())
        everything = visible(js_page)
        assert len(everything) == 7
        assert js_page.locator("#count").inner_text() == "7 meetings"
        cases = [
            ({"kind": "other"}, "1 meeting"),
            ({"kind": "", "format": "speaker"}, "2 meetings"),
            ({"format": "", "day": "2027-03-17"}, None),
            ({"kind": "other", "day": "2027-03-17"}, "No meetings match these filters."),
        ]
        for choice, count in cases:
            for name, value in choice.items():
                js_page.select_option(f"#f-{name}", value)
            shown = visible(js_page)
            status = js_page.locator("#count[role=status]").inner_text()
            if count is not None:
                assert status == count, choice
            assert status.startswith(str(len(shown))) or not shown
            # The script keeps the filters in the URL; the server alone gives the same set.
            assert f"tz={zone.replace('/', '%2F')}" in js_page.url
            plain.goto(js_page.url)
            assert visible_no_js(plain) == shown, choice
            assert plain.locator("#count").inner_text() == status
        # Tokyo's Wednesday, March 17 holds Madrid's and New York's Tuesday evenings and London's
        # Wednesday morning (17:00 in Tokyo): the reader's day, not the meetings' own days.
        js_page.select_option("#f-kind", "")
        assert [(i["title"], i["time"]) for i in visible(js_page)] == [
            ("Monthly candlelight", "05:00"),
            ("Evening in New York", "08:00"),
            ("London morning", "17:00"),
        ]
        # A real GET submit without JavaScript: choose in the form and press the button.
        plain.goto(site.url())
        plain.select_option("#f-tz", zone)
        plain.select_option("#f-kind", "other")
        plain.get_by_role("button", name="Show meetings").click()
        plain.wait_for_load_state()
        assert "kind=other" in plain.url and "tz=Asia%2FTokyo" in plain.url
        assert [i["title"] for i in visible_no_js(plain)] == ["Tokyo step study"]
        assert line(visible_no_js(plain), "Tokyo step study") == ("20:00", "Thursday, March 18")


def test_a_closed_or_family_meeting_never_on_the_page(browser: Any, site: LiveSite) -> None:
    """A closed NA meeting (the feeds include it: include_closed) and an open family meeting."""
    assert "Closed NA secret" in site.seeded.never_titles
    assert "Open family hope" in site.seeded.never_titles
    # The feeds publish both closed meetings and the family one; the page shows none of them.
    feed = site.call(site.feeds.render(site.token, "ics"))
    assert feed is not None
    assert all(title.encode() in feed.body for title in site.seeded.never_titles)
    for js in (True, False):
        with reader(browser, js=js) as page:
            for query in ("", "?kind=family", "?kind=na&tz=Europe/London", "?lang=es"):
                page.goto(site.url(query))
                html = page.content()
                for title in site.seeded.never_titles:
                    assert title not in html, (js, query, title)
            page.goto(site.url())
            text = page.locator("body").inner_text()
            for title in site.seeded.open_titles:
                assert title in text, (js, title)
            assert "never published" not in page.content()
            # No family filter to choose: the kind select offers NA-style and peer support only.
            kinds = page.locator("#f-kind option").evaluate_all("os => os.map(o => o.value)")
            assert kinds == ["", "na", "other"], (js, kinds)


# --- accessibility ------------------------------------------------------------------------------


def _axe_source() -> str:
    source = (VENDOR / "axe.min.js").read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, "vendored axe-core changed"
    return source.decode("utf-8")


def _without_script(route: Any) -> None:
    response = route.fetch()
    body = re.sub(r"<script>.*?</script>", "", response.text(), flags=re.S)
    assert "<script" not in body
    route.fulfill(response=response, body=body)


def _axe(page: Any, source: str) -> dict[str, int]:
    """axe-core's violations on the page: rule id -> number of nodes."""
    page.add_script_tag(content=source)
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => [v.id, v.nodes.length])",
        AXE_TAGS,
    )
    return {rule: count for rule, count in result}


def test_axe_finds_no_violations_light_and_dark_and_catches_a_seeded_fault(
    browser: Any, site: LiveSite
) -> None:
    source = _axe_source()
    for scheme in ("light", "dark"):
        # axe is injected as a script, exactly what the page's CSP forbids: bypass it for axe.
        with reader(browser, scheme=scheme, zone="Europe/Madrid", bypass_csp=True) as page:
            page.goto(site.url())
            assert _axe(page, source) == {}, scheme
            page.select_option("#f-kind", "other")  # a filtered view, hidden items and all
            assert _axe(page, source) == {}, scheme
        # The server's own rendering (no script runs): axe needs JS, so the page's script is
        # taken out of the response instead of turning JavaScript off.
        with reader(browser, scheme=scheme, bypass_csp=True) as page:
            page.route(f"{site.url()}*", _without_script)
            page.goto(site.url("?format=speaker&tz=America/Mexico_City"))
            assert page.locator("#zone-note").inner_text() == "Times are shown in Mexico City."
            assert _axe(page, source) == {}, scheme
    # Negative control: the same harness must fail on a low-contrast line and an unlabelled select.
    with reader(browser, bypass_csp=True) as page:
        page.goto(site.url())
        page.evaluate(
            """() => {
              const p = document.createElement('p');
              p.textContent = 'Grey on white';
              p.style.color = '#bbb';
              document.querySelector('main').appendChild(p);
              const s = document.createElement('select');
              s.appendChild(new Option('x'));
              document.querySelector('main').appendChild(s);
            }"""
        )
        faults = _axe(page, source)
        assert faults.get("color-contrast", 0) >= 1 and faults.get("select-name", 0) == 1, faults


def test_reflow_at_320_px_keyboard_and_target_size(browser: Any, site: LiveSite) -> None:
    for scheme in ("light", "dark"):
        with reader(browser, width=320, height=640, scheme=scheme) as page:
            page.goto(site.url())
            assert LONG_TITLE in page.locator("body").inner_text()
            sizes = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert sizes[0] <= sizes[1] == 320, sizes
            order = []
            for _ in range(3):
                page.keyboard.press("Tab")
                order.append(
                    page.evaluate(
                        "() => document.activeElement.id || document.activeElement.textContent"
                    )
                )
            assert order == ["Skip to the meetings", "En español", "f-day"]
            heights = page.evaluate(
                "() => [...document.querySelectorAll('select, button, a.join')]"
                ".map(e => e.getBoundingClientRect().height)"
            )
            assert heights and min(heights) >= 24, heights  # WCAG 2.5.8


def test_spanish_page_reads_the_same_with_and_without_javascript(
    browser: Any, site: LiveSite
) -> None:
    source = _axe_source()
    zone = "Europe/Madrid"
    with (
        reader(browser, zone=zone, locale="es-MX", bypass_csp=True) as js_page,
        reader(browser, js=False) as plain,
    ):
        js_page.goto(site.url("?lang=es"))
        plain.goto(site.url(f"?lang=es&tz={zone}"))
        assert js_page.evaluate("() => document.documentElement.lang") == "es"
        assert visible(js_page) == visible_no_js(plain)
        assert line(visible(js_page), "Evening in New York") == (
            "00:00",
            "miércoles 17 de marzo",
        )
        assert js_page.locator("#count").inner_text() == "7 reuniones"
        js_page.select_option("#f-kind", "other")
        assert js_page.locator("#count").inner_text() == "1 reunión"
        assert "lang=es" in js_page.url
        assert _axe(js_page, source) == {}


# --- privacy, security and a picture ----------------------------------------------------------


@pytest.mark.parametrize("js", [True, False])
def test_no_third_party_requests_cookies_console_errors_or_script_from_titles(
    browser: Any, site: LiveSite, js: bool
) -> None:
    with reader(browser, js=js) as page:
        requests: list[str] = []
        errors: list[str] = []
        dialogs: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        response = page.goto(site.url())
        assert response is not None and response.status == 200
        page.wait_for_load_state("networkidle")
        foreign = [u for u in requests if not u.startswith(site.origin + "/")]
        assert foreign == [] and errors == [] and dialogs == [], (foreign, errors, dialogs)
        assert page.context.cookies() == []
        assert page.get_by_text("<img src=x onerror=alert(1)>").count() == 1
        headers = response.headers
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-robots-tag"] == "noindex"
        assert "unsafe-inline" not in headers["content-security-policy"]
        link = page.get_by_role("link", name="Join on Discord")
        assert link.get_attribute("href") == "https://discord.gg/havenTest"
        assert link.get_attribute("rel") == "noreferrer"


def test_screenshot_for_people(
    browser: Any, site: LiveSite, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A phone-sized picture of the page, saved for review (not compared to anything)."""
    artifact = tmp_path_factory.mktemp("artifacts") / "schedule-page.png"
    with reader(browser, zone="America/Mexico_City", width=360, height=740) as page:
        page.goto(site.url())
        page.screenshot(path=str(artifact), full_page=True)
    assert artifact.stat().st_size > 10_000
    print(f"\nschedule page screenshot: {artifact}")
    if os.environ.get("HAVEN_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact, SCREENSHOT)
