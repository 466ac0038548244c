"""Benchmark: cost of finding each meeting's next occurrence (goal: < 20 µs per meeting).

Builds 100,000 varied meetings (zones, rules, times, first dates, a few with exceptions or a
pause) and times ``next_occurrences(schedule, now, 1)`` for each, as the reminder materialiser
does at start-up. Run: ``.venv/bin/python bench/occurrences.py [--meetings N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import available_timezones

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.occurrences import (  # noqa: E402
    OccurrenceException,
    Repeat,
    Schedule,
    next_occurrences,
    zone,
)

GOAL_US = 20.0
COMMON_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/St_Johns",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "UTC",
]
RULES = (
    [Repeat.WEEKLY] * 6 + [Repeat.BIWEEKLY] * 2 + [Repeat.MONTHLY, Repeat.MONTHLY_LAST, Repeat.ONCE]
)


def build(count: int, seed: int, now: datetime) -> list[Schedule]:
    """Deterministically build ``count`` varied schedules around ``now``."""
    rng = random.Random(seed)
    all_zones = sorted(available_timezones())
    today = now.date()
    schedules: list[Schedule] = []
    for _ in range(count):
        tz = rng.choice(COMMON_ZONES) if rng.random() < 0.7 else rng.choice(all_zones)
        rule = rng.choice(RULES)
        if rule == Repeat.ONCE:
            first = today + timedelta(days=rng.randint(-30, 120))
        else:
            first = today - timedelta(days=rng.randint(0, 6 * 365))
        start = time(rng.randint(0, 23), rng.choice((0, 15, 30, 45)))
        exceptions: dict[date, OccurrenceException] = {}
        paused: date | None = None
        roll = rng.random()
        if roll < 0.05:  # a cancelled or moved occurrence near now
            key = today + timedelta(days=rng.randint(0, 30))
            if rng.random() < 0.5:
                exceptions[key] = OccurrenceException(cancelled=True, moved_to=None)
            else:
                moved = datetime.combine(key, start) + timedelta(days=rng.randint(-2, 9))
                exceptions[key] = OccurrenceException(cancelled=False, moved_to=moved)
        elif roll < 0.07:  # paused for a while
            paused = today + timedelta(days=rng.randint(1, 90))
        schedules.append(
            Schedule(
                timezone=tz,
                first_date=first,
                start_time=start,
                repeat=rule,
                duration_minutes=rng.choice((60, 60, 90, 120)),
                paused_until=paused,
                exceptions=exceptions,
            )
        )
    return schedules


def main() -> int:
    """Run the benchmark and print the per-meeting cost."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meetings", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--rounds", type=int, default=3, help="report the best of this many runs")
    args = parser.parse_args()

    now = datetime(2027, 3, 10, 21, 37, tzinfo=UTC)  # fixed, so runs are comparable
    schedules = build(args.meetings, args.seed, now)
    for name in {s.timezone for s in schedules}:  # a long-running bot has its zones cached
        zone(name)

    best = float("inf")
    found = 0
    for _ in range(args.rounds):
        t0 = clock.perf_counter()
        found = 0
        for s in schedules:
            if next_occurrences(s, now, 1):
                found += 1
        best = min(best, clock.perf_counter() - t0)

    per_us = best / len(schedules) * 1e6
    verdict = "OK" if per_us < GOAL_US else "OVER GOAL"
    print(
        f"next occurrence: {len(schedules)} meetings in {best:.2f} s = {per_us:.1f} µs/meeting "
        f"(best of {args.rounds}; {found} with a next occurrence; goal < {GOAL_US:.0f} µs: {verdict})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
